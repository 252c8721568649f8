"""What relabel writes: the worker's text, the model's fields only, the label and version before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamproc.config import CPU_RELABEL_CHUNK, Settings
from streamproc.connections import async_elasticsearch_client, elasticsearch_client
from streamproc.inference.classify import Classification, TaskResult, classify
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.ingest.article import Article
from streamproc.relabel.batch import Relabeler
from streamproc.relabel.items import WorkItem, decode_item
from streamproc.relabel.update import relabel_update, stale_tasks, stored_text
from streamproc.stack.provision import create_index
from tests.review_items import document, index_documents

SERVING = {"topic": "v2", "sentiment": "v2"}


def test_the_text_is_the_workers() -> None:
    raw = {
        "id": "a",
        "title": "  [단독] 반도체 수출 증가  ",
        "body": "(서울=뉴스) 김기자 = 정부가 발표했다. kim@example.com",
        "published_at": "2026-11-20T09:00:00+09:00",
    }
    article = Article.model_validate(raw)
    stored = {"title": article.title, "body": article.body}  # the worker stores the validated fields
    assert stored_text(stored) == article.text


def test_only_the_models_fields_are_written() -> None:
    source = {"title": "t", "body": "b", "model_versions": {"topic": "v1", "sentiment": "v2"}, "topic": {"label": "it"}}
    assert stale_tasks(source, SERVING) == ["topic"]
    answer = Classification(
        {
            "topic": TaskResult("world", 0.7, {"it": 0.3, "world": 0.7}, 0.6),
            "sentiment": TaskResult("neutral", 0.9, {"neutral": 0.9, "negative": 0.1}, 0.2),
        },
        "margin",
        0.6,
    )
    at = datetime(2026, 11, 25, tzinfo=UTC)
    doc = relabel_update(source, answer, SERVING, threshold=0.5, at=at)
    assert set(doc) == {"topic", "sentiment", "uncertainty", "needs_review", "model_versions", "relabel"}
    assert doc["topic"] == {"label": "world", "score": 0.7, "probabilities": {"it": 0.3, "world": 0.7}}
    assert doc["uncertainty"] == {"strategy": "margin", "max": 0.6, "topic": 0.6, "sentiment": 0.2}
    assert doc["needs_review"] is True and doc["model_versions"] == SERVING
    assert doc["relabel"] == {
        "at": at.isoformat(),
        "previous": {"topic": "it"},  # sentiment was on v2 already: not a relabel of it
        "previous_versions": {"topic": "v1"},
    }


def test_work_items_round_trip() -> None:
    item = WorkItem("기사-1", {"topic": "v2"})
    key, value = item.encode()
    assert key == "기사-1".encode() and decode_item(value) == item
    for bad in (b"", b"[]", b'{"id": "a"}', b'{"id": "", "target": {"t": "v"}}', b'{"id": "a", "target": {"t": 1}}'):
        assert decode_item(bad) is None


def test_a_batch_skips_current_missing_and_rewritten_documents(settings: Settings, tiny_model_dir: Path) -> None:
    create_index(settings)
    docs = [document(f"b-{i}", 0.2) for i in range(4)]
    docs[1]["model_versions"] = {"topic": "tiny-3", "sentiment": "tiny-3"}  # already on the target
    assert index_documents(settings, docs) == {}
    predictor = load_pipeline_predictor(settings)
    target = {"topic": "tiny-3", "sentiment": "tiny-3"}
    items = [WorkItem(f"b-{i}", target) for i in (0, 1, 2, 3, 9)] + [WorkItem("b-0", target)]  # b-9: no such doc

    async def run():  # type: ignore[no-untyped-def]
        relabeler = Relabeler(settings, async_elasticsearch_client(settings))
        try:
            rewritten = False

            async def live_write_in_between() -> None:  # the live path (serving the target) rewrites b-3 after it
                nonlocal rewritten  # was read: the relabel's conditional update must not overwrite it
                if not rewritten:
                    es = elasticsearch_client(settings)
                    es.update(index=settings.es_index, id="b-3", doc={"source": "re-crawled", "model_versions": target})
                    es.close()
                    rewritten = True

            first = await relabeler.run(items, predictor, 0.9, live_write_in_between)
            second = await relabeler.run(items, predictor, 0.9)  # the same items again: nothing to do
            return first, second
        finally:
            await relabeler.close()

    first, second = asyncio.run(run())
    assert first.outcomes() == {
        "relabeled": 2,
        "current": 1,
        "missing": 1,
        "conflict": 1,
        "failed": 0,
        "other_version": 0,
    }
    assert second.outcomes()["relabeled"] == 0 and second.current == 4 and second.missing == 1
    es = elasticsearch_client(settings)
    try:
        stored = es.get(index=settings.es_index, id="b-0")["_source"]
        live = es.get(index=settings.es_index, id="b-3")["_source"]
    finally:
        es.close()
    expected = classify(predictor, [stored_text(docs[0])], "margin", settings.tasks.names, settings.tasks.reviewed)[0]
    assert stored["topic"]["label"] == expected.tasks["topic"].label and stored["model_versions"] == target
    assert stored["relabel"]["previous_versions"] == {"topic": "v1", "sentiment": "v1"}
    assert live["source"] == "re-crawled" and "relabel" not in live  # as the live path left it


class _CountingPredictor:
    """The real predictor, recording how many texts each forward pass got."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.sizes = inner, []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def predict(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.sizes.append(len(texts))
        return self.inner.predict(texts)


