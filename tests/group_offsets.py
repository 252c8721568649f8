"""Records on the raw topic and the worker group's committed offsets, as a test sets them up by hand."""

from __future__ import annotations

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.stack.provision import create_topics


def fill_raw_partition(settings: Settings, partition: int, records: int) -> None:
    """Create the topics, then write `records` empty records to one partition of the raw topic."""
    create_topics(settings)
    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    for _ in range(records):
        producer.send(settings.topic_raw, value=b"{}", partition=partition)
    producer.flush()
    producer.close()


def commit_raw_offset(settings: Settings, partition: int, offset: int) -> None:
    """Commit `offset` on one raw partition for the worker group: what the workers do as they process."""
    consumer = KafkaConsumer(**kafka_python_options(settings), group_id=settings.consumer_group)
    consumer.commit({TopicPartition(settings.topic_raw, partition): OffsetAndMetadata(offset, "", -1)})
    consumer.close()
