"""Host and port of each server, read from the configured URLs."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from streamproc.config import Settings


@dataclass(frozen=True)
class Endpoint:
    """One server's address."""

    service: str
    host: str
    port: int

    @property
    def is_loopback(self) -> bool:
        """True for localhost / 127.0.0.0/8 / ::1."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def answers(self, timeout: float = 0.5) -> bool:
        """True when something accepts TCP connections there."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False


def endpoints(settings: Settings) -> dict[str, Endpoint]:
    """Kafka (first bootstrap server), Elasticsearch and Redis."""
    kafka_host, _, kafka_port = settings.bootstrap_list()[0].rpartition(":")
    es = urlsplit(settings.es_url)
    redis = urlsplit(settings.redis_url)
    return {
        "kafka": Endpoint("kafka", kafka_host.strip("[]"), int(kafka_port)),
        "elasticsearch": Endpoint("elasticsearch", es.hostname or "", es.port or 9200),
        "redis": Endpoint("redis", redis.hostname or "", redis.port or 6379),
    }
