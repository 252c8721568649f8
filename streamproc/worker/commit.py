"""The commit sequence: where a classified batch goes, in order, before its offsets are acknowledged.

The worker's sinks are an ordered list (`BatchProcessor.connected` builds it):
1. Elasticsearch (documents it refuses for good become `index_rejected` dead letters),
2. the review queue (stored articles that need review),
3. the dead-letter topic (every dead letter of the batch),
then the batch's offsets are acknowledged. Each sink starts only after the previous one confirmed; a transient
failure is retried (the offsets stay held meanwhile), anything else propagates and the batch is never
acknowledged (`streamproc.worker.exit`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from streamproc.sinks.base import Sink, write_until_done
from streamproc.sinks.outgoing import OutgoingBatch

Acknowledge = Callable[[], Awaitable[None]]


async def commit_batch(
    batch: OutgoingBatch,
    sinks: Sequence[Sink],
    backoff: tuple[float, float],
    acknowledge: Acknowledge | None = None,
) -> OutgoingBatch:
    """Write the batch to every sink in order, then acknowledge it (see the module)."""
    for sink in sinks:
        await write_until_done(sink, batch, *backoff)
    if acknowledge is not None:
        await acknowledge()
    return batch


async def close_all(sinks: Sequence[Sink]) -> None:
    """Close every sink, even when one fails to; the first failure is raised afterwards."""
    outcomes = await asyncio.gather(*(sink.close() for sink in sinks), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
