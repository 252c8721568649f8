"""Which labeled data the default models learn from, and how the label sets of different sources combine.

Topic: eight labels, those of the Korean article set (politics, economy, society, culture, world, it,
sports, entertainment), learned from those title + body articles, the Korean headline set (six of the
labels) and AG News, whose labels map business → economy, scitech → it, world → world, sports → sports.
A head covers the union of its sources' labels; a source without some classes trains the ones it has.
Sentiment: positive / neutral / negative from the Korean financial-news set (news-like, three classes),
plus a sample of NSMC movie reviews (positive / negative only) for everyday, informal Korean.
Without `../shared/data` the project's own seed set (`models/seed/`) stands in; models from it are weak.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from streamproc.tasks import TASKS
from streamproc_models.data import LabeledSet, concat, part_slices, read_tsv, relabel, sample, split_off

AGNEWS_TO_TOPIC = {"business": "economy", "scitech": "it", "world": "world", "sports": "sports"}
SEED_DIR = Path(__file__).parent / "seed"
SEED_VAL_FRACTION = 0.2
SEED = 13


@dataclass(frozen=True)
class Source:
    """One shared data set folder feeding one task."""

    folder: str
    task: str
    label_map: dict[str, str] = field(default_factory=dict)
    train_limit: int | None = None
    val_limit: int | None = None
    # Training rows of this set the quick-tune recipe's one epoch reads (None: all, 0: none), and
    # how many times each of them comes in that epoch.
    quick_tune_rows: int | None = 0
    quick_tune_repeats: int = 1


# The quick tune reads short texts only: every finance sentence twice, 1,000 reviews and 1,500 headlines (about 4
# minutes on 2 cores); the headlines keep the tuned encoder's topic features (`models.defaults.QUICK_TUNE` has
# the measurements).
DEFAULT_SOURCES = (
    Source("topic_ko_headlines", "topic", quick_tune_rows=1500),  # first: `bench heads` times its val headlines
    Source("topic_ko_articles", "topic"),
    Source("topic_en_agnews", "topic", AGNEWS_TO_TOPIC),
    Source("sentiment_ko_finance", "sentiment", quick_tune_rows=None, quick_tune_repeats=2),
    # 20,000 of the 120,000 reviews: on a 15 % holdout of the training split (finance weighing 3x), NSMC accuracy
    # 0.785 with 3,400 reviews, 0.819 with 10,000, 0.835 with 20,000, finance macro-F1 unchanged (0.74-0.75);
    # the short reviews add about 3 CPU-minutes of encoding to the fast build.
    Source("sentiment_ko_nsmc", "sentiment", train_limit=20_000, val_limit=1000, quick_tune_rows=1000),
)
QUICK_TUNE_VAL_ROWS = 400


@dataclass
class TrainingSets:
    """Per task (train, val), where they came from, and whether they are only the small seed set."""

    sets: dict[str, tuple[LabeledSet, LabeledSet]]
    files: dict[str, dict[str, Path | None]]
    sources: list[Source]
    seed_only: bool
    # task -> [(source folder, rows)]: which data sets the validation split is made of, in order.
    val_parts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    # The same for the training splits.
    train_parts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def shared_data_present(data_dir: Path) -> bool:
    """True when every default source folder has its train and val files."""
    return all(
        (Path(data_dir) / s.folder / f"{split}.tsv").is_file() for s in DEFAULT_SOURCES for split in ("train", "val")
    )


def default_training_sets(data_dir: Path) -> TrainingSets:
    """The default sources from `data_dir`, or the seed set when they are not all there."""
    if not shared_data_present(data_dir):
        return seed_training_sets()
    parts: dict[str, tuple[list[LabeledSet], list[LabeledSet]]] = {}
    val_parts: dict[str, list[tuple[str, int]]] = {}
    train_parts: dict[str, list[tuple[str, int]]] = {}
    for source in DEFAULT_SOURCES:
        folder = Path(data_dir) / source.folder
        train = sample(relabel(read_tsv(folder / "train.tsv"), source.label_map), source.train_limit, SEED)
        val = sample(relabel(read_tsv(folder / "val.tsv"), source.label_map), source.val_limit, SEED)
        trains, vals = parts.setdefault(source.task, ([], []))
        trains.append(train)
        vals.append(val)
        val_parts.setdefault(source.task, []).append((source.folder, len(val)))
        train_parts.setdefault(source.task, []).append((source.folder, len(train)))
    sets = {task: (concat(trains), concat(vals)) for task, (trains, vals) in parts.items()}
    return TrainingSets(
        sets, files={}, sources=list(DEFAULT_SOURCES), seed_only=False, val_parts=val_parts, train_parts=train_parts
    )


def seed_training_sets() -> TrainingSets:
    """The project's own seed set, with a stratified fifth held out for validation."""
    sets: dict[str, tuple[LabeledSet, LabeledSet]] = {}
    files: dict[str, dict[str, Path | None]] = {}
    for task in TASKS:
        path = SEED_DIR / f"{task}.tsv"
        sets[task] = split_off(read_tsv(path), SEED_VAL_FRACTION, SEED)
        files[task] = {"train": path, "val": path}
    val_parts = {task: [(f"seed/{task}", len(val))] for task, (_, val) in sets.items()}
    return TrainingSets(sets, files=files, sources=[], seed_only=True, val_parts=val_parts)


def quick_tune_sets(data: TrainingSets) -> dict[str, tuple[LabeledSet, LabeledSet]]:
    """Per task, the rows the quick-tune recipe's stage 1 reads: each source's seeded `quick_tune_rows`, repeated
    `quick_tune_repeats` times (train), and `QUICK_TUNE_VAL_ROWS` (val). Tasks none of whose sources is tuned on
    (all of the seed set's) are left out."""
    tuned = {source.folder: source for source in data.sources if source.quick_tune_rows != 0}
    sets: dict[str, tuple[LabeledSet, LabeledSet]] = {}
    for task, (train, val) in data.sets.items():
        vals = dict(part_slices(data.val_parts.get(task, [])))
        picked = [
            (
                concat(
                    [sample(_rows(train, rows), tuned[name].quick_tune_rows, SEED)] * tuned[name].quick_tune_repeats
                ),
                sample(_rows(val, vals[name]), QUICK_TUNE_VAL_ROWS, SEED),
            )
            for name, rows in part_slices(data.train_parts.get(task, []))
            if name in tuned
        ]
        if picked:
            sets[task] = (concat([t for t, _ in picked]), concat([v for _, v in picked]))
    return sets


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
