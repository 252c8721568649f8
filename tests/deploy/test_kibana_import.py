"""`streamproc kibana import` against a loopback HTTP server that answers like Kibana's saved-objects import API.

Kibana cannot run here (no package, no Docker), so the server below stands in for it: it checks what Kibana
checks (POST, `kbn-xsrf`, credentials, `overwrite=true`, a multipart `file` part with an `.ndjson` name) and
answers with Kibana's documented bodies for success, conflicts and authentication failure.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.paths import REPO_ROOT
from tests.servers import free_port

OBJECTS = REPO_ROOT / "deploy" / "kibana" / "saved-objects.ndjson"
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
USER, PASSWORD = "elastic", "s3cret-Pa55"


class FakeKibana(ThreadingHTTPServer):
    """Records every request; `mode` picks the answer: success, conflict."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), KibanaHandler)
        self.mode = "success"
        self.requests: list[dict[str, Any]] = []


class KibanaHandler(BaseHTTPRequestHandler):
    server: FakeKibana

    def log_message(self, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        seen = {
            "path": url.path,
            "query": parse_qs(url.query),
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        self.server.requests.append(seen)
        if not url.path.endswith("/api/saved_objects/_import"):
            return self._answer(404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})
        if "kbn-xsrf" not in {k.lower() for k in self.headers}:
            return self._answer(400, _error(400, "Bad Request", "Request must contain a kbn-xsrf header."))
        if self.headers.get("Authorization") not in (f"ApiKey {API_KEY}", _basic(USER, PASSWORD)):
            message = "[security_exception]: unable to authenticate user [elastic] for REST request"
            return self._answer(401, _error(401, "Unauthorized", message))
        parts = _multipart(self.headers.get("Content-Type", ""), body)
        if set(parts) != {"file"} or not parts["file"][0].endswith(".ndjson"):
            return self._answer(400, _error(400, "Bad Request", "[request body.file]: expected an .ndjson file"))
        objects = [json.loads(line) for line in parts["file"][1].splitlines() if line.strip()]
        if self.server.mode == "conflict":
            first = objects[0]
            error = {"id": first["id"], "type": first["type"], "title": "t", "meta": {}, "error": {"type": "conflict"}}
            return self._answer(200, {"success": False, "successCount": len(objects) - 1, "errors": [error]})
        results = [{"id": o["id"], "type": o["type"], "meta": {}} for o in objects]
        return self._answer(200, {"success": True, "successCount": len(objects), "successResults": results})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(status: int, error: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "error": error, "message": message}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """{field name: (file name, content)} of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data; boundary="):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {
        part.get_param("name", header="content-disposition"): (part.get_filename() or "", part.get_payload(decode=True))
        for part in message.iter_parts()
    }


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    server = FakeKibana(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _import(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    return subprocess.run(
        [sys.executable, "-m", "streamproc", "kibana", "import", "--url", url, *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _url(server: FakeKibana) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_import_posts_the_ndjson_with_kbn_xsrf_and_overwrite(kibana: FakeKibana) -> None:
    done = _import(_url(kibana), "--api-key", API_KEY)
    assert done.returncode == 0, done.stderr
    (request,) = kibana.requests
    assert request["path"] == "/api/saved_objects/_import" and request["query"] == {"overwrite": ["true"]}
    assert request["headers"]["kbn-xsrf"] and request["headers"]["authorization"] == f"ApiKey {API_KEY}"
    parts = _multipart(request["headers"]["content-type"], request["body"])
    assert parts["file"] == ("saved-objects.ndjson", OBJECTS.read_bytes())
    count = len(OBJECTS.read_text(encoding="utf-8").splitlines())
    assert f"imported {count} saved objects" in done.stdout and API_KEY not in done.stdout + done.stderr


def test_import_with_user_and_password_into_a_space(kibana: FakeKibana) -> None:
    done = _import(_url(kibana), "--user", USER, "--space", "news", env={"STREAMPROC_KIBANA_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    (request,) = kibana.requests
    assert request["path"] == "/s/news/api/saved_objects/_import"
    assert request["headers"]["authorization"] == _basic(USER, PASSWORD)
    assert PASSWORD not in done.stdout + done.stderr


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    return line


def test_a_conflict_is_reported_with_the_object(kibana: FakeKibana) -> None:
    kibana.mode = "conflict"
    line = _one_line_error(_import(_url(kibana), "--api-key", API_KEY))
    first = json.loads(OBJECTS.read_text(encoding="utf-8").splitlines()[0])
    assert "refused 1" in line and f"{first['type']} {first['id']} (conflict)" in line


def test_wrong_credentials_give_one_line_without_the_secret(kibana: FakeKibana) -> None:
    line = _one_line_error(_import(_url(kibana), "--user", USER, env={"STREAMPROC_KIBANA_PASSWORD": "wrong-pw"}))
    assert "refused the credentials (401)" in line and "unable to authenticate" in line and "wrong-pw" not in line


def test_an_unreachable_kibana_gives_one_line() -> None:
    line = _one_line_error(_import(f"http://127.0.0.1:{free_port()}", "--api-key", API_KEY))
    assert "cannot reach Kibana at http://127.0.0.1:" in line and API_KEY not in line


def test_credentials_in_the_url_are_refused_and_not_printed(kibana: FakeKibana) -> None:
    port = kibana.server_address[1]
    line = _one_line_error(_import(f"http://admin:hunter22@127.0.0.1:{port}"))
    assert "keep credentials out of the Kibana URL" in line and "hunter22" not in line
    assert kibana.requests == []
