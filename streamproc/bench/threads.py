"""`streamproc bench threads`: inference threads and worker processes measured, to choose the defaults.

In one run on the same articles and model: the raw model (`classify` on batches, in this process) at every
thread count, then the pipeline end to end (publish N articles to a fresh topic, until all are in Elasticsearch)
for every (threads, processes) pair, each worker process with that many inference threads. Passes are
interleaved (every configuration once per round, the order turned each round) so that a slow spell of the
machine is spread over all of them; each configuration's figure is the median of its rounds. Every pass has
its own topic, consumer group and index, so no pass inherits another's partitions or lag.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.table import Table
from tqdm import tqdm

from streamproc.bench.articles import Length, bench_texts
from streamproc.bench.pipeline import Publisher
from streamproc.bench.stack import BenchStack, WorkerProcess, free_port, stack_overrides
from streamproc.config import load_settings
from streamproc.inference.threads import usable_cores
from streamproc.stack.provision import create_index, create_topics


@dataclass
class ThreadsOptions:
    """What to measure."""

    model_dir: Path
    data_dir: Path
    n: int = 96
    length: Length = "article"
    batch_size: int = 32
    batch_max_wait: float = 0.5
    device: str = "cpu"
    threads: tuple[int, ...] = (1, 2)
    processes: tuple[int, ...] = (1, 2)
    repeats: int = 3
    worker_env: dict[str, str] = field(default_factory=dict)

    def configs(self) -> list[tuple[int, int]]:
        """(threads per process, processes) pairs."""
        return [(t, p) for p in self.processes for t in self.threads]


def run_threads_bench(options: ThreadsOptions) -> dict:
    """Every figure as one JSON-ready dict."""
    texts = bench_texts(options.data_dir, options.n, options.length)
    result: dict = {
        "options": json.loads(json.dumps(options.__dict__, default=str)),
        "started": datetime.now().isoformat(timespec="seconds"),
        "usable_cores": usable_cores(),
        "raw_model": _raw(options, texts),
    }
    result["pipeline"] = _pipelines(options, texts)
    best_raw = max(row["articles_per_second"] for row in result["raw_model"].values())
    for row in result["pipeline"].values():
        row["vs_best_raw"] = round(row["articles_per_second"] / best_raw, 3)
    result["best_raw_articles_per_second"] = best_raw
    result["best_pipeline"] = max(result["pipeline"], key=lambda k: result["pipeline"][k]["articles_per_second"])
    return result


def _raw(options: ThreadsOptions, texts: list[tuple[str, str]]) -> dict:
    """The raw model at each thread count, rounds interleaved; articles/s is the median of the rounds."""
    from streamproc.inference.classify import classify
    from streamproc.inference.loader import load_pipeline_predictor
    from streamproc.inference.threads import apply_inference_threads

    settings = load_settings(
        multitask_model_dir=options.model_dir,
        device=options.device,
        batch_size=options.batch_size,
        data_dir=options.data_dir,
    )
    predictor = load_pipeline_predictor(settings)
    joined = [f"{title}\n{body}" if body else title for title, body in texts]
    batches = [joined[i : i + options.batch_size] for i in range(0, len(joined), options.batch_size)]
    tasks, reviewed = settings.tasks.names, settings.tasks.reviewed
    classify(predictor, batches[0], settings.uncertainty_strategy, tasks, reviewed)  # warm-up
    seconds: dict[int, list[float]] = {t: [] for t in options.threads}
    for rep in tqdm(range(options.repeats), desc="raw model", unit=" round", leave=False):
        order = (
            list(options.threads)[rep % len(options.threads) :] + list(options.threads)[: rep % len(options.threads)]
        )
        for threads in order:
            apply_inference_threads(threads)
            started = time.perf_counter()
            for batch in batches:
                classify(predictor, batch, settings.uncertainty_strategy, tasks, reviewed)
            seconds[threads].append(time.perf_counter() - started)
    return {
        str(t): {
            "seconds": [round(s, 3) for s in runs],
            "articles_per_second": round(len(texts) / statistics.median(runs), 2),
        }
        for t, runs in seconds.items()
    }


def _pipelines(options: ThreadsOptions, texts: list[tuple[str, str]]) -> dict:
    configs = options.configs()
    seconds: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="streamproc-threads-") as work:
        base = {
            **stack_overrides(Path(work)),
            "multitask_model_dir": options.model_dir,
            "batch_size": options.batch_size,
            "batch_max_wait": options.batch_max_wait,
            "device": options.device,
            "data_dir": options.data_dir,
            "topic_partitions": max(4, max(options.processes)),
            **options.worker_env,
        }
        stack = BenchStack(base)
        stack.up()
        try:
            passes = 0
            with tqdm(total=options.repeats * len(configs), desc="pipeline", unit=" pass", leave=False) as bar:
                for rep in range(options.repeats):
                    shift = rep % len(configs)
                    for threads, processes in configs[shift:] + configs[:shift]:
                        passes += 1
                        run = _one_pass(base, Path(work), passes, threads, processes, options, texts)
                        seconds[(threads, processes)].append(run)
                        bar.update(1)
        finally:
            stack.down()
    return {
        f"{t} threads x {p} processes": {
            "threads": t,
            "processes": p,
            "seconds": [round(s, 3) for s in runs],
            "articles_per_second": round(len(texts) / statistics.median(runs), 2),
        }
        for (t, p), runs in seconds.items()
    }


def _one_pass(
    base: dict, work: Path, k: int, threads: int, processes: int, options: ThreadsOptions, texts: list
) -> float:
    """Seconds for the workers of one configuration to take `texts` end to end (after a warm-up batch)."""
    overrides = {
        **base,
        "topic_raw": f"threads.raw.{k}",
        "topic_deadletter": f"threads.deadletter.{k}",
        "topic_relabel": f"threads.relabel.{k}",
        "consumer_group": f"threads-{k}",
        "es_index": f"threads-news-{k}",
        "torch_threads": threads,
    }
    settings = load_settings(**overrides)
    create_topics(settings)
    create_index(settings)
    workers = [
        WorkerProcess(
            {**overrides, "worker_instance_id": f"w{i}", "web_port": free_port()}, work / f"pass-{k}-worker-{i}.log"
        )
        for i in range(processes)
    ]
    publisher = Publisher(settings)
    try:
        for worker in workers:
            worker.start()
        publisher.send(texts[: options.batch_size * processes], "warmup")
        publisher.wait_indexed()
        started = time.perf_counter()
        publisher.send(texts, "pass")
        return publisher.wait_indexed() - started
    finally:
        publisher.close()
        for worker in workers:
            worker.stop()


def threads_table(result: dict) -> Table:
    """The pipeline per configuration against the best raw rate."""
    raw = result["raw_model"]
    table = Table(
        "threads x processes",
        "pipeline articles/s",
        "vs best raw",
        "raw at these threads",
        title=f"{result['options']['length']}s, {result['usable_cores']} usable cores; best raw "
        f"{result['best_raw_articles_per_second']:.1f}/s",
    )
    for name, row in result["pipeline"].items():
        raw_rate = raw.get(str(row["threads"]), {}).get("articles_per_second")
        best = " (best)" if name == result["best_pipeline"] else ""
        table.add_row(
            name + best,
            f"{row['articles_per_second']:.2f}",
            f"{row['vs_best_raw']:.2f}",
            "" if raw_rate is None else f"{raw_rate:.2f}",
        )
    return table


def write_threads(result: dict, path: Path) -> tuple[Path, Path]:
    """JSON and a PNG (pipeline per configuration, best raw as a line)."""
    from matplotlib.figure import Figure  # the training extra (the command checks it first)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    names = list(result["pipeline"])
    fig = Figure(figsize=(max(5, 1.4 * len(names)), 4))
    ax = fig.subplots()
    ax.bar(range(len(names)), [result["pipeline"][n]["articles_per_second"] for n in names])
    best = result["best_raw_articles_per_second"]
    ax.axhline(best, color="grey", linestyle="--", label="best raw model")
    ax.axhline(0.9 * best, color="grey", linestyle=":", label="0.9 x best raw")
    ax.set_xticks(range(len(names)), [n.replace(" x ", "\nx ") for n in names])
    ax.set(ylabel="articles/s end to end", title=f"threads and processes, {result['options']['length']}s")
    ax.legend()
    fig.tight_layout()
    png = path.with_suffix(".png")
    fig.savefig(png, dpi=120)
    return path, png
