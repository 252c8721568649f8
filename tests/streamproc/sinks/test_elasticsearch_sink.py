"""The Elasticsearch sink against a real server: idempotent by id, refused documents reported, outages raised."""

from __future__ import annotations

import asyncio

import pytest

from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, elasticsearch_client
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.sinks.retry import TransientSinkError
from streamproc.stack.provision import create_index
from tests.servers import free_port


def _count(settings: Settings) -> int:
    es = elasticsearch_client(settings)
    es.indices.refresh(index=settings.es_index)
    count = es.count(index=settings.es_index)["count"]
    es.close()
    return count


def test_replays_overwrite_and_bad_documents_are_reported(settings: Settings) -> None:
    create_index(settings)
    docs = [{"id": f"d{i}", "title": f"t{i}", "needs_review": False} for i in range(5)]

    async def index(batch: list[dict]) -> dict[str, str]:
        client = async_elasticsearch_client(settings)
        try:
            return await ElasticsearchSink(client, settings.es_index).index_batch(batch)
        finally:
            await client.close()

    assert asyncio.run(index(docs)) == {}
    assert asyncio.run(index(docs)) == {}
    assert _count(settings) == 5
    bad = {"id": "d9", "title": "t", "needs_review": "not a boolean"}
    rejected = asyncio.run(index([bad, {"id": "d8", "title": "fine", "needs_review": True}]))
    assert list(rejected) == ["d9"] and rejected["d9"].startswith("400")
    assert _count(settings) == 6


def test_unreachable_cluster_is_transient(settings: Settings) -> None:
    unreachable = settings.model_copy(update={"es_url": f"http://127.0.0.1:{free_port()}"})

    async def index() -> None:
        client = async_elasticsearch_client(unreachable)
        try:
            await ElasticsearchSink(client, "x").index_batch([{"id": "a"}])
        finally:
            await client.close()

    with pytest.raises(TransientSinkError):
        asyncio.run(index())
