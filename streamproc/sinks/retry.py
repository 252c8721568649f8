"""Retry a sink call with jittered exponential back-off while it fails transiently: offsets stay held meanwhile.

Every sink sorts its failures into three kinds, and only the first is retried:
- `TransientSinkError`: unreachable, overloaded, timed out; the same call may succeed later -> retry, forever.
- `PermanentSinkError`: the server refuses the call for good (credentials, size, configuration) -> raised at
  once; the worker stops without acknowledging, and says why in one line.
- anything else is a bug in the worker (e.g. a document that cannot be serialised) -> raised at once, with its
  traceback, instead of being retried forever.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from streamproc import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientSinkError(Exception):
    """A sink is unreachable or overloaded; the same call may succeed later."""


class PermanentSinkError(Exception):
    """A sink refuses the call for good: retrying cannot help, someone has to change something."""


def jittered(delay: float) -> float:
    """A wait between half and all of `delay` ("equal jitter"): workers retrying together spread out."""
    return delay * (0.5 + random.random() / 2)


async def retry_until_done(
    call: Callable[[], Awaitable[T]], what: str, initial: float, maximum: float, sink: str | None = None
) -> T:
    """Await `call()` until it stops raising `TransientSinkError`, waiting ~initial, 2x, 4x ... up to ~maximum.

    Any other exception (`PermanentSinkError` or a bug) propagates at once. `sink` names the sink in the
    metrics (default: `what`).
    """
    delay = initial
    attempt = 1
    while True:
        started = time.perf_counter()
        try:
            result = await call()
        except TransientSinkError as exc:
            metrics.observe_sink_call(sink or what, started, failed=True)
            wait = jittered(delay)
            log.warning("%s failed (attempt %d), retrying in %.1fs: %s", what, attempt, wait, exc)
            await asyncio.sleep(wait)
            delay = min(delay * 2, maximum)
            attempt += 1
            continue
        metrics.observe_sink_call(sink or what, started, failed=False)
        if attempt > 1:
            log.info("%s succeeded after %d attempts", what, attempt)
        return result
