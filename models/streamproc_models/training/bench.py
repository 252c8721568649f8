"""One encoder with a head per task vs one single-task model per task: throughput on the same texts, and quality."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
from tqdm import tqdm

from streamproc.errors import UserError
from streamproc.inference.predictor import CHUNK_SIZE, CombinedPredictor, load_model
from streamproc_models import plots


def bench_heads(
    multitask_dir: Path,
    single_dirs: dict[str, Path],
    texts: list[str],
    repeats: int = 3,
    device: str = "auto",
    max_tokens: int = 256,
) -> dict:
    """Articles/s of each setup (median of `repeats` timed passes after a warm-up) and val scores per task:
    the multi-task folder against one single-task folder per task (`single_dirs`: task -> folder)."""
    shared = load_model(multitask_dir, device=device, max_tokens=max_tokens)
    missing = [task for task in single_dirs if task not in shared.tasks]
    if missing:
        raise UserError(f"{multitask_dir} has no {' and no '.join(missing)} head: pass a multi-task model")
    separate = CombinedPredictor(
        [load_model(path, device=device, max_tokens=max_tokens, task=task) for task, path in single_dirs.items()]
    )
    setups = {"shared_encoder": shared, "separate_models": separate}
    throughput = {name: _time(name, predictor, texts, repeats) for name, predictor in setups.items()}
    throughput["shared_encoder"]["models"] = [str(multitask_dir)]
    throughput["separate_models"]["models"] = [str(path) for path in single_dirs.values()]
    quality = {
        task: {"shared_encoder": _val_scores(multitask_dir, task), "single_task": _val_scores(path, task)}
        for task, path in single_dirs.items()
    }
    speeds = [throughput[name]["articles_per_second"] for name in ("shared_encoder", "separate_models")]
    return {
        "n_texts": len(texts),
        "batch_size": CHUNK_SIZE,
        "repeats": repeats,
        "torch_threads": torch.get_num_threads(),
        "throughput": throughput,
        "speedup": round(speeds[0] / speeds[1], 3),
        "quality": quality,
    }


def write_bench(result: dict, json_path: Path) -> tuple[Path, Path]:
    """The result as JSON and a bar chart PNG beside it."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return json_path, plots.bench_bars(result, json_path.with_suffix(".png"))


def latest_model(root: Path, name: str) -> Path:
    """The newest `<root>/<name>/<name>-<timestamp>` folder."""
    folders = sorted(p for p in (Path(root) / name).glob(f"{name}-*") if p.is_dir())
    if not folders:
        raise UserError(f"no trained {name} model under {Path(root) / name}: train one with `streamproc train {name}`")
    return folders[-1]


def _time(name: str, predictor, texts: list[str], repeats: int) -> dict:
    predictor.predict(texts[:CHUNK_SIZE])  # warm-up: first-call allocations
    seconds = []
    for _ in tqdm(range(repeats), desc=f"timing {name}", unit="pass", leave=False):
        started = time.perf_counter()
        predictor.predict(texts)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {"seconds": [round(s, 3) for s in seconds], "articles_per_second": round(len(texts) / median, 1)}


def _val_scores(model_dir: Path, task: str) -> dict:
    """Validation accuracy and macro-F1 from the folder's metrics.json (None when absent)."""
    path = Path(model_dir) / "metrics.json"
    scores = json.loads(path.read_text())["tasks"].get(task, {}) if path.is_file() else {}
    return {
        "model": str(model_dir),
        "accuracy": scores.get("accuracy"),
        "macro_f1": scores.get("macro_f1"),
    }
