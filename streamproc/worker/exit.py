"""The exit path: a batch that cannot be processed stops the worker without acknowledging it.

Faust would acknowledge a batch after an agent crash; exiting at once instead (code 70, EX_SOFTWARE) leaves
its offsets uncommitted, so the batch is redelivered once the worker is restarted (at-least-once holds).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from streamproc.sinks.retry import PermanentSinkError

log = logging.getLogger(__name__)
EXIT_BATCH_FAILED = 70  # EX_SOFTWARE
T = TypeVar("T")


async def or_exit(step: Awaitable[T], exit: Callable[[int], NoReturn] = os._exit) -> T:
    """Await one step of a batch; when it fails, log why and exit without acknowledging.

    A sink that refuses for good is one CRITICAL line; anything else (a bug, broken models) comes with its
    traceback. `exit` is replaceable for tests only (the real one ends the process at once).
    """
    try:
        return await step
    except PermanentSinkError as exc:
        log.critical("%s; exiting without acknowledging the batch", exc)
    except Exception:
        log.critical("cannot process a batch; exiting without acknowledging it", exc_info=True)
    exit(EXIT_BATCH_FAILED)
