"""`streamproc bench relabel`: relabeling measured against the raw model, alone and beside live traffic.

In one run on a private local stack with a real worker and the model under test:

1. the raw model (`classify` on batches, in this process: the ceiling);
2. **relabel alone**: N stored articles, written straight to the index as if an older version (`archive-1`) had
   labeled them, are queued by the relabel scan; the figure is articles/s from the scan's start until every one
   is on the served version;
3. **relabel beside live traffic**: the pipeline's live capacity is measured, then live articles are published at
   `--live-load` of it (half by default), first alone for a baseline of the publish -> processed latency, then
   while N more stored articles (`archive-2`) are relabeled; reported: the live latency percentiles with and
   without the relabel, the live group's lag over time (sampled every 0.25 s), the relabel's rate under load,
   and how long it waited for live traffic. The stated bound: with relabel, the live p99 stays within the
   baseline p99 plus one relabel chunk's inference (the most a live batch waits in the worker's inference
   thread, `streamproc.worker.priority`).

The stored articles of steps 2 and 3 are the benchmark's texts with stand-in labels (the null model's), so no
time is spent labeling them first; what is measured is reading them back, the model, and the updates.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.table import Table

from streamproc.bench.articles import Length, bench_article, bench_texts
from streamproc.bench.completion import wait_consumed
from streamproc.bench.null_model import NullPredictor
from streamproc.bench.pipeline import BenchOptions, Publisher, percentiles, raw_model
from streamproc.bench.procstat import cpu_by_group, cpu_split, machine_cpu, process_cpu, thread_cpu
from streamproc.bench.stack import BenchStack, WorkerProcess, stack_overrides
from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client, elasticsearch_client, redis_client
from streamproc.inference.classify import classify
from streamproc.inference.predictor import resolve_device
from streamproc.inference.versions import serving_versions
from streamproc.ingest.records import Rejection, SourcePosition
from streamproc.ingest.validate import parse_article
from streamproc.relabel.scan import queue_items
from streamproc.relabel.scope import Scope, count, pending_query
from streamproc.sinks.document import enriched_article
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink
from streamproc.worker.lag import LagMonitor


@dataclass
class RelabelBenchOptions:
    """What to run; the issue's figure is N = 5,000."""

    model_dir: Path
    data_dir: Path
    n: int = 5000
    length: Length = "headline"
    batch_size: int = 32
    batch_max_wait: float = 0.5
    device: str = "auto"
    threads: int | None = None
    max_tokens: int = 256
    live_load: float = 0.5
    baseline_seconds: float = 20.0
    worker_env: dict[str, str] = field(default_factory=dict)

    def overrides(self) -> dict[str, object]:
        """Settings of the worker (and of the raw model)."""
        return {
            "multitask_model_dir": self.model_dir,
            "batch_size": self.batch_size,
            "batch_max_wait": self.batch_max_wait,
            "device": self.device,
            "torch_threads": self.threads,
            "max_tokens": self.max_tokens,
            "data_dir": self.data_dir,
            "model_poll_seconds": 1.0,
            **self.worker_env,
        }


def run_relabel_bench(options: RelabelBenchOptions) -> dict:
    """Every figure as one JSON-ready dict."""
    texts = bench_texts(options.data_dir, options.n, options.length)
    result: dict = {
        "options": json.loads(json.dumps(options.__dict__, default=str)),
        "started": datetime.now().isoformat(timespec="seconds"),
    }
    raw_options = BenchOptions(
        model_dir=options.model_dir,
        data_dir=options.data_dir,
        n=min(options.n, 512),
        length=options.length,
        batch_size=options.batch_size,
        device=options.device,
        threads=options.threads,
        max_tokens=options.max_tokens,
    )
    result["raw_model"] = raw_model(raw_options, texts[: raw_options.n])
    with tempfile.TemporaryDirectory(prefix="streamproc-bench-relabel-") as work:
        overrides = {**stack_overrides(Path(work)), **options.overrides()}
        stack = BenchStack(overrides)
        stack.up()
        settings = stack.settings
        worker = WorkerProcess(overrides, Path(work) / "worker.log")
        try:
            worker.start()
            target = serving_versions(settings)
            result["target"] = target
            result["relabel_chunk"] = settings.relabel_chunk(resolve_device(settings.device).type)
            result["alone"] = _alone(settings, worker, texts, target)
            result["with_live"] = _with_live(options, settings, texts, target)
            result["worker_log_pauses"] = worker.log().count("relabel paused")
        finally:
            worker.stop()
            stack.down()
    raw = result["raw_model"]["articles_per_second"]
    alone = result["alone"]["articles_per_second"]
    live = result["with_live"]
    per_text_ms = 1000 * result["raw_model"]["batch_seconds_median"] / options.batch_size
    chunk_inference_ms = per_text_ms * result["relabel_chunk"]
    bound = live["baseline"]["p99_ms"] + chunk_inference_ms
    result["ratios"] = {"relabel_vs_raw": round(alone / raw, 3)}
    result["live_bound_ms"] = round(bound, 1)
    result["targets"] = {
        "relabel >= 0.9x raw model": alone / raw >= 0.9,
        f"live p99 during relabel <= baseline p99 + one relabel chunk ({bound:.0f} ms)": live["during"]["p99_ms"]
        <= bound,
    }
    return result


