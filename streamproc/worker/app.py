"""The Faust app: its options, the raw topic, the monitoring, the batch agent (`agent.py`) and the relabel agent
(`relabel_agent.py`)."""

from __future__ import annotations

from typing import Any

import faust

from streamproc.config import Settings
from streamproc.connections import faust_broker_credentials
from streamproc.inference.predictor import Predictor
from streamproc.worker.agent import add_batch_agent
from streamproc.worker.assignor import StableOrderAssignor
from streamproc.worker.fetch_pacing import pace_empty_fetches
from streamproc.worker.logs import worker_logging_config
from streamproc.worker.monitor import host_check, install_monitoring
from streamproc.worker.offsets import worker_data_dir
from streamproc.worker.relabel_agent import add_relabel_agent, relabel_topic


def create_app(settings: Settings, predictor: Predictor | None = None) -> faust.App:
    """Build the Faust app. Without `predictor`, the models are loaded when the agent starts."""
    pace_empty_fetches(settings.kafka_empty_fetch_floor)  # no busy fetch loop on brokers that do not long-poll
    app = faust.App(settings.consumer_group, **faust_options(settings))
    install_monitoring(app, settings)
    serving = add_batch_agent(app, settings, raw_topic(app, settings), predictor)
    add_relabel_agent(app, settings, relabel_topic(app, settings), serving)
    return app


def faust_options(settings: Settings) -> dict[str, Any]:
    """Broker, consumer, producer and web options of the worker's Faust app."""
    return {
        "broker": [f"kafka://{server}" for server in settings.bootstrap_list()],
        "broker_credentials": faust_broker_credentials(settings),
        "store": "memory://",
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_application_options": {"middlewares": [host_check(settings.host_names(settings.web_host))]},
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "topic_disable_leader": True,
        "broker_session_timeout": settings.kafka_session_timeout,
        "broker_heartbeat_interval": min(3.0, settings.kafka_session_timeout / 3),
        "broker_rebalance_timeout": settings.kafka_session_timeout,
        "consumer_group_instance_id": settings.worker_instance_id,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "logging_config": worker_logging_config(settings),
        "datadir": worker_data_dir(settings),
        "PartitionAssignor": StableOrderAssignor,  # a restarted static member gets its own partitions back
    }


def raw_topic(app: faust.App, settings: Settings) -> faust.TopicT:
    """`news.raw`, read as raw bytes (validation is ours, not Faust's)."""
    return app.topic(
        settings.topic_raw,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
