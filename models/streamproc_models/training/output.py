"""Write a trained model's folder: weights, model card, metrics and figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from streamproc.inference.multihead import MultiHeadClassifier
from streamproc_models import plots
from streamproc_models.data import LabeledSet
from streamproc_models.model_card import describe_data, free_folder, package_versions, write_card
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.loop import History


@dataclass
class RunRecord:
    """What a training run used and produced, for the model card."""

    version: str
    base: Path
    hp: Hyperparameters
    sets: dict[str, tuple[LabeledSet, LabeledSet]]
    source_rows: dict[str, tuple[int, int]]
    data_files: dict[str, dict[str, Path | None]]
    history: History
    device: str
    trainable_parameters: int
    total_parameters: int
    wall_seconds: float


def write_run(task_root: Path, model: MultiHeadClassifier, tokenizer: PreTrainedTokenizerBase, run: RunRecord) -> Path:
    """`<task_root>/<version>/` with the model (MultiHeadClassifier format) and its card, metrics and PNGs."""
    folder = free_folder(task_root / run.version)
    model.version = folder.name
    run.version = folder.name
    extra = {"max_length": run.hp.max_length, "truncation": run.hp.truncation, "base_model": str(run.base)}
    model.save(folder, tokenizer=tokenizer, extra=extra)
    metrics = {
        "version": run.version,
        "best_epoch": run.history.best_epoch,
        "tasks": run.history.best_metrics,
        "epochs": run.history.epochs,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    write_card(folder, _card(run, model))
    plots.training_curves(run.history.epochs, folder / "training_curves.png")
    matrices = {
        task: (m["confusion"]["labels"], m["confusion"]["matrix"]) for task, m in run.history.best_metrics.items()
    }
    plots.confusion_matrices(matrices, folder / "confusion_matrix.png")
    return folder


def _card(run: RunRecord, model: MultiHeadClassifier) -> dict:
    tasks = ", ".join(model.tasks)
    loss_head = f" and a Learning-Loss head on hidden states {model.loss_head_layers}" if model.loss_head else ""
    data = {
        task: {
            split: describe_data(part, run.data_files.get(task, {}).get(split), rows)
            for split, part, rows in (
                ("train", train, run.source_rows[task][0]),
                ("val", val, run.source_rows[task][1]),
            )
        }
        for task, (train, val) in run.sets.items()
    }
    return {
        "version": run.version,
        "summary": f"{tasks} classifier{'s' if len(model.tasks) > 1 else ''} on one encoder{loss_head}, "
        f"fine-tuned from {run.base.name} ({'mean' if model.pooling == 'mean' else 'first-token'} pooling).",
        "tasks": model.tasks,
        "loss_head_layers": model.loss_head_layers,
        "metrics": {task: _headline(m) for task, m in run.history.best_metrics.items()},
        "best_epoch": run.history.best_epoch,
        "stopped_early": run.history.stopped_early,
        "epochs": run.history.epochs,
        "data": data,
        "base_model": _describe_base(run.base, model),
        "hyperparameters": run.hp.as_dict(),
        "parameters": {"total": run.total_parameters, "trainable": run.trainable_parameters},
        "device": run.device,
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": round(run.wall_seconds, 1),
        "packages": package_versions(),
    }


def _headline(metrics: dict) -> dict:
    return {key: metrics[key] for key in ("n", "accuracy", "macro_f1", "per_class") if key in metrics}


def _describe_base(base: Path, model: MultiHeadClassifier) -> dict:
    config = model.encoder.config
    described = {
        "path": str(base),
        "model_type": config.model_type,
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "vocab_size": config.vocab_size,
        "profile": {"pooling": model.pooling, **(model.profile.manifest() if model.profile else {})},
    }
    card = base / "model_card.json"
    if card.is_file():
        described["card"] = json.loads(card.read_text())
    return described
