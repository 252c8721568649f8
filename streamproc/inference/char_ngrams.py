"""Hashed character n-gram features, and the model branch that reads them (an `EmbeddingBag` per task).

Character 1-3-grams are strong for Korean news classification (a syllable is a morpheme more often than
not) and cost next to nothing. A text becomes a bag of hashed n-gram ids with TF-IDF weights
(sublinear term frequency × the stored inverse document frequency, L2-normalised); the branch's logits
are the weighted sum of each task's per-bucket rows, i.e. a linear model on the TF-IDF vector. Everything
it needs (the IDF vector and the rows) lives in the model folder's `heads.safetensors`, so serving needs
no vocabulary file and no scikit-learn. The hash is CRC-32 (stable across processes, unlike `hash()`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
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


def bucket_counts(texts: list[str], spec: CharNgramSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text index, bucket id, count) of every text's character n-grams, sorted by text, then bucket.

    A text is lower-cased, its whitespace folded to single spaces, and cut to its first `max_chars`; an n-gram's
    bucket is the CRC-32 of its UTF-8 bytes modulo `buckets` (`zlib.crc32`; a lone surrogate counts as its
    three-byte form). The CRC runs in numpy for the whole batch at once: the register of the n-gram starting at
    position i is the (n-1)-gram's register fed the bytes of character i+n-1, so each width costs one pass.
    """
    folded = [" ".join(text.lower().split())[: spec.max_chars] for text in texts]
    lengths = np.fromiter(map(len, folded), np.int64, len(folded))
    codes = np.frombuffer("".join(folded).encode("utf-32-le", "surrogatepass"), np.uint32)
    owner = np.repeat(np.arange(len(folded)), lengths)
    following = np.cumsum(lengths)[owner] - np.arange(len(codes)) - 1  # characters after each one in its text
    char_bytes, byte_count = _utf8(codes)
    starts = np.arange(len(codes))
    register = np.full(len(codes), 0xFFFFFFFF, np.uint32)
    keys = [np.zeros(0, np.int64)]
    for width in range(1, spec.n_max + 1):
        last = starts + width - 1
        fed = byte_count[last]
        for j in range(int(fed.max(initial=0))):  # four-byte characters are rare: stop at the longest
            step = _CRC_TABLE[(register ^ char_bytes[last, j]) & 0xFF] ^ (register >> 8)
            register = np.where(fed > j, step, register)
        if width >= spec.n_min:
            bucket = (register ^ np.uint32(0xFFFFFFFF)).astype(np.int64) % spec.buckets
            keys.append(owner[starts] * spec.buckets + bucket)
        extendable = following[starts] >= width  # the n-grams with a character after them grow by one
        starts, register = starts[extendable], register[extendable]
    unique, count = np.unique(np.concatenate(keys), return_counts=True)
    return unique // spec.buckets, unique % spec.buckets, count


def _utf8(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(characters × 4 UTF-8 bytes, byte count per character) of Unicode code points."""
    count = 1 + (codes >= 0x80).astype(np.int64) + (codes >= 0x800) + (codes >= 0x10000)
    out = np.zeros((len(codes), 4), np.uint32)
    for n, lead in ((1, 0x00), (2, 0xC0), (3, 0xE0), (4, 0xF0)):
        rows = count == n
        out[rows, 0] = lead | (codes[rows] >> (6 * (n - 1)))
        for j in range(1, n):  # continuation bytes: 10xxxxxx, six bits each, most significant first
            out[rows, j] = 0x80 | ((codes[rows] >> (6 * (n - 1 - j))) & 0x3F)
    return out, count


def _crc_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1)
    return table.astype(np.uint32)


_CRC_TABLE = _crc_table()


@dataclass
class CharBatch:
    """A batch of bags in `EmbeddingBag` form: flat ids, per-text offsets, per-id weights."""

    ids: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor


def char_batch(texts: list[str], spec: CharNgramSpec, idf: torch.Tensor) -> CharBatch:
    """TF-IDF weighted bags (sublinear tf, L2-normalised), as sklearn's `TfidfTransformer(sublinear_tf=True)`."""
    owner, bucket, count = bucket_counts(texts, spec)
    weights = (1.0 + np.log(count)) * idf.numpy()[bucket]
    norms = np.sqrt(np.bincount(owner, weights=weights * weights, minlength=len(texts)))
    weights = weights / np.where(norms > 0, norms, 1.0)[owner]
    return CharBatch(
        torch.from_numpy(bucket),
        torch.from_numpy(np.searchsorted(owner, np.arange(len(texts)))),
        torch.from_numpy(weights.astype(np.float32)),
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
