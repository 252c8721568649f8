"""The character n-gram branch: serving bags equal the training TF-IDF rows, the fused fold is exact,
folders without a branch still load, and heads cope with data sets that lack some classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from streamproc.inference.char_ngrams import CharNgramBranch, CharNgramSpec, char_batch
from streamproc.inference.multihead import FORMAT, FORMAT_CHAR, FORMAT_EXPERTS, MultiHeadClassifier, read_manifest
from streamproc.inference.predictor import load_model
from streamproc_models.char_features import count_matrix, fit_idf, tfidf
from streamproc_models.data import LabeledSet, read_tsv
from streamproc_models.fast_heads import (
    FastSettings,
    _ScaledRegression,
    fit_gated_experts,
    fit_head,
    fold,
    source_weights,
    train_fast_model,
)
from tests.models.toy_data import toy_rows

SPEC = CharNgramSpec(buckets=2**12)
TEXTS = ["프로농구 개막전 매진", "주가 하락 마감", "국회 본회의 개최", "Pop star world tour", "주가 상승 마감 주가"]


def test_serving_bags_equal_the_training_tfidf_rows() -> None:
    counts = count_matrix(TEXTS, SPEC)
    idf = fit_idf(counts)
    rows = tfidf(counts, idf).toarray()
    batch = char_batch(TEXTS, SPEC, torch.from_numpy(idf))
    bag = torch.nn.EmbeddingBag(SPEC.buckets, SPEC.buckets, mode="sum")
    with torch.no_grad():
        bag.weight.copy_(torch.eye(SPEC.buckets))
    dense = bag(batch.ids, batch.offsets, per_sample_weights=batch.weights).detach().numpy()
    np.testing.assert_allclose(dense, rows, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-6)


@pytest.mark.parametrize("n_labels", [2, 3])
def test_fused_fold_equals_regression_probabilities(n_labels: int) -> None:
    rng = np.random.default_rng(1)
    texts = [f"{'가나다'[i % 3]}{'라마바'[i % n_labels]} {i % 7}" for i in range(90)]
    labels = [f"l{i % n_labels}" for i in range(90)]
    features = rng.normal(size=(90, 8)) * rng.uniform(0.5, 3, size=8)
    counts = count_matrix(texts, SPEC)
    idf = fit_idf(counts)
    chars = tfidf(counts, idf)
    regression = _ScaledRegression(3.0, FastSettings()).fit(features, labels, chars)
    weight, bias, char_weight = fold(regression, list(range(n_labels)), n_labels)
    assert char_weight is not None and char_weight.shape == (SPEC.buckets, n_labels)
    branch = CharNgramBranch(SPEC, {"t": n_labels})
    with torch.no_grad():
        branch.idf.copy_(torch.from_numpy(idf))
        branch.bags["t"].weight.copy_(char_weight)
    logits = torch.from_numpy(features).float() @ weight.T + bias + branch(branch.batch(texts))["t"]
    np.testing.assert_allclose(
        torch.softmax(logits, -1).detach().numpy(), regression.predict_proba(features, chars), atol=1e-4
    )


def test_buckets_no_training_text_uses_are_left_out_without_changing_the_regression() -> None:
    rng = np.random.default_rng(2)
    texts = [f"{'가나다'[i % 3]}{'라마바'[i % 2]} {i % 5}" for i in range(60)]
    labels = [f"l{i % 3}" for i in range(60)]
    features = rng.normal(size=(60, 4))
    unseen = ["가나 새로운 낱말", "완전히 다른 문장 9"]
    counts = count_matrix(texts + unseen, SPEC)
    idf = fit_idf(counts[:60])
    chars, new_chars = tfidf(counts[:60], idf), tfidf(counts[60:], idf)
    regression = _ScaledRegression(3.0, FastSettings()).fit(features, labels, chars)
    assert 0 < len(regression.columns) < SPEC.buckets
    full = LogisticRegression(C=3.0, max_iter=3000, class_weight="balanced", tol=1e-8)
    dense = regression.scaler.transform(features) * regression.scale
    full.fit(sparse.hstack([sparse.csr_matrix(dense), chars], format="csr"), labels)
    new_dense = regression.scaler.transform(features[:2]) * regression.scale
    expected = full.predict_proba(sparse.hstack([sparse.csr_matrix(new_dense), new_chars], format="csr"))
    np.testing.assert_allclose(regression.predict_proba(features[:2], new_chars), expected, atol=2e-3)
    _, _, char_weight = fold(regression, [0, 1, 2], 3)
    assert char_weight is not None
    unused = np.setdiff1d(np.arange(SPEC.buckets), regression.columns)
    assert not char_weight[unused].any() and char_weight[regression.columns].any()


@pytest.mark.parametrize("gated", [True, False])
def test_partial_label_sets_train_every_class_they_have(tiny_base: Path, tmp_path: Path, gated: bool) -> None:
    """Two topic sources: one without `culture`, one with only `culture` and `economy` (gated experts or one head)."""
    words = {
        "politics": ["정부", "국회", "선거"],
        "economy": ["경제", "주가", "수출"],
        "culture": ["문화", "공연", "축제"],
    }
    first = toy_rows({k: v for k, v in words.items() if k != "culture"}, 30, seed=1)
    second = toy_rows({k: words[k] for k in ("culture", "economy")}, 30, seed=2)
    val_first, val_second = (
        toy_rows({k: words[k] for k in ("politics", "economy")}, 8, 3),
        toy_rows({k: words[k] for k in ("culture",)}, 8, 4),
    )

    def labeled(rows: list[tuple[str, str]]) -> LabeledSet:
        return LabeledSet([t for t, _ in rows], [label for _, label in rows])

    train, val = labeled(first + second), labeled(val_first + val_second)
    parts = {"topic": [("first", len(val_first)), ("second", len(val_second))]}
    settings = FastSettings(max_length=16, char_ngrams=SPEC, gated_experts=gated)
    folder = train_fast_model(
        {"topic": (train, val)},
        tiny_base,
        tmp_path,
        "partial",
        settings,
        device="cpu",
        val_parts=parts,
        train_parts={"topic": [("first", len(first)), ("second", len(second))]},
    )
    manifest = read_manifest(folder)
    if gated:
        assert manifest["format"] == FORMAT_EXPERTS and manifest["experts"] == {"topic": ["first", "second"]}
    else:
        assert manifest["format"] == FORMAT_CHAR and "experts" not in manifest
    card = json.loads((folder / "model_card.json").read_text())
    assert card["tasks"]["topic"] == ["culture", "economy", "politics"]
    per_set = card["per_data_set"]["topic"]
    assert per_set["first"]["n"] == len(val_first) and per_set["second"]["n"] == len(val_second)
    assert per_set["second"]["per_class"]["culture"]["f1"] > 0.8  # the class only one source has is learned
    assert per_set["first"]["macro_f1"] > 0.8
    assert "| topic | second |" in (folder / "MODEL_CARD.md").read_text()
    ablations = json.loads((folder / "ablations.json").read_text())
    assert set(ablations["topic"]) == {"fused", "encoder_only"} | ({"shared_head"} if gated else set())
    assert (folder / "ablations.png").is_file() and (folder / "confusion_matrix.png").is_file()
    predictor = load_model(folder, device="cpu", max_tokens=16)
    probabilities = predictor.predict(val.texts).probabilities["topic"]
    predicted = [predictor.tasks["topic"][i] for i in probabilities.argmax(1)]
    accuracy = np.mean([p == t for p, t in zip(predicted, val.labels, strict=True)])
    assert accuracy == pytest.approx(card["metrics"]["topic"]["accuracy"])


def test_each_training_source_weighs_the_same() -> None:
    weights = source_weights([("small", 2), ("large", 6)])
    assert weights is not None and len(weights) == 8
    assert weights[:2].sum() == pytest.approx(weights[2:].sum()) and weights.mean() == pytest.approx(1.0)
    assert source_weights([("only", 5)]) is None and source_weights(None) is None
    emphasised = source_weights([("small", 2), ("large", 6)], {"small": 2.0})
    assert emphasised is not None and emphasised.mean() == pytest.approx(1.0)
    assert emphasised[:2].sum() == pytest.approx(2 * emphasised[2:].sum())


def test_reviewed_rows_weigh_one_each_and_the_sources_share_the_rest() -> None:
    weights = source_weights([("small", 2), ("large", 6), ("reviewed", 4)], per_row=("reviewed",))
    assert weights is not None and len(weights) == 12 and weights.mean() == pytest.approx(1.0)
    assert weights[8:].tolist() == [1.0] * 4
    assert weights[:2].sum() == pytest.approx(weights[2:8].sum()) == pytest.approx(4.0)


def test_a_folder_without_the_branch_keeps_format_one(tiny_base: Path, toy_topic: Path, tmp_path: Path) -> None:
    sets = {"topic": (read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv"))}
    folder = train_fast_model(
        sets, tiny_base, tmp_path, "plain", FastSettings(max_length=16, char_ngrams=None), device="cpu"
    )
    assert read_manifest(folder)["format"] == FORMAT and "char_ngrams" not in read_manifest(folder)
    model = MultiHeadClassifier.load(folder)
    assert model.char_branch is None
    assert load_model(folder, device="cpu", max_tokens=16).predict(["정부 국회"]).probabilities["topic"].shape == (1, 3)


def test_reviewed_labels_are_read_by_every_expert_not_a_domain_of_their_own() -> None:
    rng = np.random.default_rng(2)
    labels = [f"l{i % 3}" for i in range(70)]
    features = rng.normal(size=(70, 6)) + np.array([[i % 3 == k for k in range(6)] for i in range(70)]) * 2
    texts = [f"{'가나다'[i % 3]} {'마바'[i < 30]}" for i in range(70)]
    counts = count_matrix(texts, SPEC)
    chars = tfidf(counts, fit_idf(counts))
    settings = FastSettings(per_row_parts=("reviewed",))
    parts = [("news", 30), ("reviews", 30), ("reviewed", 10)]
    shared = fit_head(features, labels, settings, chars, source_weights(parts, per_row=("reviewed",)))
    head = fit_gated_experts(features, labels, settings, parts, shared, chars)
    assert head.experts == ["news", "reviews"] and head.labels == ["l0", "l1", "l2"]
    assert head.weight.shape == (2 + 2 * 3, 6) and head.char_weight is not None
    assert head.char_weight.shape == (SPEC.buckets, 8)
    logits = head.logits(features, chars)
    assert logits.shape == (70, 3) and np.mean(logits.argmax(1) == np.arange(70) % 3) > 0.9
