"""The scripted reviewer of `streamproc demo --review`: labels what is known of the samples, nothing else."""

from __future__ import annotations

from streamproc.config import Settings
from streamproc.demo.main_job import SAMPLES
from streamproc.demo.review_loop import known_labels, scripted_review
from streamproc.review.service import ReviewService
from streamproc.stack.provision import create_index
from tests.review_items import index_documents, push, worker_document


def test_what_is_known_of_the_samples_covers_the_valid_ones() -> None:
    truth, valid = known_labels(SAMPLES, 262_144)
    assert len(truth["topic"]) > 100 and len(valid) >= len(truth["topic"])
    assert set(truth["topic"].values()) <= {"politics", "economy", "society", "culture", "world", "it", "sports"}
    # the project's emotion labels name exactly the valid samples
    assert len(truth["emotion"]) == len(valid) and set(truth["emotion"].values()) <= {
        "anxiety",
        "sadness",
        "joy",
        "neutral",
    }


def test_scripted_reviewer_labels_what_is_known_and_skips_the_rest(settings: Settings) -> None:
    create_index(settings)
    docs = [worker_document(i, f"기사 {i}", n) for n, i in enumerate(["s-pol", "s-cul", "s-joy", "other"])]
    index_documents(settings, docs)
    push(settings, docs)
    truth = {
        "topic": {"s-pol": "politics", "s-cul": "culture", "s-joy": "weather"},  # not a label of the task file
        "emotion": {"s-cul": "joy", "s-joy": "joy"},
    }
    service = ReviewService.from_settings(settings)
    try:
        labelled, agreed = scripted_review(service, truth)
        assert labelled == {"s-pol", "s-cul", "s-joy"}
        assert agreed == {"topic": 0, "emotion": 0}  # the model said `it` for both topics, nothing for emotion
        decisions = {i: d["labels"] for i, d in service.desk.decisions().items()}
        assert decisions == {
            "s-pol": {"topic": "politics"},
            "s-cul": {"topic": "culture", "emotion": "joy"},
            "s-joy": {"emotion": "joy"},
        }
        stats = service.desk.stats()
        assert stats["leased"] == 0 and stats["skipped_waiting"] == 1  # nothing stays claimed by the script
    finally:
        service.close()
