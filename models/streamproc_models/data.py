"""Labeled TSV data in the format of the shared data sets: `text` or `title`+`body`, and `label`.

Every text goes through `streamproc.ingest.model_text.model_text`, the worker's own text builder, so the
models learn from exactly what they will read in the pipeline.
"""

from __future__ import annotations

import csv
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from streamproc.errors import UserError
from streamproc.ingest.model_text import model_text, one_column_text

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class LabeledSet:
    """Texts with their string labels, in file order."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def label_names(self) -> list[str]:
        """The distinct labels, sorted."""
        return sorted(set(self.labels))

    def head(self, n: int | None) -> LabeledSet:
        """The first `n` examples (all when `n` is None)."""
        return self if n is None else LabeledSet(self.texts[:n], self.labels[:n])


def read_tsv(path: Path) -> LabeledSet:
    """Read one TSV file with a header row: `text` (or `title` and `body`) and `label`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"data file not found: {path} (pass a .tsv file or a folder with train.tsv/val.tsv)")
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        columns = set(reader.fieldnames or [])
        if "label" not in columns or not ({"text"} <= columns or {"title", "body"} <= columns):
            raise UserError(f"{path}: expected columns 'text' (or 'title' and 'body') and 'label'")
        for row in reader:
            text = (
                one_column_text(row["text"] or "")
                if "text" in columns
                else model_text(row["title"] or "", row["body"] or "")
            )
            if text and text.strip() and row["label"]:
                texts.append(text.strip())
                labels.append(row["label"].strip())
    if not texts:
        raise UserError(f"{path}: no labeled rows")
    return LabeledSet(texts, labels)


def concat(parts: list[LabeledSet]) -> LabeledSet:
    """The parts one after the other."""
    return LabeledSet([t for p in parts for t in p.texts], [label for p in parts for label in p.labels])


def part_slices(parts: list[tuple[str, int]]) -> list[tuple[str, slice]]:
    """(name, slice of its rows) of each of `parts` = [(name, rows)], which follow one another."""
    slices, start = [], 0
    for name, rows in parts:
        slices.append((name, slice(start, start + rows)))
        start += rows
    return slices


def relabel(data: LabeledSet, mapping: dict[str, str]) -> LabeledSet:
    """Labels renamed by `mapping` (labels it does not name stay as they are)."""
    return LabeledSet(data.texts, [mapping.get(label, label) for label in data.labels])


def sample(data: LabeledSet, limit: int | None, seed: int) -> LabeledSet:
    """A seeded random `limit` examples in file order (all when `limit` is None or not smaller)."""
    if limit is None or limit >= len(data):
        return data
    return _pick(data, sorted(random.Random(seed).sample(range(len(data)), limit)))


def split_off(data: LabeledSet, fraction: float, seed: int) -> tuple[LabeledSet, LabeledSet]:
    """A seeded split, stratified by label, into (rest, the held-out `fraction`)."""
    # on call: `streamproc --help` imports this module and must not need the training extra (scikit-learn)
    from sklearn.model_selection import train_test_split

    rest, held = train_test_split(list(range(len(data))), test_size=fraction, stratify=data.labels, random_state=seed)
    return _pick(data, sorted(rest)), _pick(data, sorted(held))


def _pick(data: LabeledSet, index: list[int]) -> LabeledSet:
    return LabeledSet([data.texts[i] for i in index], [data.labels[i] for i in index])
