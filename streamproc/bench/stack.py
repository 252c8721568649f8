"""A throw-away local stack (noida-db + valkey on free loopback ports) and a real worker process on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from streamproc.config import Settings, load_settings
from streamproc.errors import UserError
from streamproc.stack import local
from streamproc.stack.up import bring_up


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_overrides(work_dir: Path) -> dict[str, object]:
    """Settings for a private local stack under `work_dir` on free ports."""
    return {
        "kafka_bootstrap_servers": f"127.0.0.1:{free_port()}",
        "es_url": f"http://127.0.0.1:{free_port()}",
        "redis_url": f"redis://127.0.0.1:{free_port()}/0",
        "web_port": free_port(),
        "stack_dir": work_dir / "stack",
        "stack_mode": "local",
        "consumer_group": "bench",
        "topic_raw": "bench.raw",
        "topic_deadletter": "bench.deadletter",
        "topic_relabel": "bench.relabel",
        "es_index": "bench-news",
        "review_key_prefix": "bench:review",
    }


def environment(overrides: dict[str, object]) -> dict[str, str]:
    """`os.environ` plus the overrides as `STREAMPROC_*` variables (for the worker process)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STREAMPROC_")}
    env.update({f"STREAMPROC_{name.upper()}": str(value) for name, value in overrides.items() if value is not None})
    return env


class BenchStack:
    """Start with `up()`, stop with `down()`; everything lives in the work folder."""

    def __init__(self, overrides: dict[str, object]) -> None:
        self.overrides = overrides
        self.settings: Settings = load_settings(**overrides)

    def up(self) -> None:
        """Start the servers, create the topics and the index."""
        bring_up(self.settings)

    def down(self) -> None:
        """Stop the servers."""
        local.stop_local(self.settings)


class WorkerProcess:
    """`python -m streamproc worker` with the bench settings, its log in a file."""

    def __init__(self, overrides: dict[str, object], log_path: Path, module: str = "streamproc") -> None:
        """`module`: what `python -m` runs (`streamproc.bench.null_worker` for the null-model benchmark)."""
        self.env = environment(overrides)
        self.log_path = log_path
        self.command = [sys.executable, "-m", module, *(["worker"] if module == "streamproc" else [])]
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        """The worker's process id."""
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 300.0) -> None:
        """Start and wait until Faust reports the worker ready."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while "Worker]: Ready" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log()[-1500:]
                self.stop()
                raise UserError(f"the benchmark worker did not start; end of its log ({self.log_path}):\n{tail}")
            time.sleep(0.2)

    def log(self) -> str:
        """Everything the worker printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Graceful stop, forced after 30 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
