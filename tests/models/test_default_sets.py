"""The fine-tune's fixed number of rows per task is shared equally by its sources."""

from __future__ import annotations

import pytest

from streamproc_models.data import LabeledSet
from streamproc_models.default_sets import balanced_sample


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
