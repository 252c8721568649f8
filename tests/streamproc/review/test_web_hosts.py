"""DNS rebinding: the review page answers only to its own host names (issue 21, defect 2).

A page on `evil.example` that rebinds its name to 127.0.0.1 is same-origin with itself: its requests carry
`Host: evil.example:PORT`, `Origin: http://evil.example:PORT` and a reviewer cookie it set itself. Before the
Host check, such a page set the name "mallory" and rejected an article (a rejected article is never queued
again). The page runs in uvicorn on a real port; requests are raw HTTP with the headers a browser would send.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
import uvicorn

from streamproc.config import Settings
from streamproc.hosts import REFUSED
from streamproc.review.service import ReviewService
from streamproc.review.web import create_review_app
from streamproc.stack.provision import create_index
from tests.review_items import index_documents, push, worker_document
from tests.servers import free_port, wait_for_port


@contextmanager
def _serving(settings: Settings) -> Iterator[tuple[int, ReviewService]]:
    service = ReviewService.from_settings(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_review_app(settings, service), "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield port, service
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.close()


def _request(port: int, method: str, path: str, host: str, headers: dict[str, str], body: str = ""):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True)
        connection.putheader("Host", host)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body.encode())))
        connection.endheaders(body.encode())
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode()
    finally:
        connection.close()


def _attack(port: int, host: str, item_id: str) -> list[int]:
    """What the rebinding page does: name itself, open the page (a claim), reject the article."""
    origin = {"Origin": f"http://{host}", "Cookie": "streamproc_reviewer=mallory"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    statuses = [
        _request(port, "GET", "/?reviewer=mallory", host, {})[0],
        _request(port, "GET", "/", host, origin)[0],
        _request(
            port, "POST", "/decide", host, {**origin, **form}, urlencode({"item_id": item_id, "decision": "reject"})
        )[0],
    ]
    return statuses


@pytest.fixture
def queued(settings: Settings) -> str:
    create_index(settings)
    doc = worker_document("rebind-1", "국회 예산안 처리 합의", 0)
    index_documents(settings, [doc])
    push(settings, [doc])
    return doc["id"]


def test_a_rebound_name_can_neither_read_nor_decide(settings: Settings, queued: str) -> None:
    with _serving(settings) as (port, service):
        statuses = _attack(port, f"evil.example:{port}", queued)
        status, headers, body = _request(port, "GET", "/healthz", f"evil.example:{port}", {})
        stats = service.desk.stats()
        waiting = [item for item, _ in service.desk.waiting()]
    assert statuses == [400, 400, 400]
    assert status == 400 and body == REFUSED and headers["content-type"].startswith("text/plain")
    assert "\n" not in body
    assert stats["rejected"] == 0 and "mallory" not in stats["by_reviewer"]
    assert waiting == [queued]  # not claimed, not rejected


def test_its_own_names_and_the_configured_one_are_answered(
    settings: Settings, queued: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMPROC_ALLOWED_HOSTS", "review.example.com")
    with _serving(Settings()) as (port, service):
        answers = {
            host: _request(port, "GET", "/healthz", host, {})[0]
            for host in (f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", "review.example.com", "[::1]:1")
        }
        refused = {
            host: _request(port, "GET", "/healthz", host, {})[0]
            for host in ("evil.example", "review.example.com.evil.example", "127.0.0.1.nip.io", "", "[::2]")
        }
        page = _request(port, "GET", "/", f"127.0.0.1:{port}", {"Cookie": "streamproc_reviewer=kim"})
        stats = service.desk.stats()
    assert set(answers.values()) == {200}, answers
    assert set(refused.values()) == {400}, refused
    assert page[0] == 200 and "국회 예산안 처리 합의" in page[2]
    assert stats["leased"] == 1  # the reviewer's own GET claims, as before (see the comment in `page`)
