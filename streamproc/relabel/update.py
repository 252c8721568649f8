"""What relabel writes on a stored document: the model's fields only, as a partial update.

The text is built as the worker builds it, `Article.text` = `model_text(title, body)`, from the stored title and
body (the worker stores them as validated, so the model reads the same text as when the article came in). The
update replaces, per served task, the prediction, its uncertainty and `model_versions.<task>`, then
`uncertainty.max`, `uncertainty.strategy` and `needs_review`, and records in `relabel` when it ran and, for each
task whose version changed, the label and version before. Everything else stays: the article, `processed_at`,
`kafka`, and the reviewers' `review.*` and `label_source`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from streamproc.inference.classify import Classification
from streamproc.ingest.model_text import model_text
from streamproc.relabel.scope import NONE
from streamproc.sinks.document import TaskPrediction


def stored_text(source: dict[str, Any]) -> str:
    """The model input of a stored document: `model_text` of its title and body, as `Article.text` builds it."""
    return model_text(source.get("title") or "", source.get("body") or "")


def stale_tasks(source: dict[str, Any], serving: dict[str, str]) -> list[str]:
    """The served tasks whose stored version is not the serving one (empty: the document is on the target)."""
    stored = source.get("model_versions") or {}
    return [task for task, version in serving.items() if stored.get(task) != version]


def previous_label(source: dict[str, Any], task: str) -> str | None:
    """The stored label of `task` (None when the document has no answer for it)."""
    answer = source.get(task)
    return answer.get("label") if isinstance(answer, dict) else None


def relabel_update(
    source: dict[str, Any],
    classification: Classification,
    serving: dict[str, str],
    threshold: float,
    at: datetime,
) -> dict[str, Any]:
    """The partial document for one stored article (see the module)."""
    stored_versions = source.get("model_versions") or {}
    answers = {task: answer for task, answer in classification.tasks.items() if task in serving}
    changed = stale_tasks(source, serving)
    doc: dict[str, Any] = {
        task: TaskPrediction(label=a.label, score=a.score, probabilities=a.probabilities).model_dump(mode="json")
        for task, a in answers.items()
    }
    doc["uncertainty"] = {
        "strategy": classification.strategy,
        "max": classification.max_uncertainty,
        **{task: answer.uncertainty for task, answer in answers.items()},
    }
    doc["needs_review"] = classification.max_uncertainty >= threshold
    doc["model_versions"] = {**stored_versions, **{task: serving[task] for task in answers}}
    doc["relabel"] = {
        "at": at.isoformat(),
        "previous": {task: previous_label(source, task) for task in changed},
        "previous_versions": {task: str(stored_versions.get(task) or NONE) for task in changed},
    }
    return doc
