"""`streamproc bench cpu-path | quality | duplicates`: float32 vs int8 encoder on CPU, the audit estimate, and the
near-duplicate story index's recall and false merges (these read the shared data sets)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streamproc.config import load_settings
from streamproc.errors import UserError

console = Console()


def register(bench_app: typer.Typer) -> None:
    """Add `cpu-path`, `quality` and `duplicates` to `bench_app`."""
    bench_app.command("cpu-path")(bench_cpu_path)
    bench_app.command("quality")(bench_quality)
    bench_app.command("duplicates")(bench_duplicates)


def bench_duplicates(
    data: Annotated[
        Path | None, typer.Option(help="folder with train.tsv and val.tsv; default: <data_dir>/topic_ko_articles")
    ] = None,
    thresholds: Annotated[
        str, typer.Option(help="comma-separated MinHash agreement thresholds")
    ] = "0.3,0.4,0.5,0.6,0.7,0.8,0.9",
    limit: Annotated[int | None, typer.Option(min=10, help="a seeded sample of this many originals")] = None,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path(
        "bench-duplicates.json"
    ),
) -> None:
    """Recall of near-duplicate copies and the rate of wrongly merged distinct articles over thresholds."""
    import json

    from rich.table import Table

    from streamproc_models.evaluation.duplicates_bench import (
        duplicates_plot,
        duplicates_table,
        run_duplicates_bench,
    )

    settings = load_settings()
    folder = Path(data or Path(settings.data_dir) / "topic_ko_articles")
    if not (folder / "train.tsv").is_file() or not (folder / "val.tsv").is_file():
        raise UserError(f"no train.tsv and val.tsv in {folder}: pass --data or set STREAMPROC_DATA_DIR")
    try:
        values = tuple(float(x) for x in thresholds.split(","))
    except ValueError:
        raise UserError(f"--thresholds takes numbers separated by commas, got {thresholds!r}") from None
    if not all(0 < x <= 1 for x in values):
        raise UserError("--thresholds: each threshold is in (0, 1]")
    result = run_duplicates_bench(folder, values, limit)
    short = {"outlet_tag": "tag", "last_paragraph": "last ¶", "title_punctuation": "title", "republished": "all"}
    table = Table(
        "threshold",
        "bands×rows",
        "recall",
        *(short.get(kind, kind) for kind in result["kinds"]),
        "distinct merged",
        title=f"{result['originals']} articles of {folder.name}, {result['copies_per_original']} copies each",
    )
    duplicates_table(result, table.add_row)
    console.print(table, width=max(console.width, 130))
    from rich.text import Text

    for row in result["results"]:
        if row["merged_pairs"]:
            console.print(f"originals merged at {row['threshold']} (read them: the same story twice in the set?)")
        for pair in row["merged_pairs"][:8]:
            console.print(Text(f"  J={pair['jaccard']:.2f}  {pair['titles'][0]}  |  {pair['titles'][1]}"))
    chosen = result["raw_target_threshold"]
    target = f"{result['target_false_merge_rate']:.1%}"
    console.print(
        f"highest recall with at most {target} of originals merged (raw): threshold {chosen}; "
        f"configured default: {result['default_threshold']}"
        if chosen is not None
        else f"no threshold keeps the raw merges at or under {target}"
    )
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written: {json_out} and {duplicates_plot(result, json_out.with_suffix('.png'))}", markup=False)


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
