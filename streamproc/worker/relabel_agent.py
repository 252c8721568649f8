"""The relabel agent: work items from the relabel topic (`news.relabel`), classified after live traffic.

Each batch of items (`relabel_batch_size`, default `batch_size`) waits while the live group's lag is high, hands its
texts to the inference thread a chunk at a time (`relabel_chunk_size`), each only when no live batch needs the
thread (`streamproc.worker.priority`), then updates the documents (`streamproc.relabel.batch`) and acknowledges the
items; as on the live path, batch N is written and acknowledged while batch N+1 is read and classified, one batch
finishing at a time, in order. A worker relabels only onto the versions it serves: an item for another version waits
while a promoted model is being loaded (and up to two model polls for one to be noticed), then is skipped and
counted (`other_version`); `streamproc relabel` then reports the documents still not on the target. With
`relabel_after_promotion`, the first worker of the group to serve a version queues the relabel of the stored
articles onto it (once per version and index).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import EventT

from streamproc import metrics
from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client
from streamproc.inference.predictor import Predictor, resolve_device
from streamproc.relabel.batch import PreparedRelabel, RelabelCounts, Relabeler, serving_versions
from streamproc.relabel.items import WorkItem, decode_item
from streamproc.review.policy import review_policy
from streamproc.sinks.retry import retry_until_done
from streamproc.worker.agent import Serving, acknowledger
from streamproc.worker.batch import BatchProcessor
from streamproc.worker.commit import Acknowledge
from streamproc.worker.exit import or_exit
from streamproc.worker.model_watch import ModelWatch
from streamproc.worker.overlap import InOrderFinisher
from streamproc.worker.priority import LiveFirst, LiveLag

log = logging.getLogger(__name__)


def relabel_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """`news.relabel`, read as raw bytes."""
    return app.topic(
        settings.topic_relabel,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )


def add_relabel_agent(app: faust.App, settings: Settings, topic: faust.TopicT, serving: Serving) -> None:
    """Add the relabel agent (and, with `relabel_after_promotion`, the timer that queues relabels) to `app`."""

    @app.agent(topic, name="relabel-articles")
    async def relabel_articles(stream: faust.StreamT) -> None:
        processor, watch = await serving.ready()
        chunk = settings.relabel_chunk(resolve_device(settings.device).type)
        relabeler = Relabeler(settings, async_elasticsearch_client(settings), serving.inference_thread, chunk)
        live_lag = LiveLag(settings)
        finisher = InOrderFinisher()  # batch N is written and acknowledged while batch N+1 is read and classified
        try:
            take = stream.noack_take  # type: ignore[attr-defined]
            async for events in take(settings.relabel_batch, within=settings.batch_max_wait):
                batch: list[EventT] = list(events)
                step = prepare_batch(settings, relabeler, processor, watch, serving.gate, live_lag, batch)
                prepared = await or_exit(step)
                await finisher.submit(
                    or_exit(finish_batch(settings, relabeler, prepared, acknowledger(app, stream, batch)))
                )
        finally:
            await finisher.drain()
            live_lag.close()
            await relabeler.close()

    if settings.relabel_after_promotion:
        seen: dict[str, Any] = {}

        @app.timer(settings.model_poll_seconds)
        async def relabel_after_promotion() -> None:
            if serving.watch is None:
                return
            versions = serving_versions(await serving.watch.current(), settings)
            if versions != seen.get("versions"):
                seen["versions"] = versions
                await asyncio.get_running_loop().run_in_executor(None, queue_once, settings, versions)


@dataclass
class PreparedGroup:
    """Items of one batch that share a target, read and classified (or skipped: not the served versions)."""

    items: list[WorkItem]
    predictor: Predictor | None = None
    threshold: float = 0.0
    prepared: PreparedRelabel | None = None
    skipped: RelabelCounts = field(default_factory=RelabelCounts)


@dataclass
class PreparedBatch:
    """One batch of work items, prepared."""

    size: int
    started: float
    waited: float
    groups: list[PreparedGroup]


async def prepare_batch(
    settings: Settings,
    relabeler: Relabeler,
    processor: BatchProcessor,
    watch: ModelWatch,
    gate: LiveFirst,
    live_lag: LiveLag,
    events: list[EventT],
) -> PreparedBatch:
    """Wait for live traffic, then read and classify the batch's documents, a group per target (see the module)."""
    started = time.perf_counter()
    groups: dict[str, list[WorkItem]] = {}
    unreadable = 0
    for event in events:
        item = decode_item(event.message.value)
        if item is None:
            unreadable += 1
        else:
            groups.setdefault(item.target_key, []).append(item)
    if unreadable:
        log.warning("relabel: %d records of %s are not work items; skipped", unreadable, settings.topic_relabel)
    waited = await live_lag.wait_until_low()
    prepared = [await prepare_group(settings, relabeler, processor, watch, gate, items) for items in groups.values()]
    return PreparedBatch(len(events), started, waited, prepared)


