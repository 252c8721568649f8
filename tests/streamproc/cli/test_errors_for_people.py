"""A bad config, an unreachable server or a missing model gives one clear line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import free_port


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("streamproc: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"STREAMPROC_BATCH_SIZE": "abc"}, "STREAMPROC_BATCH_SIZE"),
        ({"STREAMPROC_BATCH_SIZE": "0"}, "STREAMPROC_BATCH_SIZE"),
        ({"STREAMPROC_KAFKA_BOOTSTRAP_SERVERS": "no-port-here"}, "STREAMPROC_KAFKA_BOOTSTRAP_SERVERS"),
        ({"STREAMPROC_DEVICE": "tpu"}, "STREAMPROC_DEVICE"),
        ({"STREAMPROC_ES_URL": "localhost:9200"}, "STREAMPROC_ES_URL"),
        ({"STREAMPROC_TOPIC_MODEL_DIR": "/tmp/x"}, "STREAMPROC_TASK_MODEL_DIRS"),  # retired: names its successor
        ({"STREAMPROC_TASKS_FILE": "/nowhere/tasks.toml"}, "STREAMPROC_TASKS_FILE"),
    ],
)
def test_bad_setting_names_the_variable(env: dict[str, str], expected: str) -> None:
    line = _one_line(_run(["worker"], env))
    assert "config error" in line and expected in line


def test_unreachable_broker() -> None:
    line = _one_line(_run(["worker"], {"STREAMPROC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}))
    assert "cannot reach Kafka" in line and "STREAMPROC_KAFKA_BOOTSTRAP_SERVERS" in line


def test_unreachable_broker_when_publishing(tmp_path) -> None:
    articles = tmp_path / "a.jsonl"
    articles.write_text('{"id": "a", "title": "t", "published_at": "2026-11-20T09:00:00Z"}\n')
    line = _one_line(
        _run(["publish", str(articles)], {"STREAMPROC_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    )
    assert "cannot reach Kafka" in line


def test_missing_model_directory(stack_env: dict[str, str], tmp_path) -> None:
    env = {**stack_env, "STREAMPROC_MULTITASK_MODEL_DIR": str(tmp_path / "nothing-here")}
    line = _one_line(_run(["worker"], env))
    assert "no model in" in line and "build-defaults" in line


def test_secrets_are_masked(tmp_path) -> None:
    done = _run(["config"], {"STREAMPROC_ES_PASSWORD": "hunter2-secret", "STREAMPROC_KAFKA_SASL_PASSWORD": "pw-9"})
    assert done.returncode == 0, done.stderr
    assert "hunter2-secret" not in done.stdout and "pw-9" not in done.stdout
    assert "STREAMPROC_ES_PASSWORD" in done.stdout and "**********" in done.stdout
