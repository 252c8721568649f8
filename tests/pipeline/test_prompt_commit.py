"""Acknowledged offsets reach Kafka after each batch: a worker killed early replays at most the batches in flight.

Faust alone commits every 2.8 s, so a SIGKILL a few seconds after start re-processed everything done so far.
Also checks that the worker keeps Faust's data directory under the stack directory, not the working directory.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.ingest.article import Article
from streamproc.publish.publisher import publish
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    indexed_documents,
    make_articles,
    provision,
    wait_until_processed,
)

BATCH = 10
BATCH_LINE = re.compile(r"batch of (\d+): ")


def processed_records(log: str) -> int:
    """Records the worker finished (all sinks confirmed), summed over its batch log lines."""
    return sum(int(count) for count in BATCH_LINE.findall(log))


@pytest.mark.slow
def test_early_sigkill_replays_only_the_batches_in_flight(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("STREAMPROC_WORKER_INSTANCE_ID", "worker-1")  # the restart takes the partitions back
    settings = Settings()
    provision(settings)
    articles = make_articles(600, seed=5)
    ids = {Article.model_validate(a).id for a in articles}
    publish(settings, [encode(a) for a in articles], progress=False)
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    first = WorkerProcess(tmp_path / "first.log").start()
    try:
        deadline = time.monotonic() + 120
        # killed well inside Faust's first 2.8 s commit interval, once six batches are reported done (the index
        # count runs ahead of the log line: a batch is indexed before its review queue and dead letters)
        while processed_records(first.log()) < 6 * BATCH:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first.kill(signal.SIGKILL)
    finally:
        first.stop()
    done_by_first = processed_records(first.log())
    assert 6 * BATCH <= done_by_first < len(ids), "the first worker finished before it could be killed"

    second = WorkerProcess(tmp_path / "second.log").start()
    try:
        wait_until_processed(settings, len(ids))
    finally:
        second.stop()
    replays = done_by_first + processed_records(second.log()) - len(ids)
    print(f"first worker finished {done_by_first} records before SIGKILL; replayed after restart: {replays}")
    assert 0 <= replays <= 2 * BATCH  # the batch being committed and the one being processed at the kill
    assert set(indexed_documents(settings)) == ids
    assert list(workdir.iterdir()) == []  # no `<group>-data/` folder in the working directory
    assert (settings.stack_dir / "worker-data" / settings.consumer_group).is_dir()
