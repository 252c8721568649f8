"""The training recipes the runtime's main job uses, published as the `streamproc.training` entry point
(`streamproc.plugins.Training`): build the default model, and retrain from the reviews."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamproc.config import Settings
    from streamproc.plugins import Say
    from streamproc.review.desk import ReviewDesk
    from streamproc_models.retrain import GateResult


class Recipes:
    """`streamproc.plugins.Training`, backed by this package (its libraries are imported on call)."""

    def ensure_default_models(self, settings: Settings, say: Say) -> Path:
        """The default model folder, built first when missing (`streamproc models build-defaults`)."""
        from streamproc_models.defaults import ensure_default_models

        return ensure_default_models(settings, say=say)

    def retrain(self, settings: Settings, desk: ReviewDesk, say: Say) -> GateResult:
        """`streamproc retrain` with its defaults: the candidate is gated and promoted when it passes."""
        from streamproc_models.retrain import retrain

        return retrain(settings, desk, say=say)


RECIPES = Recipes()
