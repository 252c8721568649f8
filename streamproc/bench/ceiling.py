"""`streamproc bench pipeline --null-model`: the pipeline's own ceiling, with a model that costs nothing.

A real worker process (`python -m streamproc.bench.null_worker`: the worker app with the stand-in predictor of
`streamproc.bench.null_model`) on a private local stack takes full articles, then headlines; the figure is
articles/s from publishing N articles to all of them being in Elasticsearch, median of the passes. The local
Elasticsearch stand-in's own bulk rate is then measured alone on the same documents (the worker's bulk
request, one per batch, one after another), since it can be the bound rather than the Python around the model.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.table import Table
from tqdm import tqdm

from streamproc.bench.articles import Length, bench_article, bench_texts
from streamproc.bench.null_model import NullPredictor
from streamproc.bench.pipeline import Publisher
from streamproc.bench.procstat import cpu_by_group, peak_rss_mb, thread_cpu
from streamproc.bench.stack import BenchStack, WorkerProcess, stack_overrides
from streamproc.config import Settings
from streamproc.connections import async_elasticsearch_client
from streamproc.inference.classify import classify
from streamproc.ingest.records import Rejection, SourcePosition
from streamproc.ingest.validate import parse_article
from streamproc.sinks.document import enriched_article
from streamproc.sinks.elasticsearch_sink import ElasticsearchSink

TARGETS = {"article": 1000.0, "headline": 5000.0}  # issue 22, on the 2-core machine


@dataclass
class CeilingOptions:
    """What to run."""

    data_dir: Path
    n: int = 4000
    batch_size: int = 32
    batch_max_wait: float = 0.5
    repeats: int = 3
    lengths: tuple[Length, ...] = ("article", "headline")
    worker_env: dict[str, str] = field(default_factory=dict)


def run_ceiling_bench(options: CeilingOptions) -> dict:
    """Every figure as one JSON-ready dict."""
    result: dict = {
        "options": json.loads(json.dumps(options.__dict__, default=str)),
        "started": datetime.now().isoformat(timespec="seconds"),
        "model": "null model (a stand-in: fixed probabilities, no inference; see streamproc/bench/null_model.py)",
    }
    with tempfile.TemporaryDirectory(prefix="streamproc-ceiling-") as work:
        overrides = {
            **stack_overrides(Path(work)),
            "batch_size": options.batch_size,
            "batch_max_wait": options.batch_max_wait,
            "data_dir": options.data_dir,
            **options.worker_env,
        }
        stack = BenchStack(overrides)
        stack.up()
        worker = WorkerProcess(overrides, Path(work) / "worker.log", module="streamproc.bench.null_worker")
        publisher: Publisher | None = None
        try:
            worker.start()
            publisher = Publisher(stack.settings)  # one for every pass: it counts what the index must hold
            for length in options.lengths:
                texts = bench_texts(options.data_dir, options.n, length)
                result[length] = _pipeline(options, publisher, worker, texts, length)
                result[length]["elasticsearch_bulk_alone"] = _bulk_alone(options, stack.settings, texts, length)
        finally:
            if publisher is not None:
                publisher.close()
            worker.stop()
            stack.down()
    result["targets"] = {
        f"null-model pipeline >= {TARGETS[length]:,.0f} {length}s/s": result[length]["articles_per_second"]
        >= TARGETS[length]
        for length in options.lengths
    }
    return result


def _pipeline(options: CeilingOptions, publisher: Publisher, worker: WorkerProcess, texts: list, length: str) -> dict:
    publisher.send(texts[: options.batch_size], f"warm-{length}")
    publisher.wait_indexed()
    seconds: list[float] = []
    cpu: dict[str, float] = {}
    sinks: dict[str, float] = {}
    for rep in tqdm(range(options.repeats), desc=f"null model, {length}s", unit=" pass", leave=False):
        before, spent, started = thread_cpu(worker.pid), worker_seconds(worker), time.perf_counter()
        publisher.send(texts, f"{length}-{rep}")
        seconds.append(publisher.wait_indexed() - started)
        if rep == 0:
            cpu = cpu_by_group(before, thread_cpu(worker.pid))
            cpu["wall_seconds"] = round(seconds[-1], 2)
            sinks = {k: round(v - spent.get(k, 0.0), 2) for k, v in worker_seconds(worker).items()}
    return {
        # seconds the worker spent in each sink's calls and in the (null) model during the first pass: a sink
        # near the wall time is the bound
        "worker_seconds_in": sinks,
        "n": len(texts),
        "seconds": [round(s, 3) for s in seconds],
        "articles_per_second": round(len(texts) / statistics.median(seconds), 1),
        "cpu_seconds_by_thread": cpu,
        "peak_rss_mb": peak_rss_mb(worker.pid),
    }


def worker_seconds(worker: WorkerProcess) -> dict[str, float]:
    """Seconds the worker spent so far in each sink's successful calls and in the models (from its `/metrics`)."""
    url = f"http://127.0.0.1:{worker.env['STREAMPROC_WEB_PORT']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("streamproc_sink_duration_seconds_sum{"):
            name = line.split('sink="', 1)[1].split('"', 1)[0]
            found[name] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("streamproc_inference_duration_seconds_sum"):
            found["model"] = float(line.rsplit(" ", 1)[1])
    return found


def _bulk_alone(options: CeilingOptions, settings: Settings, texts: list, length: str) -> dict:
    """The stand-in's bulk rate on the worker's documents for these texts, one bulk per batch, in sequence."""
    predictor = NullPredictor(settings.tasks)
    documents = []
    for i, (title, body) in enumerate(texts):
        article = parse_article(json.dumps(bench_article(title, body, f"bulk-{i:06d}")).encode(), 1 << 20)
        if isinstance(article, Rejection):
            raise RuntimeError(f"a benchmark article was refused: {article.error}")
        [answer] = classify(predictor, [article.text], "margin", settings.tasks.names, settings.tasks.reviewed)
        position = SourcePosition(settings.topic_raw, 0, i)
        document = enriched_article(article, answer, predictor.versions, 0.9, position, settings.tasks)
        documents.append(document.worker_fields())
    index = f"{settings.es_index}-bulk-{length}"  # matches the template's `<index>-*`

    async def run() -> list[float]:
        sink = ElasticsearchSink(async_elasticsearch_client(settings), index)
        passes = []
        try:
            for rep in range(options.repeats):
                docs = [{**doc, "id": f"{doc['id']}-{rep}"} for doc in documents]
                started = time.perf_counter()
                for start in range(0, len(docs), options.batch_size):
                    await sink.index_batch(docs[start : start + options.batch_size])
                passes.append(time.perf_counter() - started)
        finally:
            await sink.close()
        return passes

    seconds = asyncio.run(run())
    return {
        "seconds": [round(s, 3) for s in seconds],
        "documents_per_second": round(len(documents) / statistics.median(seconds), 1),
        "batch_size": options.batch_size,
    }


def ceiling_tables(result: dict) -> Table:
    """The figures as a rich table."""
    table = Table(
        "texts",
        "pipeline articles/s",
        "ES bulk alone docs/s",
        "pipeline / bulk",
        "worker s in sinks / model (first pass)",
        "worker CPU s by thread (first pass)",
        title="null model (stand-in, no inference): the pipeline's own ceiling",
    )
    for length in ("article", "headline"):
        if length not in result:
            continue
        row = result[length]
        bulk = row["elasticsearch_bulk_alone"]["documents_per_second"]
        cpu = ", ".join(f"{k}: {v}" for k, v in row["cpu_seconds_by_thread"].items())
        spent = ", ".join(f"{k}: {v}" for k, v in row["worker_seconds_in"].items() if v >= 0.01)
        rate = row["articles_per_second"]
        table.add_row(f"{length}s", f"{rate:,.0f}", f"{bulk:,.0f}", f"{rate / bulk:.2f}", spent, cpu)
    for target, met in result["targets"].items():
        table.add_row(f"target: {target}", "met" if met else "NOT met", "", "", "", "")
    return table


def write_ceiling(result: dict, path: Path) -> tuple[Path, Path]:
    """JSON, and a PNG of the pipeline's rate next to the stand-in's bulk rate per kind of text."""
    from matplotlib.figure import Figure  # the training extra (the command checks it first)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    lengths = [length for length in ("article", "headline") if length in result]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    x = range(len(lengths))
    ax.bar([i - 0.2 for i in x], [result[k]["articles_per_second"] for k in lengths], 0.4, label="pipeline")
    bulk = [result[k]["elasticsearch_bulk_alone"]["documents_per_second"] for k in lengths]
    ax.bar([i + 0.2 for i in x], bulk, 0.4, label="Elasticsearch stand-in bulk alone")
    ax.scatter(list(x), [TARGETS[k] for k in lengths], marker="_", s=800, color="black", label="target")
    ax.set_xticks(list(x), [f"{k}s" for k in lengths])
    ax.set(ylabel="per second", title="null model: the pipeline without inference")
    ax.legend()
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=120)
    return path, png
