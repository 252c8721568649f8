"""Prometheus metrics of a worker, served at `/metrics` on its web server (`web_host:web_port`).

The series live in prometheus_client's default registry (with its process and Python collectors); the
pipeline updates them through the small functions below, so the code that does the work stays readable.
This module imports nothing of the pipeline: the sinks, the worker and the monitor all report here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, Info, generate_latest

SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

CONSUMER_LAG = Gauge(
    "streamproc_consumer_lag",
    "Records written to a partition and not yet acknowledged by the group",
    ["topic", "partition"],
)
PARTITION_STALLED = Gauge(
    "streamproc_partition_stalled",
    "1 while the partition has lag and its committed offset has not moved for stall_after seconds",
    ["topic", "partition"],
)
STALLED_PARTITIONS = Gauge("streamproc_stalled_partitions", "Partitions with lag that no live member is moving")
RECORDS = Counter("streamproc_records_processed", "Records handled by this worker (indexed or dead-lettered)")
BATCHES = Counter("streamproc_batches_processed", "Micro-batches handled by this worker")
INDEXED = Counter("streamproc_articles_indexed", "Enriched articles confirmed by Elasticsearch")
BATCH_SIZE = Histogram(
    "streamproc_batch_size_records", "Records per micro-batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
)
BATCH_SECONDS = Histogram(
    "streamproc_batch_duration_seconds", "One micro-batch from validation to the last sink", buckets=SECONDS_BUCKETS
)
INFERENCE_SECONDS = Histogram(
    "streamproc_inference_duration_seconds", "One call of the models on a list of texts", buckets=SECONDS_BUCKETS
)
SINK_SECONDS = Histogram(
    "streamproc_sink_duration_seconds",
    "One successful sink call (attempts that failed are not included)",
    ["sink"],
    buckets=SECONDS_BUCKETS,
)
SINK_RETRIES = Counter("streamproc_sink_retries", "Failed sink calls that were retried", ["sink"])
DEAD_LETTERS = Counter("streamproc_dead_letters", "Records refused, by reason", ["reason"])
REVIEW_QUEUED = Counter("streamproc_review_queued", "Articles newly put on the review queue by this worker")
REVIEW_DEPTH = Gauge("streamproc_review_queue_depth", "Articles waiting on the review queue (all workers)")
RELABELED = Counter(
    "streamproc_relabel_documents",
    "Stored documents a relabel batch handled, by outcome (relabeled, current, missing, conflict, failed)",
    ["outcome"],
)
RELABEL_CHANGED = Counter("streamproc_relabel_label_changes", "Relabeled documents whose label changed", ["task"])
RELABEL_PAUSED = Gauge("streamproc_relabel_paused", "1 while relabeling waits for the live group's lag to come down")
RELABEL_PAUSED_SECONDS = Counter("streamproc_relabel_paused_seconds", "Seconds relabeling waited for live traffic")
MODEL = Info("streamproc_model", "Model version per task in use by this worker")
AUDIT_ACCURACY = Gauge(
    "streamproc_audit_accuracy",
    "Share of the audit sample's blind reviews that agree with the model's label",
    ["task", "model_version"],
)
AUDIT_LABELS = Gauge(
    "streamproc_audit_labels", "Audit-sample reviews behind streamproc_audit_accuracy", ["task", "model_version"]
)
LABEL_SHARE = Gauge(
    "streamproc_label_share", "Share of each predicted label in this worker's last full window", ["task", "label"]
)
LABEL_DRIFT = Gauge(
    "streamproc_label_drift", "Population stability index of the last window's label mix vs the reference", ["task"]
)
LABEL_UNCERTAINTY = Gauge("streamproc_label_uncertainty", "Mean uncertainty of the last full window", ["task"])


def exposition() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def set_model_versions(versions: Mapping[str, str]) -> None:
    """Publish the model versions in use (call again after switching models)."""
    MODEL.info({task: str(version) for task, version in versions.items()})


def observe_batch(records: int, indexed: int, queued: int, dead_letter_reasons: Iterable[str], seconds: float) -> None:
    """Count one processed batch."""
    BATCHES.inc()
    RECORDS.inc(records)
    BATCH_SIZE.observe(records)
    BATCH_SECONDS.observe(seconds)
    INDEXED.inc(indexed)
    REVIEW_QUEUED.inc(queued)
    for reason in dead_letter_reasons:
        DEAD_LETTERS.labels(reason).inc()


def observe_relabel(outcomes: Mapping[str, int], changed: Mapping[str, int]) -> None:
    """Count one relabel batch: documents per outcome, label changes per task."""
    for outcome, count in outcomes.items():
        RELABELED.labels(outcome).inc(count)
    for task, count in changed.items():
        RELABEL_CHANGED.labels(task).inc(count)


@contextmanager
def inference_timer() -> Iterator[None]:
    """Time one call of the models."""
    with INFERENCE_SECONDS.time():
        yield


def observe_sink_call(sink: str, started: float, failed: bool) -> None:
    """Record one sink attempt that began at `started` (`time.perf_counter()`)."""
    if failed:
        SINK_RETRIES.labels(sink).inc()
    else:
        SINK_SECONDS.labels(sink).observe(time.perf_counter() - started)


def observe_label_mix(
    task: str, labels: list[str], shares: Mapping[str, float], psi: float, uncertainty: float
) -> None:
    """One task's full window: each label's share (0 for labels not given), its drift index, mean uncertainty."""
    for label in sorted(set(labels) | set(shares)):
        LABEL_SHARE.labels(task, label).set(shares.get(label, 0.0))
    LABEL_DRIFT.labels(task).set(psi)
    LABEL_UNCERTAINTY.labels(task).set(uncertainty)


def observe_audit(accuracy: Mapping[tuple[str, str], tuple[float, int]]) -> None:
    """(task, model version) -> (accuracy, audit labels) of the audit sample's blind reviews."""
    for (task, version), (value, n) in accuracy.items():
        AUDIT_ACCURACY.labels(task, version).set(value)
        AUDIT_LABELS.labels(task, version).set(n)


def observe_partitions(topic: str, lags: Mapping[int, int], stalled: set[int]) -> None:
    """Lag (partition -> records) and stall state of every partition of `topic`."""
    for partition, lag in lags.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        PARTITION_STALLED.labels(topic, str(partition)).set(1 if partition in stalled else 0)
    STALLED_PARTITIONS.set(len(stalled))
