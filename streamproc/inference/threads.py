"""How many CPU threads torch may use inside a worker.

The default is every core the process may run on. It was "every core but one" (leaving one for the event loop,
the Kafka consumer and the sinks), but that core sits mostly idle: the Python around the model takes a few
percent of a core per article on a CPU (see Performance), and torch's matrix products release the GIL. On the
issue-22 2-core host the pipeline did 6.5 articles/s with 1 thread (0.54x the raw model) and 9.0/s with 2
(0.75x). `streamproc bench threads` measures it on any machine (every thread count, and several worker
processes); `STREAMPROC_TORCH_THREADS` overrides it. With `streamproc worker --processes N` each process gets
its share of the cores.
"""

from __future__ import annotations

import contextlib
import os

import torch


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def inference_threads(configured: int | None, device: torch.device) -> int:
    """`configured` if set; else every usable core (see the module). On a GPU the CPU side only tokenizes and
    copies, and the same default is plenty."""
    if configured:
        return configured
    return usable_cores()


def apply_inference_threads(count: int) -> None:
    """Set torch's intra-op threads, and one inter-op thread (the worker runs one forward pass at a time)."""
    torch.set_num_threads(count)
    # Fixed once parallel work ran in this process; then only the intra-op setting applies.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
