"""`streamproc bench duplicates`: how well the story index finds copies, and how often it merges distinct articles.

The set is built from `topic_ko_articles` (train + val: crawled Korean articles, title + body, 8 sections). Every
article is an original; for each, copies are made the ways outlets republish a wire story:

- `byline`: a dateline-and-reporter lead, "(서울=뉴스1) 홍길동 기자 = ";
- `outlet_tag`: "[한빛일보] " before the title, the reporter and an e-mail address after the body;
- `dateline`: "【세종=뉴시스】" before the body, "입력 2026.11.14 09:12" after it;
- `last_paragraph`: the last sentences (at least 15 % of the body, at least one sentence) dropped;
- `title_punctuation`: the title's "…", quotes and commas changed, "!" added;
- `republished`: byline, outlet tag, the last paragraph dropped and other title punctuation at once.

The originals themselves are the distinct articles: about 150 of each section, so every article has many others
on its topic. Everything is shuffled into one stream and put into stories by the runtime's own code
(`streamproc.review.stories`: the same text builder, shingles, MinHash signature and band layout) with the index's
rule: an article joins the story of the best-agreeing earlier article that shares a band with it, if their
signatures agree on at least the threshold's share of positions (`assign_stories` is that rule in memory;
tests/models/test_duplicates_bench.py checks it decides as the Redis script does).

Per threshold: the **recall** of copies (a copy in its original's story), per kind and overall, and the
**false-merge rate**: the share of originals whose story holds another original (two distinct articles merged).
Pairs of originals that were merged are listed with their exact Jaccard similarity, so a reader can see whether
the data set itself holds the same story twice: `topic_ko_articles` does (press releases printed by two outlets,
"(종합)" and "(종합2보)" updates of one wire story), so the raw rate is an upper bound of the wrong merges. The
runtime's default (`STREAMPROC_STORY_THRESHOLD`) was chosen after reading those pairs (docs/reviewing.md).
"""

from __future__ import annotations

import csv
import itertools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from streamproc.ingest.model_text import model_text
from streamproc.review.stories import NUM_PERM, Fingerprint, LshLayout, banded, lsh_layout, shingles, signature

csv.field_size_limit(sys.maxsize)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TARGET_FALSE_MERGES = 0.005
KINDS = ("byline", "outlet_tag", "dateline", "last_paragraph", "title_punctuation", "republished")
CITIES = ("서울", "세종", "부산", "대전", "광주", "인천")
OUTLETS = ("한빛일보", "누리경제", "푸른방송", "새벽뉴스", "바른신문")
AGENCIES = ("뉴스1", "연합뉴스", "뉴시스")
NAMES = ("홍길동", "김영희", "이철수", "박지민", "최수연")


@dataclass(frozen=True)
class Article:
    """One article of the stream: its id, what it copies (None for an original), the kind of copy, its text."""

    id: str
    original: str | None
    kind: str
    title: str
    body: str

    @property
    def text(self) -> str:
        """What the worker builds and fingerprints."""
        return model_text(self.title, self.body)


def read_articles(folder: Path) -> list[tuple[str, str, str]]:
    """(title, body, section) of every row of `folder`'s train.tsv and val.tsv."""
    rows = []
    for split in ("train", "val"):
        with (folder / f"{split}.tsv").open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                if (row.get("title") or row.get("body")) and row.get("label"):
                    rows.append((row["title"] or "", row["body"] or "", row["label"]))
    return rows


def drop_last_paragraph(body: str) -> str:
    """The body without its last sentences: at least 15 % of it and one sentence, keeping at least one."""
    sentences = [s for s in body.replace("다.", "다.\n").split("\n") if s.strip()]
    if len(sentences) < 2:
        return body
    kept = list(sentences)
    while len(kept) > 1 and (len(body) - sum(len(s) for s in kept)) < 0.15 * len(body):
        kept.pop()
    return "".join(kept).strip()


def change_title_punctuation(title: str) -> str:
    """Other punctuation, the same words: "…" as "...", quotes swapped, commas as middle dots, a "!" added."""
    changed = title.replace("…", "...").replace("“", "'").replace("”", "'").replace('"', "'").replace(",", " ·")
    return changed.rstrip(".") + "!"


