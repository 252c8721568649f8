"""The cheap path: logistic-regression heads on frozen encoder features, folded into a multi-head model.

The encoder is not trained. Its mean-pooled sentence vectors are computed once, a standardised logistic
regression is fitted per task (the regularisation strength picked on a held-out part of the training data,
never on the validation split), and the scaler and the regression are folded into the linear heads of a
`MultiHeadClassifier`, so the pipeline runs it like any other model: one encoder pass, exact same
probabilities as the regression's `predict_proba`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from models import plots
from models.data import LabeledSet
from models.evaluation.metrics import classification_metrics
from models.model_card import describe_data, free_folder, package_versions, versioned_name, write_card
from models.training.batching import collate, sorted_batches
from models.training.train import load_base
from streamproc.errors import UserError
from streamproc.inference.multihead import MultiHeadClassifier, pool
from streamproc.inference.predictor import resolve_device

C_GRID = (0.03, 0.1, 0.3, 1.0)
HOLDOUT_FRACTION = 0.15
FEATURE_BATCH = 32


@dataclass(frozen=True)
class FastSettings:
    """What a fast refit depends on (recorded in the model card)."""

    max_length: int = 128
    seed: int = 13
    class_weight: str | None = "balanced"
    c_grid: tuple[float, ...] = C_GRID


@dataclass
class FittedHead:
    """A task's folded linear head and how it was chosen."""

    labels: list[str]
    weight: torch.Tensor
    bias: torch.Tensor
    c: float
    holdout_macro_f1: dict[float, float]


