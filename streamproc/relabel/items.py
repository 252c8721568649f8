"""A relabel work item: one stored article to bring onto a target model version, as a Kafka record.

`streamproc relabel` publishes one item per document to the relabel topic (`news.relabel`), keyed by the
article id, so every item of one document lands on one partition, in order; the worker group consumes it
after `news.raw` (`streamproc.worker.relabel_agent`). Partitions, the consumer group and its committed offsets
give the scale-out over every worker and the resume after a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkItem:
    """Relabel document `id` with the model whose task versions are `target`."""

    id: str
    target: dict[str, str]

    def encode(self) -> tuple[bytes, bytes]:
        """(key, value) of its Kafka record."""
        value = json.dumps({"id": self.id, "target": self.target}, ensure_ascii=False, sort_keys=True)
        return self.id.encode("utf-8"), value.encode("utf-8")

    @property
    def target_key(self) -> str:
        """The target as one comparable string."""
        return json.dumps(self.target, sort_keys=True)


def decode_item(value: bytes | None) -> WorkItem | None:
    """The item in a record's value, or None when it is not one (logged and skipped by the worker)."""
    try:
        data = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    doc_id, target = data.get("id"), data.get("target")
    if not isinstance(doc_id, str) or not doc_id or not isinstance(target, dict) or not target:
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in target.items()):
        return None
    return WorkItem(doc_id, dict(target))
