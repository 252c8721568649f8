"""What every sink is: `write` one batch (one attempt), `close` its connection.

`write` sorts its failures like `streamproc.sinks.retry` says (`TransientSinkError`: retried,
`PermanentSinkError`: stop, anything else: a bug); `write_until_done` retries it with back-off. The worker
writes each batch to the sinks in one order, in `streamproc.worker.commit`.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from streamproc.sinks.retry import retry_until_done

Batch_contra = TypeVar("Batch_contra", contravariant=True)
Result_co = TypeVar("Result_co", covariant=True)
Batch = TypeVar("Batch")
Result = TypeVar("Result")


class Sink(Protocol[Batch_contra, Result_co]):
    """A destination of the worker's batches."""

    @property
    def what(self) -> str:
        """The sink in log lines, e.g. "Elasticsearch bulk index"."""
        ...

    @property
    def metric(self) -> str:
        """The sink's label in the metrics."""
        ...

    async def write(self, batch: Batch_contra) -> Result_co:
        """Write a batch once; raise `TransientSinkError`, `PermanentSinkError`, or (a bug) anything else."""
        ...

    async def close(self) -> None:
        """Release the sink's connection."""
        ...


async def write_until_done(sink: Sink[Batch, Result], batch: Batch, initial: float, maximum: float) -> Result:
    """`sink.write(batch)`, retried with jittered back-off while it fails transiently."""
    return await retry_until_done(lambda: sink.write(batch), sink.what, initial, maximum, sink=sink.metric)
