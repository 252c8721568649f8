"""The recipes on the encoders users bring: tiny, randomly initialised ELECTRA, RoBERTa (byte-level BPE) and BERT
folders, and the rebuilt e5's shape (a BERT with an XLM-R tokenizer).

What a recipe assumes about its encoder (pooling, input prefix, positions, the special tokens around a text) is
chosen from the folder, recorded in the model folder and read back by serving: the served model reads exactly the
ids it was trained on, for each tokenizer's special tokens. The whole pipeline per architecture (both recipes,
the worker, retrain, the live switch) is `tests/pipeline/test_any_encoder.py`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.errors import UserError
from streamproc.inference.multihead import FORMAT_PREFIX, MANIFEST, pool, read_manifest
from streamproc.inference.predictor import load_model
from streamproc.inference.truncation import token_ids
from streamproc_models.data import LabeledSet, read_tsv
from streamproc_models.encoder_choice import OVERRIDES, base_profile, describe_base
from streamproc_models.fast_heads import FastSettings, encode_features, train_fast_model
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.train import _encode, load_base, train_model
from tests.tiny_models import (
    ARCHITECTURES,
    TINY_POSITIONS,
    build_base_encoder,
    build_e5_shaped_encoder,
    build_encoder,
    served_ids,
)

FRAMES = {
    "electra": (("[CLS]",), ("[SEP]",)),
    "roberta": (("<s>",), ("</s>",)),
    "bert": (("[CLS]",), ("[SEP]",)),
    "e5": (("<s>",), ("</s>",)),
}
POSITIONS = {"electra": TINY_POSITIONS, "roberta": TINY_POSITIONS, "bert": TINY_POSITIONS, "e5": 512}
TUNE = {"lr": 3e-3, "epochs": 1, "batch_size": 8, "warmup_ratio": 0.0}


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base folder per architecture, and the e5 shape."""
    root = tmp_path_factory.mktemp("encoders")
    built = {arch: build_encoder(root / arch, arch, seed=5) for arch in ARCHITECTURES}
    built["e5"] = build_e5_shaped_encoder(root / "e5", seed=5)
    return built


def _long(texts: list[str]) -> list[str]:
    """Texts far longer than any budget here, each ending in words its head does not have."""
    return [" ".join([text] * 60) + " festival diplomacy 외교" for text in texts]


@pytest.mark.parametrize("arch", [*ARCHITECTURES, "e5"])
def test_the_profile_is_chosen_from_the_folder(encoders: dict[str, Path], arch: str) -> None:
    profile, source = base_profile(encoders[arch])
    assert (profile.input_prefix, profile.pooling, source) == ("", "mean", "default")
    assert profile.max_positions == POSITIONS[arch]
    assert (profile.head_tokens, profile.tail_tokens) == FRAMES[arch]
    line = describe_base(encoders[arch], profile, source)
    head, tail = FRAMES[arch]
    assert f"mean pooling, no input prefix, {POSITIONS[arch]} positions, special tokens {head[0]} … {tail[0]}" in line


