"""The records that once crashed or froze the worker, shared by the parsing, pipeline and CLI tests."""

from __future__ import annotations

import json

from tests.pipeline.harness import encode

STAMP = "2026-11-20T09:00:00+09:00"


def article(doc_id: str, **extra: object) -> dict[str, object]:
    """A valid article with `extra` fields."""
    return {"id": doc_id, "title": "정부 발표", "body": "본문", "published_at": STAMP, **extra}


def hostile_records() -> list[tuple[str, str, bytes]]:
    """(reason, fragment of the error, raw bytes) for each killer."""
    good = json.dumps(article("h-base"))[:-1]  # an article without its closing brace, to splice fields into
    return [
        ("invalid_json", "nested too deeply", b"[" * 100_000 + b"]" * 100_000),
        ("invalid_json", "4300", f'{good}, "views": {"7" * 5000}}}'.encode()),
        ("too_large", "bytes, over the limit", encode(article("h-430k", body="가" * 143_000))),  # ~430 KB
        ("too_large", "bytes, over the limit", encode(article("h-1m", body="b" * 1_000_000))),  # ~1 MB
        ("invalid_article", "600 bytes", encode(article("가" * 200))),
        ("invalid_article", "whitespace", encode(article(" h-padded"))),
        ("invalid_article", "score: nan", f'{good}, "score": NaN}}'.encode()),
        ("invalid_article", "meta.rank: inf", f'{good}, "meta": {{"rank": Infinity}}}}'.encode()),
        ("invalid_article", "big: inf", f'{good}, "big": 1e999999}}'.encode()),
        ("invalid_article", "64-bit range", f'{good}, "tags": [1, {"9" * 30}]}}'.encode()),
    ]
