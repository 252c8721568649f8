"""`streamproc stack up|status|down|reset` start and stop real embedded servers on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_stack_lifecycle(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack"
    env = {
        "STREAMPROC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "STREAMPROC_ES_URL": f"http://127.0.0.1:{free_port()}",
        "STREAMPROC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "STREAMPROC_STACK_DIR": str(stack_dir),
    }
    try:
        up = _cli(["stack", "up"], env)
        assert up.returncode == 0, up.stderr
        for expected in (
            "started noida-db",
            "started valkey-server",
            "created topic news.raw (4 partitions)",
            "created topic news.deadletter",
            "index template news-enriched",
        ):
            assert expected in up.stdout
        again = _cli(["stack", "up"], env)  # idempotent: nothing started twice, topics already there
        assert again.returncode == 0 and "started" not in again.stdout and "exists (4 partitions)" in again.stdout
        assert _cli(["health"], env).returncode == 0
        assert _cli(["stack", "status"], env).stdout.count(" up ") == 3
    finally:
        down = _cli(["stack", "down"], env)
    assert "stopped noida-db" in down.stdout and "stopped valkey-server" in down.stdout
    assert _cli(["stack", "status"], env).stdout.count(" down ") == 3
    assert _cli(["health"], env).returncode == 1
    reset = _cli(["stack", "reset", "--yes"], env)
    assert reset.returncode == 0 and not stack_dir.exists()


def test_remote_urls_are_not_started_locally(tmp_path: Path) -> None:
    env = {
        "STREAMPROC_STACK_MODE": "local",
        "STREAMPROC_ES_URL": "http://es.internal.example:9200",
        "STREAMPROC_STACK_DIR": str(tmp_path),
    }
    done = _cli(["stack", "up"], env)
    assert done.returncode == 2 and "only runs on loopback" in done.stderr
