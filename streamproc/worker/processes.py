"""`streamproc worker --processes N`: N worker processes on one host, in one consumer group.

One worker process runs its event loop (decoding, validation, documents, bulk bodies) and its inference thread
(tokenizing, n-gram hashing, the model) in one interpreter. Several processes in the same consumer group share
the partitions the Kafka way, each with its own interpreter (and its own copy of the model). Each child is a
plain `streamproc worker` with its own `STREAMPROC_WORKER_INSTANCE_ID` (`<id or host name>-<i>`: a restarted
child gets its partitions back at once), its own web port (`web_port + i`) and, unless
`STREAMPROC_TORCH_THREADS` is set, cores / N inference threads. When one child stops, the others are stopped
too and the command exits with that child's code, so a supervisor (compose, systemd) restarts the set.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from streamproc.config import ENV_PREFIX, Settings
from streamproc.errors import UserError
from streamproc.inference.threads import usable_cores


def child_environments(settings: Settings, processes: int, base: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The environment of each child: instance id, web port and (unless configured) inference threads."""
    environ = dict(os.environ if base is None else base)
    name = settings.worker_instance_id or socket.gethostname()
    threads = settings.torch_threads or max(1, usable_cores() // processes)
    children = []
    for i in range(processes):
        env = dict(environ)
        env[f"{ENV_PREFIX}WORKER_INSTANCE_ID"] = f"{name}-{i}"
        env[f"{ENV_PREFIX}WEB_PORT"] = str(settings.web_port + i)
        env[f"{ENV_PREFIX}TORCH_THREADS"] = str(threads)
        children.append(env)
    return children


def run_worker_processes(settings: Settings, processes: int, say: Callable[[str], object] = print) -> int:
    """Start the children, forward SIGINT/SIGTERM to them, and return the exit code of the first that stopped."""
    if settings.web_port + processes - 1 > 65535:
        raise UserError(f"STREAMPROC_WEB_PORT {settings.web_port} leaves no room for {processes} web ports")
    envs = child_environments(settings, processes)
    command = [sys.executable, "-m", "streamproc", "worker"]
    children = [subprocess.Popen(command, env=env) for env in envs]
    ids = ", ".join(env[f"{ENV_PREFIX}WORKER_INSTANCE_ID"] for env in envs)
    say(f"{processes} worker processes ({ids}), {envs[0][f'{ENV_PREFIX}TORCH_THREADS']} inference threads each")
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
        first = next(child for child in children if child.returncode is not None)
        if not stopping:
            say(f"worker process {first.pid} stopped (exit {first.returncode}); stopping the others")
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return int(first.returncode or 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
