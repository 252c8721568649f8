"""The batch agent: `news.raw` in micro-batches -> prepare -> the commit sequence, acknowledging in order.

While batch N+1 is validated and classified in the inference thread, batch N goes through the commit
sequence (`streamproc.worker.commit`: Elasticsearch, review queue, dead letters, acknowledge) in the
background (`streamproc.worker.overlap`). A batch that cannot be processed stops the worker without being
acknowledged (`streamproc.worker.exit`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import faust
from faust.types import EventT

from streamproc import metrics
from streamproc.config import Settings
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.inference.predictor import Predictor
from streamproc.ingest.records import Header, RawRecord, SourcePosition
from streamproc.sinks.deadletter_sink import DeadLetterSink
from streamproc.worker.batch import BatchProcessor, PreparedBatch
from streamproc.worker.commit import Acknowledge
from streamproc.worker.exit import or_exit
from streamproc.worker.model_watch import ModelWatch
from streamproc.worker.offsets import commit_acknowledged
from streamproc.worker.overlap import InOrderFinisher
from streamproc.worker.priority import LiveFirst
from streamproc.worker.thread_names import name_native_threads

log = logging.getLogger(__name__)


class Serving:
    """What the worker's agents share: the batch processor (models, sinks), the model watch, the live-first gate.

    The live agent builds it when it starts; the relabel agent (`streamproc.worker.relabel_agent`) waits for it.
    """

    def __init__(self, inference_thread: ThreadPoolExecutor) -> None:
        self.inference_thread = inference_thread
        self.gate = LiveFirst()
        self.processor: BatchProcessor | None = None
        self.watch: ModelWatch | None = None
        self._ready = asyncio.Event()

    def set(self, processor: BatchProcessor, watch: ModelWatch) -> None:
        """The processor and the watch are ready."""
        self.processor, self.watch = processor, watch
        self._ready.set()

    async def ready(self) -> tuple[BatchProcessor, ModelWatch]:
        """Wait until the live agent loaded the models."""
        await self._ready.wait()
        assert self.processor is not None and self.watch is not None
        return self.processor, self.watch


def add_batch_agent(app: faust.App, settings: Settings, topic: faust.TopicT, predictor: Predictor | None) -> Serving:
    """Add the agent to `app`. Without `predictor`, the models are loaded when the agent starts."""
    serving = Serving(ThreadPoolExecutor(1, "inference", initializer=name_native_threads))

    @app.agent(topic, name="classify-articles")
    async def classify_articles(stream: faust.StreamT) -> None:
        processor = await build_processor(app, settings, predictor, serving.inference_thread)
        name_native_threads()  # thread names in `top -H`, py-spy and `streamproc bench pipeline`
        watch = ModelWatch(settings, processor.predictor)
        serving.set(processor, watch)
        finisher = InOrderFinisher()  # the previous batch's commit sequence runs while this batch is classified
        try:
            # `noack_take` is on the Stream Faust passes, not on its StreamT interface
            take = stream.noack_take  # type: ignore[attr-defined]
            async for events in take(settings.batch_size, within=settings.batch_max_wait):
                batch: list[EventT] = list(events)
                async with serving.gate.live():  # relabel work waits while a live batch is prepared
                    processor.use_predictor(await watch.current())  # a promoted model takes over between batches
                    prepared = await or_exit(processor.prepare([raw_record(event) for event in batch]))
                await finisher.submit(finish_batch(processor, prepared, acknowledger(app, stream, batch)))
        finally:
            await finisher.drain()
            watch.close()
            await processor.close()

    @app.timer(settings.model_poll_seconds)
    async def watch_model_when_idle() -> None:
        # batches ask the watch between them; without traffic this does, so an idle worker switches too (and
        # relabel work for the promoted version finds it serving)
        if serving.watch is not None:
            await serving.watch.current()

    return serving


async def finish_batch(
    processor: BatchProcessor,
    prepared: PreparedBatch,
    acknowledge: Acknowledge,
    exit: Callable[[int], NoReturn] = os._exit,
) -> None:
    """The commit sequence of one batch, acknowledging it last; on any failure the worker exits unacknowledged."""
    await or_exit(processor.store(prepared, acknowledge), exit)


def acknowledger(app: faust.App, stream: faust.StreamT, batch: list[EventT]) -> Acknowledge:
    """Acknowledge the batch's events and commit them at once (not at Faust's next tick)."""

    async def acknowledge() -> None:
        for event in batch:
            await stream.ack(event)
        await commit_acknowledged(app)

    return acknowledge


async def build_processor(
    app: faust.App, settings: Settings, predictor: Predictor | None, inference_thread: ThreadPoolExecutor
) -> BatchProcessor:
    """The models (loaded in the inference thread unless given) and the sinks."""
    loaded = predictor
    if loaded is None:
        log.info("loading models")
        loaded = await asyncio.get_running_loop().run_in_executor(inference_thread, load_pipeline_predictor, settings)
    log.info("models ready: %s", ", ".join(f"{t}={v}" for t, v in loaded.versions.items()))
    metrics.set_model_versions(loaded.versions)
    return BatchProcessor.connected(settings, loaded, inference_thread, deadletter_sink(app, settings))


def deadletter_sink(app: faust.App, settings: Settings) -> DeadLetterSink:
    """The dead-letter topic, written through the app's producer (acks=all)."""
    return DeadLetterSink(
        lambda key, value, headers: app.producer.send(settings.topic_deadletter, key, value, None, None, headers),
        settings.topic_deadletter,
    )


def raw_record(event: EventT) -> RawRecord:
    """The Kafka record behind a Faust event."""
    message = event.message
    return RawRecord(
        value=message.value,
        key=message.key,
        position=SourcePosition(message.topic, message.partition, message.offset),
        headers=record_headers(message.headers),
    )


def record_headers(headers: Any) -> tuple[Header, ...]:
    """A consumed record's headers as (name, bytes) pairs (aiokafka gives pairs; a null value becomes b"")."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)
