"""Benchmark articles: real Korean headlines or title + body, read at run time from the shared data folder.

Nothing is copied into the project: without the data folder a synthetic Korean corpus of the same lengths is
generated from a word list, so the benchmark still runs (its speeds stay meaningful, its labels do not).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any, Literal

Length = Literal["headline", "article"]
_WORDS = [
    "정부",
    "국회",
    "선거",
    "대통령",
    "경제",
    "주가",
    "반도체",
    "수출",
    "사회",
    "사건",
    "경찰",
    "문화",
    "공연",
    "축제",
    "세계",
    "외교",
    "인공지능",
    "스마트폰",
    "발표",
    "증가",
    "감소",
    "전망",
    "회의",
    "협상",
    "투자",
    "기업",
    "시장",
    "지역",
    "주민",
    "학생",
    "병원",
    "기술",
    "개발",
    "서비스",
    "계획",
    "논란",
    "조사",
]


def bench_texts(data_dir: Path, n: int, length: Length, seed: int = 0) -> list[tuple[str, str]]:
    """`n` (title, body) pairs: headlines with an empty body, or title + body (bodies as crawled, ≤2,000 chars)."""
    rng = random.Random(seed)
    pairs = _read_pairs(Path(data_dir), length)
    if not pairs:
        pairs = [_synthetic(rng, length) for _ in range(max(n, 64))]
    order = list(range(len(pairs)))
    rng.shuffle(order)
    return [pairs[order[i % len(order)]] for i in range(n)]


def bench_article(title: str, body: str, article_id: str, sent_at: float | None = None) -> dict[str, Any]:
    """An article record as a crawler would publish it; `bench_sent_at` (kept under `extra`) times latency."""
    article: dict[str, Any] = {
        "id": article_id,
        "url": f"https://bench.example.com/{article_id}",
        "title": title,
        "body": body,
        "source": "bench",
        "published_at": "2026-11-25T09:00:00+09:00",
        "lang": "ko",
    }
    if sent_at is not None:
        article["bench_sent_at"] = sent_at
    return article


def _read_pairs(data_dir: Path, length: Length) -> list[tuple[str, str]]:
    columns: tuple[str, str | None]
    if length == "headline":
        path, columns = data_dir / "topic_ko_headlines" / "val.tsv", ("text", None)
    else:
        path, columns = data_dir / "topic_ko_articles" / "val.tsv", ("title", "body")
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    title, body = columns
    return [(row[title] or "", (row[body] or "") if body else "") for row in rows if row.get(title)]


def _synthetic(rng: random.Random, length: Length) -> tuple[str, str]:
    title = " ".join(rng.choices(_WORDS, k=rng.randint(5, 9)))
    body = "" if length == "headline" else " ".join(rng.choices(_WORDS, k=rng.randint(250, 400))) + "."
    return title, body