def make_copy(kind: str, title: str, body: str, rng: random.Random) -> tuple[str, str]:
    """A copy of (title, body) made the way `kind` says."""
    city, outlet, agency, name = rng.choice(CITIES), rng.choice(OUTLETS), rng.choice(AGENCIES), rng.choice(NAMES)
    if kind == "byline":
        return title, f"({city}={agency}) {name} 기자 = {body}"
    if kind == "outlet_tag":
        return f"[{outlet}] {title}", f"{body} {name} 기자 reporter{rng.randint(1, 99)}@{outlet}.example"
    if kind == "dateline":
        stamp = f"입력 2026.11.{rng.randint(10, 28)} {rng.randint(6, 23):02d}:{rng.randint(0, 59):02d}"
        return title, f"【{city}={agency}】 {body} {stamp}"
    if kind == "last_paragraph":
        return title, drop_last_paragraph(body)
    if kind == "title_punctuation":
        return change_title_punctuation(title), body
    if kind == "republished":
        return (
            f"[{outlet}] {change_title_punctuation(title)}",
            f"({city}={agency}) {name} 기자 = {drop_last_paragraph(body)}",
        )
    raise ValueError(kind)


def build_stream(rows: list[tuple[str, str, str]], seed: int = 7) -> list[Article]:
    """Every original and one copy of each kind per original, shuffled into one stream."""
    rng = random.Random(seed)
    stream = []
    for i, (title, body, _) in enumerate(rows):
        original = f"a{i:05d}"
        stream.append(Article(original, None, "original", title, body))
        for kind in KINDS:
            stream.append(Article(f"{original}-{kind}", original, kind, *make_copy(kind, title, body, rng)))
    rng.shuffle(stream)
    return stream


def assign_stories(prints: list[tuple[str, Fingerprint]], layout: LshLayout) -> dict[str, str]:
    """Article id -> story id, in stream order, by the index's rule (`streamproc.review.stories`'s Lua script):
    the bucket of each band keeps the first article that had it; among those candidates, the story of the one
    whose signature agrees best, if it agrees on at least the threshold's positions; else a story of its own."""
    need = layout.agreeing_positions
    buckets: dict[tuple[int, str], str] = {}
    signatures: dict[str, np.ndarray] = {}
    story: dict[str, str] = {}
    for doc_id, print_ in prints:
        if doc_id in story:
            continue
        values = np.frombuffer(print_.signature, dtype="<u4")
        best, best_same = None, -1
        seen: set[str] = set()
        for band, value in enumerate(print_.bands):
            member = buckets.get((band, value))
            if member is None or member == doc_id or member in seen:
                continue
            seen.add(member)
            same = int(np.sum(signatures[member] == values))
            if same >= need and same > best_same:
                best, best_same = story[member], same
        story[doc_id] = best or doc_id
        signatures[doc_id] = values
        for band, value in enumerate(print_.bands):
            buckets.setdefault((band, value), doc_id)
    return story


def score(stream: list[Article], story: dict[str, str]) -> dict[str, Any]:
    """Recall of copies per kind and overall, and the false merges of originals."""
    hits = {kind: [0, 0] for kind in KINDS}
    for article in stream:
        if article.original is not None:
            hits[article.kind][0] += 1
            hits[article.kind][1] += int(story[article.id] == story[article.original])
    members: dict[str, list[str]] = {}
    for article in stream:
        if article.original is None:
            members.setdefault(story[article.id], []).append(article.id)
    merged = [ids for ids in members.values() if len(ids) > 1]
    originals = sum(1 for a in stream if a.original is None)
    wrong = sum(len(ids) for ids in merged)
    copies = sum(n for n, _ in hits.values())
    return {
        "recall": sum(found for _, found in hits.values()) / copies,
        "recall_by_kind": {kind: found / n for kind, (n, found) in hits.items()},
        "copies": copies,
        "originals": originals,
        "falsely_merged_originals": wrong,
        "false_merge_rate": wrong / originals,
        "merged_groups": sorted(merged),
    }


