"""Model versions in the store, and which one serves: the model link, promotion history, rollback.

The serving model is a symbolic link: `STREAMPROC_MULTITASK_MODEL_DIR` when it is set, else
`<model_store>/default`. Promoting re-points it in one rename (`point_link` below), so a worker never
sees half a model; running workers notice the new target between batches (`streamproc.worker.model_watch`).
Every promotion is appended to `<link>.history.jsonl` next to the link; `rollback` re-points to the version
that served before the current one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.multihead import MANIFEST, is_multihead_dir


@dataclass(frozen=True)
class ModelVersion:
    """A model folder in the store."""

    folder: Path
    version: str
    created: datetime
    gate: str | None

    @classmethod
    def read(cls, folder: Path) -> ModelVersion:
        """Version, time and gate decision from the folder's manifest and card."""
        manifest = json.loads((folder / MANIFEST).read_text())
        card_path = folder / "model_card.json"
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        gate = card.get("gate", {}).get("decision")
        created = datetime.fromtimestamp((folder / MANIFEST).stat().st_mtime, UTC)
        return cls(folder, str(manifest.get("version") or folder.name), created, gate)


def model_link(settings: Settings) -> Path:
    """The link that names the serving model."""
    if settings.task_model_dirs:
        raise UserError(
            "separate folders per task are configured (STREAMPROC_TASK_MODEL_DIRS): versions are "
            "managed for the one-encoder model only; unset them to use the model link"
        )
    return Path(settings.multitask_model_dir or settings.default_model_dir).expanduser()


def serving_folder(settings: Settings) -> Path:
    """The folder the model link points at now."""
    link = model_link(settings)
    if not is_multihead_dir(link):
        raise UserError(f"no model at {link}: build one with `streamproc models build-defaults`")
    return link.resolve()


def list_versions(settings: Settings) -> list[ModelVersion]:
    """Every streamproc model folder two levels under the store (`<store>/<name>/<version>`), oldest first."""
    store = Path(settings.model_store).expanduser()
    folders = {p.parent.resolve() for p in store.glob(f"*/*/{MANIFEST}")}
    current = model_link(settings)
    if is_multihead_dir(current):
        folders.add(current.resolve())
    return sorted((ModelVersion.read(f) for f in folders), key=lambda v: (v.created, v.version))


def find_version(settings: Settings, name: str) -> Path:
    """A version by folder path or by version name."""
    given = Path(name).expanduser()
    if is_multihead_dir(given):
        return given.resolve()
    for version in list_versions(settings):
        if name in (version.version, version.folder.name):
            return version.folder
    raise UserError(f"no model version {name!r} in {settings.model_store} (see `streamproc models list`)")


def promote(settings: Settings, folder: Path, reason: str = "promote") -> Path:
    """Point the model link at `folder` and record it; returns the folder that served before (or the same)."""
    link = model_link(settings)
    if link.exists() and not link.is_symlink():
        raise UserError(
            f"{link} is a folder, not a link: point STREAMPROC_MULTITASK_MODEL_DIR at a link (e.g. "
            f"{settings.model_store}/default) to switch versions"
        )
    if not is_multihead_dir(folder):
        raise UserError(f"{folder} is not a streamproc model folder")
    before = link.resolve() if link.exists() else None
    point_link(link, folder.resolve())
    entry = {"at": datetime.now(UTC).isoformat(), "folder": str(folder.resolve()), "from": str(before), "why": reason}
    with history_path(link).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
    return before or folder.resolve()


def rollback(settings: Settings) -> Path:
    """Re-point the link at the folder that served before the current one; returns it."""
    link = model_link(settings)
    current = serving_folder(settings)
    path = history_path(link)
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    for entry in reversed(entries):
        if entry["folder"] == str(current) and entry["from"] not in ("None", str(current)):
            previous = Path(entry["from"])
            if is_multihead_dir(previous):
                promote(settings, previous, reason=f"rollback from {current.name}")
                return previous
    raise UserError(f"nothing to roll back to: {link} has no earlier version in {path}")


def history_path(link: Path) -> Path:
    """Where promotions of `link` are recorded."""
    return link.with_name(f"{link.name}.history.jsonl")


def point_link(link: Path, folder: Path) -> None:
    """Make `link` a relative symbolic link to `folder`, replacing the old link in one rename."""
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(folder, link.parent))
    os.replace(temporary, link)
