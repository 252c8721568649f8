"""A hostile corpus mixed into good articles, through the real worker: every poison record is dead-lettered
with its exact bytes and position, every good article indexed once, the worker never stops.

`killers` are the inputs that once froze a partition for good (issue 7, defects 1-3): a parser error other
than JSONDecodeError, a dead-letter envelope over the producer's request limit, values Elasticsearch refuses.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaProducer

from streamproc.config import Settings
from streamproc.connections import kafka_python_options
from streamproc.ingest.article import Article
from tests.pipeline.harness import (
    WorkerProcess,
    dead_letters,
    encode,
    indexed_documents,
    make_articles,
    metric_samples,
    provision,
    raw_records,
    size,
    wait_until_processed,
)

STAMP = "2026-11-20T09:00:00+09:00"
PRODUCER_LIMIT = 1024 * 1024  # Kafka's default max.request.size: a dead letter must fit in it


def _article(**fields: object) -> bytes:
    return encode({"title": "t", "published_at": STAMP, **fields})


def _with_number(article_id: str, literal: bytes) -> bytes:
    """A valid article with one more field holding a number literal that Python's json module accepts."""
    return _article(id=article_id)[:-1] + b', "x": ' + literal + b"}"


# (kind, expected reasons, raw bytes)
ORDINARY: list[tuple[str, set[str], bytes]] = [
    ("not json", {"invalid_json"}, b"not json at all"),
    ("truncated", {"invalid_json"}, b'{"id": "x1", "title": "trunc'),
    ("empty", {"invalid_json"}, b""),
    ("whitespace", {"invalid_json"}, b"  \n "),
    ("trailing garbage", {"invalid_json"}, b'{"id": "x2"} trailing'),
    ("single quotes", {"invalid_json"}, b"{'id': 'x3'}"),
    ("array", {"not_an_object"}, b"[1, 2, 3]"),
    ("string", {"not_an_object"}, b'"just a string"'),
    ("null", {"not_an_object"}, b"null"),
    ("number", {"not_an_object"}, b"42"),
    ("latin-1", {"not_utf8"}, b'{"id": "x4", "title": "caf\xe9"}'),
    ("cp949", {"not_utf8"}, '{"id": "x5", "title": "정부"}'.encode("cp949")),
    ("no date", {"invalid_article"}, encode({"id": "x6", "title": "t"})),
    ("naive date", {"invalid_article"}, _article(id="x7", published_at="2026-11-20 09:00:00")),
    ("word date", {"invalid_article"}, _article(id="x8", published_at="yesterday")),
    ("no text", {"invalid_article"}, _article(id="x9", title="", body="  ")),
    ("title number", {"invalid_article"}, _article(id="x10", title=123)),
    ("body list", {"invalid_article"}, _article(id="x11", body=["a", "b"])),
    ("no id no url", {"invalid_article"}, _article()),
    ("ftp url", {"invalid_article"}, _article(url="ftp://files.example/x")),
    ("bad id", {"invalid_article"}, _article(id="bad id!")),
    ("id 201 chars", {"invalid_article"}, _article(id="i" * 201)),
    ("bad lang", {"invalid_article"}, _article(id="x12", lang="korean!!")),
    ("300 KB", {"too_large"}, _article(id="x13", body="b" * 300_000)),
]
KILLERS: list[tuple[str, set[str], bytes]] = [
    ("100,000-deep JSON", {"invalid_json"}, b"[" * 100_000 + b"]" * 100_000),
    ("5,000-digit integer", {"invalid_json", "invalid_article"}, b'{"id": "k1", "n": ' + b"7" * 5000 + b"}"),
    ("500 KB", {"too_large"}, _article(id="k2", body="가" * 170_000)),
    ("600-byte Korean id", {"invalid_article"}, _article(id="가" * 200)),
    ("NaN", {"invalid_article"}, _with_number("k3", b"NaN")),
    ("1e999999", {"invalid_article"}, _with_number("k4", b"1e999999")),
]
# Valid, if hostile: printed by `streamproc review`, so they must be indexed as they are.
HOSTILE_BUT_VALID = [
    {"id": "h1", "title": "[/bold] [link=https://evil.example]click[/link]", "published_at": STAMP},
    {"id": "h2", "title": "\x1b]0;pwned\x07\x1b[2J cleared", "published_at": STAMP},
    {"id": "h3", "title": "zero\u200bwidth \u202eRTL", "body": "\x00 nul", "published_at": STAMP},
]


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["ordinary", "killers"])
def test_poison_corpus(corpus: str, settings: Settings, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("STREAMPROC_BATCH_SIZE", "16")
    settings = Settings()
    provision(settings)
    kinds = ORDINARY if corpus == "ordinary" else KILLERS
    copies = size(2, 8)
    poison = [(kind, reasons, raw) for kind, reasons, raw in kinds for _ in range(copies)]
    good = make_articles(size(200, 1030), seed=11) + HOSTILE_BUT_VALID
    good_ids = {Article.model_validate(a).id for a in good}
    records = [encode(a) for a in good]
    for i, (_, _, raw) in enumerate(poison):  # spread through the stream, so every partition gets some
        records.insert((i * 7919) % len(records), raw)

    producer = KafkaProducer(**kafka_python_options(settings), acks="all", max_request_size=PRODUCER_LIMIT)
    for raw in records:
        producer.send(settings.topic_raw, raw)
    producer.flush()
    producer.close()

    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        wait_until_processed(settings, len(records), timeout=size(120, 300))
        metrics = metric_samples(worker.get("/metrics")[1])
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()

    docs = indexed_documents(settings)
    assert set(docs) == good_ids
    for article in HOSTILE_BUT_VALID:
        assert docs[article["id"]]["title"] == article["title"]
    raws = raw_records(settings)
    letters = dead_letters(settings)
    assert len(letters) == len(poison)
    expected = {raw: reasons for _, reasons, raw in poison}
    kinds_by_raw = {raw: kind for kind, _, raw in poison}
    seen: Counter[str] = Counter()
    for letter in letters:
        source = letter["source"]
        raw = raws[(source["partition"], source["offset"])]
        assert letter["reason"] in expected[raw], (kinds_by_raw[raw], letter["reason"], letter["error"])
        assert len(json.dumps(letter).encode()) < PRODUCER_LIMIT
        copy = base64.b64decode(letter["original_base64"])
        assert copy == raw or (letter["reason"] == "too_large" and raw.startswith(copy)), kinds_by_raw[raw]
        seen[kinds_by_raw[raw]] += 1
    assert seen == Counter({kind: copies for kind, _, _ in kinds})
    by_reason = Counter(letter["reason"] for letter in letters)
    for reason, count in by_reason.items():
        assert metrics[f'streamproc_dead_letters_total{{reason="{reason}"}}'] == count
    assert "Traceback" not in worker.log()
    with capsys.disabled():
        print(
            f"\n[fault test] poison corpus ({corpus}): {len(good)} good + {len(poison)} poison of {len(kinds)} kinds: "
            f"indexed {len(docs)}, dead-lettered {dict(by_reason)}"
        )
