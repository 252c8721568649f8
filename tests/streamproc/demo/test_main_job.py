"""`streamproc demo` end to end against the session's servers, with the tiny model instead of the default one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, redis_client
from streamproc.demo.main_job import SAMPLES
from streamproc.ingest.article import Article
from streamproc.ingest.validate import Rejection, parse_article
from streamproc.publish.reader import read_records
from streamproc.review.queue import ReviewKeys
from streamproc.stack.up import runs_locally


def summary_count(output: str, row: str) -> int:
    found = re.search(rf"{re.escape(row)}\W+(\d+)", output)
    assert found, f"no `{row}` row in the summary:\n{output[-3000:]}"
    return int(found.group(1))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_main_job_reports_where_every_sample_went(settings: Settings, tmp_path: Path) -> None:
    parsed = [parse_article(raw, settings.max_article_bytes) for raw in read_records(str(SAMPLES))]
    valid_ids = {item.id for item in parsed if isinstance(item, Article)}
    reasons = Counter(item.reason for item in parsed if isinstance(item, Rejection))
    # The URLs are the running session servers on loopback: `stack up` finds them answering and starts nothing.
    assert runs_locally(settings) and settings.multitask_model_dir is not None

    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "streamproc", "demo"],
        cwd=tmp_path,  # no stray .env from the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = done.stdout
    worker_log = settings.stack_dir / "demo-worker.log"
    crashes = [line for line in worker_log.read_text(errors="replace").splitlines() if "Crashed reason" in line]
    assert done.returncode == 0, f"exit {done.returncode}\n{output[-4000:]}\n{done.stderr[-4000:]}\n{crashes[:3]}"
    assert not crashes, "the worker's agent crashed"
    assert "started noida-db" not in output and "started valkey-server" not in output, "a second stack was started"
    assert "using the configured model folders" in output

    assert summary_count(output, "indexed in Elasticsearch") == len(valid_ids)
    assert summary_count(output, "dead-lettered") == sum(reasons.values())
    listed = dict(re.findall(r"(\w+) (\d+)", output.split("dead-letter reasons:")[1].splitlines()[0]))
    assert {reason: int(n) for reason, n in listed.items()} == dict(reasons)

    es = elasticsearch_client(settings)
    try:
        es.indices.refresh(index=settings.es_index)
        assert es.count(index=settings.es_index)["count"] == len(valid_ids)
        hits = es.search(index=settings.es_index, size=len(valid_ids) + 10, source=["needs_review", "story_id"])
    finally:
        es.close()
    hits = hits["hits"]["hits"]
    assert {hit["_id"] for hit in hits} == valid_ids
    needs_review = {hit["_id"] for hit in hits if hit["_source"]["needs_review"]}
    story = {hit["_id"]: hit["_source"]["story_id"] for hit in hits}
    assert story["copy-0001"] == story["sample-0124"] and story["copy-0003"] == story["sample-0125"]
    assert summary_count(output, "stories (near-duplicate copies counted once)") == len(set(story.values()))

    redis = redis_client(settings)
    try:
        keys = ReviewKeys.for_prefix(settings.review_key_prefix)
        items = {key.decode(): json.loads(raw) for key, raw in redis.hgetall(keys.items).items()}
    finally:
        redis.close()
    audited = {doc_id for doc_id, item in items.items() if item.get("audit")}
    uncertain = set(items) - audited
    assert uncertain <= needs_review  # the queue holds uncertain articles (and the audit sample) only
    # one item per story: every story with an uncertain article not in the audit sample, once
    assert sorted(story[i] for i in uncertain) == sorted({story[i] for i in needs_review - audited})
    assert summary_count(output, "queued for review (one item a story)") == len(items)
