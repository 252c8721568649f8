"""Forward chunks: length bucketing under the device's limits, and the precisions a GPU would use, on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.errors import UserError
from streamproc.inference.batching import ChunkLimits, chunk_limits, pad, plan_chunks, to_device
from streamproc.inference.precision import weight_dtype
from streamproc.inference.predictor import load_model
from streamproc.inference.threads import inference_threads

HEADLINES = ["정부 선거", "ai", "경찰 사건 사회", "market stocks"] * 10
ARTICLES = ["market stocks chips exports police concert festival " * 12] * 6


def test_chunks_respect_items_and_token_budget() -> None:
    lengths = sorted([5] * 40 + [100] * 6)
    chunks = plan_chunks(lengths, ChunkLimits(max_items=32, token_budget=400))
    assert [i for chunk in chunks for i in chunk] == list(range(46))  # every text once, in sorted order
    for chunk in chunks:
        assert len(chunk) <= 32 and (len(chunk) == 1 or len(chunk) * lengths[chunk[-1]] <= 400)
    assert len(chunks[0]) == 32 and max(len(c) for c in chunks if lengths[c[-1]] == 100) == 4
    assert plan_chunks([999], ChunkLimits(4, 10)) == [range(0, 1)]  # one text over the budget still runs


def test_limits_follow_the_device() -> None:
    assert chunk_limits(torch.device("cpu"), 256) == ChunkLimits(32, 4096)
    assert chunk_limits(torch.device("cpu"), 8).max_items == 8
    assert chunk_limits(torch.device("cuda"), 256).max_items == 256  # a GPU takes the whole micro-batch
    assert inference_threads(3, torch.device("cpu")) == 3
    assert inference_threads(None, torch.device("cpu")) >= 1


def test_pad_and_cpu_copy() -> None:
    ids, mask = pad([[5, 6, 7], [8]], pad_id=1)
    assert ids.tolist() == [[5, 6, 7], [8, 1, 1]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert to_device(ids, torch.device("cpu")) is ids


def test_mixed_lengths_match_one_by_one(tiny_model_dir: Path) -> None:
    predictor = load_model(tiny_model_dir, device="cpu", batch_size=64)
    texts = [t for pair in zip(HEADLINES, ARTICLES * 7, strict=False) for t in pair]
    batch = predictor.predict(texts).probabilities["topic"]
    singles = np.stack([predictor.predict([t]).probabilities["topic"][0] for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_half_precisions_keep_shapes_and_return_float32(tiny_model_dir: Path, precision: str) -> None:
    """What `auto` picks on a GPU, run on CPU for shape and dtype (no GPU on the development machines)."""
    predictor = load_model(tiny_model_dir, device="cpu", precision=precision)
    assert next(predictor.model.encoder.parameters()).dtype == getattr(torch, precision)
    assert predictor.model.encoder.config._attn_implementation == "sdpa"
    probs = predictor.predict(HEADLINES + ARTICLES).probabilities
    reference = load_model(tiny_model_dir, device="cpu").predict(HEADLINES + ARTICLES).probabilities
    for task, values in probs.items():
        assert values.dtype == np.float32 and values.shape == reference[task].shape
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-3)
        np.testing.assert_allclose(values, reference[task], atol=0.05)


def test_int8_is_a_cpu_path(tiny_model_dir: Path) -> None:
    predictor = load_model(tiny_model_dir, device="cpu", precision="int8")
    assert "DynamicQuantizedLinear" in repr(predictor.model.encoder)
    assert isinstance(predictor.model.heads["topic"], torch.nn.Linear)  # heads stay float
    probs = predictor.predict(HEADLINES).probabilities["topic"]
    assert probs.shape == (len(HEADLINES), len(predictor.tasks["topic"]))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    with pytest.raises(UserError, match="CPU path"):
        weight_dtype("int8", torch.device("cuda"))
    assert weight_dtype("auto", torch.device("cpu")) is None
