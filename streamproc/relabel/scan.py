"""The scan: find the stored documents not on the target versions and queue one work item each.

Documents are read in id order, a page at a time (`range id > last`, sorted on the `id` keyword: works on
Elasticsearch 8 and the local stand-in without a scroll context or point in time that could expire), and
queued on the relabel topic. After each page Kafka has confirmed, the last id is written to a checkpoint in
Redis (`<consumer_group>:relabel:<index>:<scan>`, one per index, target versions and scope), so a scan killed
at any point (kill -9 included) continues after that id: at most one page is queued twice, and the worker
skips a document already on the target. A finished scan is marked done; running it again starts over, which
finds only the documents still not on the target.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from elasticsearch import Elasticsearch
from kafka import KafkaProducer
from redis import Redis
from tqdm import tqdm

from streamproc.config import Settings
from streamproc.relabel.items import WorkItem
from streamproc.relabel.scope import Scope, count, pending_page, pending_query

PAGE = 500  # ids per search and per checkpoint


@dataclass
class ScanResult:
    """What one run of the scan did."""

    queued: int  # items queued by this run
    queued_before: int  # items a killed run of the same scan had queued (0 on a fresh start)
    resumed_after: str | None  # the checkpoint's last id when this run resumed a killed one


def checkpoint_key(settings: Settings, target: dict[str, str], scope: Scope) -> str:
    """The scan's checkpoint in Redis: per consumer group, index, target versions and scope."""
    scan = hashlib.sha256(json.dumps([sorted(target.items()), scope.key()]).encode()).hexdigest()[:16]
    return f"{settings.consumer_group}:relabel:{settings.es_index}:{scan}"


def page_size(max_rate: float | None) -> int:
    """Ids per page: `PAGE`, or about a second's worth under `--max-rate`."""
    return PAGE if not max_rate else max(1, min(PAGE, int(max_rate)))


def queue_items(
    settings: Settings,
    es: Elasticsearch,
    redis: Redis,
    target: dict[str, str],
    scope: Scope,
    max_rate: float | None = None,
    progress: bool = True,
    producer: KafkaProducer | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ScanResult:
    """Queue an item for every document in `scope` not on `target`, resuming a killed scan (see the module)."""
    key = checkpoint_key(settings, target, scope)
    state = {_text(k): _text(v) for k, v in redis.hgetall(key).items()}
    resumed = state.get("after") if state.get("done") != "1" else None
    before = int(state.get("queued", 0)) if resumed else 0
    redis.hset(key, mapping={"target": json.dumps(target), "scope": scope.key(), "done": "0", "queued": before})
    if not resumed:
        redis.hdel(key, "after")
    own = producer is None
    if producer is None:
        from streamproc.connections import kafka_python_options

        producer = KafkaProducer(**kafka_python_options(settings), acks="all", linger_ms=20, retries=5)
    after, queued, size = resumed, 0, page_size(max_rate)
    started = time.monotonic()
    total = count(es, settings.es_index, pending_query(scope, target, after))
    try:
        with tqdm(total=total, desc=f"queueing on {settings.topic_relabel}", unit=" doc", disable=not progress) as bar:
            while ids := pending_page(es, settings.es_index, pending_query(scope, target, after), size):
                futures = []
                for doc_id in ids:
                    if max_rate:
                        ahead = started + queued / max_rate - time.monotonic()
                        if ahead > 0:
                            sleep(ahead)
                    item_key, value = WorkItem(doc_id, target).encode()
                    futures.append(producer.send(settings.topic_relabel, key=item_key, value=value))
                    queued += 1
                for future in futures:
                    future.get(timeout=60)  # confirmed by Kafka before the checkpoint moves past them
                after = ids[-1]
                redis.hset(key, mapping={"after": after, "queued": before + queued})
                bar.update(len(ids))
        redis.hset(key, "done", "1")
    finally:
        if own:
            producer.close()
    return ScanResult(queued, before, resumed)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
