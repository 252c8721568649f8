"""The training extra: what a runtime-only install lacks, and the one line its commands print instead.

`pip install streamproc` is the runtime (worker, publish, review, health, lag, stack, models list/promote/
rollback); training, evaluation, the active-learning study and the benchmarks also need
`pip install 'streamproc[train]'`. The training commands stay registered either way (`streamproc --help` is
the same everywhere) and import the extra's libraries only when they run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from streamproc.errors import UserError

# Import names of the `train` extra's libraries (pyproject.toml; tests/test_dependencies.py keeps them equal).
TRAINING_IMPORTS = ("matplotlib", "scipy", "sklearn")
INSTALL_HINT = "pip install 'streamproc[train]'"


def missing_training_module(exc: BaseException) -> str | None:
    """The training-extra module whose absence raised `exc`, or None when `exc` is something else."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.partition(".")[0]
    return top if top in TRAINING_IMPORTS else None


def training_extra_error(command: str, module: str) -> UserError:
    """The one line for `command` run without the training extra (`module` is what is missing)."""
    return UserError(f"`streamproc {command}` needs the training extra ({module} is not installed): {INSTALL_HINT}")


def require_training_extra(command: str) -> None:
    """Fail with one line before a long run when a library of the training extra is missing."""
    for module in TRAINING_IMPORTS:
        if importlib.util.find_spec(module) is None:
            raise training_extra_error(command, module)


def command_name(command: object, argv: Sequence[str]) -> str:
    """The (sub-)command names at the start of a command line (`bench heads`, `train`), arguments left out.

    `command` is the click command typer built; a group holds its sub-commands in `commands`.
    """
    words: list[str] = []
    for arg in argv:
        commands = getattr(command, "commands", {})
        if arg not in commands:
            break
        words.append(arg)
        command = commands[arg]
    return " ".join(words) or "this command"
