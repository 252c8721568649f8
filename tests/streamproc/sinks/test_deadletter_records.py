"""A batch's dead letters become the dead-letter topic's records: in order, keyed like the originals."""

from __future__ import annotations

import base64
import json

from streamproc.ingest.records import DeadLetter, RawRecord, Rejection, SourcePosition
from streamproc.sinks.deadletter import MAX_KEY_BYTES, deadletter_records


def test_each_letter_becomes_one_record_in_order() -> None:
    letters = [
        DeadLetter(RawRecord(b"not json", b"k1", SourcePosition("news.raw", 0, 7)), Rejection("invalid_json", "bad")),
        DeadLetter(RawRecord(None, None, SourcePosition("news.raw", 1, 3)), Rejection("invalid_json", "empty")),
        DeadLetter(
            RawRecord(b'{"id": "a"}', b"k" * (MAX_KEY_BYTES + 1), SourcePosition("news.raw", 2, 9)),
            Rejection("index_rejected", "400: mapper_parsing_exception"),
        ),
    ]
    records = deadletter_records(letters)
    assert [key for key, _, _ in records] == [b"k1", None, None]  # an oversized key is dropped, not cut
    envelopes = [json.loads(value) for _, value, _ in records]
    assert [(e["reason"], e["error"]) for e in envelopes] == [
        ("invalid_json", "bad"),
        ("invalid_json", "empty"),
        ("index_rejected", "400: mapper_parsing_exception"),
    ]
    assert [(e["source"]["partition"], e["source"]["offset"]) for e in envelopes] == [(0, 7), (1, 3), (2, 9)]
    assert base64.b64decode(envelopes[0]["original_base64"]) == b"not json" and envelopes[1]["original_size"] == 0
    assert deadletter_records([]) == []
