"""The pipeline's tasks, read from a task file: the one place that names them.

`default.toml` beside this module is the default task file; `STREAMPROC_TASKS_FILE` points at
a user's own. Everything task-specific is derived from the `TaskSet` it gives: the model's heads, the enriched
document and its mapping, uncertainty and review, the review page and CLI, export, retrain, al-sim, metrics and
the Kibana objects. A task file that cannot be used stops the command with one line naming the file and the
problem.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streamproc.errors import UserError

DEFAULT_TASKS_FILE = Path(__file__).with_name("default.toml")
TASK_NAME = r"^[a-z][a-z0-9_]{0,39}$"
# A label is a key of `<task>.probabilities` in Elasticsearch: no dots, no spaces.
LABEL_NAME = r"^\w[\w-]{0,63}$"
# Names a task may not take: the enriched document's own fields, and the fields beside the per-task ones in
# `uncertainty.*` and `review.*` (a task named `max` would collide with `uncertainty.max`).
RESERVED_NAMES = frozenset(
    {
        "id", "url", "title", "body", "source", "published_at", "lang", "extra", "uncertainty", "needs_review",
        "model_versions", "processed_at", "kafka", "label_source", "review", "story_id", "audit", "text",
        "strategy", "max", "decision", "by", "at", "agrees", "labels", "votes", "via_duplicate_of",
    }
)  # fmt: skip


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Spec):
    """One label: the stored value, the name reviewers see, and its line of the review guide."""

    name: str = Field(pattern=LABEL_NAME)
    display: str = Field(min_length=1, max_length=40)
    description: str = Field("", max_length=300)


class Source(_Spec):
    """A labeled data set (a folder with train.tsv and val.tsv) that trains a task."""

    folder: str | None = Field(None, description="a folder under STREAMPROC_DATA_DIR (the shared data sets)")
    path: str | None = Field(None, description="a folder relative to the task file (data the project ships)")
    label_map: dict[str, str] = Field(default_factory=dict)
    train_limit: int | None = Field(None, ge=1)
    val_limit: int | None = Field(None, ge=1)
    weight: float = Field(1.0, gt=0, le=1000)
    quick_tune_rows: int | Literal["all"] = Field(0, description="rows the quick-tune recipe reads (0: none)")
    quick_tune_repeats: int = Field(1, ge=1, le=10)
    study: bool = False
    study_pool: str = "train.tsv"
    study_pool_limit: int | None = Field(None, ge=1)
    study_val_limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one_location(self) -> Source:
        if (self.folder is None) == (self.path is None):
            raise ValueError("a source names exactly one of `folder` (shared data) or `path` (beside the task file)")
        return self

    @property
    def name(self) -> str:
        """The data set's name in reports and model cards."""
        return self.folder or Path(self.path or "").name


class Task(_Spec):
    """One classification task."""

    name: str = Field(pattern=TASK_NAME)
    display: str = Field(min_length=1, max_length=40)
    description: str = Field("", max_length=300)
    input: Literal["model_text"] = "model_text"
    reviewed: bool = True
    labels: tuple[Label, ...] = Field(min_length=2)
    seed: str | None = None
    sources: tuple[Source, ...] = ()

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is a field of the enriched document; choose another task name")
        return value

    @model_validator(mode="after")
    def _distinct_labels(self) -> Task:
        names = [label.name for label in self.labels]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"label {twice[0]!r} is listed twice")
        return self

    @property
    def label_names(self) -> list[str]:
        """The label names in display order."""
        return [label.name for label in self.labels]

    def label(self, name: str) -> Label | None:
        """The label called `name`, if the task has it."""
        return next((label for label in self.labels if label.name == name), None)


@dataclass(frozen=True)
class TaskSet:
    """The tasks of one task file, in file order."""

    tasks: tuple[Task, ...]
    file: Path

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Every task's name."""
        return tuple(task.name for task in self.tasks)

    @property
    def reviewed(self) -> tuple[str, ...]:
        """The names of the tasks reviewers label."""
        return tuple(task.name for task in self.tasks if task.reviewed)

    def beside(self, relative: str) -> Path:
        """A path the task file names, relative to the file's folder."""
        return (self.file.parent / relative).resolve()

    def source_dir(self, source: Source, data_dir: Path) -> Path:
        """The folder holding a source's train.tsv and val.tsv."""
        return Path(data_dir) / source.folder if source.folder else self.beside(source.path or "")


def load_tasks(path: Path | None = None) -> TaskSet:
    """The task set of `path` (default: `default.toml`); a file that cannot be used raises `UserError`."""
    file = Path(path or DEFAULT_TASKS_FILE).expanduser().resolve()
    try:
        stamp = file.stat().st_mtime_ns
    except OSError:
        raise UserError(f"task file {file} not found: point STREAMPROC_TASKS_FILE at a .toml task file") from None
    return _load(file, stamp)


@cache
def _load(file: Path, stamp: int) -> TaskSet:
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"task file {file}: cannot read it ({exc})") from None
    entries = raw.pop("task", None)
    if raw:
        raise UserError(f"task file {file}: unknown top-level key {sorted(raw)[0]!r} (expected [[task]] tables)")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"task file {file}: no [[task]] tables")
    tasks = []
    for number, entry in enumerate(entries, 1):
        try:
            tasks.append(Task.model_validate(entry))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            name = entry.get("name") if isinstance(entry, dict) else None
            which = f"task {name!r}" if isinstance(name, str) else f"task #{number}"
            message = error["msg"].removeprefix("Value error, ")
            raise UserError(f"task file {file}: {which}: {where or 'table'}: {message}") from None
    names = [task.name for task in tasks]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(f"task file {file}: task {twice[0]!r} is defined twice")
    return TaskSet(tuple(tasks), file)
