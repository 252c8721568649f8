"""A predictor that reads a model's encoder vectors from the feature store instead of running the encoder again.

The gate of `streamproc retrain` scores the serving model and the candidate on every task's validation set
(5,343 texts with the default task file). On the fast path both models share the serving model's frozen encoder,
and building the candidate has just read (or written) that encoder's vectors of the same texts in the feature store
(`streamproc_models.feature_store`): running them through the encoder twice more took most of a retrain. A
`CachedPredictor` reads the vectors from the store (encoding, and storing, only texts it lacks) and runs the folder's
heads and n-gram branch on them (`MultiHeadClassifier.classify`). Tokenisation is the folder's own, as
`load_model(folder)` reads it (truncation and prefix from the manifest, `max_tokens` capped at the encoder's
positions), so the probabilities are the predictor's up to float rounding (batches are padded differently).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from streamproc.inference.multihead import is_multihead_dir
from streamproc.inference.predictor import MultiHeadPredictor, Predictions, Predictor, load_model, resolve_device
from streamproc_models.fast_heads import encode_features

HEAD_CHUNK = 1024  # texts per pass through the heads and the n-gram branch (bounds the n-gram batch's memory)


class CachedPredictor(MultiHeadPredictor):
    """Runs a streamproc multi-head folder on stored encoder vectors (see the module docstring): the folder is
    loaded as the predictor loads it, in float32, the precision the build stored its vectors in."""

    def __init__(self, directory: Path, cache: Path, device: str = "auto", max_tokens: int = 256) -> None:
        super().__init__(directory, resolve_device(device), max_tokens, precision="float32")
        self.cache = cache

    @torch.inference_mode()
    def predict(self, texts: list[str]) -> Predictions:
        """Probabilities for every task, one row per text (no loss-head output: that head reads token states)."""
        vectors = encode_features(
            self.model.encoder,
            self.tokenizer,
            texts,
            self.max_tokens,
            f"{self.model.version}: features",
            self.cache,
            self.truncation,
            self.profile.input_prefix,
            self.model.pooling,
        )
        probabilities = {task: np.zeros((len(texts), len(labels)), np.float32) for task, labels in self.tasks.items()}
        branch = self.model.char_branch
        for start in range(0, len(texts), HEAD_CHUNK):
            part = slice(start, start + HEAD_CHUNK)
            chars = branch.batch(texts[part]) if branch is not None else None
            logits = self.model.classify(torch.from_numpy(vectors[part]).to(self.device), chars)
            for task, values in logits.items():
                probabilities[task][part] = torch.softmax(values.float(), dim=-1).cpu().numpy()
        return Predictions(probabilities)


def scoring_model(directory: Path, cache: Path | None, device: str = "auto") -> Predictor:
    """What the gate scores a folder with: a `CachedPredictor` on `cache` for a multi-head folder, else the folder's
    own predictor."""
    if cache is not None and is_multihead_dir(directory):
        return CachedPredictor(directory, cache, device)
    return load_model(directory, device=device)
