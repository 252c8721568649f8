"""A benchmark's end is the worker group's offsets at the end of the topic, then the index's agreement."""

from __future__ import annotations

import time

import pytest

from streamproc.bench import completion
from streamproc.bench.completion import wait_consumed
from streamproc.config import Settings
from tests.group_offsets import commit_raw_offset, fill_raw_partition


def test_done_needs_every_offset_committed_and_the_index_to_agree(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(completion, "CONFIRM_POLL_SECONDS", 0.05)
    fill_raw_partition(settings, 1, 5)
    asked: list[float] = []

    def index_agrees() -> bool:
        asked.append(time.perf_counter())
        return len(asked) >= 3  # the index catches up on the third look

    with pytest.raises(TimeoutError, match="did not consume"):
        wait_consumed(settings, settings.topic_raw, index_agrees, timeout=1.0)
    assert asked == []  # the index is not asked while the group is behind

    commit_raw_offset(settings, 1, 5)  # what the worker does
    done = wait_consumed(settings, settings.topic_raw, index_agrees, timeout=30)
    assert len(asked) == 3 and asked[1] <= done <= asked[2]  # the moment the index agreed, not the offsets'
