"""500 published records (20 invalid) through the real worker: Elasticsearch, review queue, dead letters."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaConsumer, TopicPartition

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.inference.classify import classify
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.ingest.article import Article, id_from_url
from streamproc.publish.publisher import publish
from tests.pipeline.harness import (
    WorkerProcess,
    dead_letters,
    encode,
    indexed_documents,
    make_articles,
    provision,
    review_queue_state,
    wait_until_processed,
)

MAX_BYTES = 4096
STAMP = "2026-11-20T09:00:00+09:00"
INVALID: list[tuple[str, bytes]] = [
    ("invalid_json", b"not json at all"),
    ("invalid_json", b'{"id": "x1", "title": "truncated'),
    ("invalid_json", b""),
    ("not_an_object", b"[1, 2, 3]"),
    ("not_an_object", b'"just a string"'),
    ("not_an_object", b"null"),
    ("invalid_article", encode({"id": "x2", "title": "no date"})),
    ("invalid_article", encode({"id": "x3", "title": "t", "published_at": "yesterday"})),
    ("invalid_article", encode({"id": "x4", "title": "t", "published_at": "2026-11-20 09:00:00"})),
    ("invalid_article", encode({"id": "x5", "title": "", "body": "  ", "published_at": STAMP})),
    ("invalid_article", encode({"id": "x6", "title": 123, "published_at": STAMP})),
    ("invalid_article", encode({"id": "x7", "title": "t", "body": ["a", "b"], "published_at": STAMP})),
    ("invalid_article", encode({"title": "no id, no url", "published_at": STAMP})),
    ("invalid_article", encode({"title": "t", "url": "ftp://files.example/x", "published_at": STAMP})),
    ("invalid_article", encode({"title": "t", "url": 42, "published_at": STAMP})),
    ("invalid_article", encode({"id": "bad id!", "title": "t", "published_at": STAMP})),
    ("invalid_article", encode({"id": "x8", "title": "t", "lang": "korean!!", "published_at": STAMP})),
    ("invalid_article", encode({"id": "x9", "title": "t", "source": "s" * 600, "published_at": STAMP})),
    ("not_utf8", b'\xff\xfe{"id": "x10"}'),
    ("too_large", encode({"id": "x11", "title": "t", "body": "b" * MAX_BYTES, "published_at": STAMP})),
]


def _raw_records(settings: Settings) -> dict[tuple[int, int], bytes]:
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
        enable_auto_commit=False,
    )
    topic = settings.topic_raw
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
    records = {(m.partition, m.offset): m.value for m in consumer}
    consumer.close()
    return records


def _threshold_between(values: np.ndarray) -> float:
    """A threshold near the median that no value is within 1e-4 of (so float noise cannot flip a side)."""
    ordered = np.sort(values)
    middle = len(ordered) // 2
    for step in range(len(ordered) // 2):
        for i in (middle + step, middle - step):
            if 0 < i < len(ordered) and ordered[i] - ordered[i - 1] > 2e-4:
                return float((ordered[i] + ordered[i - 1]) / 2)
    raise AssertionError("uncertainties too close together to split")


@pytest.mark.slow
def test_publish_process_replay(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    articles = make_articles(480, seed=1)
    parsed = [Article.model_validate(a) for a in articles]
    expected_ids = {a.id for a in parsed}
    assert len(expected_ids) == 480 and id_from_url(articles[0]["url"]) in expected_ids

    predictor = load_pipeline_predictor(settings)
    answers = classify(predictor, [a.text for a in parsed], "margin", settings.tasks.names, settings.tasks.reviewed)
    expected = dict(zip([a.id for a in parsed], answers, strict=True))
    threshold = _threshold_between(np.array([c.max_uncertainty for c in expected.values()]))
    monkeypatch.setenv("STREAMPROC_REVIEW_THRESHOLD", str(threshold))
    monkeypatch.setenv("STREAMPROC_MAX_ARTICLE_BYTES", str(MAX_BYTES))
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", "16")
    settings = Settings()
    provision(settings)

    records = [encode(a) for a in articles]
    for i, (_, raw) in enumerate(INVALID):  # spread the invalid records through the stream
        records.insert(i * 24 + 7, raw)
    assert len(records) == 500
    summary = publish(settings, records, send_invalid=True, progress=False)
    assert summary.sent == 500 and sum(summary.rejected.values()) == 20

    started = datetime.now(UTC)
    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        wait_until_processed(settings, 500)
        docs = indexed_documents(settings)
        assert set(docs) == expected_ids

        raw_by_position = _raw_records(settings)
        for article in parsed:
            doc = docs[article.id]
            want = expected[article.id]
            assert doc["title"] == article.title and doc["body"] == article.body
            assert doc["url"] == article.url and doc["source"] == article.source and doc["lang"] == article.lang
            assert datetime.fromisoformat(doc["published_at"]) == article.published_at
            assert doc["extra"] == {"section_hint": article.extra["section_hint"]}
            for task in ("topic", "sentiment"):
                assert doc[task]["label"] == want.tasks[task].label
                assert doc[task]["score"] == pytest.approx(want.tasks[task].score, abs=1e-4)
                assert doc[task]["probabilities"] == pytest.approx(want.tasks[task].probabilities, abs=1e-4)
                assert doc["uncertainty"][task] == pytest.approx(want.tasks[task].uncertainty, abs=1e-4)
            assert doc["uncertainty"]["strategy"] == "margin"
            assert doc["uncertainty"]["max"] == pytest.approx(want.max_uncertainty, abs=1e-4)
            assert doc["needs_review"] == (want.max_uncertainty >= threshold)
            assert doc["model_versions"] == {"topic": "tiny-3", "sentiment": "tiny-3"}
            assert started - timedelta(seconds=5) <= datetime.fromisoformat(doc["processed_at"]) <= datetime.now(UTC)
            source = raw_by_position[(doc["kafka"]["partition"], doc["kafka"]["offset"])]
            assert doc["kafka"]["topic"] == settings.topic_raw and Article.model_validate_json(source).id == article.id

        letters = dead_letters(settings)
        assert len(letters) == 20
        by_original = {base64.b64decode(letter["original_base64"]): letter for letter in letters}
        for reason, raw in INVALID:
            letter = by_original[raw]
            assert letter["reason"] == reason and letter["error"]
            source = letter["source"]
            assert source["topic"] == settings.topic_raw
            assert raw_by_position[(source["partition"], source["offset"])] == raw

        pending, items = review_queue_state(settings)
        should_review = {doc_id for doc_id, c in expected.items() if c.max_uncertainty >= threshold}
        assert 0 < len(should_review) < 480
        assert set(pending) == should_review == items
        for doc_id, priority in pending.items():
            assert priority == pytest.approx(expected[doc_id].max_uncertainty, abs=1e-4)

        # The same 480 again: documents are overwritten by id, the queue gets no second entry.
        publish(settings, [encode(a) for a in articles], progress=False)
        wait_until_processed(settings, 980)
        assert set(indexed_documents(settings)) == expected_ids
        assert review_queue_state(settings) == (pending, items)
        assert len(dead_letters(settings)) == 20
    finally:
        worker.stop()
    assert "Traceback" not in worker.log()
