"""Fast heads: the folded linear layer reproduces the regression exactly, and the folder runs in the pipeline."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from streamproc.inference.predictor import load_model
from streamproc_models.data import read_tsv
from streamproc_models.fast_heads import (
    FastSettings,
    WarmStarts,
    _ScaledRegression,
    encode_features,
    fit_head,
    fold,
    train_fast_model,
)
from streamproc_models.training.train import load_base


@pytest.mark.parametrize("n_labels", [2, 4])
def test_folded_head_equals_regression_probabilities(n_labels: int) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(120, 16)) * rng.uniform(0.1, 5, size=16) + rng.normal(size=16)
    labels = [f"l{i % n_labels}" for i in range(120)]
    features[:, 0] += np.arange(120) % n_labels  # some signal
    regression = _ScaledRegression(0.5, FastSettings()).fit(features, labels)
    weight, bias, _ = fold(regression, list(range(n_labels)), n_labels)
    logits = features @ weight.numpy().T + bias.numpy()
    folded = np.exp(logits - logits.max(1, keepdims=True))
    folded /= folded.sum(1, keepdims=True)
    np.testing.assert_allclose(folded, regression.predict_proba(features), atol=1e-5)


@pytest.mark.parametrize("n_labels", [2, 4])
def test_a_fit_started_from_its_own_folded_head_is_already_there(n_labels: int) -> None:
    """`start_from` inverts `fold` (n-gram columns included): a refit started from the folded solution stops at
    once, where a cold fit takes many solver steps, and lands on the same probabilities."""
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 12)) * rng.uniform(0.5, 3, size=12) + rng.normal(size=12)
    labels = [f"l{i % n_labels}" for i in range(200)]
    features[:, 0] += np.arange(200) % n_labels
    chars = sparse.random(200, 64, density=0.1, random_state=2, format="csr", dtype=np.float32)
    cold = _ScaledRegression(1.0, FastSettings()).fit(features, labels, chars)
    start = fold(cold, list(range(n_labels)), n_labels)
    rows = (start[0].numpy().astype(float), start[1].numpy().astype(float), start[2].numpy().astype(float))
    warm = _ScaledRegression(1.0, FastSettings()).fit(features, labels, chars, start=rows)
    assert cold.regression.n_iter_[0] >= 5 and warm.regression.n_iter_[0] <= 1
    np.testing.assert_allclose(warm.predict_proba(features, chars), cold.predict_proba(features, chars), atol=1e-3)


def test_a_refit_warm_started_from_a_model_gives_its_figures(
    tiny_base: Path, toy_topic: Path, toy_sentiment: Path, tmp_path: Path
) -> None:
    """Gated experts (topic from two sources), n-grams and a plain head (sentiment): a refit of the same rows started
    from the first model's heads gives the same validation figures, and every regression has a start."""
    topic_train, topic_val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    sets = {
        "topic": (topic_train, topic_val),
        "sentiment": (read_tsv(toy_sentiment / "train.tsv"), read_tsv(toy_sentiment / "val.tsv")),
    }
    half = len(topic_train) // 2
    parts = {"topic": [("first", half), ("second", len(topic_train) - half)]}
    settings = FastSettings(max_length=32)
    first = train_fast_model(sets, tiny_base, tmp_path, "first", settings, device="cpu", train_parts=parts)
    starts = WarmStarts(first)
    assert len(starts.get("topic", ["culture", "economy", "politics"], ["first", "second"], 32) or []) == 3
    assert len(starts.get("sentiment", ["negative", "positive"], [], 32) or []) == 1
    assert starts.get("sentiment", ["negative", "neutral", "positive"], [], 32) is None  # other labels: cold
    again = train_fast_model(
        sets, tiny_base, tmp_path, "again", replace(settings, warm_start=first), device="cpu", train_parts=parts
    )
    metrics = [json.loads((folder / "metrics.json").read_text())["tasks"] for folder in (first, again)]
    for task in sets:
        assert metrics[1][task]["accuracy"] == pytest.approx(metrics[0][task]["accuracy"])
        assert metrics[1][task]["macro_f1"] == pytest.approx(metrics[0][task]["macro_f1"], abs=0.02)
    assert json.loads((again / "model_card.json").read_text())["hyperparameters"]["warm_start"] == str(first)


