"""`streamproc`: run the worker, publish articles, manage the local stack, build and train models."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamproc.cli.deadletter import deadletter_app
from streamproc.cli.extras import command_name, missing_training_module, training_extra_error
from streamproc.cli.operate import register as register_operations
from streamproc.cli.quality import quality
from streamproc.cli.relabel import register as register_relabel
from streamproc.cli.review import review_app
from streamproc.cli.safe_text import plain, printable
from streamproc.config import Settings, load_settings
from streamproc.errors import UserError
from streamproc.redact import install_log_redaction, redact

app = typer.Typer(
    help="Streaming news classification: Kafka -> the task file's models -> Elasticsearch + review queue.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stack_app = typer.Typer(help="The servers: embedded local stand-ins, or provisioning of a real stack.")
app.add_typer(stack_app, name="stack")
app.add_typer(review_app, name="review")
app.add_typer(deadletter_app, name="deadletter")
console = Console()


def setup_logging(level: str = "INFO") -> None:
    """Plain timestamped logs; client libraries that log connection settings stay quiet."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    for noisy in ("aiokafka", "elastic_transport", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # kafka-python (CLI tools only) logs every refused connection; its failures surface as exceptions.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' own load/save bars; ours stay


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        console.print(f"  {line}")


@app.command("config")
def show_config() -> None:
    """Print the effective settings (secrets masked) with their environment variable names."""
    settings = load_settings()
    table = Table("environment variable", "value")
    for name in Settings.model_fields:
        table.add_row(f"STREAMPROC_{name.upper()}", plain(redact(str(getattr(settings, name)))))
    console.print(table)


@app.command()
def health(
    window: Annotated[float, typer.Option(help="seconds to watch for stalled partitions (0: skip)")] = 10.0,
) -> None:
    """Check that Kafka, Elasticsearch and Redis answer and no partition is stalled (exit 1 otherwise)."""
    from streamproc.health import CHECKS
    from streamproc.worker.stall import check_group

    settings = load_settings()
    failed = False
    for name, check in CHECKS.items():
        try:
            console.print(plain(f"ok    {check(settings)}"))
        except UserError as exc:
            console.print(plain(f"FAIL  {name}: {redact(str(exc))}"))
            failed = True
    if not failed and window > 0:
        try:
            console.print(f"ok    {check_group(settings, window)}", markup=False)
        except UserError as exc:
            console.print(f"FAIL  {exc}", markup=False)
            failed = True
    raise typer.Exit(1 if failed else 0)


@stack_app.command("up")
def stack_up() -> None:
    """Start the local servers (when the URLs are loopback), then create topics and the index template."""
    from streamproc.stack.up import bring_up

    _print_lines(bring_up(load_settings()))


@stack_app.command("down")
def stack_down() -> None:
    """Stop the local servers (data is kept)."""
    from streamproc.stack import local

    _print_lines(local.stop_local(load_settings()) or ["nothing was running"])


@stack_app.command("reset")
def stack_reset(yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Stop the local servers and delete all their data."""
    from streamproc.stack import local

    settings = load_settings()
    if not yes and not typer.confirm(f"Delete everything under {settings.stack_dir}?"):
        raise typer.Exit(1)
    _print_lines(local.reset_local(settings))


@stack_app.command("status")
def stack_status() -> None:
    """Show each server's address and whether it answers."""
    from streamproc.stack.endpoints import endpoints

    settings = load_settings()
    table = Table("service", "address", "state", "where")
    for point in endpoints(settings).values():
        where = "local" if point.is_loopback else "external"
        table.add_row(point.service, f"{point.host}:{point.port}", "up" if point.answers() else "down", where)
    console.print(table)


@app.command()
def worker(
    processes: Annotated[
        int, typer.Option(min=1, max=64, help="worker processes on this host, in one consumer group")
    ] = 1,
) -> None:
    """Run a worker: consume `news.raw` (and `news.relabel`), classify, index, queue for review. Stop with Ctrl-C."""
    if processes > 1:
        from streamproc.health import check_all
        from streamproc.worker.processes import run_worker_processes

        settings = load_settings()
        check_all(settings)
        raise typer.Exit(run_worker_processes(settings, processes, console.print))
    from streamproc.worker.start import run_worker

    run_worker(load_settings(), console.print)


@app.command("publish")
def publish_command(
    file: Annotated[str, typer.Argument(help="JSONL or CSV file of articles; - reads JSONL from stdin")],
    send_invalid: Annotated[
        bool, typer.Option(help="forward invalid records unchanged, to be dead-lettered by the worker")
    ] = False,
    csv_format: Annotated[bool, typer.Option("--csv", help="read stdin/unknown extensions as CSV")] = False,
) -> None:
    """Publish articles to the raw topic, keyed by article id."""
    from streamproc.health import check_kafka
    from streamproc.publish.publisher import publish
    from streamproc.publish.reader import read_records

    if file != "-" and not Path(file).is_file():
        raise UserError(f"no such file: {file}")
    settings = load_settings()
    check_kafka(settings)
    summary = publish(settings, read_records(file, "csv" if csv_format else None), send_invalid=send_invalid)
    invalid = sum(summary.rejected.values())
    if send_invalid:
        console.print(f"sent {summary.sent} records to {settings.topic_raw}, {invalid} of them invalid (forwarded)")
    else:
        console.print(f"sent {summary.sent} articles to {settings.topic_raw}, rejected {invalid}")
    for reason, count in summary.rejected.most_common():
        console.print(plain(f"  {count:5d} {reason}: e.g. {summary.examples[reason]}"))


@app.command()
def demo(
    samples: Annotated[Path | None, typer.Option(help="JSONL file to publish instead of the samples")] = None,
    review: Annotated[bool, typer.Option(help="then review, retrain, promote and re-label (the loop)")] = False,
) -> None:
    """The main job end to end: local stack, default models, publish samples, run a worker, summarise, and how
    often the labels are right (an audit sample of 30 % unless STREAMPROC_AUDIT_SHARE says otherwise)."""
    from streamproc.demo.main_job import DEMO_AUDIT_SHARE, run_main_job

    os.environ.setdefault("STREAMPROC_AUDIT_SHARE", str(DEMO_AUDIT_SHARE))  # the worker it starts reads it too
    run_main_job(load_settings(), samples, console)
    if review:
        from streamproc.demo.main_job import SAMPLES, run_worker_until_done
        from streamproc.demo.review_loop import run_review_loop

        run_review_loop(load_settings(), samples or SAMPLES, console, run_worker_until_done)


register_operations(app)
app.command("quality")(quality)
register_relabel(app)


def _register_plugin_commands() -> None:
    """`streamproc models`, `streamproc bench` and the commands installed packages add (`streamproc.plugins`)."""
    from streamproc.bench.cli import register as register_pipeline_bench
    from streamproc.plugins import register_commands

    models_app = typer.Typer(help="Model versions, the base encoder and the default model.", no_args_is_help=True)
    bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
    register_pipeline_bench(bench_app)
    register_commands(app, {"models": models_app, "bench": bench_app})
    app.add_typer(models_app, name="models")
    app.add_typer(bench_app, name="bench")


def run() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    setup_logging()
    try:
        _register_plugin_commands()
        app()
    except (UserError, ModuleNotFoundError) as exc:
        module = missing_training_module(exc)
        if isinstance(exc, ModuleNotFoundError) and module is None:
            raise
        error = training_extra_error(command_name(typer.main.get_command(app), sys.argv[1:]), module) if module else exc
        print(f"streamproc: error: {printable(redact(str(error)))}", file=sys.stderr)
        sys.exit(2)
