"""Near-duplicate stories on real servers: copies found through bylines, tags and a trimmed paragraph, one queue
item per story, one decision for every copy, later copies labelled on arrival, and the audit sample untouched."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.connections import async_redis_client, elasticsearch_client
from streamproc.demo.main_job import SAMPLES
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.ingest.model_text import model_text
from streamproc.review.audit import in_audit_sample
from streamproc.review.service import ReviewService
from streamproc.review.stories import (
    NUM_PERM,
    SCHEME,
    SEED,
    StoryIndex,
    agreement,
    fingerprint,
    lsh_layout,
    shingle_hashes,
    shingles,
    signature,
)
from streamproc.sinks.document import SourcePosition
from streamproc.stack.provision import create_index
from streamproc.worker.batch import BatchProcessor, RawRecord
from tests.review_items import document, push, run_coroutine

TITLE = "정부, 내년 예산 656조 원 편성… 복지·국방 지출 늘려"
BODY = (
    "정부가 내년도 예산안을 656조 원 규모로 편성해 국회에 제출했다. 올해 본예산보다 2.8% 늘어난 규모다. "
    "기획재정부는 저출생 대응과 취약계층 지원을 위한 복지 지출을 크게 늘렸다고 밝혔다. "
    "국방 예산도 첨단 전력 확충을 이유로 4% 넘게 증가했다. "
    "반면 연구개발 예산은 지난해 삭감분을 일부 되돌리는 데 그쳤다. "
    "야당은 세수 결손이 이어지는 상황에서 재정 건전성 대책이 부족하다고 비판했다. "
    "국회는 다음 달부터 상임위원회별 심사에 들어가 12월 2일까지 예산안을 처리할 계획이다."
)
OTHER_TITLE = "국회, 추경안 심사 착수… 여야 증액 규모 놓고 신경전"
OTHER_BODY = (
    "국회 예산결산특별위원회가 정부의 추가경정예산안 심사에 착수했다. 여당은 민생 회복을 위해 신속한 처리를 요구했다. "
    "야당은 지역화폐 예산 증액 없이는 동의할 수 없다는 입장이다. 정부는 재정 여력이 크지 않다며 증액에 난색을 보였다. "
    "예결위는 이번 주 종합정책질의를 거쳐 소위원회 심사를 이어갈 예정이다."
)


def copies() -> dict[str, tuple[str, str]]:
    """The ways an outlet republishes a wire story (title, body before the model text is built)."""
    sentences = BODY.split(". ")
    return {
        "byline": (TITLE, "(서울=뉴스1) 홍길동 기자 = " + BODY),
        "outlet tag": ("[한빛일보] " + TITLE, BODY + " 김영희 기자 kim@hanbit.example"),
        "dateline": (TITLE, "【세종=연합뉴스】 " + BODY + " 2026.11.14"),
        "last paragraph dropped": (TITLE, ". ".join(sentences[:-1]) + "."),
        "title punctuation": (TITLE.replace("…", "...").replace(",", "") + "!", BODY),
    }


def test_copies_agree_past_the_threshold_and_distinct_articles_do_not(settings: Settings) -> None:
    layout = lsh_layout(settings.story_threshold)
    original = fingerprint(model_text(TITLE, BODY), layout)
    for kind, (title, body) in copies().items():
        copy = fingerprint(model_text(title, body), layout)
        assert agreement(original.signature, copy.signature) >= settings.story_threshold, kind
        assert set(original.bands) & set(copy.bands), kind  # a shared band: LSH finds the candidate
    other = fingerprint(model_text(OTHER_TITLE, OTHER_BODY), layout)  # the same topic, another story
    assert agreement(original.signature, other.signature) < 0.2
    assert len(original.signature) == 4 * 128 and original == fingerprint(model_text(TITLE, BODY), layout)


def test_the_signature_is_datasketchs_minhash_of_one_hash_per_distinct_shingle() -> None:
    """The vectorised shingle hashes are one per distinct shingle, and the signature (permutations drawn once) is
    datasketch's own MinHash of them, so every worker computes the same values."""
    from datasketch import MinHash

    for title, body in [*copies().values(), (OTHER_TITLE, OTHER_BODY), ("속보", "")]:
        text = model_text(title, body)
        hashes = shingle_hashes(text)
        assert len(hashes) == len(set(hashes)) == len(shingles(text))
        assert all(0 <= value < 2**32 for value in hashes)
        fresh = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, hashfunc=int)
        fresh.update_batch(hashes)
        assert signature(text).tolist() == fresh.hashvalues.tolist()
    assert shingle_hashes("") == [] and shingle_hashes("Ab, c!") != shingle_hashes("abd")


