"""Can we reach Kafka, Elasticsearch and Redis? One clear line per server that cannot be reached."""

from __future__ import annotations

from collections.abc import Callable

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options, redis_client
from streamproc.errors import UserError
from streamproc.redact import redact

HINT = "start the local stack with `streamproc stack up`, or fix"


def check_kafka(settings: Settings, timeout: float = 5.0) -> str:
    """Raise `UserError` unless a Kafka broker answers; return its description."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            **kafka_python_options(settings),
            request_timeout_ms=int(timeout * 1000),
            bootstrap_timeout_ms=int(timeout * 1000),
        )
        admin.close()
    except Exception as exc:
        raise UserError(
            f"cannot reach Kafka at {redact(settings.kafka_bootstrap_servers)} ({type(exc).__name__}): "
            f"{HINT} STREAMPROC_KAFKA_BOOTSTRAP_SERVERS"
        ) from None
    return f"Kafka {redact(settings.kafka_bootstrap_servers)}"


def check_elasticsearch(settings: Settings, timeout: float = 5.0) -> str:
    """Raise `UserError` unless Elasticsearch answers; return its version."""
    client = elasticsearch_client(settings).options(request_timeout=timeout)
    try:
        version = client.info()["version"]["number"]
    except Exception as exc:
        raise UserError(
            f"cannot reach Elasticsearch at {redact(settings.es_url)} ({type(exc).__name__}): {HINT} STREAMPROC_ES_URL"
        ) from None
    finally:
        client.close()
    return f"Elasticsearch {version} {redact(settings.es_url)}"


def check_redis(settings: Settings, timeout: float = 5.0) -> str:
    """Raise `UserError` unless Redis answers PING; return its version."""
    client = redis_client(settings, timeout)
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    except Exception as exc:
        raise UserError(
            f"cannot reach Redis at {redact(settings.redis_url)} ({type(exc).__name__}): {HINT} STREAMPROC_REDIS_URL"
        ) from None
    finally:
        client.close()
    return f"Redis {version} {redact(settings.redis_url)}"


CHECKS: dict[str, Callable[[Settings], str]] = {
    "kafka": check_kafka,
    "elasticsearch": check_elasticsearch,
    "redis": check_redis,
}


def check_all(settings: Settings) -> list[str]:
    """Check every server; raise the first failure."""
    return [check(settings) for check in CHECKS.values()]
