"""The default model: built once from the seed set on the real (frozen) encoder and reused; with data sets in the
shared layout, the quick-tune recipe tunes the encoder for one epoch on the short sets they name first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.multihead import MultiHeadClassifier
from streamproc.inference.predictor import load_model
from streamproc.tasks import load_tasks
from streamproc_models.defaults import QUICK_TUNE, ensure_default_models
from streamproc_models.encoder import ENCODER_NAME
from streamproc_models.training.train import load_base
from tests.models.toy_data import SENTIMENT_WORDS, TOPIC_WORDS, write_toy_set
from tests.tiny_models import build_e5_shaped_encoder

pytestmark = pytest.mark.slow

E5_LINE = "mean pooling, no input prefix, 512 positions, special tokens <s> … </s>"
E5_RECIPE = {
    "input_prefix": "",
    "pooling": "mean",
    "max_positions": 512,
    "max_length": 256,
    "truncation": "head_tail",
    "special_tokens": {"head": ["<s>"], "tail": ["</s>"]},
}


def test_seed_set_default_model_is_built_once_and_warned_about(rebuilt: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / ENCODER_NAME).symlink_to(rebuilt)  # reuse the session's rebuild instead of a second download
    settings = Settings(model_store=store, data_dir=tmp_path / "no-shared-data", device="cpu")
    said: list[str] = []
    folder = ensure_default_models(settings, say=said.append)
    assert any("seed set" in line and "weak" in line for line in said)
    assert settings.default_model_dir.is_symlink() and settings.default_model_dir.resolve() == folder.resolve()
    card = json.loads((folder / "model_card.json").read_text())
    assert card["tasks"]["topic"] == [
        "culture",
        "economy",
        "entertainment",
        "it",
        "politics",
        "society",
        "sports",
        "world",
    ]
    assert card["tasks"]["sentiment"] == ["negative", "neutral", "positive"]
    # emotion learns from the data the project ships beside the task file, shared data or not
    assert card["tasks"]["emotion"] == ["anxiety", "joy", "neutral", "sadness"]
    assert not any("emotion" in line for line in said if "seed set" in line)
    # Frozen multilingual features separate even a small seed set well above chance (1/8 and 1/3).
    assert card["metrics"]["topic"]["macro_f1"] > 0.4
    assert card["metrics"]["sentiment"]["macro_f1"] > 0.45
    # what the recipe assumes about e5, recorded as before the encoder profile: no prefix, mean pooling, head + tail
    # within 256 of its 512 positions, between XLM-R's <s> … </s>
    assert any(line.endswith(f"{E5_LINE} (pooling: default)") for line in said), said
    manifest = json.loads((folder / "streamproc_model.json").read_text())
    assert {key: manifest[key] for key in E5_RECIPE} == E5_RECIPE
    predictor = load_model(settings.default_model_dir, device="cpu")
    assert predictor.max_tokens == 256 and predictor.profile.input_prefix == ""
    probabilities = predictor.predict(["프로야구 한국시리즈 7차전 끝내기 홈런으로 우승"]).probabilities["topic"]
    assert predictor.tasks["topic"][probabilities.argmax()] == "sports"

    said.clear()
    assert ensure_default_models(settings, say=said.append) == folder.resolve()
    assert said == []  # reused, not rebuilt


def test_an_e5_shaped_build_records_the_e5_recipe(tmp_path: Path) -> None:
    """`build-defaults --base` on a folder of e5's shape (a BERT with 512 positions and an XLM-R tokenizer)."""
    base = build_e5_shaped_encoder(tmp_path / "e5-shaped", seed=3)
    settings = Settings(model_store=tmp_path / "store", data_dir=tmp_path / "no-shared-data", device="cpu")
    said: list[str] = []
    folder = ensure_default_models(settings, base=base, say=said.append)
    assert (
        f"encoder {base} (bert): mean pooling, no input prefix, 512 positions, special tokens <s> … </s>"
        in "\n".join(said)
    )
    manifest = json.loads((folder / "streamproc_model.json").read_text())
    assert {key: manifest[key] for key in E5_RECIPE} == E5_RECIPE and manifest["base_model"] == str(base)
    assert manifest["format"] != "streamproc.multihead/4"  # no prefix: older runtimes still read it
    card = json.loads((folder / "model_card.json").read_text())
    assert card["hyperparameters"]["max_length"] == 256 and "mean-pooled" in card["summary"]
    # the e5 default's folder is rebuilt only when another encoder is asked for
    assert ensure_default_models(settings, say=said.append) == folder.resolve()
    assert ensure_default_models(settings, base=base, say=said.append) == folder.resolve()
    other = build_e5_shaped_encoder(tmp_path / "other", seed=4)
    rebuilt_on_other = ensure_default_models(settings, base=other, say=lambda _: None)
    assert rebuilt_on_other != folder and json.loads((rebuilt_on_other / "streamproc_model.json").read_text())[
        "base_model"
    ] == str(other)
    with pytest.raises(UserError, match="no base encoder in"):
        ensure_default_models(settings, base=tmp_path / "nothing", say=lambda _: None)


