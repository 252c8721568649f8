"""`streamproc review next|label|skip|reject|stats|export` against the real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from streamproc.cli.main import app
from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.stack.provision import create_index
from streamproc_models.data import read_tsv
from tests.review_items import document, index_documents, push, worker_document

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, ["review", *args])


def test_next_label_skip_reject_stats_export(settings: Settings, tmp_path: Path) -> None:
    create_index(settings)
    docs = [worker_document(f"k{i}", f"제목 {i}", i) for i in range(3)]
    docs.append(worker_document("k9", "[bold]<b>굵게</b>[/bold]\x1b[31m 빨강", 9))
    docs[-1]["uncertainty"]["max"] = 0.99
    index_documents(settings, docs)
    push(settings, docs)
    shown = _cli("next", "--reviewer", "kim", "-n", "2")
    assert shown.exit_code == 0, shown.output
    assert "[bold]<b>굵게</b>[/bold]" in shown.output and "\x1b" not in shown.output  # shown as text
    assert "k9" in shown.output and "it 0.50" in shown.output and "held by kim" in shown.output
    ok = _cli("label", "k9", "--set", "topic=culture", "--set", "sentiment=neutral", "--reviewer", "kim")
    assert ok.exit_code == 0 and "labeled topic=culture" in ok.output
    again = _cli("label", "k9", "--set", "topic=culture", "--set", "sentiment=neutral", "--reviewer", "kim")
    assert "nothing changed" in again.output
    assert isinstance(_cli("label", "k0", "--set", "topic=weather", "--reviewer", "kim").exception, UserError)
    assert isinstance(_cli("label", "k0", "--set", "topic", "--reviewer", "kim").exception, UserError)
    lost = _cli("reject", "k2", "--reviewer", "lee")  # kim holds k2 (claimed with k9)
    assert isinstance(lost.exception, UserError) and "kim holds" in str(lost.exception)
    assert _cli("reject", "k2", "--reviewer", "kim").exit_code == 0
    assert _cli("skip", "k1", "--reviewer", "lee").exit_code == 0
    stats = json.loads(_cli("stats", "--json").output)
    assert stats["labeled"] == 1 and stats["rejected"] == 1 and stats["skips"] == 1
    assert stats["by_reviewer"]["kim"] == {"label": 1, "reject": 1}
    assert stats["agreement"]["topic"]["rate"] == 0.0 and stats["agreement"]["sentiment"]["rate"] == 1.0
    assert "agreement" in _cli("stats").output
    out = tmp_path / "reviewed"
    assert _cli("export", "--out", str(out)).exit_code == 0
    topic = read_tsv(out / "topic.tsv")  # the training format the models read
    assert topic.labels == ["culture"] and topic.texts[0].startswith("[bold]<b>굵게</b>[/bold]")
    assert read_tsv(out / "sentiment.tsv").labels == ["neutral"]


def test_unknown_id_is_one_line_and_exit_2(settings: Settings) -> None:
    push(settings, [document("x1", 0.9)])
    env = {k: v for k, v in os.environ.items()}
    done = subprocess.run(
        [sys.executable, "-m", "streamproc", "review", "label", "nope", "--set", "topic=it"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "streamproc: error: unknown id 'nope': it was never on this review queue"


def test_reviewer_accounts_and_corrections_from_the_terminal(settings: Settings) -> None:
    added = runner.invoke(app, ["review", "users", "add", "kim", "--password-stdin"], input="kims-password-1\n")
    assert added.exit_code == 0 and "account added" in added.output and "kims-password-1" not in added.output
    twice = runner.invoke(app, ["review", "users", "add", "kim", "--password-stdin"], input="another-pass\n")
    assert isinstance(twice.exception, UserError) and "exists" in str(twice.exception)
    listed = _cli("users", "list")
    assert "kim" in listed.output and "argon2" not in listed.output and "kims-password-1" not in listed.output
    assert _cli("users", "remove", "kim").exit_code == 0 and "kim" not in _cli("users", "list").output
    assert isinstance(_cli("users", "remove", "kim").exception, UserError)
    create_index(settings)
    docs = [worker_document("r1", "제목", 1)]
    index_documents(settings, docs)
    push(settings, docs)
    assert _cli("label", "r1", "--set", "topic=it", "--reviewer", "kim").exit_code == 0
    changed = _cli("relabel", "r1", "--set", "topic=world", "--reviewer", "kim")
    assert changed.exit_code == 0 and "relabeled topic=world" in changed.output
    stats = json.loads(_cli("stats", "--json").output)
    assert stats["relabeled"] == 1 and stats["reviewers"]["topic"]["alpha"] is None  # one reviewer: no overlap
    undone = _cli("undo", "--reviewer", "kim")
    assert undone.exit_code == 0 and "r1: your decision is taken back" in undone.output
    assert "nothing to undo" in _cli("undo", "--reviewer", "kim").output
