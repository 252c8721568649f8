"""The stall rule: lag > 0 and a committed offset unchanged for `stall_after` seconds; and the worker's log format."""

from __future__ import annotations

import json
import logging
import logging.config

from streamproc.config import Settings
from streamproc.worker.lag import GroupProgress
from streamproc.worker.logs import worker_logging_config
from streamproc.worker.stall import StallDetector


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(committed: dict[int, int], end: dict[int, int]) -> GroupProgress:
    return GroupProgress(committed, end)


def test_a_partition_with_lag_and_a_frozen_offset_stalls_after_the_window() -> None:
    clock = Clock()
    detector = StallDetector(stall_after=10, clock=clock)
    assert detector.observe(_progress({0: 5, 1: 7}, {0: 50, 1: 7})) == []
    clock.now += 9.9
    assert detector.observe(_progress({0: 5, 1: 7}, {0: 60, 1: 9})) == []
    clock.now += 0.2
    (stalled,) = detector.observe(_progress({0: 5, 1: 7}, {0: 60, 1: 9}))
    assert (stalled.partition, stalled.lag, stalled.committed) == (0, 55, 5)
    assert stalled.unchanged_for >= 10
    assert detector.states[1].lag == 2 and detector.states[1].unchanged_for < 10  # lag since 0.2 s only


def test_a_moving_offset_or_no_lag_is_never_stalled() -> None:
    clock = Clock()
    detector = StallDetector(stall_after=5, clock=clock)
    for step in range(10):
        clock.now += 4
        assert detector.observe(_progress({0: step * 10, 1: 3}, {0: 1000, 1: 3})) == []
    clock.now += 100
    assert detector.observe(_progress({0: 1000, 1: 3}, {0: 1000, 1: 3})) == []


def test_a_stalled_partition_recovers_when_its_offset_moves() -> None:
    clock = Clock()
    detector = StallDetector(stall_after=5, clock=clock)
    detector.observe(_progress({0: 1}, {0: 9}))
    clock.now += 6
    assert len(detector.observe(_progress({0: 1}, {0: 9}))) == 1
    clock.now += 1
    assert detector.observe(_progress({0: 2}, {0: 9})) == []
    clock.now += 4
    assert detector.observe(_progress({0: 2}, {0: 9})) == []  # a new window starts at the move
    clock.now += 2
    assert len(detector.observe(_progress({0: 2}, {0: 9}))) == 1


def test_a_partition_never_committed_counts_from_zero() -> None:
    clock = Clock()
    detector = StallDetector(stall_after=1, clock=clock)
    detector.observe(_progress({}, {0: 4}))
    clock.now += 1
    (stalled,) = detector.observe(_progress({}, {0: 4}))
    assert stalled.lag == 4


def test_json_logs_are_one_object_per_line(capsys) -> None:
    config = worker_logging_config(Settings(log_format="json"))
    assert config is not None and worker_logging_config(Settings()) is None
    logging.config.dictConfig(config)
    try:
        logging.getLogger("streamproc.test").warning("partition %s[%d] stalled", "news.raw", 2)
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}})
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert record["message"] == "partition news.raw[2] stalled"
    assert record["level"] == "WARNING" and record["logger"] == "streamproc.test" and record["time"]
