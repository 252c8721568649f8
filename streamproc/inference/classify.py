"""Texts -> labels, scores, probabilities and uncertainty for the pipeline's two tasks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamproc.config import UncertaintyStrategy
from streamproc.inference.predictor import Predictor
from streamproc.inference.uncertainty import uncertainty
from streamproc.tasks import TASKS


@dataclass(frozen=True)
class TaskResult:
    """One task's answer for one text."""

    label: str
    score: float
    probabilities: dict[str, float]
    uncertainty: float


@dataclass(frozen=True)
class Classification:
    """Both tasks' answers for one text, and the larger of the two uncertainties."""

    tasks: dict[str, TaskResult]
    strategy: UncertaintyStrategy
    max_uncertainty: float


def classify(predictor: Predictor, texts: list[str], strategy: UncertaintyStrategy) -> list[Classification]:
    """Run the models once over `texts` (blocking: call it off the event loop)."""
    predictions = predictor.predict(texts)
    scores: dict[str, np.ndarray] = {}
    for task in TASKS:
        if strategy == "predicted_loss":
            assert predictions.predicted_loss is not None, "loader guarantees a loss head"
            scores[task] = predictions.predicted_loss.astype(np.float64)
        else:
            scores[task] = uncertainty(predictions.probabilities[task], strategy)
    results = []
    for row in range(len(texts)):
        tasks: dict[str, TaskResult] = {}
        for task in TASKS:
            labels = predictor.tasks[task]
            probs = predictions.probabilities[task][row]
            best = int(np.argmax(probs))
            tasks[task] = TaskResult(
                label=labels[best],
                score=float(probs[best]),
                probabilities={label: float(p) for label, p in zip(labels, probs, strict=True)},
                uncertainty=float(scores[task][row]),
            )
        results.append(Classification(tasks, strategy, max(r.uncertainty for r in tasks.values())))
    return results
