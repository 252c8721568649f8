"""The worker's watch on the whole group: lag, stalled partitions, review-queue depth; `/metrics` and `/health`.

Every `check_interval` seconds a thread reads the group's committed offsets and the topic's end offsets
(without joining the group), feeds the stall detector, updates the gauges and logs a partition once when it
stalls and once when it moves again. The worker's web server (`web_host:web_port`, loopback by default)
answers `/metrics` (Prometheus) and `/health` (JSON; HTTP 503 while a partition is stalled), and HTTP 400 to
a request whose `Host` is not one of the worker's names (`host_check`; DNS rebinding, `streamproc.hosts`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust
from aiohttp import web
from faust.web import Request, Response, View

from streamproc import metrics
from streamproc.config import Settings
from streamproc.connections import redis_client
from streamproc.hosts import REFUSED, host_allowed
from streamproc.quality.audit_report import audit_accuracy, audit_labels
from streamproc.review.queue import ReviewKeys
from streamproc.worker.lag import LagMonitor
from streamproc.worker.stall import PartitionState, StallDetector

log = logging.getLogger(__name__)
READ_TIMEOUT = 10.0  # seconds one read of the group's offsets may wait for the broker
AUDIT_INTERVAL = 60.0  # seconds between two readings of the audit sample's decisions (the accuracy metric)


def check_interval(settings: Settings) -> float:
    """How often the worker looks at the group: a quarter of the stall window, between 0.5 and 10 seconds."""
    return max(0.5, min(10.0, settings.stall_after / 4))


class GroupWatch:
    """Periodic, blocking checks of the group (run in their own thread)."""

    def __init__(self, settings: Settings, assigned: Callable[[], set[int] | None] | None = None) -> None:
        self.settings = settings
        self.assigned = assigned  # the partitions of the raw topic this worker holds, when known
        self.detector = StallDetector(settings.stall_after)
        self.stalled: list[PartitionState] = []
        self.checked = False
        self._lag: LagMonitor | None = None
        self._reported: set[int] = set()
        self._kafka_failed = False
        self._next_audit = 0.0

    def check(self) -> None:
        """Read the group's progress and the review-queue depth once; update metrics and log changes."""
        self._check_lag()
        self._check_review_queue()

    def _check_lag(self) -> None:
        topic = self.settings.topic_raw
        try:
            if self._lag is None:
                self._lag = LagMonitor(self.settings, timeout=READ_TIMEOUT)
            progress = self._lag.progress()
        except Exception as exc:
            if not self._kafka_failed:
                log.warning("cannot read the group's offsets (%s); lag and stall checks paused", type(exc).__name__)
            self._kafka_failed = True
            self._close_lag()
            return
        if self._kafka_failed:
            log.info("reading the group's offsets again")
        self._kafka_failed = False
        self.stalled = self.detector.observe(progress)
        self.checked = True
        lags = {state.partition: state.lag for state in self.detector.states.values()}
        metrics.observe_partitions(topic, lags, {state.partition for state in self.stalled})
        now_stalled = {s.partition for s in self.stalled}
        for state in self.stalled:
            if state.partition not in self._reported:
                log.warning(
                    "partition %s[%d] stalled: lag %d, committed offset %d unchanged for %.0fs; %s",
                    topic,
                    state.partition,
                    state.lag,
                    state.committed,
                    state.unchanged_for,
                    self._hint(state.partition),
                )
        for partition in sorted(self._reported - now_stalled):
            log.info("partition %s[%d] is moving again (or has no lag)", topic, partition)
        self._reported = now_stalled

    def _hint(self, partition: int) -> str:
        mine = self.assigned() if self.assigned is not None else None
        if mine is not None and partition in mine:
            return "this worker holds it: is a sink down or the worker hung?"
        return (
            "no live member is moving it (a killed worker, or another worker whose sink is down): the local "
            "broker keeps a killed worker's partitions until a worker with the same STREAMPROC_WORKER_INSTANCE_ID "
            "starts again; real Kafka moves them after STREAMPROC_KAFKA_SESSION_TIMEOUT"
        )

    def _check_review_queue(self) -> None:
        client = redis_client(self.settings)
        keys = ReviewKeys.for_prefix(self.settings.review_key_prefix)
        try:
            metrics.REVIEW_DEPTH.set(int(client.zcard(keys.pending)) + int(client.zcard(keys.sample)))
            if time.monotonic() >= self._next_audit:
                self._next_audit = time.monotonic() + AUDIT_INTERVAL
                decisions = {str(k): json.loads(v) for k, v in client.hgetall(keys.reviewed).items()}
                metrics.observe_audit(audit_accuracy(audit_labels(decisions, self.settings.tasks)))
        except Exception as exc:
            log.debug("cannot read the review queue: %s", type(exc).__name__)
        finally:
            client.close()

    def health(self) -> tuple[dict[str, Any], int]:
        """The `/health` answer and its HTTP status (503 while a partition is stalled)."""
        status = "stalled" if self.stalled else ("ok" if self.checked else "starting")
        body = {
            "status": status,
            "topic": self.settings.topic_raw,
            "stall_after_seconds": self.settings.stall_after,
            "lag": {str(s.partition): s.lag for s in self.detector.states.values()},
            "stalled": [
                {"partition": s.partition, "lag": s.lag, "committed": s.committed, "unchanged_for": s.unchanged_for}
                for s in self.stalled
            ],
        }
        return body, 503 if self.stalled else 200

    def _close_lag(self) -> None:
        if self._lag is not None:
            try:
                self._lag.close()
            except Exception:
                log.debug("closing the lag reader failed", exc_info=True)
            self._lag = None


def install_monitoring(app: faust.App, settings: Settings) -> GroupWatch:
    """Add the periodic group check and the `/metrics` and `/health` pages to a Faust app."""
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="monitor")
    watch = GroupWatch(settings, assigned=lambda: _assigned_partitions(app, settings.topic_raw))

    @app.timer(check_interval(settings))
    async def check_group_progress() -> None:
        # Faust awaits one tick before it schedules the next, so slow checks never pile up.
        await asyncio.get_running_loop().run_in_executor(thread, watch.check)

    @app.page("/metrics")
    async def metrics_page(self: View, request: Request) -> Response:
        payload, content_type = metrics.exposition()
        return self.bytes(payload, headers={"Content-Type": content_type})

    @app.page("/health")
    async def health_page(self: View, request: Request) -> Response:
        body, status = watch.health()
        return self.json(body, status=status)

    return watch


AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def host_check(names: frozenset[str]) -> Callable[[web.Request, AiohttpHandler], Awaitable[web.StreamResponse]]:
    """An aiohttp middleware for the worker's web server (Faust's `web_application_options`): HTTP 400 for a
    request whose `Host` is not one of `names`, on every page (`/health`, `/metrics` and Faust's own)."""

    @web.middleware
    async def check_host(request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), names):
            return web.Response(status=400, text=REFUSED)
        return await handler(request)

    return check_host


def _assigned_partitions(app: faust.App, topic: str) -> set[int] | None:
    try:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == topic}
    except Exception:
        return None
