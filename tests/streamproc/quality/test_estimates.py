"""The estimators: their 95 % intervals cover the truth about 95 % of the time on simulated audit samples."""

from __future__ import annotations

import numpy as np

from streamproc.quality.estimates import (
    calibration,
    confusion,
    labels_for_half_width,
    macro_f1,
    macro_f1_of,
    per_class,
    wilson,
)

LABELS = ["politics", "economy", "society", "culture"]


def test_wilson_intervals_cover_the_true_accuracy_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    for accuracy, n in ((0.83, 50), (0.83, 400), (0.97, 100)):
        covered = 0
        for _ in range(2000):
            interval = wilson(int(rng.binomial(n, accuracy)), n)
            covered += interval.low <= accuracy <= interval.high
        print(f"[coverage] Wilson, accuracy {accuracy}, n={n}: {covered / 2000:.3f}")
        assert 0.925 <= covered / 2000 <= 0.975  # 95 % nominal; 2,000 draws put the estimate within ±1 point


def test_bootstrap_macro_f1_intervals_cover_the_stream_value() -> None:
    """A stream of 20,000 articles with a model right 80 % of the time; audit samples of 300 of them."""
    rng = np.random.default_rng(2)
    truth = rng.choice(len(LABELS), size=20_000, p=[0.4, 0.3, 0.2, 0.1])
    wrong = rng.random(20_000) > 0.8
    predicted = np.where(wrong, rng.integers(0, len(LABELS), size=20_000), truth)
    names = np.array(LABELS)
    stream = macro_f1_of(confusion(list(names[truth]), list(names[predicted]), LABELS))
    covered, draws = 0, 150
    for _ in range(draws):
        pick = rng.choice(20_000, size=300, replace=False)
        interval = macro_f1(list(names[truth[pick]]), list(names[predicted[pick]]), LABELS, rounds=1000)
        covered += interval.low <= stream <= interval.high
    print(f"[coverage] bootstrap macro-F1, n=300: {covered / draws:.3f} (stream value {stream:.3f})")
    assert 0.85 <= covered / draws <= 0.99  # percentile bootstrap of a ratio statistic: near, not at, 95 %


def test_small_samples_are_honest_and_the_needed_labels_follow_the_accuracy() -> None:
    assert wilson(3, 3).low < 0.5 < wilson(3, 3).high == 1.0  # three right of three says little
    assert wilson(0, 10).low == 0.0
    assert labels_for_half_width(0.85) == 545 and labels_for_half_width(0.5) == 1068
    assert labels_for_half_width(0.85, half_width=0.05) < labels_for_half_width(0.85)


def test_per_class_and_calibration() -> None:
    rows = per_class(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert rows["a"] == {"precision": 1.0, "recall": 0.5, "n_true": 2, "n_predicted": 1}
    assert rows["b"]["precision"] == round(2 / 3, 4) and rows["c"] == {
        "precision": None,
        "recall": None,
        "n_true": 0,
        "n_predicted": 0,
    }
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.3, 1.0, size=20_000)
    honest = calibration(list(confidence), list(rng.random(20_000) < confidence))
    overconfident = calibration(list(confidence), list(rng.random(20_000) < confidence - 0.2))
    assert honest.ece < 0.02 < 0.15 < overconfident.ece
    assert sum(b["n"] for b in honest.bins) == 20_000
