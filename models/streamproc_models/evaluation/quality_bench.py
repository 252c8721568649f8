"""`streamproc bench quality`: the audit estimate against the truth, and how fast a label-mix drift shows.

A labelled set (by default `topic_ko_articles/val.tsv`: title, body, label) is published as articles to a private
local stack and processed by a real worker with the serving model and an audit sample of `--audit-share` (10 %).
A scripted reviewer answers every queued article from the set's labels: the audit sample blind, the uncertain
ones as reviewers see them. Then, per audit share of 1 %, 5 % and 10 % (the samples nest: an id under 1 % is
under 5 %), the audit estimate of accuracy and its interval are set against the true accuracy on the whole
stream, next to the agreement on the uncertain articles (the bias the audit removes). Because one stream of a
few hundred articles gives one small sample per share, the estimate is also drawn 2,000 times with other hash
salts: how often its interval covers the truth, and how wide it is.

Finally `--drift-articles` articles of one label only (the set's training articles of `--drift-label`) are
published, and the articles and seconds until the worker's WARNING and the `streamproc_label_drift` metric
fire are measured (the drift window is `--drift-window`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import numpy as np
from tqdm import tqdm

from streamproc.bench.stack import BenchStack, WorkerProcess, stack_overrides
from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, redis_client
from streamproc.publish.publisher import publish
from streamproc.quality.estimates import wilson
from streamproc.review.audit import in_audit_sample
from streamproc.review.desk import ReviewDesk

SHARES = (0.01, 0.05, 0.10)
DRAWS = 2000


@dataclass(frozen=True)
class QualityBenchOptions:
    """What the benchmark streams and how."""

    model_dir: Path
    data: Path
    task: str
    audit_share: float
    drift_label: str
    drift_articles: int
    drift_window: int
    threshold: float


def run_quality_bench(options: QualityBenchOptions, work: Path) -> dict[str, Any]:
    """Every figure of the benchmark as one JSON-ready dict."""
    rows = _articles(options.data)
    overrides: dict[str, object] = {
        **stack_overrides(work),
        "multitask_model_dir": options.model_dir,
        "audit_share": options.audit_share,
        "drift_window": options.drift_window,
        "review_threshold": options.threshold,
        "batch_max_wait": 0.2,
    }
    stack = BenchStack(overrides)
    stack.up()
    worker = WorkerProcess(overrides, work / "worker.log")
    try:
        worker.start()
        settings = stack.settings
        publish(settings, [json.dumps(article, ensure_ascii=False).encode() for article, _ in rows], progress=True)
        _wait_indexed(settings, len(rows))
        truth = {article["id"]: label for article, label in rows}
        predicted = _predicted(settings, options.task, list(truth))
        reviewed = _review(settings, options.task, truth)
        result = {
            "stream": {"articles": len(rows), "task": options.task, "data": str(options.data)},
            "true_accuracy": _accuracy(predicted, truth),
            "audit": _audit_estimates(predicted, truth, reviewed["audit"]),
            "uncertain_tail": reviewed["tail"],
            "drift": _drift(settings, worker, options, work),
        }
    finally:
        worker.stop()
        stack.down()
    return result


def _articles(path: Path) -> list[tuple[dict[str, Any], str]]:
    """The set's rows as articles (title + body when the file has them, else the text as the title)."""
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        out = []
        for n, row in enumerate(reader):
            title = row.get("title") or row.get("text") or ""
            body = row.get("body") or ""
            article = {"id": f"q-{n:05d}", "title": title, "body": body, "published_at": "2026-11-20T09:00:00+09:00"}
            out.append((article, row["label"]))
    return out


def _wait_indexed(settings: Settings, count: int, timeout: float = 3600.0) -> None:
    es = elasticsearch_client(settings)
    deadline = time.monotonic() + timeout
    try:
        with tqdm(total=count, desc="indexed", unit=" art") as bar:
            while True:
                es.indices.refresh(index=settings.es_index)
                done = int(es.count(index=settings.es_index)["count"])
                bar.n = done
                bar.refresh()
                if done >= count or time.monotonic() > deadline:
                    return
                time.sleep(1.0)
    finally:
        es.close()


def _predicted(settings: Settings, task: str, ids: list[str]) -> dict[str, str]:
    es = elasticsearch_client(settings)
    try:
        hits = es.search(index=settings.es_index, query={"ids": {"values": ids}}, size=len(ids))["hits"]["hits"]
    finally:
        es.close()
    return {hit["_id"]: hit["_source"][task]["label"] for hit in hits}


def _review(settings: Settings, task: str, truth: dict[str, str]) -> dict[str, Any]:
    """Answer every queued article from the truth; returns the audit ids and the tail's agreement."""
    client = redis_client(settings)
    desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
    audit: list[str] = []
    tail_right = tail = 0
    try:
        while items := desk.claim("bench", 50):
            for item in items:
                desk.label(item.id, "bench", {task: truth[item.id]})
                if item.audit:
                    audit.append(item.id)
                else:
                    tail += 1
                    tail_right += int(item.model_label(task) == truth[item.id])
    finally:
        client.close()
    return {
        "audit": audit,
        "tail": {"n": tail, "agreement": round(tail_right / tail, 4) if tail else None},
    }


def _accuracy(predicted: dict[str, str], truth: dict[str, str]) -> dict[str, Any]:
    right = sum(predicted[i] == truth[i] for i in truth)
    return {"n": len(truth), "accuracy": round(right / len(truth), 4)}


