"""The agent's finish path on the session's real servers: the commit sequence runs in order and acknowledges last;
a sink that refuses for good stops the worker (exit 70) before anything is acknowledged.

`finish_batch` is what the agent runs for every batch; only the process exit is replaced (by an exception that
records the code), because the real `os._exit` would end the test session.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import NoReturn

import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, async_redis_client, elasticsearch_client
from streamproc.demo.review_loop import stored_labels
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.ingest.records import RawRecord, SourcePosition
from streamproc.review.queue import ReviewQueue
from streamproc.sinks.deadletter_sink import DeadLetterSink
from streamproc.sinks.document import document_model
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.stack.provision import create_index, create_topics
from streamproc.worker.agent import finish_batch
from streamproc.worker.batch import BatchProcessor
from streamproc.worker.exit import EXIT_BATCH_FAILED, or_exit
from tests.pipeline.harness import dead_letters, index_count


class Exited(Exception):
    """Raised instead of ending the process."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit(code: int) -> NoReturn:
    raise Exited(code)


def _records(settings: Settings) -> list[RawRecord]:
    articles = [
        {
            "id": f"a{i}",
            "title": f"기사 {i}",
            "body": "정부 경제 발표",
            "published_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
        }
        for i in range(3)
    ]
    values = [json.dumps(article).encode() for article in articles] + [b"not json"]
    return [
        RawRecord(value, f"k{i}".encode(), SourcePosition(settings.topic_raw, 0, i)) for i, value in enumerate(values)
    ]


async def _finish(settings: Settings, redis: Redis, acknowledged: list[tuple[int, int]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_list(), acks="all")
    await producer.start()
    topic = settings.topic_deadletter
    queue = ReviewQueue(redis, settings.review_key_prefix, settings.tasks.names)
    sinks = [
        ElasticsearchSink(async_elasticsearch_client(settings), settings.es_index),
        queue,
        DeadLetterSink(lambda key, value, headers: producer.send(topic, value, key=key, headers=headers), topic),
    ]
    processor = BatchProcessor(settings, load_pipeline_predictor(settings), sinks, queue)

    async def acknowledge() -> None:
        # what the sinks hold at the moment the offsets would be acknowledged
        indexed = await asyncio.to_thread(index_count, settings)
        letters = await asyncio.to_thread(dead_letters, settings)
        acknowledged.append((indexed, len(letters)))

    try:
        prepared = await processor.prepare(_records(settings))
        await finish_batch(processor, prepared, acknowledge, exit=_exit)
    finally:
        await processor.close()
        await producer.stop()


def _provision(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("STREAMPROC_REVIEW_THRESHOLD", "0")  # every article goes to the review queue
    queued_all = Settings()
    create_topics(queued_all)
    create_index(queued_all)
    return queued_all


def test_acknowledges_once_after_every_sink_confirmed(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _provision(settings, monkeypatch)
    acknowledged: list[tuple[int, int]] = []
    asyncio.run(_finish(settings, async_redis_client(settings), acknowledged))
    assert acknowledged == [(3, 1)]  # 3 articles indexed and 1 dead letter delivered before the acknowledgement
    (letter,) = dead_letters(settings)
    assert letter["reason"] == "invalid_json" and letter["source"]["offset"] == 3
    es = elasticsearch_client(settings)
    try:
        hits = es.search(index=settings.es_index, query={"match_all": {}})["hits"]["hits"]
    finally:
        es.close()
    model = document_model(settings.tasks.names)
    stored = [model.model_validate(hit["_source"]) for hit in hits]  # what is stored reads back typed
    assert sorted(doc.id for doc in stored) == ["a0", "a1", "a2"]
    assert {doc.label_source for doc in stored} == {"model"} and all(doc.needs_review for doc in stored)
    assert {doc.kafka.offset for doc in stored} == {0, 1, 2}
    assert stored_labels(settings, ["a0", "a1", "a2"]).keys() == {"a0", "a1", "a2"}  # the demo reads it typed too


def test_a_refusing_sink_exits_70_before_dead_letters_and_acknowledgement(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _provision(settings, monkeypatch)
    refused = Redis.from_url(settings.redis_url, username="nobody", password="wrong")
    acknowledged: list[tuple[int, int]] = []
    with caplog.at_level(logging.CRITICAL), pytest.raises(Exited) as exited:
        asyncio.run(_finish(settings, refused, acknowledged))
    assert exited.value.code == EXIT_BATCH_FAILED
    assert acknowledged == []
    # the story index (this Redis) comes before Elasticsearch: the document carries its `story_id`
    assert index_count(settings) == 0
    assert dead_letters(settings) == []  # the dead letters come after the review queue: never written
    assert "credentials" in caplog.text and "exiting without acknowledging the batch" in caplog.text


def test_a_bug_exits_70_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise KeyError("a bug")

    with caplog.at_level(logging.CRITICAL), pytest.raises(Exited) as exited:
        asyncio.run(or_exit(broken(), exit=_exit))
    assert exited.value.code == EXIT_BATCH_FAILED
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.exc_info is not None and "KeyError" in caplog.text
