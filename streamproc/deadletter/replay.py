"""Send dead letters' originals back to the raw topic, once each, at most `max_replays` times per record.

Each replayed record carries the header `streamproc-replays` = the letter's count + 1; the worker copies that
header onto the dead letter the record may become again (`streamproc.sinks.deadletter`), so a record that
keeps failing stops after `STREAMPROC_MAX_REPLAYS` rounds instead of looping. A letter whose envelope holds only
the first part of the original (`original_truncated`) is never replayed: the cut copy is not the record.
Replayed letters are remembered in a Redis set (their ids, `partition:offset` on the dead-letter topic), so
running `replay` again sends only letters it has not sent before: without that, each round would send every
earlier letter again and a record failing N times would come back 2^N times. The set is written after Kafka
confirmed the records: a crash in between sends those letters once more on the next run (at-least-once; the
worker's writes are idempotent by article id).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata
from redis import Redis

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.deadletter.letters import StoredLetter
from streamproc.ingest.records import REPLAYS_HEADER

CHUNK = 200  # records sent and confirmed before their ids are remembered

# why a letter is not sent (the summary's keys)
TRUNCATED = "truncated"
REPLAY_LIMIT = "replay limit"
UNREADABLE = "unreadable"
ALREADY = "already replayed"


def replayed_key(settings: Settings) -> str:
    """The Redis set of letter ids already replayed, per consumer group and dead-letter topic."""
    return f"{settings.consumer_group}:deadletter-replayed:{settings.topic_deadletter}"


def selected(letter: StoredLetter, reasons: Collection[str], since: datetime | None, ids: Collection[str] = ()) -> bool:
    """Whether the letter passes the filters (reason, failed at or after `since`, one of `ids`)."""
    if reasons and letter.reason not in reasons:
        return False
    if ids and letter.id not in ids:
        return False
    if since is not None:
        failed_at = letter.failed_at
        return failed_at is not None and failed_at >= since
    return True


def refusal(letter: StoredLetter, max_replays: int, already_replayed: bool) -> str | None:
    """Why `letter` is not sent, or None when it is."""
    if letter.envelope is None or letter.replays is None:
        return UNREADABLE
    if letter.truncated:
        return TRUNCATED
    if letter.replays >= max_replays:
        return REPLAY_LIMIT
    if letter.original() is None:  # the copy does not decode or does not match its sha256
        return UNREADABLE
    if already_replayed:
        return ALREADY
    return None


@dataclass
class ReplaySummary:
    """Letters sent, and the ones not sent by why."""

    sent: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    sent_by_reason: Counter[str] = field(default_factory=Counter)


def replay_letters(
    settings: Settings,
    letters: Iterable[StoredLetter],
    redis: Redis,
    dry_run: bool = False,
    producer: KafkaProducer | None = None,
) -> ReplaySummary:
    """Send each letter's original to the raw topic unless refused (see the module); `dry_run` sends nothing."""
    key = replayed_key(settings)
    summary = ReplaySummary()
    own = producer is None and not dry_run
    if own:
        producer = KafkaProducer(**kafka_python_options(settings), acks="all", linger_ms=20, retries=5)
    pending: list[tuple[str, FutureRecordMetadata]] = []

    def confirm() -> None:
        if not pending:
            return
        for _, future in pending:
            future.get(timeout=60)  # raises when Kafka did not take it: nothing of this chunk is remembered
        redis.sadd(key, *(letter_id for letter_id, _ in pending))
        pending.clear()

    try:
        for letter in letters:
            why = refusal(letter, settings.max_replays, bool(redis.sismember(key, letter.id)))
            if why is not None:
                summary.refused[why] += 1
                continue
            summary.sent += 1
            summary.sent_by_reason[letter.reason] += 1
            if dry_run or producer is None:
                continue
            count = str((letter.replays or 0) + 1).encode("ascii")
            future = producer.send(
                settings.topic_raw, key=letter.key, value=letter.original(), headers=[(REPLAYS_HEADER, count)]
            )
            pending.append((letter.id, future))
            if len(pending) >= CHUNK:
                confirm()
        confirm()
    finally:
        if own and producer is not None:
            producer.close()
    return summary