def _audit_estimates(predicted: dict[str, str], truth: dict[str, str], audited: list[str]) -> list[dict[str, Any]]:
    """Per share: the pipeline's own sample, and 2,000 other samples of that share drawn with other salts."""
    true = sum(predicted[i] == truth[i] for i in truth) / len(truth)
    ids = list(truth)
    hit = np.array([predicted[i] == truth[i] for i in ids])
    rng = np.random.default_rng(0)
    out = []
    for share in SHARES:
        own = [i for i in audited if in_audit_sample(i, share)]
        right = sum(predicted[i] == truth[i] for i in own)
        estimate = wilson(right, len(own)).as_dict() if own else None
        covered = widths = errors = 0.0
        draws = 0
        for _ in range(DRAWS):
            salt = rng.bytes(8)
            pick = np.array([_uniform(salt, i) < share for i in ids])
            if not pick.any():
                continue
            interval = wilson(int(hit[pick].sum()), int(pick.sum()))
            covered += interval.low <= true <= interval.high
            widths += (interval.high - interval.low) / 2
            errors += abs(interval.value - true)
            draws += 1
        out.append(
            {
                "share": share,
                "pipeline_sample": {"n": len(own), "accuracy": estimate},
                "resampled": {
                    "draws": draws,
                    "coverage_of_95_percent_interval": round(covered / draws, 3) if draws else None,
                    "mean_half_width": round(widths / draws, 4) if draws else None,
                    "mean_absolute_error": round(errors / draws, 4) if draws else None,
                    "mean_n": round(share * len(ids), 1),
                },
            }
        )
    return out


def _uniform(salt: bytes, doc_id: str) -> float:
    return int.from_bytes(hashlib.sha256(salt + doc_id.encode()).digest()[:8], "big") / 2**64


def _drift(settings: Settings, worker: WorkerProcess, options: QualityBenchOptions, work: Path) -> dict[str, Any]:
    """Publish one label only; articles and seconds until the WARNING and the metric show it."""
    train = options.data.with_name("train.tsv")
    rows = [(a, label) for a, label in _articles(train) if label == options.drift_label]
    if not rows:
        return {"skipped": f"no {options.drift_label} rows in {train}"}
    articles = [rows[i % len(rows)][0] | {"id": f"drift-{i:05d}"} for i in range(options.drift_articles)]
    log_start = len(worker.log())
    started = time.monotonic()
    es = elasticsearch_client(settings)
    before = int(es.count(index=settings.es_index)["count"])
    publish(settings, [json.dumps(a, ensure_ascii=False).encode() for a in articles], progress=False)
    warned_after = metric_after = None
    indexed_at_warning = None
    deadline = started + 600
    while time.monotonic() < deadline and (warned_after is None or metric_after is None):
        if warned_after is None and "label mix of" in worker.log()[log_start:]:
            warned_after = time.monotonic() - started
            es.indices.refresh(index=settings.es_index)
            indexed_at_warning = int(es.count(index=settings.es_index)["count"]) - before
        if metric_after is None and _metric(settings, options.task) >= settings.drift_alert:
            metric_after = time.monotonic() - started
        time.sleep(0.2)
    es.close()
    line = next((x for x in worker.log()[log_start:].splitlines() if "label mix of" in x), None)
    return {
        "label": options.drift_label,
        "window": options.drift_window,
        "published": len(articles),
        "seconds_to_warning": round(warned_after, 1) if warned_after is not None else None,
        "seconds_to_metric": round(metric_after, 1) if metric_after is not None else None,
        "drift_articles_indexed_at_warning": indexed_at_warning,
        "warning": line,
    }


def _metric(settings: Settings, task: str) -> float:
    with urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5) as answer:
        for raw in answer.read().decode().splitlines():
            if raw.startswith(f'streamproc_label_drift{{task="{task}"}}'):
                return float(raw.rsplit(" ", 1)[1])
    return 0.0


def quality_plot(result: dict[str, Any], path: Path) -> Path:
    """The audit estimates per share against the true accuracy (and the tail's agreement)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    true = result["true_accuracy"]["accuracy"]
    ax.axhline(true, color="black", label=f"true accuracy on the stream ({true:.3f})")
    tail = result["uncertain_tail"]["agreement"]
    if tail is not None:
        ax.axhline(tail, color="tab:red", linestyle="--", label=f"agreement on the uncertain tail ({tail:.3f})")
    for k, row in enumerate(result["audit"]):
        own = row["pipeline_sample"]["accuracy"]
        if own:
            ax.errorbar(
                k, own["value"], yerr=[[own["value"] - own["low"]], [own["high"] - own["value"]]], fmt="o", capsize=4
            )
        half = row["resampled"]["mean_half_width"]
        if half:  # the mean width around the truth, cut to what an accuracy can be
            low, high = max(0.0, true - half), min(1.0, true + half)
            ax.bar(k, high - low, bottom=low, width=0.4, alpha=0.2, color="tab:blue")
    labels = [f"{row['share']:.0%} (n={row['pipeline_sample']['n']})" for row in result["audit"]]
    ax.set_xticks(range(len(labels)), labels)
    ax.set(
        title="audit estimate, 95 % interval (bars: mean width of 2,000 samples)",
        ylabel="accuracy",
        ylim=(0, 1.02),
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
