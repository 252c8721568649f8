"""Keep an idle Kafka consumer from spinning: pace fetches that come back empty too early.

A fetch request asks the broker to wait up to `fetch_max_wait_ms` for data. Apache Kafka does (long poll), so an
idle consumer sends about one request per wait. A broker that answers an empty fetch at once (the embedded local
stack's noida-db does) makes aiokafka's fetch loop send the next request immediately: the consumer then burns
most of a core and competes with inference for the GIL. After an empty answer that came back sooner than
`floor` seconds, this waits out the rest of `floor` before that broker gets the next fetch. On a long-polling
broker empty answers take `fetch_max_wait_ms` (longer than the floor), so nothing changes there; a fetch that
returns records is never delayed.

aiokafka builds its `Fetcher` inside the consumer (no hook to pass a subclass), hence the method is wrapped once
per process on the class; the wrapper keeps the original's signature and return value.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from aiokafka import __version__ as aiokafka_version
from aiokafka.consumer.fetcher import Fetcher

log = logging.getLogger(__name__)

_state: dict[str, float] = {}


def pace_empty_fetches(floor: float) -> None:
    """Install (or re-tune) the pacing for every aiokafka consumer in this process; 0 turns it off."""
    _state["floor"] = floor
    original = getattr(Fetcher, "_proc_fetch_request", None)
    if original is None:  # a future aiokafka without this method: run unpaced rather than not at all
        log.warning("aiokafka %s has no Fetcher._proc_fetch_request: empty fetches are not paced", aiokafka_version)
        return
    if getattr(original, "__streamproc_paced__", False):
        return

    @functools.wraps(original)
    async def paced(self: Fetcher, assignment: Any, node_id: int, request: Any) -> bool:
        started = time.monotonic()
        got_records = await original(self, assignment, node_id, request)
        floor = min(_state["floor"], self._fetch_max_wait_ms / 1000)
        remaining = floor - (time.monotonic() - started)
        if not got_records and remaining > 0:
            try:
                await asyncio.sleep(remaining)  # the node stays "in flight": no new fetch to it meanwhile
            except asyncio.CancelledError:
                return False  # as the original does when cancelled (close or lost assignment)
        return got_records

    paced.__streamproc_paced__ = True  # type: ignore[attr-defined]
    Fetcher._proc_fetch_request = paced
