"""A batch the models choke on: the poison article is dead-lettered, the rest indexed; broken models stop the worker.

The models here are the real tiny model wrapped so that it raises on a marker text: no real model fails on
demand, and the over-length crash that once did is fixed (max_tokens is capped at the position limit).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from streamproc.config import Settings
from streamproc.connections import elasticsearch_client
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.inference.predictor import Predictions
from streamproc.sinks.document import SourcePosition
from streamproc.stack.provision import create_index
from streamproc.worker.batch import BatchProcessor, ModelFailure, RawRecord

POISON = "POISON"


class FailingOn:
    """The real predictor, raising whenever a text contains `marker` (every text when marker is '')."""

    def __init__(self, predictor, marker: str) -> None:
        self.inner, self.marker = predictor, marker
        self.tasks, self.versions = predictor.tasks, predictor.versions

    def predict(self, texts: list[str]) -> Predictions:
        if any(self.marker in text for text in texts):
            raise RuntimeError("model failure on this input")
        return self.inner.predict(texts)


def _record(i: int, title: str) -> RawRecord:
    article = {
        "id": f"a{i}",
        "title": title,
        "body": "정부 경제 발표",
        "published_at": datetime(2026, 11, 1, tzinfo=UTC).isoformat(),
    }
    return RawRecord(json.dumps(article).encode(), f"a{i}".encode(), SourcePosition("news.raw", 0, i))


def _process(settings: Settings, predictor, records: list[RawRecord]):
    async def run():
        processor = BatchProcessor.connected(settings, predictor)
        try:
            return await processor.process(records)
        finally:
            await processor.close()

    return asyncio.run(run())


def test_poison_article_is_dead_lettered_and_the_rest_indexed(settings: Settings) -> None:
    create_index(settings)
    predictor = FailingOn(load_pipeline_predictor(settings), POISON)
    records = [_record(i, f"기사 {i}") for i in range(5)] + [_record(5, f"{POISON} 기사")]
    result = _process(settings, predictor, records)
    assert result.indexed == 5
    assert [(d.record.position.offset, d.rejection.reason) for d in result.dead_letters] == [(5, "inference_failed")]
    assert "model failure on this input" in result.dead_letters[0].rejection.error
    es = elasticsearch_client(settings)
    es.indices.refresh(index=settings.es_index)
    assert es.count(index=settings.es_index)["count"] == 5
    es.close()


def test_models_failing_on_everything_raise_instead_of_dead_lettering(settings: Settings) -> None:
    create_index(settings)
    predictor = FailingOn(load_pipeline_predictor(settings), "")
    with pytest.raises(ModelFailure, match="canary"):
        _process(settings, predictor, [_record(i, f"기사 {i}") for i in range(3)])
