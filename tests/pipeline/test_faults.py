"""Faults during a run: the worker is killed with SIGKILL, Elasticsearch goes away and comes back."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.ingest.article import Article
from streamproc.publish.publisher import publish
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    index_count,
    indexed_documents,
    make_articles,
    provision,
    review_queue_state,
    wait_until_processed,
)
from tests.servers import Noida


def _wait_for_count(settings: Settings, at_least: int, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while (count := index_count(settings)) < at_least:
        assert time.monotonic() < deadline, f"only {count} documents after {timeout}s"
        time.sleep(0.05)
    return count


def _start(settings: Settings, tmp_path: Path, count: int, batch_size: str, monkeypatch) -> tuple[set[str], Settings]:
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", batch_size)
    monkeypatch.setenv("STREAMPROC_REVIEW_THRESHOLD", "0.9")
    settings = Settings()
    provision(settings)
    articles = make_articles(count, seed=7)
    publish(settings, [encode(a) for a in articles], progress=False)
    return {Article.model_validate(a).id for a in articles}, settings


@pytest.mark.slow
def test_sigkill_mid_run_loses_nothing(settings, tmp_path: Path, monkeypatch) -> None:
    # Static membership: the restarted worker takes the killed one's partitions back at once. Without it,
    # real Kafka moves them after the session timeout, but the stand-in broker never expires a dead member.
    monkeypatch.setenv("STREAMPROC_WORKER_INSTANCE_ID", "worker-1")
    ids, settings = _start(settings, tmp_path, 1500, "5", monkeypatch)
    first = WorkerProcess(tmp_path / "first.log").start()
    try:
        at_kill = _wait_for_count(settings, 100)
        first.kill(signal.SIGKILL)
    finally:
        first.stop()
    assert at_kill < len(ids), "the worker finished before it could be killed"
    assert first.process is not None and first.process.returncode == -signal.SIGKILL

    second = WorkerProcess(tmp_path / "second.log").start()
    try:
        wait_until_processed(settings, len(ids))
    finally:
        second.stop()
    assert set(indexed_documents(settings)) == ids  # each id exactly once: _id is the article id
    pending, items = review_queue_state(settings)
    docs = indexed_documents(settings)
    assert set(pending) == items == {i for i, d in docs.items() if d["needs_review"]}


@pytest.mark.slow
def test_elasticsearch_outage_holds_offsets(settings, noida: Noida, tmp_path: Path, monkeypatch) -> None:
    ids, settings = _start(settings, tmp_path, 600, "10", monkeypatch)
    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        _wait_for_count(settings, 50)
        noida.service("stop", "elasticsearch")
        try:
            time.sleep(6)  # the worker keeps retrying meanwhile
            assert "Elasticsearch bulk index failed" in worker.log()
            assert worker.process is not None and worker.process.poll() is None
        finally:
            noida.service("start", "elasticsearch")
        wait_until_processed(settings, len(ids))
    finally:
        worker.stop()
    assert set(indexed_documents(settings)) == ids
    assert "succeeded after" in worker.log()
