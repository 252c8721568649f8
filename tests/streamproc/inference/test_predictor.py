"""Loading both model formats offline and predicting in input order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.inference.multihead import MANIFEST, read_manifest
from streamproc.inference.predictor import CombinedPredictor, load_model, resolve_device
from streamproc.inference.truncation import token_ids
from tests.tiny_models import SENTIMENTS, TOPICS, build_multihead, build_sequence_classifier, served_ids

TEXTS = ["정부 선거", "market stocks chips exports police concert festival " * 5, "ai", "경찰 사건 사회 문화 공연"]


def test_multihead_batch_equals_one_by_one(tiny_model_dir: Path) -> None:
    predictor = load_model(tiny_model_dir, device="cpu")
    assert predictor.tasks == {"topic": TOPICS, "sentiment": SENTIMENTS}
    batch = predictor.predict(TEXTS)
    for i, text in enumerate(TEXTS):
        single = predictor.predict([text])
        for task in predictor.tasks:
            np.testing.assert_allclose(batch.probabilities[task][i], single.probabilities[task][0], atol=1e-5)
    assert np.allclose(batch.probabilities["topic"].sum(axis=1), 1.0, atol=1e-5)


def test_hugging_face_folders_combine(tmp_path: Path) -> None:
    topic = build_sequence_classifier(tmp_path / "topic", TOPICS, seed=1)
    sentiment = build_sequence_classifier(tmp_path / "sentiment", SENTIMENTS, seed=2)
    settings = Settings(task_model_dirs={"topic": topic, "sentiment": sentiment}, device="cpu")
    predictor = load_pipeline_predictor(settings)
    assert isinstance(predictor, CombinedPredictor)
    assert predictor.tasks == {"topic": TOPICS, "sentiment": SENTIMENTS}
    assert predictor.versions["topic"].startswith("topic@")
    probs = predictor.predict(TEXTS).probabilities
    assert probs["topic"].shape == (4, len(TOPICS)) and probs["sentiment"].shape == (4, 3)
    with pytest.raises(UserError, match="'stance', which the task file"):
        load_pipeline_predictor(Settings(task_model_dirs={"stance": topic}, device="cpu"))


def test_a_head_with_labels_the_task_file_lacks_is_refused(tmp_path: Path) -> None:
    odd = build_sequence_classifier(tmp_path / "topic", ["politics", "weather"], seed=1)
    with pytest.raises(UserError, match=r"topic head has labels the task file .* does not list: weather"):
        load_pipeline_predictor(Settings(task_model_dirs={"topic": odd}, device="cpu"))


def test_loss_head_output_and_strategy_check(tmp_path: Path, tiny_model_dir: Path) -> None:
    with_head = build_multihead(tmp_path / "lpm", loss_head=True)
    assert load_model(with_head, device="cpu").predict(TEXTS).predicted_loss.shape == (4,)
    with pytest.raises(UserError, match="loss head"):
        load_pipeline_predictor(Settings(multitask_model_dir=tiny_model_dir, uncertainty_strategy="predicted_loss"))


def test_missing_folder_and_device_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="build-defaults"):
        load_model(tmp_path / "none")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda" and resolve_device("auto").type == "cuda"
    else:
        with pytest.raises(UserError, match="no CUDA"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"


def test_predictions_on_the_resolved_device_match_the_cpu(tiny_model_dir: Path) -> None:
    """`auto` runs on the GPU when there is one; its probabilities agree with the CPU's."""
    auto = load_model(tiny_model_dir, device="auto", precision="float32")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    on_device = auto.predict(TEXTS)
    on_cpu = load_model(tiny_model_dir, device="cpu", precision="float32").predict(TEXTS)
    for task in on_cpu.probabilities:
        np.testing.assert_allclose(on_device.probabilities[task], on_cpu.probabilities[task], atol=1e-3)


def test_texts_longer_than_the_position_limit_are_truncated_not_fatal(tiny_model_dir: Path, tmp_path: Path) -> None:
    long_text = " ".join(["정부 국회 선거 market stocks"] * 200)  # about 1000 tokens; the tiny models take 128
    multihead = load_model(tiny_model_dir, device="cpu", max_tokens=4096)
    assert multihead.predict([long_text, "짧은 기사"]).probabilities["topic"].shape == (2, len(TOPICS))
    single = load_model(build_sequence_classifier(tmp_path / "s", SENTIMENTS), device="cpu", max_tokens=4096)
    assert single.predict([long_text]).probabilities["s"].shape == (1, len(SENTIMENTS))


def test_a_folder_without_a_truncation_key_reads_the_head_and_one_with_it_reads_head_and_tail(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    long_text = "정부 국회 선거 " * 30 + "concert festival diplomacy " * 10
    texts = [long_text, "짧은 기사"]
    old = load_model(tiny_model_dir, device="cpu", max_tokens=24)
    assert "truncation" not in read_manifest(tiny_model_dir) and old.truncation == "head"
    assert served_ids(old, texts) == old.tokenizer(texts, truncation=True, max_length=24)["input_ids"]
    folder = shutil.copytree(tiny_model_dir, tmp_path / "head-tail")
    manifest = read_manifest(folder)
    (folder / MANIFEST).write_text(json.dumps({**manifest, "truncation": "head_tail"}))
    new = load_model(folder, device="cpu", max_tokens=24)
    served = served_ids(new, texts)
    assert served == token_ids(new.tokenizer, texts, 24, "head_tail")
    assert len(served[0]) == 24 and served[0] != served_ids(old, texts)[0]
    assert "festival" in new.tokenizer.decode(served[0])
    assert "festival" not in old.tokenizer.decode(served_ids(old, texts)[0])
    assert new.predict(texts).probabilities["topic"].shape == (2, len(TOPICS))
    (folder / MANIFEST).write_text(json.dumps({**manifest, "truncation": "middle"}))
    with pytest.raises(UserError, match="unknown truncation"):
        load_model(folder, device="cpu")
