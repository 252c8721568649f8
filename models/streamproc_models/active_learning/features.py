"""Frozen-encoder features for the simulation, computed once per text set and cached on disk.

For each text: the masked mean of the hidden states of a few encoder layers (the ones the Learning-Loss
module reads; the last one is also the classifier's sentence vector, as in the fast heads). Stored as
float16 `.npz` under `<model_store>/al-features/<encoder>/`, keyed by a hash of the texts and settings,
so a re-run (or another strategy, seed or data set split) never encodes twice.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from streamproc.inference.multihead import pool
from streamproc_models.training.batching import collate, sorted_batches
from streamproc_models.training.train import load_base

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

FEATURE_BATCH = 32


def default_layers(n_layers: int) -> list[int]:
    """Hidden-state indexes read by the loss module: n/3, 2n/3 and n (as `--loss-head` fine-tuning uses)."""
    return sorted({max(1, round(n_layers * k / 3)) for k in (1, 2, 3)})


def cache_key(texts: list[str], base: Path, layers: list[int] | None, max_length: int) -> str:
    """A short hash of everything the features depend on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(Path(base).resolve()), layers, max_length]).encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def layer_features(
    texts: list[str],
    base: Path,
    cache_dir: Path,
    name: str,
    max_length: int = 128,
    layers: list[int] | None = None,
) -> dict[int, np.ndarray]:
    """Per layer index, an (n, hidden) float32 array of mean-pooled states; read from the cache when there."""
    key = cache_key(texts, base, layers, max_length)
    path = Path(cache_dir) / f"{name}-{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {int(k.removeprefix("layer")): stored[k].astype(np.float32) for k in stored.files}
    encoder, tokenizer = load_base(base)
    chosen = layers or default_layers(encoder.config.num_hidden_layers)
    arrays = encode_layers(encoder, tokenizer, texts, chosen, max_length, desc=f"{name}: features")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, allow_pickle=False, **{f"layer{k}": v.astype(np.float16) for k, v in arrays.items()})
    partial.replace(path)
    return {k: v.astype(np.float16).astype(np.float32) for k, v in arrays.items()}


@torch.inference_mode()
def encode_layers(
    encoder: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    layers: list[int],
    max_length: int,
    desc: str = "features",
) -> dict[int, np.ndarray]:
    """Masked mean of the chosen hidden states (0 = embeddings), length-sorted batches, dynamic padding."""
    encoder.eval()
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    hidden = encoder.config.hidden_size
    out = {layer: np.zeros((len(texts), hidden), dtype=np.float32) for layer in layers}
    for index in tqdm(sorted_batches([len(x) for x in ids], FEATURE_BATCH), desc=desc, unit="batch"):
        input_ids, mask = collate([ids[i] for i in index], tokenizer.pad_token_id)
        states = encoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for layer in layers:
            out[layer][index] = pool(states[layer], mask, "mean").float().numpy()
    return out
