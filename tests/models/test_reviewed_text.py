"""Reviewed examples are trained on exactly what the serving model read: the same text, the same token ids.

The worker queues an article with its model input (`Article.text`: cleaned title and body, the body up to
4,000 characters); `retrain` and `review export` train on that, not on a text rebuilt from the queue item's
shortened body (2,000 characters), which would cut the tail that head + tail truncation reads.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from streamproc.config import Settings
from streamproc.connections import redis_client
from streamproc.inference.predictor import load_model
from streamproc.inference.truncation import token_ids
from streamproc.ingest.article import Article
from streamproc.ingest.records import RawRecord, SourcePosition
from streamproc.review.desk import ReviewDesk
from streamproc.review.service import write_export
from streamproc.review.summary import BODY_EXCERPT
from streamproc.stack.provision import create_index
from streamproc.worker.batch import BatchProcessor
from streamproc_models.data import read_tsv
from streamproc_models.retrain import reviewed_labels
from tests.tiny_models import served_ids


def _long_article() -> dict[str, str]:
    head = "정부 국회 선거 " * 150  # about 1,800 characters of lead
    tail = "market stocks chips exports " * 60  # the end of the article, past the 2,000-character excerpt
    return {
        "id": "long-1",
        "title": "반도체 수출 기록",
        "body": head + tail,
        "published_at": "2026-11-20T09:00:00+09:00",
    }


def test_retrain_and_export_read_the_served_text(settings: Settings, tmp_path: Path) -> None:
    create_index(settings)
    article = _long_article()
    raw = json.dumps(article, ensure_ascii=False).encode()
    served = Article.model_validate(article)
    assert len(served.body) > BODY_EXCERPT and served.text.endswith("exports")

    async def process() -> None:
        processor = BatchProcessor.connected(
            settings.model_copy(update={"review_threshold": 0.0}), _predictor(settings)
        )
        try:
            await processor.process([RawRecord(raw, b"long-1", SourcePosition(settings.topic_raw, 0, 0))])
        finally:
            await processor.close()

    asyncio.run(process())
    client = redis_client(settings)
    try:
        desk = ReviewDesk(client, settings.review_key_prefix, settings.tasks)
        desk.label("long-1", "kim", {"topic": "economy"})
        trained = reviewed_labels(desk, holdout_fraction=0.0).train["topic"]
        exported = read_tsv(write_export(desk, tmp_path / "export")["topic"][0])
    finally:
        client.close()
    assert trained.texts == [served.text]  # the tail the encoder reads is there
    predictor = _predictor(settings)
    training_ids = token_ids(predictor.tokenizer, trained.texts, predictor.max_tokens, predictor.truncation)
    assert training_ids == served_ids(predictor, [served.text])
    assert exported.texts[0].endswith("exports") and exported.labels == ["economy"]


def _predictor(settings: Settings):
    assert settings.multitask_model_dir is not None
    return load_model(settings.multitask_model_dir, device="cpu", max_tokens=settings.max_tokens)
