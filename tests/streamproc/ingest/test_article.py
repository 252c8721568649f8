"""The article schema: derived ids, time zones, kept extras, refusals with reasons."""

from __future__ import annotations

import pytest

from streamproc.ingest.article import Article, id_from_url
from streamproc.ingest.validate import Rejection, parse_article

STAMP = "2026-11-20T09:00:00+09:00"


def test_id_is_derived_from_the_normalised_url() -> None:
    a = Article.model_validate({"url": "https://News.Example.com/a?b=1#top", "title": "t", "published_at": STAMP})
    b = Article.model_validate({"url": "https://news.example.com/a?b=1", "title": "t", "published_at": STAMP})
    c = Article.model_validate({"url": "https://news.example.com/a?b=2", "title": "t", "published_at": STAMP})
    assert a.id == b.id == id_from_url("https://news.example.com/a?b=1") != c.id
    assert a.id.startswith("url-") and len(a.id) == 36


def test_given_id_wins_and_extras_are_kept() -> None:
    article = Article.model_validate(
        {
            "id": "kr-1",
            "url": "https://x.example/1",
            "title": " 제목 ",
            "body": "본문",
            "published_at": STAMP,
            "lang": "KO",
            "author": "기자",
            "tags": ["a"],
        }
    )
    assert article.id == "kr-1" and article.title == "제목" and article.lang == "ko"
    assert article.extra == {"author": "기자", "tags": ["a"]}
    assert article.text == "제목\n본문"


@pytest.mark.parametrize(
    ("raw", "reason", "fragment"),
    [
        (b'{"id": "a", "title": "t", "published_at": "2026-11-20T09:00:00"}', "invalid_article", "timezone"),
        (b'{"id": "a", "title": " ", "body": "", "published_at": "2026-11-20T09:00:00Z"}', "invalid_article", "empty"),
        (b'{"title": "t", "published_at": "2026-11-20T09:00:00Z"}', "invalid_article", "id or a url"),
        (b"{", "invalid_json", "not JSON"),
        (b"[]", "not_an_object", "list"),
        (b"\xff", "not_utf8", "UTF-8"),
        (b"x" * 300, "too_large", "300 bytes"),
    ],
)
def test_refusals_say_why(raw: bytes, reason: str, fragment: str) -> None:
    result = parse_article(raw, max_bytes=256)
    assert isinstance(result, Rejection)
    assert result.reason == reason and fragment in result.error
