"""`streamproc bench cpu-path`: float32 vs int8 (dynamic quantisation) encoder, speed and accuracy on every
validation set of the task file's data sets that is present, side by side."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from streamproc.errors import UserError
from streamproc.inference.precision import Precision
from streamproc.inference.predictor import load_model
from streamproc.inference.threads import apply_inference_threads, inference_threads
from streamproc.tasks import TaskSet

PRECISIONS: tuple[Precision, ...] = ("float32", "int8")


def bench_cpu_path(
    model_dir: Path,
    data_dir: Path,
    tasks: TaskSet,
    max_per_set: int,
    max_tokens: int,
    threads: int | None,
    seed: int = 0,
) -> dict:
    """Per validation set and precision: accuracy, macro-F1, articles/s; plus agreement of the two predictions."""
    import torch

    from streamproc_models.data import read_tsv
    from streamproc_models.evaluation.metrics import classification_metrics

    apply_inference_threads(inference_threads(threads, torch.device("cpu")))
    predictors = {p: load_model(model_dir, device="cpu", max_tokens=max_tokens, precision=p) for p in PRECISIONS}
    found = [
        (task.name, source, tasks.source_dir(source, data_dir) / "val.tsv")
        for task in tasks
        for source in task.sources
        if task.name in predictors["float32"].tasks
    ]
    present = [(task, source, path) for task, source, path in found if path.is_file()]
    if not present:
        names = ", ".join(str(path) for *_, path in found)
        raise UserError(f"none of the task file's validation sets is there (set STREAMPROC_DATA_DIR): {names}")
    sets = []
    for task, source, path in tqdm(present, desc="validation sets", unit=" set"):
        folder = source.name
        labels = predictors["float32"].tasks[task]
        data = read_tsv(path)
        mapping = source.label_map
        rows = [(t, mapping.get(y, y)) for t, y in zip(data.texts, data.labels, strict=True)]
        rows = [row for row in rows if row[1] in labels]  # labels the model does not have cannot be scored
        rows = random.Random(seed).sample(rows, min(max_per_set, len(rows)))
        texts, truth = [t for t, _ in rows], [y for _, y in rows]
        row: dict = {"set": folder, "task": task, "n": len(rows)}
        predicted = {}
        for precision, predictor in predictors.items():
            predictor.predict(texts[:8])  # warm-up
            started = time.perf_counter()
            probs = predictor.predict(texts).probabilities[task]
            seconds = time.perf_counter() - started
            predicted[precision] = probs.argmax(axis=1)
            scores = classification_metrics(truth, [labels[i] for i in predicted[precision]], labels)
            row[precision] = {
                "accuracy": round(scores["accuracy"], 4),
                "macro_f1": round(scores["macro_f1"], 4),
                "articles_per_second": round(len(texts) / seconds, 1),
            }
        row["agreement"] = round(float(np.mean(predicted["float32"] == predicted["int8"])), 4)
        row["speedup"] = round(row["int8"]["articles_per_second"] / row["float32"]["articles_per_second"], 2)
        row["delta_accuracy"] = round(row["int8"]["accuracy"] - row["float32"]["accuracy"], 4)
        row["delta_macro_f1"] = round(row["int8"]["macro_f1"] - row["float32"]["macro_f1"], 4)
        sets.append(row)
    return {
        "model": str(model_dir),
        "max_per_set": max_per_set,
        "max_tokens": max_tokens,
        "torch_threads": torch.get_num_threads(),
        "sets": sets,
    }


def cpu_path_plot(result: dict, path: Path) -> Path:
    """Speed-up and macro-F1 change per validation set."""
    from matplotlib.figure import Figure  # the training extra; no pyplot, no global backend

    names = [row["set"] for row in result["sets"]]
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    left.barh(names, [row["speedup"] for row in result["sets"]], color="tab:green")
    left.axvline(1.0, color="grey")
    left.set(title="int8 speed-up over float32", xlabel="x")
    right.barh(names, [100 * row["delta_macro_f1"] for row in result["sets"]], color="tab:red")
    right.axvline(0.0, color="grey")
    right.set(title="macro-F1 change (points)", xlabel="int8 - float32")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
