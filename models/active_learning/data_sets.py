"""The data sets the study replays: pool (the stream, labels held back) and validation split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamproc.errors import UserError
from streamproc_models.data import LabeledSet, read_tsv, sample

SAMPLE_SEED = 13


@dataclass(frozen=True)
class StudySet:
    """A shared data folder and how much of it the study uses (None = all)."""

    folder: str
    pool_limit: int | None = None
    val_limit: int | None = None


STUDY_SETS = {
    "topic_ko_headlines": StudySet("topic_ko_headlines"),
    "sentiment_ko_finance": StudySet("sentiment_ko_finance"),
    "sentiment_ko_nsmc": StudySet("sentiment_ko_nsmc", pool_limit=20_000, val_limit=2_000),
}


def load_study_set(data_dir: Path, name: str) -> tuple[LabeledSet, LabeledSet]:
    """(pool, val) of a study set: train.tsv is the pool, val.tsv scores every round (seeded subsamples)."""
    if name not in STUDY_SETS:
        raise UserError(f"unknown data set {name!r}; choose from {', '.join(STUDY_SETS)}")
    spec = STUDY_SETS[name]
    folder = Path(data_dir) / spec.folder
    if not (folder / "train.tsv").is_file() or not (folder / "val.tsv").is_file():
        raise UserError(f"{folder}: expected train.tsv and val.tsv (set STREAMPROC_DATA_DIR to the shared data)")
    pool = sample(read_tsv(folder / "train.tsv"), spec.pool_limit, SAMPLE_SEED)
    val = sample(read_tsv(folder / "val.tsv"), spec.val_limit, SAMPLE_SEED)
    return pool, val
