"""The scripted reviewer of `streamproc demo --review`: labels sample topics from URL sections, nothing else."""

from __future__ import annotations

from streamproc.config import Settings
from streamproc.demo.main_job import SAMPLES
from streamproc.demo.review_loop import scripted_review, sections
from streamproc.review.service import ReviewService
from streamproc.stack.provision import create_index
from tests.review_items import index_documents, push, worker_document


def test_sample_sections_come_from_the_urls() -> None:
    truth, valid = sections(SAMPLES, 262_144)
    assert len(truth) > 100 and len(valid) >= len(truth)
    assert set(truth.values()) <= {"politics", "economy", "society", "culture", "world", "it", "sports"}


def test_scripted_reviewer_labels_known_sections_and_skips_the_rest(settings: Settings) -> None:
    create_index(settings)
    docs = [worker_document(i, f"기사 {i}", n) for n, i in enumerate(["s-pol", "s-cul", "s-spo", "other"])]
    index_documents(settings, docs)
    push(settings, docs)
    truth = {"s-pol": "politics", "s-cul": "culture", "s-spo": "sports"}  # the model has no `sports` label
    service = ReviewService.from_settings(settings)
    try:
        labelled, agreed = scripted_review(service, truth)
        assert labelled == {"s-pol", "s-cul"} and agreed == 0  # the model said `it` for both
        decisions = service.desk.decisions()
        assert {i: d["labels"]["topic"] for i, d in decisions.items()} == {"s-pol": "politics", "s-cul": "culture"}
        stats = service.desk.stats()
        assert stats["leased"] == 0 and stats["skipped_waiting"] == 2  # nothing stays claimed by the script
    finally:
        service.close()
