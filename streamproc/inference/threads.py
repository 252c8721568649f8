"""How many CPU threads torch may use inside a worker, so inference does not fight the worker's own threads."""

from __future__ import annotations

import contextlib
import os

import torch


def inference_threads(configured: int | None, device: torch.device) -> int:
    """`configured` if set; else every core but one on CPU (the event loop, Kafka and the sinks need one), min 1.

    On a GPU the CPU side only tokenizes and copies: one thread per spare core is still plenty.
    """
    if configured:
        return configured
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores - 1)


def apply_inference_threads(count: int) -> None:
    """Set torch's intra-op threads, and one inter-op thread (the worker runs one forward pass at a time)."""
    torch.set_num_threads(count)
    # Fixed once parallel work ran in this process; then only the intra-op setting applies.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
