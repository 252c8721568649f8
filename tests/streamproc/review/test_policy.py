"""The review budget against a real Redis: a stream with a known uncertainty distribution is queued at the
target share (within 1 point), across two concurrent workers and a restart; the worker's batches use it."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime

import numpy as np

from streamproc.config import Settings, load_settings
from streamproc.connections import async_redis_client
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.review.policy import FixedThreshold, ReviewBudget, budget_key, review_policy
from streamproc.sinks.document import SourcePosition
from streamproc.stack.provision import create_index
from streamproc.worker.batch import BatchProcessor, RawRecord

TOLERANCE = 0.01  # absolute: the KLL sketch's rank error at k=400 is about 0.7 % (99 % confidence)


def test_budget_holds_the_share_across_workers_and_a_restart(settings: Settings) -> None:
    share, warmup, batch_size = 0.05, 500, 50
    values = np.random.default_rng(7).beta(2, 5, 40_000)  # a skewed, known distribution
    key = budget_key(settings.review_key_prefix, "margin", {"topic": "v1", "sentiment": "v1"})

    async def scenario() -> tuple[float, dict]:
        clients = [async_redis_client(settings), async_redis_client(settings)]

        def worker(i: int) -> ReviewBudget:
            return ReviewBudget(clients[i], key, share, warmup=warmup, window=8_000, fallback=0.9)

        workers = [worker(0), worker(1)]
        queued = seen = 0
        batches = [values[i : i + batch_size] for i in range(0, len(values), batch_size)]
        for step in range(0, len(batches), 2):
            if step == len(batches) // 2:
                workers[0] = worker(0)  # a restart: nothing kept in memory, the estimate comes from Redis
            pair = batches[step : step + 2]
            thresholds = await asyncio.gather(*(w.threshold(b.tolist()) for w, b in zip(workers, pair, strict=False)))
            if step * batch_size >= 2 * warmup:
                for batch, threshold in zip(pair, thresholds, strict=False):
                    queued += int((batch >= threshold).sum())
                    seen += len(batch)
        stored = await clients[0].hgetall(key)
        for client in clients:
            await client.aclose()
        return queued / seen, stored

    achieved, stored = asyncio.run(scenario())
    assert abs(achieved - share) <= TOLERANCE, achieved
    assert set(stored) == {b"current", b"previous"}  # the window rotated: bounded memory, follows drift
    assert sum(len(v) for v in stored.values()) < 40_000  # a few KB, not the stream


def test_fallback_until_warmed_up_and_the_budget_by_default(settings: Settings, monkeypatch) -> None:
    async def scenario() -> list[float]:
        client = async_redis_client(settings)
        key = budget_key(settings.review_key_prefix, "margin", {})
        await client.hset(key, mapping={"current": b"junk", "previous": b"\x00" * 40})  # unreadable: start over
        budget = ReviewBudget(client, key, 0.1, warmup=100, window=1000, fallback=0.9)
        first = await budget.threshold([0.1] * 60)  # 60 seen < 100: the fixed threshold
        second = await budget.threshold([i / 100 for i in range(100)])  # 160 seen: the 90 % quantile
        await client.aclose()
        return [first, second]

    first, second = asyncio.run(scenario())
    assert first == 0.9
    assert abs(second - 0.84) <= 0.02  # 60 values at 0.1 and 0, 0.01 .. 0.99: 144 of 160 are <= 0.84
    policy = review_policy(settings, async_redis_client(settings), {"topic": "v1"})
    assert isinstance(policy, ReviewBudget) and policy.share == 0.02  # the budget out of the box
    assert policy.warmup == 500 and policy.fallback == settings.review_threshold == 0.9
    for off in ("off", "none", "0"):  # the fixed threshold is the opt-in
        monkeypatch.setenv("STREAMPROC_REVIEW_SHARE", off)
        fixed = review_policy(load_settings(), async_redis_client(settings), {"topic": "v1"})
        assert isinstance(fixed, FixedThreshold) and asyncio.run(fixed.threshold([1.0])) == 0.9


def _record(i: int, rng: random.Random) -> RawRecord:
    words = ["정부", "국회", "경제", "주가", "문화", "공연", "good", "bad", "market", "concert", "ai", "phone"]
    article = {
        "id": f"a{i}",
        "title": " ".join(rng.choices(words, k=rng.randint(2, 8))),
        "body": " ".join(rng.choices(words, k=rng.randint(0, 20))),
        "published_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
    }
    return RawRecord(json.dumps(article).encode(), f"a{i}".encode(), SourcePosition("news.raw", 0, i))


def test_worker_batches_queue_the_budgeted_share(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("STREAMPROC_REVIEW_SHARE", "0.25")
    monkeypatch.setenv("STREAMPROC_REVIEW_SHARE_WARMUP", "60")
    monkeypatch.setenv("STREAMPROC_REVIEW_THRESHOLD", "5")  # the fixed threshold alone would queue nothing
    budgeted = Settings()
    create_index(budgeted)
    rng = random.Random(4)
    predictor = load_pipeline_predictor(budgeted)

    async def run() -> list[int]:
        processor = BatchProcessor.connected(budgeted, predictor)
        try:
            return [(await processor.process([_record(b * 40 + i, rng) for i in range(40)])).queued for b in range(10)]
        finally:
            await processor.close()

    queued = asyncio.run(run())
    assert queued[0] == 0  # the first batch is the warm-up: fixed threshold
    share = sum(queued[1:]) / (9 * 40)
    assert 0.15 <= share <= 0.35, queued
