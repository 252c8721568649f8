"""Each sink sorts its failures on real servers: transient is retried, permanent and bugs stop at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from elasticsearch import AsyncElasticsearch, SerializationError
from kafka import KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, kafka_python_options
from streamproc.ingest.records import DeadLetter, RawRecord, Rejection, SourcePosition
from streamproc.review.queue import ReviewQueue
from streamproc.sinks.base import write_until_done
from streamproc.sinks.deadletter_sink import DeadLetterSink
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.sinks.outgoing import OutgoingBatch
from streamproc.sinks.retry import PermanentSinkError, TransientSinkError, jittered, retry_until_done
from streamproc.stack.provision import create_index
from tests.servers import Valkey, free_port

DOC = {"id": "d1", "uncertainty": {"max": 0.95}, "topic": {"label": "it", "score": 0.4}}


def _calls(call: Callable[[], Awaitable[Any]]) -> tuple[list[int], Callable[[], Awaitable[Any]]]:
    counter: list[int] = []

    async def counted() -> Any:
        counter.append(1)
        return await call()

    return counter, counted


def test_unreachable_elasticsearch_is_transient() -> None:
    async def run() -> None:
        client = AsyncElasticsearch(f"http://127.0.0.1:{free_port()}", request_timeout=2, max_retries=0)
        try:
            with pytest.raises(TransientSinkError):
                await ElasticsearchSink(client, "news").index_batch([DOC])
        finally:
            await client.close()

    asyncio.run(run())


def test_a_document_that_cannot_be_serialised_fails_once(settings: Settings) -> None:
    create_index(settings)

    async def run() -> list[int]:
        client = async_elasticsearch_client(settings)
        sink = ElasticsearchSink(client, settings.es_index)
        calls, call = _calls(lambda: sink.index_batch([{**DOC, "extra": {object()}}]))
        try:
            with pytest.raises(SerializationError):
                await retry_until_done(call, "index", 0.01, 0.02)
        finally:
            await client.close()
        return calls

    assert len(asyncio.run(run())) == 1  # a bug is raised at once, never retried


def test_redis_down_is_transient_and_refused_credentials_are_permanent(valkey: Valkey) -> None:
    async def push(url: str, **options: Any) -> None:
        client = Redis.from_url(url, socket_connect_timeout=2, **options)
        try:
            doc = {**DOC, "sentiment": DOC["topic"], "processed_at": "x"}
            await ReviewQueue(client, "t:review", ("topic", "sentiment")).push([(doc, "text", False)])
        finally:
            await client.aclose()

    with pytest.raises(TransientSinkError):
        asyncio.run(push(f"redis://127.0.0.1:{free_port()}/0"))
    with pytest.raises(PermanentSinkError, match="credentials"):
        asyncio.run(push(f"redis://127.0.0.1:{valkey.port}/0", username="nobody", password="wrong"))


def test_deadletter_sink_delivers_and_refuses_oversized_records_for_good(settings: Settings) -> None:
    topic = settings.topic_deadletter

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_list(), acks="all", max_request_size=10_000)
        await producer.start()
        sink = DeadLetterSink(lambda key, value, headers: producer.send(topic, value, key=key, headers=headers), topic)
        try:
            await write_until_done(sink, _letters((b"k1", b"not json"), (None, b"[]")), 0.01, 0.02)
            calls, call = _calls(lambda: sink.write(_letters((b"k2", b"x" * 20_000))))
            with pytest.raises(PermanentSinkError, match="MessageSizeTooLarge"):
                await retry_until_done(call, "dead letters", 0.01, 0.02)
            assert len(calls) == 1
            with pytest.raises(AttributeError):  # not bytes: a bug in the caller, raised as it is
                await sink.write(_letters((None, {"not": "bytes"})))  # type: ignore[arg-type]
        finally:
            await producer.stop()

    asyncio.run(run())
    consumer = KafkaConsumer(**kafka_python_options(settings), auto_offset_reset="earliest", consumer_timeout_ms=3000)
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
    originals = sorted(json.loads(message.value)["original_text"] for message in consumer)
    consumer.close()
    assert originals == ["[]", "not json"]


def _letters(*records: tuple[bytes | None, bytes]) -> OutgoingBatch:
    where = SourcePosition("news.raw", 0, 7)
    rejection = Rejection("invalid_json", "value is not JSON")
    return OutgoingBatch(dead_letters=[DeadLetter(RawRecord(value, key, where), rejection) for key, value in records])


def test_transient_failures_are_retried_with_jitter() -> None:
    outcomes: list[Exception | str] = [TransientSinkError("down"), TransientSinkError("down"), "done"]

    async def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert asyncio.run(retry_until_done(flaky, "flaky", 0.01, 0.02)) == "done" and outcomes == []
    waits = {jittered(2.0) for _ in range(200)}
    assert all(1.0 <= wait <= 2.0 for wait in waits) and len(waits) > 100
