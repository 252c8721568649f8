"""The benchmarks' CPU accounting from /proc: this process's work shows as its own, the rest of the machine apart."""

from __future__ import annotations

import os
import time

from streamproc.bench.procstat import cpu_split, machine_cpu, process_cpu


def test_a_busy_loop_is_counted_to_this_process_and_the_machine() -> None:
    def snapshot() -> tuple[tuple[float, float], dict[str, float]]:
        return machine_cpu(), {"this test": process_cpu(os.getpid())}

    before = snapshot()
    deadline = time.process_time() + 0.5
    while time.process_time() < deadline:
        pass
    split = cpu_split(before, snapshot())
    assert set(split) == {"this test", "others", "idle"}
    assert 0.4 <= split["this test"] <= 1.5
    # the machine's busy time holds this process's (clock ticks of 10 ms: allow two per counter)
    assert split["others"] >= -0.05 and split["idle"] >= 0
