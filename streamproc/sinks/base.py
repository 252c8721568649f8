"""What every sink is: `write` one outgoing batch (one attempt), `close` its connection.

`write` sorts its failures like `streamproc.sinks.retry` says (`TransientSinkError`: retried,
`PermanentSinkError`: stop, anything else: a bug) and changes the batch only once its write was confirmed;
`write_until_done` retries it with back-off. The worker walks its sinks in one order, in
`streamproc.worker.commit`.
"""

from __future__ import annotations

from typing import Protocol

from streamproc.sinks.outgoing import OutgoingBatch
from streamproc.sinks.retry import retry_until_done


class Sink(Protocol):
    """A destination of the worker's batches."""

    @property
    def what(self) -> str:
        """The sink in log lines, e.g. "Elasticsearch bulk index"."""
        ...

    @property
    def metric(self) -> str:
        """The sink's label in the metrics."""
        ...

    async def write(self, batch: OutgoingBatch) -> None:
        """Write its part of `batch` once and record the outcome on it; raise `TransientSinkError`,
        `PermanentSinkError`, or (a bug) anything else, leaving `batch` as it was."""
        ...

    async def close(self) -> None:
        """Release the sink's connection."""
        ...


async def write_until_done(sink: Sink, batch: OutgoingBatch, initial: float, maximum: float) -> None:
    """`sink.write(batch)`, retried with jittered back-off while it fails transiently."""
    await retry_until_done(lambda: sink.write(batch), sink.what, initial, maximum, sink=sink.metric)
