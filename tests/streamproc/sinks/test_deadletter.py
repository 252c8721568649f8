"""The dead-letter envelope: exact copy when it fits, a marked and hashed cut when it does not."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from streamproc.ingest.validate import Rejection
from streamproc.sinks.deadletter import MAX_ENVELOPE_BYTES, MAX_KEY_BYTES, deadletter_key, deadletter_record
from streamproc.sinks.document import SourcePosition

WHERE = SourcePosition("news.raw", 2, 41)


def _envelope(raw: bytes, key: bytes | None = b"k", **kwargs) -> tuple[bytes, dict]:
    encoded = deadletter_record(raw, key, Rejection("too_large", "big"), WHERE, **kwargs)
    return encoded, json.loads(encoded)


def test_small_record_is_copied_exactly() -> None:
    raw = '{"title": "제목"}'.encode()
    _, letter = _envelope(raw)
    assert base64.b64decode(letter["original_base64"]) == raw and letter["original_text"] == raw.decode()
    assert letter["original_truncated"] is False and letter["original_size"] == len(raw)
    assert letter["source"] == {"topic": "news.raw", "partition": 2, "offset": 41, "key": "k"}


@pytest.mark.parametrize(
    "raw",
    [b"x" * 430_000, ("가" * 350_000).encode(), b"\x00" * 1_000_000, b"\xff\xfe" * 600_000, b"\\" * 900_000],
    ids=["ascii-430k", "hangul-1m", "controls-1m", "binary-1.2m", "escapes-900k"],
)
def test_large_record_is_cut_to_fit_and_identified(raw: bytes) -> None:
    encoded, letter = _envelope(raw)
    assert len(encoded) <= MAX_ENVELOPE_BYTES
    copy = base64.b64decode(letter["original_base64"])
    assert letter["original_truncated"] is True and raw.startswith(copy) and len(copy) > 0
    assert letter["original_size"] == len(raw) and letter["original_sha256"] == hashlib.sha256(raw).hexdigest()
    if letter["original_text"] is not None:
        assert raw.decode("utf-8").startswith(letter["original_text"])


def test_limit_is_respected_for_any_bound() -> None:
    for bound in (2_000, 10_000, 100_000):
        encoded, _ = _envelope(b"y" * 200_000, max_bytes=bound)
        assert len(encoded) <= bound


def test_oversized_keys_are_not_copied_whole() -> None:
    key = b"k" * 100_000
    _, letter = _envelope(b"{}", key=key)
    assert len(letter["source"]["key"]) == MAX_KEY_BYTES and deadletter_key(key) is None
    assert deadletter_key(b"a-1") == b"a-1" and deadletter_key(None) is None
