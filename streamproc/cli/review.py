"""`streamproc review ...`: drain the review queue from the terminal, see its numbers, export the labels."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamproc.cli.safe_text import plain
from streamproc.config import load_settings
from streamproc.errors import UserError
from streamproc.redact import redact
from streamproc.review.desk import Outcome, ReviewError
from streamproc.review.service import ReviewService, summary_line, write_export

if TYPE_CHECKING:
    from redis import Redis

    from streamproc.config import Settings
    from streamproc.review.accounts import Accounts

review_app = typer.Typer(
    help="The review queue: claim articles, label / skip / reject / correct them, numbers, export, the web page, "
    "reviewer accounts.",
    invoke_without_command=True,
)
users_app = typer.Typer(help="Reviewer accounts for the review page (Argon2id hashes in Redis).", no_args_is_help=True)
review_app.add_typer(users_app, name="users")
console = Console()
Reviewer = Annotated[str | None, typer.Option("--reviewer", help="your name (default: $STREAMPROC_REVIEWER or $USER)")]
Choices = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="TASK=LABEL", help="a task's label (repeat for several tasks)"),
]


def reviewer_name(given: str | None) -> str:
    """The reviewer's name: the option, else $STREAMPROC_REVIEWER, else the login name."""
    return given or os.environ.get("STREAMPROC_REVIEWER") or getpass.getuser()


@contextmanager
def service() -> Iterator[ReviewService]:
    """A `ReviewService` from the settings; reviewer and server errors become one line."""
    settings = load_settings()
    svc = ReviewService.from_settings(settings)
    try:
        yield svc
    except ReviewError as exc:
        raise UserError(str(exc)) from None
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise UserError(f"Redis at {redact(settings.redis_url)} does not answer ({exc}); is the stack up?") from None
    finally:
        svc.close()


@review_app.callback()
def queue_overview(ctx: typer.Context, limit: Annotated[int, typer.Option(help="how many to list")] = 10) -> None:
    """Without a command: the queue size and the most uncertain waiting articles."""
    if ctx.invoked_subcommand is not None:
        return
    with service() as svc:
        desk = svc.desk
        tasks = desk.tasks.reviewed
        console.print(f"{desk.size()} articles wait for review")
        table = Table("uncertainty", "id", *tasks, "title")
        for doc_id, score in desk.waiting(limit):
            item = desk.item(doc_id) or {}
            labels = (plain((item.get(task) or {}).get("label", "")) for task in tasks)
            table.add_row(f"{score:.3f}", plain(doc_id), *labels, plain(item.get("title"), 60))
        console.print(table)


@review_app.command("next")
def next_items(
    reviewer: Reviewer = None, n: Annotated[int, typer.Option("-n", min=1, max=100, help="how many")] = 1
) -> None:
    """Claim the most uncertain waiting articles (those you already hold first) and print them."""
    name = reviewer_name(reviewer)
    with service() as svc:
        items = svc.desk.claim(name, n)
        tasks = svc.desk.tasks
    if not items:
        console.print("nothing waits for review")
        return
    until = datetime.fromtimestamp(items[0].lease_expires, UTC).strftime("%H:%M:%S UTC")
    console.print(f"{len(items)} article(s) held by {plain(name)} until {until}", markup=False)
    for item in items:
        s = item.summary
        console.rule(plain(item.id))
        if item.copies:
            console.print(f"{item.copies} copies: one decision labels them all", style="bold")
        if item.votes:
            console.print(f"{item.votes} vote(s) already cast by others (not shown)", style="dim")
        console.print(plain(s.get("title")), style="bold")
        console.print(plain(s.get("body"), 400))
        meta = " · ".join(str(x) for x in (s.get("source"), s.get("lang"), s.get("url")) if x)
        console.print(plain(meta), style="dim")
        if item.audit:  # the model's answers would anchor the reviewer
            console.print("audit sample: the model's labels are hidden; give every task's label", style="bold")
            continue
        width = max(len(task) for task in tasks.reviewed) + 2
        for name in tasks.reviewed:
            console.print(Text(f"{name + ':':<{width}}") + plain(summary_line(s, name)))
    for name in tasks.reviewed:
        console.print(Text(f"{name} labels: ") + plain(", ".join(tasks[name].label_names)), style="dim")
    console.print("decide with: streamproc review label ID --set TASK=LABEL [--set ...] | skip ID | reject ID")


