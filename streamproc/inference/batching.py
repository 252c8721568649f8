"""Forward batches: length bucketing under a token budget, padding, and the host -> device copy.

Texts are tokenized once, sorted by token count and cut into chunks whose padded size (items x longest) stays
under a token budget: short headlines travel in wide chunks, long articles in narrow ones, and mixed traffic
pads each text only up to its neighbours' length. The limits follow the device: a GPU takes the whole
micro-batch (and a large budget), a CPU gains nothing from chunks beyond a few thousand tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

CPU_MAX_ITEMS = 32
CPU_TOKEN_BUDGET = 4096
GPU_TOKEN_BUDGET = 65536


@dataclass(frozen=True)
class ChunkLimits:
    """At most `max_items` texts and `token_budget` padded tokens per forward pass."""

    max_items: int
    token_budget: int


def chunk_limits(device: torch.device, batch_size: int | None) -> ChunkLimits:
    """CPU: chunks of up to 32 texts / 4,096 tokens. GPU: the whole micro-batch, up to 65,536 tokens."""
    if device.type == "cuda":
        return ChunkLimits(max(batch_size or 256, 1), GPU_TOKEN_BUDGET)
    return ChunkLimits(min(batch_size or CPU_MAX_ITEMS, CPU_MAX_ITEMS), CPU_TOKEN_BUDGET)


def plan_chunks(sorted_lengths: list[int], limits: ChunkLimits) -> list[range]:
    """Cut ascending token lengths into consecutive chunks that respect `limits` (always ≥ 1 item each)."""
    chunks, start = [], 0
    for i, length in enumerate(sorted_lengths):
        items = i - start + 1
        if i > start and (items > limits.max_items or items * length > limits.token_budget):
            chunks.append(range(start, i))
            start = i
    if start < len(sorted_lengths):
        chunks.append(range(start, len(sorted_lengths)))
    return chunks


def pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded `input_ids` and `attention_mask` (int64) for token id lists."""
    longest = max(len(ids) for ids in sequences)
    ids = np.full((len(sequences), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), longest), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """CPU: unchanged. CUDA: through pinned memory with a non-blocking copy (overlaps with running kernels)."""
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)
