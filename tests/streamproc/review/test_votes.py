"""Several reviewers and corrections on real servers: k agreeing votes decide, a majority of 2k-1 settles a
disagreement, the same person never votes twice, a reviewer can change or take back their own vote, and what
Elasticsearch, `review stats` and `retrain` read is the consensus after the latest votes."""

from __future__ import annotations

import json

import krippendorff
import numpy as np
import pytest

from streamproc.config import Settings
from streamproc.review.agreement import reviewer_agreement
from streamproc.review.desk import ReviewError
from streamproc.review.service import ReviewService
from streamproc.stack.provision import create_index
from streamproc_models.retrain import reviewed_labels
from tests.review_items import index_documents, push, worker_document


def _service(settings: Settings, votes: int) -> ReviewService:
    return ReviewService.from_settings(settings.model_copy(update={"review_votes": votes}))


def _queue(settings: Settings, ids: list[str], story: dict[str, str] | None = None) -> None:
    create_index(settings)
    docs = []
    for i, doc_id in enumerate(ids):
        doc = worker_document(doc_id, f"{doc_id}번 기사", i)
        doc["uncertainty"]["max"] = 0.99 - i / 100
        if story and doc_id in story:
            doc["story_id"] = story[doc_id]
        docs.append(doc)
    assert index_documents(settings, docs) == {}
    push(settings, docs)


def _source(service: ReviewService, doc_id: str) -> dict:
    service.es.indices.refresh(index=service.index)
    return service.es.get(index=service.index, id=doc_id)["_source"]


def test_two_agreeing_votes_decide_and_nobody_votes_twice(settings: Settings) -> None:
    _queue(settings, ["v1", "v2"])
    service = _service(settings, votes=2)
    desk = service.desk
    try:
        assert [i.id for i in desk.claim("kim", 1)] == ["v1"]
        first = service.label("v1", "kim", {"topic": "politics", "sentiment": "neutral"})
        assert first.state == "open" and "v1" not in desk.decisions()
        assert _source(service, "v1")["label_source"] == "model"  # one vote changes nothing yet
        with pytest.raises(ReviewError, match="already decided by you"):
            service.label("v1", "kim", {"topic": "economy"})
        assert service.label("v1", "kim", {"topic": "politics", "sentiment": "neutral"}).status == "duplicate"
        # kim never gets v1 again; lee gets it first (it kept its place), told one vote is in
        assert [i.id for i in desk.claim("kim", 5)] == ["v2"]
        (held,) = desk.claim("lee", 1)
        assert (held.id, held.votes) == ("v1", 1)
        second = service.label("v1", "lee", {"topic": "politics", "sentiment": "neutral"})
        assert second.state == "decided"
        record = desk.decisions()["v1"]
        assert record["labels"] == {"topic": "politics", "sentiment": "neutral"}
        assert (record["voters"], record["votes"], record["reviewer"]) == (["kim", "lee"], 2, "lee")
        source = _source(service, "v1")
        assert source["label_source"] == "reviewed" and source["review"]["voters"] == ["kim", "lee"]
        stats = desk.stats()
        assert (stats["labeled"], stats["votes"], stats["by_reviewer"]["kim"]["label"]) == (1, 2, 1)
    finally:
        service.close()


def test_a_disagreement_is_settled_by_the_majority_of_three_per_task(settings: Settings) -> None:
    _queue(settings, ["m1", "m2"])
    service = _service(settings, votes=2)
    try:
        for name, topic, sentiment in (("kim", "it", "neutral"), ("lee", "economy", "neutral")):
            assert service.label("m1", name, {"topic": topic, "sentiment": sentiment}).state == "open"
        # topic 1:1, sentiment already 2: still open; a third reviewer breaks the tie
        third = service.label("m1", "park", {"topic": "it", "sentiment": "positive"})
        assert third.state == "decided" and third.record["labels"] == {"topic": "it", "sentiment": "neutral"}
        # three different topics: no majority. Sentiment agrees, so it is kept; topic is disputed (no label)
        for name, topic in (("kim", "it"), ("lee", "economy"), ("park", "politics")):
            outcome = service.label("m2", name, {"topic": topic, "sentiment": "negative"})
        assert outcome.state == "decided" and outcome.record["labels"] == {"sentiment": "negative"}
        assert outcome.record["disputed"] == ["topic"]
        assert _source(service, "m2")["review"]["disputed"] == ["topic"]
        labels = reviewed_labels(service.desk, holdout_fraction=0.0)  # retrain: the consensus only
        assert labels.train["topic"].labels == ["it"] and sorted(labels.train["sentiment"].labels) == [
            "negative",
            "neutral",
        ]
    finally:
        service.close()


