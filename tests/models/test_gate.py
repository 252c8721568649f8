"""The evaluation gate's rule on constructed evidence, and the feature store that makes a retrain quick."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamproc.inference.predictor import load_model
from streamproc_models.data import read_tsv
from streamproc_models.evaluation.cached_predictor import CachedPredictor
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.feature_store import FeatureStore, encoder_fingerprint
from streamproc_models.retrain import MIN_AUDIT, apply_gate, evidence, mcnemar_worse
from streamproc_models.training.train import load_base
from tests.tiny_models import build_base_encoder


def _row(val: float, holdout: float | None, audit: float | None = None, n_audit: int = 0) -> dict:
    return {
        "head": True,
        "val_macro_f1": val,
        "val_accuracy": val,
        "reviewed_holdout_accuracy": holdout,
        "reviewed_holdout_n": 20 if holdout is not None else 0,
        "audit_accuracy": audit,
        "audit_n": n_audit,
    }


def test_a_candidate_better_on_the_tail_but_worse_on_the_audit_sample_is_refused() -> None:
    """Held-out reviews of uncertain articles favour the candidate (0.55 -> 0.70), the validation set is flat,
    but on 120 audit articles (a uniform share of the stream) it gets 18 wrong that the serving model got right,
    and only 4 right that the serving model got wrong."""
    serving = {"topic": _row(0.80, 0.55, audit=0.85, n_audit=120)}
    candidate = {
        "topic": {
            **_row(0.80, 0.70, audit=0.85 - 14 / 120, n_audit=120),
            "audit_serving_only": 18,
            "audit_candidate_only": 4,
            "audit_p_worse": mcnemar_worse(18, 4),
        }
    }
    passed, checks = apply_gate(serving, candidate, {})
    assert not passed
    assert any("audit sample" in check and check.endswith("REFUSED") for check in checks)
    # without audit evidence the same candidate would have been promoted
    blind = {task: {**row, "audit_n": 0, "audit_accuracy": None} for task, row in serving.items()}
    assert apply_gate(blind, {"topic": _row(0.80, 0.70)}, {})[0]
    assert any("no audit-sample labels" in line for line in evidence(blind))


def test_a_small_audit_sample_is_named_and_not_used() -> None:
    serving = {"topic": _row(0.80, None, audit=0.9, n_audit=MIN_AUDIT - 1)}
    candidate = {"topic": {**_row(0.80, None, audit=0.5, n_audit=MIN_AUDIT - 1), "audit_p_worse": 0.001}}
    passed, checks = apply_gate(serving, candidate, {})
    assert passed and any("fewer than 30: not used" in check for check in checks)
    (line,) = evidence(serving)
    assert "too few audit-sample labels" in line and "rests on the validation set alone" in line


def test_mcnemar() -> None:
    assert mcnemar_worse(0, 0) == 1.0
    assert mcnemar_worse(5, 5) > 0.5  # as many each way: no evidence of worse
    assert mcnemar_worse(10, 0) == pytest.approx(1 / 1024)
    assert mcnemar_worse(18, 4) < 0.01 < mcnemar_worse(12, 6) and mcnemar_worse(12, 6) > 0.05


def test_the_feature_store_encodes_each_text_once(tmp_path: Path) -> None:
    encoder = build_base_encoder(tmp_path / "encoder", seed=1)
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), t.count("a")] for t in texts], dtype=np.float32)

    fingerprint = encoder_fingerprint(load_base(encoder)[0])
    assert encoder_fingerprint(load_base(encoder)[0]) == fingerprint  # the weights, not the loaded object
    assert encoder_fingerprint(load_base(build_base_encoder(tmp_path / "other", seed=2))[0]) != fingerprint
    store = FeatureStore(tmp_path / "cache", fingerprint, 32, "head_tail")
    try:
        first = store.features(["a", "bb", "a"], 2, encode)
        again = store.features(["bb", "ccc", "a"], 2, encode)
    finally:
        store.close()
    assert calls == [["a", "bb"], ["ccc"]]  # duplicates and known texts are not encoded again
    assert first.tolist() == [[1, 1], [2, 0], [1, 1]] and again.tolist() == [[2, 0], [3, 0], [1, 1]]
    reopened = FeatureStore(tmp_path / "cache", fingerprint, 32, "head_tail")  # persistent across processes
    other = FeatureStore(tmp_path / "cache", fingerprint, 64, "head_tail")  # another tokenisation: its own file
    try:
        assert reopened.features(["ccc"], 2, encode).tolist() == [[3, 0]] and len(calls) == 2
        other.features(["ccc"], 2, encode)
        assert len(calls) == 3
    finally:
        reopened.close()
        other.close()


def test_the_gate_scores_a_folder_on_stored_vectors_as_its_predictor_does(
    tiny_base: Path, toy_topic: Path, tmp_path: Path
) -> None:
    """A gated, n-gram-fused model built with a feature store: read back from the store, the validation texts give
    the served probabilities, without running the encoder again; texts the store lacks are encoded."""
    train, val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    half = len(train) // 2
    cache = tmp_path / "cache"
    folder = train_fast_model(
        {"topic": (train, val)},
        tiny_base,
        tmp_path,
        "cached",
        FastSettings(feature_cache=cache, max_length=256),
        device="cpu",
        train_parts={"topic": [("first", half), ("second", len(train) - half)]},
    )
    cached = CachedPredictor(folder, cache, device="cpu")
    assert cached.model.experts and cached.model.char_branch is not None
    encoder_calls: list[int] = []
    cached.model.encoder.register_forward_hook(lambda module, args, out: encoder_calls.append(1))
    served = load_model(folder, device="cpu").predict(val.texts).probabilities["topic"]
    np.testing.assert_allclose(cached.predict(val.texts).probabilities["topic"], served, atol=1e-4)
    assert encoder_calls == []  # the build stored every validation text
    unseen = [f"{text} 추가" for text in val.texts[:3]]
    fresh = cached.predict(unseen).probabilities["topic"]
    assert encoder_calls and fresh.shape == (3, 3)
    np.testing.assert_allclose(
        fresh, load_model(folder, device="cpu").predict(unseen).probabilities["topic"], atol=1e-4
    )
