"""The review page binds loopback by default; other addresses need the token, and the token is checked."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.review.web import check_bind, create_review_app


def test_a_public_address_needs_a_token(settings: Settings) -> None:
    check_bind("127.0.0.1", settings)
    check_bind("::1", settings)
    with pytest.raises(UserError, match="STREAMPROC_REVIEW_WEB_TOKEN"):
        check_bind("0.0.0.0", settings)
    check_bind("0.0.0.0", settings.model_copy(update={"review_web_token": "s3cret"}))


def test_the_token_is_required_on_every_request(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REVIEW_WEB_TOKEN", "s3cret-token")
    client = TestClient(create_review_app(Settings()), base_url="http://127.0.0.1:8066")
    refused = client.get("/healthz")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"kim:nope").decode()
    assert client.get("/healthz", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    right = base64.b64encode(b"kim:s3cret-token").decode()
    assert client.get("/healthz", headers={"Authorization": f"Basic {right}"}).status_code == 200
    assert client.get("/healthz", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    page = client.get("/?reviewer=kim", headers={"Authorization": "Bearer s3cret-token"}, follow_redirects=False)
    assert page.status_code == 303
    cross_site = client.post(
        "/decide",
        data={"item_id": "a", "decision": "skip"},
        headers={"Authorization": "Bearer s3cret-token", "Origin": "http://evil.example"},
    )
    assert cross_site.status_code == 403


def test_redis_down_is_a_clear_503(settings: Settings) -> None:
    from tests.servers import free_port

    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    client = TestClient(
        create_review_app(down), base_url="http://127.0.0.1:8066", cookies={"streamproc_reviewer": "kim"}
    )
    answer = client.get("/")
    assert answer.status_code == 503 and "Redis does not answer" in answer.text
