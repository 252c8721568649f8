"""Frozen-encoder features for the simulation, computed once per text set and cached on disk.

For each text: the pooled hidden states of a few encoder layers (the ones the Learning-Loss module reads; the
last one is also the classifier's sentence vector, as in the fast heads), read as the encoder's profile says
(`streamproc_models.encoder_choice`: pooling, input prefix, positions). Stored as
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

from streamproc.inference.encoder_profile import EncoderProfile, Pooling
from streamproc.inference.multihead import pool
from streamproc.inference.truncation import token_ids
from streamproc_models.encoder_choice import base_profile
from streamproc_models.training.batching import collate, sorted_batches
from streamproc_models.training.train import load_base

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

FEATURE_BATCH = 32


def default_layers(n_layers: int) -> list[int]:
    """Hidden-state indexes read by the loss module: n/3, 2n/3 and n (as `--loss-head` fine-tuning uses)."""
    return sorted({max(1, round(n_layers * k / 3)) for k in (1, 2, 3)})


def cache_key(
    texts: list[str], base: Path, layers: list[int] | None, max_length: int, prefix: str = "", pooling: str = "mean"
) -> str:
    """A short hash of everything the features depend on."""
    digest = hashlib.sha256()
    digest.update(json.dumps([str(Path(base).resolve()), layers, max_length]).encode())
    if prefix or pooling != "mean":  # the key of a mean-pooled, unprefixed run stays what it was
        digest.update(json.dumps([prefix, pooling]).encode())
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
    profile: EncoderProfile | None = None,
) -> dict[int, np.ndarray]:
    """Per layer index, an (n, hidden) float32 array of pooled states; read from the cache when there.

    `profile` (chosen from `base` when not given) says how the encoder reads a text.
    """
    profile = profile or base_profile(base)[0]
    max_length = profile.cap(max_length)
    key = cache_key(texts, base, layers, max_length, profile.input_prefix, profile.pooling)
    path = Path(cache_dir) / f"{name}-{key}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {int(k.removeprefix("layer")): stored[k].astype(np.float32) for k in stored.files}
    encoder, tokenizer = load_base(base)
    chosen = layers or default_layers(encoder.config.num_hidden_layers)
    arrays = encode_layers(
        encoder, tokenizer, texts, chosen, max_length, f"{name}: features", profile.input_prefix, profile.pooling
    )
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
    prefix: str = "",
    pooling: Pooling = "mean",
) -> dict[int, np.ndarray]:
    """The chosen hidden states (0 = embeddings) pooled as `pooling` says, of the texts after `prefix` (their
    first `max_length` tokens); length-sorted batches, dynamic padding."""
    encoder.eval()
    ids = token_ids(tokenizer, texts, max_length, "head", prefix)
    hidden = encoder.config.hidden_size
    out = {layer: np.zeros((len(texts), hidden), dtype=np.float32) for layer in layers}
    for index in tqdm(sorted_batches([len(x) for x in ids], FEATURE_BATCH), desc=desc, unit="batch"):
        input_ids, mask = collate([ids[i] for i in index], tokenizer.pad_token_id)
        states = encoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True).hidden_states
        for layer in layers:
            out[layer][index] = pool(states[layer], mask, pooling).float().numpy()
    return out
