"""The Kafka record types: a record as received, where it came from, and why one becomes a dead letter.

A record from `news.raw` is a `RawRecord`; `parse_article` turns its value into an `Article` or a
`Rejection`; a rejected record (at validation, inference or indexing) leaves as a `DeadLetter`, written to
the dead-letter topic by `streamproc.sinks.deadletter_sink`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Validation-side reasons first, then the sink-side ones (the models failed on the article; Elasticsearch
# refused its document for good).
Reason = Literal[
    "too_large", "not_utf8", "invalid_json", "not_an_object", "invalid_article", "inference_failed", "index_rejected"
]


@dataclass(frozen=True)
class SourcePosition:
    """Where a record came from in Kafka."""

    topic: str
    partition: int
    offset: int


# A Kafka record header: name and value bytes, as the clients give them.
Header = tuple[str, bytes]
# How many times `streamproc deadletter replay` sent this record back to the raw topic (ASCII digits). The
# worker copies it onto the dead letter the record may become again, so the count survives each round.
REPLAYS_HEADER = "streamproc-replays"


@dataclass(frozen=True)
class RawRecord:
    """A Kafka record as received: bytes, key, position and headers."""

    value: bytes | None
    key: bytes | None
    position: SourcePosition
    headers: tuple[Header, ...] = ()

    def header(self, name: str) -> bytes | None:
        """The value of the last header called `name`, or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


@dataclass(frozen=True)
class Rejection:
    """Why a record was not processed: a machine-readable reason and a human-readable error."""

    reason: Reason
    error: str


@dataclass(frozen=True)
class DeadLetter:
    """A record that cannot be processed, with the reason."""

    record: RawRecord
    rejection: Rejection
