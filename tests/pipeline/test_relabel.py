"""`streamproc relabel` through real workers: a promotion, the relabel queued, the worker killed (-9) midway and
restarted, then: every document on the new version, none relabeled twice, reviewers' fields kept, the summary's
confusion equal to the labels before and after, and the labels equal to what the live path gives."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from streamproc.cli.main import app
from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options
from streamproc.review.elastic import write_decision
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    make_articles,
    provision,
    wait_for,
    wait_until_processed,
)
from tests.tiny_models import build_multihead

runner = CliRunner()
N = 120


def _documents(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every document with its `_version`, by id."""
    es: Elasticsearch = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        hits = es.search(index=settings.es_index, size=10000, version=True, query={"match_all": {}})["hits"]["hits"]
        return {hit["_id"]: {**hit["_source"], "_version": hit["_version"]} for hit in hits}
    finally:
        es.close()


def _on(settings: Settings, version: str) -> int:
    return sum(1 for doc in _documents(settings).values() if doc["model_versions"]["topic"] == version)


def _relabeled_in_logs(*workers: WorkerProcess) -> int:
    return sum(int(n) for worker in workers for n in re.findall(r"relabel batch of \d+: (\d+) relabeled", worker.log()))


def _publish(settings: Settings, articles: list[dict[str, Any]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    for article in articles:
        producer.send(settings.topic_raw, key=article["id"].encode(), value=encode(article))
    producer.flush()
    producer.close()


@pytest.mark.slow
def test_relabel_survives_kill_9_relabels_once_and_keeps_reviews(
    settings: Settings, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "serving"
    os.symlink(tiny_model_dir, link)
    newer = build_multihead(tmp_path / "tiny-4", seed=4)
    env = {
        "STREAMPROC_MULTITASK_MODEL_DIR": str(link),
        "STREAMPROC_MODEL_POLL_SECONDS": "0.5",
        "STREAMPROC_WORKER_INSTANCE_ID": "relabel-worker",  # the restarted worker takes its partitions back
        "STREAMPROC_RELABEL_BATCH_SIZE": "4",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    provision(settings)
    articles = make_articles(N, seed=11, prefix="rl")
    for i, article in enumerate(articles):
        article["id"] = f"rl-{i:04d}"
    _publish(settings, articles)
    first = WorkerProcess(tmp_path / "first.log").start()
    try:
        wait_until_processed(settings, N)
        before = _documents(settings)
        assert len(before) == N and {d["model_versions"]["topic"] for d in before.values()} == {"tiny-3"}
        es = elasticsearch_client(settings)
        for doc_id, label in (("rl-0001", "culture"), ("rl-0002", "it")):
            decision = {"id": doc_id, "decision": "label", "reviewer": "kim", "at": "2026-11-25T10:00:00+00:00"}
            write_decision(es, settings.es_index, {**decision, "labels": {"topic": label}, "model": {}})
        es.close()
        before = _documents(settings)

        tmp_link = tmp_path / "serving.new"
        os.symlink(newer, tmp_link)
        os.replace(tmp_link, link)  # the promotion: the workers switch within a poll
        wait_for(lambda: "switched models" in first.log(), "the worker to switch to tiny-4")
        dry = runner.invoke(app, ["relabel", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert f"{N} articles in scope, {N} not on topic=tiny-4, sentiment=tiny-4" in dry.output
        queued = runner.invoke(app, ["relabel", "--no-wait"])
        assert queued.exit_code == 0, queued.output
        assert f"queued {N} on {settings.topic_relabel}" in queued.output
        wait_for(lambda: _on(settings, "tiny-4") >= N // 4, "a quarter relabeled", timeout=120, interval=0.05)
        first.kill()  # kill -9 midway
    finally:
        first.stop()
    midway = _on(settings, "tiny-4")
    assert midway < N, "the kill came too late to test a resume"
    second = WorkerProcess(tmp_path / "second.log").start()
    try:
        summary_path = tmp_path / "summary.json"
        done = runner.invoke(app, ["relabel", "--json", str(summary_path)])  # re-queues the rest; follows to the end
        assert done.exit_code == 0, done.output
        after = _documents(settings)
        assert all(doc["model_versions"] == {"topic": "tiny-4", "sentiment": "tiny-4"} for doc in after.values())
        # relabeled exactly once: one more version of each document, one "relabeled" each in the workers' logs
        assert {i: after[i]["_version"] - before[i]["_version"] for i in after} == {i: 1 for i in after}
        assert _relabeled_in_logs(first, second) <= N and _relabeled_in_logs(second) == N - midway
        for doc_id, label in (("rl-0001", "culture"), ("rl-0002", "it")):
            assert after[doc_id]["review"]["topic"] == label and after[doc_id]["label_source"] == "reviewed"
        assert {d["label_source"] for i, d in after.items() if i not in ("rl-0001", "rl-0002")} == {"model"}
        for doc_id, doc in after.items():
            assert doc["relabel"]["previous"]["topic"] == before[doc_id]["topic"]["label"]
            assert doc["relabel"]["previous_versions"] == {"topic": "tiny-3", "sentiment": "tiny-3"}
            assert doc["processed_at"] == before[doc_id]["processed_at"] and doc["kafka"] == before[doc_id]["kafka"]
        summary = json.loads(summary_path.read_text())
        for task in ("topic", "sentiment"):
            expected: dict[str, dict[str, int]] = {}
            for doc_id, doc in after.items():
                row = expected.setdefault(before[doc_id][task]["label"], {})
                row[doc[task]["label"]] = row.get(doc[task]["label"], 0) + 1
            assert summary["tasks"][task]["confusion"] == expected
            moved = sum(1 for i in after if after[i][task]["label"] != before[i][task]["label"])
            assert summary["tasks"][task]["changed"] == moved and f"{moved} of {N} relabeled" in done.output

        # the live path on the same articles, with the same model, gives the same answers
        relabeled = {i: after[i] for i in ("rl-0005", "rl-0006", "rl-0007")}
        _publish(settings, [a for a in articles if a["id"] in relabeled])
        wait_until_processed(settings, N + 3)
        live = _documents(settings)
        for doc_id, doc in relabeled.items():
            assert live[doc_id]["relabel"] is None  # the live write replaced the relabel's
            for task in ("topic", "sentiment"):
                assert live[doc_id][task]["label"] == doc[task]["label"]
                for label, p in doc[task]["probabilities"].items():
                    assert live[doc_id][task]["probabilities"][label] == pytest.approx(p, abs=1e-5)
    finally:
        second.stop()


@pytest.mark.slow
def test_relabel_after_promotion_when_asked(
    settings: Settings, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = tmp_path / "serving"
    os.symlink(tiny_model_dir, link)
    newer = build_multihead(tmp_path / "tiny-5", seed=5)
    monkeypatch.setenv("STREAMPROC_MULTITASK_MODEL_DIR", str(link))
    monkeypatch.setenv("STREAMPROC_MODEL_POLL_SECONDS", "0.5")
    monkeypatch.setenv("STREAMPROC_RELABEL_AFTER_PROMOTION", "true")
    settings = Settings()
    provision(settings)
    articles = make_articles(30, seed=12, prefix="ap")
    for i, article in enumerate(articles):
        article["id"] = f"ap-{i:04d}"
    _publish(settings, articles)
    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        wait_until_processed(settings, 30)
        assert _on(settings, "tiny-3") == 30
        tmp_link = tmp_path / "serving.new"
        os.symlink(newer, tmp_link)
        os.replace(tmp_link, link)
        wait_for(lambda: _on(settings, "tiny-5") == 30, "every stored article on tiny-5", timeout=120)
        assert "relabel after promotion to {'topic': 'tiny-5', 'sentiment': 'tiny-5'}: queued 30" in worker.log()
    finally:
        worker.stop()
