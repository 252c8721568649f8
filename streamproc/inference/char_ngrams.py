"""Hashed character n-gram features, and the model branch that reads them (an `EmbeddingBag` per task).

Character 1-3-grams are strong for Korean topic and sentiment (a syllable is a morpheme more often than
not) and cost next to nothing. A text becomes a bag of hashed n-gram ids with TF-IDF weights
(sublinear term frequency × the stored inverse document frequency, L2-normalised); the branch's logits
are the weighted sum of each task's per-bucket rows, i.e. a linear model on the TF-IDF vector. Everything
it needs (the IDF vector and the rows) lives in the model folder's `heads.safetensors`, so serving needs
no vocabulary file and no scikit-learn. The hash is CRC-32 (stable across processes, unlike `hash()`).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CharNgramSpec:
    """Which n-grams, hashed into how many buckets (recorded in `streamproc_model.json`)."""

    n_min: int = 1
    n_max: int = 3
    buckets: int = 2**18
    max_chars: int = 2000

    def to_json(self) -> dict:
        """The manifest entry."""
        return asdict(self)


def ngram_counts(text: str, spec: CharNgramSpec) -> Counter[int]:
    """Bucket id -> count of the text's character n-grams (lower-cased, whitespace folded, first `max_chars`)."""
    text = " ".join(text.lower().split())[: spec.max_chars]
    counts: Counter[int] = Counter()
    for n in range(spec.n_min, spec.n_max + 1):
        for start in range(len(text) - n + 1):
            counts[zlib.crc32(text[start : start + n].encode("utf-8")) % spec.buckets] += 1
    return counts


@dataclass
class CharBatch:
    """A batch of bags in `EmbeddingBag` form: flat ids, per-text offsets, per-id weights."""

    ids: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor


def char_batch(texts: list[str], spec: CharNgramSpec, idf: torch.Tensor) -> CharBatch:
    """TF-IDF weighted bags (sublinear tf, L2-normalised), as sklearn's `TfidfTransformer(sublinear_tf=True)`."""
    ids: list[int] = []
    weights: list[float] = []
    offsets: list[int] = []
    idf_values = idf.tolist()
    for text in texts:
        offsets.append(len(ids))
        counts = ngram_counts(text, spec)
        bucket = list(counts)
        raw = [(1.0 + math.log(counts[b])) * idf_values[b] for b in bucket]
        norm = math.sqrt(sum(w * w for w in raw)) or 1.0
        ids.extend(bucket)
        weights.extend(w / norm for w in raw)
    return CharBatch(
        torch.tensor(ids, dtype=torch.long),
        torch.tensor(offsets, dtype=torch.long),
        torch.tensor(weights, dtype=torch.float32),
    )


class CharNgramBranch(nn.Module):
    """Per-task logits from hashed character n-gram TF-IDF bags, added to the encoder heads' logits."""

    idf: torch.Tensor  # a buffer (saved with the model), declared for the type checker

    def __init__(self, spec: CharNgramSpec, widths: dict[str, int]) -> None:
        """One bag per task, as wide as the task's head (`widths`: task -> outputs)."""
        super().__init__()
        self.spec = spec
        self.register_buffer("idf", torch.ones(spec.buckets))
        self.bags = nn.ModuleDict(
            {task: nn.EmbeddingBag(spec.buckets, width, mode="sum") for task, width in widths.items()}
        )

    def bag(self, task: str) -> nn.EmbeddingBag:
        """The task's bag (typed: `ModuleDict` items are plain modules to the type checker)."""
        bag = self.bags[task]
        assert isinstance(bag, nn.EmbeddingBag)
        return bag

    def batch(self, texts: list[str]) -> CharBatch:
        """The branch's input for `texts`."""
        return char_batch(texts, self.spec, self.idf.float().cpu())

    def forward(self, batch: CharBatch) -> dict[str, torch.Tensor]:
        """Logits per task, one row per text."""
        device = self.idf.device
        ids, offsets = batch.ids.to(device), batch.offsets.to(device)
        dtype = self.bag(next(iter(self.bags))).weight.dtype
        weights = batch.weights.to(device, dtype)
        return {task: bag(ids, offsets, per_sample_weights=weights) for task, bag in self.bags.items()}
