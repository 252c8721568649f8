"""`streamproc bench pipeline`: raw model (the ceiling) vs the real pipeline vs a naive consumer, one run.

Order: the raw model in this process; then a private local stack and a real worker process (capacity with a
full topic, idle CPU, publish -> indexed latency at steady offered loads); then the naive consumer.
Latency is measured from the publisher's clock at send to the document's `processed_at` (set as the batch's
documents are built, just before the Elasticsearch bulk of a few ms), both on this machine.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from kafka import KafkaProducer
from tqdm import tqdm

from streamproc.bench.articles import Length, bench_article, bench_texts
from streamproc.bench.completion import wait_consumed
from streamproc.bench.naive import run_naive_consumer
from streamproc.bench.procstat import cpu_by_group, peak_rss_mb, process_cpu, thread_cpu
from streamproc.bench.stack import BenchStack, WorkerProcess, stack_overrides
from streamproc.config import Settings, load_settings
from streamproc.connections import elasticsearch_client, kafka_python_options
from streamproc.inference.classify import classify
from streamproc.inference.loader import load_pipeline_predictor

BATCH_LINE = re.compile(r"batch of (\d+):")


@dataclass
class BenchOptions:
    """What to run; the defaults finish in a few minutes on 2 CPU cores."""

    model_dir: Path
    data_dir: Path
    n: int = 256
    length: Length = "headline"
    batch_size: int = 32
    batch_max_wait: float = 0.5
    device: str = "auto"
    threads: int | None = None
    max_tokens: int = 256
    repeats: int = 2
    loads: tuple[float, ...] = (0.5, 0.9)
    latency_seconds: float = 12.0
    naive_n: int = 48
    worker_env: dict[str, str] = field(default_factory=dict)

    def overrides(self) -> dict[str, object]:
        """Settings shared by the raw model, the worker and the naive consumer."""
        return {
            "multitask_model_dir": self.model_dir,
            "batch_size": self.batch_size,
            "batch_max_wait": self.batch_max_wait,
            "device": self.device,
            "torch_threads": self.threads,
            "max_tokens": self.max_tokens,
            "data_dir": self.data_dir,
            **self.worker_env,
        }


def run_pipeline_bench(options: BenchOptions) -> dict:
    """Every figure of the benchmark as one JSON-ready dict."""
    texts = bench_texts(options.data_dir, options.n, options.length)
    result: dict = {"options": _options_json(options), "started": datetime.now().isoformat(timespec="seconds")}
    result["raw_model"] = raw_model(options, texts)
    with tempfile.TemporaryDirectory(prefix="streamproc-bench-") as work:
        overrides = {**stack_overrides(Path(work)), **options.overrides()}
        stack = BenchStack(overrides)
        stack.up()
        try:
            result["pipeline"] = _pipeline(options, stack.settings, overrides, texts, Path(work))
            result["naive"] = _naive(options, stack.settings, texts)
        finally:
            stack.down()
    raw, pipe, naive = (result[k]["articles_per_second"] for k in ("raw_model", "pipeline", "naive"))
    result["ratios"] = {
        "pipeline_vs_raw": round(pipe / raw, 3),
        "pipeline_vs_naive": round(pipe / naive, 2),
        "raw_cpu_vs_pipeline_cpu_per_article": round(
            result["raw_model"]["cpu_ms_per_article"] / result["pipeline"]["cpu_ms_per_article"], 3
        ),
    }
    result["targets"] = _targets(options, result)
    return result


def _options_json(options: BenchOptions) -> dict:
    values = {key: getattr(options, key) for key in options.__dataclass_fields__}
    return json.loads(json.dumps(values, default=str))


def raw_model(options: BenchOptions, texts: list[tuple[str, str]]) -> dict:
    """`classify` on batches of `batch_size`, in this process, as the worker calls it (median of repeats)."""
    settings = load_settings(**options.overrides())
    predictor = load_pipeline_predictor(settings)
    joined = [_text(pair) for pair in texts]
    batches = [joined[i : i + options.batch_size] for i in range(0, len(joined), options.batch_size)]
    tasks, reviewed = settings.tasks.names, settings.tasks.reviewed
    classify(predictor, batches[0], settings.uncertainty_strategy, tasks, reviewed)  # warm-up
    seconds, per_batch, cpu_started = [], [], time.process_time()
    for _ in tqdm(range(options.repeats), desc="raw model", unit=" pass", leave=False):
        started = time.perf_counter()
        for batch in batches:
            tick = time.perf_counter()
            classify(predictor, batch, settings.uncertainty_strategy, tasks, reviewed)
            per_batch.append(time.perf_counter() - tick)
        seconds.append(time.perf_counter() - started)
    del predictor
    return {
        "seconds": [round(s, 3) for s in seconds],
        "articles_per_second": round(len(joined) / statistics.median(seconds), 2),
        "batch_seconds_median": round(statistics.median(per_batch), 4),
        # CPU time is what contention on a loaded machine distorts least: compare it with the pipeline's
        "cpu_ms_per_article": round(1000 * (time.process_time() - cpu_started) / (len(joined) * options.repeats), 2),
        "torch_threads": torch.get_num_threads(),
    }


def _text(pair: tuple[str, str]) -> str:
    title, body = pair
    return f"{title}\n{body}" if body else title


class Publisher:
    """Publishes bench articles and waits until Elasticsearch holds them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = KafkaProducer(**kafka_python_options(settings), acks=1, linger_ms=0)
        self.es = elasticsearch_client(settings)
        self.sent = 0

    def send(self, pairs: list[tuple[str, str]], prefix: str, stamp: bool = False, topic: str | None = None) -> None:
        for i, (title, body) in enumerate(pairs):
            article = bench_article(title, body, f"{prefix}-{i:06d}", time.time() if stamp else None)
            self.producer.send(topic or self.settings.topic_raw, key=article["id"].encode(), value=_encode(article))
        if topic is None:
            self.sent += len(pairs)

    def paced(self, pairs: list[tuple[str, str]], prefix: str, rate: float) -> None:
        """Send one article every 1/rate seconds, each stamped with its send time."""
        started = time.perf_counter()
        for i, pair in enumerate(pairs):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.send([pair], f"{prefix}-{i:06d}", stamp=True)
            self.producer.flush()

    def wait_indexed(self, timeout: float = 900.0) -> float:
        """Block until the index holds every article sent so far; returns when that was seen
        (`streamproc.bench.completion`: the worker group's offsets first, then the index once)."""
        self.producer.flush()
        return wait_consumed(self.settings, self.settings.topic_raw, lambda: self._count() >= self.sent, timeout)

    def wait_indexed_ids(self, prefix: str, n: int, timeout: float = 900.0) -> float:
        """Block until the index holds `n` articles whose id starts with `prefix-`; returns when that was seen."""
        self.producer.flush()
        query = {"prefix": {"id": f"{prefix}-"}}
        return wait_consumed(self.settings, self.settings.topic_raw, lambda: self._count(query) >= n, timeout)

    def _count(self, query: dict | None = None) -> int:
        self.es.indices.refresh(index=self.settings.es_index)
        return int(self.es.count(index=self.settings.es_index, query=query)["count"])

    def latencies(self, prefix: str, n: int) -> list[float]:
        """Seconds from publish to the document being built, for the `n` stamped articles of `paced(prefix)`."""
        ids = [f"{prefix}-{i:06d}-000000" for i in range(n)]
        fields = ["processed_at", "extra"]
        query = {"ids": {"values": ids}}
        hits = self.es.search(index=self.settings.es_index, size=n, query=query, source_includes=fields)["hits"]["hits"]
        sources = [hit["_source"] for hit in hits]
        return [datetime.fromisoformat(s["processed_at"]).timestamp() - s["extra"]["bench_sent_at"] for s in sources]

    def close(self) -> None:
        self.producer.close()
        self.es.close()


