"""Learning Loss for Active Learning (Yoo & Kweon, CVPR 2019): a head that predicts the task loss.

Per chosen encoder layer: adaptive average pooling over the tokens (masked) -> flatten -> dense -> ReLU;
the per-layer features are concatenated -> dense -> one predicted loss per example. Trained jointly with
the classifier by `models` (pairwise margin ranking loss); at run time its output is an uncertainty score.
"""

from __future__ import annotations

import torch
from torch import nn

LOSS_HEAD_WIDTH = 128


class LossPredictionHead(nn.Module):
    """Predicts each example's loss from intermediate hidden states."""

    def __init__(self, hidden_size: int, n_layers: int, width: int = LOSS_HEAD_WIDTH) -> None:
        super().__init__()
        self.per_layer = nn.ModuleList(nn.Sequential(nn.Linear(hidden_size, width), nn.ReLU()) for _ in range(n_layers))
        self.out = nn.Linear(width * n_layers, 1)

    def forward(self, layers: list[torch.Tensor], attention_mask: torch.Tensor) -> torch.Tensor:
        """`layers`: hidden states (batch, tokens, hidden) of the chosen layers -> (batch,) predicted loss."""
        mask = attention_mask.unsqueeze(-1).to(layers[0].dtype)
        features = []
        for hidden, dense in zip(layers, self.per_layer, strict=True):
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # adaptive avg pool over tokens
            features.append(dense(pooled))
        return self.out(torch.cat(features, dim=-1)).squeeze(-1)
