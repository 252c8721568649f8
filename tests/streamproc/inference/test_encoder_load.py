"""Loading an encoder prints no load report for the weights nothing reads (the pooler, the pre-training heads of hub
checkpoints), and still prints any other.

The rebuilt e5 folder holds a seeded pooler and the training code builds its encoder without one, so transformers
printed a `BertModel LOAD REPORT … UNEXPECTED pooler.dense.*` table on every training run, `make demo` and
retrain (and `MISSING pooler.dense.*` whenever a trained model was loaded).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from transformers import (
    AutoConfig,
    AutoModel,
    BertForPreTraining,
    BertModel,
    ElectraForPreTraining,
    RobertaForMaskedLM,
)
from transformers.utils import logging as transformers_logging

from streamproc.inference.multihead import load_encoder
from tests.tiny_models import ARCHITECTURES, build_encoder, tiny_config


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


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_pre_training_heads_of_hub_checkpoints_are_not_reported(
    arch: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """KoELECTRA, KLUE-RoBERTa and KLUE-BERT are published with the heads they were pre-trained with
    (`discriminator_predictions.*`, `lm_head.*`, `cls.*`): `AutoModel` leaves them out, nothing is wrong."""
    config = AutoConfig.from_pretrained(build_encoder(tmp_path / "base", arch))
    pre_training = {"electra": ElectraForPreTraining, "roberta": RobertaForMaskedLM, "bert": BertForPreTraining}[arch]
    pre_training(config).save_pretrained(tmp_path / "hub")
    AutoModel.from_pretrained(tmp_path / "hub", local_files_only=True)
    assert "LOAD REPORT" in caplog.text and "UNEXPECTED" in caplog.text  # the report this is about, visible here
    caplog.clear()
    encoder = load_encoder(tmp_path / "hub")
    assert type(encoder).__name__ == {"electra": "ElectraModel", "roberta": "RobertaModel", "bert": "BertModel"}[arch]
    assert "LOAD REPORT" not in caplog.text