def test_no_majority_at_all_is_disputed_until_resolved(settings: Settings) -> None:
    _queue(settings, ["x1"])
    service = _service(settings, votes=2)
    try:
        for name, topic in (("kim", "it"), ("lee", "economy"), ("park", "politics")):
            outcome = service.label("x1", name, {"topic": topic})
        assert outcome.state == "disputed" and service.desk.disputed() == ["x1"]
        assert "x1" not in service.desk.decisions() and service.desk.size() == 0
        assert service.desk.stats()["disputed"] == 1
        with pytest.raises(ReviewError, match="votes disagree"):
            service.label("x1", "choi", {"topic": "it"})
        resolved = service.resolve("x1", "editor", {"topic": "economy"})
        assert resolved.state == "decided" and resolved.record["resolved_by"] == "editor"
        assert service.desk.decisions()["x1"]["labels"] == {"topic": "economy"} and not service.desk.disputed()
    finally:
        service.close()


def test_a_reviewer_corrects_a_decision_and_the_latest_counts_everywhere(settings: Settings) -> None:
    _queue(settings, ["c1", "c1-copy", "c2"], story={"c1": "c1", "c1-copy": "c1"})
    service = _service(settings, votes=1)
    desk = service.desk
    desk.client.sadd("{" + settings.review_key_prefix + "}:members:c1", "c1", "c1-copy")  # what the worker records
    try:
        assert service.label("c1", "kim", {"topic": "it"}).members == ("c1-copy",)
        assert _source(service, "c1-copy")["review"]["topic"] == "it"
        with pytest.raises(ReviewError, match="no vote on it"):
            service.relabel("c1", "lee", {"topic": "world"})
        corrected = service.relabel("c1", "kim", {"topic": "culture"})
        assert corrected.state == "decided" and corrected.record["corrected"] is True
        assert desk.decisions()["c1"]["labels"] == {"topic": "culture"}
        assert [(e["decision"], json.loads(e["record"])["labels"]) for e in desk.audit()] == [
            ("label", {"topic": "it"}),
            ("relabel", {"topic": "culture"}),
        ]  # the audit trail keeps both
        assert json.loads(desk.audit()[1]["record"])["replaces"]["labels"] == {"topic": "it"}
        for doc_id in ("c1", "c1-copy"):
            assert _source(service, doc_id)["review"]["topic"] == "culture"
        assert _source(service, "c1")["review"]["corrected"] is True
        stats = desk.stats()
        assert stats["labeled"] == 1 and stats["agreement"]["topic"] == {"labeled": 1, "agree": 0, "rate": 0.0}
        assert reviewed_labels(desk, holdout_fraction=0.0).train["topic"].labels == ["culture"]
        # undo: the decision is withdrawn from the article and its copy, and the article is kim's again
        service.label("c2", "kim", {"topic": "it"})
        undone = service.undo("kim")
        assert undone is not None and (undone.id, undone.withdrawn) == ("c2", True)
        assert "c2" not in desk.decisions() and _source(service, "c2")["label_source"] == "model"
        assert [i.id for i in desk.claim("kim", 1)] == ["c2"]
        again = service.undo("kim")  # the one before: c1, with its copy
        assert again is not None and again.id == "c1" and again.members == ("c1-copy",)
        assert _source(service, "c1-copy")["label_source"] == "model" and desk.copies_decided() == {}
        assert service.undo("kim") is None
        assert [e["decision"] for e in desk.audit()][-2:] == ["undo", "undo"]
        assert desk.stats()["labeled"] == 0 and desk.stats()["agreement"]["topic"]["labeled"] == 0
        service.label("c2", "kim", {"topic": "world"})
        assert desk.decisions()["c2"]["labels"] == {"topic": "world"}
    finally:
        service.close()


def test_agreement_between_reviewers_is_krippendorffs_alpha(settings: Settings) -> None:
    ids = [f"k{i}" for i in range(6)]
    _queue(settings, ids)
    service = _service(settings, votes=2)
    kim = ["it", "it", "economy", "politics", "world", "it"]
    lee = ["it", "economy", "economy", "politics", "world", "it"]
    try:
        for doc_id, a, b in zip(ids, kim, lee, strict=True):
            service.label(doc_id, "kim", {"topic": a})
            service.label(doc_id, "lee", {"topic": b})
        service.relabel("k5", "lee", {"topic": "culture"})  # a correction replaces lee's first vote
        lee[5] = "culture"
        numbers = reviewer_agreement(service.desk.latest_votes(), settings.tasks.reviewed)
    finally:
        service.close()
    values = sorted(set(kim + lee))
    data = np.array([[values.index(x) for x in kim], [values.index(x) for x in lee]], dtype=float)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    topic = numbers["topic"]
    assert topic["items"] == 6 and topic["alpha"] == pytest.approx(expected)
    assert topic["reviewers"]["kim"] == {"pairs": 6, "agree": 4, "rate": 4 / 6}
    assert numbers["sentiment"] == {"items": 0, "alpha": None, "reviewers": {}}
    print(f"\nagreement between two reviewers on 6 topics: alpha {topic['alpha']:.3f}, pairwise 4/6")
