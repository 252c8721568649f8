"""Real servers for the test session, on free loopback ports: noida-db (Kafka + Elasticsearch API), valkey."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from streamproc.stack.local import _noida_binary, _valkey_binary


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Block until 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing answers on 127.0.0.1:{port}") from None
            time.sleep(0.1)


@dataclass
class Noida:
    """A noida-db process serving Kafka and Elasticsearch."""

    data_dir: Path
    kafka_port: int
    es_port: int

    def start(self) -> None:
        """Start in the background and wait for both ports."""
        subprocess.run(
            [
                _noida_binary(),
                "up",
                "--only",
                "kafka,elasticsearch",
                "--host",
                "127.0.0.1",
                "--kafka-port",
                str(self.kafka_port),
                "--elasticsearch-port",
                str(self.es_port),
                "--data-dir",
                str(self.data_dir),
            ],
            check=True,
            capture_output=True,
        )
        wait_for_port(self.kafka_port)
        wait_for_port(self.es_port)

    def service(self, action: str, name: str) -> None:
        """`noida-db stop|start elasticsearch` on the running server (data is kept)."""
        subprocess.run(
            [_noida_binary(), action, name, "--data-dir", str(self.data_dir)], check=True, capture_output=True
        )

    def stop(self) -> None:
        """Stop the server."""
        subprocess.run([_noida_binary(), "down", "--data-dir", str(self.data_dir)], capture_output=True, check=False)


@dataclass
class Valkey:
    """A valkey-server process (real Redis protocol)."""

    data_dir: Path
    port: int
    process: subprocess.Popen | None = None
    durable: bool = False  # append-only file, synced on every write: survives SIGKILL

    def start(self) -> None:
        """Start in the foreground of a child process and wait for the port."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                _valkey_binary(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "yes" if self.durable else "no",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL the server (an outage); `start` brings it back on the same port and data."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Terminate the server."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
