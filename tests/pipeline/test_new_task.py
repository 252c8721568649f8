"""A task added by a task file alone flows through everything: worker, Elasticsearch, review queue, review page,
retrain (which learns it from the reviews, starting from no head), and the live model switch.

The task file is the default one (topic, sentiment, emotion) with a fourth, made-up task appended (`urgency`: is
the article breaking news?). No code knows that task.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, redis_client
from streamproc.kibana.objects import saved_objects
from streamproc.publish.publisher import publish
from streamproc.review.desk import ReviewDesk
from streamproc.review.web import create_review_app
from streamproc.tasks import DEFAULT_TASKS_FILE
from streamproc_models.data import read_tsv
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.registry import promote, serving_folder
from streamproc_models.retrain import retrain
from tests.models.toy_data import SENTIMENT_WORDS, TOPIC_WORDS, write_toy_set
from tests.pipeline.harness import WorkerProcess, encode, indexed_documents, provision, wait_for, wait_until_processed
from tests.tiny_models import build_base_encoder

pytestmark = pytest.mark.slow

URGENCY = """
[[task]]
name = "urgency"
display = "긴급도"
description = "지금 벌어지는 일을 알리는 속보인가"
labels = [
  { name = "breaking", display = "속보", description = "지금 벌어지는 일" },
  { name = "routine", display = "일반", description = "그 밖의 기사" },
]
"""
WORDS = ["정부", "국회", "선거", "주가", "수출", "공연", "government", "market", "concert", "good", "loss"]


def _task_file(tmp_path: Path) -> Path:
    """The default task file plus the made-up task, its relative paths pointed back at the package's data."""
    folder = DEFAULT_TASKS_FILE.parent.as_posix()
    text = re.sub(r'^(seed|path) = "', rf'\1 = "{folder}/', DEFAULT_TASKS_FILE.read_text(encoding="utf-8"), flags=re.M)
    path = tmp_path / "tasks.toml"
    path.write_text(text + URGENCY, encoding="utf-8")
    return path


def _articles(prefix: str, count: int, offset: int = 0) -> tuple[list[bytes], dict[str, str]]:
    """Articles, every third one breaking news ("속보" in the title); and the truth of `urgency` per id."""
    records, truth = [], {}
    for i in range(offset, offset + count):
        breaking = i % 3 == 0
        words = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(4))
        title = f"[속보] {words}" if breaking else f"{words} 소식"
        doc_id = f"{prefix}-{i:03d}"
        body = f"{words} {'긴급 속보 현장' if breaking else '정례 발표 내용'}"
        article = {"id": doc_id, "title": title, "body": body, "published_at": "2026-11-20T09:00:00+09:00"}
        records.append(encode(article))
        truth[doc_id] = "breaking" if breaking else "routine"
    return records, truth