def _archive(settings: Settings, texts: list[tuple[str, str]], prefix: str, version: str) -> None:
    """Store the texts as documents an older version (`version`) labeled: stand-in labels, the worker's shape."""
    stand_in = NullPredictor(settings.tasks)
    versions = {task: version for task in stand_in.versions}
    documents = []
    for i, (title, body) in enumerate(texts):
        article = parse_article(json.dumps(bench_article(title, body, f"{prefix}-{i:06d}")).encode(), 1 << 20)
        if isinstance(article, Rejection):
            raise RuntimeError(f"a benchmark article was refused: {article.error}")
        [answer] = classify(stand_in, [article.text], "margin", settings.tasks.names, settings.tasks.reviewed)
        position = SourcePosition(settings.topic_raw, 0, i)
        documents.append(enriched_article(article, answer, versions, 0.9, position, settings.tasks).worker_fields())

    async def store() -> None:
        sink = ElasticsearchSink(async_elasticsearch_client(settings), settings.es_index)
        try:
            for start in range(0, len(documents), 500):
                refused = await sink.index_batch(documents[start : start + 500])
                if refused:
                    raise RuntimeError(f"the stand-in index refused archive documents: {refused}")
        finally:
            await sink.close()

    asyncio.run(store())


def _relabel(settings: Settings, target: dict[str, str], query: str) -> float:
    """Queue the relabel of the documents matching `query`; seconds until every one is on the target."""
    es, redis = elasticsearch_client(settings), redis_client(settings)
    scope = Scope(query=query)
    try:
        es.indices.refresh(index=settings.es_index)
        started = time.perf_counter()
        queue_items(settings, es, redis, target, scope, progress=False)

        def none_pending() -> bool:
            es.indices.refresh(index=settings.es_index)
            return count(es, settings.es_index, pending_query(scope, target)) == 0

        return wait_consumed(settings, settings.topic_relabel, none_pending) - started
    finally:
        es.close()
        redis.close()


def _alone(settings: Settings, worker: WorkerProcess, texts: list, target: dict[str, str]) -> dict:
    _archive(settings, texts, "archive1", "archive-1")

    def snapshot() -> tuple[tuple[float, float], dict[str, float]]:
        return machine_cpu(), {"worker": process_cpu(worker.pid), "bench (scan)": process_cpu(os.getpid())}

    before, machine_before = thread_cpu(worker.pid), snapshot()
    seconds = _relabel(settings, target, '{"prefix": {"id": "archive1-"}}')
    machine = cpu_split(machine_before, snapshot())
    cpu = cpu_by_group(before, thread_cpu(worker.pid))
    return {
        "n": len(texts),
        "seconds": round(seconds, 2),
        "articles_per_second": round(len(texts) / seconds, 2),
        "cpu_seconds_by_thread": cpu,
        "cpu_ms_per_article": round(1000 * sum(cpu.values()) / len(texts), 2),
        # where the machine's CPU went: on one machine the local servers share the cores with the worker
        "machine_cpu_seconds": machine,
    }


