"""One micro-batch through the pipeline: validate -> classify -> Elasticsearch -> review queue.

Kept free of Faust so it can be exercised directly; the agent in `app.py` feeds it and acknowledges the
Kafka offsets only after `process` returned, i.e. after every sink confirmed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field

from streamproc.config import Settings
from streamproc.inference.classify import Classification, classify
from streamproc.inference.predictor import Predictor
from streamproc.ingest.article import Article
from streamproc.ingest.validate import Rejection, parse_article
from streamproc.review_policy import ReviewPolicy, review_policy
from streamproc.sinks.deadletter import deadletter_record
from streamproc.sinks.document import SourcePosition, enriched_document
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.sinks.retry import retry_until_done
from streamproc.sinks.review_queue import ReviewQueue
from streamproc.worker import metrics

log = logging.getLogger(__name__)
CANARY_TEXT = "streamproc canary: 정부가 오늘 새 예산안을 발표했다."


class ModelFailure(RuntimeError):
    """The models fail on any input: a fault of the worker, not of the articles."""


@dataclass(frozen=True)
class RawRecord:
    """A Kafka record as received: bytes, key and position."""

    value: bytes | None
    key: bytes | None
    position: SourcePosition


@dataclass(frozen=True)
class DeadLetter:
    """A record that cannot be processed, with the reason."""

    record: RawRecord
    rejection: Rejection

    def payload(self) -> bytes:
        """The dead-letter topic's record value."""
        return deadletter_record(self.record.value, self.record.key, self.rejection, self.record.position)


@dataclass
class BatchResult:
    """What happened to one batch."""

    indexed: int = 0
    queued: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass
class PreparedBatch:
    """A validated and classified batch, not yet written anywhere."""

    size: int
    started: float
    # the model and review policy that classified it: a model switch while it is stored must not relabel it
    versions: dict[str, str]
    review_policy: ReviewPolicy
    classified: list[tuple[tuple[Article, RawRecord], Classification]] = field(default_factory=list)
    result: BatchResult = field(default_factory=BatchResult)


class BatchProcessor:
    """Runs batches against the models and sinks it was given."""

    def __init__(
        self,
        settings: Settings,
        predictor: Predictor,
        elasticsearch: ElasticsearchSink,
        review_queue: ReviewQueue,
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.predictor = predictor
        self.elasticsearch = elasticsearch
        self.review_queue = review_queue
        self.executor = executor
        self.review_policy = review_policy(settings, review_queue.client, predictor.versions)

    def use_predictor(self, predictor: Predictor) -> None:
        """Serve the next batches with `predictor` (e.g. a promoted model); a new model starts its own review budget."""
        if predictor is not self.predictor:
            self.predictor = predictor
            self.review_policy = review_policy(self.settings, self.review_queue.client, predictor.versions)

    async def close(self) -> None:
        """Close the sink connections."""
        await self.elasticsearch.client.close()
        await self.review_queue.client.aclose()

    async def process(self, records: list[RawRecord]) -> BatchResult:
        """Process a batch; returns once Elasticsearch and Redis confirmed (retrying while they are down)."""
        return await self.store(await self.prepare(records))

    async def prepare(self, records: list[RawRecord]) -> PreparedBatch:
        """Validate and classify (inference off the event loop); nothing is written yet."""
        prepared = PreparedBatch(len(records), time.perf_counter(), dict(self.predictor.versions), self.review_policy)
        latest: dict[str, tuple[Article, RawRecord]] = {}
        for record in records:
            parsed = parse_article(record.value, self.settings.max_article_bytes)
            if isinstance(parsed, Rejection):
                prepared.result.dead_letters.append(DeadLetter(record, parsed))
            else:
                latest[parsed.id] = (parsed, record)  # the same id twice in a batch: the later one wins
        if latest:
            items = list(latest.values())
            outcomes = await self._classify([article.text for article, _ in items])
            for (article, record), outcome in zip(items, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    rejection = Rejection("inference_failed", repr(outcome))
                    prepared.result.dead_letters.append(DeadLetter(record, rejection))
                else:
                    prepared.classified.append(((article, record), outcome))
        return prepared

    async def store(self, prepared: PreparedBatch) -> BatchResult:
        """Index and queue a prepared batch; returns once Elasticsearch and Redis confirmed."""
        result = prepared.result
        if prepared.classified:
            await self._store(prepared, result)
        log.info(
            "batch of %d: %d indexed, %d newly queued for review, %d dead-lettered (%.2fs)",
            prepared.size,
            result.indexed,
            result.queued,
            len(result.dead_letters),
            time.perf_counter() - prepared.started,
        )
        metrics.observe_batch(prepared.size, result, time.perf_counter() - prepared.started)
        return result

    async def _classify(self, texts: list[str]) -> list[Classification | Exception]:
        """Classify a batch; when that fails, one text at a time, so one poison article cannot stop the rest.

        If even the canary text fails, the models (not the input) are broken: `ModelFailure` is raised.
        """
        try:
            return await self._run_models(texts)
        except Exception:
            log.exception("the models failed on a batch of %d; retrying one article at a time", len(texts))
        outcomes: list[Classification | Exception] = []
        for text in texts:
            try:
                outcomes.extend(await self._run_models([text]))
            except Exception as exc:
                outcomes.append(exc)
        if any(isinstance(outcome, Exception) for outcome in outcomes):
            try:
                await self._run_models([CANARY_TEXT])
            except Exception as exc:
                raise ModelFailure(f"the models fail even on a canary text: {exc!r}") from exc
        return outcomes

    async def _run_models(self, texts: list[str]) -> list[Classification]:
        loop = asyncio.get_running_loop()
        strategy = self.settings.uncertainty_strategy
        with metrics.inference_timer():
            return await loop.run_in_executor(self.executor, classify, self.predictor, texts, strategy)

    async def _store(self, prepared: PreparedBatch, result: BatchResult) -> None:
        settings = self.settings
        classified = prepared.classified
        items = [item for item, _ in classified]
        backoff = (settings.sink_retry_initial, settings.sink_retry_max)
        uncertainties = [classification.max_uncertainty for _, classification in classified]
        threshold = await retry_until_done(
            lambda: prepared.review_policy.threshold(uncertainties), "Redis review budget", *backoff
        )
        documents = [
            enriched_document(article, classification, prepared.versions, threshold, record.position)
            for (article, record), classification in classified
        ]
        rejected = await retry_until_done(
            lambda: self.elasticsearch.index_batch(documents),
            "Elasticsearch bulk index",
            *backoff,
            sink="elasticsearch",
        )
        records = {article.id: record for article, record in items}
        for doc_id, reason in rejected.items():
            result.dead_letters.append(DeadLetter(records[doc_id], Rejection("index_rejected", reason)))
        stored = [doc for doc in documents if doc["id"] not in rejected]
        result.indexed = len(stored)
        for_review = [doc for doc in stored if doc["needs_review"]]
        result.queued = await retry_until_done(
            lambda: self.review_queue.push(for_review), "Redis review queue", *backoff, sink="redis"
        )
