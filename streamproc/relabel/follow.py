"""Follow a relabel while the workers do it: documents still not on the target, with the queues' lags."""

from __future__ import annotations

import time
from collections.abc import Callable

from elasticsearch import Elasticsearch
from tqdm import tqdm

from streamproc.config import Settings
from streamproc.relabel.scope import Scope, count, pending_query
from streamproc.worker.lag import LagMonitor

POLL_SECONDS = 1.0
IDLE_POLLS = 5  # polls with nothing queued and nothing moving before the rest is reported as left over


def follow(
    settings: Settings,
    es: Elasticsearch,
    scope: Scope,
    target: dict[str, str],
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Show a progress bar (with ETA) until every document in scope is on the target, or nothing is queued any
    more and the count stopped moving; return the documents still not on the target."""
    query = pending_query(scope, target)
    es.indices.refresh(index=settings.es_index)
    start = count(es, settings.es_index, query)
    queue, live = LagMonitor(settings, topic=settings.topic_relabel, timeout=10), LagMonitor(settings, timeout=10)
    idle, last = 0, start
    try:
        with tqdm(total=start, desc="relabeled", unit=" doc", disable=not progress) as bar:
            while True:
                es.indices.refresh(index=settings.es_index)
                remaining = count(es, settings.es_index, query)
                queued, live_lag = queue.progress().lag, live.progress().lag
                bar.update(max(0, start - remaining - bar.n))
                bar.set_postfix(queued=queued, live_lag=live_lag, refresh=False)
                if remaining == 0:
                    return 0
                idle = idle + 1 if queued == 0 and remaining == last else 0
                if idle >= IDLE_POLLS:
                    return remaining
                last = remaining
                sleep(POLL_SECONDS)
    finally:
        queue.close()
        live.close()
