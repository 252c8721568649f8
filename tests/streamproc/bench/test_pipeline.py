"""`streamproc bench pipeline` runs end to end on a tiny model and reports every figure (no timing asserts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_pipeline_bench_runs_and_reports(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "result" / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    env["STREAMPROC_DATA_DIR"] = str(tmp_path / "no-data")  # synthetic articles: the test needs no shared data
    env["COLUMNS"] = "200"  # wide tables: a narrow terminal would wrap the row names
    command = [sys.executable, "-m", "streamproc", "bench", "pipeline", "--model-dir", str(tiny_model_dir)]
    command += ["--n", "24", "--batch-size", "8", "--repeats", "1", "--loads", "0.5", "--latency-seconds", "1"]
    command += ["--naive-n", "4", "--length", "article", "--threads", "1", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for heading in ("raw model (ceiling)", "pipeline, end to end", "naive", "p99 ms", "peak RSS", "idle CPU"):
        assert heading in done.stdout
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    for setup in ("raw_model", "pipeline", "naive"):
        assert result[setup]["articles_per_second"] > 0
    pipe = result["pipeline"]
    assert all(int(size) <= 8 for size in pipe["batch_sizes"])  # the worker ran with the bench's batch size
    assert sum(int(size) * count for size, count in pipe["batch_sizes"].items()) >= 24  # every article passed
    (latency,) = pipe["latency"]
    assert latency["n"] >= 16 and 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"]
    assert pipe["peak_rss_mb"] > 50
    assert "event-loop" in pipe["cpu_seconds_by_thread"]  # the worker named its threads
    assert result["naive"]["articles"] == 4
    assert set(result["ratios"]) == {"pipeline_vs_raw", "pipeline_vs_naive", "raw_cpu_vs_pipeline_cpu_per_article"}
    assert result["raw_model"]["cpu_ms_per_article"] > 0 and pipe["cpu_ms_per_article"] > 0


def _bench(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    env["STREAMPROC_DATA_DIR"] = str(tmp_path / "no-data")
    env["COLUMNS"] = "250"
    command = [sys.executable, "-m", "streamproc", "bench", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)


def test_null_model_ceiling_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "ceiling.json"
    done = _bench(
        ["pipeline", "--null-model", "--n", "40", "--repeats", "1", "--batch-size", "8", "--json", str(out)], tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "null model (stand-in, no inference)" in done.stdout and "ES bulk alone" in done.stdout
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    for length in ("article", "headline"):
        row = result[length]
        assert row["n"] == 40 and row["articles_per_second"] > 0
        assert row["elasticsearch_bulk_alone"]["documents_per_second"] > 0
        assert row["worker_seconds_in"]["elasticsearch"] > 0  # the worker wrote every pass to Elasticsearch
    assert set(result["targets"]) == {
        "null-model pipeline >= 1,000 articles/s",
        "null-model pipeline >= 5,000 headlines/s",
    }


def test_threads_bench_runs_every_configuration(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "threads.json"
    args = ["threads", "--model-dir", str(tiny_model_dir), "--threads", "1", "--processes", "1,2", "--n", "16"]
    done = _bench([*args, "--repeats", "1", "--batch-size", "8", "--length", "headline", "--json", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    assert set(result["pipeline"]) == {"1 threads x 1 processes", "1 threads x 2 processes"}
    assert all(row["articles_per_second"] > 0 and row["vs_best_raw"] > 0 for row in result["pipeline"].values())
    assert result["raw_model"]["1"]["articles_per_second"] > 0 and "(best)" in done.stdout


def test_relabel_bench_runs_and_reports(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "relabel.json"
    args = ["relabel", "--model-dir", str(tiny_model_dir), "--n", "48", "--batch-size", "8"]
    done = _bench([*args, "--baseline-seconds", "2", "--json", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    assert result["target"] == {"topic": "tiny-3", "sentiment": "tiny-3"}
    assert result["alone"]["n"] == 48 and result["alone"]["articles_per_second"] > 0
    machine = result["alone"]["machine_cpu_seconds"]
    assert set(machine) == {"worker", "bench (scan)", "others", "idle"} and machine["worker"] > 0
    assert "CPU seconds during the relabel alone" in done.stdout
    live = result["with_live"]
    assert live["relabel_articles_per_second"] > 0 and live["during"]["n"] > 0 and live["baseline"]["n"] > 0
    assert live["live_lag"]["samples"] and result["ratios"]["relabel_vs_raw"] > 0
    assert len(result["targets"]) == 2 and "relabel beside live" in done.stdout
