"""How far the consumer group is behind the raw topic: the basis for "everything was processed"."""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from streamproc.config import Settings
from streamproc.connections import kafka_python_options


@dataclass(frozen=True)
class GroupProgress:
    """Committed offsets of the group vs. the end of the topic, per partition."""

    committed: dict[int, int]
    end: dict[int, int]

    @property
    def lag(self) -> int:
        """Records written but not yet acknowledged by the workers."""
        return sum(self.end[p] - self.committed.get(p, 0) for p in self.end)


class LagMonitor:
    """Reads the group's committed offsets without joining the group."""

    def __init__(self, settings: Settings, topic: str | None = None, timeout: float | None = None) -> None:
        """`timeout`: seconds each read may wait for the broker (None: wait as long as it takes)."""
        self.topic = topic or settings.topic_raw
        self.timeout_ms = None if timeout is None else int(timeout * 1000)
        self.consumer = KafkaConsumer(
            **kafka_python_options(settings), group_id=settings.consumer_group, enable_auto_commit=False
        )

    def progress(self) -> GroupProgress:
        """Current committed and end offsets."""
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        end = {tp.partition: offset for tp, offset in self.consumer.end_offsets(tps, self.timeout_ms).items()}
        committed = {tp.partition: self.consumer.committed(tp, timeout_ms=self.timeout_ms) or 0 for tp in tps}
        return GroupProgress(committed, end)

    def close(self) -> None:
        """Close the consumer."""
        self.consumer.close()
