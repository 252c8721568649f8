"""A running worker switches to a promoted model between batches: nothing lost, nothing twice, never stops."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.publish.publisher import publish
from streamproc_models.registry import promote
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    index_count,
    indexed_documents,
    make_articles,
    provision,
    wait_until_processed,
)
from tests.tiny_models import build_multihead


@pytest.mark.slow
def test_promote_mid_stream(settings: Settings, tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("STREAMPROC_MULTITASK_MODEL_DIR")  # serve through the model store's `default` link
    monkeypatch.setenv("STREAMPROC_MODEL_POLL_SECONDS", "0.2")
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", "8")
    monkeypatch.setenv("STREAMPROC_BATCH_MAX_WAIT", "0.2")
    settings = Settings()
    promote(settings, tiny_model_dir)  # serves tiny-3
    new_model = build_multihead(tmp_path / "models" / "tiny-4", seed=4)  # version tiny-4
    broken = build_multihead(tmp_path / "models" / "broken", seed=5)
    (broken / "heads.safetensors").write_bytes(b"not a safetensors file")
    provision(settings)
    worker = WorkerProcess(tmp_path / "worker.log").start()
    published = 0

    def send(prefix: str, n: int) -> list[str]:
        nonlocal published
        articles = make_articles(n, seed=published, prefix=prefix)
        for article in articles:
            article["id"] = f"{prefix}-{published}"
            published += 1
        publish(settings, [encode(a) for a in articles], progress=False)
        wait_until_processed(settings, published, timeout=120)
        return [a["id"] for a in articles]

    def wait_log(text: str, feed: str) -> list[str]:
        ids: list[str] = []
        deadline = time.monotonic() + 60
        while text not in worker.log():  # a switch happens between batches: keep articles coming
            assert time.monotonic() < deadline, worker.log()[-2000:]
            ids += send(feed, 4)
        return ids

    try:
        before = send("before", 60)
        promote(settings, broken)
        during_broken = send("broken", 16) + wait_log("cannot load the promoted model", "broken-more")
        after_broken = send("still-old", 24)
        promote(settings, new_model)
        switching = wait_log("switched models", "switching")
        after = send("after", 60)
        assert worker.process is not None and worker.process.poll() is None, "the worker kept running"
    finally:
        worker.stop()
    documents = indexed_documents(settings)
    assert index_count(settings) == published == len(documents)  # none lost, none twice
    version = {doc_id: doc["model_versions"]["topic"] for doc_id, doc in documents.items()}
    assert {version[i] for i in before + during_broken + after_broken} == {"tiny-3"}
    assert {version[i] for i in after} == {"tiny-4"}
    assert {version[i] for i in switching} <= {"tiny-3", "tiny-4"}
    assert all(doc["model_versions"]["sentiment"] == version[i] for i, doc in documents.items())
    log = worker.log()
    assert "not a safetensors file" in log or "cannot load the promoted model" in log
    assert "switched models: topic=tiny-3, sentiment=tiny-3 -> topic=tiny-4, sentiment=tiny-4" in log
