"""Texts -> labels, scores, probabilities and uncertainty for every task the model has a head for."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streamproc.config import UncertaintyStrategy
from streamproc.inference.uncertainty import uncertainty

if TYPE_CHECKING:  # the predictor module imports torch; the review CLI reads these types without it
    from streamproc.inference.predictor import Predictor


@dataclass(frozen=True)
class TaskResult:
    """One task's answer for one text."""

    label: str
    score: float
    probabilities: dict[str, float]
    uncertainty: float


@dataclass(frozen=True)
class Classification:
    """Every served task's answer for one text, and the largest uncertainty of the reviewed tasks."""

    tasks: dict[str, TaskResult]
    strategy: UncertaintyStrategy
    max_uncertainty: float


def classify(
    predictor: Predictor,
    texts: list[str],
    strategy: UncertaintyStrategy,
    tasks: Collection[str],
    reviewed: Collection[str],
) -> list[Classification]:
    """Run the models once over `texts` for `tasks` (those the model has a head for; blocking: call it off the
    event loop). `max_uncertainty` is taken over the `reviewed` tasks only (0 when none is served)."""
    served = [task for task in tasks if task in predictor.tasks]
    predictions = predictor.predict(texts)
    scores: dict[str, np.ndarray] = {}
    for task in served:
        if strategy == "predicted_loss":
            assert predictions.predicted_loss is not None, "loader guarantees a loss head"
            scores[task] = predictions.predicted_loss.astype(np.float64)
        else:
            scores[task] = uncertainty(predictions.probabilities[task], strategy)
    results = []
    for row in range(len(texts)):
        answers: dict[str, TaskResult] = {}
        for task in served:
            labels = predictor.tasks[task]
            probs = predictions.probabilities[task][row]
            best = int(np.argmax(probs))
            answers[task] = TaskResult(
                label=labels[best],
                score=float(probs[best]),
                probabilities={label: float(p) for label, p in zip(labels, probs, strict=True)},
                uncertainty=float(scores[task][row]),
            )
        worst = max((answers[task].uncertainty for task in served if task in reviewed), default=0.0)
        results.append(Classification(answers, strategy, worst))
    return results
