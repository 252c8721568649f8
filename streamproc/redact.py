"""Mask credentials written inside URLs (`https://user:pass@host`, `?password=...`) in text and in every log line."""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "****"
# scheme://userinfo@ — the userinfo runs to the last "@" before the host (unescaped "@" in passwords happen)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@]*(?:@[^\s/?#@]*)*)@")
_QUERY_SECRET = re.compile(
    r"(?i)(?P<name>[?&;](?:password|passwd|pass|pwd|secret|token|access_token|api_key|apikey)=)[^&;#\s'\"]*"
)


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match.group("userinfo").partition(":")
    shown = f"{user}:{MASK}" if colon else MASK  # without a password the user part itself may be a token
    return f"{match.group('scheme')}{shown}@"


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `****`."""
    if "://" not in text and "=" not in text:
        return text
    return _QUERY_SECRET.sub(rf"\g<name>{MASK}", _USERINFO.sub(_mask_userinfo, text))


def install_log_redaction() -> None:
    """Redact every log record of this process (message, arguments and traceback) when it is created."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report, as logging does
            return record
        record.msg, record.args = redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
