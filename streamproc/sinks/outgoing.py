"""A batch on its way out: the classified articles and the dead letters the sinks write, and what they reported.

The commit sequence (`streamproc.worker.commit`) hands one `OutgoingBatch` to each sink in turn. A sink reads what
is its to write and, once its write was confirmed, records the outcome on the batch: Elasticsearch moves the
documents it refused for good to the dead letters (so the review queue never holds an article that is not
indexed) and counts the indexed ones; the review queue counts what it newly queued; the dead-letter topic
writes every dead letter. A write that fails changes nothing on the batch, so it can be retried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamproc.ingest.records import DeadLetter, RawRecord
from streamproc.sinks.document import EnrichedArticle


@dataclass(frozen=True)
class Enriched:
    """A classified article: its document, the Kafka record it came in, the text the models read, whether it is
    in the audit sample (`streamproc.review.audit`), and the reviewers' fields it takes at once as a copy of a
    story already decided (`streamproc.review.stories`; None otherwise)."""

    document: EnrichedArticle
    record: RawRecord
    text: str
    audit: bool = False
    copied_review: dict[str, Any] | None = None

    @property
    def copy_of(self) -> str | None:
        """The id of the decided item whose labels this copy took (None when it took none)."""
        if self.copied_review is None:
            return None
        return str(self.copied_review["review"]["via_duplicate_of"])

    def index_fields(self) -> dict[str, Any]:
        """What the worker writes to Elasticsearch: its own fields, and a decided story's labels for a copy."""
        return {**self.document.worker_fields(), **(self.copied_review or {})}


@dataclass
class OutgoingBatch:
    """One batch's articles and dead letters, and what the sinks reported."""

    articles: list[Enriched] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    indexed: int = 0
    queued: int = 0
