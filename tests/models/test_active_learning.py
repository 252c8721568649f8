"""Active-learning simulation: strategies, the Learning-Loss module, the feature cache, and `al-sim` end to end.

The simulation tests use synthetic Gaussian features (real sklearn and torch, no encoder) where the right
answer is known; the CLI and fine-tuning tests run the tiny encoder on toy TSV sets laid out like the
shared data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from typer.testing import CliRunner

from streamproc.cli.main import _register_plugin_commands, app
from streamproc.inference.uncertainty import uncertainty
from streamproc.tasks import load_tasks
from streamproc_models.active_learning.data_sets import study_sets
from streamproc_models.active_learning.features import default_layers, layer_features
from streamproc_models.active_learning.fine_tune import run_fine_tune_study
from streamproc_models.active_learning.loss_module import LossModule
from streamproc_models.active_learning.settings import SimSettings
from streamproc_models.active_learning.simulate import checkpoint_sizes, prepare, run_curve
from streamproc_models.active_learning.strategies import STRATEGIES, Scores, pick_margin, pick_margin_clusters
from streamproc_models.active_learning.study import run_study
from streamproc_models.encoder_choice import OVERRIDES
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.train import load_base
from tests.models.toy_data import TOPIC_WORDS, write_toy_set
from tests.tiny_models import build_encoder


def _blobs(n: int, seed: int, spread: float = 2.5) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Three overlapping Gaussian classes in 16 dimensions, as three 'layers' of features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.normal(0, 1, (3, 16))
    last = centers[y] + rng.normal(0, spread / 2, (n, 16))
    layers = {4: last + rng.normal(0, 1, (n, 16)), 8: last * 0.5, 12: last}
    return {k: v.astype(np.float32) for k, v in layers.items()}, y


def _prepared(n_pool: int = 1500, n_val: int = 600):
    layers, y = _blobs(n_pool + n_val, seed=3)
    names = ["a", "b", "c"]
    pool = {k: v[:n_pool] for k, v in layers.items()}
    val = {k: v[n_pool:] for k, v in layers.items()}
    return prepare("blobs", pool, val, [names[i] for i in y[:n_pool]], [names[i] for i in y[n_pool:]])


def test_checkpoints_start_with_a_stratified_seed_and_grow() -> None:
    settings = SimSettings()
    sizes = checkpoint_sizes(1000, 3, settings)
    assert sizes[0] == 50 and sizes == sorted(set(sizes)) and sizes[-1] == 300
    assert 100 in sizes and 250 in sizes  # the 10% and 25% report points exist


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_runs_a_paired_curve(strategy: str) -> None:
    data = _prepared()
    settings = SimSettings(checkpoints=(0.05, 0.10), loss_steps=20)
    run = run_curve(data, strategy, seed=1, settings=settings)
    assert run["sizes"] == [50, 75, 150]
    assert len(run["macro_f1"]) == 3 and all(0.3 < f <= 1 for f in run["macro_f1"])
    again = run_curve(data, strategy, seed=1, settings=settings)
    assert again["macro_f1"] == run["macro_f1"]  # seeded: the study is reproducible


def test_margin_picks_the_least_certain_items() -> None:
    proba = np.array([[0.9, 0.1], [0.55, 0.45], [0.5, 0.5], [0.99, 0.01], [0.6, 0.4]])
    chosen = pick_margin(Scores(proba, np.random.default_rng(0)), 2)
    assert sorted(chosen.tolist()) == [1, 2]


def test_margin_clusters_spreads_a_batch_over_distinct_groups() -> None:
    rng = np.random.default_rng(0)
    # 20 near-duplicates that are all very uncertain, and 10 distinct items slightly less uncertain
    features = np.vstack([rng.normal(0, 0.01, (20, 8)), rng.normal(0, 5, (10, 8))]).astype(np.float32)
    top = np.concatenate([np.full(20, 0.50), np.full(10, 0.52)])
    proba = np.stack([top, 1 - top], axis=1)
    scores = Scores(proba, rng, cluster_features=features)
    by_margin = pick_margin(scores, 5)
    diverse = pick_margin_clusters(scores, 5)
    assert all(i < 20 for i in by_margin)  # plain margin spends the whole batch on the duplicates
    assert len(set(diverse.tolist())) == 5 and sum(i >= 20 for i in diverse) >= 3


def test_loss_module_learns_to_rank_losses() -> None:
    rng = np.random.default_rng(2)
    layers = [rng.normal(0, 1, (600, 24)).astype(np.float32) for _ in range(3)]
    losses = np.exp(layers[2][:, 0] + 0.5 * layers[0][:, 1])  # depends on two layers' features
    module = LossModule(steps=300, seed=0).fit([x[:400] for x in layers], losses[:400])
    predicted = module.predict([x[400:] for x in layers])
    assert spearmanr(predicted, losses[400:]).statistic > 0.8


def test_study_summary_compares_with_random_and_margin() -> None:
    data = _prepared()
    settings = SimSettings(checkpoints=(0.05, 0.10, 0.25), loss_steps=20)
    result = run_study([data], ["random", "margin", "predicted_loss"], [0, 1], settings)
    summary = result["datasets"]["blobs"]["summary"]
    assert summary["margin"]["0.10"]["labels"] == 150 and summary["margin"]["0.25"]["labels"] == 375
    assert "vs_random" in summary["margin"]["0.10"] and "vs_random" not in summary["random"]["0.10"]
    comparison = summary["predicted_loss_vs_margin"]["0.25"]
    expected = np.mean(
        [
            a - b
            for a, b in zip(
                [r["macro_f1"][-1] for r in result["datasets"]["blobs"]["curves"]["predicted_loss"]],
                [r["macro_f1"][-1] for r in result["datasets"]["blobs"]["curves"]["margin"]],
                strict=True,
            )
        ]
    )
    assert comparison["mean"] == pytest.approx(expected) and comparison["n"] == 2


def test_features_are_cached_per_layer(tiny_base: Path, tmp_path: Path) -> None:
    texts = ["정부 국회 선거", "good record growth", "market stocks"]
    first = layer_features(texts, tiny_base, tmp_path, "toy")
    assert sorted(first) == default_layers(2) == [1, 2]
    assert all(v.shape == (3, 32) for v in first.values())
    cached = list(tmp_path.glob("toy-*.npz"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    second = layer_features(texts, tiny_base, tmp_path, "toy")
    assert cached[0].stat().st_mtime_ns == stamp  # read back, not recomputed
    assert all(np.array_equal(first[k], second[k]) for k in first)
    other = layer_features(texts[:2], tiny_base, tmp_path, "toy")
    assert len(list(tmp_path.glob("toy-*.npz"))) == 2 and other[2].shape == (2, 32)


def test_features_read_the_encoder_as_its_folder_asks(tmp_path: Path) -> None:
    base = build_encoder(tmp_path / "roberta", "roberta", seed=2)
    texts = ["정부 국회 선거", "good record growth", "market stocks"]
    plain = layer_features(texts, base, tmp_path / "cache", "toy")
    (base / OVERRIDES).write_text(json.dumps({"input_prefix": "query: ", "pooling": "cls"}))
    asked = layer_features(texts, base, tmp_path / "cache", "toy")
    assert len(list((tmp_path / "cache").glob("toy-*.npz"))) == 2  # cached apart
    encoder, tokenizer = load_base(base)
    with torch.inference_mode():
        for i, text in enumerate(texts):
            ids = torch.tensor([tokenizer("query: " + text)["input_ids"]])
            first = encoder(input_ids=ids, output_hidden_states=True).hidden_states[2][0, 0].numpy()
            np.testing.assert_allclose(asked[2][i], first, atol=2e-3)  # stored as float16
            assert not np.allclose(plain[2][i], first, atol=2e-3)


def test_al_sim_cli_writes_json_table_and_png(tiny_base: Path, tmp_path: Path, monkeypatch) -> None:
    data_dir = tmp_path / "data"
    write_toy_set(data_dir / "topic_ko_headlines", TOPIC_WORDS, per_label=300)
    monkeypatch.setenv("STREAMPROC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("STREAMPROC_MODEL_STORE", str(tmp_path / "store"))
    _register_plugin_commands()
    out = tmp_path / "out"
    args = ["al-sim", "--data-set", "topic_ko_headlines", "--seeds", "2", "--base", str(tiny_base), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--strategy", "random", "--strategy", "entropy"])
    assert result.exit_code == 0, result.output
    assert f"encoder {tiny_base} (bert): mean pooling, no input prefix, 128 positions" in result.output
    written = json.loads((out / "al-sim.json").read_text())
    curves = written["datasets"]["topic_ko_headlines"]["curves"]
    assert sorted(curves) == ["entropy", "random"] and len(curves["random"]) == 2
    assert (out / "al-sim.png").stat().st_size > 10_000
    assert "| topic_ko_headlines | entropy |" in (out / "al-sim.md").read_text()
    assert list((tmp_path / "store" / "al-features").rglob("*.npz"))  # features cached in the model store


def test_al_sim_cli_refuses_an_unknown_strategy(tmp_path: Path) -> None:
    _register_plugin_commands()
    result = CliRunner().invoke(app, ["al-sim", "--strategy", "oracle", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "unknown strategy oracle" in str(result.exception)


def test_fine_tune_variant_picks_with_the_jointly_trained_loss_head(tiny_base: Path, tmp_path: Path) -> None:
    write_toy_set(tmp_path / "topic_ko_headlines", TOPIC_WORDS, per_label=70)
    hp = Hyperparameters(epochs=1, batch_size=16, max_length=16, patience=1)
    settings = SimSettings(checkpoints=(0.30,))
    result = run_fine_tune_study(
        study_sets(load_tasks(), tmp_path),
        ["topic_ko_headlines"],
        ["predicted_loss", "margin_clusters"],
        [0],
        settings,
        tiny_base,
        200,
        hp,
    )
    data = result["datasets"]["topic_ko_headlines"]
    assert data["sizes"] == [50, 60] and data["pool_size"] == 200
    for runs in data["curves"].values():
        assert len(runs[0]["macro_f1"]) == 2 and all(0 <= f <= 1 for f in runs[0]["macro_f1"])
    assert result["settings"]["fine_tune"]["epochs"] == 1


def test_uncertainty_matches_the_pipeline() -> None:
    proba = np.array([[0.7, 0.2, 0.1]])
    assert uncertainty(proba, "margin")[0] == pytest.approx(0.5)
