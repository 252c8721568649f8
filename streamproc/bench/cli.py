"""`streamproc bench pipeline`, registered on the `bench` sub-command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from streamproc.cli.extras import require_training_extra
from streamproc.config import load_settings
from streamproc.errors import UserError

console = Console()


def register(bench_app: typer.Typer) -> None:
    """Add the pipeline benchmarks to `bench_app`."""
    bench_app.command("pipeline")(bench_pipeline)
    bench_app.command("threads")(bench_threads)
    bench_app.command("relabel")(bench_relabel)


def bench_pipeline(
    model_dir: Annotated[Path | None, typer.Option(help="model folder; default: the configured/default model")] = None,
    n: Annotated[
        int | None, typer.Option("--n", min=8, help="articles per capacity pass (default 256; 4,000 with --null-model)")
    ] = None,
    length: Annotated[
        str, typer.Option(help="headline, or article (title + body, mostly cut at max_tokens)")
    ] = "headline",
    batch_size: Annotated[int | None, typer.Option(help="default: STREAMPROC_BATCH_SIZE")] = None,
    batch_max_wait: Annotated[float | None, typer.Option(help="default: STREAMPROC_BATCH_MAX_WAIT")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda; default: STREAMPROC_DEVICE")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads; default: STREAMPROC_TORCH_THREADS")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="default: STREAMPROC_MAX_TOKENS")] = None,
    repeats: Annotated[int, typer.Option(min=1, help="timed passes of the raw model and the pipeline")] = 2,
    loads: Annotated[str, typer.Option(help="offered loads for the latency runs, fractions of capacity")] = "0.5,0.9",
    latency_seconds: Annotated[float, typer.Option(help="seconds of steady load per latency run")] = 12.0,
    naive_n: Annotated[int, typer.Option(min=1, help="articles for the naive consumer")] = 48,
    worker_env: Annotated[
        list[str] | None, typer.Option(help="extra worker setting NAME=VALUE (repeatable), e.g. batch_size=64")
    ] = None,
    null_model: Annotated[
        bool,
        typer.Option(
            "--null-model",
            help="the pipeline's own ceiling: a stand-in model (fixed probabilities, no inference), full articles "
            "and headlines, and the Elasticsearch stand-in's bulk rate alone",
        ),
    ] = False,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-pipeline.json"),
) -> None:
    """Raw model vs pipeline (Kafka -> worker -> Elasticsearch + Redis) vs naive consumer, on the same articles."""
    from streamproc.bench.pipeline import BenchOptions, run_pipeline_bench
    from streamproc.bench.report import summary_tables, write_result

    require_training_extra("bench pipeline")  # the PNG comes at the end of a run of minutes
    if length not in ("headline", "article"):
        raise UserError(f"--length must be headline or article, got {length!r}")
    extra = _worker_env(worker_env)
    settings = load_settings()
    if null_model:
        from streamproc.bench.ceiling import CeilingOptions, ceiling_tables, run_ceiling_bench, write_ceiling

        ceiling = CeilingOptions(
            data_dir=settings.data_dir,
            n=n or 4000,
            batch_size=batch_size or settings.batch_size,
            batch_max_wait=batch_max_wait or settings.batch_max_wait,
            repeats=max(repeats, 1),
            worker_env=extra,
        )
        found = run_ceiling_bench(ceiling)
        console.print(ceiling_tables(found))
        written = write_ceiling(found, json_out)
        console.print(f"written: {written[0]} and {written[1]}")
        return
    folder = model_dir or settings.multitask_model_dir or settings.default_model_dir
    if not (Path(folder) / "streamproc_model.json").is_file():
        raise UserError(f"no multi-head model in {folder}: build one with `streamproc models build-defaults`")
    try:
        fractions = tuple(float(x) for x in loads.split(",") if x.strip())
    except ValueError:
        raise UserError(f"--loads takes fractions such as 0.5,0.9, got {loads!r}") from None
    options = BenchOptions(
        model_dir=Path(folder).resolve(),
        data_dir=settings.data_dir,
        n=n or 256,
        length=_length(length),
        batch_size=batch_size or settings.batch_size,
        batch_max_wait=batch_max_wait or settings.batch_max_wait,
        device=device or settings.device,
        threads=threads or settings.torch_threads,
        max_tokens=max_tokens or settings.max_tokens,
        repeats=repeats,
        loads=fractions,
        latency_seconds=latency_seconds,
        naive_n=naive_n,
        worker_env=extra,
    )
    result = run_pipeline_bench(options)
    for table in summary_tables(result):
        console.print(table)
    written = write_result(result, json_out)
    console.print(f"written: {written[0]} and {written[1]}")


def bench_threads(
    model_dir: Annotated[Path | None, typer.Option(help="model folder; default: the configured/default model")] = None,
    threads: Annotated[str, typer.Option(help="inference threads per process to try, e.g. 1,2")] = "1,2",
    processes: Annotated[str, typer.Option(help="worker processes to try, e.g. 1,2")] = "1,2",
    length: Annotated[str, typer.Option(help="headline or article")] = "article",
    n: Annotated[int, typer.Option("--n", min=8, help="articles per pass")] = 96,
    repeats: Annotated[int, typer.Option(min=1, help="rounds (every configuration once per round)")] = 3,
    batch_size: Annotated[int | None, typer.Option(help="default: STREAMPROC_BATCH_SIZE")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    worker_env: Annotated[list[str] | None, typer.Option(help="extra worker setting NAME=VALUE (repeatable)")] = None,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-threads.json"),
) -> None:
    """Raw model per thread count vs the pipeline per (threads, processes): what the defaults should be."""
    from streamproc.bench.threads import ThreadsOptions, run_threads_bench, threads_table, write_threads

    require_training_extra("bench threads")
    settings = load_settings()
    folder = model_dir or settings.multitask_model_dir or settings.default_model_dir
    if not (Path(folder) / "streamproc_model.json").is_file():
        raise UserError(f"no multi-head model in {folder}: build one with `streamproc models build-defaults`")
    options = ThreadsOptions(
        model_dir=Path(folder).resolve(),
        data_dir=settings.data_dir,
        n=n,
        length=_length(length),
        batch_size=batch_size or settings.batch_size,
        batch_max_wait=settings.batch_max_wait,
        device=device,
        threads=_counts(threads, "--threads"),
        processes=_counts(processes, "--processes"),
        repeats=repeats,
        worker_env=_worker_env(worker_env),
    )
    result = run_threads_bench(options)
    console.print(threads_table(result))
    written = write_threads(result, json_out)
    console.print(f"written: {written[0]} and {written[1]}")


def bench_relabel(
    model_dir: Annotated[Path | None, typer.Option(help="model folder; default: the configured/default model")] = None,
    n: Annotated[int, typer.Option("--n", min=8, help="stored articles per relabel")] = 5000,
    length: Annotated[str, typer.Option(help="headline or article")] = "headline",
    batch_size: Annotated[int | None, typer.Option(help="default: STREAMPROC_BATCH_SIZE")] = None,
    batch_max_wait: Annotated[float | None, typer.Option(help="default: STREAMPROC_BATCH_MAX_WAIT")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda; default: STREAMPROC_DEVICE")] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads; default: STREAMPROC_TORCH_THREADS")] = None,
    live_load: Annotated[float, typer.Option(min=0.05, max=0.95, help="live traffic, fraction of capacity")] = 0.5,
    baseline_seconds: Annotated[float, typer.Option(min=1, help="seconds of live traffic alone")] = 20.0,
    worker_env: Annotated[list[str] | None, typer.Option(help="extra worker setting NAME=VALUE (repeatable)")] = None,
    json_out: Annotated[Path, typer.Option("--json", help="result file (PNG beside it)")] = Path("bench-relabel.json"),
) -> None:
    """Relabel vs the raw model, alone and beside live traffic (live latency and lag during the relabel)."""
    from streamproc.bench.relabel import RelabelBenchOptions, relabel_tables, run_relabel_bench, write_relabel

    require_training_extra("bench relabel")
    settings = load_settings()
    folder = model_dir or settings.multitask_model_dir or settings.default_model_dir
    if not (Path(folder) / "streamproc_model.json").is_file():
        raise UserError(f"no multi-head model in {folder}: build one with `streamproc models build-defaults`")
    options = RelabelBenchOptions(
        model_dir=Path(folder).resolve(),
        data_dir=settings.data_dir,
        n=n,
        length=_length(length),
        batch_size=batch_size or settings.batch_size,
        batch_max_wait=batch_max_wait or settings.batch_max_wait,
        device=device or settings.device,
        threads=threads or settings.torch_threads,
        max_tokens=settings.max_tokens,
        live_load=live_load,
        baseline_seconds=baseline_seconds,
        worker_env=_worker_env(worker_env),
    )
    result = run_relabel_bench(options)
    for table in relabel_tables(result):
        console.print(table)
    written = write_relabel(result, json_out)
    console.print(f"written: {written[0]} and {written[1]}")


def _counts(value: str, option: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise UserError(f"{option} takes counts such as 1,2, got {value!r}")
    return counts


def _worker_env(items: list[str] | None) -> dict[str, str]:
    extra = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--worker-env takes NAME=VALUE, got {item!r}")
        extra[name.strip().lower().removeprefix("streamproc_")] = value
    return extra


def _length(value: str) -> Literal["headline", "article"]:
    return "article" if value == "article" else "headline"
