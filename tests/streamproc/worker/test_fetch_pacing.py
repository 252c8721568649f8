"""An idle aiokafka consumer on a broker that answers empty fetches at once (noida-db) must not spin."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.consumer.fetcher import Fetcher

from streamproc.stack.provision import create_topics
from streamproc.worker.fetch_pacing import pace_empty_fetches


async def _idle_fetches(settings, seconds: float) -> tuple[int, float, list[bytes]]:
    """(fetch requests sent while idle, seconds from produce to receive after idling, values received)."""
    consumer = AIOKafkaConsumer(
        settings.topic_raw,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=500,
    )
    await consumer.start()
    fetches = 0
    send = consumer._client.send  # counted at the client: every request the fetcher sends passes here

    async def counting_send(node_id, request, *args, **kwargs):
        nonlocal fetches
        fetches += type(request).__name__.startswith("FetchRequest")
        return await send(node_id, request, *args, **kwargs)

    consumer._client.send = counting_send
    try:
        assert await consumer.getmany(timeout_ms=int(seconds * 1000)) == {}
        idle = fetches
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        sent = time.monotonic()
        await producer.send_and_wait(settings.topic_raw, b"after idle")
        await producer.stop()
        batch = await consumer.getmany(timeout_ms=5000)
        delay = time.monotonic() - sent
        return idle, delay, [record.value for records in batch.values() for record in records]
    finally:
        await consumer.stop()


def test_idle_consumer_paces_empty_fetches_and_still_receives(settings) -> None:
    create_topics(settings)
    original = Fetcher._proc_fetch_request
    pace_empty_fetches(0.25)
    try:
        idle, delay, values = asyncio.run(_idle_fetches(settings, 2.0))
    finally:
        pace_empty_fetches(0.0)  # the wrapper stays installed (once per process) but does nothing at 0
    assert Fetcher._proc_fetch_request is not original
    # 3 partitions on one broker: one request per 0.25 s at most, instead of one per round-trip (hundreds).
    assert idle <= 2.0 / 0.25 + 3, idle
    assert values == [b"after idle"]  # records still flow; the wait after an empty fetch is at most the floor
    assert delay < 3.0


def test_without_pacing_the_local_broker_is_fetched_in_a_busy_loop(settings) -> None:
    """The reason for the pacing, shown on the real local broker (floor 0 = aiokafka's own behaviour)."""
    create_topics(settings)
    pace_empty_fetches(0.0)
    idle, _, _ = asyncio.run(_idle_fetches(settings, 1.0))
    assert idle > 3 * (1.0 / 0.25 + 3), idle
