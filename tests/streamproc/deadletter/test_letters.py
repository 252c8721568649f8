"""Dead letters read back: ids, replay counts, which ones `replay` refuses and why; `show` prints text safely."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer
from typer.testing import CliRunner

from streamproc.cli.main import app
from streamproc.config import Settings
from streamproc.connections import kafka_python_options, redis_client
from streamproc.deadletter.letters import iter_letters, parse_letter_id, replay_count, stored_letter
from streamproc.deadletter.replay import (
    ALREADY,
    REPLAY_LIMIT,
    TRUNCATED,
    UNREADABLE,
    refusal,
    replay_letters,
    selected,
)
from streamproc.errors import UserError
from streamproc.ingest.records import REPLAYS_HEADER, DeadLetter, RawRecord, Rejection, SourcePosition
from streamproc.sinks.deadletter import deadletter_record, deadletter_records
from streamproc.stack.provision import create_topics

AT = SourcePosition("news.raw", 1, 41)


def _letter(raw: bytes, replays: bytes | None = None, max_bytes: int = 512 * 1024, offset: int = 0):
    value = deadletter_record(raw, b"k", Rejection("invalid_article", "title: bad"), AT, max_bytes)
    headers = [(REPLAYS_HEADER, replays)] if replays is not None else []
    return stored_letter(0, offset, b"k", value, headers)


def test_replay_count_comes_from_the_header() -> None:
    assert replay_count([]) == 0 and replay_count([(REPLAYS_HEADER, b"2")]) == 2
    assert replay_count([("other", b"9"), (REPLAYS_HEADER, b"1"), (REPLAYS_HEADER, b"3")]) == 3  # the last one
    assert replay_count([(REPLAYS_HEADER, b"-1")]) is None and replay_count([(REPLAYS_HEADER, b"x")]) is None


def test_what_replay_refuses() -> None:
    assert refusal(_letter(b'{"id": "a"}'), 3, False) is None
    assert refusal(_letter(b'{"id": "a"}', b"3"), 3, False) == REPLAY_LIMIT
    assert refusal(_letter(b'{"id": "a"}', b"2"), 3, False) is None
    assert refusal(_letter(b'{"id": "a"}', b"two"), 3, False) == UNREADABLE
    assert refusal(_letter(b'{"id": "a"}'), 3, True) == ALREADY
    cut = _letter(b"x" * 5000, max_bytes=2000)
    assert cut.truncated and refusal(cut, 3, False) == TRUNCATED
    assert refusal(stored_letter(0, 1, None, b"not an envelope", []), 3, False) == UNREADABLE
    envelope = json.loads(deadletter_record(b"abc", None, Rejection("invalid_json", "e"), AT))
    envelope["original_base64"] = "eHl6"  # "xyz": no longer the bytes its sha256 names
    damaged = stored_letter(0, 2, None, json.dumps(envelope).encode(), [])
    assert damaged.original() is None and refusal(damaged, 3, False) == UNREADABLE


def test_letter_ids() -> None:
    assert _letter(b"{}", offset=17).id == "0:17" and parse_letter_id("3:1041") == (3, 1041)
    for bad in ("3", "a:1", "1:-2", ""):
        with pytest.raises(UserError, match="PARTITION:OFFSET"):
            parse_letter_id(bad)


def test_the_worker_carries_the_replay_header_onto_a_new_letter() -> None:
    record = RawRecord(b"x", b"k", AT, headers=(("trace", b"t" * 10_000), (REPLAYS_HEADER, b"2")))
    ((_, _, headers),) = deadletter_records([DeadLetter(record, Rejection("invalid_json", "e"))])
    assert headers == [(REPLAYS_HEADER, b"2")]  # only the count: other headers could overflow the record
    ((_, _, none),) = deadletter_records([DeadLetter(RawRecord(b"x", None, AT), Rejection("invalid_json", "e"))])
    assert none == []


def test_show_escapes_and_dry_run_filters(settings: Settings) -> None:
    create_topics(settings)
    producer = KafkaProducer(**kafka_python_options(settings), acks="all")
    hostile = '{"id": "a", "title": "\x1b[31m red \u202e [bold]x[/bold]"}'.encode() + b"\xff"
    for raw, reason in ((hostile, "not_utf8"), (b'{"id": "b"}', "invalid_article")):
        value = deadletter_record(raw, b"k", Rejection(reason, "why"), AT)  # type: ignore[arg-type]
        producer.send(settings.topic_deadletter, value=value, partition=0)
    producer.flush()
    producer.close()
    letters = list(iter_letters(settings, progress=False))
    assert [letter.id for letter in letters] == ["0:0", "0:1"]
    shown = CliRunner().invoke(app, ["deadletter", "show", "0:0"])
    assert shown.exit_code == 0, shown.output
    assert "\\x1b[31m red \\u202e [bold]x[/bold]" in shown.output and "\\xff" in shown.output
    assert "\x1b" not in shown.output and "\u202e" not in shown.output
    missing = CliRunner().invoke(app, ["deadletter", "show", "0:9"])
    assert isinstance(missing.exception, UserError) and "holds offsets 0 to 1" in str(missing.exception)
    redis = redis_client(settings)
    try:
        future = datetime(2999, 1, 1, tzinfo=UTC)
        assert [letter.id for letter in letters if selected(letter, {"invalid_article"}, None)] == ["0:1"]
        assert [letter.id for letter in letters if selected(letter, set(), future)] == []
        summary = replay_letters(settings, letters, redis, dry_run=True)
        assert summary.sent == 2 and not summary.refused
        assert redis.scard(f"{settings.consumer_group}:deadletter-replayed:{settings.topic_deadletter}") == 0
    finally:
        redis.close()
