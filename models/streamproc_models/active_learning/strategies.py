"""Which unlabeled items to send to the reviewer next: one function per strategy, same signature.

Each takes the round's `Scores` (class probabilities of the unlabeled pool, and what else a strategy needs)
and returns `budget` positions into the unlabeled pool. Uncertainty scores are the pipeline's own
(`streamproc.inference.uncertainty`), so the simulation ranks exactly as the worker would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from streamproc.inference.uncertainty import uncertainty

CANDIDATE_FACTOR = 5


@dataclass
class Scores:
    """What the strategies may look at for the unlabeled pool this round."""

    proba: np.ndarray
    rng: np.random.Generator
    cluster_features: np.ndarray | None = None
    predicted_loss: np.ndarray | None = None


def _top(values: np.ndarray, budget: int) -> np.ndarray:
    """Positions of the `budget` largest values (ties broken by position, stable)."""
    return np.argsort(-values, kind="stable")[:budget]


def pick_random(scores: Scores, budget: int) -> np.ndarray:
    """Uniformly at random: the baseline."""
    return scores.rng.choice(len(scores.proba), size=budget, replace=False)


def pick_least_confidence(scores: Scores, budget: int) -> np.ndarray:
    """Lowest top-class probability."""
    return _top(uncertainty(scores.proba, "least_confidence"), budget)


def pick_margin(scores: Scores, budget: int) -> np.ndarray:
    """Smallest gap between the two most likely classes ("breaking ties")."""
    return _top(uncertainty(scores.proba, "margin"), budget)


def pick_entropy(scores: Scores, budget: int) -> np.ndarray:
    """Highest entropy of the class distribution."""
    return _top(uncertainty(scores.proba, "entropy"), budget)


def pick_predicted_loss(scores: Scores, budget: int) -> np.ndarray:
    """Highest loss predicted by the Learning-Loss module."""
    if scores.predicted_loss is None:
        raise ValueError("predicted_loss needs the loss module's predictions")
    return _top(scores.predicted_loss, budget)


def pick_margin_clusters(scores: Scores, budget: int) -> np.ndarray:
    """Diverse margin: the `CANDIDATE_FACTOR * budget` most uncertain items by margin are clustered into
    `budget` groups (k-means on the sentence vectors) and the most uncertain item of each group is taken,
    so one batch does not spend the reviewer's time on near-duplicates (after Zhdanov 2019)."""
    if scores.cluster_features is None:
        raise ValueError("margin_clusters needs the pool's sentence vectors")
    margin = uncertainty(scores.proba, "margin")
    candidates = _top(margin, min(len(margin), CANDIDATE_FACTOR * budget))
    if len(candidates) <= budget:
        return candidates
    # on call: `streamproc --help` imports this module and must not need the training extra (scikit-learn)
    from sklearn.cluster import KMeans

    seed = int(scores.rng.integers(2**31 - 1))
    groups = KMeans(n_clusters=budget, n_init=1, max_iter=50, random_state=seed).fit_predict(
        scores.cluster_features[candidates]
    )
    first_of_group: dict[int, int] = {}
    for rank, group in enumerate(groups.tolist()):  # candidates are sorted by uncertainty: the first one wins
        first_of_group.setdefault(group, rank)
    chosen = candidates[sorted(first_of_group.values())]
    if len(chosen) < budget:  # k-means may leave a cluster empty: fill up with the next most uncertain
        rest = np.setdiff1d(candidates, chosen, assume_unique=True)
        chosen = np.concatenate([chosen, rest[np.argsort(-margin[rest], kind="stable")][: budget - len(chosen)]])
    return chosen


STRATEGIES: dict[str, Callable[[Scores, int], np.ndarray]] = {
    "random": pick_random,
    "least_confidence": pick_least_confidence,
    "margin": pick_margin,
    "entropy": pick_entropy,
    "predicted_loss": pick_predicted_loss,
    "margin_clusters": pick_margin_clusters,
}
