"""`streamproc bench cpu-path`: float32 vs int8 encoder on CPU, on every validation set of the task file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamproc.config import load_settings
from streamproc.errors import UserError

console = Console()


def register(bench_app: typer.Typer) -> None:
    """Add `cpu-path` and `quality` to `bench_app`."""
    bench_app.command("cpu-path")(bench_cpu_path)
    bench_app.command("quality")(bench_quality)


def bench_quality(
    model_dir: Annotated[Path | None, typer.Option(help="model folder; default: the configured/default model")] = None,
    data: Annotated[
        Path | None, typer.Option(help="labelled TSV to stream; default: <data_dir>/topic_ko_articles/val.tsv")
    ] = None,
    task: Annotated[str, typer.Option(help="the task the TSV's labels are for")] = "topic",
    audit_share: Annotated[float, typer.Option(min=0.01, max=1.0, help="the stream's audit sample")] = 0.10,
    threshold: Annotated[float, typer.Option(help="review threshold of the uncertain articles")] = 0.9,
    drift_label: Annotated[str, typer.Option(help="the one label of the drift injection")] = "sports",
    drift_articles: Annotated[int, typer.Option(min=0, help="articles of the drift injection")] = 300,
    drift_window: Annotated[int, typer.Option(min=20, help="the drift watch's window")] = 100,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-quality.json"),
) -> None:
    """Audit estimate vs true accuracy at 1/5/10 % audit shares, tail agreement, and time to a drift alarm."""
    import json
    import tempfile

    from streamproc_models.evaluation.quality_bench import QualityBenchOptions, quality_plot, run_quality_bench

    settings = load_settings()
    folder = Path(model_dir or settings.multitask_model_dir or settings.default_model_dir).resolve()
    if not (folder / "streamproc_model.json").is_file():
        raise UserError(f"no multi-head model in {folder}: build one with `streamproc models build-defaults`")
    source = data or Path(settings.data_dir) / "topic_ko_articles" / "val.tsv"
    if not source.is_file():
        raise UserError(f"no labelled set at {source}: pass --data or set STREAMPROC_DATA_DIR")
    options = QualityBenchOptions(
        folder, source, task, audit_share, drift_label, drift_articles, drift_window, threshold
    )
    with tempfile.TemporaryDirectory(prefix="streamproc-quality-") as work:
        result = run_quality_bench(options, Path(work))
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print_json(data=result)
    console.print(f"written: {json_out} and {quality_plot(result, json_out.with_suffix('.png'))}", markup=False)


def bench_cpu_path(
    model_dir: Annotated[Path | None, typer.Option(help="model folder; default: the configured/default model")] = None,
    max_per_set: Annotated[int, typer.Option(min=1, help="seeded sample of each validation set")] = 500,
    max_tokens: Annotated[int | None, typer.Option(help="default: STREAMPROC_MAX_TOKENS")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads; default: STREAMPROC_TORCH_THREADS")] = None,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-cpu-path.json"),
) -> None:
    """float32 vs int8 encoder on CPU: speed-up and accuracy change on every validation set, side by side."""
    import json

    from rich.table import Table

    from streamproc_models.evaluation.cpu_path import bench_cpu_path as run_bench
    from streamproc_models.evaluation.cpu_path import cpu_path_plot

    settings = load_settings()
    folder = Path(model_dir or settings.multitask_model_dir or settings.default_model_dir)
    if not (folder / "streamproc_model.json").is_file():
        raise UserError(f"no multi-head model in {folder}: build one with `streamproc models build-defaults`")
    result = run_bench(
        folder, settings.data_dir, settings.tasks, max_per_set, max_tokens or settings.max_tokens, threads
    )
    table = Table(
        "validation set",
        "task",
        "n",
        "acc f32",
        "acc int8",
        "F1 f32",
        "F1 int8",
        "agree",
        "art/s f32",
        "art/s int8",
        "speed-up",
        title=f"float32 vs int8, {result['torch_threads']} torch threads",
    )
    for row in result["sets"]:
        f32, i8 = row["float32"], row["int8"]
        table.add_row(
            row["set"],
            row["task"],
            str(row["n"]),
            f"{f32['accuracy']:.3f}",
            f"{i8['accuracy']:.3f}",
            f"{f32['macro_f1']:.3f}",
            f"{i8['macro_f1']:.3f}",
            f"{row['agreement']:.3f}",
            f"{f32['articles_per_second']:.1f}",
            f"{i8['articles_per_second']:.1f}",
            f"{row['speedup']:.2f}x",
        )
    console.print(table)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written: {json_out} and {cpu_path_plot(result, json_out.with_suffix('.png'))}")
