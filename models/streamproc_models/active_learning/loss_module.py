"""The Learning-Loss module (Yoo & Kweon 2019) on frozen per-layer features.

The project's `LossPredictionHead` (per layer: masked average pool -> dense -> ReLU; concatenated -> dense)
is reused as is: the cached features are already the per-layer pooled vectors, so each is fed as a single
"token" with mask 1, where pooling is the identity. It learns with the pairwise margin ranking loss of
`models.training.learning_loss` against the classifier's per-example cross-entropy. With a frozen encoder
the module's gradient never reaches the classifier, so training them jointly equals training the
classifier on its cross-entropy and the module on the ranking loss of those (detached) losses; the
classifier here is the same for every strategy, which keeps the comparison fair.
"""

from __future__ import annotations

import numpy as np
import torch

from streamproc.inference.loss_prediction import LossPredictionHead
from streamproc_models.training.learning_loss import margin_ranking_loss


class LossModule:
    """Trains a fresh `LossPredictionHead` per round and scores the pool by predicted loss."""

    def __init__(
        self,
        steps: int = 100,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 5e-4,
        margin: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.steps, self.batch_size, self.lr = steps, batch_size, lr
        self.weight_decay, self.margin, self.seed = weight_decay, margin, seed
        self.head: LossPredictionHead | None = None

    def fit(self, layers: list[np.ndarray], losses: np.ndarray) -> LossModule:
        """Learn to rank `losses` from the per-layer features of the same examples."""
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        head = LossPredictionHead(layers[0].shape[1], len(layers))
        optimizer = torch.optim.Adam(head.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        inputs = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in layers]
        target = torch.from_numpy(np.asarray(losses, dtype=np.float32))
        n = len(target)
        head.train()
        for _ in range(self.steps):  # a fixed number of steps: the cost does not grow with the labeled set
            index = torch.randperm(n, generator=generator)[: self.batch_size]
            predicted = _forward(head, [x[index] for x in inputs])
            loss = margin_ranking_loss(predicted, target[index], self.margin)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        self.head = head.eval()
        return self

    @torch.inference_mode()
    def predict(self, layers: list[np.ndarray]) -> np.ndarray:
        """Predicted loss per example (higher = more worth labeling)."""
        if self.head is None:
            raise RuntimeError("fit the loss module first")
        inputs = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in layers]
        return _forward(self.head, inputs).numpy()


def _forward(head: LossPredictionHead, layers: list[torch.Tensor]) -> torch.Tensor:
    """Pooled vectors as one-token sequences: the head's masked average pool returns them unchanged."""
    mask = torch.ones((layers[0].shape[0], 1))
    return head([x.unsqueeze(1) for x in layers], mask)
