"""The sample articles the main job publishes: mostly valid, plus bad records of several kinds."""

from __future__ import annotations

from collections import Counter
from importlib import resources

import pytest

from streamproc.config import Settings
from streamproc.demo.main_job import SAMPLES
from streamproc.ingest.article import Article, id_from_url
from streamproc.ingest.validate import Rejection, parse_article
from streamproc.publish.reader import read_records

MAX_BYTES = Settings.model_fields["max_article_bytes"].default


@pytest.fixture(scope="module")
def parsed() -> list[Article | Rejection]:
    return [parse_article(raw, MAX_BYTES) for raw in read_records(str(SAMPLES))]


def valid(parsed: list[Article | Rejection]) -> list[Article]:
    return [item for item in parsed if isinstance(item, Article)]


def rejected(parsed: list[Article | Rejection]) -> list[Rejection]:
    return [item for item in parsed if isinstance(item, Rejection)]


def test_samples_ship_with_the_package() -> None:
    assert resources.files("streamproc.demo").joinpath("sample_articles.jsonl").is_file()
    assert SAMPLES.is_file()


def test_every_line_is_a_record_that_validates_or_is_refused(parsed: list[Article | Rejection]) -> None:
    lines = SAMPLES.read_bytes().splitlines()
    assert all(line.strip() for line in lines), "no blank lines: every line is one record"
    assert len(parsed) == len(lines)
    reasons = {r.reason for r in rejected(parsed)}
    assert reasons <= {"too_large", "not_utf8", "invalid_json", "not_an_object", "invalid_article"}, reasons
    assert all(r.error.strip() for r in rejected(parsed)), "every refusal says why"


def test_counts(parsed: list[Article | Rejection]) -> None:
    assert len(valid(parsed)) >= 100
    bad = rejected(parsed)
    assert len(bad) >= 5
    reasons = Counter(r.reason for r in bad)
    assert len(reasons) >= 4, reasons
    assert len({r.error.split(":")[0] for r in bad if r.reason == "invalid_article"}) >= 3, "several field errors"


def test_ids_are_unique_and_some_come_from_the_url(parsed: list[Article | Rejection]) -> None:
    articles = valid(parsed)
    ids = [a.id for a in articles]
    assert len(set(ids)) == len(ids)
    derived = [a for a in articles if a.id.startswith("url-")]
    assert len(derived) >= 5
    assert all(a.id == id_from_url(a.url) for a in derived)


def test_languages_and_fields(parsed: list[Article | Rejection]) -> None:
    articles = valid(parsed)
    langs = Counter(a.lang for a in articles)
    assert set(langs) == {"ko", "en"}
    assert 0.6 <= langs["ko"] / len(articles) <= 0.8, langs
    assert all(a.title and a.body and a.url.startswith("https://") for a in articles)
    assert all(a.published_at.utcoffset() is not None for a in articles)
    assert any(a.extra for a in articles), "an article with an extra field, kept under `extra`"
    sources = Counter(a.source for a in articles if a.source)
    assert len(sources) >= 6
