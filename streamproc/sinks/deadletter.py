"""The dead-letter record: the original bytes, why they were refused, and where they came from.

The envelope always fits a Kafka producer request: when the original is too large to copy whole, the copy
is cut (`original_truncated: true`) and `original_size` + `original_sha256` still identify the original.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from streamproc.ingest.records import REPLAYS_HEADER, DeadLetter, Header, Rejection, SourcePosition

# Kafka's default request and record limits are 1 MiB (producer `max_request_size`, broker `message.max.bytes`);
# half of it leaves room for the record and batch headers and keeps the dead-letter topic light.
MAX_ENVELOPE_BYTES = 512 * 1024
MAX_KEY_BYTES = 1024
MAX_ERROR_CHARS = 2000


def deadletter_key(key: bytes | None) -> bytes | None:
    """The dead letter's Kafka key: the original's, unless it is oversized (then none)."""
    return key if key is None or len(key) <= MAX_KEY_BYTES else None


def deadletter_headers(letter: DeadLetter) -> list[Header]:
    """The dead letter's Kafka headers: the original's replay count when it has one (and nothing else: other
    headers could push the envelope over the record limit)."""
    replays = letter.record.header(REPLAYS_HEADER)
    return [(REPLAYS_HEADER, replays[:32])] if replays is not None else []


def deadletter_records(letters: Sequence[DeadLetter]) -> list[tuple[bytes | None, bytes, list[Header]]]:
    """The dead-letter topic's (key, value, headers) records for `letters`, in order."""
    out = []
    for letter in letters:
        record = letter.record
        value = deadletter_record(record.value, record.key, letter.rejection, record.position)
        out.append((deadletter_key(record.key), value, deadletter_headers(letter)))
    return out


def deadletter_record(
    raw: bytes | None,
    key: bytes | None,
    rejection: Rejection,
    position: SourcePosition,
    max_bytes: int = MAX_ENVELOPE_BYTES,
) -> bytes:
    """JSON envelope sent to the dead-letter topic (keyed like the original record), at most `max_bytes`.

    `original_base64` holds the exact bytes (or their first part, see `original_truncated`); `original_text`
    repeats them as text when the original is UTF-8.
    """
    original = raw or b""
    try:
        original.decode("utf-8")
        is_text = True
    except UnicodeDecodeError:
        is_text = False
    envelope: dict[str, Any] = {
        "reason": rejection.reason,
        "error": rejection.error[:MAX_ERROR_CHARS],
        "source": {
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
            "key": key[:MAX_KEY_BYTES].decode("utf-8", "replace") if key else None,
        },
        "original_size": len(original),
        "original_sha256": hashlib.sha256(original).hexdigest(),
        "original_truncated": False,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    keep = len(original)
    while True:
        encoded = _with_copy(envelope, original[:keep], is_text, truncated=keep < len(original))
        if len(encoded) <= max_bytes or keep == 0:
            return encoded
        keep = int(keep * max_bytes / len(encoded) * 0.95)  # shrink in proportion; converges in a few steps


def _with_copy(envelope: dict[str, Any], copy: bytes, is_text: bool, truncated: bool) -> bytes:
    text = copy.decode("utf-8", "ignore") if is_text else None  # "ignore": a cut may split the last character
    full = {**envelope, "original_truncated": truncated, "original_base64": base64.b64encode(copy).decode("ascii")}
    full["original_text"] = text
    return json.dumps(full, ensure_ascii=False).encode("utf-8")
