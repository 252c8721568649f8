"""Reviewed labels on the Elasticsearch document survive the worker's re-index (replay or re-crawl)."""

from __future__ import annotations

from typing import Any

from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client
from streamproc.review.service import ReviewService
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.stack.provision import create_index
from tests.review.helpers import document, push, run_coroutine


def _index(settings: Settings, docs: list[dict[str, Any]]) -> dict[str, str]:
    async def run() -> dict[str, str]:
        client = async_elasticsearch_client(settings)
        try:
            return await ElasticsearchSink(client, settings.es_index).index_batch(docs)
        finally:
            await client.close()

    return run_coroutine(run())


def _worker_doc(doc_id: str, title: str, offset: int) -> dict[str, Any]:
    doc = document(doc_id, 0.95, topic="it", title=title)
    doc["extra"] = {}
    doc["kafka"] = {"topic": "news.raw", "partition": 0, "offset": offset}
    return doc


def test_review_fields_survive_a_replay_and_a_recrawl(settings: Settings) -> None:
    create_index(settings)
    assert _index(settings, [_worker_doc("r1", "원래 제목", 1), _worker_doc("r2", "다른 기사", 2)]) == {}
    push(settings, [_worker_doc("r1", "원래 제목", 1), _worker_doc("r2", "다른 기사", 2)])
    service = ReviewService.from_settings(settings)
    try:
        service.desk.claim("kim", 2)
        service.label("r1", "kim", {"topic": "culture", "sentiment": "neutral"})
        service.reject("r2", "kim")
        # the worker re-processes both (at-least-once replay; r1 also re-crawled with a new title)
        assert _index(settings, [_worker_doc("r1", "고친 제목", 7), _worker_doc("r2", "다른 기사", 2)]) == {}
        assert push(settings, [_worker_doc("r1", "고친 제목", 7)]) == 0
        service.es.indices.refresh(index=settings.es_index)
        r1 = service.es.get(index=settings.es_index, id="r1")["_source"]
        r2 = service.es.get(index=settings.es_index, id="r2")["_source"]
        assert r1["title"] == "고친 제목" and r1["kafka"]["offset"] == 7  # the worker's fields are replaced
        assert r1["label_source"] == "reviewed"
        assert r1["review"]["topic"] == "culture" and r1["review"]["by"] == "kim"
        assert r1["review"]["agrees"] == {"topic": False, "sentiment": True}
        assert r2["label_source"] == "rejected" and r2["review"]["decision"] == "reject"
        _index(settings, [_worker_doc("r3", "새 기사", 9)])
        service.es.indices.refresh(index=settings.es_index)
        reviewed = service.es.count(index=settings.es_index, query={"term": {"label_source": "reviewed"}})
        model_only = service.es.count(index=settings.es_index, query={"term": {"label_source": "model"}})
        assert reviewed["count"] == 1 and model_only["count"] == 1
    finally:
        service.close()
