"""The Faust app: one agent reads `news.raw` in micro-batches and acknowledges only processed records."""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

import faust
from faust.types import EventT

from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, async_redis_client, faust_broker_credentials
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.inference.predictor import Predictor
from streamproc.sinks.deadletter import deadletter_key
from streamproc.sinks.deadletter_sink import DeadLetterSink
from streamproc.sinks.document import SourcePosition
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.sinks.retry import PermanentSinkError
from streamproc.sinks.review_queue import ReviewQueue
from streamproc.worker import metrics
from streamproc.worker.assignor import StableOrderAssignor
from streamproc.worker.batch import BatchProcessor, PreparedBatch, RawRecord
from streamproc.worker.fetch_pacing import pace_empty_fetches
from streamproc.worker.logs import worker_logging_config
from streamproc.worker.model_watch import ModelWatch
from streamproc.worker.monitor import install_monitoring
from streamproc.worker.offsets import commit_acknowledged, worker_data_dir
from streamproc.worker.overlap import InOrderFinisher
from streamproc.worker.thread_names import name_native_threads

log = logging.getLogger(__name__)
EXIT_BATCH_FAILED = 70  # EX_SOFTWARE


def create_app(settings: Settings, predictor: Predictor | None = None) -> faust.App:
    """Build the Faust app. Without `predictor`, the models are loaded when the agent starts."""
    pace_empty_fetches(settings.kafka_empty_fetch_floor)  # no busy fetch loop on brokers that do not long-poll
    app = faust.App(
        settings.consumer_group,
        broker=[f"kafka://{server}" for server in settings.bootstrap_list()],
        broker_credentials=faust_broker_credentials(settings),
        store="memory://",
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        topic_disable_leader=True,
        broker_session_timeout=settings.kafka_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout / 3),
        broker_rebalance_timeout=settings.kafka_session_timeout,
        consumer_group_instance_id=settings.worker_instance_id,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        logging_config=worker_logging_config(settings),
        datadir=worker_data_dir(settings),
        PartitionAssignor=StableOrderAssignor,  # a restarted static member gets its own partitions back
    )
    raw_topic = app.topic(
        settings.topic_raw,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    install_monitoring(app, settings)
    deadletters = DeadLetterSink(
        lambda key, value: app.producer.send(settings.topic_deadletter, key, value, None, None, None),
        settings.topic_deadletter,
    )
    inference_thread = ThreadPoolExecutor(1, "inference", initializer=name_native_threads)

    async def build_processor() -> BatchProcessor:
        loaded = predictor
        if loaded is None:
            log.info("loading models")
            loaded = await asyncio.get_running_loop().run_in_executor(
                inference_thread, load_pipeline_predictor, settings
            )
        log.info("models ready: %s", ", ".join(f"{t}={v}" for t, v in loaded.versions.items()))
        metrics.set_model_versions(loaded.versions)
        return BatchProcessor(
            settings,
            loaded,
            ElasticsearchSink(async_elasticsearch_client(settings), settings.es_index),
            ReviewQueue(async_redis_client(settings), settings.review_key_prefix, settings.review_queue_max),
            executor=inference_thread,
        )

    @app.agent(raw_topic, name="classify-articles")
    async def classify_articles(stream: faust.StreamT) -> None:
        processor = await build_processor()
        name_native_threads()  # thread names in `top -H`, py-spy and `streamproc bench pipeline`
        watch = ModelWatch(settings, processor.predictor)
        finisher = InOrderFinisher()  # the previous batch's sinks + ack run while this batch is classified

        async def finish(batch: list[EventT], prepared: PreparedBatch) -> None:
            try:
                result = await processor.store(prepared)
                letters = [(deadletter_key(letter.record.key), letter.payload()) for letter in result.dead_letters]
                await deadletters.write_until_done(letters, settings.sink_retry_initial, settings.sink_retry_max)
            except PermanentSinkError as exc:
                log.critical("%s; exiting without acknowledging the batch", exc)
                os._exit(EXIT_BATCH_FAILED)
            except Exception:
                _exit_without_ack()
            for event in batch:
                await stream.ack(event)
            await commit_acknowledged(app)

        try:
            async for events in stream.noack_take(settings.batch_size, within=settings.batch_max_wait):
                batch: list[EventT] = list(events)
                processor.use_predictor(await watch.current())  # a promoted model takes over between batches
                try:
                    prepared = await processor.prepare([_raw_record(event) for event in batch])
                except Exception:
                    _exit_without_ack()
                await finisher.submit(finish(batch, prepared))
        finally:
            await finisher.drain()
            watch.close()
            await processor.close()

    return app


def _exit_without_ack() -> NoReturn:
    # Faust would acknowledge the batch after an agent crash; exit without committing instead,
    # so the batch is redelivered once the worker is restarted (at-least-once holds).
    log.critical("cannot process a batch; exiting without acknowledging it", exc_info=True)
    os._exit(EXIT_BATCH_FAILED)


def _raw_record(event: EventT) -> RawRecord:
    message = event.message
    return RawRecord(
        value=message.value,
        key=message.key,
        position=SourcePosition(message.topic, message.partition, message.offset),
    )
