"""Loading an encoder prints no load report for the pooler weights nothing reads, and still prints any other.

The rebuilt e5 folder holds a seeded pooler and the training code builds its encoder without one, so transformers
printed a `BertModel LOAD REPORT … UNEXPECTED pooler.dense.*` table on every training run, `make demo` and
retrain (and `MISSING pooler.dense.*` whenever a trained model was loaded).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from transformers import AutoModel, BertModel
from transformers.utils import logging as transformers_logging

from streamproc.inference.multihead import load_encoder
from tests.tiny_models import tiny_config


@pytest.fixture(autouse=True)
def reports_shown() -> Iterator[None]:
    """The tests' environment sets TRANSFORMERS_VERBOSITY=error; the report is a warning (it reaches `caplog`)."""
    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_warning()
    yield
    transformers_logging.set_verbosity(level)


def _encoder(folder: Path, pooler: bool) -> Path:
    BertModel(tiny_config(), add_pooling_layer=pooler).save_pretrained(folder)
    return folder


def test_pooler_weights_alone_are_not_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with_pooler, without = _encoder(tmp_path / "base", True), _encoder(tmp_path / "trained", False)
    AutoModel.from_pretrained(with_pooler, local_files_only=True, add_pooling_layer=False)  # how it was loaded
    assert "LOAD REPORT" in caplog.text and "UNEXPECTED" in caplog.text  # the report this is about, visible here
    caplog.clear()
    for folder in (with_pooler, without):
        encoder = load_encoder(folder)
        assert encoder.pooler is None
    assert "LOAD REPORT" not in caplog.text


def test_any_other_weight_is_still_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = _encoder(tmp_path / "damaged", True)
    weights = load_file(folder / "model.safetensors")
    del weights["embeddings.LayerNorm.weight"]
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    load_encoder(folder)
    assert "LOAD REPORT" in caplog.text and "embeddings.LayerNorm.weight" in caplog.text and "MISSING" in caplog.text
