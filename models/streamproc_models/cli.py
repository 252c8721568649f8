"""The training package's commands, added to `streamproc` through the `streamproc.commands` entry point.

`streamproc train | evaluate | retrain | al-sim`, `streamproc models build-encoder | build-defaults | list |
promote | rollback`, `streamproc bench heads | cpu-path`. The command modules import their heavy libraries
(scikit-learn, SciPy, matplotlib, torch) only when a command runs, so `streamproc --help` stays quick and a
runtime-only install prints one line naming the missing extra.
"""

from __future__ import annotations

import typer

from streamproc_models import cli_bench, cli_build, cli_registry, cli_train
from streamproc_models.active_learning import cli as active_learning_cli


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the training commands to `app` and to its `models` and `bench` groups."""
    cli_build.register(groups["models"])
    cli_registry.register(app, groups["models"])
    cli_train.register(app, groups["bench"])
    cli_bench.register(groups["bench"])
    active_learning_cli.register(app)
