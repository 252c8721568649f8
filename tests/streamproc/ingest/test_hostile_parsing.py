"""Whatever bytes a publisher sends, validation answers with an article or a typed rejection, never an exception."""

from __future__ import annotations

import json
import time

import pytest

from streamproc.ingest.article import MAX_ID_BYTES
from streamproc.ingest.validate import Rejection, parse_article
from tests.hostile import article, hostile_records


@pytest.mark.parametrize(("reason", "fragment", "raw"), hostile_records(), ids=lambda v: str(v)[:20])
def test_each_killer_is_a_precise_rejection(reason: str, fragment: str, raw: bytes) -> None:
    result = parse_article(raw, max_bytes=262_144)
    assert isinstance(result, Rejection)
    assert result.reason == reason and fragment in result.error, result.error


def test_id_limit_is_in_utf8_bytes() -> None:
    fits = parse_article(json.dumps(article("가" * (MAX_ID_BYTES // 3))).encode(), 10_000)
    over = parse_article(json.dumps(article("가" * (MAX_ID_BYTES // 3 + 1))).encode(), 10_000)
    assert not isinstance(fits, Rejection) and len(fits.id.encode()) == 510
    assert isinstance(over, Rejection) and over.error.startswith("id: id is 513 bytes")


@pytest.mark.parametrize("doc_id", [" a", "a ", "\ta", "a\n", "\u3000a"])
def test_ids_with_surrounding_whitespace_are_refused_not_trimmed(doc_id: str) -> None:
    result = parse_article(json.dumps(article(doc_id)).encode(), 10_000)
    assert isinstance(result, Rejection) and result.reason == "invalid_article" and "whitespace" in result.error


def test_numbers_inside_64_bits_and_moderate_nesting_are_kept() -> None:
    nested: object = {"leaf": [2**63 - 1, -(2**63), 1.5e308]}
    for _ in range(30):
        nested = {"n": nested}
    result = parse_article(json.dumps(article("ok-1", deep=nested)).encode(), 10_000)
    assert not isinstance(result, Rejection) and result.extra["deep"] == nested


@pytest.mark.parametrize("raw", [b"9" * 4301, b'"\\ud800"' * 3, b"[" * 5000, b"{" * 3000, b"\x00", b"-"])
def test_parser_edge_cases_never_raise(raw: bytes) -> None:
    assert isinstance(parse_article(raw, max_bytes=1_000_000), Rejection)


def test_a_long_key_over_many_short_ones_is_checked_in_linear_time() -> None:
    # Each value's path once copied its parents' keys: 100 KB of key over 5,000 children built 500 MB of paths
    # (2 s here; 3.6 s and 1.4 GB at 170 KB). Now about 10 ms; 0.5 s leaves room for a loaded CI machine.
    record = article("wide-1", **{"k" * 100_000: {str(i): i for i in range(5000)}})
    raw = json.dumps(record, separators=(",", ":")).encode()
    start = time.process_time()
    result = parse_article(raw, max_bytes=262_144)
    seconds = time.process_time() - start
    assert not isinstance(result, Rejection) and len(result.extra) == 1
    assert seconds < 0.5, f"{len(raw)} bytes validated in {seconds:.2f}s"