@review_app.command("label")
def label(
    doc_id: Annotated[str, typer.Argument(metavar="ID")],
    choices: Choices = None,
    reviewer: Reviewer = None,
) -> None:
    """Label an article for one or more tasks (give the model's own label to say it is right)."""
    _decide(ReviewService.label, "labeled", doc_id, reviewer, choices)


@review_app.command("relabel")
def relabel(
    doc_id: Annotated[str, typer.Argument(metavar="ID")],
    choices: Choices = None,
    reviewer: Reviewer = None,
) -> None:
    """Change your own decision on an article (the audit trail keeps both; Elasticsearch and retrain use the
    latest)."""
    _decide(ReviewService.relabel, "relabeled", doc_id, reviewer, choices)


@review_app.command("undo")
def undo(reviewer: Reviewer = None) -> None:
    """Take back your last decision; the article comes back to you (`next`) to decide again."""
    with service() as svc:
        outcome = svc.undo(reviewer_name(reviewer))
    if outcome is None:
        console.print("nothing to undo")
        return
    console.print(Text(f"{outcome.id}: your decision is taken back; it is yours again (`streamproc review next`)"))


@review_app.command("disputed")
def disputed() -> None:
    """Articles whose votes reached no consensus, with each reviewer's vote."""
    with service() as svc:
        ids = svc.desk.disputed()
        votes = {doc_id: svc.desk.votes(doc_id) for doc_id in ids}
        titles = {doc_id: (svc.desk.item(doc_id) or {}).get("title") for doc_id in ids}
    console.print(f"{len(ids)} disputed")
    for doc_id in ids:
        console.rule(plain(doc_id))
        console.print(plain(titles[doc_id], 80))
        for name, vote in sorted(votes[doc_id].items()):
            what = vote["decision"] + " " + ", ".join(f"{k}={v}" for k, v in (vote.get("labels") or {}).items())
            console.print(Text(f"  {name}: ") + plain(what))
    if ids:
        console.print("settle with: streamproc review resolve ID --set TASK=LABEL [--set ...]")


@review_app.command("resolve")
def resolve(
    doc_id: Annotated[str, typer.Argument(metavar="ID")],
    choices: Choices = None,
    reviewer: Reviewer = None,
) -> None:
    """Settle a disputed article (an adjudication, recorded as such)."""
    _decide(ReviewService.resolve, "resolved", doc_id, reviewer, choices)


@review_app.command("skip")
def skip(doc_id: Annotated[str, typer.Argument(metavar="ID")], reviewer: Reviewer = None) -> None:
    """Put an article back on the queue, behind the ones nobody has seen."""
    with service() as svc:
        outcome = svc.skip(doc_id, reviewer_name(reviewer))
    _said(outcome, doc_id, "skipped")


@review_app.command("reject")
def reject(doc_id: Annotated[str, typer.Argument(metavar="ID")], reviewer: Reviewer = None) -> None:
    """Reject an article: not a news article, or unusable. It is never queued again."""
    with service() as svc:
        outcome = svc.reject(doc_id, reviewer_name(reviewer))
    _said(outcome, doc_id, "rejected")


def parse_choices(choices: list[str]) -> dict[str, str]:
    """`TASK=LABEL` options as a mapping; a malformed one or a task named twice is a one-line error."""
    labels: dict[str, str] = {}
    for choice in choices:
        task, sep, value = choice.partition("=")
        if not sep or not task.strip() or not value.strip():
            raise UserError(f"--set takes TASK=LABEL, e.g. --set topic=sports; got {choice!r}")
        if task.strip() in labels:
            raise UserError(f"--set names {task.strip()!r} twice")
        labels[task.strip()] = value.strip()
    return labels


