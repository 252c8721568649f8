"""`streamproc quality`: how often the served labels are right, from the audit sample's blind reviews.

Each audit decision holds what the model said of the article when it was queued (label, probability, model
version) and what the reviewer chose. Per task this gives accuracy with a Wilson interval, macro-F1 with a
bootstrap interval, per-class precision and recall where there are labels, calibration (ECE, reliability bins),
and the same by model version and by ISO week (of when the article was queued). Only the audit sample counts:
it is a uniform random share of the stream, so these are estimates for the whole stream, unlike agreement on
the uncertain articles reviewers usually see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from streamproc.quality.estimates import calibration, labels_for_half_width, macro_f1, per_class, wilson
from streamproc.tasks import TaskSet

MIN_FOR_PER_CLASS = 20  # below this many audit labels, per-class figures are noise and are left out


@dataclass(frozen=True)
class AuditLabel:
    """A reviewer's blind label of one task of one article of the audit sample, and what the model had said."""

    article: str
    task: str
    truth: str
    predicted: str
    confidence: float
    version: str
    queued: date


def audit_labels(decisions: Mapping[str, Mapping[str, Any]], tasks: TaskSet) -> list[AuditLabel]:
    """The labelled audit decisions, one entry per task the reviewer labelled and the model had answered."""
    found = []
    for doc_id, record in decisions.items():
        if not record.get("audit") or record.get("decision") != "label":
            continue
        model = record.get("model") or {}
        versions = model.get("versions") or {}
        queued = _day(record.get("queued_at") or record.get("at"))
        for task, truth in (record.get("labels") or {}).items():
            answer = model.get(task) or {}
            if task not in tasks or answer.get("label") is None:
                continue
            found.append(
                AuditLabel(
                    doc_id,
                    task,
                    truth,
                    answer["label"],
                    float(answer.get("score") or 0.0),
                    str(versions.get(task, "unknown")),
                    queued,
                )
            )
    return found


def audit_accuracy(labels: Iterable[AuditLabel]) -> dict[tuple[str, str], tuple[float, int]]:
    """(task, model version) -> (share of blind reviews agreeing with the model, how many) for the metrics."""
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for label in labels:
        groups[(label.task, label.version)].append(label.truth == label.predicted)
    return {key: (sum(hits) / len(hits), len(hits)) for key, hits in groups.items()}


def quality_report(
    labels: Iterable[AuditLabel], tasks: TaskSet, since: date | None = None, version: str | None = None
) -> dict[str, Any]:
    """Per task: the estimates over the chosen labels, and accuracy by model version and by week."""
    chosen = [a for a in labels if (since is None or a.queued >= since) and (version is None or a.version == version)]
    report: dict[str, Any] = {"since": since.isoformat() if since else None, "model_version": version, "tasks": {}}
    for task in tasks:
        rows = [a for a in chosen if a.task == task.name]
        if rows:
            report["tasks"][task.name] = _task_report(rows, task.label_names)
    return report


def _task_report(rows: list[AuditLabel], known: list[str]) -> dict[str, Any]:
    truth, predicted = [a.truth for a in rows], [a.predicted for a in rows]
    labels = [*known, *sorted(set(truth + predicted) - set(known))]
    right = sum(t == p for t, p in zip(truth, predicted, strict=True))
    accuracy = wilson(right, len(rows))
    fit = calibration([a.confidence for a in rows], [a.truth == a.predicted for a in rows])
    return {
        "n": len(rows),
        "accuracy": accuracy.as_dict(),
        "macro_f1": macro_f1(truth, predicted, labels).as_dict(),
        "labels_for_3_points": labels_for_half_width(accuracy.value),
        "per_class": per_class(truth, predicted, labels) if len(rows) >= MIN_FOR_PER_CLASS else None,
        "calibration": {"ece": fit.ece, "bins": fit.bins},
        "by_model_version": _accuracy_by(rows, lambda a: a.version),
        "by_week": _accuracy_by(rows, lambda a: f"{a.queued.isocalendar().year}-W{a.queued.isocalendar().week:02d}"),
    }


def _accuracy_by(rows: list[AuditLabel], key: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[AuditLabel]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return {
        name: {
            "n": len(members),
            "accuracy": wilson(sum(a.truth == a.predicted for a in members), len(members)).as_dict(),
        }
        for name, members in sorted(groups.items())
    }


def _day(value: object) -> date:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(UTC).date()
        except ValueError:
            pass
    return datetime.now(UTC).date()
