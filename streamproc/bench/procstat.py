"""Per-thread CPU time and peak memory of a process, read from Linux `/proc`."""

from __future__ import annotations

import os
import re
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Thread id -> (thread name, user + system CPU seconds so far)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # the thread ended meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        threads[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / _TICKS)
    return threads


def cpu_by_group(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent between two `thread_cpu` snapshots, summed per thread name (digits dropped)."""
    groups: dict[str, float] = {}
    for tid, (name, seconds) in after.items():
        spent = seconds - before.get(tid, (name, 0.0))[1]
        group = re.sub(r"[-_]?\d+$", "", name) or name
        groups[group] = groups.get(group, 0.0) + spent
    ranked = sorted(groups.items(), key=lambda item: -item[1])
    return {name: round(seconds, 2) for name, seconds in ranked if seconds > 0}


def machine_cpu() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far, all cores together (`/proc/stat`; idle counts I/O wait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / _TICKS, idle / _TICKS


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads."""
    return sum(seconds for _, seconds in thread_cpu(pid).values())


def cpu_split(
    before: tuple[tuple[float, float], dict[str, float]], after: tuple[tuple[float, float], dict[str, float]]
) -> dict[str, float]:
    """CPU seconds between two (`machine_cpu()`, {name: `process_cpu`}) snapshots: each named process, `others`
    (every other process: the local servers on a bench machine) and `idle`."""
    busy = after[0][0] - before[0][0]
    named = {name: round(after[1][name] - before[1][name], 2) for name in after[1]}
    return {**named, "others": round(busy - sum(named.values()), 2), "idle": round(after[0][1] - before[0][1], 2)}


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")
