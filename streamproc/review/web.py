"""`streamproc review serve`: the review page (FastAPI + Jinja2, server-rendered, every text autoescaped).

One article at a time: the reviewer's held article or the next most uncertain one, and per reviewed task of the
task file its labels (display names and the one-line guide from the task file), the model's choice pre-selected
with its probabilities. Keys pick a label of the active task (1-9, 0, then letters) and move to the next task;
picking in the last task, or Enter, saves the choices (untouched tasks: the model is right) and shows the next
article; s skips, r rejects, u takes back one's last decision (the article comes back to be decided again).
An article with near-duplicate copies says how many: the decision labels them all.

Who decides: with reviewer accounts (`streamproc review users add NAME`, `streamproc.review.accounts`) everyone
logs in (a form; a signed, HttpOnly, SameSite=Strict session cookie) and the name comes from the login, recorded
as `"identity": "account"`. Without accounts the page binds loopback only and the reviewer types a name (a
cookie), recorded as `"identity": "self-named"`. Any other bind address needs accounts.
Requests for a `Host` other than the page's own names get HTTP 400 (DNS rebinding, `streamproc.hosts`); every
POST (decisions, undo, login) is checked for the same origin.
"""

from __future__ import annotations

import ipaddress
import os
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
from starlette.types import ASGIApp, Receive, Scope, Send

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.hosts import REFUSED, host_allowed
from streamproc.redact import redact
from streamproc.review.accounts import Accounts
from streamproc.review.desk import Identity, ReviewError, check_reviewer
from streamproc.review.service import ReviewService
from streamproc.tasks import Task, TaskSet

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
# Keys for the labels of the active task, in the task file's order (s, r and u skip, reject and undo).
LABEL_KEYS = "1234567890abcdefghijklmnopqtvwxyz"
COOKIE = "streamproc_reviewer"  # the self-chosen name (loopback, no accounts)
SESSION = "streamproc_session"  # the signed login session (accounts)
LABEL_FIELD = "label."  # form field `label.<task>` carries the reviewer's choice for a task
RETIRED_TOKEN = "STREAMPROC_REVIEW_WEB_TOKEN"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_retired_token() -> None:
    """The shared token gave no identity (anyone could pick any name, twice): it is refused with one line."""
    if os.environ.get(RETIRED_TOKEN):
        raise UserError(
            f"config error: {RETIRED_TOKEN} is no longer read: reviewers log in with accounts of their own "
            "(`streamproc review users add NAME`); unset it"
        )


