"""`streamproc bench cpu-path` scores float32 and int8 side by side on every validation set of the task file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.tiny_models import SENTIMENTS, TOPICS


def _val_set(folder: Path, labels: list[str], words: list[str]) -> None:
    folder.mkdir(parents=True)
    rows = [f"{' '.join(words[i % len(words) :] + words[: i % 3])}\t{labels[i % len(labels)]}" for i in range(40)]
    (folder / "val.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")


def _task_file(path: Path) -> Path:
    """Two tasks with the tiny model's labels, each learned from one data set (and a third set that is not
    there: the bench scores the sets it finds)."""
    tasks = []
    for name, labels, folders in (
        ("topic", TOPICS, ["topic_tiny", "topic_missing"]),
        ("sentiment", SENTIMENTS, ["sentiment_tiny"]),
    ):
        entries = ", ".join(f'{{ name = "{label}", display = "{label}" }}' for label in labels)
        sources = "".join(f'\n[[task.sources]]\nfolder = "{folder}"\n' for folder in folders)
        tasks.append(f'[[task]]\nname = "{name}"\ndisplay = "{name}"\nlabels = [{entries}]\n{sources}')
    path.write_text("\n".join(tasks), encoding="utf-8")
    return path


def test_cpu_path_bench_prints_both_precisions_per_set(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _val_set(data / "topic_tiny", TOPICS, ["정부", "선거", "market", "stocks", "concert"])
    _val_set(data / "sentiment_tiny", SENTIMENTS, ["good", "bad", "growth", "loss", "award"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    env["STREAMPROC_DATA_DIR"] = str(data)
    env["STREAMPROC_TASKS_FILE"] = str(_task_file(tmp_path / "tasks.toml"))
    env["COLUMNS"] = "200"  # the table is wide; a narrower terminal would elide the set names
    out = tmp_path / "cpu.json"
    command = [sys.executable, "-m", "streamproc", "bench", "cpu-path", "--model-dir", str(tiny_model_dir)]
    done = subprocess.run(
        [*command, "--max-per-set", "30", "--threads", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "topic_tiny" in done.stdout and "sentiment_tiny" in done.stdout and "speed-up" in done.stdout
    result = json.loads(out.read_text())
    assert {row["set"]: row["task"] for row in result["sets"]} == {"sentiment_tiny": "sentiment", "topic_tiny": "topic"}
    for row in result["sets"]:
        assert row["n"] == 30
        for precision in ("float32", "int8"):
            assert 0 <= row[precision]["accuracy"] <= 1 and row[precision]["articles_per_second"] > 0
        assert 0 <= row["agreement"] <= 1
        assert row["delta_accuracy"] == round(row["int8"]["accuracy"] - row["float32"]["accuracy"], 4)
    assert out.with_suffix(".png").stat().st_size > 0
