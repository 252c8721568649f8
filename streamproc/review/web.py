"""`streamproc review serve`: the review page (FastAPI + Jinja2, server-rendered, every text autoescaped).

One article at a time: the reviewer's held article or the next most uncertain one, and per reviewed task of the
task file its labels (display names and the one-line guide from the task file), the model's choice pre-selected
with its probabilities. Keys pick a label of the active task (1-9, 0, then letters) and move to the next task;
picking in the last task, or Enter, saves the choices (untouched tasks: the model is right) and shows the next
article; s skips, r rejects. The reviewer's name is a cookie set from
`/?reviewer=NAME` or the name form. Binds 127.0.0.1 by default; any other address needs
`STREAMPROC_REVIEW_WEB_TOKEN` (HTTP basic auth, the token is the password; or `Authorization: Bearer`).
Requests for a `Host` other than the page's own names get HTTP 400 (DNS rebinding, `streamproc.hosts`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.hosts import REFUSED, host_allowed
from streamproc.redact import redact
from streamproc.review.desk import ReviewError, check_reviewer
from streamproc.review.service import ReviewService
from streamproc.tasks import Task, TaskSet

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
# Keys for the labels of the active task, in the task file's order (s and r skip and reject).
LABEL_KEYS = "1234567890abcdefghijklmnopqtvwxyz"
COOKIE = "streamproc_reviewer"
LABEL_FIELD = "label."  # form field `label.<task>` carries the reviewer's choice for a task


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """A non-loopback address without a token is refused (the page would be open to the network)."""
    if not is_loopback(host) and settings.review_web_token is None:
        raise UserError(
            f"the review page would be reachable from other hosts on {host}: set STREAMPROC_REVIEW_WEB_TOKEN "
            "(reviewers log in with it as the password), or bind 127.0.0.1"
        )


class TokenAuth(BaseHTTPMiddleware):
    """HTTP basic auth (any user name, the token as password) or a bearer token; constant-time compare."""

    def __init__(self, app, token: str) -> None:
        super().__init__(app)
        self.token = token.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if self._allowed(request.headers.get("authorization", "")):
            return await call_next(request)
        return PlainTextResponse(
            "log in with the review token", status_code=401, headers={"WWW-Authenticate": 'Basic realm="streamproc"'}
        )

    def _allowed(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value.strip().encode(), self.token)
        if scheme.lower() == "basic":
            try:
                _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return secrets.compare_digest(password.encode(), self.token)
        return False


class HostCheck:
    """HTTP 400 for a request whose `Host` is not one of the page's names: a rebound name is not let in."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not host_allowed(Headers(scope=scope).get("host"), self.names):
            await PlainTextResponse(REFUSED, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_review_app(
    settings: Settings, service: ReviewService | None = None, bind_host: str | None = None
) -> FastAPI:
    """The review page's ASGI app, answering to the `Host` names of a server bound to `bind_host`."""
    svc = service or ReviewService.from_settings(settings)
    app = FastAPI(title="streamproc review", docs_url=None, redoc_url=None, openapi_url=None)
    if settings.review_web_token is not None:
        app.add_middleware(TokenAuth, token=settings.review_web_token.get_secret_value())
    app.add_middleware(HostCheck, names=settings.host_names(bind_host or settings.review_web_host))  # outermost

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, reviewer: str | None = None, msg: str | None = None) -> Response:
        if reviewer is not None:
            try:
                check_reviewer(reviewer)
            except ReviewError as exc:
                return _render(request, "name.html", {"error": str(exc)}, status=400)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, quote(reviewer), httponly=True, samesite="strict")
            return response
        name = _reviewer(request)
        if name is None:
            return _render(request, "name.html", {"error": None})
        # Claiming on GET is kept, deliberately: a claim returns the article the reviewer already holds (renewing
        # its lease) and takes a new one only when it holds none, so reloading or a repeated GET never takes a
        # second; the reviewer cookie is SameSite=Strict, so another site's link, image or form carries no
        # reviewer and claims nothing; a rebound name (evil.example -> 127.0.0.1) is refused by `HostCheck`
        # before this runs; an unanswered claim goes back to the queue after STREAMPROC_REVIEW_LEASE_SECONDS.
        # Decisions, which change what is indexed, are POSTs checked for same origin (`decide`).
        items = await run_in_threadpool(svc.desk.claim, name, 1)
        stats = await run_in_threadpool(svc.desk.stats)
        done = sum(stats["by_reviewer"].get(name, {}).values())
        context = {"reviewer": name, "item": None, "msg": msg, "waiting": stats["waiting"], "done": done}
        if items:
            item = items[0]
            context.update(
                item=item.summary,
                item_id=item.id,
                link=_safe_link(item.summary.get("url")),
                audit=item.audit,
                tasks=[task_view(settings.tasks[task], item.summary, item.audit) for task in settings.tasks.reviewed],
            )
        return _render(request, "review.html", context)

    @app.post("/decide")
    async def decide(request: Request, item_id: str = Form(...), decision: str = Form(...)) -> Response:
        if not _same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        name = _reviewer(request)
        if name is None:
            return RedirectResponse("/", status_code=303)
        try:
            if decision == "label":
                labels = chosen_labels(await request.form(), settings.tasks)
                await run_in_threadpool(svc.label, item_id, name, labels)
            elif decision == "skip":
                await run_in_threadpool(svc.skip, item_id, name)
            elif decision == "reject":
                await run_in_threadpool(svc.reject, item_id, name)
            else:
                return PlainTextResponse("unknown decision", status_code=400)
        except (ReviewError, UserError) as exc:
            return RedirectResponse(f"/?msg={quote(str(exc))}", status_code=303)
        return RedirectResponse("/", status_code=303)

    @app.get("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def redis_down(request: Request, exc: Exception) -> Response:
        message = f"Redis does not answer ({redact(settings.redis_url)}); try again soon"
        return PlainTextResponse(message, status_code=503)

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    app.state.service = svc
    return app


def task_view(task: Task, summary: dict[str, Any], blind: bool = False) -> dict[str, Any]:
    """What the page shows of one task: its labels with keys, and the model's choice and top probabilities
    (none of the model's answers when `blind`: an article of the audit sample, where they would anchor the
    reviewer)."""
    answer = {} if blind else summary.get(task.name) or {}
    probabilities: dict[str, float] = answer.get("probabilities") or {}
    display = {label.name: label.display for label in task.labels}
    return {
        "name": task.name,
        "display": task.display,
        "description": task.description,
        # keys follow the task file's label order, so they stay the same from one article to the next
        "labels": [
            {
                "key": LABEL_KEYS[i] if i < len(LABEL_KEYS) else "",
                "name": label.name,
                "display": label.display,
                "description": label.description,
            }
            for i, label in enumerate(task.labels)
        ],
        "model_label": answer.get("label"),
        "top": [
            (display.get(label, label), p) for label, p in sorted(probabilities.items(), key=lambda kv: -kv[1])[:3]
        ],
    }


def chosen_labels(form: Mapping[str, Any], tasks: TaskSet) -> dict[str, str]:
    """The reviewer's choice per reviewed task from the decision form (tasks left empty are not labeled)."""
    labels = {}
    for task in tasks.reviewed:
        value = form.get(LABEL_FIELD + task)
        if isinstance(value, str) and value:
            labels[task] = value
    return labels


def _render(request: Request, template: str, context: dict, status: int = 200) -> Response:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _reviewer(request: Request) -> str | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    name = unquote(raw)
    try:
        check_reviewer(name)
    except ReviewError:
        return None
    return name


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def _safe_link(url: object) -> str | None:
    """Only http(s) links become clickable (a `javascript:` URL from a publisher must not)."""
    if isinstance(url, str) and urlsplit(url).scheme in ("http", "https"):
        return url
    return None


def run_server(settings: Settings, host: str, port: int, say: Callable[[str], None] = print) -> None:
    """Serve the page until Ctrl-C."""
    import uvicorn

    check_bind(host, settings)
    app = create_review_app(settings, bind_host=host)
    auth = "token required" if settings.review_web_token is not None else "no login (loopback only)"
    say(f"review page on http://{host}:{port}/ ({auth}); Ctrl-C stops it")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        app.state.service.close()
