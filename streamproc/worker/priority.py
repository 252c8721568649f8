"""Live traffic first: how a worker holds relabel work back while `news.raw` needs it.

Two rules, both in every worker:

1. **In the worker**: the relabel agent hands texts to the inference thread only while no live batch is waiting
   for it or running in it (`LiveFirst`). Live batches never wait behind relabel work queued earlier; the most a
   live batch waits is the one relabel chunk already in the thread (`Settings.relabel_chunk` texts of inference:
   a relabel batch goes to the models a chunk at a time, and asks before each).
2. **Across the group**: before each relabel batch the worker reads the live consumer group's lag on `news.raw`
   (committed vs end offsets, every partition, at most once a second) and waits while it is above
   `relabel_max_live_lag` records (default 2 x `batch_size`: what a worker that keeps up holds in flight, the
   batch being classified and the one being written). A group that falls behind gets every worker back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from streamproc import metrics
from streamproc.config import Settings
from streamproc.worker.lag import LagMonitor

log = logging.getLogger(__name__)
LAG_READ_SECONDS = 1.0  # the group's lag is read at most this often
LAG_WAIT_SECONDS = 0.5  # how long relabeling sleeps before reading the lag again


class LiveFirst:
    """Counts the live batches in preparation; relabel work waits until there are none."""

    def __init__(self) -> None:
        self._live = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.asynccontextmanager
    async def live(self) -> AsyncIterator[None]:
        """Around a live batch's validation and inference."""
        self._live += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._live -= 1
            if self._live == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no live batch is being prepared."""
        while self._live:
            await self._idle.wait()


class LiveLag:
    """The live group's lag on `news.raw`, read off the event loop; relabeling waits while it is too high."""

    def __init__(self, settings: Settings, read: Callable[[], int] | None = None) -> None:
        self.limit = settings.relabel_lag_limit
        self.settings = settings
        self._read = read
        self._monitor: LagMonitor | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="live-lag")
        self._last: tuple[float, int | None] = (float("-inf"), None)
        self._waiting = False

    def _read_lag(self) -> int | None:
        if self._read is not None:
            return self._read()
        try:
            if self._monitor is None:
                self._monitor = LagMonitor(self.settings, timeout=5.0)
            return self._monitor.progress().lag
        except Exception as exc:  # Kafka away: the live path has the same trouble; do not hold relabel on it
            log.debug("cannot read the live group's lag: %s", type(exc).__name__)
            self._close_monitor()
            return None

    async def lag(self) -> int | None:
        """The group's lag (cached for `LAG_READ_SECONDS`); None when it cannot be read."""
        read_at, value = self._last
        if time.monotonic() - read_at >= LAG_READ_SECONDS:
            value = await asyncio.get_running_loop().run_in_executor(self._thread, self._read_lag)
            self._last = (time.monotonic(), value)
        return value

    async def wait_until_low(self) -> float:
        """Wait while the live lag is above the limit; return the seconds waited."""
        started = time.monotonic()
        while (lag := await self.lag()) is not None and lag > self.limit:
            if not self._waiting:
                log.info("relabel paused: live lag %d > %d on %s", lag, self.limit, self.settings.topic_raw)
                self._waiting = True
                metrics.RELABEL_PAUSED.set(1)
            await asyncio.sleep(LAG_WAIT_SECONDS)
        waited = time.monotonic() - started
        if self._waiting:
            log.info("relabel resumed after %.1fs: live lag %s <= %d", waited, lag, self.limit)
            self._waiting = False
            metrics.RELABEL_PAUSED.set(0)
        metrics.RELABEL_PAUSED_SECONDS.inc(waited)
        return waited

    def _close_monitor(self) -> None:
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                self._monitor.close()
            self._monitor = None

    def close(self) -> None:
        """Stop the reader thread and close its Kafka connection."""
        self._thread.submit(self._close_monitor)
        self._thread.shutdown(wait=False)
