"""`streamproc health` gives up on a Redis that accepts connections and never answers after its timeout.

The server is a plain listening socket that never replies (a hung Redis); no Redis server can be made to
hang on purpose, so this stand-in is the real condition, not a mock of the client.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from streamproc.config import load_settings
from streamproc.errors import UserError
from streamproc.health import check_redis


@pytest.fixture
def silent_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server.getsockname()[1]


def test_check_redis_honours_its_timeout(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDIS_URL", f"redis://127.0.0.1:{silent_port}/0")
    start = time.monotonic()
    with pytest.raises(UserError, match="cannot reach Redis"):
        check_redis(load_settings(), timeout=0.5)
    # the client's default per-command timeout is 10 s; the check's own 0.5 s (plus one retry) must apply
    assert time.monotonic() - start < 5
