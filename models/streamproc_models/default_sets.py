"""Which labeled data the default models learn from, read from the task file (`streamproc.tasks`).

Each task names its data sets (`sources`): shared ones under `STREAMPROC_DATA_DIR` (folder = set name) and ones
the project ships beside the task file (`path`), each with train.tsv and val.tsv; `label_map` renames a set's
labels into the task's, `train_limit` / `val_limit` take seeded samples. A head covers the union of its sources'
labels: a source without some classes trains the ones it has. A task whose shared sets are not all there learns
from its `seed` file instead (the project's own small set; models from it are weak), and a task with neither
gets no head (reviews teach it later: `streamproc retrain`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from streamproc.tasks import Source, Task, TaskSet
from streamproc_models.data import LabeledSet, concat, part_slices, read_tsv, relabel, sample, split_off

SEED_VAL_FRACTION = 0.2
SEED = 13
QUICK_TUNE_VAL_ROWS = 400


@dataclass
class TrainingSets:
    """Per task (train, val), where they came from, and which tasks fell back to their seed set."""

    sets: dict[str, tuple[LabeledSet, LabeledSet]]
    files: dict[str, dict[str, Path | None]]
    sources: list[Source]
    seeded: list[str] = field(default_factory=list)
    # task -> [(source name, rows)]: which data sets the validation split is made of, in order.
    val_parts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    # The same for the training splits.
    train_parts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def seed_only(self) -> bool:
        """True when some task learns from its small seed set only."""
        return bool(self.seeded)


def sources_present(task: Task, tasks: TaskSet, data_dir: Path) -> bool:
    """True when the task has data sets and every one has its train and val files."""
    return bool(task.sources) and all(
        (tasks.source_dir(source, data_dir) / f"{split}.tsv").is_file()
        for source in task.sources
        for split in ("train", "val")
    )


def shared_data_present(data_dir: Path, tasks: TaskSet) -> bool:
    """True when every task's data sets are all there."""
    return all(sources_present(task, tasks, data_dir) for task in tasks if task.sources)


def source_weights(tasks: TaskSet) -> tuple[tuple[str, float], ...]:
    """(source name, weight) of the sources whose weight is not 1: their share in the fused heads."""
    return tuple((source.name, source.weight) for task in tasks for source in task.sources if source.weight != 1)


def default_training_sets(data_dir: Path, tasks: TaskSet) -> TrainingSets:
    """Per task its data sets from `data_dir` / beside the task file, else its seed split; tasks with neither
    are left out."""
    data = TrainingSets({}, files={}, sources=[])
    for task in tasks:
        if sources_present(task, tasks, data_dir):
            trains, vals = [], []
            for source in task.sources:
                folder = tasks.source_dir(source, data_dir)
                train = sample(relabel(read_tsv(folder / "train.tsv"), source.label_map), source.train_limit, SEED)
                val = sample(relabel(read_tsv(folder / "val.tsv"), source.label_map), source.val_limit, SEED)
                trains.append(train)
                vals.append(val)
                data.val_parts.setdefault(task.name, []).append((source.name, len(val)))
                data.train_parts.setdefault(task.name, []).append((source.name, len(train)))
                data.sources.append(source)
            data.sets[task.name] = (concat(trains), concat(vals))
        elif task.seed is not None:
            path = tasks.beside(task.seed)
            data.sets[task.name] = split_off(read_tsv(path), SEED_VAL_FRACTION, SEED)
            data.files[task.name] = {"train": path, "val": path}
            data.val_parts[task.name] = [(f"seed/{task.name}", len(data.sets[task.name][1]))]
            data.seeded.append(task.name)
    return data


def quick_tune_sets(data: TrainingSets) -> dict[str, tuple[LabeledSet, LabeledSet]]:
    """Per task, the rows the quick-tune recipe's stage 1 reads: each source's seeded `quick_tune_rows`, repeated
    `quick_tune_repeats` times (train), and `QUICK_TUNE_VAL_ROWS` (val). Tasks none of whose sources is tuned on
    (all of the seed set's) are left out."""
    tuned = {source.name: source for source in data.sources if source.quick_tune_rows != 0}
    sets: dict[str, tuple[LabeledSet, LabeledSet]] = {}
    for task, (train, val) in data.sets.items():
        vals = dict(part_slices(data.val_parts.get(task, [])))
        picked = [
            (
                concat([sample(_rows(train, rows), _quick_rows(tuned[name]), SEED)] * tuned[name].quick_tune_repeats),
                sample(_rows(val, vals[name]), QUICK_TUNE_VAL_ROWS, SEED),
            )
            for name, rows in part_slices(data.train_parts.get(task, []))
            if name in tuned
        ]
        if picked:
            sets[task] = (concat([t for t, _ in picked]), concat([v for _, v in picked]))
    return sets


def _quick_rows(source: Source) -> int | None:
    return None if source.quick_tune_rows == "all" else source.quick_tune_rows


def _rows(data: LabeledSet, rows: slice) -> LabeledSet:
    return LabeledSet(data.texts[rows], data.labels[rows])


def balanced_sample(data: LabeledSet, parts: list[tuple[str, int]], limit: int, seed: int = SEED) -> LabeledSet:
    """At most `limit` rows of `data` (consecutive `parts`), shared as equally as the parts' sizes allow.

    A part smaller than its share gives all its rows and the rest goes to the others, so a small set (914
    articles) is not drowned by large ones (8,224 headlines) when a fine-tune reads a fixed number of rows.
    """
    sizes = [rows for _, rows in parts]
    if sum(sizes) != len(data):
        raise ValueError(f"parts cover {sum(sizes)} rows, the data has {len(data)}")
    quota = [0] * len(sizes)
    left, open_parts = limit, [i for i, rows in enumerate(sizes) if rows]
    while left > 0 and open_parts:
        share = max(1, left // len(open_parts))
        for i in list(open_parts):
            take = min(share, sizes[i] - quota[i], left)
            quota[i] += take
            left -= take
            if quota[i] == sizes[i]:
                open_parts.remove(i)
            if left == 0:
                break
    picked: list[int] = []
    for (_, rows), want in zip(part_slices(parts), quota, strict=True):
        chosen = random.Random(seed).sample(range(rows.stop - rows.start), want)
        picked.extend(rows.start + i for i in sorted(chosen))
    return LabeledSet([data.texts[i] for i in picked], [data.labels[i] for i in picked])
