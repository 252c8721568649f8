"""The relabel scan on the real servers: the scope, the checkpoint that survives kill -9, the summary's query."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client, kafka_python_options, redis_client
from streamproc.errors import UserError
from streamproc.relabel.items import decode_item
from streamproc.relabel.scan import checkpoint_key, queue_items
from streamproc.relabel.scope import NONE, Scope, confusion, count, pending_query, versions_in_scope
from streamproc.stack.provision import create_index, create_topics
from tests.review_items import document, index_documents

TARGET = {"topic": "tiny-3", "sentiment": "tiny-3"}  # the session's tiny model serves these


def _docs(n: int, **fields: Any) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        doc = document(f"s-{i:03d}", 0.2, topic=["it", "world"][i % 2])
        doc["published_at"] = f"2026-11-{1 + i % 28:02d}T00:00:00+00:00"
        doc["source"] = ["한빛일보", "Example Daily"][i % 2]
        docs.append({**doc, **fields})
    return docs


def _queued(settings: Settings) -> list[str]:
    consumer = KafkaConsumer(**kafka_python_options(settings), auto_offset_reset="earliest", consumer_timeout_ms=2000)
    topic = settings.topic_relabel
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []])
    ids = []
    for message in consumer:
        item = decode_item(message.value)
        assert item is not None and item.target == TARGET and message.key == item.id.encode()
        ids.append(item.id)
    consumer.close()
    return ids


def _setup(settings: Settings, docs: list[dict[str, Any]]) -> None:
    create_topics(settings)
    create_index(settings)
    assert index_documents(settings, docs) == {}
    es = elasticsearch_client(settings)
    es.indices.refresh(index=settings.es_index)
    es.close()


def test_scope_and_pending(settings: Settings) -> None:
    docs = _docs(20)
    docs[0]["model_versions"] = dict(TARGET)  # already on the target
    docs[1]["model_versions"] = {"topic": "tiny-3", "sentiment": "v1"}  # one task behind: pending
    _setup(settings, docs)
    es = elasticsearch_client(settings)
    try:
        index = settings.es_index
        assert count(es, index, pending_query(Scope(), TARGET)) == 19
        assert count(es, index, pending_query(Scope(since="2026-11-05", until="2026-11-10"), TARGET)) == 5
        assert count(es, index, pending_query(Scope(query='source:"한빛일보" AND topic.label:it'), TARGET)) == 9
        assert count(es, index, pending_query(Scope(query='{"term": {"source": "Example Daily"}}'), TARGET)) == 10
        assert count(es, index, pending_query(Scope(), TARGET, after="s-009")) == 10
        by_version = versions_in_scope(es, index, Scope(), ["topic", "sentiment"])
        assert by_version == {"topic": {"v1": 18, "tiny-3": 2}, "sentiment": {"v1": 19, "tiny-3": 1}}
        for bad in ('{"term": ', "[1, 2]"):
            with pytest.raises(UserError, match="--query"):
                Scope(query=bad if bad.startswith("{") else "{" + bad).filters()
        with pytest.raises(UserError, match="--since"):
            Scope(since="last week").filters()
    finally:
        es.close()


def test_confusion_counts_only_documents_relabeled_onto_the_target(settings: Settings) -> None:
    docs = _docs(6, model_versions=dict(TARGET))
    relabel = {"at": "2026-11-25T00:00:00+00:00", "previous_versions": {"topic": "v1", "sentiment": "v1"}}
    docs[0]["relabel"] = {**relabel, "previous": {"topic": "it", "sentiment": "neutral"}}  # it -> it
    docs[1]["relabel"] = {**relabel, "previous": {"topic": "it", "sentiment": "neutral"}}  # it -> world
    docs[2]["relabel"] = {**relabel, "previous": {"topic": "world", "sentiment": "neutral"}}  # world -> it
    docs[3]["relabel"] = {**relabel, "previous": {"topic": None, "sentiment": "neutral"}}  # no label before
    docs[4]["relabel"] = {**relabel, "previous": {"topic": "politics", "sentiment": "neutral"}}
    docs[4]["model_versions"] = {"topic": "v9", "sentiment": "tiny-3"}  # topic moved on since: not counted
    # docs[5] was never relabeled (labeled live by the target): not counted
    _setup(settings, docs)
    es = elasticsearch_client(settings)
    try:
        matrices = confusion(es, settings.es_index, Scope(), TARGET)
    finally:
        es.close()
    assert matrices["topic"] == {"it": {"it": 1, "world": 1}, "world": {"it": 1}, NONE: {"world": 1}}
    assert matrices["sentiment"] == {"neutral": {"neutral": 5}}


def test_a_killed_scan_resumes_after_its_checkpoint(settings: Settings, stack_env: dict[str, str]) -> None:
    _setup(settings, _docs(60))
    command = [sys.executable, "-m", "streamproc", "relabel", "--no-wait", "--max-rate", "20"]
    env = {**os.environ, **stack_env}
    redis = redis_client(settings)
    key = checkpoint_key(settings, TARGET, Scope())
    try:
        killed = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while int(redis.hget(key, "queued") or 0) < 20:
            assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()[0]
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        at_kill = int(redis.hget(key, "queued") or 0)
        assert 20 <= at_kill < 60
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"queued {60 - at_kill} on {settings.topic_relabel}" in done.stdout
        assert f"{at_kill} queued before" in done.stdout
        ids = _queued(settings)
        assert set(ids) == {f"s-{i:03d}" for i in range(60)}
        assert len(ids) <= 60 + 20  # at most the page in flight at the kill was queued twice
        assert redis.hget(key, "done") == b"1"
        again = queue_items(settings, elasticsearch_client(settings), redis, TARGET, Scope(), progress=False)
        assert again.resumed_after is None and again.queued == 60  # a finished scan starts over (nothing relabeled)
    finally:
        redis.close()
    assert json.loads(json.dumps(TARGET)) == TARGET


def test_the_command_refuses_what_cannot_work(settings: Settings) -> None:
    from typer.testing import CliRunner

    from streamproc.cli.main import app

    create_topics(settings)
    es = elasticsearch_client(settings)
    es.indices.create(index=settings.es_index, mappings={"properties": {"id": {"type": "keyword"}}})  # an old index
    es.close()
    runner = CliRunner()
    old = runner.invoke(app, ["relabel", "--dry-run"])
    assert isinstance(old.exception, UserError) and "run `streamproc stack up`" in str(old.exception)
    other = runner.invoke(app, ["relabel", "--model", "v9"])
    assert isinstance(other.exception, UserError) and "promote it first" in str(other.exception)
    assert "topic=tiny-3, sentiment=tiny-3" in str(other.exception)
