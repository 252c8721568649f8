"""Which model version serves each task, read from the model folders without loading a model (no torch).

`streamproc relabel` compares these versions with each stored document's `model_versions`; the workers read
the same versions from the predictor they loaded (`streamproc.inference.loader`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from streamproc.config import Settings
from streamproc.errors import UserError

MANIFEST = "streamproc_model.json"  # the multi-head format's manifest (`streamproc.inference.multihead`)


def folder_version(directory: Path) -> str:
    """A Hugging Face folder's version: `version` from its model card, else its name and a short hash of its config."""
    card = directory / "model_card.json"
    if card.is_file():
        version = json.loads(card.read_text()).get("version")
        if version:
            return str(version)
    digest = hashlib.sha256((directory / "config.json").read_bytes()).hexdigest()[:8]
    return f"{directory.name}@{digest}"


def folder_versions(directory: Path, task: str | None = None) -> dict[str, str]:
    """Task -> version of the heads in `directory` (a multi-head folder, or a Hugging Face folder for `task`)."""
    directory = Path(directory).expanduser()
    manifest_path = directory / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        version = str(manifest.get("version", directory.name))
        return {name: version for name in manifest.get("tasks", {})}
    if (directory / "config.json").is_file():
        return {task or directory.name: folder_version(directory)}
    raise UserError(
        f"no model in {directory}: build the defaults with `streamproc models build-defaults`, "
        "or point STREAMPROC_MULTITASK_MODEL_DIR (or STREAMPROC_TASK_MODEL_DIRS) at a model folder"
    )


def serving_versions(settings: Settings) -> dict[str, str]:
    """Task -> version the workers serve for every task of the task file that has a head (as they load it)."""
    if settings.task_model_dirs:
        found: dict[str, str] = {}
        for task, folder in settings.task_model_dirs.items():
            found.update(folder_versions(folder, task))
    else:
        found = folder_versions(settings.multitask_model_dir or settings.default_model_dir)
    served = {task: found[task] for task in settings.tasks.names if task in found}
    if not served:
        raise UserError(f"the served model has no head for any task of {settings.tasks.file}")
    return served
