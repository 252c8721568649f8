"""A dead-letter topic that refuses the envelopes for good stops the worker loudly, without acknowledging.

It once failed outside the agent's crash guard: the agent died, the process stayed up answering health
checks, offsets froze and SIGTERM hung. The refusal here is real: the broker's per-topic `max.message.bytes`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.publish.publisher import publish
from streamproc.worker.exit import EXIT_BATCH_FAILED
from streamproc.worker.lag import LagMonitor
from tests.pipeline.harness import WorkerProcess, encode, make_articles, provision


@pytest.mark.slow
def test_refused_dead_letters_stop_the_worker_without_acknowledging(settings: Settings, tmp_path: Path) -> None:
    admin = KafkaAdminClient(**kafka_python_options(settings))
    tiny = {"max.message.bytes": "200"}  # smaller than any envelope
    admin.create_topics([NewTopic(settings.topic_deadletter, settings.topic_partitions, 1, topic_configs=tiny)])
    admin.close()
    provision(settings)  # the raw topic and the index; the dead-letter topic exists already
    records = [encode(a) for a in make_articles(20, seed=3)] + [b"not json"]
    publish(settings, records, send_invalid=True, progress=False)

    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        assert worker.process is not None
        worker.process.wait(timeout=120)  # it must stop by itself
    finally:
        worker.stop()
    assert worker.process.returncode == EXIT_BATCH_FAILED
    log = worker.log()
    assert "Kafka refused the dead letters for good" in log and "exiting without acknowledging the batch" in log
    time.sleep(1)
    monitor = LagMonitor(settings)
    try:
        progress = monitor.progress()
    finally:
        monitor.close()
    assert progress.lag > 0  # the batch holding the refused dead letter was not acknowledged
