"""What the runtime finds through entry points: extra commands, and the training recipes the main job uses.

The runtime (`streamproc/`) never imports the training code; the training package declares itself in
`pyproject.toml`, and any other package can do the same:

- group `streamproc.commands`: callables `register(app, groups)` that add commands to the CLI (`app`, and
  `groups["models"]` / `groups["bench"]`, the `streamproc models` and `streamproc bench` sub-commands);
- group `streamproc.training`, entry `recipes`: an object with the `Training` methods below, which
  `streamproc demo` calls to build the default model and to run the review loop's retrain.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import typer

from streamproc.errors import UserError

if TYPE_CHECKING:  # annotations only: the review desk needs redis, which `--help` does not import
    from streamproc.config import Settings
    from streamproc.review.desk import ReviewDesk

COMMANDS_GROUP = "streamproc.commands"
TRAINING_GROUP = "streamproc.training"
Say = Callable[[str], object]


class RetrainResult(Protocol):
    """What a retrain reports: both models' scores, the gate's checks and decision."""

    serving: dict[str, dict[str, Any]]
    candidate: dict[str, dict[str, Any]]
    checks: list[str]
    promoted: bool
    held_out_ids: set[str]

    def as_card(self) -> dict[str, Any]:
        """The gate section of the candidate's model card (`decision` among it)."""
        ...


class Training(Protocol):
    """The training recipes the runtime's main job uses."""

    def ensure_default_models(self, settings: Settings, say: Say) -> Path:
        """The default model folder, built first when missing."""
        ...

    def retrain(self, settings: Settings, desk: ReviewDesk, say: Say) -> RetrainResult:
        """A candidate from the reviews and the base data, gated, promoted when it passes."""
        ...


def register_commands(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Let every installed `streamproc.commands` entry point add its commands."""
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(app, groups)


def training() -> Training:
    """The installed training recipes; one clear line when none is installed."""
    found = [entry for entry in entry_points(group=TRAINING_GROUP) if entry.name == "recipes"]
    if not found:
        raise UserError(
            "no training recipes are installed (entry point group streamproc.training): "
            "install streamproc with its training extra, pip install 'streamproc[train]'"
        )
    recipes: Training = found[0].load()
    return recipes
