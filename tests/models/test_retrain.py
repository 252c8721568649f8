"""Retrain from reviews: the promoted model learns the class reviewers corrected; the gate refuses a worse one."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.main import _register_plugin_commands, app
from streamproc.config import Settings
from streamproc.connections import redis_client
from streamproc.inference.multihead import read_manifest
from streamproc.review.desk import ReviewDesk
from streamproc_models.data import read_tsv
from streamproc_models.encoder import ENCODER_NAME
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.registry import promote, serving_folder
from streamproc_models.retrain import origin_encoder, retrain, score
from tests.models.toy_data import NOISE, SENTIMENT_WORDS, toy_rows, write_toy_set
from tests.review_items import push
from tests.tiny_models import build_base_encoder, build_encoder

# The base data only knows culture as 문화/공연 ...
BASE_TOPICS = {
    "politics": ["정부", "국회", "선거", "대통령", "government", "election"],
    "economy": ["경제", "주가", "수출", "market", "stocks", "exports"],
    "culture": ["문화", "공연"],
}
# ... so articles about concerts and festivals (in English) are the class the model gets wrong.
CORRECTED = ["concert", "festival"]


def _corrected_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join([*rng.choices(CORRECTED, k=rng.randint(3, 5)), rng.choice(NOISE)]) for _ in range(n)]


@pytest.fixture
def serving(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Path]:
    """A fast-heads model trained on the base data, served through `<store>/default`."""
    base = build_base_encoder(tmp_path / "encoder", seed=5)
    data = tmp_path / "base-data"
    write_toy_set(data / "topic", BASE_TOPICS)
    write_toy_set(data / "sentiment", SENTIMENT_WORDS)
    sets = {t: (read_tsv(data / t / "train.tsv"), read_tsv(data / t / "val.tsv")) for t in ("topic", "sentiment")}
    first = train_fast_model(sets, base, settings.model_store, "toy", FastSettings(max_length=32), device="cpu")
    monkeypatch.delenv("STREAMPROC_MULTITASK_MODEL_DIR")  # serve through the model store's `default` link
    monkeypatch.setenv("STREAMPROC_MAX_TOKENS", "32")
    monkeypatch.setenv("STREAMPROC_DEVICE", "cpu")
    settings = Settings()
    promote(settings, first)
    return settings, data


def _review(settings: Settings, serving_model: Path, texts: list[str]) -> None:
    """Queue the articles with the serving model's labels; a reviewer labels each one `culture`."""
    from streamproc.inference.predictor import load_model

    predictor = load_model(serving_model, device="cpu", max_tokens=32)
    probabilities = predictor.predict(texts).probabilities
    docs = []
    for i, text in enumerate(texts):
        doc = {"id": f"rv{i:03d}", "title": text, "body": "", "processed_at": "2026-11-20T00:00:00+00:00"}
        for task, labels in predictor.tasks.items():
            probs = {label: float(p) for label, p in zip(labels, probabilities[task][i], strict=True)}
            best = max(probs, key=probs.get)
            doc[task] = {"label": best, "score": probs[best], "probabilities": probs}
        doc["uncertainty"] = {"max": 0.9}
        docs.append(doc)
    push(settings, docs)
    client = redis_client(settings)
    desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
    for doc in docs:
        desk.label(doc["id"], "kim", {"topic": "culture"})
    client.close()


def test_reviews_teach_the_promoted_model_the_corrected_class(serving: tuple[Settings, Path]) -> None:
    settings, data = serving
    before = serving_folder(settings)
    fresh = read_tsv_like(_corrected_texts(40, seed=99))
    accuracy_before = score(before, fresh, "topic", "cpu")["accuracy"]
    _review(settings, before, _corrected_texts(60, seed=7))
    client = redis_client(settings)
    try:
        result = retrain(
            settings, ReviewDesk(client, settings.review_key_prefix, settings.tasks), base_data=data, say=lambda _: None
        )
    finally:
        client.close()
    assert result.passed and result.promoted, result.checks
    after = serving_folder(settings)
    assert after == result.candidate_folder != before
    accuracy_after = score(after, fresh, "topic", "cpu")["accuracy"]
    print(f"corrected class, unreviewed articles: accuracy {accuracy_before:.3f} -> {accuracy_after:.3f}")
    print("gate checks:", *result.checks, sep="\n  ")
    assert accuracy_before < 0.5 < accuracy_after  # the corrected class, on articles nobody reviewed
    gate = result.serving["topic"], result.candidate["topic"]
    assert gate[1]["reviewed_holdout_accuracy"] > gate[0]["reviewed_holdout_accuracy"]
    card = json.loads((after / "model_card.json").read_text())
    assert card["gate"]["decision"] == "promoted" and card["gate"]["rule"].startswith("promote only if")
    assert card["gate"]["serving"]["topic"]["val_macro_f1"] == result.serving["topic"]["val_macro_f1"]
    assert "Evaluation gate" in (after / "MODEL_CARD.md").read_text()


