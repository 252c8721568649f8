"""The main job, end to end on one machine: stack -> models -> publish samples -> worker -> summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options, redis_client
from streamproc.errors import UserError
from streamproc.ingest.article import Article
from streamproc.ingest.validate import parse_article
from streamproc.plugins import training
from streamproc.publish.publisher import publish
from streamproc.publish.reader import read_records
from streamproc.redact import redact
from streamproc.review.desk import ReviewDesk
from streamproc.stack.up import bring_up
from streamproc.worker.lag import LagMonitor

SAMPLES = Path(__file__).with_name("sample_articles.jsonl")
WORKER_TIMEOUT = 900.0
# The demo's audit sample: 30 % of its 135 articles (about 40) give an accuracy interval of ±12-15 points; a
# newsroom's stream needs far less than 1 % for ±3 points (`streamproc quality` says how many labels it takes).
DEMO_AUDIT_SHARE = 0.3


def run_main_job(settings: Settings, samples: Path | None, console: Console) -> None:
    """Run every step, saying what it does, and print where each article went."""
    samples = samples or SAMPLES
    records = list(read_records(str(samples)))
    valid_ids = [
        a.id for a in (parse_article(r, settings.max_article_bytes) for r in records) if isinstance(a, Article)
    ]

    console.rule("1/6 local stack")
    for line in bring_up(settings):
        console.print(f"  {line}")

    console.rule("2/6 models")
    _ensure_models(settings, console)

    console.rule(f"3/6 publishing {len(records)} records from {samples.name}")
    start = _end_offsets(settings)
    summary = publish(settings, records, send_invalid=True)
    console.print(f"  sent {summary.sent} records ({sum(summary.rejected.values())} invalid on purpose)")

    console.rule("4/6 worker")
    run_worker_until_done(settings, console)

    console.rule("5/6 where everything went")
    _print_summary(settings, valid_ids, start, console)

    console.rule("6/6 how often the labels are right: the audit sample, reviewed blind")
    _audit(settings, samples, console)


def _ensure_models(settings: Settings, console: Console) -> None:
    if settings.task_model_dirs or settings.multitask_model_dir:
        console.print("  using the configured model folders")
        return
    console.print(f"  default model: {training().ensure_default_models(settings, console.print)}")


def _end_offsets(settings: Settings) -> dict[int, int]:
    monitor = LagMonitor(settings)
    try:
        return monitor.progress().end
    finally:
        monitor.close()


def run_worker_until_done(settings: Settings, console: Console) -> None:
    log_path = settings.stack_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"  starting `streamproc worker` (log: {log_path})")
    monitor = LagMonitor(settings)
    try:
        initial_lag = monitor.progress().lag
        with log_path.open("ab") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streamproc", "worker"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        try:
            _wait_until_drained(monitor, worker, initial_lag, log_path)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
    finally:
        monitor.close()
    console.print("  every record acknowledged; worker stopped")


def _wait_until_drained(monitor: LagMonitor, worker: subprocess.Popen[bytes], initial_lag: int, log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_TIMEOUT
    with tqdm(total=initial_lag, desc="  processed", unit=" rec") as bar:
        while (lag := monitor.progress().lag) > 0:
            bar.n = initial_lag - lag
            bar.refresh()
            if worker.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise UserError(f"the worker stopped (exit {worker.returncode}): {' '.join(tail)} — see {log_path}")
            if time.monotonic() > deadline:
                raise UserError(f"records still unprocessed after {WORKER_TIMEOUT:.0f}s — see {log_path}")
            time.sleep(1.0)
        bar.n = initial_lag
        bar.refresh()


def _print_summary(settings: Settings, ids: list[str], start: dict[int, int], console: Console) -> None:
    es = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        query = {"ids": {"values": ids}}
        indexed = es.count(index=settings.es_index, query=query)["count"]
        tasks = settings.tasks
        aggs = {task.name: {"terms": {"field": f"{task.name}.label", "size": len(task.labels)}} for task in tasks}
        first, *rest = tasks
        if rest:  # the first task broken down by the second, as in Kibana's first chart
            second = rest[0]
            aggs[first.name]["aggs"] = {second.name: {"terms": {"field": f"{second.name}.label", "size": 50}}}
        aggs["stories"] = {"terms": {"field": "story_id", "size": max(len(ids), 1)}}
        response = es.search(index=settings.es_index, query=query, aggs=aggs, size=0)
    finally:
        es.close()
    desk = ReviewDesk(redis_client(settings), settings.review_key_prefix, settings.tasks)
    try:
        queued = len(desk.waiting_among(ids))
    finally:
        desk.client.close()
    dead = _dead_letters_since(settings, start)

    table = Table("where", "count", "find it at")
    table.add_row("indexed in Elasticsearch", str(indexed), f"{redact(settings.es_url)}/{settings.es_index}")
    stories = len(response["aggregations"]["stories"]["buckets"])
    table.add_row("stories (near-duplicate copies counted once)", str(stories), "Elasticsearch field story_id")
    where = f"Redis {desk.keys.pending} (`streamproc review`)"
    table.add_row("queued for review (one item a story)", str(queued), where)
    table.add_row("dead-lettered", str(sum(dead.values())), f"Kafka topic {settings.topic_deadletter}")
    console.print(table)
    if dead:
        console.print("dead-letter reasons: " + ", ".join(f"{reason} {n}" for reason, n in dead.most_common()))
    _print_labels(response["aggregations"], settings, console)
    if indexed != len(ids):
        raise UserError(f"only {indexed} of {len(ids)} valid articles are in Elasticsearch")


def _print_labels(aggregations: dict, settings: Settings, console: Console) -> None:
    """The first task by the second (a table), and how often each label of the other tasks was given."""
    first, *rest = settings.tasks
    buckets = aggregations[first.name]["buckets"]
    if rest:
        second = rest[0]
        columns = second.label_names
        title = f"articles by {first.name} and {second.name} (from Elasticsearch)"
        breakdown = Table(first.name, *columns, "total", title=title)
        for bucket in buckets:
            counts = {b["key"]: b["doc_count"] for b in bucket[second.name]["buckets"]}
            breakdown.add_row(bucket["key"], *(str(counts.get(c, 0)) for c in columns), str(bucket["doc_count"]))
        console.print(breakdown)
    for task in rest[1:]:
        counts = {b["key"]: b["doc_count"] for b in aggregations[task.name]["buckets"]}
        shown = ", ".join(f"{label} {counts[label]}" for label in task.label_names if label in counts)
        console.print(f"{task.name}: {shown or 'no head yet (reviews teach it: `streamproc retrain`)'}", markup=False)


def _audit(settings: Settings, samples: Path, console: Console) -> None:
    """The scripted reviewer answers the audit sample from what is known of the samples; `quality` reports."""
    from streamproc.cli.quality import print_report
    from streamproc.demo.reviewer import known_labels, scripted_review
    from streamproc.quality.audit_report import audit_labels, quality_report
    from streamproc.review.service import ReviewService

    if not settings.audit_share:
        console.print("  no audit sample (STREAMPROC_AUDIT_SHARE is unset)")
        return
    truth, _ = known_labels(samples, settings.max_article_bytes)
    service = ReviewService.from_settings(settings)
    try:
        labelled, _ = scripted_review(service, truth, audit_only=True)
        decisions, tail = service.desk.decisions(), service.desk.stats()["agreement"]
    finally:
        service.close()
    console.print(
        f"  audit sample: {settings.audit_share:.0%} of the articles, chosen by a hash of their id (the demo's "
        f"setting; off unless STREAMPROC_AUDIT_SHARE is set); {len(labelled)} labelled blind by the scripted "
        "reviewer (topic from the URL section, emotion from sample_emotions.tsv)"
    )
    report = quality_report(audit_labels(decisions, settings.tasks), settings.tasks)
    report["uncertain_tail_agreement"] = tail
    if report["tasks"]:
        print_report(report, detail=False)
    console.print("  the same any time: `streamproc quality` (and `--out DIR` for JSON and a reliability diagram)")


def _dead_letters_since(settings: Settings, start: dict[int, int]) -> Counter[str]:
    """Reasons of the dead letters whose source record was published by this run."""
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        consumer_timeout_ms=3000,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    topic = settings.topic_deadletter
    reasons: Counter[str] = Counter()
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
        for message in consumer:
            envelope = json.loads(message.value)
            source = envelope["source"]
            if source["topic"] == settings.topic_raw and source["offset"] >= start.get(source["partition"], 0):
                reasons[envelope["reason"]] += 1
    finally:
        consumer.close()
    return reasons
