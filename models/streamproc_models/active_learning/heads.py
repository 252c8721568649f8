"""The classifier retrained every round: standardised logistic regression on frozen sentence vectors."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from streamproc_models.active_learning.settings import DEFAULT_C


class RoundClassifier:
    """Logistic regression refitted each round from the previous round's weights (warm start).

    Features come already standardised (the scaler is fitted once on the whole pool: the unlabeled pool is
    known in active learning). Class-balanced, as the fast default model is, because the score is macro-F1.
    """

    def __init__(self, n_classes: int, c: float = DEFAULT_C, max_iter: int = 300) -> None:
        self.n_classes = n_classes
        self.model = LogisticRegression(C=c, max_iter=max_iter, class_weight="balanced", warm_start=True)

    def fit(self, features: np.ndarray, labels: np.ndarray) -> RoundClassifier:
        """Fit on the labeled examples (labels are class indexes; every class must be present)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model.fit(features, labels)
        return self

    def proba(self, features: np.ndarray) -> np.ndarray:
        """(n, n_classes) class probabilities, columns in class-index order."""
        out = np.zeros((len(features), self.n_classes))
        out[:, self.model.classes_] = self.model.predict_proba(features)
        return out

    def example_losses(self, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Per-example cross-entropy (the loss the Learning-Loss module learns to rank)."""
        p = self.proba(features)[np.arange(len(labels)), labels]
        return -np.log(np.clip(p, 1e-12, 1.0))
