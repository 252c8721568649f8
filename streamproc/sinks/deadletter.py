"""The dead-letter record: the original bytes, why they were refused, and where they came from."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from streamproc.ingest.validate import Rejection
from streamproc.sinks.document import SourcePosition


def deadletter_record(raw: bytes | None, key: bytes | None, rejection: Rejection, position: SourcePosition) -> bytes:
    """JSON envelope sent to the dead-letter topic (keyed like the original record).

    `original_base64` holds the exact bytes; `original_text` repeats them as text when they are UTF-8.
    """
    original = raw or b""
    try:
        text: str | None = original.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    envelope = {
        "reason": rejection.reason,
        "error": rejection.error,
        "source": {
            "topic": position.topic,
            "partition": position.partition,
            "offset": position.offset,
            "key": key.decode("utf-8", "replace") if key else None,
        },
        "original_base64": base64.b64encode(original).decode("ascii"),
        "original_text": text,
        "failed_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")
