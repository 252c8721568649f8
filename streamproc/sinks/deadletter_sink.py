"""The dead-letter topic as a sink: send a batch's dead letters and wait until Kafka confirmed every one.

Its failures are sorted like every sink's (`streamproc.sinks.retry`): a broker that is away or electing a
leader is transient (retried with back-off), a record or topic the broker refuses for good is permanent, and
anything that is not a Kafka error is a bug. Either of the last two stops the worker without acknowledging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from streamproc.ingest.records import Header
from streamproc.sinks.deadletter import deadletter_records
from streamproc.sinks.outgoing import OutgoingBatch
from streamproc.sinks.retry import PermanentSinkError, TransientSinkError

# (key, value, headers) -> a coroutine that queues the record and returns the future of its delivery
Send = Callable[[bytes | None, bytes, list[Header]], Awaitable[Awaitable[Any]]]


class DeadLetterSink:
    """Writes dead letters through a Kafka producer's `send`."""

    def __init__(self, send: Send, topic: str) -> None:
        self.send = send
        self.topic = topic
        self.what = self.metric = f"dead-letter topic {topic}"

    async def close(self) -> None:
        """Nothing to close: the producer belongs to the Faust app, which stops it."""

    async def write(self, batch: OutgoingBatch) -> None:
        """Send every dead letter of the batch and wait for the broker's confirmation of each (one attempt; a
        retry may repeat some letters)."""
        if not batch.dead_letters:
            return
        records = deadletter_records(batch.dead_letters)
        try:
            deliveries = [await self.send(key, value, headers) for key, value, headers in records]
            await asyncio.gather(*deliveries)
        except Exception as exc:
            classified = classify_kafka_error(exc)
            if classified is None:
                raise
            raise classified from exc


def classify_kafka_error(exc: BaseException) -> TransientSinkError | PermanentSinkError | None:
    """Transient (broker away, leader moving, timeouts), permanent (refused record or topic), None for a bug."""
    cause = exc if isinstance(exc, KafkaError) else exc.__cause__  # Faust wraps it in ProducerSendError
    if not isinstance(cause, KafkaError):
        return None
    if cause.retriable or isinstance(cause, KafkaConnectionError | KafkaTimeoutError):
        return TransientSinkError(f"Kafka did not take the dead letters: {cause!r}")
    return PermanentSinkError(f"Kafka refused the dead letters for good: {cause!r}")
