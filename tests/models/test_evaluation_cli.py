"""`streamproc train`, `evaluate` and `bench heads` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc.errors import UserError
from streamproc_models.evaluation import evaluate
from tests.models.toy_data import write_tsv


def _cli(*args: str, store: Path, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "STREAMPROC_MODEL_STORE": str(store), "STREAMPROC_DEVICE": "cpu"}
    if data_dir is not None:
        env["STREAMPROC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "streamproc", *args], capture_output=True, text=True, env=env, timeout=600
    )


def _train(tasks: str, store: Path, base: Path, *data: str) -> Path:
    done = _cli(
        "train",
        *tasks.split(),
        *data,
        "--base",
        str(base),
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--batch-size",
        "8",
        "--max-length",
        "32",
        store=store,
    )
    assert done.returncode == 0, done.stderr
    assert f"encoder {base} (bert): mean pooling, no input prefix, 128 positions" in done.stdout
    return Path(done.stdout.split("model folder: ")[1].splitlines()[0])


@pytest.fixture(scope="module")
def trained(tiny_base: Path, toy_topic: Path, toy_sentiment: Path, tmp_path_factory) -> dict[str, Path]:
    """A topic, a sentiment and a two-head model trained through the CLI into one model store."""
    store = tmp_path_factory.mktemp("store")
    return {
        "store": store,
        "topic": _train("topic", store, tiny_base, "--data", str(toy_topic)),
        "sentiment": _train("sentiment", store, tiny_base, "--data", str(toy_sentiment / "train.tsv")),
        "multitask": _train(
            "topic sentiment", store, tiny_base, "--data", f"topic={toy_topic}", "--data", f"sentiment={toy_sentiment}"
        ),
    }


def test_train_cli_writes_versioned_folders_in_the_store(trained: dict[str, Path]) -> None:
    for task in ("topic", "sentiment", "multitask"):
        assert trained[task].parent == trained["store"] / task
        assert (trained[task] / "training_curves.png").is_file()
    sentiment_card = json.loads((trained["sentiment"] / "model_card.json").read_text())
    # A single TSV file: a stratified tenth is held out for validation.
    assert [sentiment_card["data"]["sentiment"][split]["rows"] for split in ("train", "val")] == [72, 8]


def test_evaluate_cli_prints_report_and_writes_json_and_png(trained: dict[str, Path], toy_topic: Path, tmp_path):
    out = tmp_path / "eval" / "topic.json"
    done = _cli(
        "evaluate",
        str(trained["multitask"]),
        "--data",
        str(toy_topic / "val.tsv"),
        "--task",
        "topic",
        "--json",
        str(out),
        store=trained["store"],
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    assert result["n"] == 30 and sum(map(sum, result["confusion"]["matrix"])) == 30
    assert f"accuracy {result['accuracy']:.4f}" in done.stdout and "confusion matrix" in done.stdout
    assert set(result["per_class"]) == {"culture", "economy", "politics"}


def test_evaluate_maps_labels_and_refuses_unknown_ones(trained: dict[str, Path], tmp_path: Path) -> None:
    data = write_tsv(tmp_path / "renamed.tsv", [("정부 선거 국회 government", "pol"), ("market stocks 주가", "biz")])
    with pytest.raises(UserError, match="biz, pol"):
        evaluate(trained["topic"], data, device="cpu")
    result = evaluate(trained["topic"], data, label_map={"pol": "politics", "biz": "economy"}, device="cpu")
    assert result["n"] == 2 and result["label_map"] == {"pol": "politics", "biz": "economy"}
    done = _cli("evaluate", str(trained["multitask"]), "--data", str(data), store=trained["store"])
    assert done.returncode == 2 and "pass --task" in done.stderr and "Traceback" not in done.stderr


def test_bench_heads_compares_one_encoder_with_two_models(trained: dict[str, Path], toy_topic: Path, tmp_path):
    data_dir = tmp_path / "shared"
    (data_dir / "topic_ko_headlines").mkdir(parents=True)
    (data_dir / "topic_ko_headlines" / "val.tsv").write_bytes((toy_topic / "val.tsv").read_bytes())
    out = tmp_path / "bench.json"
    done = _cli(
        "bench",
        "heads",
        "--texts",
        "30",
        "--repeats",
        "2",
        "--json",
        str(out),
        store=trained["store"],
        data_dir=data_dir,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["throughput"]["shared_encoder"]["models"] == [str(trained["multitask"])]
    assert result["throughput"]["separate_models"]["models"] == [str(trained["topic"]), str(trained["sentiment"])]
    assert result["speedup"] > 0 and result["n_texts"] == 30
    assert result["quality"]["topic"]["shared_encoder"]["macro_f1"] is not None
    assert out.with_suffix(".png").is_file()


def test_train_names_unknown_tasks_and_data_without_a_task(toy_topic: Path, tmp_path: Path) -> None:
    unknown = _cli("train", "stance", "--data", str(toy_topic), store=tmp_path)
    assert unknown.returncode == 2 and "unknown task 'stance'" in unknown.stderr
    unclear = _cli("train", "topic", "sentiment", "--data", str(toy_topic), store=tmp_path)
    assert unclear.returncode == 2 and f"--data topic={toy_topic}" in unclear.stderr


def test_train_without_base_encoder_is_one_clear_line(toy_topic: Path, tmp_path: Path) -> None:
    done = _cli("train", "topic", "--data", str(toy_topic), "--base", str(tmp_path / "nope"), store=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no base encoder" in done.stderr
