"""Who decides on the review page: reviewer accounts (Argon2id hashes in Redis, a signed session cookie) wherever
the page is reachable from other hosts; a self-chosen name on loopback without accounts, recorded as such."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from streamproc.config import Settings
from streamproc.connections import redis_client
from streamproc.errors import UserError
from streamproc.review.accounts import MAX_LOGIN_FAILURES, Accounts
from streamproc.review.desk import ReviewError
from streamproc.review.service import ReviewService
from streamproc.review.web import SESSION, check_bind, create_review_app
from streamproc.stack.provision import create_index
from tests.review_items import index_documents, push, worker_document

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(settings: Settings):
    client = redis_client(settings)
    yield Accounts(client, settings.review_key_prefix)
    client.close()


def test_a_public_address_needs_accounts_and_the_token_is_retired(monkeypatch: pytest.MonkeyPatch) -> None:
    check_bind("127.0.0.1", accounts=False)
    check_bind("::1", accounts=False)
    with pytest.raises(UserError, match="add reviewer accounts first"):
        check_bind("0.0.0.0", accounts=False)
    check_bind("0.0.0.0", accounts=True)
    monkeypatch.setenv("STREAMPROC_REVIEW_WEB_TOKEN", "s3cret-token")
    with pytest.raises(UserError, match="STREAMPROC_REVIEW_WEB_TOKEN is no longer read") as refused:
        check_bind("127.0.0.1", accounts=True)
    assert "s3cret-token" not in str(refused.value) and "\n" not in str(refused.value)


def test_accounts_keep_only_argon2_hashes_and_sessions_are_signed(settings: Settings, accounts: Accounts) -> None:
    accounts.add("kim", PASSWORD)
    with pytest.raises(ReviewError, match="exists"):
        accounts.add("kim", "another password")
    with pytest.raises(ReviewError, match="at least 8"):
        accounts.add("lee", "short")
    stored = accounts.client.hget(accounts.key, "kim")
    assert PASSWORD.encode() not in stored and json.loads(stored)["hash"].startswith("$argon2id$")
    assert accounts.verify("kim", PASSWORD) and not accounts.verify("kim", "wrong password")
    assert not accounts.verify("nobody", PASSWORD)
    assert [a.name for a in accounts.list()] == ["kim"]
    cookie = accounts.session("kim", hours=1, now=1000.0)
    assert accounts.session_name(cookie, now=1000.0) == "kim"
    assert accounts.session_name(cookie, now=1000.0 + 3601) is None  # expired
    name, expiry, nonce, signature = cookie.split("|")
    forged = "|".join([name, str(int(expiry) + 10**6), nonce, signature])
    assert accounts.session_name(forged, now=1000.0) is None  # a longer life is not signed
    assert accounts.session_name(cookie.replace(signature, "0" * 64), now=1000.0) is None
    accounts.add("kim", "a new password", replace=True)  # a new password ends the old sessions
    assert accounts.session_name(cookie, now=1000.0) is None
    fresh = accounts.session("kim", hours=1, now=1000.0)
    accounts.remove("kim")
    assert accounts.session_name(fresh, now=1000.0) is None and not accounts.any()


def test_with_accounts_the_name_comes_from_the_login(
    settings: Settings, accounts: Accounts, caplog: pytest.LogCaptureFixture
) -> None:
    create_index(settings)
    docs = [worker_document("p1", "국회 예산안 처리", 1)]
    index_documents(settings, docs)
    push(settings, docs)
    accounts.add("kim", PASSWORD)
    service = ReviewService.from_settings(settings)
    client = TestClient(create_review_app(settings, service, bind_host="0.0.0.0"), base_url="http://127.0.0.1:8066")
    caplog.set_level(logging.DEBUG)
    try:
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
        # a self-chosen name is not a login
        assert client.get("/?reviewer=mallory", follow_redirects=False).headers["location"] == "/login"
        wrong = client.post("/login", data={"name": "kim", "password": "guess guess"})
        assert wrong.status_code == 401 and "맞지 않습니다" in wrong.text
        cross_site = client.post(
            "/login", data={"name": "kim", "password": PASSWORD}, headers={"Origin": "http://evil.example"}
        )
        assert cross_site.status_code == 403
        right = client.post("/login", data={"name": "kim", "password": PASSWORD}, follow_redirects=False)
        assert right.status_code == 303
        cookie = right.headers["set-cookie"]
        assert cookie.startswith(SESSION) and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        page = client.get("/")
        assert 'data-identity="account"' in page.text and ">kim<" in page.text
        # the form cannot name another reviewer: the decision is kim's
        saved = client.post(
            "/decide",
            data={"item_id": "p1", "decision": "label", "label.topic": "politics", "reviewer": "mallory"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        record = service.desk.decisions()["p1"]
        assert (record["reviewer"], record["identity"]) == ("kim", "account")
        (entry,) = service.desk.audit()
        assert json.loads(entry["record"])["identity"] == "account" and entry["reviewer"] == "kim"
        client.get("/logout")
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    finally:
        service.close()
    assert PASSWORD not in caplog.text and "guess guess" not in caplog.text


def test_failed_logins_lock_the_name_for_a_while(settings: Settings, accounts: Accounts) -> None:
    accounts.add("kim", PASSWORD)
    accounts.add("lee", PASSWORD)
    service = ReviewService.from_settings(settings)
    client = TestClient(create_review_app(settings, service, bind_host="0.0.0.0"), base_url="http://127.0.0.1:8066")
    try:
        for _ in range(MAX_LOGIN_FAILURES - 1):
            assert client.post("/login", data={"name": "kim", "password": "guess guess"}).status_code == 401
        assert accounts.locked_for("kim") == 0
        last = client.post("/login", data={"name": "kim", "password": "guess guess"})
        assert last.status_code == 429 and "너무 많습니다" in last.text
        assert 0 < accounts.locked_for("kim") <= 900
        # locked: even the right password is refused, and another name is not affected
        assert client.post("/login", data={"name": "kim", "password": PASSWORD}).status_code == 429
        assert (
            client.post("/login", data={"name": "lee", "password": PASSWORD}, follow_redirects=False).status_code == 303
        )
        # once the lock has run out (shortened here on the real Redis), the right password logs in and clears it
        accounts.client.expire(accounts.failures_prefix + "kim", 1)
        time.sleep(1.5)
        assert (
            client.post("/login", data={"name": "kim", "password": PASSWORD}, follow_redirects=False).status_code == 303
        )
        assert accounts.client.get(accounts.failures_prefix + "kim") is None
    finally:
        service.close()


def test_without_accounts_on_loopback_the_name_is_self_chosen_and_said_so(settings: Settings) -> None:
    create_index(settings)
    docs = [worker_document("q1", "국회 예산안 처리", 1)]
    index_documents(settings, docs)
    push(settings, docs)
    service = ReviewService.from_settings(settings)
    client = TestClient(create_review_app(settings, service), base_url="http://127.0.0.1:8066")
    try:
        client.get("/?reviewer=lee")
        page = client.get("/")
        assert 'data-identity="self-named"' in page.text and "이름만" in page.text
        client.post("/decide", data={"item_id": "q1", "decision": "reject"})
        assert service.desk.decisions()["q1"]["identity"] == "self-named"
    finally:
        service.close()


def test_redis_down_is_a_clear_503(settings: Settings) -> None:
    from tests.servers import free_port

    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    client = TestClient(
        create_review_app(down), base_url="http://127.0.0.1:8066", cookies={"streamproc_reviewer": "kim"}
    )
    answer = client.get("/")
    assert answer.status_code == 503 and "Redis does not answer" in answer.text