def read_tsv_like(texts: list[str]):
    from streamproc_models.data import LabeledSet

    return LabeledSet(texts, ["culture"] * len(texts))


def test_gate_refuses_a_worse_candidate_and_dry_run_never_promotes(
    serving: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, data = serving
    before = serving_folder(settings)
    # reviewers (wrongly) call politics headlines, drawn like the validation set's, culture: the candidate gets
    # worse on validation
    wrong = [text for text, _ in toy_rows({"politics": BASE_TOPICS["politics"]}, 90, seed=7)]
    _review(settings, before, wrong)
    _register_plugin_commands()
    runner = CliRunner()
    dry = runner.invoke(app, ["retrain", "--dry-run", "--base-data", str(data)])
    assert "rule: promote only if" in dry.output
    assert serving_folder(settings) == before
    refused = runner.invoke(app, ["retrain", "--base-data", str(data)])
    assert refused.exit_code == 1, refused.output
    assert "decision: refused" in refused.output and "REFUSED" in refused.output
    assert serving_folder(settings) == before
    listed = runner.invoke(app, ["models", "list"])
    assert "refused" in listed.output


@pytest.mark.slow
def test_fine_tune_retrain_runs_the_default_recipe(serving: tuple[Settings, Path]) -> None:
    """`retrain --fine-tune`: the encoder the serving model was first built on, fine-tuned on base data + reviews,
    then the fused heads refitted."""
    settings, data = serving
    before = serving_folder(settings)
    origin = Path(read_manifest(before)["base_model"])
    _review(settings, before, _corrected_texts(30, seed=7))
    client = redis_client(settings)
    try:
        desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
        result = retrain(settings, desk, base_data=data, fine_tune=True, dry_run=True, say=lambda _: None)
    finally:
        client.close()
    candidate = result.candidate_folder
    assert serving_folder(settings) == before and not result.promoted
    card = json.loads((candidate / "model_card.json").read_text())
    assert card["fine_tune"]["epochs_run"] >= 1 and (candidate / "fine_tune" / "training_curves.png").is_file()
    assert card["hyperparameters"]["char_ngrams"] and card["hyperparameters"]["per_row_parts"] == ["reviewed labels"]
    assert read_manifest(candidate)["base_model"] == str(origin) and origin.name == "encoder"
    assert not (settings.model_store / ENCODER_NAME).exists()  # the rebuilt e5 was not asked for
    assert not [p.name for p in settings.model_store.iterdir() if p.name.startswith(".fine-tune-")]
    assert card["gate"]["decision"] in ("passed (dry run)", "refused")


def test_retrain_on_another_encoder_and_through_models_built_by_retrain(
    serving: tuple[Settings, Path], tmp_path: Path
) -> None:
    """`retrain --base DIR` builds the candidate on that folder, read as its own config says; a model retrained
    on the serving model's encoder still knows which encoder it was first built on."""
    settings, data = serving
    before = serving_folder(settings)
    _review(settings, before, _corrected_texts(30, seed=7))
    other = build_encoder(tmp_path / "roberta", "roberta", seed=2)
    said: list[str] = []
    client = redis_client(settings)
    try:
        desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
        moved = retrain(settings, desk, base_data=data, dry_run=True, say=said.append, base=other)
        kept = retrain(settings, desk, base_data=data, dry_run=True, say=lambda _: None)
    finally:
        client.close()
    assert any(line.startswith(f"encoder {other} (roberta): mean pooling") for line in said), said
    manifest = read_manifest(moved.candidate_folder)
    assert manifest["base_model"] == str(other) and manifest["special_tokens"] == {"head": ["<s>"], "tail": ["</s>"]}
    assert read_manifest(kept.candidate_folder)["base_model"] == str(before / "encoder")
    first = Path(read_manifest(before)["base_model"])
    assert origin_encoder(kept.candidate_folder) == origin_encoder(before) == first