def test_a_foreign_folder_in_place_of_the_default_link_is_not_overwritten(tmp_path: Path) -> None:
    settings = Settings(model_store=tmp_path, data_dir=tmp_path / "none", device="cpu")
    (tmp_path / "default").mkdir()
    (tmp_path / "default" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="did not write"):
        ensure_default_models(settings, say=lambda _: None)
    assert (tmp_path / "default" / "notes.txt").read_text() == "mine"


def test_fine_tune_replaces_the_fast_default(rebuilt: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / ENCODER_NAME).symlink_to(rebuilt)
    settings = Settings(model_store=store, data_dir=tmp_path / "no-shared-data", device="cpu")
    fast = ensure_default_models(settings, say=lambda _: None)
    tuned = ensure_default_models(settings, fine_tune=True, say=lambda _: None)
    assert fast.parent.name == "default-fast" and tuned.parent.name == "default-finetuned"
    assert settings.default_model_dir.resolve() == tuned.resolve()
    # The fine-tuned encoder carries the fused heads (n-gram branch included), refitted on every training row;
    # the fine-tune's own card and curves are kept, its scratch folder is gone.
    card = json.loads((tuned / "model_card.json").read_text())
    assert card["fine_tune"]["hyperparameters"]["epochs"] == 3 and card["fine_tune"]["epochs_run"] >= 1
    assert card["hyperparameters"]["char_ngrams"] and "fine-tuned" in card["summary"]
    assert (tuned / "fine_tune" / "training_curves.png").is_file()
    assert (tuned / "fine_tune" / "model_card.json").is_file()
    assert json.loads((tuned / "streamproc_model.json").read_text())["base_model"] == str(store / ENCODER_NAME)
    assert not [p.name for p in store.iterdir() if p.name.startswith(".fine-tune-")]
    fast_encoder = MultiHeadClassifier.load(fast).encoder.state_dict()
    tuned_encoder = MultiHeadClassifier.load(tuned).encoder.state_dict()
    assert any(not torch.equal(fast_encoder[k], tuned_encoder[k]) for k in fast_encoder)
    assert ensure_default_models(settings, fine_tune=True, say=lambda _: None) == tuned.resolve()


def test_the_quick_tune_recipe_tunes_the_encoder_on_the_short_sets_first(rebuilt: Path, tmp_path: Path) -> None:
    store, data = tmp_path / "store", tmp_path / "data"
    store.mkdir()
    (store / ENCODER_NAME).symlink_to(rebuilt)
    shared = [(task.name, source.folder) for task in load_tasks() for source in task.sources if source.folder]
    for task, folder in shared:  # small separable sets in the shared data's layout
        write_toy_set(data / folder, TOPIC_WORDS if task == "topic" else SENTIMENT_WORDS, per_label=12)
    settings = Settings(model_store=store, data_dir=data, device="cpu")
    folder = ensure_default_models(settings, quick_tune=True, say=lambda _: None)
    assert folder.parent.name == "default-quick-tuned" and settings.default_model_dir.resolve() == folder.resolve()
    assert ensure_default_models(settings, say=lambda _: None) == folder.resolve()  # reused by the main job
    with pytest.raises(UserError, match="choose one"):
        ensure_default_models(settings, quick_tune=True, fine_tune=True, say=lambda _: None)
    card = json.loads((folder / "model_card.json").read_text())
    assert card["fine_tune"]["hyperparameters"] == QUICK_TUNE.as_dict() and card["fine_tune"]["epochs_run"] == 1
    stage = json.loads((folder / "fine_tune" / "model_card.json").read_text())["data"]
    assert stage["topic"]["train"]["rows"] == 3 * 12  # the headlines only: no articles, no AG News
    assert stage["sentiment"]["train"]["rows"] == 2 * 2 * 12 + 2 * 12  # finance twice, the reviews once
    assert card["per_data_set"]["topic"].keys() == {folder for task, folder in shared if task == "topic"}
    assert card["per_data_set"]["emotion"].keys() == {"emotion"}
    assert json.loads((folder / "streamproc_model.json").read_text())["base_model"] == str(store / ENCODER_NAME)
    assert not [p.name for p in store.iterdir() if p.name.startswith(".fine-tune-")]
    frozen = load_base(rebuilt)[0].state_dict()
    tuned = MultiHeadClassifier.load(folder).encoder.state_dict()
    assert any(not torch.equal(frozen[k], tuned[k]) for k in frozen)
