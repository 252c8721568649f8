"""The CLI with hostile input and hostile settings: no crash, no terminal hijack, no leaked credential."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.connections import async_redis_client
from streamproc.review.queue import ReviewQueue
from tests.hostile import hostile_records
from tests.pipeline.harness import encode, make_articles, provision
from tests.servers import free_port

HOSTILE_TITLE = "\x1b]0;pwned\x07\x1b[2J\x1b]8;;https://x\x07 [/bold] 끝"  # set title, clear, link; markup
HOSTILE_ID = "id-[link=https://evil.example]click[/link]"


def _run(args: list[str], env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        env={**clean, **env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("streamproc: error: "), done.stderr
    return lines[0]


@pytest.mark.slow
def test_publish_refuses_hostile_records_and_sends_the_rest(settings: Settings, stack_env, tmp_path: Path) -> None:
    provision(settings)
    hostile = hostile_records()
    good = [encode(a) for a in make_articles(5, seed=2)]
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join([*good[:2], *(raw for _, _, raw in hostile), *good[2:]]) + b"\n")
    done = _run(["publish", str(path)], stack_env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    assert f"sent 5 articles to {settings.topic_raw}, rejected {len(hostile)}" in done.stdout
    for reason in {reason for reason, _, _ in hostile}:
        assert reason in done.stdout


def _queue_hostile_article(settings: Settings) -> None:
    document = {
        "id": HOSTILE_ID,
        "title": HOSTILE_TITLE,
        "uncertainty": {"max": 0.99},
        "topic": {"label": "[bold]politics", "score": 0.4},
        "sentiment": {"label": "neutral\x1b[31m", "score": 0.5},
        "processed_at": "2026-11-20T00:00:00+00:00",
    }

    async def push() -> None:
        client = async_redis_client(settings)
        try:
            await ReviewQueue(client, settings.review_key_prefix, settings.tasks.names).push(
                [(document, "text", False)]
            )
        finally:
            await client.aclose()

    asyncio.run(push())


def test_review_prints_publisher_text_as_plain_text(settings: Settings, stack_env) -> None:
    _queue_hostile_article(settings)
    # FORCE_COLOR makes rich write for a terminal, as it does for a person at one
    done = _run(["review"], stack_env, FORCE_COLOR="1", COLUMNS="200")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "articles wait for review" in out
    assert "[/bold]" in out and HOSTILE_ID in out and "[bold]politics" in out
    for sequence in ("\x1b]0;", "\x1b[2J", "\x1b]8;", "\x07", "\x1b[31m"):  # set title, clear, link, bell, red
        assert sequence not in out
    assert "\\x1b]0;pwned\\x07" in out  # shown, neutralised


def test_review_with_redis_down_is_one_line(stack_env) -> None:
    line = _one_error_line(
        _run(["review"], {**stack_env, "STREAMPROC_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    )
    assert "Redis" in line


def test_credentials_in_urls_are_masked(stack_env) -> None:
    secret_env = {
        **stack_env,
        "STREAMPROC_ES_URL": f"http://elastic:es-S3cret@127.0.0.1:{free_port()}",
        "STREAMPROC_REDIS_URL": f"redis://:redis-S3cret@127.0.0.1:{free_port()}/0?password=q-S3cret",
    }
    config = _run(["config"], secret_env)
    health = _run(["health"], secret_env)
    worker = _run(["worker"], secret_env)  # fails its start-up check: Elasticsearch is not there
    assert config.returncode == 0 and health.returncode == 1 and worker.returncode == 2
    for done in (config, health, worker):
        text = done.stdout + done.stderr
        assert "S3cret" not in text
    assert "http://elastic:****@127.0.0.1" in config.stdout and "redis://:****@127.0.0.1" in config.stdout
    assert "cannot reach Elasticsearch at http://elastic:****@" in health.stdout + worker.stderr


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("STREAMPROC_SINK_RETRY_MAX", "inf", "finite"),
        ("STREAMPROC_SINK_RETRY_INITIAL", "1e308", "less than or equal"),
        ("STREAMPROC_SINK_RETRY_INITIAL", "nan", "finite"),
        ("STREAMPROC_BATCH_MAX_WAIT", "-inf", "finite"),
        ("STREAMPROC_REVIEW_THRESHOLD", "NaN", "finite"),
        ("STREAMPROC_MULTITASK_MODEL_DIR", "/nonexistent/model", "no such directory"),
    ],
)
def test_settings_that_cannot_work_are_refused(name: str, value: str, fragment: str) -> None:
    line = _one_error_line(_run(["config"], {name: value}))
    assert name in line and fragment in line


def test_model_folders_must_exist(tmp_path: Path) -> None:
    env = {"STREAMPROC_TASK_MODEL_DIRS": json.dumps({"topic": str(tmp_path), "stance": str(tmp_path / "gone")})}
    line = _one_error_line(_run(["config"], env))
    assert "STREAMPROC_TASK_MODEL_DIRS[stance]" in line and "gone" in line


@pytest.mark.slow
def test_publish_csv_with_an_oversized_cell_sends_the_rest(settings: Settings, stack_env, tmp_path: Path) -> None:
    provision(settings)
    path = tmp_path / "feed.csv"
    stamp = "2026-11-20T09:00:00Z"
    path.write_text(f'id,title,published_at\na1,"{"x" * 300_000}",{stamp}\na2,ok,{stamp}\na3,ok,{stamp}\n')
    done = _run(["publish", str(path)], stack_env)
    assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stderr[-2000:]
    assert f"sent 2 articles to {settings.topic_raw}, rejected 1" in done.stdout and "too_large" in done.stdout
