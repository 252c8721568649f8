"""The enriched article: what is indexed into Elasticsearch and summarised on the review queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamproc.inference.classify import Classification
from streamproc.ingest.article import Article


@dataclass(frozen=True)
class SourcePosition:
    """Where a record came from in Kafka."""

    topic: str
    partition: int
    offset: int


def enriched_document(
    article: Article,
    classification: Classification,
    versions: dict[str, str],
    review_threshold: float,
    position: SourcePosition,
    processed_at: datetime | None = None,
) -> dict[str, Any]:
    """The Elasticsearch `_source` for one article (its `_id` is `article.id`)."""
    tasks = classification.tasks
    return {
        "id": article.id,
        "url": article.url or None,
        "title": article.title,
        "body": article.body,
        "source": article.source,
        "published_at": article.published_at.isoformat(),
        "lang": article.lang,
        "extra": article.extra,
        **{
            task: {"label": result.label, "score": result.score, "probabilities": result.probabilities}
            for task, result in tasks.items()
        },
        "uncertainty": {
            "strategy": classification.strategy,
            **{task: result.uncertainty for task, result in tasks.items()},
            "max": classification.max_uncertainty,
        },
        "needs_review": classification.max_uncertainty >= review_threshold,
        "model_versions": {task: versions[task] for task in tasks},
        "processed_at": (processed_at or datetime.now(UTC)).isoformat(),
        "kafka": {"topic": position.topic, "partition": position.partition, "offset": position.offset},
    }
