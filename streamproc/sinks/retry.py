"""Retry a sink call with exponential back-off until it succeeds: offsets stay held meanwhile."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from streamproc.worker import metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientSinkError(Exception):
    """A sink is unreachable or overloaded; the same call may succeed later."""


async def retry_until_done(
    call: Callable[[], Awaitable[T]], what: str, initial: float, maximum: float, sink: str | None = None
) -> T:
    """Await `call()` until it stops raising `TransientSinkError`, waiting initial, 2x, 4x ... up to maximum.

    `sink` names the sink in the metrics (default: `what`).
    """
    delay = initial
    attempt = 1
    while True:
        started = time.perf_counter()
        try:
            result = await call()
        except TransientSinkError as exc:
            metrics.observe_sink_call(sink or what, started, failed=True)
            log.warning("%s failed (attempt %d), retrying in %.1fs: %s", what, attempt, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, maximum)
            attempt += 1
            continue
        metrics.observe_sink_call(sink or what, started, failed=False)
        if attempt > 1:
            log.info("%s succeeded after %d attempts", what, attempt)
        return result
