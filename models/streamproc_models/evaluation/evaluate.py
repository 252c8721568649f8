"""Score a model folder (multi-head or Hugging Face) on a labeled TSV file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from tqdm import tqdm

from streamproc.errors import UserError
from streamproc.inference.predictor import load_model
from streamproc_models import plots
from streamproc_models.data import read_tsv
from streamproc_models.evaluation.metrics import classification_metrics

PROGRESS_CHUNK = 256


def evaluate(
    model_dir: Path,
    data_tsv: Path,
    task: str | None = None,
    label_map: dict[str, str] | None = None,
    max_tokens: int = 256,
    device: str = "auto",
) -> dict:
    """Accuracy, macro-F1, per-class scores and confusion matrix of `task` on `data_tsv`.

    `label_map` renames data labels to model labels (e.g. {"mid": "neutral"}); a data label the model does
    not know, after mapping, is a `UserError`.
    """
    data = read_tsv(data_tsv)
    predictor = load_model(Path(model_dir), device=device, max_tokens=max_tokens, task=task)
    task = _choose_task(predictor.tasks, task, model_dir)
    labels = predictor.tasks[task]
    mapping = label_map or {}
    truth = [mapping.get(label, label) for label in data.labels]
    unknown = sorted(set(truth) - set(labels))
    if unknown:
        raise UserError(
            f"{data_tsv} has labels the {task} model does not know: {', '.join(unknown)} "
            f"(model labels: {', '.join(labels)}); map them with --label-map DATA=MODEL[,...]"
        )
    started = time.monotonic()
    probabilities, predicted_loss = _predict(predictor, data.texts, task)
    seconds = time.monotonic() - started
    predicted = [labels[i] for i in probabilities.argmax(axis=1)]
    result = {
        "model": str(model_dir),
        "version": predictor.versions[task],
        "task": task,
        "data": str(data_tsv),
        "label_map": mapping,
        **classification_metrics(truth, predicted, labels),
        "seconds": round(seconds, 2),
        "articles_per_second": round(len(data) / max(seconds, 1e-9), 1),
    }
    if predicted_loss is not None:
        index = {label: i for i, label in enumerate(labels)}
        true_p = probabilities[np.arange(len(truth)), [index[label] for label in truth]]
        result["loss_head_spearman"] = float(spearmanr(predicted_loss, -np.log(np.clip(true_p, 1e-12, 1))).statistic)
    return result


def write_evaluation(result: dict, json_path: Path) -> tuple[Path, Path]:
    """The result as JSON and its confusion matrix as a PNG beside it."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    confusion = result["confusion"]
    png = plots.confusion_matrices(
        {f"{result['task']} on {Path(result['data']).name}": (confusion["labels"], confusion["matrix"])},
        json_path.with_suffix(".png"),
    )
    return json_path, png


def default_output(model_dir: Path, data_tsv: Path, task: str) -> Path:
    """`<model_dir>/evaluation-<task>-<data folder>-<file stem>.json`."""
    data_tsv = Path(data_tsv)
    return Path(model_dir) / f"evaluation-{task}-{data_tsv.parent.name}-{data_tsv.stem}.json"


def parse_label_map(text: str | None) -> dict[str, str]:
    """`a=b,c=d` -> {"a": "b", "c": "d"}."""
    if not text:
        return {}
    mapping = {}
    for pair in text.split(","):
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise UserError(f"bad --label-map entry {pair!r}: expected DATA_LABEL=MODEL_LABEL[,...]")
        mapping[source.strip()] = target.strip()
    return mapping


def _choose_task(tasks: dict[str, list[str]], task: str | None, model_dir: Path) -> str:
    if task is None and len(tasks) == 1:
        return next(iter(tasks))
    if task in tasks:
        return task
    wanted = "pass --task" if task is None else f"it has no task {task!r}"
    raise UserError(f"{model_dir} has tasks {', '.join(tasks)}: {wanted}")


def _predict(predictor, texts: list[str], task: str) -> tuple[np.ndarray, np.ndarray | None]:
    parts, losses = [], []
    for start in tqdm(range(0, len(texts), PROGRESS_CHUNK), desc="evaluating", unit="chunk", leave=False):
        predictions = predictor.predict(texts[start : start + PROGRESS_CHUNK])
        parts.append(predictions.probabilities[task])
        if predictions.predicted_loss is not None:
            losses.append(predictions.predicted_loss)
    return np.concatenate(parts), (np.concatenate(losses) if losses else None)
