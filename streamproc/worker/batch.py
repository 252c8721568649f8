"""One micro-batch through the pipeline: `prepare` (validate, classify), then `store` (the commit sequence).

Kept free of Faust so it can be exercised directly; the agent in `agent.py` feeds it and passes the
acknowledgement of the batch's offsets as the last step of `store` (`streamproc.worker.commit`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from streamproc import metrics
from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, async_redis_client
from streamproc.inference.classify import Classification
from streamproc.inference.guarded import CANARY_TEXT, ModelFailure, classify_guarded
from streamproc.inference.predictor import Predictor
from streamproc.ingest.article import Article
from streamproc.ingest.records import DeadLetter, RawRecord, Rejection
from streamproc.ingest.validate import parse_article
from streamproc.quality.drift import LabelMix
from streamproc.review.audit import in_audit_sample
from streamproc.review.elastic import review_fields
from streamproc.review.policy import ReviewPolicy, review_policy
from streamproc.review.queue import ReviewQueue
from streamproc.review.stories import Fingerprint, LshLayout, StoryIndex, StoryInfo, fingerprint
from streamproc.sinks.base import Sink
from streamproc.sinks.deadletter_sink import DeadLetterSink
from streamproc.sinks.document import enriched_article
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.sinks.outgoing import Enriched, OutgoingBatch
from streamproc.sinks.retry import retry_until_done
from streamproc.worker.commit import Acknowledge, close_all, commit_batch

log = logging.getLogger(__name__)
__all__ = ["CANARY_TEXT", "BatchProcessor", "ModelFailure", "PreparedBatch", "parse_batch"]


@dataclass
class PreparedBatch:
    """A validated and classified batch, not yet written anywhere."""

    size: int
    started: float
    # the model and review policy that classified it: a model switch while it is stored must not relabel it
    versions: dict[str, str]
    review_policy: ReviewPolicy
    # (article, its record, the text the models read, its near-duplicate fingerprint, the models' answer)
    classified: list[tuple[Article, RawRecord, str, Fingerprint, Classification]] = field(default_factory=list)
    outgoing: OutgoingBatch = field(default_factory=OutgoingBatch)


class BatchProcessor:
    """Runs batches against the models and the sinks it was given, in the sinks' order."""

    def __init__(
        self,
        settings: Settings,
        predictor: Predictor,
        sinks: Sequence[Sink],
        review_queue: ReviewQueue,
        executor: Executor | None = None,
    ) -> None:
        """`review_queue` (one of `sinks`, or not) is the Redis connection the review budget and the story index
        share."""
        self.settings = settings
        self.tasks = settings.tasks
        self.predictor = predictor
        self.sinks = list(sinks)
        self.review_queue = review_queue
        self.executor = executor
        self.stories = StoryIndex(
            review_queue.client, settings.review_key_prefix, settings.story_threshold, settings.story_days
        )
        self.review_policy = review_policy(settings, review_queue.client, predictor.versions)
        self.label_mix = self._label_mix(predictor)

    @classmethod
    def connected(
        cls,
        settings: Settings,
        predictor: Predictor,
        executor: Executor | None = None,
        deadletters: DeadLetterSink | None = None,
    ) -> BatchProcessor:
        """A processor with new connections to the index and the review queue `settings` name, writing to
        Elasticsearch, then the review queue, then (when given) the dead-letter topic.

        Without `deadletters` the dead letters are only returned in the outgoing batch (tests, benchmarks)."""
        elasticsearch = ElasticsearchSink(async_elasticsearch_client(settings), settings.es_index)
        review_queue = ReviewQueue(
            async_redis_client(settings),
            settings.review_key_prefix,
            settings.tasks.names,
            settings.review_queue_max,
            settings.story_days,
        )
        sinks: list[Sink] = [elasticsearch, review_queue, *([deadletters] if deadletters else [])]
        return cls(settings, predictor, sinks, review_queue, executor)

    def use_predictor(self, predictor: Predictor) -> None:
        """Serve the next batches with `predictor` (e.g. a promoted model); a new model starts its own review budget."""
        if predictor is not self.predictor:
            self.predictor = predictor
            self.review_policy = review_policy(self.settings, self.review_queue.client, predictor.versions)
            self.label_mix = self._label_mix(predictor)

    def _label_mix(self, predictor: Predictor) -> LabelMix:
        """The label-mix watch of a model version (its own reference window)."""
        settings = self.settings
        return LabelMix(
            self.review_queue.client,
            settings.review_key_prefix,
            settings.tasks,
            predictor.versions,
            settings.drift_window,
            settings.drift_alert,
        )

    async def close(self) -> None:
        """Close the sink connections."""
        await close_all(self.sinks)

    async def process(self, records: list[RawRecord]) -> OutgoingBatch:
        """Process a batch; returns once every sink confirmed (retrying while they are down)."""
        return await self.store(await self.prepare(records))

    async def prepare(self, records: list[RawRecord]) -> PreparedBatch:
        """Validate, fingerprint and classify, all off the event loop (`parse_batch`, then inference); nothing is
        written yet."""
        prepared = PreparedBatch(len(records), time.perf_counter(), dict(self.predictor.versions), self.review_policy)
        loop = asyncio.get_running_loop()
        max_bytes, layout = self.settings.max_article_bytes, self.stories.layout
        items, rejected = await loop.run_in_executor(self.executor, parse_batch, records, max_bytes, layout)
        prepared.outgoing.dead_letters.extend(rejected)
        if items:
            outcomes = await self._classify([text for _, _, text, _ in items])
            for (article, record, text, print_), outcome in zip(items, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    rejection = Rejection("inference_failed", repr(outcome))
                    prepared.outgoing.dead_letters.append(DeadLetter(record, rejection))
                else:
                    prepared.classified.append((article, record, text, print_, outcome))
        return prepared

    async def store(self, prepared: PreparedBatch, acknowledge: Acknowledge | None = None) -> OutgoingBatch:
        """The commit sequence for a prepared batch (`streamproc.worker.commit`), `acknowledge` its last step."""
        backoff = (self.settings.sink_retry_initial, self.settings.sink_retry_max)
        if prepared.classified:
            prepared.outgoing.articles = await self._enrich(prepared, backoff)

        async def report_then_acknowledge() -> None:
            _report(prepared)  # before the offsets move: whoever sees them acknowledged sees the numbers
            if acknowledge is not None:
                await acknowledge()

        done = await commit_batch(prepared.outgoing, self.sinks, backoff, report_then_acknowledge)
        await self._watch_label_mix(prepared.outgoing)
        return done

    async def _watch_label_mix(self, batch: OutgoingBatch) -> None:
        """Count the stored articles' labels for the drift watch; best effort: it never holds up a batch."""
        try:
            await self.label_mix.observe([article.document for article in batch.articles])
        except Exception as exc:  # Redis away: this window is not compared; counting goes on
            log.warning("label-mix watch skipped a window: %s", exc)

    async def _classify(self, texts: list[str]) -> Sequence[Classification | Exception]:
        """Classify a batch (`classify_guarded`: one text at a time when the batch fails; `ModelFailure` when even
        the canary text fails)."""
        return await classify_guarded(self.settings, self.predictor, texts, self.executor)

    async def _enrich(self, prepared: PreparedBatch, backoff: tuple[float, float]) -> list[Enriched]:
        uncertainties = [classification.max_uncertainty for *_, classification in prepared.classified]
        threshold = await retry_until_done(
            lambda: prepared.review_policy.threshold(uncertainties), "Redis review budget", *backoff
        )
        prints = [(article.id, print_) for article, _, _, print_, _ in prepared.classified]
        stories = await retry_until_done(lambda: self.stories.assign(prints), self.stories.what, *backoff)
        enriched = []
        for (article, record, text, _, classification), story in zip(prepared.classified, stories, strict=True):
            document = enriched_article(
                article,
                classification,
                prepared.versions,
                threshold,
                record.position,
                self.tasks,
                story_id=story.story_id,
            )
            audit = in_audit_sample(article.id, self.settings.audit_share)
            enriched.append(Enriched(document, record, text, audit, _copied_review(story)))
        return enriched


def _copied_review(story: StoryInfo) -> dict | None:
    """The reviewers' fields a copy of a decided story takes on arrival (None for any other article)."""
    if story.decision is None:
        return None
    return review_fields(story.decision, copy_of=story.decided_by)


def parse_batch(
    records: list[RawRecord], max_bytes: int, layout: LshLayout
) -> tuple[list[tuple[Article, RawRecord, str, Fingerprint]], list[DeadLetter]]:
    """(article, record, model text, near-duplicate fingerprint) per valid record, and the dead letters of the
    others.

    CPU work on publisher input (JSON parsing, validation, `model_text`, the MinHash of the capped model text):
    the worker runs it in the inference thread, never on the event loop, which must keep answering heartbeats,
    `/health` and the stall monitor. The same id twice in a batch: the later record wins.
    """
    latest: dict[str, tuple[Article, RawRecord]] = {}
    rejected: list[DeadLetter] = []
    for record in records:
        parsed = parse_article(record.value, max_bytes)
        if isinstance(parsed, Rejection):
            rejected.append(DeadLetter(record, parsed))
        else:
            latest[parsed.id] = (parsed, record)
    items = []
    for article, record in latest.values():
        text = article.text
        items.append((article, record, text, fingerprint(text, layout)))
    return items, rejected


def _report(prepared: PreparedBatch) -> None:
    batch = prepared.outgoing
    seconds = time.perf_counter() - prepared.started
    log.info(
        "batch of %d: %d indexed, %d newly queued for review, %d dead-lettered (%.2fs)",
        prepared.size,
        batch.indexed,
        batch.queued,
        len(batch.dead_letters),
        seconds,
    )
    reasons = [letter.rejection.reason for letter in batch.dead_letters]
    metrics.observe_batch(prepared.size, batch.indexed, batch.queued, reasons, seconds)
