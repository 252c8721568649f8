"""Reviewed labels on the Elasticsearch document survive the worker's re-index (replay or re-crawl)."""

from __future__ import annotations

from streamproc.config import Settings
from streamproc.review.service import ReviewService
from streamproc.stack.provision import create_index
from tests.review_items import index_documents, push, worker_document


def test_review_fields_survive_a_replay_and_a_recrawl(settings: Settings) -> None:
    create_index(settings)
    first = [worker_document("r1", "원래 제목", 1), worker_document("r2", "다른 기사", 2)]
    assert index_documents(settings, first) == {}
    push(settings, first)
    service = ReviewService.from_settings(settings)
    try:
        service.desk.claim("kim", 2)
        service.label("r1", "kim", {"topic": "culture", "sentiment": "neutral"})
        service.reject("r2", "kim")
        # the worker re-processes both (at-least-once replay; r1 also re-crawled with a new title)
        replayed = [worker_document("r1", "고친 제목", 7), worker_document("r2", "다른 기사", 2)]
        assert index_documents(settings, replayed) == {}
        assert push(settings, [worker_document("r1", "고친 제목", 7)]) == 0
        service.es.indices.refresh(index=settings.es_index)
        r1 = service.es.get(index=settings.es_index, id="r1")["_source"]
        r2 = service.es.get(index=settings.es_index, id="r2")["_source"]
        assert r1["title"] == "고친 제목" and r1["kafka"]["offset"] == 7  # the worker's fields are replaced
        assert r1["label_source"] == "reviewed"
        assert r1["review"]["topic"] == "culture" and r1["review"]["by"] == "kim"
        assert r1["review"]["agrees"] == {"topic": False, "sentiment": True}
        assert r2["label_source"] == "rejected" and r2["review"]["decision"] == "reject"
        index_documents(settings, [worker_document("r3", "새 기사", 9)])
        service.es.indices.refresh(index=settings.es_index)
        reviewed = service.es.count(index=settings.es_index, query={"term": {"label_source": "reviewed"}})
        model_only = service.es.count(index=settings.es_index, query={"term": {"label_source": "model"}})
        assert reviewed["count"] == 1 and model_only["count"] == 1
    finally:
        service.close()