def test_fit_head_picks_c_on_training_data_and_separates_toy_topics(tiny_base: Path, toy_topic: Path) -> None:
    encoder, tokenizer = load_base(tiny_base)
    train, val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    settings = FastSettings(max_length=32)
    head = fit_head(encode_features(encoder, tokenizer, train.texts, 32), train.labels, settings)
    assert head.labels == ["culture", "economy", "politics"]
    assert head.c in settings.c_grid and set(head.holdout_macro_f1) == set(settings.c_grid)
    logits = encode_features(encoder, tokenizer, val.texts, 32) @ head.weight.numpy().T + head.bias.numpy()
    accuracy = np.mean([head.labels[i] == label for i, label in zip(logits.argmax(1), val.labels, strict=True)])
    assert accuracy > 0.8  # chance is 1/3


def test_fast_two_head_model_folder_predicts_like_its_metrics(
    tiny_base: Path, toy_topic: Path, toy_sentiment: Path, tmp_path: Path
) -> None:
    sets = {
        "topic": (read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")),
        "sentiment": (read_tsv(toy_sentiment / "train.tsv"), read_tsv(toy_sentiment / "val.tsv")),
    }
    folder = train_fast_model(sets, tiny_base, tmp_path, "both-fast", FastSettings(max_length=32), device="cpu")
    assert folder.parent == tmp_path / "both-fast"
    for name in ("streamproc_model.json", "heads.safetensors", "metrics.json", "MODEL_CARD.md", "confusion_matrix.png"):
        assert (folder / name).is_file(), name
    card = json.loads((folder / "model_card.json").read_text())
    assert card["tasks"] == {"topic": ["culture", "economy", "politics"], "sentiment": ["negative", "positive"]}
    predictor = load_model(folder, device="cpu", max_tokens=32)
    probabilities = predictor.predict(sets["sentiment"][1].texts).probabilities["sentiment"]
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-5)
    predicted = [predictor.tasks["sentiment"][i] for i in probabilities.argmax(1)]
    accuracy = np.mean([p == t for p, t in zip(predicted, sets["sentiment"][1].labels, strict=True)])
    assert accuracy == pytest.approx(card["metrics"]["sentiment"]["accuracy"])
    assert accuracy > 0.8


def test_fast_heads_read_long_texts_head_and_tail_in_training_and_serving(
    tiny_base: Path, toy_topic: Path, tmp_path: Path
) -> None:
    train, val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    long_texts = [" ".join([text] * 12) for text in val.texts]  # ~70 tokens, cut at 24
    settings = FastSettings(max_length=24, char_ngrams=None)
    assert settings.truncation == "head_tail"
    folder = train_fast_model({"topic": (train, val)}, tiny_base, tmp_path, "ht", settings, device="cpu")
    assert json.loads((folder / "streamproc_model.json").read_text())["truncation"] == "head_tail"
    predictor = load_model(folder, device="cpu", max_tokens=24)
    served = predictor.predict(long_texts).probabilities["topic"]
    encoder, tokenizer = load_base(folder / "encoder")
    heads = predictor.model.heads["topic"]
    for truncation, same in (("head_tail", True), ("head", False)):
        features = encode_features(encoder, tokenizer, long_texts, 24, truncation=truncation)
        logits = features @ heads.weight.detach().numpy().T + heads.bias.detach().numpy()
        trained = np.exp(logits - logits.max(1, keepdims=True))
        trained /= trained.sum(1, keepdims=True)
        assert np.allclose(trained, served, atol=1e-4) is same, truncation