@pytest.mark.slow
@pytest.mark.parametrize("arch", [*ARCHITECTURES, "e5"])
def test_the_served_model_reads_the_trained_ids_for_each_tokenizer(
    encoders: dict[str, Path], toy_topic: Path, tmp_path: Path, arch: str
) -> None:
    """Both recipes at their 256 tokens: cut to the encoder's positions, head + tail inside its special tokens."""
    base = encoders[arch]
    train, val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    long = LabeledSet(_long(val.texts[:9]), val.labels[:9])
    budget = min(256, POSITIONS[arch])
    fast = train_fast_model({"topic": (train, long)}, base, tmp_path, "fast", FastSettings(char_ngrams=None))
    tuned = train_model({"topic": (train, long)}, base, tmp_path, Hyperparameters(**TUNE, max_length=256), "tuned")
    tokenizer = load_base(base)[1]
    head, tail = (tokenizer.convert_tokens_to_ids(list(tokens)) for tokens in FRAMES[arch])
    for folder in (fast, tuned):
        manifest = read_manifest(folder)
        assert manifest["max_length"] == budget and manifest["max_positions"] == POSITIONS[arch]
        assert manifest["special_tokens"] == {"head": list(FRAMES[arch][0]), "tail": list(FRAMES[arch][1])}
        assert (manifest["input_prefix"], manifest["pooling"], manifest["truncation"]) == ("", "mean", "head_tail")
        predictor = load_model(folder, device="cpu")  # STREAMPROC_MAX_TOKENS' default, 256
        assert predictor.max_tokens == budget
        served = served_ids(predictor, long.texts)
        assert all(len(ids) == budget and ids[:1] == head and ids[-1:] == tail for ids in served)
        ends = token_ids(tokenizer, [" festival diplomacy 외교"], 64)[0][len(head) : -len(tail)]
        assert all(ids[-1 - len(ends) : -1] == ends for ids in served)  # the text's own end is read
    # fine-tune: what the training loop fed the encoder
    trained = _encode("topic", ["culture", "economy", "politics"], train, long, tokenizer, budget, "head_tail")
    assert trained.val_ids == served_ids(load_model(tuned, device="cpu"), long.texts)
    # fast heads: the served probabilities are the regression's on the features the recipe computed
    predictor = load_model(fast, device="cpu")
    encoder = load_base(fast / "encoder")[0]
    features = encode_features(encoder, tokenizer, long.texts, budget, truncation="head_tail")
    layer = predictor.model.head("topic")
    logits = torch.from_numpy(features) @ layer.weight.detach().T + layer.bias.detach()
    expected = torch.softmax(logits, -1).numpy()
    np.testing.assert_allclose(predictor.predict(long.texts).probabilities["topic"], expected, atol=1e-4)


def test_an_input_prefix_is_read_by_the_encoder_in_training_and_serving_not_by_the_char_branch(
    encoders: dict[str, Path], toy_topic: Path, tmp_path: Path
) -> None:
    base = shutil.copytree(encoders["roberta"], tmp_path / "roberta")
    (base / OVERRIDES).write_text(json.dumps({"input_prefix": "query: "}))
    profile, source = base_profile(base)
    assert profile.input_prefix == "query: " and "prefix set in streamproc_encoder.json" in source
    assert "input prefix 'query: '" in describe_base(base, profile, source)
    train, val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    folder = train_fast_model({"topic": (train, val)}, base, tmp_path, "prefixed", FastSettings(max_length=32))
    manifest = read_manifest(folder)
    assert manifest["format"] == FORMAT_PREFIX and manifest["input_prefix"] == "query: "
    predictor = load_model(folder, device="cpu", max_tokens=32)
    tokenizer = predictor.tokenizer
    texts = [*val.texts[:6], _long(val.texts[:1])[0]]
    served = served_ids(predictor, texts)
    assert served == token_ids(tokenizer, ["query: " + text for text in texts], 32, "head_tail")
    assert tokenizer.decode(served[0]).startswith("<s>query: ")
    # the encoder reads the prefix, the n-gram branch the text alone (a prefix adds the same n-grams to every text)
    model, branch = predictor.model, predictor.model.char_branch
    assert branch is not None
    ids, mask = (torch.tensor(x) for x in _padded(served, tokenizer.pad_token_id))
    with torch.inference_mode():
        plain = torch.softmax(model(ids, mask, branch.batch(texts)).logits["topic"], -1).numpy()
        prefixed = torch.softmax(model(ids, mask, branch.batch(["query: " + t for t in texts])).logits["topic"], -1)
    probabilities = predictor.predict(texts).probabilities["topic"]
    np.testing.assert_allclose(probabilities, plain, atol=1e-5)
    assert not np.allclose(probabilities, prefixed.numpy(), atol=1e-5)


