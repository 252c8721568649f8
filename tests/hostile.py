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


def filled(unit: str, tail: str = "", size: int = 250_000) -> str:
    """`unit` repeated to about `size` bytes of UTF-8 (a record stays under the 256 KiB limit), then `tail`."""
    return unit * (size // len(unit.encode())) + tail


def long_text_articles() -> list[tuple[str, dict[str, object]]]:
    """(shape, valid article) for the worst texts found for the text builder (issue 21), mildest first.

    Python's backtracking e-mail pattern took 2 s on the first, about 100 s on the third (on the event loop).
    """
    shapes = {
        "20,000 letters then @ in the title": ("a" * 20_000 + "@", "본문"),
        "40,000 letters then @ in the title": ("a" * 40_000 + "@", "본문"),
        "200,000 letters then @ in the title": ("a" * 200_000 + "@", "본문"),
        "250 KB of letters then @ in the title": (filled("a", "@"), "본문"),
        "Hangul then @ in the title": (filled("가", "@"), "본문"),
        "'a.' then @ in the title": (filled("a.", "@"), "본문"),
        "'a@b.' repeated in the title": (filled("a@b."), "본문"),
        "'(' then letters in the title": ("(" + filled("a"), "본문"),
        "'[' then letters in the title": ("[" + filled("a"), "본문"),
        "'[a.com ' repeated in the title": (filled("[a.com "), "본문"),
        "'기자 =' repeated in the title": (filled("기자 ="), "본문"),
        "'김철수 기자 =' repeated in the title": (filled("김철수 기자 ="), "본문"),
        "'기자 =' repeated in the body": ("제목", filled("기자 =")),
        "letters then @ in the body": ("제목", filled("a", "@")),
    }
    return [(shape, article(f"long-{i}", title=t, body=b)) for i, (shape, (t, b)) in enumerate(shapes.items())]