@pytest.fixture
def with_new_task(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Path]:
    """Settings with the four-task file, everything queued for review, a toy model (topic + sentiment) serving."""
    base = build_base_encoder(tmp_path / "encoder", seed=5)
    data = tmp_path / "base-data"
    write_toy_set(data / "topic", TOPIC_WORDS)
    write_toy_set(data / "sentiment", SENTIMENT_WORDS)
    sets = {t: (read_tsv(data / t / "train.tsv"), read_tsv(data / t / "val.tsv")) for t in ("topic", "sentiment")}
    first = train_fast_model(sets, base, settings.model_store, "toy", FastSettings(max_length=32), device="cpu")
    monkeypatch.delenv("STREAMPROC_MULTITASK_MODEL_DIR")  # serve through the model store's `default` link
    for name, value in {
        "STREAMPROC_TASKS_FILE": str(_task_file(tmp_path)),
        "STREAMPROC_MAX_TOKENS": "32",
        "STREAMPROC_DEVICE": "cpu",
        "STREAMPROC_REVIEW_THRESHOLD": "0",
        "STREAMPROC_MODEL_POLL_SECONDS": "0.5",
        "STREAMPROC_BATCH_MAX_WAIT": "0.2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    promote(settings, first)
    provision(settings)
    return settings, data


def test_a_task_added_by_the_task_file_alone_is_served_reviewed_and_learned(
    with_new_task: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, data = with_new_task
    assert settings.tasks.names == ("topic", "sentiment", "emotion", "urgency")
    es = elasticsearch_client(settings)
    try:
        mapping = es.indices.get_mapping(index=settings.es_index)[settings.es_index]["mappings"]["properties"]
    finally:
        es.close()
    assert {"urgency", "emotion"} <= set(mapping) and "urgency" in mapping["review"]["properties"]
    assert "urgency" in mapping["uncertainty"]["properties"] and "urgency" in mapping["model_versions"]["properties"]
    assert any(o["id"] == "streamproc-urgency-by-lang" for o in saved_objects(settings.tasks))

    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        # 1. served without a head: stored as null, queued for review like every article here
        records, truth = _articles("a", 60)
        publish(settings, records, progress=False)
        wait_until_processed(settings, 60)
        documents = indexed_documents(settings)
        assert len(documents) == 60
        assert all(doc["urgency"] is None and doc["topic"]["label"] for doc in documents.values())
        assert all("urgency" not in doc["model_versions"] for doc in documents.values())

        # 2. the review page asks for it (its labels from the task file, nothing pre-selected) and takes it
        client = TestClient(create_review_app(settings), base_url="http://127.0.0.1:8066")
        page = client.get("/?reviewer=kim")
        assert page.status_code == 200 and 'name="label.urgency"' in page.text and "긴급도" in page.text
        assert re.search(r'name="label.urgency" value="breaking"[^>]*>', page.text)
        assert not re.search(r'name="label.urgency" value="\w+"[^>]*checked', page.text)
        shown = re.search(r'data-id="([^"]+)"', page.text)
        assert shown is not None
        held = shown.group(1)
        form = {"item_id": held, "decision": "label", "label.urgency": truth[held]}
        assert client.post("/decide", data=form, follow_redirects=False).status_code == 303

        # 3. reviewers label the rest (the desk the CLI uses); retrain learns the task from the reviews alone
        redis = redis_client(settings)
        desk = ReviewDesk(redis, settings.review_key_prefix, settings.tasks)
        try:
            assert desk.decisions()[held]["labels"] == {"urgency": truth[held]}
            while items := desk.claim("lee", 20):
                for item in items:
                    desk.label(item.id, "lee", {"urgency": truth[item.id]})
            result = retrain(settings, desk, base_data=data, say=lambda _: None)
        finally:
            redis.close()
        assert result.promoted, result.checks
        assert any(check.startswith("urgency: new head") for check in result.checks)
        assert serving_folder(settings) == result.candidate_folder

        # 4. the running worker switches to the promoted model (it looks between batches: a trickle of articles
        # gives it batches) and labels new articles with the new task
        trickled: list[bytes] = []

        def switched() -> bool:
            trickled.extend(_articles("t", 1, offset=2000 + len(trickled))[0])
            publish(settings, trickled[-1:], progress=False)
            return "switched models" in worker.log()

        wait_for(switched, "the worker to switch models", timeout=90, interval=1.0)
        fresh, fresh_truth = _articles("b", 30, offset=1000)
        publish(settings, fresh, progress=False)
        wait_until_processed(settings, 60 + len(trickled) + 30)
        stored = {i: doc for i, doc in indexed_documents(settings).items() if i in fresh_truth}
        assert len(stored) == 30 and all(doc["urgency"] is not None for doc in stored.values())
        assert {doc["model_versions"]["urgency"] for doc in stored.values()} == {result.candidate_folder.name}
        right = sum(doc["urgency"]["label"] == fresh_truth[i] for i, doc in stored.items())
        print(f"[new task] urgency learned from {len(truth)} reviews: {right}/30 unreviewed articles right")
        assert right >= 24  # "속보" vs "소식"/"발표": separable for the n-gram branch
    finally:
        worker.stop()
