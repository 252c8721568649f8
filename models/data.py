"""Labeled TSV data in the format of the shared data sets: `text` or `title`+`body`, and `label`."""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from streamproc.errors import UserError

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class LabeledSet:
    """Texts with their string labels, in file order."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def label_names(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def head(self, n: int | None) -> LabeledSet:
        """The first `n` examples (all when `n` is None)."""
        return self if n is None else LabeledSet(self.texts[:n], self.labels[:n])


def article_text(title: str, body: str) -> str:
    """The model input for an article: title and body joined the same way at training and run time."""
    title, body = title.strip(), body.strip()
    return f"{title}\n{body}" if title and body else title or body


def read_tsv(path: Path) -> LabeledSet:
    """Read one TSV file with a header row: `text` (or `title` and `body`) and `label`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file not found: {path} (pass a .tsv file or a folder with train.tsv/val.tsv)")
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = set(reader.fieldnames or [])
        if "label" not in columns or not ({"text"} <= columns or {"title", "body"} <= columns):
            raise UserError(f"{path}: expected columns 'text' (or 'title' and 'body') and 'label'")
        for row in reader:
            text = row["text"] if "text" in columns else article_text(row["title"] or "", row["body"] or "")
            if text and text.strip() and row["label"]:
                texts.append(text.strip())
                labels.append(row["label"].strip())
    if not texts:
        raise UserError(f"{path}: no labeled rows")
    return LabeledSet(texts, labels)


def resolve_split(data: Path, split: str) -> Path:
    """`data` may be a folder holding `<split>.tsv` or a TSV file itself (used for the train split)."""
    data = Path(data)
    if data.is_dir():
        return data / f"{split}.tsv"
    return data