def jaccard(first: str, second: str) -> float:
    """The exact Jaccard similarity of two texts' shingle sets."""
    a, b = shingles(first), shingles(second)
    return len(a & b) / len(a | b) if a | b else 1.0


def run_duplicates_bench(
    folder: Path, thresholds: tuple[float, ...] = THRESHOLDS, limit: int | None = None, seed: int = 7
) -> dict[str, Any]:
    """Every figure of the benchmark as one JSON-ready dict."""
    rows = read_articles(folder)
    if limit is not None:
        rows = random.Random(seed).sample(rows, min(limit, len(rows)))
    stream = build_stream(rows, seed)
    texts = {article.id: article.text for article in stream}
    sections = {f"a{i:05d}": section for i, (_, _, section) in enumerate(rows)}
    signatures = {a.id: signature(texts[a.id]) for a in tqdm(stream, desc="MinHash signatures", unit="article")}
    results = []
    for threshold in tqdm(thresholds, desc="thresholds", unit="threshold"):
        layout = lsh_layout(threshold)
        prints = [(a.id, banded(signatures[a.id], layout)) for a in stream]
        scored = score(stream, assign_stories(prints, layout))
        groups = scored.pop("merged_groups")
        scored["merged_pairs"] = [
            {
                "ids": [first, second],
                "sections": [sections[first], sections[second]],
                "jaccard": round(jaccard(texts[first], texts[second]), 3),
                "titles": [texts[first].split("\n")[0][:80], texts[second].split("\n")[0][:80]],
            }
            for group in groups
            for first, second in itertools.pairwise(group)
        ][:20]
        results.append({"threshold": threshold, "bands": layout.bands, "rows": layout.rows, **scored})
    acceptable = [r for r in results if r["false_merge_rate"] <= TARGET_FALSE_MERGES]
    chosen = max(acceptable, key=lambda r: (r["recall"], r["threshold"])) if acceptable else None
    from streamproc.config import Settings

    return {
        "data": str(folder),
        "originals": len(rows),
        "copies_per_original": len(KINDS),
        "kinds": list(KINDS),
        "num_perm": NUM_PERM,
        "target_false_merge_rate": TARGET_FALSE_MERGES,
        # the highest recall whose raw false-merge rate (the data set's own duplicates counted as wrong) is in target
        "raw_target_threshold": chosen and chosen["threshold"],
        "default_threshold": Settings.model_fields["story_threshold"].default,
        "results": results,
    }


def duplicates_table(result: dict[str, Any], add_row: Callable[..., None]) -> None:
    """One row per threshold: bands x rows, recall overall and per kind, false merges."""
    for row in result["results"]:
        add_row(
            f"{row['threshold']:.2f}",
            f"{row['bands']}x{row['rows']}",
            f"{row['recall']:.3f}",
            *(f"{row['recall_by_kind'][kind]:.3f}" for kind in result["kinds"]),
            f"{row['falsely_merged_originals']} ({row['false_merge_rate']:.2%})",
        )


def duplicates_plot(result: dict[str, Any], path: Path) -> Path:
    """Recall of copies (overall and per kind) and the false-merge rate over thresholds."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    x = [row["threshold"] for row in result["results"]]
    left.plot(x, [row["recall"] for row in result["results"]], "o-", color="black", label="all copies")
    for kind in result["kinds"]:
        left.plot(x, [row["recall_by_kind"][kind] for row in result["results"]], ".--", label=kind)
    right.plot(x, [100 * row["false_merge_rate"] for row in result["results"]], "o-", color="tab:red")
    right.axhline(100 * result["target_false_merge_rate"], color="gray", linestyle=":", label="target 0.5 %")
    for ax in (left, right):
        ax.axvline(result["default_threshold"], color="tab:green", alpha=0.5, label="default threshold")
    left.set(title="recall of copies", xlabel="threshold (MinHash agreement)", ylim=(0, 1.02))
    right.set(
        title="originals merged with another (raw: the set's own duplicates count)",
        xlabel="threshold (MinHash agreement)",
        ylabel="% of originals",
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{result['originals']} originals, {result['copies_per_original']} copies each")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
