"""Queue semantics on a real Redis server: leases, two reviewers, expiry, decisions, audit, bounded size."""

from __future__ import annotations

import json
import threading

import pytest

from streamproc.config import Settings
from streamproc.connections import redis_client
from streamproc.review.desk import ReviewDesk, ReviewError
from tests.review_items import document, push


@pytest.fixture
def desk(settings: Settings):
    client = redis_client(settings)
    yield ReviewDesk(client, settings.review_key_prefix, settings.tasks, lease_seconds=60)
    client.close()


def test_claim_hands_out_most_uncertain_first_and_never_twice(settings: Settings, desk: ReviewDesk) -> None:
    push(settings, [document(f"a{i}", 0.5 + i / 100) for i in range(10)])
    first = desk.claim("kim", 3)
    assert [item.id for item in first] == ["a9", "a8", "a7"]
    assert first[0].summary["title"] == "제목 a9" and first[0].model_label("topic") == "it"
    second = desk.claim("lee", 3)
    assert [item.id for item in second] == ["a6", "a5", "a4"]
    # claiming again returns what the reviewer already holds (lease renewed), not new items
    assert [item.id for item in desk.claim("kim", 3)] == ["a7", "a8", "a9"]
    assert desk.stats()["waiting"] == 4 and desk.stats()["leased"] == 6


def test_concurrent_claims_never_overlap(settings: Settings, desk: ReviewDesk) -> None:
    push(settings, [document(f"c{i:03d}", (i % 50) / 50) for i in range(200)])
    got: dict[str, list[str]] = {}
    start = threading.Barrier(4)

    def reviewer(name: str) -> None:
        client = redis_client(settings)
        mine = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
        ids: list[str] = []
        start.wait()
        while batch := mine.claim(name, 7):
            for item in batch:
                ids.append(item.id)
                mine.reject(item.id, name)
        got[name] = ids
        client.close()

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [doc_id for ids in got.values() for doc_id in ids]
    assert len(every) == len(set(every)) == 200  # each item went to exactly one reviewer
    assert sum(1 for ids in got.values() if ids) >= 2  # they really ran side by side
    assert len(desk.decisions()) == 200 and len(desk.audit()) == 200


def test_expired_lease_goes_back_and_the_old_holder_is_refused(settings: Settings, desk: ReviewDesk) -> None:
    push(settings, [document("e1", 0.9), document("e2", 0.8)])
    (item,) = desk.claim("kim", 1, now=1000.0)
    assert item.id == "e1"
    # within the lease nobody else gets it
    assert [i.id for i in desk.claim("lee", 1, now=1030.0)] == ["e2"]
    # after it expired, the next claim puts it back and hands it out again
    assert [i.id for i in desk.claim("park", 1, now=1100.0)] == ["e1"]
    with pytest.raises(ReviewError, match="lease expired and park holds"):
        desk.label("e1", "kim", {"topic": "politics"})
    assert desk.label("e1", "park", {"topic": "politics"}).status == "ok"
    stats = desk.stats()  # lee's lease on e2 (until 1090) expired too: e2 waits again
    assert stats["expired_leases"] == 2 and stats["waiting"] == 1


def test_decisions_are_idempotent_and_audited(settings: Settings, desk: ReviewDesk) -> None:
    push(settings, [document("d1", 0.9, topic="it"), document("d2", 0.8), document("d3", 0.7)])
    desk.claim("kim", 3)
    first = desk.label("d1", "kim", {"topic": "culture", "sentiment": "neutral"})
    assert first.status == "ok"
    assert first.record["previous"] == {"topic": "it"}  # sentiment agreed with the model: no previous label
    assert first.record["model"]["topic"]["probabilities"]["it"] == 0.5
    assert first.record["model"]["versions"] == {"topic": "v1", "sentiment": "v1"}
    assert desk.label("d1", "kim", {"topic": "culture", "sentiment": "neutral"}).status == "duplicate"
    with pytest.raises(ReviewError, match="already decided"):
        desk.label("d1", "kim", {"topic": "world"})
    with pytest.raises(ReviewError, match="unknown topic label 'weather'"):
        desk.label("d2", "kim", {"topic": "weather"})  # labels come from the task file, not the summary
    with pytest.raises(ReviewError, match="unknown task 'stance'"):
        desk.label("d2", "kim", {"stance": "for"})
    with pytest.raises(ReviewError, match="unknown id"):
        desk.label("nope", "kim", {"topic": "it"})
    assert desk.reject("d2", "kim").status == "ok"
    assert desk.reject("d2", "kim").status == "duplicate"
    assert desk.skip("d3", "kim").status == "ok"
    assert desk.skip("d3", "kim").status == "duplicate"
    audit = desk.audit()
    assert [(e["id"], e["decision"], e["reviewer"]) for e in audit] == [
        ("d1", "label", "kim"),
        ("d2", "reject", "kim"),
        ("d3", "skip", "kim"),
    ]
    assert json.loads(audit[0]["record"])["labels"] == {"topic": "culture", "sentiment": "neutral"}
    stats = desk.stats()
    assert stats["labeled"] == 1 and stats["rejected"] == 1 and stats["skips"] == 1
    assert stats["by_reviewer"] == {"kim": {"label": 1, "reject": 1, "skip": 1}}
    assert stats["agreement"]["topic"] == {"labeled": 1, "agree": 0, "rate": 0.0}
    assert stats["agreement"]["sentiment"]["rate"] == 1.0


def test_skipped_items_come_after_unseen_ones_and_decided_ones_are_never_queued_again(
    settings: Settings, desk: ReviewDesk
) -> None:
    push(settings, [document("s1", 0.95), document("s2", 0.6)])
    desk.claim("kim", 1)
    desk.skip("s1", "kim")
    push(settings, [document("s3", 0.7), document("s1", 0.95)])  # a replay of s1 while skipped: not re-queued
    assert [i.id for i in desk.claim("lee", 3)] == ["s3", "s2", "s1"]
    desk.label("s2", "lee", {"topic": "it"})
    desk.reject("s3", "lee")
    assert push(settings, [document("s2", 0.99), document("s3", 0.99)]) == 0  # replays of decided items
    assert desk.stats()["waiting"] == 0


def test_bounded_queue_drops_the_least_uncertain_and_counts_them(settings: Settings, desk: ReviewDesk) -> None:
    push(settings, [document(f"b{i}", i / 10) for i in range(1, 6)], max_size=3)
    push(settings, [document("b9", 0.95), document("b0", 0.05)], max_size=3)
    assert [i.id for i in desk.claim("kim", 10)] == ["b9", "b5", "b4"]
    assert desk.stats()["dropped_when_full"] == 4
    assert desk.item("b1") is None  # a dropped item's summary goes too
