"""Overlap a batch's sinks with the next batch's inference, keeping acknowledgements in batch order.

At most one batch is being finished (Elasticsearch, Redis, dead letters, then the Kafka acknowledgement) while
the next one is validated and classified in the inference thread. A new finish starts only after the previous
one returned, so writes and acknowledgements happen in batch order and an offset is acknowledged only after
every sink of its own batch (and of every earlier batch) confirmed: at-least-once is unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class InOrderFinisher:
    """Runs one finishing coroutine at a time in the background."""

    def __init__(self) -> None:
        self._task: asyncio.Task[Any] | None = None

    async def submit(self, finish: Coroutine[Any, Any, Any]) -> None:
        """Wait for the previous batch's finish, then start this one and return at once."""
        try:
            await self.drain()
        except BaseException:
            finish.close()  # never started: the previous batch failed
            raise
        self._task = asyncio.create_task(finish)

    async def drain(self) -> None:
        """Wait until the batch being finished (if any) is done; its exception, if any, is raised here."""
        task, self._task = self._task, None
        if task is not None:
            await task
