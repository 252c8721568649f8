"""Read records from a JSONL or CSV file (or stdin) as the bytes to publish."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Literal

from streamproc.errors import UserError

Format = Literal["jsonl", "csv"]
CSV_FIELD_LIMIT = 2**31 - 1  # the largest the csv module takes on every platform


def detect_format(path: str) -> Format:
    """CSV for `.csv` files, JSON lines otherwise (including stdin)."""
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _open(path: str) -> IO[str]:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="surrogateescape")
    return Path(path).open(encoding="utf-8", errors="surrogateescape", newline="")


def read_records(path: str, fmt: Format | None = None) -> Iterator[bytes]:
    """Yield one record per non-blank JSONL line, or one JSON object per CSV row (empty cells dropped)."""
    fmt = fmt or detect_format(path)
    with _open(path) as handle:
        if fmt == "csv":
            # Oversized cells become records that validation refuses as too_large, not a crash of the reader.
            csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
            rows = csv.DictReader(handle)
            try:
                for row in rows:
                    obj = {key: value for key, value in row.items() if key and value not in (None, "")}
                    yield json.dumps(obj, ensure_ascii=False).encode("utf-8")
            except csv.Error as exc:
                raise UserError(f"{path}: CSV line {rows.line_num} cannot be read: {exc}") from None
        else:
            for line in handle:
                if line.strip():
                    yield line.rstrip("\r\n").encode("utf-8", errors="surrogateescape")
