"""Dates given on the command line (`--since`, `--until`)."""

from __future__ import annotations

from datetime import UTC, datetime

from streamproc.errors import UserError


def parse_date(value: str, option: str) -> datetime:
    """An ISO 8601 date or time; without a time zone it is UTC. Raises `UserError` naming the option."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option} takes a date such as 2026-11-01 or 2026-11-01T09:00+09:00, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
