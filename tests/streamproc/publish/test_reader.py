"""Reading JSONL and CSV article files for the publisher."""

from __future__ import annotations

import json
from pathlib import Path

from streamproc.publish.reader import read_records


def test_jsonl_keeps_lines_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "1", "title": "가"}\n\nnot json\n{"id": "2"}\r\n', encoding="utf-8")
    assert list(read_records(str(path))) == [b'{"id": "1", "title": "\xea\xb0\x80"}', b"not json", b'{"id": "2"}']


def test_csv_rows_become_json_objects(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,title,body,published_at\n1,"제목, 쉼표",,2026-11-20T09:00:00Z\n', encoding="utf-8")
    (record,) = read_records(str(path))
    assert json.loads(record) == {"id": "1", "title": "제목, 쉼표", "published_at": "2026-11-20T09:00:00Z"}