@torch.inference_mode()
def encode_features(
    encoder: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    desc: str = "encoding",
) -> np.ndarray:
    """Mean-pooled last-layer vectors, one row per text (length-sorted batches, dynamic padding)."""
    encoder.eval()
    device = next(encoder.parameters()).device
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    features = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    for index in tqdm(sorted_batches([len(x) for x in ids], FEATURE_BATCH), desc=desc, unit="batch"):
        input_ids, mask = collate([ids[i] for i in index], tokenizer.pad_token_id)
        hidden = encoder(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        features[index] = pool(hidden, mask.to(device), "mean").float().cpu().numpy()
    return features


def fit_head(features: np.ndarray, labels: list[str], settings: FastSettings) -> FittedHead:
    """Pick C on a held-out part of the training data, refit on all of it, fold into a linear layer."""
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    rest, held = train_test_split(
        np.arange(len(labels)), test_size=HOLDOUT_FRACTION, stratify=labels, random_state=settings.seed
    )
    scores = {}
    for c in settings.c_grid:
        model = _ScaledRegression(c, settings).fit(features[rest], [labels[i] for i in rest])
        predicted = model.predict(features[held]).tolist()
        scores[c] = classification_metrics([labels[i] for i in held], predicted, names)["macro_f1"]
    best = max(settings.c_grid, key=lambda c: (scores[c], -c))
    regression = _ScaledRegression(best, settings).fit(features, labels)
    weight, bias = fold(regression, [index[n] for n in regression.regression.classes_], len(names))
    return FittedHead(names, weight, bias, best, scores)


def fold(pipeline: _ScaledRegression, order: list[int], n_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of a linear layer whose softmax equals the scaler + regression's `predict_proba`.

    Standardisation folds as W' = W / σ, b' = b - W'·μ. A binary regression has one row w: softmax over
    (-z/2, z/2) is sigmoid(z), so its two rows are -w/2 and w/2.
    """
    scaler: StandardScaler = pipeline.scaler
    regression: LogisticRegression = pipeline.regression
    coef, intercept = regression.coef_, regression.intercept_
    if coef.shape[0] == 1:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    scaled = coef / scaler.scale_
    weight = np.zeros((n_labels, coef.shape[1]))
    bias = np.zeros(n_labels)
    weight[order] = scaled
    bias[order] = intercept - scaled @ scaler.mean_
    return torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32)


def train_fast_model(
    sets: dict[str, tuple[LabeledSet, LabeledSet]],
    base: Path,
    out_root: Path,
    name: str,
    settings: FastSettings = FastSettings(),
    data_files: dict[str, dict[str, Path | None]] | None = None,
    device: str = "auto",
) -> Path:
    """Fit a head per task of `sets` (task -> (train, val)) on the frozen `base`; write `<out_root>/<name>/<v>`."""
    started = time.monotonic()
    encoder, tokenizer = load_base(base)
    encoder.to(resolve_device(device))
    heads: dict[str, FittedHead] = {}
    metrics: dict[str, dict] = {}
    for task, (train, val) in sets.items():
        train_x = encode_features(encoder, tokenizer, train.texts, settings.max_length, f"{task}: train features")
        val_x = encode_features(encoder, tokenizer, val.texts, settings.max_length, f"{task}: val features")
        head = fit_head(train_x, train.labels, settings)
        unknown = sorted(set(val.labels) - set(head.labels))
        if unknown:
            raise UserError(f"{task}: validation labels {unknown} never occur in the training data")
        heads[task] = head
        metrics[task] = score_head(head, val_x, val.labels)
    version = versioned_name(name)
    model = MultiHeadClassifier(encoder.cpu(), {t: h.labels for t, h in heads.items()}, version=version)
    with torch.no_grad():
        for task, head in heads.items():
            model.heads[task].weight.copy_(head.weight)
            model.heads[task].bias.copy_(head.bias)
    folder = free_folder(Path(out_root) / name / version)
    model.version = folder.name
    model.save(folder, tokenizer=tokenizer, extra={"max_length": settings.max_length, "base_model": str(base)})
    record = {"version": folder.name, "kind": "fast-heads", "tasks": metrics, "epochs": []}
    (folder / "metrics.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    card = _card(folder.name, base, model, sets, heads, metrics, settings, data_files or {}, started)
    write_card(folder, card)
    matrices = {task: (m["confusion"]["labels"], m["confusion"]["matrix"]) for task, m in metrics.items()}
    plots.confusion_matrices(matrices, folder / "confusion_matrix.png")
    return folder


def score_head(head: FittedHead, features: np.ndarray, labels: list[str]) -> dict:
    """Validation metrics of a folded head on precomputed features."""
    logits = torch.from_numpy(features) @ head.weight.T + head.bias
    predicted = [head.labels[i] for i in logits.argmax(-1).tolist()]
    return classification_metrics(labels, predicted, head.labels)


class _ScaledRegression:
    """Scaler then logistic regression, with sklearn's fit/predict surface."""

    def __init__(self, c: float, settings: FastSettings) -> None:
        self.scaler = StandardScaler()
        self.regression = LogisticRegression(C=c, max_iter=3000, class_weight=settings.class_weight)

    def fit(self, features: np.ndarray, labels: list[str]) -> _ScaledRegression:
        self.regression.fit(self.scaler.fit_transform(features), labels)
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.regression.predict(self.scaler.transform(features))

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.regression.predict_proba(self.scaler.transform(features))


def _card(
    version: str,
    base: Path,
    model: MultiHeadClassifier,
    sets: dict[str, tuple[LabeledSet, LabeledSet]],
    heads: dict[str, FittedHead],
    metrics: dict[str, dict],
    settings: FastSettings,
    data_files: dict[str, dict[str, Path | None]],
    started: float,
) -> dict:
    headline = ("n", "accuracy", "macro_f1", "per_class")
    return {
        "version": version,
        "summary": f"{', '.join(model.tasks)}: logistic-regression heads on frozen {Path(base).name} "
        "mean-pooled features (fast refit).",
        "tasks": model.tasks,
        "loss_head_layers": [],
        "metrics": {task: {k: m[k] for k in headline} for task, m in metrics.items()},
        "epochs": [],
        "data": {
            task: {
                "train": describe_data(train, data_files.get(task, {}).get("train")),
                "val": describe_data(val, data_files.get(task, {}).get("val")),
            }
            for task, (train, val) in sets.items()
        },
        "base_model": {"path": str(base), "hidden_size": model.encoder.config.hidden_size},
        "hyperparameters": {
            "max_length": settings.max_length,
            "seed": settings.seed,
            "class_weight": settings.class_weight,
            "c_grid": list(settings.c_grid),
            "chosen_c": {task: head.c for task, head in heads.items()},
            "holdout_macro_f1": {task: head.holdout_macro_f1 for task, head in heads.items()},
        },
        "device": str(next(model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "packages": package_versions(),
    }
