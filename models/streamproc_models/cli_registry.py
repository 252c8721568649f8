"""`streamproc retrain` and `streamproc models list|promote|rollback`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamproc.config import load_settings

console = Console()


def register(app: typer.Typer, models_app: typer.Typer) -> None:
    """Add `retrain` to the main app and the version commands to `models_app`."""
    app.command("retrain")(retrain_command)
    models_app.command("list")(list_command)
    models_app.command("promote")(promote_command)
    models_app.command("rollback")(rollback_command)


def retrain_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="build and gate the candidate, do not promote")] = False,
    fine_tune: Annotated[
        bool, typer.Option(help="the default model's fine-tune recipe (encoder fine-tuned, then fused heads; slow)")
    ] = False,
    base_data: Annotated[
        Path | None,
        typer.Option(help="folder with <task>/train.tsv + val.tsv per task (default: the task file's data sets)"),
    ] = None,
    holdout: Annotated[float, typer.Option(min=0.05, max=0.9, help="share of reviewed labels held out")] = 0.3,
    review_weight: Annotated[int, typer.Option(min=1, max=100, help="times each reviewed label counts")] = 3,
    base: Annotated[
        Path | None,
        typer.Option(
            help="build the candidate on this Hugging Face encoder folder (default: the serving model's encoder; "
            "with --fine-tune, the encoder it was first built on)"
        ),
    ] = None,
) -> None:
    """Build a model from the reviewed labels plus the base data; promote it only if the gate passes."""
    from streamproc.connections import redis_client
    from streamproc.review.desk import ReviewDesk
    from streamproc_models.retrain import retrain

    settings = load_settings()
    client = redis_client(settings)
    try:
        desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
        result = retrain(
            settings,
            desk,
            base_data,
            holdout,
            fine_tune,
            dry_run,
            say=lambda line: console.print(line, markup=False, soft_wrap=True),
            review_weight=review_weight,
            base=base,
        )
    finally:
        client.close()
    table = Table("task", "measure", "serving", "candidate", title="evaluation gate")
    for task, row in result.serving.items():
        for key in ("val_macro_f1", "val_accuracy", "reviewed_holdout_accuracy", "audit_accuracy"):
            old, new = row[key], result.candidate[task][key]
            table.add_row(task, key, _number(old), _number(new))
    console.print(table)
    console.print(Text(f"rule: {result.rule}"))
    for check in result.checks:
        console.print(Text(f"  {check}"))
    console.print(Text("decided on:"))
    for line in result.evidence:
        console.print(Text(f"  {line}"))
    decision = result.as_card()["decision"]
    console.print(Text(f"decision: {decision} — {result.candidate_folder}"))
    if not result.passed:
        raise typer.Exit(1)


def _number(value: object) -> str:
    return "-" if value is None else f"{float(value):.4f}"  # type: ignore[arg-type]


def list_command() -> None:
    """Model versions in the store; * marks the one serving."""
    from streamproc_models.registry import list_versions, model_link

    settings = load_settings()
    link = model_link(settings)
    serving = link.resolve() if link.exists() else None
    table = Table("")
    for name in ("version", "created (UTC)", "gate"):
        table.add_column(name, no_wrap=True)
    table.add_column("folder", overflow="fold")
    for version in list_versions(settings):
        mark = "*" if version.folder == serving else ""
        created = version.created.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(mark, version.version, created, version.gate or "-", str(version.folder))
    console.print(table)
    console.print(Text(f"serving link: {link} -> {serving}"))


def promote_command(version: Annotated[str, typer.Argument(help="version name or model folder")]) -> None:
    """Serve this version: re-point the model link (running workers switch between batches)."""
    from streamproc_models.registry import find_version, promote

    settings = load_settings()
    folder = find_version(settings, version)
    before = promote(settings, folder, reason="manual promote")
    console.print(Text(f"serving {folder.name} (was {before.name})"))


def rollback_command() -> None:
    """Serve the version that served before the current one."""
    from streamproc_models.registry import rollback

    folder = rollback(load_settings())
    console.print(Text(f"serving {folder.name} again"))
