"""Label-mix drift against a real Redis: a feed that suddenly sends one section only shows within one window."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

import pytest

from streamproc import metrics
from streamproc.config import Settings
from streamproc.connections import async_redis_client
from streamproc.inference.classify import Classification, TaskResult
from streamproc.ingest.article import Article
from streamproc.ingest.records import SourcePosition
from streamproc.quality.drift import LabelMix, psi
from streamproc.sinks.document import EnrichedArticle, enriched_article

TOPICS = ["politics", "economy", "society", "culture", "world", "it", "sports", "entertainment"]
WINDOW = 200


def _documents(settings: Settings, topics: list[str]) -> list[EnrichedArticle]:
    article = Article.model_validate({"id": "a", "title": "t", "published_at": "2026-11-20T09:00:00+09:00"})
    where = SourcePosition("news.raw", 0, 0)
    docs = []
    for topic in topics:
        answer = {"topic": TaskResult(topic, 0.8, {topic: 0.8}, 0.3)}
        classification = Classification(answer, "margin", 0.3)
        docs.append(
            enriched_article(article, classification, {"topic": "v1"}, 0.9, where, settings.tasks, datetime.now(UTC))
        )
    return docs


def test_the_stability_index() -> None:
    same = {"a": 0.5, "b": 0.5}
    assert psi(same, same) == pytest.approx(0.0, abs=1e-9)
    assert 0.0 < psi({"a": 0.55, "b": 0.45}, same) < 0.1 < 0.25 < psi({"a": 1.0}, same)


def test_one_section_only_fires_at_the_end_of_its_window(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(4)
    normal = [rng.choice(TOPICS) for _ in range(3 * WINDOW)]
    sports_only = ["sports"] * WINDOW

    async def scenario() -> tuple[list, list, list]:
        client = async_redis_client(settings)
        try:
            mix = LabelMix(client, settings.review_key_prefix, settings.tasks, {"topic": "v1"}, WINDOW, 0.25)
            stable = await mix.observe(_documents(settings, normal))
            # a second worker of the same deployment compares with the same reference, kept in Redis
            other = LabelMix(client, settings.review_key_prefix, settings.tasks, {"topic": "v1"}, WINDOW, 0.25)
            broken = await other.observe(_documents(settings, sports_only[:-1]))
            last = await other.observe(_documents(settings, sports_only[-1:]))
            return stable, broken, last
        finally:
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="streamproc.quality.drift"):
        stable, broken, last = asyncio.run(scenario())
    # the first window is the reference; same-stream windows differ by sampling noise only: PSI about
    # (labels - 1) x 2 / window = 0.07 here
    assert len(stable) == 3 and all(report.psi < 0.15 for report in stable)
    assert broken == []  # nothing before the window is full ...
    (report,) = last  # ... and at its last article: within one window (one WARNING, below)
    assert report.task == "topic" and report.psi > 2 and report.moved()[0][0] == "sports"
    (warning,) = caplog.records
    assert "label mix of topic moved over the last 200 articles" in warning.getMessage()
    assert "sports 1" in warning.getMessage() and "-> 100%" in warning.getMessage()
    assert metrics.LABEL_SHARE.labels("topic", "sports")._value.get() == 1.0
    assert metrics.LABEL_SHARE.labels("topic", "politics")._value.get() == 0.0
    assert metrics.LABEL_DRIFT.labels("topic")._value.get() == pytest.approx(report.psi)


def test_a_new_model_version_starts_a_new_reference(settings: Settings) -> None:
    async def scenario() -> float:
        client = async_redis_client(settings)
        try:
            old = LabelMix(client, settings.review_key_prefix, settings.tasks, {"topic": "v1"}, WINDOW, 0.25)
            await old.observe(_documents(settings, ["politics"] * WINDOW))
            new = LabelMix(client, settings.review_key_prefix, settings.tasks, {"topic": "v2"}, WINDOW, 0.25)
            (report,) = await new.observe(_documents(settings, ["sports"] * WINDOW))
            return report.psi
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) == pytest.approx(0.0, abs=1e-9)
