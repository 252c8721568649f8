"""One simulated stream: a stratified seed set, then rounds of picks by a strategy, retrain, score on val.

The pool's labels are held back and revealed only for the items a strategy picks (the reviewer). Every
strategy of one seed starts from the same seed set and retrains the same classifier, so curves are paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from streamproc_models.active_learning.heads import RoundClassifier
from streamproc_models.active_learning.loss_module import LossModule
from streamproc_models.active_learning.settings import SimSettings
from streamproc_models.active_learning.strategies import STRATEGIES, Scores

CLUSTER_DIMS = 64


@dataclass
class PreparedSet:
    """A data set's features, standardised once over the pool, with class indexes as labels."""

    name: str
    labels: list[str]
    pool_y: np.ndarray
    val_y: np.ndarray
    pool_x: np.ndarray
    val_x: np.ndarray
    pool_layers: list[np.ndarray]
    pool_cluster: np.ndarray = field(repr=False)

    @property
    def pool_size(self) -> int:
        """Items in the stream."""
        return len(self.pool_y)


def prepare(
    name: str,
    pool_layers: dict[int, np.ndarray],
    val_layers: dict[int, np.ndarray],
    pool_labels: list[str],
    val_labels: list[str],
) -> PreparedSet:
    """Standardise (scalers fitted on the unlabeled pool), index labels, reduce vectors for clustering."""
    names = sorted(set(pool_labels))
    index = {label: i for i, label in enumerate(names)}
    last = max(pool_layers)
    scaler = StandardScaler().fit(pool_layers[last])
    pool_x, val_x = scaler.transform(pool_layers[last]), scaler.transform(val_layers[last])
    layers = [StandardScaler().fit_transform(pool_layers[k]).astype(np.float32) for k in sorted(pool_layers)]
    dims = min(CLUSTER_DIMS, pool_x.shape[1], len(pool_x))
    cluster = PCA(n_components=dims, random_state=0).fit_transform(pool_x).astype(np.float32)
    return PreparedSet(
        name,
        names,
        np.array([index[label] for label in pool_labels]),
        np.array([index.get(label, -1) for label in val_labels]),
        pool_x,
        val_x,
        layers,
        cluster,
    )


def checkpoint_sizes(pool_size: int, n_classes: int, settings: SimSettings) -> list[int]:
    """Labeled-set sizes after the seed set and after each round (increasing, within the pool)."""
    seed = max(settings.seed_min, round(settings.seed_fraction * pool_size), n_classes)
    sizes = [min(seed, pool_size)]
    for fraction in settings.checkpoints:
        size = min(pool_size, round(fraction * pool_size))
        if size > sizes[-1]:
            sizes.append(size)
    return sizes


def evaluate(classifier: RoundClassifier, data: PreparedSet) -> tuple[float, float]:
    """(macro-F1, accuracy) on the validation split."""
    predicted = classifier.proba(data.val_x).argmax(axis=1)
    labels = list(range(len(data.labels)))
    macro = f1_score(data.val_y, predicted, labels=labels, average="macro", zero_division=0)
    return float(macro), float(accuracy_score(data.val_y, predicted))


def full_pool_score(data: PreparedSet, settings: SimSettings) -> dict[str, float]:
    """The ceiling: the same classifier trained on every pool label."""
    classifier = RoundClassifier(len(data.labels), settings.c).fit(data.pool_x, data.pool_y)
    macro, accuracy = evaluate(classifier, data)
    return {"macro_f1": macro, "accuracy": accuracy}


def seed_set(pool_y: np.ndarray, size: int, strategy: str, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """The stratified seed set as a mask over the pool (the same for every strategy of a seed), and the
    strategy's own random generator."""
    first, _ = train_test_split(np.arange(len(pool_y)), train_size=size, stratify=pool_y, random_state=seed)
    is_labeled = np.zeros(len(pool_y), dtype=bool)
    is_labeled[first] = True
    return is_labeled, np.random.default_rng([seed, sorted(STRATEGIES).index(strategy)])


def run_curve(data: PreparedSet, strategy: str, seed: int, settings: SimSettings) -> dict:
    """One stream: labeled-set sizes with the validation macro-F1 and accuracy after each retraining."""
    pick = STRATEGIES[strategy]
    sizes = checkpoint_sizes(data.pool_size, len(data.labels), settings)
    is_labeled, rng = seed_set(data.pool_y, sizes[0], strategy, seed)
    classifier = RoundClassifier(len(data.labels), settings.c)
    macro_f1, accuracy = [], []
    for round_number, size in enumerate(sizes):
        if round_number:
            unlabeled = np.flatnonzero(~is_labeled)
            scores = _scores(data, classifier, strategy, is_labeled, unlabeled, rng, seed, settings)
            chosen = unlabeled[pick(scores, size - int(is_labeled.sum()))]
            is_labeled[chosen] = True
        classifier.fit(data.pool_x[is_labeled], data.pool_y[is_labeled])
        macro, acc = evaluate(classifier, data)
        macro_f1.append(macro)
        accuracy.append(acc)
    return {"seed": seed, "sizes": sizes, "macro_f1": macro_f1, "accuracy": accuracy}


def _scores(
    data: PreparedSet,
    classifier: RoundClassifier,
    strategy: str,
    is_labeled: np.ndarray,
    unlabeled: np.ndarray,
    rng: np.random.Generator,
    seed: int,
    settings: SimSettings,
) -> Scores:
    scores = Scores(proba=classifier.proba(data.pool_x[unlabeled]), rng=rng)
    if strategy == "margin_clusters":
        scores.cluster_features = data.pool_cluster[unlabeled]
    if strategy == "predicted_loss":
        labeled = np.flatnonzero(is_labeled)
        losses = _target_losses(data, classifier, labeled, seed, settings)
        module = LossModule(steps=settings.loss_steps, seed=seed + len(labeled))
        module.fit([layer[labeled] for layer in data.pool_layers], losses)
        scores.predicted_loss = module.predict([layer[unlabeled] for layer in data.pool_layers])
    return scores


def _target_losses(
    data: PreparedSet, classifier: RoundClassifier, labeled: np.ndarray, seed: int, settings: SimSettings
) -> np.ndarray:
    """The losses the module learns to rank: the classifier's own on its training items (as in the
    original joint training), or out-of-fold ones (each item scored by a classifier that did not see it)."""
    x, y = data.pool_x[labeled], data.pool_y[labeled]
    if settings.loss_target == "in_sample":
        return classifier.example_losses(x, y)
    splits = min(3, int(np.bincount(y).min()))
    if splits < 2:  # a class with one labeled item cannot be held out: use the in-sample losses
        return classifier.example_losses(x, y)
    losses = np.zeros(len(labeled))
    folds = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    for fit_part, held in folds.split(x, y):
        fold_model = RoundClassifier(len(data.labels), settings.c).fit(x[fit_part], y[fit_part])
        losses[held] = fold_model.example_losses(x[held], y[held])
    return losses