def _encode(article: dict) -> bytes:
    return json.dumps(article, ensure_ascii=False).encode("utf-8")


def _pipeline(
    options: BenchOptions, settings: Settings, overrides: dict, texts: list[tuple[str, str]], work: Path
) -> dict:
    worker = WorkerProcess(overrides, work / "worker.log")
    publisher = Publisher(settings)
    worker.start()
    try:
        publisher.send(texts[: options.batch_size], "warmup")
        publisher.wait_indexed()
        capacity: list[float] = []
        worker_cpu: list[float] = []
        cpu: dict[str, float] = {}
        batch_sizes: Counter[int] = Counter()
        for rep in tqdm(range(options.repeats), desc="pipeline capacity", unit=" pass", leave=False):
            log_start, before = len(worker.log()), thread_cpu(worker.pid)
            started = time.perf_counter()
            publisher.send(texts, f"cap{rep}")
            seconds = publisher.wait_indexed() - started
            capacity.append(seconds)
            after = thread_cpu(worker.pid)
            worker_cpu.append(sum(c for _, c in after.values()) - sum(c for _, c in before.values()))
            if rep == 0:
                cpu = cpu_by_group(before, after)
                cpu["wall_seconds"] = round(seconds, 2)
            batch_sizes.update(_logged_batches(worker, log_start, len(texts)))
        rate = len(texts) / statistics.median(capacity)
        idle = _idle_cpu(worker.pid)
        latency = []
        for load in options.loads:
            offered = load * rate
            count = max(int(offered * options.latency_seconds), 2 * options.batch_size)
            prefix = f"load{int(load * 100)}"
            publisher.paced([texts[i % len(texts)] for i in range(count)], prefix, offered)
            publisher.wait_indexed()
            delays = publisher.latencies(prefix, count)
            latency.append({"load": load, "offered_per_second": round(offered, 2), **percentiles(delays)})
        return {
            "seconds": [round(s, 3) for s in capacity],
            "articles_per_second": round(rate, 2),
            "cpu_ms_per_article": round(1000 * sum(worker_cpu) / (len(texts) * len(worker_cpu)), 2),
            "batch_sizes": dict(sorted(batch_sizes.items())),
            "cpu_seconds_by_thread": cpu,
            "idle_cpu_percent_of_a_core": idle,
            "latency": latency,
            "peak_rss_mb": peak_rss_mb(worker.pid),
        }
    finally:
        publisher.close()
        worker.stop()