def test_a_batch_goes_to_the_models_a_chunk_at_a_time_asking_live_traffic_before_each(
    settings: Settings, tiny_model_dir: Path
) -> None:
    create_index(settings)
    titles = ["짧은 제목", "조금 더 긴 기사 제목입니다", "아주 길고 긴 제목 " * 6, "중간 길이의 제목 하나", "끝"]
    docs = [document(f"{kind}-{i}", 0.2, title=title) for kind in ("one", "chunked") for i, title in enumerate(titles)]
    for doc in docs:
        doc["body"] = "같은 본문"  # (the default body names the id)
    assert index_documents(settings, docs) == {}
    predictor = _CountingPredictor(load_pipeline_predictor(settings))
    target = {"topic": "tiny-3", "sentiment": "tiny-3"}
    turns: list[int] = []

    async def wait_turn() -> None:  # where a live batch would go first
        turns.append(len(predictor.sizes))

    async def run(kind: str, chunk: int) -> None:
        relabeler = Relabeler(settings, async_elasticsearch_client(settings), chunk=chunk)
        try:
            counts = await relabeler.run([WorkItem(f"{kind}-{i}", target) for i in range(5)], predictor, 0.9, wait_turn)
            assert counts.relabeled == 5
        finally:
            await relabeler.close()

    asyncio.run(run("one", 0))
    assert predictor.sizes == [5] and turns == [0]
    predictor.sizes.clear()
    turns.clear()
    asyncio.run(run("chunked", 2))
    assert predictor.sizes == [2, 2, 1] and turns == [0, 1, 2]  # asked before every chunk
    es = elasticsearch_client(settings)
    try:
        for i in range(5):  # the same answers as in one pass (padding differs, the labels do not)
            one, chunked = (es.get(index=settings.es_index, id=f"{kind}-{i}")["_source"] for kind in ("one", "chunked"))
            for task in target:
                assert chunked[task]["label"] == one[task]["label"]
                for label, p in one[task]["probabilities"].items():
                    assert chunked[task]["probabilities"][label] == pytest.approx(p, abs=1e-5)
    finally:
        es.close()


def test_the_relabel_chunk_is_small_on_a_cpu_and_the_whole_batch_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(batch_size=32)
    assert settings.relabel_chunk("cpu") == CPU_RELABEL_CHUNK < 32 and settings.relabel_chunk("cuda") == 32
    assert Settings(batch_size=4).relabel_chunk("cpu") == 4  # never more than the batch
    chosen = Settings(batch_size=32, relabel_batch_size=64, relabel_chunk_size=16)
    assert chosen.relabel_chunk("cpu") == chosen.relabel_chunk("cuda") == 16
