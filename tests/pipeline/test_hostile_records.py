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
from tests.hostile import hostile_records
from tests.pipeline.harness import (
    WorkerProcess,
    dead_letters,
    encode,
    indexed_documents,
    make_articles,
    provision,
    wait_until_processed,
)


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