def _prints(settings: Settings, texts: dict[str, tuple[str, str]]):
    layout = lsh_layout(settings.story_threshold)
    return [(doc_id, fingerprint(model_text(title, body), layout)) for doc_id, (title, body) in texts.items()]


def test_stories_are_shared_by_workers_atomic_and_stable_on_replay(settings: Settings) -> None:
    texts = {"wire-0": (TITLE, BODY), **{f"copy-{kind}": text for kind, text in copies().items()}}
    texts["other"] = (OTHER_TITLE, OTHER_BODY)
    prints = _prints(settings, texts)

    async def run() -> list[list[str]]:
        clients = [async_redis_client(settings) for _ in range(2)]
        workers = [
            StoryIndex(c, settings.review_key_prefix, settings.story_threshold, settings.story_days) for c in clients
        ]
        try:
            first = await workers[0].assign(prints[:1])
            # two workers, each with copies, at the same moment: Redis runs their scripts one after the other
            a, b = await asyncio.gather(workers[0].assign(prints[1:4]), workers[1].assign(prints[4:]))
            replay = await workers[1].assign(list(reversed(prints)))  # a replay, in another order
            ttl = await clients[0].ttl("{" + settings.review_key_prefix + "}:copy:copy-byline")
            assert 0 < ttl <= settings.story_days * 86400
            return [[s.story_id for s in infos] for infos in (first, a + b, replay)]
        finally:
            for c in clients:
                await c.aclose()

    first, both, replay = asyncio.run(run())
    assert first == ["wire-0"]
    assert both == ["wire-0"] * 5 + ["other"]  # every copy joins the first article's story
    assert list(reversed(replay)) == first + both  # the same stories when replayed


def _record(doc_id: str, title: str, body: str, offset: int) -> RawRecord:
    article = {
        "id": doc_id,
        "url": f"https://news.example.com/politics/{doc_id}",
        "title": title,
        "body": body,
        "published_at": datetime(2026, 11, 14, tzinfo=UTC).isoformat(),
    }
    return RawRecord(json.dumps(article).encode(), doc_id.encode(), SourcePosition("news.raw", 0, offset))


def _audited(share: float, n: int = 500) -> tuple[str, list[str]]:
    """An id that is in an audit sample of `share`, and six that are not."""
    ids = [f"art-{i}" for i in range(n)]
    return next(i for i in ids if in_audit_sample(i, share)), [i for i in ids if not in_audit_sample(i, share)][:6]


