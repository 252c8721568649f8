"""Publish records to Kafka keyed by article id, with a progress bar and a summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError
from tqdm import tqdm

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.ingest.validate import Rejection, parse_article


@dataclass
class PublishSummary:
    """What was sent and what was refused (by reason)."""

    sent: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def reject(self, rejection: Rejection) -> None:
        """Count a refused record, keeping the first error message of each reason."""
        self.refuse(rejection.reason, rejection.error)

    def refuse(self, reason: str, error: str) -> None:
        """Count a record that was not sent or not confirmed, by reason."""
        self.rejected[reason] += 1
        self.examples.setdefault(reason, error)


def publish(
    settings: Settings, records: Iterable[bytes], send_invalid: bool = False, progress: bool = True
) -> PublishSummary:
    """Send records to the raw topic; invalid ones are counted and skipped unless `send_invalid`.

    `send_invalid` forwards them unchanged (keyless) so the worker dead-letters them: useful for replaying
    captured feeds as they were and for exercising the dead-letter path.
    """
    producer = KafkaProducer(**kafka_python_options(settings), acks="all", linger_ms=20, retries=5)
    summary = PublishSummary()
    failures: list[Exception] = []  # filled by the producer's I/O thread; list.append is atomic
    sent = 0
    try:
        for raw in tqdm(records, desc=f"publishing to {settings.topic_raw}", unit=" rec", disable=not progress):
            parsed = parse_article(raw, settings.max_article_bytes)
            if isinstance(parsed, Rejection):
                summary.reject(parsed)
                if not send_invalid:
                    continue
                key = None
            else:
                key = parsed.id.encode("utf-8")
            try:
                producer.send(settings.topic_raw, key=key, value=raw).add_errback(failures.append)
            except KafkaError as exc:  # e.g. larger than the producer's max_request_size: refuse this one only
                summary.refuse("not_sendable", f"Kafka refused the record: {type(exc).__name__}")
                continue
            sent += 1
        producer.flush()
    finally:
        producer.close()
    for failure in failures:
        summary.refuse("not_sendable", f"Kafka refused the record: {type(failure).__name__}: {failure}")
    summary.sent = sent - len(failures)
    return summary
