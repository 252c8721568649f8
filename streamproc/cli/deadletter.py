"""`streamproc deadletter list | show ID | replay`: the dead-letter topic read back, and its originals sent again."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamproc.config import Settings, load_settings
from streamproc.errors import UserError

if TYPE_CHECKING:  # the readers import the Kafka client: loaded when a command runs, not for `--help`
    from streamproc.deadletter.letters import StoredLetter

console = Console()
deadletter_app = typer.Typer(
    help="The dead-letter topic: list its letters, show one, replay originals to the raw topic.", no_args_is_help=True
)

ReasonOption = Annotated[
    list[str] | None, typer.Option("--reason", help="only letters with this reason (repeatable), e.g. invalid_article")
]
SinceOption = Annotated[
    str | None, typer.Option(help="only letters refused at or after this date/time (ISO 8601; UTC without a zone)")
]


def _since(value: str | None) -> datetime | None:
    from streamproc.dates import parse_date

    return parse_date(value, "--since") if value else None


def _ready(settings: Settings) -> None:
    from streamproc.health import check_kafka

    check_kafka(settings)


@deadletter_app.command("list")
def list_letters(
    reason: ReasonOption = None,
    since: SinceOption = None,
    limit: Annotated[int, typer.Option(min=0, help="rows to print after the counts (0: all)")] = 50,
) -> None:
    """Count the letters by reason, then list them by reason and time (id = PARTITION:OFFSET on the topic)."""
    from streamproc.cli.safe_text import plain
    from streamproc.deadletter.letters import iter_letters
    from streamproc.deadletter.replay import selected

    settings = load_settings()
    _ready(settings)
    after = _since(since)
    letters = [
        _row(letter) for letter in iter_letters(settings) if selected(letter, set(reason or ()), after)
    ]  # rows only: the originals are not kept
    counts = Counter(row[2] for row in letters)
    totals = Table("reason", "letters", "truncated", "oldest", "newest", title=f"{settings.topic_deadletter}")
    for name, count in sorted(counts.items()):
        rows = [row for row in letters if row[2] == name]
        times = sorted(row[1] for row in rows if row[1])
        truncated = sum(1 for row in rows if row[5] == "yes")
        totals.add_row(plain(name), str(count), str(truncated), times[0] if times else "", times[-1] if times else "")
    console.print(totals)
    letters.sort(key=lambda row: (row[2], row[1]))
    shown = letters if limit == 0 else letters[:limit]
    table = Table("id", "failed at", "reason", "replays", "bytes", "truncated", "source", "error")
    for row in shown:
        table.add_row(*(plain(cell, 80) for cell in row))
    if shown:
        console.print(table)
    more = len(letters) - len(shown)
    console.print(f"{len(letters)} letters" + (f" ({more} more: --limit 0 lists all)" if more else ""), markup=False)


def _row(letter: StoredLetter) -> tuple[str, ...]:
    envelope = letter.envelope or {}
    source = envelope.get("source") or {}
    failed_at = letter.failed_at
    return (
        letter.id,
        failed_at.isoformat(timespec="seconds") if failed_at else "",
        letter.reason,
        "?" if letter.replays is None else str(letter.replays),
        str(envelope.get("original_size", letter.size)),
        "yes" if letter.truncated else "no",
        f"{source.get('topic')}[{source.get('partition')}]@{source.get('offset')}" if source else "",
        str(envelope.get("error", "")),
    )


@deadletter_app.command("show")
def show_letter(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="PARTITION:OFFSET on the dead-letter topic")],
    full: Annotated[bool, typer.Option(help="print the whole original, not its first 4,000 characters")] = False,
) -> None:
    """One letter: reason, error, source position, replays, and the original bytes as escaped text."""
    from streamproc.cli.safe_text import plain
    from streamproc.deadletter.letters import parse_letter_id, read_letter

    parse_letter_id(letter_id)
    settings = load_settings()
    _ready(settings)
    letter = read_letter(settings, letter_id)
    envelope = letter.envelope
    if envelope is None:
        raise UserError(f"{letter_id} on {settings.topic_deadletter} is not a dead-letter envelope")
    source = envelope.get("source") or {}
    fields = {
        "id": letter.id,
        "reason": letter.reason,
        "error": envelope.get("error", ""),
        "failed at": envelope.get("failed_at", ""),
        "source": f"{source.get('topic')} partition {source.get('partition')} offset {source.get('offset')}",
        "key": source.get("key") or "",
        "replays": "unreadable header" if letter.replays is None else str(letter.replays),
        "size": f"{envelope.get('original_size')} bytes, sha256 {envelope.get('original_sha256')}",
        "truncated": "yes: the envelope holds only the first part (never replayed)" if letter.truncated else "no",
    }
    table = Table("field", "value", show_header=False)
    for name, value in fields.items():
        table.add_row(name, plain(value))
    console.print(table)
    text = _escaped_original(envelope)
    limit = None if full else 4000
    console.print(plain(text if limit is None or len(text) <= limit else text[:limit]))
    if limit is not None and len(text) > limit:
        console.print(f"... {len(text) - limit} more characters (--full prints them)", markup=False)


def _escaped_original(envelope: dict) -> str:
    """The original bytes as text: UTF-8, any other byte as \\xNN (control characters are escaped by `plain`)."""
    try:
        raw = base64.b64decode(envelope.get("original_base64") or "", validate=True)
    except (binascii.Error, ValueError):
        return "(the envelope's copy of the original is not valid base64)"
    return raw.decode("utf-8", "backslashreplace")


@deadletter_app.command("replay")
def replay(
    ids: Annotated[list[str] | None, typer.Argument(metavar="[ID]...", help="only these letters")] = None,
    reason: ReasonOption = None,
    since: SinceOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be sent; send nothing")] = False,
) -> None:
    """Send the originals back to the raw topic (never a truncated copy; at most STREAMPROC_MAX_REPLAYS times)."""
    from streamproc.connections import redis_client
    from streamproc.deadletter.letters import iter_letters, parse_letter_id
    from streamproc.deadletter.replay import replay_letters, selected
    from streamproc.health import check_redis

    for letter_id in ids or ():
        parse_letter_id(letter_id)
    settings = load_settings()
    _ready(settings)
    check_redis(settings)
    after, wanted, only = _since(since), set(reason or ()), set(ids or ())
    letters = (letter for letter in iter_letters(settings) if selected(letter, wanted, after, only))
    redis = redis_client(settings)
    try:
        summary = replay_letters(settings, letters, redis, dry_run=dry_run)
    finally:
        redis.close()
    verb = "would send" if dry_run else "sent"
    by_reason = ", ".join(f"{name} {count}" for name, count in sorted(summary.sent_by_reason.items()))
    console.print(
        f"{verb} {summary.sent} to {settings.topic_raw}" + (f" ({by_reason})" if by_reason else ""), markup=False
    )
    refused = ", ".join(f"{why} {count}" for why, count in sorted(summary.refused.items()))
    console.print(f"not sent: {refused or 'none'} (replay limit: {settings.max_replays})", markup=False)
