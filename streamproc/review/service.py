"""One reviewer action end to end: the decision in Redis (atomic, audited), then onto the ES document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from redis import Redis

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, redis_client
from streamproc.review.desk import Outcome, ReviewDesk
from streamproc.review.elastic import write_decision
from streamproc.review.summary import model_input


@dataclass
class ReviewService:
    """A `ReviewDesk` and the Elasticsearch index its decisions are written to."""

    desk: ReviewDesk
    es: Elasticsearch
    index: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewService:
        """Clients built from the settings."""
        client: Redis = redis_client(settings)
        desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks, settings.review_lease_seconds)
        return cls(desk, elasticsearch_client(settings), settings.es_index)

    def close(self) -> None:
        """Close both clients."""
        try:
            self.desk.client.close()
        finally:
            self.es.close()

    def label(self, doc_id: str, reviewer: str, labels: dict[str, str]) -> Outcome:
        """Label in Redis, then on the document."""
        return self._to_es(self.desk.label(doc_id, reviewer, labels))

    def reject(self, doc_id: str, reviewer: str) -> Outcome:
        """Reject in Redis, then on the document."""
        return self._to_es(self.desk.reject(doc_id, reviewer))

    def skip(self, doc_id: str, reviewer: str) -> Outcome:
        """Skip (Redis only: a skip changes nothing on the document)."""
        return self.desk.skip(doc_id, reviewer)

    def _to_es(self, outcome: Outcome) -> Outcome:
        if outcome.record is not None:
            write_decision(self.es, self.index, outcome.record)  # a duplicate is written again: harmless
        return outcome


def export_rows(desk: ReviewDesk, task: str) -> list[tuple[str, str, str]]:
    """(id, text, label) of every item labeled for `task`, sorted by id; the text is what the models read."""
    rows = []
    for doc_id, record in sorted(desk.decisions().items()):
        label = (record.get("labels") or {}).get(task)
        text = model_input(desk.item(doc_id) or {})
        if label and text:
            rows.append((doc_id, text, label))
    return rows


def write_export(desk: ReviewDesk, out: Path) -> dict[str, tuple[Path, int]]:
    """Reviewed labels as TSV in the training format (`id`, `text`, `label`; no quoting, like the seed set):
    `<out>/<task>.tsv` per reviewed task. Returns the file and its row count per task."""
    written: dict[str, tuple[Path, int]] = {}
    out.mkdir(parents=True, exist_ok=True)
    for task in desk.tasks.reviewed:
        path, rows = out / f"{task}.tsv", export_rows(desk, task)
        path.write_text(_tsv(rows), encoding="utf-8")
        written[task] = (path, len(rows))
    return written


def _tsv(rows: list[tuple[str, str, str]]) -> str:
    return "id\ttext\tlabel\n" + "".join(f"{doc_id}\t{_flat(text)}\t{label}\n" for doc_id, text, label in rows)


def _flat(text: str) -> str:
    """Tabs and line breaks would break the TSV format: they become spaces."""
    return " ".join(text.replace("\t", " ").split())


def summary_line(item: dict[str, Any], task: str) -> str:
    """`label 0.61 (other 0.20, ...)` for a summary's task."""
    result = item.get(task) or {}
    probabilities = result.get("probabilities") or {}
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])[1:4]
    rest = ", ".join(f"{label} {p:.2f}" for label, p in ranked)
    return f"{result.get('label', '?')} {float(result.get('score') or 0):.2f}" + (f" ({rest})" if rest else "")
