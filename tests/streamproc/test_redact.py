"""Credentials written inside URLs never reach output or logs."""

from __future__ import annotations

import io
import logging

import pytest

from streamproc.redact import install_log_redaction, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:pass@es:9200", "https://user:****@es:9200"),
        ("redis://:p@ss@127.0.0.1:6379/0", "redis://:****@127.0.0.1:6379/0"),
        ("at http://token@host/x?password=abc&db=1 now", "at http://****@host/x?password=****&db=1 now"),
        ("rediss://h:6380/0?user=u&api_key=K1", "rediss://h:6380/0?user=u&api_key=****"),
        ("http://127.0.0.1:9200 and kafka://b:9092", "http://127.0.0.1:9200 and kafka://b:9092"),
        ("me@example.org wrote a=b", "me@example.org wrote a=b"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_log_records_are_redacted_with_their_tracebacks() -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.redact")
    logger.addHandler(handler)
    try:
        logger.warning("retrying %s", "https://elastic:hunter2@es:9200")
        try:
            raise ConnectionError("cannot reach redis://:hunter2@cache:6379/0")
        except ConnectionError:
            logger.exception("sink failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "hunter2" not in written
    assert "https://elastic:****@es:9200" in written and "redis://:****@cache:6379/0" in written
    assert "Traceback" in written
