"""Estimates from labelled samples, with their uncertainty: accuracy (Wilson interval), macro-F1 (bootstrap
interval), per-class precision and recall, and calibration (expected calibration error, reliability bins).

numpy only, so the worker and `streamproc quality` need nothing of the training extra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the normal quantile of a two-sided 95 % interval
BOOTSTRAP_ROUNDS = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95 % interval."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        """For JSON."""
        return {"value": round(self.value, 4), "low": round(self.low, 4), "high": round(self.high, 4)}


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """The share `successes / n` with its Wilson score interval (sound also near 0 and 1 and for small n)."""
    if n <= 0:
        raise ValueError("no observations")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def labels_for_half_width(accuracy: float, half_width: float = 0.03, z: float = Z95) -> int:
    """About how many audit labels give an accuracy interval of ± `half_width` at `accuracy`."""
    p = min(max(accuracy, 0.01), 0.99)
    return math.ceil(z * z * p * (1 - p) / (half_width * half_width))


def confusion(truth: list[str], predicted: list[str], labels: list[str]) -> np.ndarray:
    """Counts (true label, predicted label) in `labels` order."""
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(counts, ([index[t] for t in truth], [index[p] for p in predicted]), 1)
    return counts


def macro_f1_of(counts: np.ndarray) -> float:
    """Macro-F1 over the labels that occur (as truth or prediction) in a confusion matrix."""
    true_positive = np.diag(counts).astype(float)
    support, predicted = counts.sum(axis=1), counts.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * true_positive, support + predicted, out=np.zeros_like(true_positive), where=present)
    return float(f1[present].mean()) if present.any() else 0.0


def macro_f1(truth: list[str], predicted: list[str], labels: list[str], rounds: int = BOOTSTRAP_ROUNDS) -> Interval:
    """Macro-F1 with a percentile bootstrap interval (articles resampled with replacement; seeded)."""
    index = {label: i for i, label in enumerate(labels)}
    t = np.array([index[x] for x in truth])
    p = np.array([index[x] for x in predicted])
    k = len(labels)
    value = macro_f1_of(confusion(truth, predicted, labels))
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(t), size=(rounds, len(t)))
    flat = (t[draws] * k + p[draws]) + (np.arange(rounds)[:, None] * k * k)
    counts = np.bincount(flat.ravel(), minlength=rounds * k * k).reshape(rounds, k, k)
    scores = np.array([macro_f1_of(c) for c in counts])
    low, high = np.percentile(scores, [2.5, 97.5])
    return Interval(value, float(low), float(high))


def per_class(truth: list[str], predicted: list[str], labels: list[str]) -> dict[str, dict[str, float | int | None]]:
    """Per label: precision and recall (None where nothing was predicted / nothing is true), and their n."""
    counts = confusion(truth, predicted, labels)
    rows: dict[str, dict[str, float | int | None]] = {}
    for i, label in enumerate(labels):
        n_true, n_predicted, hit = int(counts[i].sum()), int(counts[:, i].sum()), int(counts[i, i])
        rows[label] = {
            "precision": round(hit / n_predicted, 4) if n_predicted else None,
            "recall": round(hit / n_true, 4) if n_true else None,
            "n_true": n_true,
            "n_predicted": n_predicted,
        }
    return rows


@dataclass(frozen=True)
class Calibration:
    """Expected calibration error and the reliability bins it is made of."""

    ece: float
    bins: list[dict[str, float | int]]  # lower/upper edge, n, mean confidence, accuracy


def calibration(confidence: list[float], correct: list[bool], bins: int = 10) -> Calibration:
    """How well the top-class probability matches how often the top class is right (equal-width bins)."""
    conf = np.clip(np.asarray(confidence, dtype=float), 0.0, 1.0)
    hit = np.asarray(correct, dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        members = which == b
        n = int(members.sum())
        if n:
            mean_conf, accuracy = float(conf[members].mean()), float(hit[members].mean())
            ece += n / len(conf) * abs(mean_conf - accuracy)
            rows.append(
                {"lower": b / bins, "upper": (b + 1) / bins, "n": n, "confidence": mean_conf, "accuracy": accuracy}
            )
    return Calibration(round(ece, 4), rows)
