"""`streamproc bench duplicates` decides as the story index does, and runs as a user runs it (on the project's own
sample articles, never the shared data)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from streamproc.config import Settings
from streamproc.connections import async_redis_client
from streamproc.demo.main_job import SAMPLES
from streamproc.review.stories import StoryIndex, fingerprint, lsh_layout
from streamproc_models.evaluation.duplicates_bench import (
    KINDS,
    Article,
    assign_stories,
    build_stream,
    drop_last_paragraph,
    score,
)


def _samples(n: int) -> list[tuple[str, str, str]]:
    rows = sample_rows()
    originals = [r for r in rows if r.get("title") and r.get("body") and not r.get("copy_of")]
    return [(r["title"], r["body"], "news") for r in originals[:n]]


def test_the_bench_decides_as_the_redis_index(settings: Settings) -> None:
    stream: list[Article] = build_stream(_samples(40), seed=3)
    layout = lsh_layout(settings.story_threshold)
    prints = [(a.id, fingerprint(a.text, layout)) for a in stream]
    in_memory = assign_stories(prints, layout)

    async def in_redis() -> dict[str, str]:
        client = async_redis_client(settings)
        index = StoryIndex(client, settings.review_key_prefix, settings.story_threshold, settings.story_days)
        try:
            found: dict[str, str] = {}
            for start in range(0, len(prints), 32):  # in batches, like the worker
                batch = prints[start : start + 32]
                found.update(zip((i for i, _ in batch), (s.story_id for s in await index.assign(batch)), strict=True))
            return found
        finally:
            await client.aclose()

    assert asyncio.run(in_redis()) == in_memory
    scored = score(stream, in_memory)
    assert scored["copies"] == 40 * len(KINDS) and scored["originals"] == 40
    assert scored["recall"] >= 0.95 and scored["false_merge_rate"] == 0.0


def test_a_dropped_last_paragraph_drops_at_least_a_sentence() -> None:
    body = "첫 문장이다. 둘째 문장이다. 셋째 문장이다. 넷째 문장이 가장 길고 마지막이다."
    assert drop_last_paragraph(body) == "첫 문장이다. 둘째 문장이다. 셋째 문장이다."
    assert drop_last_paragraph("한 문장뿐이다.") == "한 문장뿐이다."


def test_the_command_prints_a_table_and_writes_json_and_png(tmp_path: Path) -> None:
    data = tmp_path / "articles"
    data.mkdir()
    rows = _samples(60)
    for split, part in (("train", rows[:40]), ("val", rows[40:])):
        with (data / f"{split}.tsv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
            writer.writerow(["title", "body", "label", "source"])
            writer.writerows([(t, b, label, "samples") for t, b, label in part])
    out = tmp_path / "bench" / "duplicates.json"
    command = ["bench", "duplicates", "--data", str(data), "--thresholds", "0.5,0.9", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "streamproc", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "distinct merged" in done.stdout and "highest recall" in done.stdout and "default" in done.stdout
    result = json.loads(out.read_text())
    assert [r["threshold"] for r in result["results"]] == [0.5, 0.9] and result["originals"] == 60
    assert result["results"][0]["recall"] >= result["results"][1]["recall"]
    assert out.with_suffix(".png").stat().st_size > 10_000


def sample_rows() -> list[dict]:
    """The sample file's records that are JSON objects (it holds broken records on purpose)."""
    rows = []
    for line in SAMPLES.read_bytes().splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # not JSON, or not UTF-8
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
