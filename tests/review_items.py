"""Review-queue items as the worker writes them: documents pushed through the real `ReviewQueue`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, async_redis_client
from streamproc.ingest.model_text import model_text
from streamproc.review.queue import ReviewQueue
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink

TOPICS = ["politics", "economy", "society", "culture", "world", "it"]
SENTIMENTS = ["positive", "neutral", "negative"]
T = TypeVar("T")


def document(doc_id: str, uncertainty: float, topic: str = "it", title: str | None = None) -> dict[str, Any]:
    """An enriched document with full probabilities (the model's best topic is `topic`)."""
    topic_probs = {label: (0.5 if label == topic else 0.1) for label in TOPICS}
    return {
        "id": doc_id,
        "url": f"https://news.example.com/{doc_id}",
        "title": title if title is not None else f"제목 {doc_id}",
        "body": f"본문 {doc_id} 내용",
        "source": "한빛일보",
        "lang": "ko",
        "published_at": "2026-11-20T00:00:00+00:00",
        "processed_at": "2026-11-20T00:00:01+00:00",
        "topic": {"label": topic, "score": 0.5, "probabilities": topic_probs},
        "sentiment": {
            "label": "neutral",
            "score": 0.6,
            "probabilities": {"positive": 0.2, "neutral": 0.6, "negative": 0.2},
        },
        "uncertainty": {"strategy": "margin", "topic": uncertainty, "sentiment": 0.1, "max": uncertainty},
        "needs_review": True,
        "model_versions": {"topic": "v1", "sentiment": "v1"},
    }


def push(
    settings: Settings, documents: list[dict[str, Any]], max_size: int = 10_000, audit: frozenset[str] = frozenset()
) -> int:
    """Queue documents like the worker does (those named in `audit` as the audit sample's); returns how many were
    new."""

    async def run() -> int:
        client = async_redis_client(settings)
        try:
            queue = ReviewQueue(client, settings.review_key_prefix, settings.tasks.names, max_size)
            return await queue.push([(doc, text_of(doc), doc["id"] in audit) for doc in documents])
        finally:
            await client.aclose()

    return run_coroutine(run())


def text_of(doc: dict[str, Any]) -> str:
    """The model input the worker would have built for a document."""
    return model_text(doc.get("title") or "", doc.get("body") or "")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` in a thread of its own (Playwright's sync API keeps an event loop in the test's thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def index_documents(settings: Settings, docs: list[dict[str, Any]]) -> dict[str, str]:
    """Index `docs` through the worker's Elasticsearch sink; the ids it refused, with the reason."""

    async def run() -> dict[str, str]:
        client = async_elasticsearch_client(settings)
        try:
            return await ElasticsearchSink(client, settings.es_index).index_batch(docs)
        finally:
            await client.close()

    return run_coroutine(run())


def worker_document(doc_id: str, title: str, offset: int) -> dict[str, Any]:
    """A document as the worker writes it (Kafka position, extra fields)."""
    doc = document(doc_id, 0.95, topic="it", title=title)
    doc["extra"] = {}
    doc["kafka"] = {"topic": "news.raw", "partition": 0, "offset": offset}
    return doc