def check_bind(host: str, accounts: bool) -> None:
    """A non-loopback address without reviewer accounts is refused (anyone on the network could decide, under
    any name)."""
    refuse_retired_token()
    if not is_loopback(host) and not accounts:
        raise UserError(
            f"the review page would be reachable from other hosts on {host}: add reviewer accounts first "
            "(`streamproc review users add NAME`; reviewers then log in), or bind 127.0.0.1"
        )


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
    refuse_retired_token()
    svc = service or ReviewService.from_settings(settings)
    accounts = Accounts(svc.desk.client, settings.review_key_prefix)
    loopback = is_loopback(bind_host or settings.review_web_host)
    app = FastAPI(title="streamproc review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(HostCheck, names=settings.host_names(bind_host or settings.review_web_host))  # outermost

    def identify(request: Request) -> tuple[str, Identity] | None:
        """Who is asking: the login's account, or (loopback without accounts) the self-chosen name."""
        if accounts.any():
            name = accounts.session_name(request.cookies.get(SESSION))
            return (name, "account") if name else None
        if not loopback:  # the accounts were removed while the page ran: nobody decides until there are some
            return None
        name = _reviewer(request)
        return (name, "self-named") if name else None

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, reviewer: str | None = None, msg: str | None = None) -> Response:
        with_accounts = await run_in_threadpool(accounts.any)
        if reviewer is not None and not with_accounts and loopback:
            try:
                check_reviewer(reviewer)
            except ReviewError as exc:
                return _render(request, "name.html", {"error": str(exc)}, status=400)
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, quote(reviewer), httponly=True, samesite="strict")
            return response
        who = await run_in_threadpool(identify, request)
        if who is None:
            if with_accounts or not loopback:
                return RedirectResponse("/login", status_code=303)
            return _render(request, "name.html", {"error": None})
        name, identity = who
        # Claiming on GET is kept, deliberately: a claim returns the article the reviewer already holds (renewing
        # its lease) and takes a new one only when it holds none, so reloading or a repeated GET never takes a
        # second; the reviewer and session cookies are SameSite=Strict, so another site's link, image or form
        # carries no reviewer and claims nothing; a rebound name (evil.example -> 127.0.0.1) is refused by
        # `HostCheck` before this runs; an unanswered claim goes back to the queue after
        # STREAMPROC_REVIEW_LEASE_SECONDS. Decisions, which change what is indexed, are POSTs checked for same
        # origin (`decide`, `undo`).
        items = await run_in_threadpool(svc.desk.claim, name, 1)
        stats = await run_in_threadpool(svc.desk.stats)
        done = sum(v for k, v in stats["by_reviewer"].get(name, {}).items() if k in ("label", "reject"))
        context = {
            "reviewer": name,
            "identity": identity,
            "item": None,
            "msg": msg,
            "waiting": stats["waiting"],
            "done": done,
            "votes_needed": svc.desk.votes_needed,
        }
        if items:
            item = items[0]
            context.update(
                item=item.summary,
                item_id=item.id,
                link=_safe_link(item.summary.get("url")),
                audit=item.audit,
                copies=item.copies,
                votes=item.votes,
                tasks=[task_view(settings.tasks[task], item.summary, item.audit) for task in settings.tasks.reviewed],
            )
        return _render(request, "review.html", context)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request) -> Response:
        return _render(request, "login.html", {"error": None})

    @app.post("/login")
    async def login(request: Request, name: str = Form(...), password: str = Form(...)) -> Response:
        if not _same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        if not await run_in_threadpool(accounts.login, name, password):
            locked = await run_in_threadpool(accounts.locked_for, name)
            if locked:
                error = f"로그인 실패가 너무 많습니다. {locked // 60 + 1}분 뒤에 다시 시도하세요."
                return _render(request, "login.html", {"error": error, "name": name}, status=429)
            error = "이름이나 비밀번호가 맞지 않습니다."
            return _render(request, "login.html", {"error": error, "name": name}, status=401)
        cookie = await run_in_threadpool(accounts.session, name, settings.review_session_hours)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION,
            cookie,
            max_age=int(settings.review_session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(COOKIE)
        return response

    @app.post("/decide")
    async def decide(request: Request, item_id: str = Form(...), decision: str = Form(...)) -> Response:
        if not _same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        who = await run_in_threadpool(identify, request)
        if who is None:
            return RedirectResponse("/", status_code=303)
        name, identity = who
        try:
            if decision == "label":
                labels = chosen_labels(await request.form(), settings.tasks)
                outcome = await run_in_threadpool(svc.label, item_id, name, labels, identity)
            elif decision == "skip":
                await run_in_threadpool(svc.skip, item_id, name, identity)
                return RedirectResponse("/", status_code=303)
            elif decision == "reject":
                outcome = await run_in_threadpool(svc.reject, item_id, name, identity)
            else:
                return PlainTextResponse("unknown decision", status_code=400)
        except (ReviewError, UserError) as exc:
            return RedirectResponse(f"/?msg={quote(str(exc))}", status_code=303)
        return RedirectResponse(_after(outcome.state, outcome.members, svc.desk.votes_needed), status_code=303)

    @app.post("/undo")
    async def undo(request: Request) -> Response:
        if not _same_origin(request):
            return PlainTextResponse("cross-site request refused", status_code=403)
        who = await run_in_threadpool(identify, request)
        if who is None:
            return RedirectResponse("/", status_code=303)
        shown = (await request.form()).get("item_id")
        try:
            if isinstance(shown, str) and shown:  # the article on screen goes back to its place, unseen
                await run_in_threadpool(svc.desk.release, shown, who[0])
            outcome = await run_in_threadpool(svc.undo, who[0])
        except (ReviewError, UserError) as exc:
            return RedirectResponse(f"/?msg={quote(str(exc))}", status_code=303)
        if outcome is None:
            message = "되돌릴 결정이 없습니다."
        elif outcome.state == "decided":
            message = f"{outcome.id}: 내 표를 거두었습니다 (다른 검토자들의 표로 결정은 그대로입니다)."
        else:
            message = f"{outcome.id}: 마지막 결정을 되돌렸습니다. 다시 골라 주세요."
        return RedirectResponse(f"/?msg={quote(message)}", status_code=303)

    @app.get("/logout")
    async def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        response.delete_cookie(SESSION)
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


def _after(state: str, members: tuple[str, ...], votes_needed: int) -> str:
    """Where a decision leads: the next article, with a line when it was a vote that waits for others, or when
    it labelled copies too."""
    if state == "open":
        return "/?msg=" + quote(f"표를 기록했습니다: {votes_needed}명이 같은 답을 고르면 결정됩니다.")
    if state == "disputed":
        return "/?msg=" + quote("검토자들의 답이 갈렸습니다: 조정할 목록(review resolve)으로 보냈습니다.")
    if members:
        return "/?msg=" + quote(f"결정이 같은 기사의 사본 {len(members)}건에도 적용되었습니다.")
    return "/"


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

    service = ReviewService.from_settings(settings)
    try:
        with_accounts = Accounts(service.desk.client, settings.review_key_prefix).any()
        check_bind(host, with_accounts)
        app = create_review_app(settings, service, bind_host=host)
    except BaseException:
        service.close()
        raise
    login = "reviewers log in with their accounts" if with_accounts else "no accounts: reviewers type a name"
    say(f"review page on http://{host}:{port}/ ({login}); Ctrl-C stops it")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        service.close()