def test_first_token_pooling_from_a_sentence_transformers_folder(
    encoders: dict[str, Path], toy_topic: Path, tmp_path: Path
) -> None:
    base = shutil.copytree(encoders["electra"], tmp_path / "electra")
    (base / "modules.json").write_text(
        json.dumps([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])
    )  # fmt: skip
    (base / "1_Pooling").mkdir()
    (base / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    profile, source = base_profile(base)
    assert profile.pooling == "cls" and source == "the folder's sentence-transformers pooling"
    train, val = read_tsv(toy_topic / "train.tsv"), read_tsv(toy_topic / "val.tsv")
    settings = FastSettings(max_length=32, char_ngrams=None)
    folder = train_fast_model({"topic": (train, val)}, base, tmp_path, "first", settings)
    assert read_manifest(folder)["pooling"] == "cls"
    predictor = load_model(folder, device="cpu", max_tokens=32)
    assert predictor.model.pooling == "cls"
    encoder, tokenizer = load_base(folder / "encoder")
    first = encode_features(encoder, tokenizer, val.texts, 32, truncation="head_tail", pooling="cls")
    mean = encode_features(encoder, tokenizer, val.texts, 32, truncation="head_tail")
    ids, mask = (torch.tensor(x) for x in _padded(served_ids(predictor, val.texts[:1]), tokenizer.pad_token_id))
    hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    np.testing.assert_allclose(first[:1], pool(hidden, mask, "cls").detach().numpy(), atol=1e-5)
    layer = predictor.model.head("topic")
    served = predictor.predict(val.texts).probabilities["topic"]
    for features, same in ((first, True), (mean, False)):
        logits = torch.from_numpy(features) @ layer.weight.detach().T + layer.bias.detach()
        assert np.allclose(served, torch.softmax(logits, -1).numpy(), atol=1e-4) is same


def test_first_token_pooling_needs_a_token_before_the_text(tmp_path: Path) -> None:
    base = build_base_encoder(tmp_path / "bare", seed=1)  # a tokenizer that adds no special tokens
    (base / OVERRIDES).write_text(json.dumps({"pooling": "cls"}))
    with pytest.raises(UserError, match="puts no special token before a text"):
        base_profile(base)
    (base / OVERRIDES).write_text(json.dumps({"pooling": "max"}))
    with pytest.raises(UserError, match="unknown pooling 'max'"):
        base_profile(base)
    (base / OVERRIDES).write_text(json.dumps({"prefix": "query: "}))
    with pytest.raises(UserError, match="unknown key 'prefix'"):
        base_profile(base)


def test_a_tokenizer_that_frames_texts_otherwise_than_in_training_is_refused(
    encoders: dict[str, Path], toy_sentiment: Path, tmp_path: Path
) -> None:
    sets = {"sentiment": (read_tsv(toy_sentiment / "train.tsv"), read_tsv(toy_sentiment / "val.tsv"))}
    folder = train_fast_model(sets, encoders["bert"], tmp_path, "bert", FastSettings(max_length=32, char_ngrams=None))
    for name in ("tokenizer.json", "tokenizer_config.json"):  # another tokenizer dropped into encoder/
        shutil.copy2(encoders["roberta"] / name, folder / "encoder" / name)
    with pytest.raises(UserError, match=r"trained with the special tokens \[CLS\] … \[SEP\].*puts <s> … </s>"):
        load_model(folder, device="cpu")


def test_a_folder_from_before_the_profile_is_served_as_before(tiny_model_dir: Path) -> None:
    manifest = read_manifest(tiny_model_dir)
    assert not {"input_prefix", "max_positions", "special_tokens"} & set(manifest)
    predictor = load_model(tiny_model_dir, device="cpu", max_tokens=4096)
    assert (predictor.profile.input_prefix, predictor.profile.pooling) == ("", "mean")
    assert predictor.max_tokens == TINY_POSITIONS  # its config's positions, as before
    assert json.loads((tiny_model_dir / MANIFEST).read_text())["format"] == "streamproc.multihead/1"


def _padded(rows: list[list[int]], pad_id: int) -> tuple[list[list[int]], list[list[int]]]:
    width = max(len(row) for row in rows)
    return [row + [pad_id] * (width - len(row)) for row in rows], [[1] * len(r) + [0] * (width - len(r)) for r in rows]
