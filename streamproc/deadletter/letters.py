"""Dead letters as stored on the dead-letter topic: read them back, with their id, envelope and replay count.

A letter's id is its own position on the dead-letter topic, `partition:offset` (e.g. `2:1041`): unique and
enough to fetch it again. The source position (`news.raw` partition and offset) is not: a record can be
dead-lettered more than once (a batch retried after a crash, a replay that fails again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from tqdm import tqdm

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.errors import UserError
from streamproc.ingest.records import REPLAYS_HEADER

FETCH_BYTES = 8 * 1024 * 1024  # a letter is at most 512 KiB; fetch several per request


@dataclass(frozen=True)
class StoredLetter:
    """One record of the dead-letter topic."""

    partition: int
    offset: int
    key: bytes | None
    replays: int | None  # times the original was replayed before it failed again; None: unreadable header
    envelope: dict[str, Any] | None  # None: the record is not a dead-letter envelope
    size: int  # bytes of the record value

    @property
    def id(self) -> str:
        """`partition:offset` on the dead-letter topic."""
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        """The reason the worker gave (`unreadable` for a record that is not an envelope)."""
        return str(self.envelope.get("reason")) if self.envelope else "unreadable"

    @property
    def truncated(self) -> bool:
        """Whether the envelope holds only the first part of the original."""
        return bool(self.envelope and self.envelope.get("original_truncated"))

    @property
    def failed_at(self) -> datetime | None:
        """When the worker refused the record."""
        value = self.envelope.get("failed_at") if self.envelope else None
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    def original(self) -> bytes | None:
        """The original bytes, or None when the envelope's copy cannot be decoded or does not match its hash."""
        if not self.envelope or not isinstance(self.envelope.get("original_base64"), str):
            return None
        try:
            copy = base64.b64decode(self.envelope["original_base64"], validate=True)
        except (binascii.Error, ValueError):
            return None
        if not self.truncated and hashlib.sha256(copy).hexdigest() != self.envelope.get("original_sha256"):
            return None
        return copy


def parse_letter_id(value: str) -> tuple[int, int]:
    """`partition:offset` -> (partition, offset); `UserError` otherwise."""
    partition, sep, offset = value.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise UserError(f"a dead letter's id is PARTITION:OFFSET on the dead-letter topic (see `list`), got {value!r}")
    return int(partition), int(offset)


def replay_count(headers: list[tuple[str, bytes]] | None) -> int | None:
    """The replay header's count (0 without one); None when it is not a small decimal number."""
    values = [value for name, value in headers or () if name == REPLAYS_HEADER]
    if not values:
        return 0
    text = (values[-1] or b"").decode("ascii", "replace")
    return int(text) if text.isdigit() and len(text) <= 6 else None


def stored_letter(partition: int, offset: int, key: bytes | None, value: bytes | None, headers: Any) -> StoredLetter:
    """A consumed record of the dead-letter topic as a `StoredLetter`."""
    envelope: dict[str, Any] | None
    try:
        loaded = json.loads(value or b"")
        envelope = loaded if isinstance(loaded, dict) and "reason" in loaded else None
    except ValueError:
        envelope = None
    return StoredLetter(partition, offset, key, replay_count(list(headers or ())), envelope, len(value or b""))


def _consumer(settings: Settings) -> KafkaConsumer:
    return KafkaConsumer(
        **kafka_python_options(settings),
        enable_auto_commit=False,
        fetch_max_bytes=FETCH_BYTES,
        max_partition_fetch_bytes=FETCH_BYTES,
        consumer_timeout_ms=5000,
    )


def iter_letters(settings: Settings, progress: bool = True) -> Iterator[StoredLetter]:
    """Every letter on the dead-letter topic, partition by partition, up to the end offsets seen at the start."""
    consumer = _consumer(settings)
    topic = settings.topic_deadletter
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise UserError(f"no dead-letter topic {topic} on Kafka (create it with `streamproc stack up`)")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        first, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        total = sum(end[tp] - first[tp] for tp in tps)
        with tqdm(total=total, desc=f"reading {topic}", unit=" letter", disable=not progress, leave=False) as bar:
            for tp in tps:
                if end[tp] <= first[tp]:
                    continue
                consumer.assign([tp])
                consumer.seek(tp, first[tp])
                for message in consumer:
                    if message.offset >= end[tp]:
                        break
                    bar.update(1)
                    yield stored_letter(message.partition, message.offset, message.key, message.value, message.headers)
                    if message.offset + 1 >= end[tp]:
                        break
    finally:
        consumer.close()


def read_letter(settings: Settings, letter_id: str) -> StoredLetter:
    """One letter by its id; `UserError` when there is none at that position."""
    partition, offset = parse_letter_id(letter_id)
    consumer = _consumer(settings)
    topic = settings.topic_deadletter
    try:
        if partition not in (consumer.partitions_for_topic(topic) or set()):
            raise UserError(f"no dead letter {letter_id}: {topic} has no partition {partition}")
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        first, end = consumer.beginning_offsets([tp])[tp], consumer.end_offsets([tp])[tp]
        if not first <= offset < end:
            raise UserError(f"no dead letter {letter_id}: partition {partition} holds offsets {first} to {end - 1}")
        consumer.seek(tp, offset)
        for message in consumer:
            if message.offset == offset:
                return stored_letter(message.partition, message.offset, message.key, message.value, message.headers)
            if message.offset > offset:
                break
    finally:
        consumer.close()
    raise UserError(f"no dead letter {letter_id} (removed by the topic's retention or compaction)")
