"""`streamproc quality`: live accuracy of the served labels from the audit sample (`streamproc.quality`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from streamproc.cli.safe_text import plain
from streamproc.config import load_settings
from streamproc.errors import UserError

console = Console()


def quality(
    since: Annotated[str | None, typer.Option(help="only articles queued on or after this date (YYYY-MM-DD)")] = None,
    model: Annotated[str | None, typer.Option("--model", help="only labels of this model version")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    out: Annotated[
        Path | None, typer.Option(help="also write quality.json and reliability.png (calibration) into this folder")
    ] = None,
) -> None:
    """How often the labels are right: accuracy and macro-F1 with 95 % intervals from the blind audit sample."""
    from streamproc.connections import redis_client
    from streamproc.quality.audit_report import audit_labels, quality_report
    from streamproc.review.desk import ReviewDesk

    settings = load_settings()
    start = _date(since) if since else None
    client = redis_client(settings)
    try:
        desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
        labels = audit_labels(desk.decisions(), settings.tasks)
        tail = desk.stats()["agreement"]
    finally:
        client.close()
    report = quality_report(labels, settings.tasks, start, model)
    report["uncertain_tail_agreement"] = tail
    if out is not None:
        _write(report, out)
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    if not report["tasks"]:
        share = settings.audit_share
        hint = (
            "no audit sample is taken: set STREAMPROC_AUDIT_SHARE (e.g. 0.01)"
            if not share
            else (
                f"the audit sample ({share:.1%} of the articles) has no reviewed labels yet: review them "
                "(`streamproc review next` or the review page)"
            )
        )
        console.print(
            f"no audit labels{' for these filters' if since or model else ''}: {hint}", markup=False, soft_wrap=True
        )
        return
    print_report(report)


def print_report(report: dict[str, Any], detail: bool = True) -> None:
    """The quality table (and, with `detail`, each task by model version, by week and per class)."""
    table = Table(
        "task",
        "audit labels",
        "accuracy (95 %)",
        "macro-F1 (95 %)",
        "ECE",
        "uncertain-tail agreement",
        title="label quality from the blind audit sample",
    )
    for task, row in report["tasks"].items():
        tail = report["uncertain_tail_agreement"].get(task) or {}
        rate = "-" if tail.get("rate") is None else f"{tail['rate']:.1%} of {tail['labeled']}"
        table.add_row(
            task,
            str(row["n"]),
            _interval(row["accuracy"]),
            _interval(row["macro_f1"]),
            f"{row['calibration']['ece']:.3f}",
            rate,
        )
    console.print(table)
    if not detail:
        return
    for task, row in report["tasks"].items():
        console.print(
            f"{task}: ±3 points on accuracy needs about {row['labels_for_3_points']} audit labels (it has {row['n']})",
            markup=False,
            soft_wrap=True,
        )
        versions = Table("model version", "n", "accuracy (95 %)", title=f"{task} by model version")
        for name, group in row["by_model_version"].items():
            versions.add_row(plain(name), str(group["n"]), _interval(group["accuracy"]))
        console.print(versions)
        weeks = Table("week", "n", "accuracy (95 %)", title=f"{task} by week queued")
        for name, group in row["by_week"].items():
            weeks.add_row(name, str(group["n"]), _interval(group["accuracy"]))
        console.print(weeks)
        if row["per_class"]:
            classes = Table("label", "precision", "recall", "n true", "n predicted", title=f"{task} per class")
            for label, c in row["per_class"].items():
                classes.add_row(
                    plain(label), _share(c["precision"]), _share(c["recall"]), str(c["n_true"]), str(c["n_predicted"])
                )
            console.print(classes)


def _interval(value: dict[str, float]) -> str:
    return f"{value['value']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--since takes a date such as 2026-11-01, got {text!r}") from None


def _write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    try:
        from matplotlib.figure import Figure  # the training extra; the JSON does not need it
    except ModuleNotFoundError:
        console.print(f"written: {out / 'quality.json'} (reliability.png needs pip install 'streamproc[train]')")
        return
    tasks = list(report["tasks"].items())
    fig = Figure(figsize=(4.2 * max(len(tasks), 1), 4))
    for ax, (task, row) in zip(fig.subplots(1, max(len(tasks), 1), squeeze=False)[0], tasks, strict=False):
        bins = row["calibration"]["bins"]
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.bar(
            [b["lower"] for b in bins],
            [b["accuracy"] for b in bins],
            width=0.1,
            align="edge",
            alpha=0.7,
            edgecolor="black",
            label="audit accuracy",
        )
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            "o",
            color="tab:red",
            label="mean confidence",
        )
        ax.set(
            title=f"{task}: ECE {row['calibration']['ece']:.3f} (n={row['n']})",
            xlabel="model confidence",
            ylabel="share right",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "reliability.png", dpi=110)
    console.print(f"written: {out / 'quality.json'} and {out / 'reliability.png'}", markup=False)
