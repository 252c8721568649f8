"""The enriched article: what is indexed into Elasticsearch (its `_source`; `_id` is the article id).

The document's shape follows the task file (`streamproc.tasks`): per task a top-level field named after it
(`topic`, ...: the label, its probability and every label's probability; null while no model has a
head for the task), and a field of that name in `uncertainty`, `model_versions` and `review`.
`document_model(tasks)` builds that pydantic model once per task set; `EnrichedArticle` is what every such model
has in common. The Elasticsearch mapping (`streamproc.sinks.index_template`) is generated from the model's fields
and their `EsMapping` annotations. The reviewers' fields (`review`, `label_source`) are written by
`streamproc.review.elastic` and never by the worker, whose partial update (`worker_fields`) leaves them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, PlainSerializer, create_model

from streamproc.inference.classify import Classification
from streamproc.ingest.article import Article
from streamproc.ingest.records import SourcePosition
from streamproc.tasks import TaskSet


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
# `reviewed_duplicate`: a near-duplicate copy labelled through its story's decision (`review.via_duplicate_of`)
LabelSource = Literal["model", "reviewed", "reviewed_duplicate", "rejected"]
REVIEW_FIELDS = ("label_source", "review")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskPrediction(_Model):
    """One task's answer: the label, its probability, and every label's probability."""

    label: Keyword
    score: float
    probabilities: Annotated[dict[str, float], EsMapping({"type": "object", "dynamic": True})]


class KafkaPosition(_Model):
    """Where the article's record was in Kafka."""

    topic: Keyword
    partition: int
    offset: Annotated[int, LONG]


class EnrichedArticle(_Model):
    """The fields every enriched document has; `document_model` adds the task fields."""

    id: Keyword
    url: Keyword | None
    title: Annotated[str, TEXT]
    body: Annotated[str, TEXT]
    source: Keyword | None
    published_at: Timestamp
    lang: Keyword | None
    extra: Annotated[dict[str, Any], EsMapping({"type": "object", "enabled": False})]
    needs_review: bool
    model_versions: dict[str, Keyword]  # per served task; `document_model` narrows the keys to the task names
    processed_at: Timestamp
    kafka: KafkaPosition
    # the first article of its near-duplicate story (`streamproc.review.stories`): Kibana counts stories with it
    story_id: Keyword | None = None
    # written by reviewers, never by the worker: a replay keeps them
    label_source: Annotated[LabelSource, KEYWORD] | None = None

    def prediction(self, task: str) -> TaskPrediction | None:
        """The model's answer for `task` (None while no model has a head for it)."""
        return cast(TaskPrediction | None, getattr(self, task))

    def uncertainty_of(self, task: str) -> float | None:
        """How unsure the model is of `task` (None while no model has a head for it)."""
        value = getattr(self.__dict__["uncertainty"], task, None)  # a field of the task set's document model
        return None if value is None else float(value)

    def worker_fields(self) -> dict[str, Any]:
        """The JSON document the worker writes: every field except the reviewers' ones."""
        return self.model_dump(mode="json", exclude=set(REVIEW_FIELDS))


@cache
def document_model(names: tuple[str, ...]) -> type[EnrichedArticle]:
    """The enriched document for tasks `names` (a subclass of `EnrichedArticle`, built once per task list)."""
    task: Any = Literal[names]
    per_task: dict[str, Any] = {name: (Keyword | None, None) for name in names}
    scores: dict[str, Any] = {name: (float | None, None) for name in names}
    uncertainty = create_model(
        "Uncertainty",
        __base__=_Model,
        __doc__="How unsure the models are (higher = less sure), per task and the largest of the reviewed ones.",
        strategy=(Keyword, ...),
        max=(float, ...),
        **scores,
    )
    review = create_model(
        "Review",
        __base__=_Model,
        __doc__="A reviewer's decision on the article (`streamproc.review.elastic`).",
        decision=(Keyword, ...),
        by=(Keyword, ...),
        at=(datetime, ...),
        audit=(bool, False),  # a decision on an article of the audit sample (`streamproc.review.audit`)
        agrees=(dict[task, bool] | None, None),
        model_versions=(dict[task, Keyword], ...),
        # how the reviewer was known: `account` (logged in), `self-named` (the page's name cookie), `cli`
        identity=(Keyword | None, None),
        voters=(list[Keyword] | None, None),  # every reviewer whose vote made the consensus
        votes=(int | None, None),
        disputed=(list[task] | None, None),  # tasks whose votes reached no consensus: no label
        via_duplicate_of=(Keyword | None, None),  # a copy: the item whose decision it took
        corrected=(bool, False),  # the decision was changed (`review relabel`, undo) after it was first taken
        **per_task,
    )
    relabel = create_model(
        "Relabel",
        __base__=_Model,
        __doc__="What `streamproc relabel` last changed: when, and per relabeled task the label and version before "
        "(null when the task had no answer). The worker's own writes reset it to null.",
        at=(Timestamp, ...),
        previous=(dict[task, Keyword | None], ...),
        previous_versions=(dict[task, Keyword], ...),
    )
    fields: dict[str, Any] = {
        "relabel": (relabel | None, None),
        "uncertainty": (uncertainty, ...),
        "model_versions": (dict[task, Keyword], ...),
        "review": (review | None, None),
        **{name: (TaskPrediction | None, None) for name in names},
    }
    return create_model(
        "EnrichedArticle",
        __base__=EnrichedArticle,
        __doc__="The Elasticsearch `_source` of one article (its `_id` is `id`).",
        **fields,
    )


def enriched_article(
    article: Article,
    classification: Classification,
    versions: dict[str, str],
    review_threshold: float,
    position: SourcePosition,
    tasks: TaskSet,
    processed_at: datetime | None = None,
    story_id: str | None = None,
) -> EnrichedArticle:
    """The enriched article for one classified article (tasks without an answer stay null)."""
    answers = classification.tasks
    predictions = {
        task: TaskPrediction(label=answer.label, score=answer.score, probabilities=answer.probabilities)
        for task, answer in answers.items()
        if task in tasks
    }
    model = document_model(tasks.names)
    uncertainty = {task: answer.uncertainty for task, answer in answers.items() if task in tasks}
    fields: dict[str, Any] = {
        **predictions,
        "uncertainty": {"strategy": classification.strategy, "max": classification.max_uncertainty, **uncertainty},
    }
    return model(
        id=article.id,
        url=article.url or None,
        title=article.title,
        body=article.body,
        source=article.source,
        published_at=article.published_at,
        lang=article.lang,
        extra=article.extra,
        needs_review=classification.max_uncertainty >= review_threshold,
        model_versions={task: versions[task] for task in predictions},
        processed_at=processed_at or datetime.now(UTC),
        kafka=KafkaPosition(topic=position.topic, partition=position.partition, offset=position.offset),
        story_id=story_id,
        **fields,
    )
