"""One relabel batch in a worker: read the documents, classify the ones not on the serving versions, update them.

Kept free of Faust (the agent, `streamproc.worker.relabel_agent`, feeds it). A document is relabeled at most
once per version: it is skipped when its `model_versions` already name the serving versions (a work item
queued twice, a batch redelivered after a crash), and the update is conditional on the sequence number read
with it (`if_seq_no`), so a document the live path rewrote in between is left as the live path wrote it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, TransportError
from elasticsearch.helpers import async_bulk

from streamproc.config import Settings
from streamproc.inference.classify import Classification
from streamproc.inference.guarded import classify_guarded
from streamproc.inference.predictor import Predictor
from streamproc.relabel.items import WorkItem
from streamproc.relabel.update import previous_label, relabel_update, stale_tasks, stored_text
from streamproc.sinks.elasticsearch_sink import classify_elasticsearch_error
from streamproc.sinks.retry import TransientSinkError

log = logging.getLogger(__name__)


@dataclass
class RelabelCounts:
    """What one batch did with its documents."""

    relabeled: int = 0
    current: int = 0  # already on the serving versions: skipped
    missing: int = 0  # no such document (deleted since the scan)
    conflict: int = 0  # rewritten by the live path between read and update: left as it is
    failed: int = 0  # the models failed on its text, or Elasticsearch refused the update for good
    other_version: int = 0  # the item asked for versions this worker does not serve: skipped
    changed: Counter[str] = field(default_factory=Counter)  # task -> documents whose label changed

    def add(self, other: RelabelCounts) -> None:
        """Add another batch's counts to these."""
        for name, count in other.outcomes().items():
            setattr(self, name, getattr(self, name) + count)
        self.changed.update(other.changed)

    def outcomes(self) -> dict[str, int]:
        """Documents per outcome (the metric's labels)."""
        names = ("relabeled", "current", "missing", "conflict", "failed", "other_version")
        return {name: getattr(self, name) for name in names}


@dataclass
class PreparedRelabel:
    """A relabel batch read and classified, not yet written."""

    counts: RelabelCounts = field(default_factory=RelabelCounts)  # documents already settled (current, missing, ...)
    actions: list[dict[str, Any]] = field(default_factory=list)  # the conditional partial updates
    changes: dict[str, list[str]] = field(default_factory=dict)  # id -> tasks whose label changed


def serving_versions(predictor: Predictor, settings: Settings) -> dict[str, str]:
    """Task -> version the predictor serves, for the task file's tasks it has a head for."""
    return {task: predictor.versions[task] for task in settings.tasks.names if task in predictor.tasks}


