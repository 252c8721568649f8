"""`streamproc worker --processes 2`: two worker processes in one group share the partitions and stop together."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.publish.publisher import publish
from streamproc.worker.processes import child_environments
from tests.pipeline.harness import encode, indexed_documents, make_articles, provision, wait_for, wait_until_processed
from tests.servers import free_port


def test_each_child_has_its_own_name_port_and_share_of_threads(settings: Settings) -> None:
    envs = child_environments(settings.model_copy(update={"worker_instance_id": "gpu0"}), 2, base={})
    assert [e["STREAMPROC_WORKER_INSTANCE_ID"] for e in envs] == ["gpu0-0", "gpu0-1"]
    assert [int(e["STREAMPROC_WEB_PORT"]) for e in envs] == [settings.web_port, settings.web_port + 1]
    assert len({e["STREAMPROC_TORCH_THREADS"] for e in envs}) == 1
    pinned = child_environments(settings.model_copy(update={"torch_threads": 3}), 4, base={})
    assert {e["STREAMPROC_TORCH_THREADS"] for e in pinned} == {"3"}


@pytest.mark.slow
def test_two_processes_share_the_partitions(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    while free_port() == port + 1:  # the second child takes the next port
        port = free_port()
    monkeypatch.setenv("STREAMPROC_WEB_PORT", str(port))
    monkeypatch.setenv("STREAMPROC_WORKER_INSTANCE_ID", "host")
    provision(settings)
    log_path = tmp_path / "workers.log"
    with log_path.open("wb") as log:
        parent = subprocess.Popen(
            [sys.executable, "-m", "streamproc", "worker", "--processes", "2"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        wait_for(lambda: log_path.read_text(errors="replace").count("Worker]: Ready") >= 2, "two ready workers", 180)
        articles = make_articles(60, seed=21, prefix="mp")
        publish(settings, [encode(a) for a in articles], progress=False)
        wait_until_processed(settings, 60)
        assert len(indexed_documents(settings)) == 60
        text = log_path.read_text(errors="replace")
        assert "2 worker processes (host-0, host-1)" in text
        pids = set(re.findall(r"^\[[^\]]+\] \[(\d+)\] .*batch of \d+: \d+ indexed", text, re.MULTILINE))
        assert len(pids) == 2, text[-3000:]  # both processes took partitions and processed batches
    finally:
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=120)
    time.sleep(0.5)
    assert parent.returncode == 0
    assert "Worker]: Ready" in log_path.read_text(errors="replace")
