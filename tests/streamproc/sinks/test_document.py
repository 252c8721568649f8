"""The enriched article: built from a classified article, written without the reviewers' fields, mapped whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from streamproc.inference.classify import Classification, TaskResult
from streamproc.ingest.article import Article
from streamproc.ingest.records import SourcePosition
from streamproc.review.desk import decision_record
from streamproc.review.elastic import review_fields
from streamproc.review.summary import BODY_EXCERPT, review_summary
from streamproc.sinks.document import REVIEW_FIELDS, EnrichedArticle, document_model, enriched_article
from streamproc.sinks.index_template import field_mapping, index_template, model_properties
from streamproc.tasks import load_tasks

TASKS = load_tasks()  # the default task file: topic, sentiment, emotion
DOCUMENT = document_model(TASKS.names)
Review = DOCUMENT.model_fields["review"].annotation.__args__[0]  # type: ignore[union-attr]

WHERE = SourcePosition("news.raw", 2, 41)
PROCESSED = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def _article(**fields: Any) -> Article:
    data = {"id": "a1", "title": "반도체 수출", "body": "본문 " * 1500, "published_at": "2026-11-20T09:00:00+09:00"}
    return Article.model_validate({**data, **fields})


def _classification(topic_uncertainty: float, sentiment_uncertainty: float) -> Classification:
    tasks = {
        "topic": TaskResult("economy", 0.7, {"economy": 0.7, "it": 0.3}, topic_uncertainty),
        "sentiment": TaskResult(
            "neutral", 0.5, {"positive": 0.2, "neutral": 0.5, "negative": 0.3}, sentiment_uncertainty
        ),
    }
    return Classification(tasks, "margin", max(topic_uncertainty, sentiment_uncertainty))


def _build(threshold: float = 0.5, **fields: Any) -> EnrichedArticle:
    versions = {"topic": "topic@1", "sentiment": "sentiment@2", "unused": "x"}
    classification = _classification(0.4, 0.6)
    return enriched_article(_article(**fields), classification, versions, threshold, WHERE, TASKS, PROCESSED)


def test_the_document_carries_the_article_the_predictions_and_where_it_came_from() -> None:
    doc = _build(source="한빛일보", lang="KO", rank=3).worker_fields()
    assert doc["id"] == "a1" and doc["url"] is None and doc["source"] == "한빛일보" and doc["lang"] == "ko"
    assert doc["published_at"] == "2026-11-20T09:00:00+09:00" and doc["processed_at"] == "2026-11-20T08:30:00+00:00"
    assert doc["extra"] == {"rank": 3}
    assert doc["topic"] == {"label": "economy", "score": 0.7, "probabilities": {"economy": 0.7, "it": 0.3}}
    assert doc["sentiment"]["label"] == "neutral"
    assert doc["emotion"] is None  # a task the model has no head for yet stays null
    assert doc["uncertainty"] == {"strategy": "margin", "max": 0.6, "topic": 0.4, "sentiment": 0.6, "emotion": None}
    assert doc["model_versions"] == {"topic": "topic@1", "sentiment": "sentiment@2"}
    assert doc["kafka"] == {"topic": "news.raw", "partition": 2, "offset": 41}
    assert not set(REVIEW_FIELDS) & set(doc), "the worker never writes reviewers' fields (a replay keeps them)"
    json.dumps(doc)  # plain JSON, as the Elasticsearch client sends it


def test_needs_review_from_the_larger_uncertainty_inclusive() -> None:
    assert _build(threshold=0.6).needs_review is True
    assert _build(threshold=0.61).needs_review is False


def test_the_document_reads_back_into_the_model() -> None:
    built = _build(url="https://example.com/a")
    assert DOCUMENT.model_validate(built.worker_fields()) == built
    with pytest.raises(ValidationError):
        DOCUMENT.model_validate({**built.worker_fields(), "surprise": 1})  # the mapping is strict too


def test_every_task_of_the_task_file_is_a_field_of_the_document_its_uncertainty_and_its_review() -> None:
    uncertainty = DOCUMENT.model_fields["uncertainty"].annotation
    assert set(TASKS.names) <= set(DOCUMENT.model_fields) and set(TASKS.names) <= set(uncertainty.model_fields)  # type: ignore[union-attr]
    assert set(TASKS.names) <= set(Review.model_fields)
    built = _build()
    assert [(p.label if (p := built.prediction(task)) else None) for task in TASKS.names] == [
        "economy",
        "neutral",
        None,
    ]


def test_another_task_file_gives_another_document() -> None:
    model = document_model(("topic", "stance"))
    assert "stance" in model.model_fields and "sentiment" not in model.model_fields
    assert document_model(("topic", "stance")) is model  # built once per task list


def test_review_summary_is_a_subset_of_the_document_plus_the_model_input() -> None:
    doc = _build().worker_fields()
    summary = review_summary(doc, "the model input", TASKS.names)
    assert len(summary["body"]) == BODY_EXCERPT and doc["body"].startswith(summary["body"])
    assert summary["queued_at"] == doc["processed_at"] and summary["text"] == "the model input"
    for task in ("topic", "sentiment"):
        assert summary[task] == doc[task]
    assert "emotion" not in summary  # no answer for it
    assert {k: v for k, v in summary.items() if k not in ("body", "queued_at", "text", *TASKS.names)} == {
        k: doc[k] for k in ("id", "url", "title", "source", "lang", "published_at", "uncertainty", "model_versions")
    }


def test_what_reviewers_write_is_what_the_model_describes() -> None:
    summary = review_summary(_build().worker_fields(), "text", TASKS.names)
    at = PROCESSED.timestamp()
    for decision, labels in (("label", {"topic": "it", "emotion": "joy"}), ("reject", {})):
        record = decision_record("a1", "kim", decision, summary, labels, at, TASKS.names)  # type: ignore[arg-type]
        fields = review_fields(record)
        review = Review.model_validate(fields["review"])
        assert review.by == "kim" and review.model_versions == {"topic": "topic@1", "sentiment": "sentiment@2"}
        document = {**_build().worker_fields(), **fields}
        assert DOCUMENT.model_validate(document).label_source == fields["label_source"]


def _paths(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    found = {}
    for name, spec in properties.items():
        found[f"{prefix}{name}"] = spec.get("type", "object")
        found.update(_paths(spec.get("properties", {}), f"{prefix}{name}."))
    return found


def test_the_mapping_is_generated_from_the_model() -> None:
    mapped = _paths(index_template("news", TASKS)["template"]["mappings"]["properties"])
    document = _build().model_copy(
        update={
            "label_source": "reviewed",
            "review": Review.model_validate(
                {
                    "decision": "label",
                    "topic": "it",
                    "sentiment": "neutral",
                    "by": "kim",
                    "at": PROCESSED,
                    "agrees": {"topic": False, "sentiment": True},
                    "model_versions": {"topic": "t", "sentiment": "s"},
                }
            ),
        }
    )
    written = _paths({k: _shape(v) for k, v in document.model_dump(mode="json").items()})
    # every leaf the document holds is mapped (probabilities by the dynamic template, `extra` not indexed)
    unmapped = {p for p in written if p not in mapped and ".probabilities." not in p and not p.startswith("extra.")}
    assert unmapped == set()
    assert mapped["title"] == "text" and mapped["kafka.offset"] == "long" and mapped["review.at"] == "date"
    assert mapped["review.agrees.topic"] == "boolean" and mapped["label_source"] == "keyword"
    assert mapped["emotion.label"] == "keyword" and mapped["uncertainty.emotion"] == "float"
    assert mapped["review.emotion"] == "keyword" and mapped["model_versions.emotion"] == "keyword"
    assert model_properties(DOCUMENT)["extra"] == {"type": "object", "enabled": False}


def _shape(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {"properties": {k: _shape(v) for k, v in value.items()}}
    return {"type": type(value).__name__}


def test_a_field_without_a_mapping_is_refused() -> None:
    with pytest.raises(TypeError, match="EsMapping annotation"):
        field_mapping(dict[str, Any])
    with pytest.raises(TypeError):
        field_mapping(bytes)