async def prepare_group(
    settings: Settings,
    relabeler: Relabeler,
    processor: BatchProcessor,
    watch: ModelWatch,
    gate: LiveFirst,
    items: list[WorkItem],
) -> PreparedGroup:
    """Read and classify items that share one target, once this worker serves it (else they are skipped)."""
    target = items[0].target
    predictor = await predictor_for(settings, watch, target)
    if predictor is None:
        log.warning(
            "relabel: %d items ask for %s, this worker serves %s: skipped (promote that version, or run "
            "`streamproc relabel` again for the one served)",
            len(items),
            target,
            serving_versions(watch.predictor, settings),
        )
        return PreparedGroup(items, skipped=RelabelCounts(other_version=len(items)))
    backoff = (settings.sink_retry_initial, settings.sink_retry_max)
    policy = review_policy(settings, processor.review_queue.client, predictor.versions)
    threshold = await retry_until_done(lambda: policy.threshold([]), "Redis review budget", *backoff)
    prepared = await retry_until_done(
        lambda: relabeler.prepare(items, predictor, threshold, gate.wait_idle), "relabel (Elasticsearch)", *backoff
    )
    return PreparedGroup(items, predictor, threshold, prepared)


async def finish_batch(
    settings: Settings, relabeler: Relabeler, batch: PreparedBatch, acknowledge: Acknowledge
) -> RelabelCounts:
    """Write every group's updates, log and count the batch, then acknowledge its items."""
    total = RelabelCounts()
    for group in batch.groups:
        total.add(await store_group(settings, relabeler, group))
    log.info(
        "relabel batch of %d: %d relabeled (labels changed: %s), %d already current, %d missing, %d conflicts, "
        "%d failed, %d for other versions (%.2fs, %.1fs of it waiting for live traffic)",
        batch.size,
        total.relabeled,
        ", ".join(f"{task} {n}" for task, n in sorted(total.changed.items())) or "none",
        total.current,
        total.missing,
        total.conflict,
        total.failed,
        total.other_version,
        time.perf_counter() - batch.started,
        batch.waited,
    )
    metrics.observe_relabel(total.outcomes(), total.changed)
    await acknowledge()
    return total


async def store_group(settings: Settings, relabeler: Relabeler, group: PreparedGroup) -> RelabelCounts:
    """Write a prepared group; after a transient failure, run the group again from the start (what was written
    is then found on its versions)."""
    if group.prepared is None or group.predictor is None:
        return group.skipped
    prepared, predictor = group.prepared, group.predictor
    attempts = 0

    async def once() -> RelabelCounts:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return await relabeler.store(prepared)
        return await relabeler.run(group.items, predictor, group.threshold)

    return await retry_until_done(once, "relabel (Elasticsearch)", settings.sink_retry_initial, settings.sink_retry_max)


async def predictor_for(settings: Settings, watch: ModelWatch, target: dict[str, str]) -> Predictor | None:
    """The serving predictor once it serves `target`; None when it does not after a promotion's load (or two model
    polls without one)."""
    deadline = time.monotonic() + 2 * settings.model_poll_seconds + 1
    while True:
        predictor = await watch.current()
        if serving_versions(predictor, settings) == target:
            return predictor
        if not watch.loading and time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.2)


def queue_once(settings: Settings, versions: dict[str, str]) -> None:
    """Queue the relabel of every stored article onto `versions`, unless a worker of the group did (Redis SET NX)."""
    from streamproc.connections import elasticsearch_client, redis_client
    from streamproc.relabel.scan import queue_items
    from streamproc.relabel.scope import Scope

    scope = hashlib.sha256(json.dumps(sorted(versions.items())).encode()).hexdigest()[:16]
    claim = f"{settings.consumer_group}:relabel:{settings.es_index}:after-promotion:{scope}"
    redis, es = redis_client(settings), elasticsearch_client(settings)
    try:
        if not redis.set(claim, "1", nx=True):
            return
        result = queue_items(settings, es, redis, versions, Scope(), progress=False)
        log.info("relabel after promotion to %s: queued %d stored articles", versions, result.queued)
    except Exception:
        redis.delete(claim)  # another worker (or this one, at the next switch) tries again
        log.exception("relabel after promotion to %s: could not queue the stored articles", versions)
    finally:
        redis.close()
        es.close()
