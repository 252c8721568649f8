"""Small separable labeled sets in the tiny tokenizer's vocabulary, written as TSV like the shared data."""

from __future__ import annotations

import random
from pathlib import Path

TOPIC_WORDS = {
    "politics": ["정부", "국회", "선거", "대통령", "government", "election"],
    "economy": ["경제", "주가", "수출", "market", "stocks", "exports"],
    "culture": ["문화", "공연", "concert", "festival"],
}
SENTIMENT_WORDS = {
    "positive": ["good", "record", "growth", "award", "rescue"],
    "negative": ["bad", "loss", "accident", "layoffs"],
}
NOISE = ["ai", "phone", "세계", "사회"]


def toy_rows(words: dict[str, list[str]], per_label: int, seed: int) -> list[tuple[str, str]]:
    """`per_label` texts per label: 3-5 of the label's words and one noise word, shuffled."""
    rng = random.Random(seed)
    rows = []
    for label, vocabulary in words.items():
        for _ in range(per_label):
            tokens = [*rng.choices(vocabulary, k=rng.randint(3, 5)), rng.choice(NOISE)]
            rng.shuffle(tokens)
            rows.append((" ".join(tokens), label))
    rng.shuffle(rows)
    return rows


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    """A `text<TAB>label` file with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text\tlabel\n" + "".join(f"{text}\t{label}\n" for text, label in rows), encoding="utf-8")
    return path


def write_toy_set(folder: Path, words: dict[str, list[str]], per_label: int = 40) -> Path:
    """`folder/train.tsv` and `folder/val.tsv` (a quarter of the size) like a shared data folder."""
    write_tsv(folder / "train.tsv", toy_rows(words, per_label, seed=1))
    write_tsv(folder / "val.tsv", toy_rows(words, max(4, per_label // 4), seed=2))
    return folder
