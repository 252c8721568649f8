"""Uncertainty scores in [0, 1] (higher = less sure) from class probabilities, one per strategy."""

from __future__ import annotations

import numpy as np

from streamproc.config import UncertaintyStrategy


def uncertainty(probabilities: np.ndarray, strategy: UncertaintyStrategy) -> np.ndarray:
    """Per-row uncertainty of an (n, classes) probability matrix.

    least_confidence: 1 - p(top); margin: 1 - (p(top) - p(second)); entropy: H(p) / log(classes).
    `predicted_loss` is not computed from probabilities: it comes from the model's loss head.
    """
    probs = np.asarray(probabilities, dtype=np.float64)
    if strategy == "least_confidence":
        return 1.0 - probs.max(axis=1)
    if strategy == "margin":
        if probs.shape[1] < 2:
            return np.zeros(len(probs))
        top_two = np.sort(probs, axis=1)[:, -2:]
        return 1.0 - (top_two[:, 1] - top_two[:, 0])
    if strategy == "entropy":
        safe = np.clip(probs, 1e-12, 1.0)
        return -(probs * np.log(safe)).sum(axis=1) / np.log(max(probs.shape[1], 2))
    raise ValueError(f"strategy {strategy!r} needs the model's loss head, not probabilities")
