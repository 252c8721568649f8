"""The data sets the study replays: pool (the stream, labels held back) and validation split.

They are the task file's data sets marked `study = true` (`streamproc.tasks`): the pool is the set's
`study_pool` file (train.tsv unless named), the validation split its val.tsv, each optionally a seeded sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamproc.errors import UserError
from streamproc.tasks import TaskSet
from streamproc_models.data import LabeledSet, read_tsv, relabel, sample

SAMPLE_SEED = 13


@dataclass(frozen=True)
class StudySet:
    """A data set of the task file and how much of it the study uses (None = all)."""

    task: str
    pool: Path
    val: Path
    label_map: dict[str, str]
    pool_limit: int | None = None
    val_limit: int | None = None


def study_sets(tasks: TaskSet, data_dir: Path) -> dict[str, StudySet]:
    """Every study set of the task file, by data set name."""
    found = {}
    for task in tasks:
        for source in task.sources:
            if source.study:
                folder = tasks.source_dir(source, data_dir)
                found[source.name] = StudySet(
                    task.name,
                    folder / source.study_pool,
                    folder / "val.tsv",
                    source.label_map,
                    source.study_pool_limit,
                    source.study_val_limit,
                )
    return found


def load_study_set(sets: dict[str, StudySet], name: str) -> tuple[LabeledSet, LabeledSet]:
    """(pool, val) of a study set (seeded subsamples when it has limits)."""
    if name not in sets:
        raise UserError(f"unknown data set {name!r}; choose from {', '.join(sets)}")
    spec = sets[name]
    for path in (spec.pool, spec.val):
        if not path.is_file():
            raise UserError(f"{path} is missing (set STREAMPROC_DATA_DIR to the shared data)")
    pool = sample(relabel(read_tsv(spec.pool), spec.label_map), spec.pool_limit, SAMPLE_SEED)
    val = sample(relabel(read_tsv(spec.val), spec.label_map), spec.val_limit, SAMPLE_SEED)
    return pool, val
