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
