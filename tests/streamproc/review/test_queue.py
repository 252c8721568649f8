"""The Redis review queue against a real server: one entry per id, priority order, reviewed ids stay out."""

from __future__ import annotations

import asyncio
import json

from streamproc.config import Settings
from streamproc.connections import async_redis_client, redis_client
from streamproc.review.desk import ReviewDesk
from streamproc.review.queue import ReviewQueue


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


def _with_texts(documents: list[dict]) -> list[tuple[dict, str, bool]]:
    return [(doc, f"text of {doc['id']}", False) for doc in documents]


def _desk(settings: Settings) -> ReviewDesk:
    """The reviewers' side of the same queue, to read what the pushes left."""
    return ReviewDesk(redis_client(settings), settings.review_key_prefix, settings.tasks)


def test_push_is_idempotent_and_ordered(settings: Settings) -> None:
    async def scenario() -> None:
        client = async_redis_client(settings)
        queue = ReviewQueue(client, settings.review_key_prefix, settings.tasks.names)
        assert await queue.push(_with_texts([_doc("a", 0.9), _doc("b", 0.6), _doc("c", 0.95)])) == 3
        assert await queue.push(_with_texts([_doc("a", 0.9), _doc("b", 0.7)])) == 0  # replay: no second entry
        desk = _desk(settings)
        assert desk.size() == 3
        assert [doc_id for doc_id, _ in desk.waiting()] == ["c", "a", "b"]
        await client.hset(queue.keys.reviewed, "d", json.dumps({"topic": "it"}))
        assert await queue.push(_with_texts([_doc("d", 0.99)])) == 0  # already reviewed: never queued again
        summary = json.loads(await client.hget(queue.keys.items, "a"))
        assert summary["title"] == "title a" and summary["topic"] == {"label": "it", "score": 0.4}
        await client.aclose()

    asyncio.run(scenario())


def test_a_retried_push_whose_reply_was_lost_still_counts_what_it_added(settings: Settings) -> None:
    """Redis applied the push but the worker never heard back (server killed mid-reply): the worker retries the
    same batch, and "newly queued" must still say 2, not 0; a replay (new processed_at) adds nothing."""

    async def scenario() -> None:
        client = async_redis_client(settings)
        queue = ReviewQueue(client, settings.review_key_prefix, settings.tasks.names)
        batch = [_doc("r1", 0.9), _doc("r2", 0.8)]
        assert await queue.push(_with_texts(batch)) == 2  # applied; pretend this reply was lost
        assert await queue.push(_with_texts(batch)) == 2  # the retry of the same batch reads the receipt
        assert _desk(settings).size() == 2
        replay = [{**doc, "processed_at": "2026-11-20T00:05:00+00:00"} for doc in batch]
        assert await queue.push(_with_texts(replay)) == 0
        receipt_ttl = await client.ttl(queue.keys.receipt(batch))
        assert 0 < receipt_ttl <= 3600
        await client.aclose()

    asyncio.run(scenario())
