"""The enriched article: what is indexed into Elasticsearch and summarised on the review queue.

`EnrichedArticle` is the one description of the document. The Elasticsearch mapping
(`streamproc.sinks.index_template`) is generated from its fields and their `EsMapping` annotations, the review
summary (`review_summary`) keeps a subset of them, and the reviewers' fields (`review`, `label_source`) are
part of it: they are written by `streamproc.review.elastic` and never by the worker, whose partial update
(`worker_fields`) leaves them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, PlainSerializer

from streamproc.inference.classify import Classification
from streamproc.ingest.article import Article
from streamproc.ingest.records import SourcePosition
from streamproc.tasks import TASKS, Task

BODY_EXCERPT = 2000


@dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes `Annotated` extras
class EsMapping:
    """The Elasticsearch mapping of a field, where its Python type alone does not say it."""

    spec: dict[str, Any]


KEYWORD = EsMapping({"type": "keyword"})
# `cjk` ships with every Elasticsearch and indexes Hangul/Han as bigrams. Clusters with the analysis-nori
# plugin can switch `news_text` to the `nori` analyzer for Korean morphology.
TEXT = EsMapping({"type": "text", "analyzer": "news_text"})
LONG = EsMapping({"type": "long"})

# Timestamps are written as `datetime.isoformat()` (`+00:00`, as Elasticsearch and the README show them).
Timestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]
Keyword = Annotated[str, KEYWORD]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskPrediction(_Model):
    """One task's answer: the label, its probability, and every label's probability."""

    label: Keyword
    score: float
    probabilities: Annotated[dict[str, float], EsMapping({"type": "object", "dynamic": True})]


class Uncertainty(_Model):
    """How unsure the models are (higher = less sure), per task and the larger of them."""

    strategy: Keyword
    topic: float
    sentiment: float
    max: float


class KafkaPosition(_Model):
    """Where the article's record was in Kafka."""

    topic: Keyword
    partition: int
    offset: Annotated[int, LONG]


class Review(_Model):
    """A reviewer's decision on the article (`streamproc.review.elastic`)."""

    decision: Keyword
    topic: Keyword | None = None
    sentiment: Keyword | None = None
    by: Keyword
    at: datetime
    agrees: dict[Task, bool] | None = None
    model_versions: dict[Task, Keyword]


LabelSource = Literal["model", "reviewed", "rejected"]


class EnrichedArticle(_Model):
    """The Elasticsearch `_source` of one article (its `_id` is `id`)."""

    id: Keyword
    url: Keyword | None
    title: Annotated[str, TEXT]
    body: Annotated[str, TEXT]
    source: Keyword | None
    published_at: Timestamp
    lang: Keyword | None
    extra: Annotated[dict[str, Any], EsMapping({"type": "object", "enabled": False})]
    topic: TaskPrediction
    sentiment: TaskPrediction
    uncertainty: Uncertainty
    needs_review: bool
    model_versions: dict[Task, Keyword]
    processed_at: Timestamp
    kafka: KafkaPosition
    # written by reviewers, never by the worker: a replay keeps them
    label_source: Annotated[LabelSource, KEYWORD] | None = None
    review: Review | None = None

    def prediction(self, task: Task) -> TaskPrediction:
        """The model's answer for `task`."""
        prediction: TaskPrediction = getattr(self, task)
        return prediction

    def worker_fields(self) -> dict[str, Any]:
        """The JSON document the worker writes: every field except the reviewers' ones."""
        return self.model_dump(mode="json", exclude=set(REVIEW_FIELDS))


REVIEW_FIELDS = ("label_source", "review")
# What the review queue keeps of an article for the reviewer (besides a body excerpt and `queued_at`).
SUMMARY_FIELDS = ("id", "url", "title", "source", "lang", "published_at", "uncertainty", "model_versions")


def enriched_article(
    article: Article,
    classification: Classification,
    versions: dict[str, str],
    review_threshold: float,
    position: SourcePosition,
    processed_at: datetime | None = None,
) -> EnrichedArticle:
    """The enriched article for one classified article."""
    tasks = classification.tasks
    predictions: dict[str, Any] = {
        task: TaskPrediction(label=tasks[task].label, score=tasks[task].score, probabilities=tasks[task].probabilities)
        for task in TASKS
    }
    uncertainties: dict[str, Any] = {task: tasks[task].uncertainty for task in TASKS}
    return EnrichedArticle(
        id=article.id,
        url=article.url or None,
        title=article.title,
        body=article.body,
        source=article.source,
        published_at=article.published_at,
        lang=article.lang,
        extra=article.extra,
        **predictions,
        uncertainty=Uncertainty(strategy=classification.strategy, **uncertainties, max=classification.max_uncertainty),
        needs_review=classification.max_uncertainty >= review_threshold,
        model_versions={task: versions[task] for task in TASKS},
        processed_at=processed_at or datetime.now(UTC),
        kafka=KafkaPosition(topic=position.topic, partition=position.partition, offset=position.offset),
    )


def review_summary(document: Mapping[str, Any]) -> dict[str, Any]:
    """What a reviewer needs to see of an enriched document (as written to Elasticsearch)."""
    summary: dict[str, Any] = {key: document.get(key) for key in SUMMARY_FIELDS}
    summary["body"] = (document.get("body") or "")[:BODY_EXCERPT]
    for task in TASKS:
        result = document[task]
        summary[task] = {"label": result["label"], "score": result["score"]}
        if "probabilities" in result:
            summary[task]["probabilities"] = result["probabilities"]
    summary["queued_at"] = document["processed_at"]
    return summary
