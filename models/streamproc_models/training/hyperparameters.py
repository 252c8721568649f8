"""Fine-tuning hyper-parameters, with the defaults that worked for multilingual-e5-small on CPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from streamproc.errors import UserError
from streamproc.inference.truncation import Truncation, check_truncation


@dataclass(frozen=True)
class Hyperparameters:
    """Everything that changes a training run's result (recorded in the model card)."""

    lr: float = 1e-4
    epochs: int = 3
    batch_size: int = 32
    max_length: int = 128
    # What of a longer text the encoder reads (`streamproc.inference.truncation`); recorded in the manifest.
    truncation: Truncation = "head_tail"
    seed: int = 13
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    freeze_embeddings: bool = True
    patience: int = 2
    max_train_examples: int | None = None
    threads: int | None = None
    eval_batch_size: int = 64
    loss_head: bool = False
    loss_head_layers: tuple[int, ...] = ()
    loss_weight: float = 1.0
    loss_margin: float = 1.0

    def __post_init__(self) -> None:
        check_truncation(self.truncation)
        checks = {
            "lr must be > 0": self.lr > 0,
            "epochs must be >= 1": self.epochs >= 1,
            "batch size must be >= 2": self.batch_size >= 2,
            "max length must be >= 8": self.max_length >= 8,
            "warmup ratio must be in [0, 1)": 0 <= self.warmup_ratio < 1,
            "patience must be >= 1": self.patience >= 1,
            "max train examples must be >= 1": self.max_train_examples is None or self.max_train_examples >= 1,
            "threads must be >= 1": self.threads is None or self.threads >= 1,
            "loss weight must be >= 0": self.loss_weight >= 0,
        }
        for message, ok in checks.items():
            if not ok:
                raise UserError(f"bad hyper-parameter: {message}")

    def as_dict(self) -> dict:
        """Plain JSON-able values."""
        values = asdict(self)
        values["loss_head_layers"] = list(self.loss_head_layers)
        return values


def resolve_loss_layers(hp: Hyperparameters, n_layers: int) -> list[int]:
    """The hidden-state indexes the loss head reads (0 = embeddings): the given ones, else n/3, 2n/3, n."""
    if not hp.loss_head:
        return []
    layers = list(hp.loss_head_layers) or sorted({max(1, round(n_layers * k / 3)) for k in (1, 2, 3)})
    bad = [layer for layer in layers if not 0 <= layer <= n_layers]
    if bad:
        raise UserError(f"loss-head layers {bad} out of range: the encoder has hidden states 0..{n_layers}")
    return layers
