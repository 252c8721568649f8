"""Retry a sink call with exponential back-off until it succeeds: offsets stay held meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class TransientSinkError(Exception):
    """A sink is unreachable or overloaded; the same call may succeed later."""


async def retry_until_done(call: Callable[[], Awaitable[T]], what: str, initial: float, maximum: float) -> T:
    """Await `call()` until it stops raising `TransientSinkError`, waiting initial, 2x, 4x ... up to maximum."""
    delay = initial
    attempt = 1
    while True:
        try:
            result = await call()
        except TransientSinkError as exc:
            log.warning("%s failed (attempt %d), retrying in %.1fs: %s", what, attempt, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, maximum)
            attempt += 1
            continue
        if attempt > 1:
            log.info("%s succeeded after %d attempts", what, attempt)
        return result