class Relabeler:
    """Relabels batches of work items against one Elasticsearch index."""

    def __init__(
        self, settings: Settings, client: AsyncElasticsearch, executor: Executor | None = None, chunk: int = 0
    ) -> None:
        """`chunk`: texts per forward pass (`Settings.relabel_chunk`; 0: a batch's texts in one)."""
        self.settings = settings
        self.client = client
        self.executor = executor
        self.chunk = chunk
        self.fields = ["title", "body", "model_versions", *(f"{task}.label" for task in settings.tasks.names)]

    async def close(self) -> None:
        """Close the Elasticsearch client."""
        await self.client.close()

    async def run(
        self,
        items: Sequence[WorkItem],
        predictor: Predictor,
        threshold: float,
        wait_turn: Callable[[], Awaitable[None]] | None = None,
    ) -> RelabelCounts:
        """`prepare`, then `store`."""
        return await self.store(await self.prepare(items, predictor, threshold, wait_turn))

    async def prepare(
        self,
        items: Sequence[WorkItem],
        predictor: Predictor,
        threshold: float,
        wait_turn: Callable[[], Awaitable[None]] | None = None,
    ) -> PreparedRelabel:
        """Read the items' documents and classify the ones not on `predictor`'s versions; nothing is written.
        The texts go to the models `chunk` at a time, shortest first (less padding), and `wait_turn` is awaited
        before each chunk: a live batch that arrives meanwhile goes first and waits for one chunk at most. Raises
        `TransientSinkError` when Elasticsearch should be retried."""
        prepared = PreparedRelabel()
        counts = prepared.counts
        serving = serving_versions(predictor, self.settings)
        ids = list(dict.fromkeys(item.id for item in items))
        todo: list[tuple[str, dict[str, Any], int, int]] = []  # id, source, seq_no, primary_term
        for doc in await self._read(ids):
            if not doc.get("found"):
                counts.missing += 1
            elif not stale_tasks(doc["_source"], serving):
                counts.current += 1
            else:
                todo.append((doc["_id"], doc["_source"], doc["_seq_no"], doc["_primary_term"]))
        if not todo:
            return prepared
        texts = [stored_text(source) for _, source, _, _ in todo]
        order = sorted(range(len(todo)), key=lambda i: len(texts[i]))
        todo, texts = [todo[i] for i in order], [texts[i] for i in order]
        outcomes: list[Classification | Exception] = []
        step = self.chunk or len(texts)
        for start in range(0, len(texts), step):
            if wait_turn is not None:
                await wait_turn()
            part = texts[start : start + step]
            outcomes.extend(await classify_guarded(self.settings, predictor, part, self.executor))
        at = datetime.now(UTC)
        for (doc_id, source, seq_no, term), outcome in zip(todo, outcomes, strict=True):
            if isinstance(outcome, Exception):
                log.warning("relabel: the models failed on %s (%r); left as it is", doc_id, outcome)
                counts.failed += 1
                continue
            doc = relabel_update(source, outcome, serving, threshold, at)
            prepared.actions.append(
                {
                    "_op_type": "update",
                    "_index": self.settings.es_index,
                    "_id": doc_id,
                    "doc": doc,
                    "if_seq_no": seq_no,
                    "if_primary_term": term,
                }
            )
            changed = [t for t in stale_tasks(source, serving) if previous_label(source, t) != doc[t]["label"]]
            prepared.changes[doc_id] = changed
        return prepared

    async def store(self, prepared: PreparedRelabel) -> RelabelCounts:
        """Write the prepared updates (each on the condition that the document did not change since it was read)
        and count the outcomes. Raises `TransientSinkError` when Elasticsearch should be retried: retry with
        `prepare` again, which finds the documents already written on their versions."""
        counts = RelabelCounts()
        counts.add(prepared.counts)
        refused = await self._write(prepared.actions)
        for doc_id, changed in prepared.changes.items():
            status = refused.get(doc_id)
            if status is None:
                counts.relabeled += 1
                counts.changed.update(changed)
            elif status == 409:
                counts.conflict += 1
            elif status == 404:
                counts.missing += 1
            else:
                counts.failed += 1
        return counts

    async def _read(self, ids: list[str]) -> list[dict[str, Any]]:
        try:
            answer = await self.client.mget(index=self.settings.es_index, ids=ids, source_includes=self.fields)
        except (ApiError, TransportError) as exc:
            raise classify_elasticsearch_error(exc) from exc
        return list(answer["docs"])

    async def _write(self, actions: list[dict[str, Any]]) -> dict[str, int]:
        """Bulk the updates; the ids refused for good with their HTTP status (409 conflict, 404 missing, ...)."""
        if not actions:
            return {}
        try:
            _, errors = await async_bulk(self.client, actions, raise_on_error=False, max_retries=0)
        except (ApiError, TransportError) as exc:
            raise classify_elasticsearch_error(exc) from exc
        refused: dict[str, int] = {}
        for error in errors:  # type: ignore[union-attr]
            item = next(iter(error.values()))
            status = int(item.get("status", 500))
            if status == 429 or status >= 500:
                raise TransientSinkError(f"Elasticsearch answered {status} for {item.get('_id')}")
            if status not in (404, 409):
                log.warning("relabel: Elasticsearch refused the update of %s: %s", item.get("_id"), item.get("error"))
            refused[str(item.get("_id"))] = status
        return refused
