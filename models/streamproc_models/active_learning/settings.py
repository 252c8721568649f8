"""The active-learning study's settings and names, light to import (the CLI reads them to build its options)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_C = 0.01  # picked on a held-out 15 % of the finance pool (0.001-0.01 tie; 0.1 and up worse)
DEFAULT_CHECKPOINTS = (
    0.02,
    0.03,
    0.04,
    0.05,
    0.06,
    0.07,
    0.08,
    0.09,
    0.10,
    0.125,
    0.15,
    0.175,
    0.20,
    0.225,
    0.25,
    0.30,
)
FULL_CHECKPOINTS = (*DEFAULT_CHECKPOINTS, 0.35, 0.4, 0.5)
LOSS_TARGETS = ("in_sample", "out_of_fold")


@dataclass(frozen=True)
class SimSettings:
    """How a simulated stream runs (recorded in the result)."""

    seed_fraction: float = 0.01
    seed_min: int = 50
    checkpoints: tuple[float, ...] = DEFAULT_CHECKPOINTS
    c: float = DEFAULT_C
    loss_target: str = "in_sample"
    loss_steps: int = 100
