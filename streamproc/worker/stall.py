"""Stalled partitions: lag that nobody moves.

A partition is *stalled* when it has lag (records written but not acknowledged by the group) and its
committed offset has not changed for `stall_after` seconds. Every live member of the group sees it: the
worker checks periodically (`streamproc.worker.monitor`), `streamproc lag` and `streamproc health` watch the
group for a short window. Typical causes: a killed worker whose partitions were never reassigned (the local
broker never expires a dead member), a sink that stays down, a hung worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.worker.lag import GroupProgress, LagMonitor


@dataclass(frozen=True)
class PartitionState:
    """One partition as last observed."""

    partition: int
    committed: int
    end: int
    unchanged_for: float  # seconds since the committed offset last moved (0 when it has no lag)

    @property
    def lag(self) -> int:
        """Records not yet acknowledged."""
        return max(self.end - self.committed, 0)


class StallDetector:
    """Remembers since when each partition's committed offset has not moved while it had lag."""

    def __init__(self, stall_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self.clock = clock
        self._since: dict[int, tuple[int, float]] = {}  # partition -> (committed offset, first seen at)
        self.states: dict[int, PartitionState] = {}

    def observe(self, progress: GroupProgress) -> list[PartitionState]:
        """Record one observation of the group; return the partitions stalled now."""
        now = self.clock()
        states: dict[int, PartitionState] = {}
        for partition, end in sorted(progress.end.items()):
            committed = progress.committed.get(partition, 0)
            previous = self._since.get(partition)
            if end <= committed:
                self._since.pop(partition, None)
                states[partition] = PartitionState(partition, committed, end, 0.0)
                continue
            if previous is None or previous[0] != committed:
                previous = (committed, now)
                self._since[partition] = previous
            states[partition] = PartitionState(partition, committed, end, now - previous[1])
        self.states = states
        return self.stalled()

    def stalled(self) -> list[PartitionState]:
        """Partitions with lag whose committed offset has not moved for at least `stall_after` seconds."""
        return [s for s in self.states.values() if s.lag > 0 and s.unchanged_for >= self.stall_after]


def watch_group(
    monitor: LagMonitor, window: float, interval: float = 0.5
) -> tuple[GroupProgress, list[PartitionState]]:
    """Watch the group for up to `window` seconds; return the last progress and the partitions that never moved.

    Returns early once every partition with lag has moved (or none has lag), so a healthy group answers
    at once and only a stuck one takes the whole window.
    """
    first = monitor.progress()
    start = time.monotonic()
    lagging = {p: first.committed.get(p, 0) for p, end in first.end.items() if end > first.committed.get(p, 0)}
    progress = first
    while lagging and time.monotonic() - start < window:
        time.sleep(interval)
        progress = monitor.progress()
        lagging = {
            p: committed
            for p, committed in lagging.items()
            if progress.committed.get(p, 0) == committed and progress.end[p] > committed
        }
    waited = time.monotonic() - start
    stuck = [PartitionState(p, progress.committed.get(p, 0), progress.end[p], waited) for p in sorted(lagging)]
    return progress, stuck


RECOVERY = (
    "if a worker was killed, start it again with the same STREAMPROC_WORKER_INSTANCE_ID (the local broker never "
    "moves a dead member's partitions; real Kafka does after STREAMPROC_KAFKA_SESSION_TIMEOUT); otherwise check "
    "the workers' logs for a sink that is down"
)


def check_group(settings: Settings, window: float) -> str:
    """Raise `UserError` when a partition has lag that did not move for `window` seconds; else describe the lag."""
    monitor = LagMonitor(settings, timeout=10.0)
    try:
        progress, stuck = watch_group(monitor, window)
    finally:
        monitor.close()
    group, topic = settings.consumer_group, settings.topic_raw
    if stuck:
        listed = ", ".join(f"{topic}[{s.partition}] lag {s.lag} at offset {s.committed}" for s in stuck)
        raise UserError(
            f"consumer group {group}: {len(stuck)} partition(s) with lag not moving for {window:.0f}s: {listed}; "
            + RECOVERY
        )
    return f"consumer group {group} on {topic}: lag {progress.lag}, no partition stalled"
