"""The Redis review queue against a real server: one entry per id, priority order, reviewed ids stay out."""

from __future__ import annotations

import asyncio
import json

from streamproc.config import Settings
from streamproc.connections import async_redis_client
from streamproc.sinks.review_queue import ReviewQueue


def _doc(doc_id: str, uncertainty: float) -> dict:
    return {
        "id": doc_id,
        "url": None,
        "title": f"title {doc_id}",
        "source": None,
        "lang": "ko",
        "published_at": "2026-11-20T00:00:00+00:00",
        "processed_at": "2026-11-20T00:00:01+00:00",
        "topic": {"label": "it", "score": 0.4},
        "sentiment": {"label": "neutral", "score": 0.5},
        "uncertainty": {"strategy": "margin", "topic": uncertainty, "sentiment": 0.1, "max": uncertainty},
        "model_versions": {"topic": "v1", "sentiment": "v1"},
    }


def test_push_is_idempotent_and_ordered(settings: Settings) -> None:
    async def scenario() -> None:
        client = async_redis_client(settings)
        queue = ReviewQueue(client, settings.review_key_prefix)
        assert await queue.push([_doc("a", 0.9), _doc("b", 0.6), _doc("c", 0.95)]) == 3
        assert await queue.push([_doc("a", 0.9), _doc("b", 0.7)]) == 0  # replay: no second entry
        assert await queue.size() == 3
        assert [doc_id for doc_id, _ in await queue.pending()] == ["c", "a", "b"]
        await client.hset(queue.keys.reviewed, "d", json.dumps({"topic": "it"}))
        assert await queue.push([_doc("d", 0.99)]) == 0  # already reviewed: never queued again
        summary = json.loads(await client.hget(queue.keys.items, "a"))
        assert summary["title"] == "title a" and summary["topic"] == {"label": "it", "score": 0.4}
        await client.aclose()

    asyncio.run(scenario())