def _decide(
    method: Callable[[ReviewService, str, str, dict[str, str]], Outcome],
    done: str,
    doc_id: str,
    reviewer: str | None,
    choices: list[str] | None,
) -> None:
    """Run a review service `method` (label, relabel or resolve) with the `--set` choices and say the outcome."""
    labels = parse_choices(choices or [])
    with service() as svc:
        outcome = method(svc, doc_id, reviewer_name(reviewer), labels)
    _said(outcome, doc_id, f"{done} " + ", ".join(f"{k}={v}" for k, v in labels.items()))


def _said(outcome: Outcome, doc_id: str, what: str) -> None:
    if outcome.status == "duplicate":
        suffix = " (already done: nothing changed)"
    elif outcome.state == "open":
        suffix = " (your vote is counted; more reviewers must agree)"
    elif outcome.state == "disputed":
        suffix = " (the votes disagree: see `streamproc review disputed`)"
    elif outcome.withdrawn:
        suffix = " (the decision no longer stands: the article waits for votes again)"
    elif outcome.members:
        suffix = f" (and {len(outcome.members)} copies of its story)"
    else:
        suffix = ""
    console.print(Text(f"{doc_id}: {what}{suffix}"))


@review_app.command("guide")
def guide() -> None:
    """The label guide of the task file: each reviewed task's labels, as the page shows them, and when to use them."""
    tasks = load_settings().tasks
    for name in tasks.reviewed:
        task = tasks[name]
        table = Table("label", "shown as", "when", title=f"{task.name}: {task.display}", title_justify="left")
        for label in task.labels:
            table.add_row(plain(label.name), plain(label.display), plain(label.description))
        console.print(plain(task.description), style="dim")
        console.print(table)


