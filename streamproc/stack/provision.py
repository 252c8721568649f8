"""Create what the pipeline expects on the servers: topics with the configured partitions, the index."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewPartitions, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options
from streamproc.sinks.index_template import index_template


def create_topics(settings: Settings) -> list[str]:
    """Create the raw, dead-letter and relabel topics; grow their partitions up to the configured count."""
    admin = KafkaAdminClient(**kafka_python_options(settings), request_timeout_ms=15000)
    done = []
    try:
        for name in (settings.topic_raw, settings.topic_deadletter, settings.topic_relabel):
            try:
                admin.create_topics(
                    [NewTopic(name, settings.topic_partitions, settings.topic_replication)], timeout_ms=15000
                )
                done.append(f"created topic {name} ({settings.topic_partitions} partitions)")
            except TopicAlreadyExistsError:
                have = len(admin.describe_topics([name])[0]["partitions"])
                if have < settings.topic_partitions:
                    admin.create_partitions({name: NewPartitions(settings.topic_partitions)})
                    done.append(f"grew topic {name} from {have} to {settings.topic_partitions} partitions")
                else:
                    done.append(f"topic {name} exists ({have} partitions)")
    finally:
        admin.close()
    return done


def create_index(settings: Settings) -> list[str]:
    """Put the index template and create the index if it does not exist yet; an existing index gets the fields
    of tasks added to the task file since it was created (fields are only ever added, never changed)."""
    client = elasticsearch_client(settings)
    try:
        body = index_template(settings.es_index, settings.tasks)
        client.indices.put_index_template(name=settings.es_index, **body)
        done = [f"index template {settings.es_index} ({', '.join(body['index_patterns'])})"]
        if not client.indices.exists(index=settings.es_index):
            client.indices.create(index=settings.es_index)
            done.append(f"created index {settings.es_index}")
        else:
            client.indices.put_mapping(index=settings.es_index, properties=body["template"]["mappings"]["properties"])
            done.append(f"index {settings.es_index} exists (mapping brought up to the task file)")
        return done
    finally:
        client.close()
