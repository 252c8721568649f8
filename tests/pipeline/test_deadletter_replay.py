"""`streamproc deadletter replay` end to end: letters refused by one worker are replayed to a fixed worker, the
truncated one is refused, and a record that keeps failing stops after STREAMPROC_MAX_REPLAYS rounds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from typer.testing import CliRunner

from streamproc.cli.main import app
from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.ingest.records import REPLAYS_HEADER
from tests.pipeline.harness import (
    WorkerProcess,
    encode,
    indexed_documents,
    make_articles,
    provision,
    wait_until_processed,
)

runner = CliRunner()


def _cli(*args: str) -> str:
    done = runner.invoke(app, ["deadletter", *args])
    assert done.exit_code == 0, (done.output, done.exception)
    return done.output


def _letters_with_headers(settings: Settings) -> list[tuple[dict, int, str]]:
    """(envelope, replay count from the header, id) of every dead letter."""
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
        enable_auto_commit=False,
        fetch_max_bytes=8 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    topic = settings.topic_deadletter
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
    out = []
    for message in consumer:
        headers = dict(message.headers or [])
        count = int(headers.get(REPLAYS_HEADER, b"0"))
        out.append((json.loads(message.value), count, f"{message.partition}:{message.offset}"))
    consumer.close()
    return out


@pytest.mark.slow
def test_replay_after_a_fix_refuses_truncated_letters_and_bounds_the_loop(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMPROC_MAX_REPLAYS", "2")
    settings = Settings()
    provision(settings)
    articles = make_articles(5, seed=7, prefix="dl")
    for article in articles:
        article["id"] = article.get("id") or f"dl-derived-{article['url'][-1]}"
        article["body"] += " 경제" * 200  # over the first worker's 256-byte limit, well under the default
    huge = {**articles[0], "id": "dl-huge", "body": "반도체 " * 60_000}  # 600 KB: over any limit, cut in its letter
    producer = KafkaProducer(**kafka_python_options(settings), acks="all", max_request_size=4 * 1024 * 1024)
    for article in [*articles, huge]:
        producer.send(settings.topic_raw, key=article["id"].encode(), value=encode(article))
    producer.send(settings.topic_raw, key=b"broken", value=b'{"id": "broken", not json')
    producer.flush()
    producer.close()

    strict = WorkerProcess(tmp_path / "strict.log", {"STREAMPROC_MAX_ARTICLE_BYTES": "256"}).start()
    try:
        wait_until_processed(settings, 7)
    finally:
        strict.stop()
    assert indexed_documents(settings) == {}

    listed = _cli("list")
    assert re.search(r"too_large\s*│\s*6\s*│\s*1", listed) and re.search(r"invalid_json\s*│\s*1\s*│\s*0", listed)
    letters = _letters_with_headers(settings)
    (cut,) = [(envelope, letter_id) for envelope, _, letter_id in letters if envelope["original_truncated"]]
    shown = _cli("show", cut[1])
    assert "never replayed" in shown and cut[0]["original_sha256"] in shown and "반도체 반도체" in shown

    dry = _cli("replay", "--dry-run")
    assert "would send 6" in dry and "truncated 1" in dry
    assert "would send 1 " in _cli("replay", "--dry-run", "--reason", "invalid_json")

    fixed = WorkerProcess(tmp_path / "fixed.log").start()  # the fix: the default 256 KiB limit
    try:
        first = _cli("replay")
        assert "sent 6 to" in first and "invalid_json 1, too_large 5" in first and "truncated 1" in first
        wait_until_processed(settings, 7 + 6)
        assert sorted(indexed_documents(settings)) == sorted(a["id"] for a in articles)

        second = _cli("replay")  # only the broken record's new letter: the others were replayed once already
        assert "sent 1 to" in second and "already replayed 6" in second
        wait_until_processed(settings, 7 + 6 + 1)
        third = _cli("replay")
        assert "sent 0 to" in third and "replay limit 1" in third and "already replayed 7" in third
    finally:
        fixed.stop()
    broken = [count for envelope, count, _ in _letters_with_headers(settings) if envelope["source"]["key"] == "broken"]
    assert sorted(broken) == [0, 1, 2]  # the original's letter, then one per replay, each counting the replays
