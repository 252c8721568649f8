"""The audit sample: chosen by a hash of the id, queued beside the uncertain articles, claimed interleaved with
them, reviewed blind, and its decisions kept apart (agreement, `review.audit`, `streamproc quality`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, redis_client
from streamproc.quality.audit_report import audit_labels, quality_report
from streamproc.review.audit import in_audit_sample
from streamproc.review.desk import ReviewDesk
from streamproc.review.service import ReviewService
from streamproc.stack.provision import create_index
from tests.review_items import document, index_documents, push, worker_document


def test_the_sample_is_a_stable_uniform_share_of_the_ids() -> None:
    ids = [f"article-{i}" for i in range(20_000)]
    chosen = [i for i in ids if in_audit_sample(i, 0.05)]
    assert 0.045 <= len(chosen) / len(ids) <= 0.055
    assert chosen == [i for i in ids if in_audit_sample(i, 0.05)]  # a replay or re-crawl chooses the same
    assert set(chosen) <= {i for i in ids if in_audit_sample(i, 0.2)}  # a larger share keeps the smaller one
    assert not any(in_audit_sample(i, None) for i in ids[:100])


def test_audit_items_interleave_with_uncertain_ones_and_are_blind(settings: Settings) -> None:
    create_index(settings)
    uncertain = [worker_document(f"u{i}", f"불확실 {i}", i) for i in range(3)]
    sampled = [worker_document(f"s{i}", f"표본 {i}", 10 + i) for i in range(3)]
    for i, doc in enumerate(uncertain):
        doc["uncertainty"]["max"] = 0.99 - i / 100
    for doc in sampled:
        doc["uncertainty"]["max"] = 0.05  # sure of itself: never queued but for the audit sample
    index_documents(settings, uncertain + sampled)
    assert push(settings, uncertain + sampled, audit=frozenset(d["id"] for d in sampled)) == 6
    client = redis_client(settings)
    desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks, lease_seconds=60)
    try:
        assert desk.size() == 6 and desk.audit_waiting() == 3
        claimed = desk.claim("kim", 6)
        assert [item.id for item in claimed] == ["u0", "s0", "u1", "s1", "u2", "s2"]
        assert [item.audit for item in claimed] == [False, True] * 3
        assert claimed[1].summary["topic"]["label"] == "it"  # kept for `quality`; the page and CLI hide it
        # an expired lease of an audit item goes back to the audit sample, not to the uncertain queue
        assert [item.id for item in desk.claim("lee", 2, now=10**10)] == ["u0", "s0"]
    finally:
        client.close()
    service = ReviewService.from_settings(settings)
    try:
        service.label("u1", "kim", {"topic": "it"})  # the tail: the model was right
        service.label("s1", "kim", {"topic": "politics", "sentiment": "neutral"})  # audit: topic wrong
        stats = service.desk.stats()
        record = service.desk.decisions()["s1"]
    finally:
        service.close()
    assert stats["agreement"]["topic"] == {"labeled": 1, "agree": 1, "rate": 1.0}
    assert stats["audit_agreement"]["topic"] == {"labeled": 1, "agree": 0, "rate": 0.0}
    assert record["audit"] is True and record["model"]["topic"]["label"] == "it"
    es = elasticsearch_client(settings)
    try:
        source = es.get(index=settings.es_index, id="s1")["_source"]
    finally:
        es.close()
    assert source["review"]["audit"] is True and source["review"]["agrees"]["topic"] is False
    (label, *_) = audit_labels({"s1": record}, settings.tasks)
    assert (label.truth, label.predicted, label.version) == ("politics", "it", "v1")


def test_the_quality_command_reports_accuracy_with_its_interval(settings: Settings) -> None:
    docs = [document(f"q{i}", 0.2, topic="it") for i in range(40)]
    push(settings, docs, audit=frozenset(d["id"] for d in docs))
    client = redis_client(settings)
    desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
    try:
        labelled = 0
        while items := desk.claim("kim", 10):
            for item in items:
                desk.label(item.id, "kim", {"topic": "it" if labelled % 4 else "economy"})  # right 3 of 4
                labelled += 1
        report = quality_report(audit_labels(desk.decisions(), settings.tasks), settings.tasks)
    finally:
        client.close()
    topic = report["tasks"]["topic"]
    assert topic["n"] == 40 and topic["accuracy"]["value"] == 0.75
    assert topic["accuracy"]["low"] < 0.75 < topic["accuracy"]["high"] and topic["per_class"] is not None
    done = subprocess.run(
        [sys.executable, "-m", "streamproc", "quality", "--json"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks"]["topic"]["accuracy"] == topic["accuracy"]
    shown = subprocess.run([sys.executable, "-m", "streamproc", "quality"], capture_output=True, text=True, timeout=300)
    assert "0.750 [" in shown.stdout and "±3 points on accuracy needs about" in shown.stdout


@pytest.mark.parametrize("share", [None, "0.01"])
def test_no_audit_labels_says_what_to_do(settings: Settings, monkeypatch: pytest.MonkeyPatch, share) -> None:
    if share:
        monkeypatch.setenv("STREAMPROC_AUDIT_SHARE", share)
    done = subprocess.run([sys.executable, "-m", "streamproc", "quality"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0
    assert ("STREAMPROC_AUDIT_SHARE" in done.stdout) == (share is None)
    assert ("has no reviewed labels yet" in done.stdout) == (share is not None)
