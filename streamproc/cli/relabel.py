"""`streamproc relabel`: bring the stored articles onto the promoted model (queued for the workers, followed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamproc.config import load_settings
from streamproc.errors import UserError

if TYPE_CHECKING:  # the client is imported when the command runs, not for `--help`
    from elasticsearch import Elasticsearch

console = Console()


def relabel(
    since: Annotated[str | None, typer.Option(help="only articles published at or after this date (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="only articles published before this date")] = None,
    query: Annotated[
        str | None,
        typer.Option(help="only articles matching this Lucene query string (KQL's field:value) or ES query JSON"),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="the version to relabel onto; must be the promoted one (default: it)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be relabeled; queue nothing")] = False,
    max_rate: Annotated[float | None, typer.Option(min=0.1, help="queue at most this many articles per second")] = None,
    wait: Annotated[bool, typer.Option(help="follow the workers until done, then print the summary")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the summary here (PNG beside it)")] = None,
) -> None:
    """Relabel stored articles whose model_versions differ from the promoted model's, through the workers."""
    from streamproc.connections import elasticsearch_client, redis_client
    from streamproc.health import check_elasticsearch, check_kafka, check_redis
    from streamproc.inference.versions import serving_versions
    from streamproc.relabel.follow import follow
    from streamproc.relabel.report import confusion_table, summary_json, write_summary
    from streamproc.relabel.scan import queue_items
    from streamproc.relabel.scope import Scope, confusion, count, pending_query, versions_in_scope

    settings = load_settings()
    target = serving_versions(settings)
    shown = ", ".join(f"{task}={version}" for task, version in target.items())
    if model is not None and set(target.values()) != {model}:
        raise UserError(
            f"the workers serve {shown}, not {model}: promote it first (`streamproc models promote {model}`; running "
            "workers switch within STREAMPROC_MODEL_POLL_SECONDS), then relabel"
        )
    scope = Scope(since, until, query)
    scope.filters()  # dates and query checked before anything is read
    for check in (check_elasticsearch, check_kafka, check_redis):
        check(settings)
    es = elasticsearch_client(settings)
    try:
        _check_mapping(es, settings.es_index)
        in_scope = count(es, settings.es_index, {"bool": {"filter": scope.filters()}})
        pending = count(es, settings.es_index, pending_query(scope, target))
        console.print(f"{in_scope} articles in scope, {pending} not on {shown}", markup=False)
        if dry_run:
            table = Table("task", "labeled by", "articles", title="articles in scope by model version")
            for task, versions in versions_in_scope(es, settings.es_index, scope, list(target)).items():
                for version, n in sorted(versions.items()):
                    table.add_row(task, version + (" (target)" if version == target[task] else ""), str(n))
            console.print(table)
            return
        redis = redis_client(settings)
        try:
            result = queue_items(settings, es, redis, target, scope, max_rate)
        finally:
            redis.close()
        resumed = f" (resumed after {result.resumed_after}: {result.queued_before} queued before)"
        console.print(
            f"queued {result.queued} on {settings.topic_relabel}" + (resumed if result.resumed_after else ""),
            markup=False,
        )
        if not wait:
            return
        left = follow(settings, es, scope, target)
        if left:
            console.print(
                f"{left} articles in scope are still not on {shown} (deleted or rewritten meanwhile, the models "
                "failed on them, or their worker served another version: see the workers' logs); run "
                "`streamproc relabel` again for them",
                markup=False,
            )
        matrices = confusion(es, settings.es_index, scope, target)
    finally:
        es.close()
    for task, matrix in matrices.items():
        console.print(confusion_table(task, matrix))
    if json_out is not None:
        summary = summary_json(target, matrices, scope=scope.key(), left_over=left)
        written = [write_summary(summary, json_out)]
        png = confusion_png(summary, json_out.with_suffix(".png"))
        written += [png] if png else []
        console.print("written: " + " and ".join(str(p) for p in written), markup=False)


def _check_mapping(es: Elasticsearch, index: str) -> None:
    """The index must have the `relabel` fields (added by `streamproc stack up`)."""
    if not es.indices.exists(index=index):
        raise UserError(f"no index {index} in Elasticsearch: nothing to relabel (`streamproc stack up` creates it)")
    mappings = es.indices.get_mapping(index=index)
    properties = next(iter(mappings.values()))["mappings"].get("properties", {})
    if "relabel" not in properties:
        raise UserError(f"index {index} has no relabel fields yet: run `streamproc stack up` (it adds them)")


def confusion_png(summary: dict, path: Path) -> Path | None:
    """The confusions as a PNG when matplotlib (the training extra) is installed; else None."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    tasks = summary["tasks"]
    fig = Figure(figsize=(5 * max(1, len(tasks)), 4.5))
    axes = fig.subplots(1, max(1, len(tasks)), squeeze=False)[0]
    for ax, (task, part) in zip(axes, tasks.items(), strict=False):
        matrix = part["confusion"]
        rows = sorted(matrix)
        cols = sorted({new for row in matrix.values() for new in row})
        values = [[matrix[r].get(c, 0) for c in cols] for r in rows]
        ax.imshow(values or [[0]], cmap="Blues")
        ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
        ax.set(title=f"{task}: {part['changed']} of {part['relabeled']} changed", xlabel="after", ylabel="before")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def register(app: typer.Typer) -> None:
    """Add `streamproc relabel` to the app."""
    app.command("relabel")(relabel)
