"""Records that once froze partitions or crashed the worker go to the dead-letter topic; everything else flows.

Each was a real failure: parser errors other than `JSONDecodeError` (exit 70 on every start), records of
~430 KB and ~1 MB whose dead-letter envelope exceeded the producer's request limit (a frozen agent that still
answered healthy), and values valid for the schema but refused by Elasticsearch (`index_rejected`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import signal
from pathlib import Path

import pytest

from streamproc.config import Settings
from streamproc.ingest.article import Article
from streamproc.publish.publisher import publish
from tests.pipeline.harness import (
    WorkerProcess,
    dead_letters,
    encode,
    indexed_documents,
    make_articles,
    provision,
    wait_until_processed,
)

STAMP = "2026-11-20T09:00:00+09:00"


def _article(doc_id: str, **extra: object) -> dict[str, object]:
    return {"id": doc_id, "title": "정부 발표", "body": "본문", "published_at": STAMP, **extra}


def hostile_records() -> list[tuple[str, str, bytes]]:
    """(reason, fragment of the error, raw bytes) for each killer."""
    good = json.dumps(_article("h-base"))[:-1]  # an article without its closing brace, to splice fields into
    return [
        ("invalid_json", "nested too deeply", b"[" * 100_000 + b"]" * 100_000),
        ("invalid_json", "4300", f'{good}, "views": {"7" * 5000}}}'.encode()),
        ("too_large", "bytes, over the limit", encode(_article("h-430k", body="가" * 143_000))),  # ~430 KB
        ("too_large", "bytes, over the limit", encode(_article("h-1m", body="b" * 1_000_000))),  # ~1 MB
        ("invalid_article", "600 bytes", encode(_article("가" * 200))),
        ("invalid_article", "whitespace", encode(_article(" h-padded"))),
        ("invalid_article", "score: nan", f'{good}, "score": NaN}}'.encode()),
        ("invalid_article", "meta.rank: inf", f'{good}, "meta": {{"rank": Infinity}}}}'.encode()),
        ("invalid_article", "big: inf", f'{good}, "big": 1e999999}}'.encode()),
        ("invalid_article", "64-bit range", f'{good}, "tags": [1, {"9" * 30}]}}'.encode()),
    ]


@pytest.mark.slow
def test_hostile_records_are_dead_lettered_and_nothing_stalls(settings: Settings, tmp_path: Path) -> None:
    provision(settings)
    articles = make_articles(80, seed=11)
    ids = {Article.model_validate(a).id for a in articles}
    hostile = hostile_records()
    records = [encode(a) for a in articles]
    for i, (_, _, raw) in enumerate(hostile):  # spread them over the stream, so every partition gets some
        records.insert(i * 8 + 3, raw)
    summary = publish(settings, records, send_invalid=True, progress=False)
    assert summary.sent == len(records)

    worker = WorkerProcess(tmp_path / "worker.log").start()
    try:
        wait_until_processed(settings, len(records), timeout=240)
        assert set(indexed_documents(settings)) == ids
        letters = dead_letters(settings)
        assert len(letters) == len(hostile)
        by_hash = {letter["original_sha256"]: letter for letter in letters}
        for reason, fragment, raw in hostile:
            letter = by_hash[hashlib.sha256(raw).hexdigest()]
            assert letter["reason"] == reason and fragment in letter["error"], letter["error"]
            assert letter["original_size"] == len(raw)
            copy = base64.b64decode(letter["original_base64"])
            assert raw.startswith(copy)
            assert letter["original_truncated"] == (copy != raw)
            assert len(json.dumps(letter, ensure_ascii=False).encode()) <= 512 * 1024
        assert by_hash[hashlib.sha256(hostile[3][2]).hexdigest()]["original_truncated"]  # the ~1 MB one
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.kill(signal.SIGTERM)  # a graceful stop must finish (it once hung)
    assert worker.process.returncode == 0
    assert "Traceback" not in worker.log()
