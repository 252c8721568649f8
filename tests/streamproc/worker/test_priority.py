"""Live traffic first: relabel work waits for live batches in the worker and for the group's lag on news.raw."""

from __future__ import annotations

import asyncio

import pytest

from streamproc.config import Settings
from streamproc.worker import priority
from streamproc.worker.priority import LiveFirst, LiveLag
from tests.group_offsets import commit_raw_offset, fill_raw_partition


def test_relabel_waits_while_a_live_batch_is_prepared() -> None:
    async def run() -> list[str]:
        gate, order = LiveFirst(), []

        async def live(name: str, seconds: float) -> None:
            async with gate.live():
                await asyncio.sleep(seconds)
                order.append(name)

        async def relabel() -> None:
            await asyncio.sleep(0.01)
            await gate.wait_idle()
            order.append("relabel")

        await asyncio.gather(live("live-1", 0.05), live("live-2", 0.1), relabel())
        await gate.wait_idle()  # idle: returns at once
        return order

    assert asyncio.run(run()) == ["live-1", "live-2", "relabel"]


def test_relabel_waits_while_the_live_group_lags(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "LAG_READ_SECONDS", 0.0)
    monkeypatch.setattr(priority, "LAG_WAIT_SECONDS", 0.05)
    monkeypatch.setenv("STREAMPROC_RELABEL_MAX_LIVE_LAG", "5")
    settings = Settings()
    fill_raw_partition(settings, 0, 8)

    async def run() -> tuple[float, bool]:
        lag = LiveLag(settings)
        try:
            assert await lag.lag() == 8
            waiting = asyncio.create_task(lag.wait_until_low())
            await asyncio.sleep(1.0)
            still = not waiting.done()  # lag 8 > 5: still waiting
            await asyncio.to_thread(commit_raw_offset, settings, 0, 4)  # lag 4 <= 5
            return await asyncio.wait_for(waiting, 30), still
        finally:
            lag.close()

    waited, held = asyncio.run(run())
    assert held and waited >= 1.0
