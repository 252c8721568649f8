"""The commit sequence: where a classified batch goes, in order, before its offsets are acknowledged.

1. Elasticsearch (documents it refuses for good become `index_rejected` dead letters),
2. the review queue (stored articles that need review),
3. the dead-letter topic (every dead letter of the batch),
4. acknowledge the batch's offsets.

Each step starts only after the previous one confirmed; a transient failure is retried (the offsets stay
held meanwhile), anything else propagates and the batch is never acknowledged (`streamproc.worker.exit`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from streamproc.ingest.records import DeadLetter, RawRecord, Rejection
from streamproc.sinks.base import Sink, write_until_done
from streamproc.sinks.deadletter import deadletter_records
from streamproc.sinks.document import EnrichedArticle

Acknowledge = Callable[[], Awaitable[None]]
KafkaRecords = Sequence[tuple[bytes | None, bytes]]


@dataclass
class BatchResult:
    """What happened to one batch."""

    indexed: int = 0
    queued: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class Sinks:
    """The batch's destinations. Without `deadletters` the caller keeps the dead letters (tests, benchmarks)."""

    elasticsearch: Sink[Sequence[EnrichedArticle], dict[str, str]]
    review_queue: Sink[Sequence[EnrichedArticle], int]
    deadletters: Sink[KafkaRecords, None] | None = None

    async def close(self) -> None:
        """Close every sink, even when one fails to."""
        try:
            await self.elasticsearch.close()
        finally:
            try:
                await self.review_queue.close()
            finally:
                if self.deadletters is not None:
                    await self.deadletters.close()


async def commit_batch(
    articles: Sequence[tuple[EnrichedArticle, RawRecord]],
    result: BatchResult,
    sinks: Sinks,
    backoff: tuple[float, float],
    acknowledge: Acknowledge | None = None,
) -> BatchResult:
    """Write the batch's articles and dead letters to the sinks in order, then acknowledge (see the module)."""
    if articles:
        rejected = await write_until_done(sinks.elasticsearch, [article for article, _ in articles], *backoff)
        records = {article.id: record for article, record in articles}
        for doc_id, reason in rejected.items():
            result.dead_letters.append(DeadLetter(records[doc_id], Rejection("index_rejected", reason)))
        stored = [article for article, _ in articles if article.id not in rejected]
        result.indexed = len(stored)
        for_review = [article for article in stored if article.needs_review]
        result.queued = await write_until_done(sinks.review_queue, for_review, *backoff)
    if sinks.deadletters is not None and result.dead_letters:
        await write_until_done(sinks.deadletters, deadletter_records(result.dead_letters), *backoff)
    if acknowledge is not None:
        await acknowledge()
    return result