def _logged_batches(worker: WorkerProcess, log_start: int, articles: int, timeout: float = 30.0) -> list[int]:
    """Sizes of the batches the worker logged since `log_start`, once they cover `articles`.

    A batch's line is written when its commit sequence ends, a moment after its documents became searchable.
    """
    deadline = time.monotonic() + timeout
    while True:
        sizes = [int(m) for m in BATCH_LINE.findall(worker.log()[log_start:])]
        if sum(sizes) >= articles or time.monotonic() > deadline:
            return sizes
        time.sleep(0.05)


def _idle_cpu(pid: int, seconds: float = 5.0) -> float:
    """CPU the worker uses with nothing to do, in % of one core."""
    time.sleep(1.0)
    before = process_cpu(pid)
    time.sleep(seconds)
    return round(100 * (process_cpu(pid) - before) / seconds, 1)


def percentiles(seconds: list[float]) -> dict:
    values = np.array(seconds)
    return {
        "n": len(values),
        **{f"p{q}_ms": round(float(np.percentile(values, q)) * 1000, 1) for q in (50, 95, 99)},
    }


def _naive(options: BenchOptions, settings: Settings, texts: list[tuple[str, str]]) -> dict:
    topic = f"{settings.topic_raw}.naive"
    publisher = Publisher(settings)
    try:
        publisher.send(texts[: options.naive_n], "naive", topic=topic)
        publisher.producer.flush()
    finally:
        publisher.close()
    return run_naive_consumer(
        settings, options.model_dir, topic, min(options.naive_n, len(texts)), options.device, settings.review_threshold
    )


def _targets(options: BenchOptions, result: dict) -> dict:
    """The issue's targets, each with the measured value and whether it was met."""
    pipe = result["pipeline"]
    half = next((row for row in pipe["latency"] if row["load"] == 0.5), None)
    budget_ms = 1000 * (options.batch_max_wait + 2 * result["raw_model"]["batch_seconds_median"])
    targets = {
        "pipeline >= 0.9x raw model": result["ratios"]["pipeline_vs_raw"] >= 0.9,
        "pipeline >= 5x naive": result["ratios"]["pipeline_vs_naive"] >= 5,
        "peak RSS <= 2 GB": pipe["peak_rss_mb"] <= 2048,
        "idle worker < 5% of a core": pipe["idle_cpu_percent_of_a_core"] < 5,
    }
    if half is not None:
        targets[f"p99 at 50% load <= {budget_ms:.0f} ms"] = half["p99_ms"] <= budget_ms
    return targets
