"""The loss-prediction objective of Learning Loss for Active Learning (Yoo & Kweon, CVPR 2019, eq. 2-3)."""

from __future__ import annotations

import torch


def margin_ranking_loss(predicted: torch.Tensor, target: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Pairwise ranking loss: the batch is split into halves paired as (i, B-1-i).

    For each pair, max(0, -sign(l_i - l_j) * (l̂_i - l̂_j) + ξ), averaged over the B/2 pairs; the target
    losses are detached, so only the prediction learns from it. With an odd batch the middle example is
    left out.
    """
    half = predicted.shape[0] // 2
    if half == 0:
        return predicted.sum() * 0.0
    predicted_diff = (predicted - predicted.flip(0))[:half]
    target_diff = (target - target.flip(0))[:half].detach()
    sign = torch.where(target_diff > 0, 1.0, -1.0).to(predicted.dtype)
    return torch.clamp(margin - sign * predicted_diff, min=0).mean()
