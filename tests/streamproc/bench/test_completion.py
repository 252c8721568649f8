"""A benchmark's end is the worker group's offsets at the end of the topic, then the index's agreement."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streamproc.bench import completion
from streamproc.bench.completion import wait_consumed
from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.stack.provision import create_topics


def test_done_needs_every_offset_committed_and_the_index_to_agree(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(completion, "CONFIRM_POLL_SECONDS", 0.05)
    create_topics(settings)
    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    for _ in range(5):
        producer.send(settings.topic_raw, value=b"{}", partition=1)
    producer.flush()
    producer.close()
    asked: list[float] = []

    def index_agrees() -> bool:
        asked.append(time.perf_counter())
        return len(asked) >= 3  # the index catches up on the third look

    with pytest.raises(TimeoutError, match="did not consume"):
        wait_consumed(settings, settings.topic_raw, index_agrees, timeout=1.0)
    assert asked == []  # the index is not asked while the group is behind

    consumer = KafkaConsumer(**kafka_python_options(settings), group_id=settings.consumer_group)
    consumer.commit({TopicPartition(settings.topic_raw, 1): OffsetAndMetadata(5, "", -1)})  # what the worker does
    consumer.close()
    done = wait_consumed(settings, settings.topic_raw, index_agrees, timeout=30)
    assert len(asked) == 3 and asked[1] <= done <= asked[2]  # the moment the index agreed, not the offsets'
