"""The fine-tune's fixed number of rows per task is shared equally by its sources; the quick tune reads the rows
each source names."""

from __future__ import annotations

import pytest

from streamproc.tasks import Source
from streamproc_models.data import LabeledSet
from streamproc_models.default_sets import QUICK_TUNE_VAL_ROWS, TrainingSets, balanced_sample, quick_tune_sets


def _parts(sizes: dict[str, int]) -> tuple[LabeledSet, list[tuple[str, int]]]:
    texts = [f"{name} {i}" for name, rows in sizes.items() for i in range(rows)]
    return LabeledSet(texts, [text.split()[0] for text in texts]), list(sizes.items())


def test_a_small_source_gives_all_its_rows_and_the_rest_is_shared() -> None:
    data, parts = _parts({"headlines": 800, "articles": 90, "agnews": 500})
    picked = balanced_sample(data, parts, 600)
    counts = {name: picked.labels.count(name) for name, _ in parts}
    assert counts == {"headlines": 255, "articles": 90, "agnews": 255}
    assert len(set(picked.texts)) == 600 and set(picked.texts) <= set(data.texts)
    assert picked.texts == balanced_sample(data, parts, 600).texts  # seeded
    assert balanced_sample(data, parts, 5000).texts == data.texts  # a limit above the total keeps everything


def test_parts_must_cover_the_data() -> None:
    data, _ = _parts({"a": 10})
    with pytest.raises(ValueError, match="cover"):
        balanced_sample(data, [("a", 9)], 5)


def test_the_quick_tune_reads_what_each_source_names_and_leaves_untuned_tasks_out() -> None:
    train, train_parts = _parts({"short": 900, "long": 300, "all": 200})
    val, val_parts = _parts({"short": 500, "long": 50, "all": 20})
    other, other_parts = _parts({"long": 40})
    sources = [
        Source(folder="short", quick_tune_rows=600),
        Source(folder="long"),
        Source(folder="all", quick_tune_rows="all", quick_tune_repeats=2),
    ]
    data = TrainingSets(
        {"topic": (train, val), "sentiment": (other, other)},
        files={},
        sources=sources,
        val_parts={"topic": val_parts, "sentiment": other_parts},
        train_parts={"topic": train_parts, "sentiment": other_parts},
    )
    sets = quick_tune_sets(data)
    assert list(sets) == ["topic"]  # no source of sentiment is tuned on
    tuned_train, tuned_val = sets["topic"]
    assert {name: tuned_train.labels.count(name) for name in ("short", "long", "all")} == {
        "short": 600,
        "long": 0,
        "all": 400,
    }
    assert {name: tuned_val.labels.count(name) for name in ("short", "long", "all")} == {
        "short": QUICK_TUNE_VAL_ROWS,
        "long": 0,
        "all": 20,
    }
    assert set(tuned_train.texts) <= set(train.texts) and len(set(tuned_train.texts)) == 800  # "all" comes twice
    assert quick_tune_sets(data)["topic"][0].texts == tuned_train.texts  # seeded