def test_one_item_per_story_one_decision_for_every_copy(settings: Settings, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STREAMPROC_REVIEW_THRESHOLD", "0")  # every article is uncertain enough to be queued
    monkeypatch.setenv("STREAMPROC_REVIEW_SHARE", "off")
    monkeypatch.setenv("STREAMPROC_AUDIT_SHARE", "0.2")
    worker_settings = Settings()
    create_index(worker_settings)
    predictor = load_pipeline_predictor(worker_settings)
    sampled, (wire, *copy_ids, other, unsampled) = _audited(0.2)
    variants = list(copies().values())
    first_wave = [_record(wire, TITLE, BODY, 0)]
    first_wave += [_record(copy_ids[i], *variants[i], 1 + i) for i in range(3)]
    first_wave += [_record(other, OTHER_TITLE, OTHER_BODY, 9)]
    late = [_record(unsampled, *variants[3], 20), _record(sampled, *variants[4], 21)]

    async def process(records: list[RawRecord]):
        processor = BatchProcessor.connected(worker_settings, predictor)
        try:
            return await processor.process(records)
        finally:
            await processor.close()

    batch = run_coroutine(process(first_wave))
    assert {a.document.story_id for a in batch.articles} == {wire, other}
    service = ReviewService.from_settings(worker_settings)
    try:
        assert service.desk.size() == 2  # one item per story
        items = {item.id: item for item in service.desk.claim("kim", 5)}
        (story_item,) = [item for item in items.values() if item.summary["story_id"] == wire]
        assert story_item.copies == 3 and items[other].copies == 0
        # the most uncertain member represents the story
        members = {wire, *copy_ids}
        scores = {a.document.id: a.document.worker_fields()["uncertainty"]["max"] for a in batch.articles}
        assert scores[story_item.id] == max(scores[m] for m in members)
        outcome = service.label(story_item.id, "kim", {"topic": "economy", "sentiment": "neutral"})
        assert set(outcome.members) == members - {story_item.id}
        assert set(service.desk.decisions()) == {story_item.id}  # a story is trained on once
        # copies that arrive after the decision take its labels at once; the sampled one is still audited
        late_batch = run_coroutine(process(late))
        assert {a.document.story_id for a in late_batch.articles} == {wire}
        assert {a.copy_of for a in late_batch.articles} == {story_item.id}
        assert service.desk.waiting_among([unsampled, sampled]) == {sampled}  # only the audit sample's
        audit_item = next(i for i in service.desk.claim("kim", 5) if i.id == sampled)
        assert audit_item.audit and audit_item.copies == 0  # blind, and it decides for itself
        service.label(sampled, "kim", {"topic": "politics", "sentiment": "neutral", "emotion": "neutral"})
        es = elasticsearch_client(worker_settings)
        es.indices.refresh(index=worker_settings.es_index)
        docs = {
            hit["_id"]: hit["_source"]
            for hit in es.search(index=worker_settings.es_index, size=50, query={"match_all": {}})["hits"]["hits"]
        }
        es.close()
    finally:
        service.close()
    assert docs[story_item.id]["label_source"] == "reviewed" and docs[story_item.id]["review"]["topic"] == "economy"
    for member in (members - {story_item.id}) | {unsampled}:
        assert docs[member]["label_source"] == "reviewed_duplicate", member
        assert docs[member]["review"]["via_duplicate_of"] == story_item.id
        assert docs[member]["review"]["topic"] == "economy" and docs[member]["story_id"] == wire
    assert docs[sampled]["label_source"] == "reviewed" and docs[sampled]["review"]["audit"] is True
    assert docs[sampled]["review"]["topic"] == "politics"  # its own blind label, not the story's
    assert docs[other]["label_source"] == "model" and docs[other]["story_id"] == other


def test_the_most_uncertain_copy_represents_its_story(settings: Settings) -> None:
    def member(doc_id: str, uncertainty: float) -> dict:
        doc = document(doc_id, uncertainty)
        doc["story_id"] = "s0"
        return doc

    assert push(settings, [member("s0", 0.5)]) == 1
    assert push(settings, [member("s1", 0.7), member("s2", 0.6)]) == 0  # s1 takes s0's place; s2 is a copy
    service = ReviewService.from_settings(settings)
    try:
        assert service.desk.waiting() == [("s1", 0.7)] and service.desk.item("s0") is None
        (held,) = service.desk.claim("kim", 5)
        assert held.id == "s1"
        # while a reviewer holds it, a more uncertain copy waits for that decision instead of taking its place
        assert push(settings, [member("s3", 0.99)]) == 0 and service.desk.size() == 0
        assert service.desk.stats()["copies_not_queued"] == 2
    finally:
        service.close()
    # items queued by workers before stories existed (no `story_id`) stay one item each
    assert push(settings, [document(f"n{i}", 0.9) for i in range(3)]) == 3


@pytest.mark.parametrize("kind", ["byline", "outlet_tag", "last_paragraph"])
def test_the_demo_copies_are_copies(kind: str, settings: Settings) -> None:
    """The sample file's copies (`streamproc demo --review`) are found as copies of their originals."""
    articles = sample_rows()
    by_id = {a.get("id"): a for a in articles}
    layout = lsh_layout(settings.story_threshold)
    pairs = [(a, by_id[a["copy_of"]]) for a in articles if a.get("copy_of") and a.get("copy_kind") == kind]
    assert pairs
    for copy, original in pairs:
        one = fingerprint(model_text(copy["title"], copy["body"]), layout)
        two = fingerprint(model_text(original["title"], original["body"]), layout)
        assert agreement(one.signature, two.signature) >= settings.story_threshold, copy["id"]


def sample_rows() -> list[dict]:
    """The sample file's records that are JSON objects (it holds broken records on purpose)."""
    rows = []
    for line in SAMPLES.read_bytes().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # not JSON, or not UTF-8
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