@review_app.command("stats")
def stats(as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Waiting, leased, reviewed, rejected, dropped, votes, disputed; per reviewer; agreement with the model per task
    and between reviewers (Krippendorff's alpha, pairwise per reviewer)."""
    from streamproc.review.agreement import reviewer_agreement

    with service() as svc:
        numbers = svc.desk.stats()
        numbers["reviewers"] = reviewer_agreement(svc.desk.latest_votes(), svc.desk.tasks.reviewed)
    if as_json:
        print(json.dumps(numbers, ensure_ascii=False, indent=2))
        return
    table = Table("queue", "count")
    for key in ("waiting", "leased", "skipped_waiting", "labeled", "rejected", "skips", "expired_leases"):
        table.add_row(key.replace("_", " "), str(numbers[key]))
    table.add_row("dropped (queue full)", str(numbers["dropped_when_full"]))
    table.add_row(f"votes (an item needs {numbers['votes_needed']} agreeing)", str(numbers["votes"]))
    table.add_row("disputed", str(numbers["disputed"]))
    table.add_row("corrected (relabel) / undone", f"{numbers['relabeled']} / {numbers['undone']}")
    table.add_row("copies labelled through their story", str(numbers["copies_labeled"]))
    console.print(table)
    people = Table("reviewer", "labeled", "skipped", "rejected")
    for name, counts in sorted(numbers["by_reviewer"].items()):
        people.add_row(plain(name), *(str(counts.get(k, 0)) for k in ("label", "skip", "reject")))
    console.print(people)
    agreement = Table("task", "labeled", "model was right", "agreement")
    for task, row in numbers["agreement"].items():
        rate = "-" if row["rate"] is None else f"{row['rate']:.1%}"
        agreement.add_row(task, str(row["labeled"]), str(row["agree"]), rate)
    console.print(agreement)
    between = Table("task", "items with 2+ votes", "Krippendorff's alpha", "reviewer", "pairs", "agreement")
    for task, row in numbers["reviewers"].items():
        alpha = "-" if row["alpha"] is None else f"{row['alpha']:.3f}"
        voters: list[tuple[str, dict]] = sorted(row["reviewers"].items()) or [("-", {"pairs": 0, "rate": None})]
        for i, (name, mine) in enumerate(voters):
            rate = "-" if mine["rate"] is None else f"{mine['rate']:.1%}"
            first = (task, str(row["items"]), alpha) if i == 0 else ("", "", "")
            between.add_row(*first, plain(name), str(mine["pairs"]), rate)
    console.print("agreement between reviewers (items two or more reviewers labelled):")
    console.print(between)


@review_app.command("export")
def export(out: Annotated[Path, typer.Option("--out", help="a folder: one <task>.tsv per reviewed task")]) -> None:
    """Reviewed labels as TSV in the training format (`id`, `text`, `label`), one file per task; the text is
    what the models read."""
    with service() as svc:
        written = write_export(svc.desk, out)
    for task, (path, rows) in written.items():
        console.print(Text(f"{rows:5d} {task} labels -> {path}"))


@review_app.command("sync")
def sync() -> None:
    """Write every stored decision onto its Elasticsearch document again (after an Elasticsearch outage)."""
    from streamproc.review.elastic import sync_decisions

    with service() as svc:
        decisions, copies = list(svc.desk.decisions().values()), svc.desk.copies_decided()
        written, failed = sync_decisions(svc.es, svc.index, decisions, copies)
    console.print(f"{written} decisions (copies included) written to {svc.index}")
    if failed:
        raise UserError(f"{len(failed)} decisions could not be written, e.g. {failed[0]}")


@review_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default STREAMPROC_REVIEW_WEB_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default STREAMPROC_REVIEW_WEB_PORT)")] = None,
) -> None:
    """The review web page (127.0.0.1:8066 by default; other addresses need reviewer accounts: `review users add`)."""
    from streamproc.review.web import run_server

    settings = load_settings()
    run_server(settings, host or settings.review_web_host, port or settings.review_web_port, console.print)


def _accounts() -> tuple[Accounts, Redis, Settings]:
    """The reviewer accounts, their Redis client (to close) and the settings."""
    from streamproc.connections import redis_client
    from streamproc.review.accounts import Accounts

    settings = load_settings()
    client = redis_client(settings)
    return Accounts(client, settings.review_key_prefix), client, settings


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(metavar="NAME")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input (scripts)")
    ] = False,
    replace: Annotated[bool, typer.Option("--replace", help="set a new password for an existing account")] = False,
) -> None:
    """Add a reviewer account (asks for the password twice; it is stored as an Argon2id hash only)."""
    import sys

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    accounts, client, settings = _accounts()
    try:
        accounts.add(name, password, replace=replace)
    except ReviewError as exc:
        raise UserError(str(exc)) from None
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise UserError(f"Redis at {redact(settings.redis_url)} does not answer ({exc}); is the stack up?") from None
    finally:
        client.close()
    console.print(Text(f"{name}: account {'updated' if replace else 'added'}; the review page now asks to log in"))


@users_app.command("list")
def users_list() -> None:
    """The reviewer accounts (names and when they were added; never a password or hash)."""
    accounts, client, _ = _accounts()
    try:
        rows = accounts.list()
    finally:
        client.close()
    table = Table("reviewer", "added")
    for account in rows:
        table.add_row(plain(account.name), account.added)
    console.print(table)
    if not rows:
        console.print("no accounts: the review page binds loopback only and asks for a name")


@users_app.command("remove")
def users_remove(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Remove a reviewer account; its sessions end at once (their decisions stay)."""
    accounts, client, _ = _accounts()
    try:
        accounts.remove(name)
    except ReviewError as exc:
        raise UserError(str(exc)) from None
    finally:
        client.close()
    console.print(Text(f"{name}: account removed"))
