"""The pipeline benchmark as a table (rich), a JSON file and a PNG of latency vs offered load."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table


def summary_tables(result: dict) -> list[Table]:
    """Throughput, latency, and the worker's resources, a table each."""
    pipe = result["pipeline"]
    speed = Table("setup", "articles/s", "vs raw model", "CPU ms/article", title="throughput (same articles, model)")
    raw = result["raw_model"]["articles_per_second"]
    for name, key in (("raw model (ceiling)", "raw_model"), ("pipeline, end to end", "pipeline"), ("naive", "naive")):
        value = result[key]["articles_per_second"]
        cpu = result[key].get("cpu_ms_per_article")
        speed.add_row(name, f"{value:.1f}", f"{value / raw:.2f}", "" if cpu is None else f"{cpu:.1f}")
    title = "publish -> processed_at (bulk index right after)"
    latency = Table("offered load", "articles/s", "p50 ms", "p95 ms", "p99 ms", "n", title=title)
    for row in pipe["latency"]:
        latency.add_row(
            f"{row['load']:.0%}",
            f"{row['offered_per_second']:.1f}",
            *(f"{row[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")),
            str(row["n"]),
        )
    worker = Table("worker", "value", title="worker process")
    worker.add_row("batch sizes (size: count)", ", ".join(f"{k}: {v}" for k, v in pipe["batch_sizes"].items()))
    worker.add_row("peak RSS", f"{pipe['peak_rss_mb']:.0f} MiB")
    worker.add_row("idle CPU", f"{pipe['idle_cpu_percent_of_a_core']:.1f} % of a core")
    cpu = pipe["cpu_seconds_by_thread"]
    worker.add_row(
        f"CPU s by thread ({cpu.get('wall_seconds', 0):.1f} s wall)",
        ", ".join(f"{k}: {v}" for k, v in cpu.items() if k != "wall_seconds"),
    )
    for target, met in result["targets"].items():
        worker.add_row(f"target: {target}", "met" if met else "NOT met")
    return [speed, latency, worker]


def write_result(result: dict, json_path: Path) -> tuple[Path, Path]:
    """Write the JSON and the latency PNG beside it."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return json_path, latency_plot(result, json_path.with_suffix(".png"))


def latency_plot(result: dict, path: Path) -> Path:
    """p50/p95/p99 publish -> indexed latency against the offered load, capacity marked."""
    from matplotlib.figure import Figure  # the training extra (bench/cli.py checks it before the run)

    rows = result["pipeline"]["latency"]
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    x = [row["offered_per_second"] for row in rows]
    for key, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
        ax.plot(x, [row[key] for row in rows], style, label=key.removesuffix("_ms"))
    ax.axvline(result["pipeline"]["articles_per_second"], color="grey", alpha=0.5, label="pipeline capacity")
    options = result["options"]
    ax.set(
        xlabel="offered load (articles/s)",
        ylabel="publish -> processed_at (ms)",
        title=f"{options['length']}s, batch {options['batch_size']} within {options['batch_max_wait']} s",
    )
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
