"""One reviewer action end to end: the decision in Redis (atomic, audited), then onto the ES document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch
from redis import Redis

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, redis_client
from streamproc.review.desk import Identity, Outcome, ReviewDesk
from streamproc.review.elastic import clear_decision, write_decision
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
        desk = ReviewDesk(
            client,
            settings.review_key_prefix,
            settings.tasks,
            settings.review_lease_seconds,
            votes=settings.review_votes,
            story_days=settings.story_days,
        )
        return cls(desk, elasticsearch_client(settings), settings.es_index)

    def close(self) -> None:
        """Close both clients."""
        try:
            self.desk.client.close()
        finally:
            self.es.close()

    def label(self, doc_id: str, reviewer: str, labels: dict[str, str], identity: Identity = "cli") -> Outcome:
        """Vote labels in Redis, then (once decided) onto the document and its story's copies."""
        return self._to_es(self.desk.label(doc_id, reviewer, labels, identity=identity))

    def reject(self, doc_id: str, reviewer: str, identity: Identity = "cli") -> Outcome:
        """Vote a reject in Redis, then (once decided) onto the document and its story's copies."""
        return self._to_es(self.desk.reject(doc_id, reviewer, identity=identity))

    def skip(self, doc_id: str, reviewer: str, identity: Identity = "cli") -> Outcome:
        """Skip (Redis only: a skip changes nothing on the document)."""
        return self.desk.skip(doc_id, reviewer, identity=identity)

    def relabel(self, doc_id: str, reviewer: str, labels: dict[str, str], identity: Identity = "cli") -> Outcome:
        """Change one's own vote; the documents follow the consensus it leads to."""
        return self._to_es(self.desk.relabel(doc_id, reviewer, labels, identity=identity))

    def resolve(self, doc_id: str, reviewer: str, labels: dict[str, str], identity: Identity = "cli") -> Outcome:
        """Settle a disputed item."""
        return self._to_es(self.desk.resolve(doc_id, reviewer, labels, identity=identity))

    def undo(self, reviewer: str) -> Outcome | None:
        """Take back one's last vote (None when there is none); the documents follow."""
        outcome = self.desk.undo(reviewer)
        return None if outcome is None else self._to_es(outcome)

    def _to_es(self, outcome: Outcome) -> Outcome:
        if outcome.state == "decided" and outcome.record is not None:
            # a duplicate is written again: harmless
            write_decision(self.es, self.index, outcome.record, outcome.members)
        elif outcome.withdrawn:
            clear_decision(self.es, self.index, outcome.id, outcome.members)
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
