"""Fine-tuning on a small subset: a versioned folder with card, curves and confusion matrix that the pipeline loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.errors import UserError
from streamproc.inference.predictor import load_model
from streamproc_models.data import read_tsv
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.learning_loss import margin_ranking_loss
from streamproc_models.training.train import _encode, train_classifier, train_model
from tests.tiny_models import served_ids

FAST = {"lr": 3e-3, "epochs": 4, "batch_size": 8, "max_length": 32, "warmup_ratio": 0.0, "patience": 4}


def _splits(folder: Path):
    return read_tsv(folder / "train.tsv"), read_tsv(folder / "val.tsv")


def test_single_task_training_writes_a_complete_versioned_folder(tiny_base: Path, toy_topic: Path, tmp_path: Path):
    train, val = _splits(toy_topic)
    hp = Hyperparameters(**FAST, max_train_examples=90)
    folder = train_classifier("topic", train, val, tiny_base, tmp_path, hp, device="cpu")
    assert folder.parent == tmp_path / "topic" and folder.name.startswith("topic-")
    for name in ("model_card.json", "MODEL_CARD.md", "metrics.json", "training_curves.png", "confusion_matrix.png"):
        assert (folder / name).stat().st_size > 0, name
    card = json.loads((folder / "model_card.json").read_text())
    assert card["hyperparameters"]["max_train_examples"] == 90
    assert card["data"]["topic"]["train"]["rows"] == 90 and card["data"]["topic"]["train"]["rows_in_source"] == 120
    assert card["tasks"] == {"topic": ["culture", "economy", "politics"]}
    assert len(card["epochs"]) >= 1 and "torch" in card["packages"]
    assert card["metrics"]["topic"]["macro_f1"] > 0.8  # separable toy data; chance is about 0.33
    assert "| politics |" in (folder / "MODEL_CARD.md").read_text()
    predictor = load_model(folder, device="cpu", max_tokens=32)
    probabilities = predictor.predict(val.texts).probabilities["topic"]
    accuracy = np.mean(
        [predictor.tasks["topic"][i] == t for i, t in zip(probabilities.argmax(1), val.labels, strict=True)]
    )
    assert accuracy == pytest.approx(card["metrics"]["topic"]["accuracy"])


def test_frozen_embeddings_stay_fixed_and_the_rest_learns(tiny_base: Path, toy_sentiment: Path, tmp_path: Path):
    from transformers import AutoModel

    train, val = _splits(toy_sentiment)
    folder = train_classifier(
        "sentiment", train, val, tiny_base, tmp_path, Hyperparameters(**FAST, freeze_embeddings=True), device="cpu"
    )
    before, after = AutoModel.from_pretrained(tiny_base), AutoModel.from_pretrained(folder / "encoder")
    assert torch.equal(before.get_input_embeddings().weight, after.get_input_embeddings().weight)
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before.state_dict()[layer], after.state_dict()[layer])


def test_two_heads_with_a_loss_head_train_together(
    tiny_base: Path, toy_topic: Path, toy_sentiment: Path, tmp_path: Path
):
    hp = Hyperparameters(**FAST, loss_head=True)
    sets = {"topic": _splits(toy_topic), "sentiment": _splits(toy_sentiment)}
    folder = train_model(sets, tiny_base, tmp_path, hp, name="multitask", device="cpu")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["tasks"]) == {"topic", "sentiment"}
    assert all("loss_head_spearman" in m for m in metrics["tasks"].values())
    assert all("train_ranking_loss" in epoch for epoch in metrics["epochs"])
    predictor = load_model(folder, device="cpu", max_tokens=32)
    predictions = predictor.predict(["good record growth", "정부 선거 국회"])
    assert set(predictions.probabilities) == {"topic", "sentiment"}
    assert predictions.predicted_loss is not None and predictions.predicted_loss.shape == (2,)


def test_validation_labels_missing_from_training_are_refused(tiny_base: Path, toy_topic: Path, tmp_path: Path):
    train, val = _splits(toy_topic)
    only_two = type(train)(
        [t for t, label in zip(train.texts, train.labels, strict=True) if label != "culture"],
        [label for label in train.labels if label != "culture"],
    )
    with pytest.raises(UserError, match="culture"):
        train_classifier("topic", only_two, val, tiny_base, tmp_path, Hyperparameters(**FAST), device="cpu")


def test_margin_ranking_loss_is_zero_only_for_well_ordered_pairs():
    target = torch.tensor([3.0, 2.0, 1.0, 0.0])  # pairs (0, 3) and (1, 2)
    ordered = torch.tensor([5.0, 3.0, 1.0, 0.0])  # both pairs ordered with gaps >= 1
    assert margin_ranking_loss(ordered, target, margin=1.0).item() == 0.0
    reversed_ = ordered.flip(0)
    assert margin_ranking_loss(reversed_, target, margin=1.0).item() == pytest.approx(((1 + 5) + (1 + 2)) / 2)
    predicted = torch.zeros(4, requires_grad=True)
    margin_ranking_loss(predicted, target).backward()
    assert predicted.grad is not None and predicted.grad.abs().sum() > 0


def test_fine_tuning_reads_long_texts_head_and_tail_as_the_predictor_does(
    tiny_base: Path, toy_topic: Path, tmp_path: Path
):
    train, val = _splits(toy_topic)
    long_val = type(val)([" ".join([text] * 12) for text in val.texts], val.labels)  # ~70 tokens, cut at 32
    hp = Hyperparameters(**{**FAST, "epochs": 1})
    assert hp.truncation == "head_tail"
    folder = train_classifier("topic", train, long_val, tiny_base, tmp_path, hp, device="cpu")
    assert json.loads((folder / "streamproc_model.json").read_text())["truncation"] == "head_tail"
    predictor = load_model(folder, device="cpu", max_tokens=32)
    assert predictor.truncation == "head_tail"
    trained = _encode(
        "topic", ["culture", "economy", "politics"], train, long_val, predictor.tokenizer, 32, "head_tail"
    )
    assert trained.val_ids == served_ids(predictor, long_val.texts)
    assert all(len(ids) == 32 for ids in trained.val_ids)
    assert trained.val_ids != predictor.tokenizer(long_val.texts, truncation=True, max_length=32)["input_ids"]
