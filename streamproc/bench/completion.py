"""When a benchmark's work is done, seen without loading the server under test.

The worker acknowledges a batch's offsets only after Elasticsearch confirmed it, so the consumer group having
committed to the end of its topic means everything published so far went through. That is asked of Kafka (cheap:
offsets), every `LAG_POLL_SECONDS`; the index is asked (refresh + count) only then, once, to confirm. Polling the
index itself instead is not neutral: on the local Elasticsearch stand-in a refresh and a count each cost time
proportional to the index (85 and 150 ms at 5,000 headlines), so a 50 ms poll kept one of the two cores busy
answering the benchmark, not the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from streamproc.config import Settings
from streamproc.worker.lag import LagMonitor

LAG_POLL_SECONDS = 0.05
CONFIRM_POLL_SECONDS = 1.0  # when the offsets are at the end but the index does not agree yet


def wait_consumed(settings: Settings, topic: str, confirmed: Callable[[], bool], timeout: float = 900.0) -> float:
    """Block until the worker group has committed every record of `topic` and `confirmed()` (the index's own
    check) agrees; return `time.perf_counter()` of the moment the offsets were seen at the end, or of the
    confirming check when the index agreed only later."""
    deadline = time.monotonic() + timeout
    monitor = LagMonitor(settings, topic=topic, timeout=10)
    try:
        while monitor.progress().lag > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workers did not consume {topic} in {timeout:.0f}s")
            time.sleep(LAG_POLL_SECONDS)
        seen = time.perf_counter()
        while not confirmed():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the workers consumed {topic} but the index did not agree in {timeout:.0f}s")
            time.sleep(CONFIRM_POLL_SECONDS)
            seen = time.perf_counter()
        return seen
    finally:
        monitor.close()