class _Pacer(threading.Thread):
    """Publishes live articles at a steady rate, each stamped with its send time, until stopped."""

    def __init__(self, settings: Settings, texts: list, prefix: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.publisher, self.texts, self.prefix, self.rate = Publisher(settings), texts, prefix, rate
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        started = time.perf_counter()
        while not self.stop.is_set():
            delay = started + self.sent / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pair = self.texts[self.sent % len(self.texts)]
            self.publisher.send([pair], f"{self.prefix}-{self.sent:06d}", stamp=True)
            self.publisher.producer.flush()
            self.sent += 1

    def finish(self) -> list[float]:
        """Stop, wait until every live article is indexed, and return their publish -> processed seconds."""
        self.stop.set()
        self.join()
        try:
            self.publisher.wait_indexed_ids(self.prefix, self.sent)  # (ids "<prefix>-<n>-000000")
            return self.publisher.latencies(self.prefix, self.sent)
        finally:
            self.publisher.close()


def _with_live(
    options: RelabelBenchOptions, settings: Settings, texts: list[tuple[str, str]], target: dict[str, str]
) -> dict:
    publisher = Publisher(settings)
    try:  # the live path's capacity on a full topic
        k = min(len(texts), max(8 * options.batch_size, 256))
        started = time.perf_counter()
        publisher.send(texts[:k], "capacity")
        capacity = k / (publisher.wait_indexed_ids("capacity", k) - started)
    finally:
        publisher.close()
    rate = options.live_load * capacity
    baseline = _Pacer(settings, texts, "base", rate)
    baseline.start()
    time.sleep(options.baseline_seconds)
    alone_latency = baseline.finish()
    _archive(settings, texts, "archive2", "archive-2")
    pacer = _Pacer(settings, texts, "live", rate)
    lags: list[tuple[float, int]] = []
    sampling = threading.Event()

    def sample() -> None:
        monitor = LagMonitor(settings, timeout=10)
        t0 = time.perf_counter()
        try:
            while not sampling.is_set():
                lags.append((round(time.perf_counter() - t0, 2), monitor.progress().lag))
                time.sleep(0.25)
        finally:
            monitor.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    pacer.start()
    seconds = _relabel(settings, target, '{"prefix": {"id": "archive2-"}}')
    during = pacer.finish()
    sampling.set()
    sampler.join()
    lag_values = [lag for _, lag in lags] or [0]
    return {
        "live_capacity_per_second": round(capacity, 2),
        "live_offered_per_second": round(rate, 2),
        "baseline": percentiles(alone_latency),
        "during": {**percentiles(during), "max_ms": round(1000 * max(during), 1)},
        "relabel_seconds": round(seconds, 2),
        "relabel_articles_per_second": round(len(texts) / seconds, 2),
        "live_lag": {"max": max(lag_values), "p99": float(np.percentile(lag_values, 99)), "samples": lags},
    }


def relabel_tables(result: dict) -> list[Table]:
    """Throughput and live latency, a table each."""
    raw = result["raw_model"]["articles_per_second"]
    speed = Table("setup", "articles/s", "vs raw model", title="relabel (stored articles -> the served version)")
    speed.add_row("raw model (ceiling)", f"{raw:.1f}", "1.00")
    alone = result["alone"]["articles_per_second"]
    speed.add_row("relabel alone", f"{alone:.1f}", f"{alone / raw:.2f}")
    live = result["with_live"]
    under = live["relabel_articles_per_second"]
    speed.add_row(
        f"relabel beside live at {live['live_offered_per_second']:.1f}/s", f"{under:.1f}", f"{under / raw:.2f}"
    )
    machine = result["alone"]["machine_cpu_seconds"]
    speed.caption = "CPU seconds during the relabel alone: " + ", ".join(f"{k} {v:.1f}" for k, v in machine.items())
    latency = Table("live traffic", "p50 ms", "p95 ms", "p99 ms", "n", title="publish -> processed, live articles")
    for name, key in (("alone", "baseline"), ("during the relabel", "during")):
        row = live[key]
        latency.add_row(name, *(f"{row[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")), str(row["n"]))
    latency.add_row(
        "live lag during the relabel", f"max {live['live_lag']['max']}", f"p99 {live['live_lag']['p99']:.0f}", "", ""
    )
    for target, met in result["targets"].items():
        latency.add_row(f"target: {target}", "met" if met else "NOT met", "", "", "")
    return [speed, latency]


def write_relabel(result: dict, path: Path) -> tuple[Path, Path]:
    """JSON, and a PNG: the live lag over the relabel, and the live latency with and without it."""
    from matplotlib.figure import Figure  # the training extra (the command checks it first)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    live = result["with_live"]
    fig = Figure(figsize=(10, 4))
    lag_ax, lat_ax = fig.subplots(1, 2)
    samples = live["live_lag"]["samples"] or [(0, 0)]
    lag_ax.plot([t for t, _ in samples], [lag for _, lag in samples])
    lag_ax.set(
        xlabel="seconds into the relabel", ylabel="live group lag (records)", title="live lag during the relabel"
    )
    keys = ("p50_ms", "p95_ms", "p99_ms")
    x = np.arange(len(keys))
    lat_ax.bar(x - 0.2, [live["baseline"][k] for k in keys], 0.4, label="live alone")
    lat_ax.bar(x + 0.2, [live["during"][k] for k in keys], 0.4, label="during the relabel")
    lat_ax.axhline(result["live_bound_ms"], color="grey", linestyle="--", label="stated bound (p99)")
    lat_ax.set_xticks(x, [k.removesuffix("_ms") for k in keys])
    lat_ax.set(ylabel="publish -> processed (ms)", title=f"live at {live['live_offered_per_second']:.1f}/s")
    lat_ax.legend()
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=120)
    return path, png
