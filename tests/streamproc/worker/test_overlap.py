"""The in-order finisher: one batch finishing at a time, overlapping the caller's next step, in order."""

from __future__ import annotations

import asyncio

import pytest

from streamproc.worker.overlap import InOrderFinisher


def test_finishes_run_one_at_a_time_in_order_while_the_caller_goes_on() -> None:
    events: list[str] = []

    async def finish(name: str, seconds: float) -> None:
        events.append(f"{name} start")
        await asyncio.sleep(seconds)
        events.append(f"{name} done")

    async def main() -> None:
        finisher = InOrderFinisher()
        await finisher.submit(finish("a", 0.05))
        events.append("classify b")  # runs while a is finishing
        await asyncio.sleep(0)
        await finisher.submit(finish("b", 0.0))  # waits for a first
        await finisher.drain()

    asyncio.run(main())
    assert events == ["classify b", "a start", "a done", "b start", "b done"]


def test_a_failed_finish_surfaces_before_the_next_starts() -> None:
    started: list[str] = []

    async def fail() -> None:
        raise RuntimeError("sink down for good")

    async def later() -> None:
        started.append("later")

    async def main() -> None:
        finisher = InOrderFinisher()
        await finisher.submit(fail())
        await finisher.submit(later())

    with pytest.raises(RuntimeError, match="sink down"):
        asyncio.run(main())
    assert started == []
