"""The retry helper: transient failures are retried with a jittered, doubling, capped back-off; nothing else is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import REGISTRY

from streamproc.sinks import retry
from streamproc.sinks.retry import PermanentSinkError, TransientSinkError, retry_until_done


def _failing(times: int, then: Exception | str) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise TransientSinkError("down")
        if isinstance(then, Exception):
            raise then
        return then

    return calls, call


def _recorded_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    # Spy on the back-off sleeps so the schedule can be read without waiting it out (the waits are real, 0 s).
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(retry.asyncio, "sleep", sleep)
    return waits


def _retries(sink: str) -> float:
    return REGISTRY.get_sample_value("streamproc_sink_retries_total", {"sink": sink}) or 0.0


def test_back_off_doubles_up_to_the_maximum_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _recorded_waits(monkeypatch)
    calls, call = _failing(6, "done")
    before = _retries("retry-test")
    assert asyncio.run(retry_until_done(call, "test sink", 1.0, 5.0, sink="retry-test")) == "done"
    assert len(calls) == 7 and len(waits) == 6
    for wait, delay in zip(waits, [1.0, 2.0, 4.0, 5.0, 5.0, 5.0], strict=True):
        assert delay / 2 <= wait <= delay
    assert _retries("retry-test") - before == 6


@pytest.mark.parametrize("error", [PermanentSinkError("refused"), ValueError("a bug")], ids=["permanent", "bug"])
def test_only_transient_failures_are_retried(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    waits = _recorded_waits(monkeypatch)
    calls, call = _failing(2, error)
    with pytest.raises(type(error)):
        asyncio.run(retry_until_done(call, "test sink", 0.1, 0.2))
    assert len(calls) == 3 and len(waits) == 2  # two transient retries, then raised at once


def test_success_at_once_waits_for_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    waits = _recorded_waits(monkeypatch)
    calls, call = _failing(0, "ok")
    assert asyncio.run(retry_until_done(call, "test sink", 0.1, 0.2)) == "ok"
    assert calls == [1] and waits == []
