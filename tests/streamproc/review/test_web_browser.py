"""The review page in a real browser: Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from streamproc.config import Settings
from streamproc.connections import async_redis_client, redis_client
from streamproc.ingest.model_text import model_text
from streamproc.review.accounts import Accounts
from streamproc.review.service import ReviewService
from streamproc.review.stories import StoryIndex, fingerprint, lsh_layout
from streamproc.review.web import create_review_app
from streamproc.stack.provision import create_index
from streamproc.tasks import DEFAULT_TASKS_FILE
from tests.review_items import index_documents, push, run_coroutine, worker_document
from tests.servers import free_port, wait_for_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)")


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The review page served by uvicorn on a free loopback port, in a thread of the test process."""
    create_index(settings)
    service = ReviewService.from_settings(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_review_app(settings, service), "127.0.0.1", port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        service.close()


@pytest.fixture
def page_url(settings: Settings) -> Iterator[str]:
    """The review page of the test's settings."""
    with serving(settings) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


def _queue(settings: Settings, docs: list[dict]) -> None:
    index_documents(settings, docs)
    push(settings, docs)


def _docs(n: int, prefix: str = "w") -> list[dict]:
    docs = [worker_document(f"{prefix}{i}", f"{prefix}{i}번 기사: 국회 예산안 처리 합의", i) for i in range(n)]
    for i, doc in enumerate(docs):
        doc["uncertainty"]["max"] = 0.99 - i / 100  # w0 is the most uncertain
    return docs


def test_keyboard_labels_and_the_next_article_appears(
    settings: Settings, page_url: str, browser, tmp_path: Path
) -> None:
    _queue(settings, _docs(3))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{page_url}/?reviewer=alice")
    assert page.locator("#article").get_attribute("data-id") == "w0"
    assert page.locator("#waiting").inner_text() == "2"  # w0 is leased to alice
    page.screenshot(path=str(tmp_path / "review-page-laptop.png"), full_page=True)
    # one fieldset per reviewed task of the task file, with its display name and the guide's labels
    assert page.locator("fieldset.task").count() == 3 and page.locator("#task-emotion legend").inner_text().startswith(
        "감정"
    )
    assert page.locator('#task-topic input[value="it"]').is_checked()  # the model's answer, pre-selected
    assert not page.locator("#task-emotion input:checked").count()  # no answer: nothing pre-selected
    page.keyboard.press("4")  # topic: the fourth label (culture); the next task becomes active
    page.keyboard.press("2")  # sentiment: the second (neutral)
    page.keyboard.press("4")  # emotion: the fourth (neutral), the last task: saves and moves on
    page.wait_for_selector('#article[data-id="w1"]')
    assert page.locator("#done").inner_text() == "1"
    page.keyboard.press("r")  # reject w1
    page.wait_for_selector('#article[data-id="w2"]')
    page.keyboard.press("Enter")  # the model is right ... but it has no emotion: that task becomes active
    assert page.locator("#task-emotion").get_attribute("class") == "task active"
    page.keyboard.press("3")  # joy: the last task, saves
    page.wait_for_selector("#empty")
    service = ReviewService.from_settings(settings)
    try:
        decisions = service.desk.decisions()
        assert decisions["w0"]["labels"] == {"topic": "culture", "sentiment": "neutral", "emotion": "neutral"}
        assert decisions["w0"]["reviewer"] == "alice"
        assert decisions["w1"]["decision"] == "reject"
        assert decisions["w2"]["labels"] == {"topic": "it", "sentiment": "neutral", "emotion": "joy"}
        service.es.indices.refresh(index=settings.es_index)
        source = service.es.get(index=settings.es_index, id="w0")["_source"]
        assert source["review"]["topic"] == "culture" and source["label_source"] == "reviewed"
    finally:
        service.close()
    assert (tmp_path / "review-page-laptop.png").stat().st_size > 10_000


def test_two_reviewers_never_see_the_same_article(settings: Settings, page_url: str, browser, tmp_path: Path) -> None:
    _queue(settings, _docs(6, "t"))
    alice, bob = browser.new_context(), browser.new_context(viewport={"width": 390, "height": 844})
    pages = [alice.new_page(), bob.new_page()]
    pages[0].goto(f"{page_url}/?reviewer=alice")
    pages[1].goto(f"{page_url}/?reviewer=bob")
    pages[1].screenshot(path=str(tmp_path / "review-page-phone.png"), full_page=True)
    assert pages[1].evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    seen: dict[int, list[str]] = {0: [], 1: []}
    for _ in range(3):
        for who, page in enumerate(pages):
            current = page.locator("#article").get_attribute("data-id")
            seen[who].append(current)
            for _ in range(3):  # the first label of each of the three tasks; the last one saves
                page.keyboard.press("1")
            page.wait_for_function(
                "id => !document.getElementById('article') || document.getElementById('article').dataset.id !== id",
                arg=current,
            )
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == [f"t{i}" for i in range(6)]
    alice.close()
    bob.close()


def test_script_in_a_title_is_shown_as_text(settings: Settings, page_url: str, browser) -> None:
    title = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> [bold]제목[/bold]'
    doc = worker_document("x1", title, 1)
    doc["url"] = "javascript:alert(1)"
    _queue(settings, [doc])
    page = browser.new_page()
    page.goto(f"{page_url}/?reviewer=mallory")
    time.sleep(0.2)
    assert page.locator("#title").inner_text() == title
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#article a[href^='javascript']").count() == 0


def test_an_audit_item_is_shown_blind(settings: Settings, page_url: str, browser, tmp_path: Path) -> None:
    """An article of the audit sample: the model's answers are neither shown nor pre-selected, so Enter alone does
    not save; every task must be chosen."""
    docs = _docs(1, "a")
    index_documents(settings, docs)
    push(settings, docs, audit=frozenset({"a0"}))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{page_url}/?reviewer=alice")
    assert page.locator("#article").get_attribute("data-audit") == "1"
    assert "모델의 답은 보여 주지 않으니" in page.locator("#audit-note").inner_text()
    assert page.locator("input[type=radio]:checked").count() == 0
    assert page.locator(".model-said").count() == 0 and "50%" not in page.locator("#article").inner_text()
    page.screenshot(path=str(tmp_path / "review-page-audit.png"), full_page=True)
    page.keyboard.press("Enter")  # nothing chosen: the first task stays active, nothing is saved
    assert page.locator("#task-topic").get_attribute("class") == "task active"
    for key in ("6", "1", "4"):  # it, positive, neutral
        page.keyboard.press(key)
    page.wait_for_selector("#empty")
    service = ReviewService.from_settings(settings)
    try:
        record = service.desk.decisions()["a0"]
    finally:
        service.close()
    assert record["audit"] is True
    assert record["labels"] == {"topic": "it", "sentiment": "positive", "emotion": "neutral"}


STORY_BODY = (
    "정부가 내년도 예산안을 656조 원 규모로 편성해 국회에 제출했다. "
    "복지 지출을 크게 늘렸고 국방 예산도 4% 넘게 증가했다. "
    "야당은 재정 건전성 대책이 부족하다고 비판했다. 국회는 12월 2일까지 예산안을 처리할 계획이다."
)


def _story(settings: Settings) -> list[dict]:
    """An article and two republished copies (another byline; an outlet tag and the last sentence dropped), put
    into their story by the story index as the worker does."""
    texts = {
        "st0": ("정부, 내년 예산 656조 원 편성", STORY_BODY),
        "st1": ("정부, 내년 예산 656조 원 편성", "(서울=뉴스1) 홍길동 기자 = " + STORY_BODY),
        "st2": ("[한빛일보] 정부 내년 예산 656조 원 편성!", STORY_BODY.rsplit(". ", 1)[0] + "."),
    }
    layout = lsh_layout(settings.story_threshold)
    prints = [(i, fingerprint(model_text(*t), layout)) for i, t in texts.items()]

    async def assign() -> list[str]:
        client = async_redis_client(settings)
        try:
            index = StoryIndex(client, settings.review_key_prefix, settings.story_threshold, settings.story_days)
            return [info.story_id for info in await index.assign(prints)]
        finally:
            await client.aclose()

    docs = []
    for n, ((doc_id, (title, body)), story) in enumerate(zip(texts.items(), run_coroutine(assign()), strict=True)):
        doc = worker_document(doc_id, title, n)
        doc["body"], doc["story_id"] = body, story
        doc["uncertainty"]["max"] = 0.9 + n / 100
        docs.append(doc)
    return docs


def _decisions(settings: Settings) -> dict:
    service = ReviewService.from_settings(settings)
    try:
        service.es.indices.refresh(index=settings.es_index)
        hits = service.es.search(index=settings.es_index, size=50, query={"match_all": {}})["hits"]["hits"]
        return {"redis": service.desk.decisions(), "es": {h["_id"]: h["_source"] for h in hits}}
    finally:
        service.close()


def test_a_story_with_copies_is_labelled_once(settings: Settings, page_url: str, browser, tmp_path: Path) -> None:
    docs = _story(settings)
    assert {d["story_id"] for d in docs} == {"st0"}
    _queue(settings, docs)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{page_url}/?reviewer=alice")
    assert page.locator("#article").get_attribute("data-id") == "st2"  # the most uncertain copy represents it
    assert page.locator("#copies").get_attribute("data-copies") == "2"
    assert "사본 2건" in page.locator("#copies").inner_text()
    assert page.locator("#waiting").inner_text() == "0"  # one item for three articles
    page.screenshot(path=str(tmp_path / "review-page-story.png"), full_page=True)
    for key in ("2", "2", "4"):  # economy, neutral, neutral: the last task saves
        page.keyboard.press(key)
    page.wait_for_selector("#empty")
    assert "사본 2건에도 적용" in page.locator("#msg").inner_text()
    found = _decisions(settings)
    assert list(found["redis"]) == ["st2"]  # one decision, trained on once
    for doc_id in ("st0", "st1"):
        source = found["es"][doc_id]
        assert source["label_source"] == "reviewed_duplicate" and source["review"]["via_duplicate_of"] == "st2"
        assert source["review"]["topic"] == "economy" and source["story_id"] == "st0"
    assert found["es"]["st2"]["label_source"] == "reviewed"


def test_a_second_reviewers_vote_decides(settings: Settings, browser, tmp_path: Path) -> None:
    two = settings.model_copy(update={"review_votes": 2})
    create_index(two)
    _queue(two, _docs(1, "v"))
    with serving(two) as url:
        alice, bob = browser.new_context(), browser.new_context()
        first, second = alice.new_page(), bob.new_page()
        first.goto(f"{url}/?reviewer=alice")
        assert "2명이 같은 답을 고르면" in first.locator("#votes").inner_text()
        for key in ("1", "2", "4"):  # politics, neutral, neutral
            first.keyboard.press(key)
        first.wait_for_selector("#empty")  # alice never gets v0 again
        assert "표를 기록했습니다" in first.locator("#msg").inner_text()
        assert _decisions(two)["es"]["v0"]["label_source"] == "model"  # one vote decides nothing
        second.goto(f"{url}/?reviewer=bob")
        assert second.locator("#article").get_attribute("data-id") == "v0"
        assert "이미 1표" in second.locator("#votes").inner_text()  # the count, never alice's answer
        second.screenshot(path=str(tmp_path / "review-page-second-vote.png"), full_page=True)
        for key in ("1", "2", "4"):
            second.keyboard.press(key)
        second.wait_for_selector("#empty")
        alice.close()
        bob.close()
    found = _decisions(two)
    assert found["redis"]["v0"]["voters"] == ["alice", "bob"]
    assert found["es"]["v0"]["review"]["votes"] == 2 and found["es"]["v0"]["review"]["topic"] == "politics"


def test_login_by_account(settings: Settings, page_url: str, browser, tmp_path: Path) -> None:
    _queue(settings, _docs(1, "l"))
    client = redis_client(settings)
    try:
        Accounts(client, settings.review_key_prefix).add("alice", "alice-password-1")
    finally:
        client.close()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{page_url}/?reviewer=mallory")  # a typed name is no login
    assert page.url.endswith("/login")
    page.fill("#name", "alice")
    page.fill("#password", "wrong-password")
    page.click("#login")
    assert "맞지 않습니다" in page.locator("#msg").inner_text()
    page.fill("#password", "alice-password-1")
    page.screenshot(path=str(tmp_path / "review-login.png"), full_page=True)
    page.click("#login")
    page.wait_for_selector("#article")
    assert page.locator("#reviewer").inner_text() == "alice"
    assert page.locator("#reviewer").get_attribute("data-identity") == "account"
    page.keyboard.press("r")
    page.wait_for_selector("#empty")
    record = _decisions(settings)["redis"]["l0"]
    assert (record["reviewer"], record["identity"], record["decision"]) == ("alice", "account", "reject")


def test_undo_brings_the_last_article_back(settings: Settings, page_url: str, browser, tmp_path: Path) -> None:
    _queue(settings, _docs(2, "u"))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{page_url}/?reviewer=alice")
    for key in ("6", "1", "4"):  # it, positive, neutral: saved; u1 is shown
        page.keyboard.press(key)
    page.wait_for_selector('#article[data-id="u1"]')
    page.keyboard.press("u")  # a slip of the finger: take it back
    page.wait_for_selector('#article[data-id="u0"]')
    assert "되돌렸습니다" in page.locator("#msg").inner_text()
    page.screenshot(path=str(tmp_path / "review-page-undo.png"), full_page=True)
    assert "u0" not in _decisions(settings)["redis"] and _decisions(settings)["es"]["u0"]["label_source"] == "model"
    for key in ("2", "3", "1"):  # economy, negative, anxiety
        page.keyboard.press(key)
    page.wait_for_selector('#article[data-id="u1"]')
    found = _decisions(settings)
    assert found["redis"]["u0"]["labels"] == {"topic": "economy", "sentiment": "negative", "emotion": "anxiety"}
    assert found["es"]["u0"]["review"]["topic"] == "economy"
    service = ReviewService.from_settings(settings)
    try:
        trail = [(e["id"], e["decision"]) for e in service.desk.audit()]
    finally:
        service.close()
    assert trail == [("u0", "label"), ("u0", "undo"), ("u0", "label")]  # both decisions stay in the trail


def test_a_task_with_twelve_labels_takes_keys_after_nine(
    settings: Settings, browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = ", ".join(
        f'{{ name = "r{i}", display = "지역{i}", description = "{i}번째 지역 소식" }}' for i in range(1, 13)
    )
    folder = DEFAULT_TASKS_FILE.parent.as_posix()
    base = re.sub(r'^(seed|path) = "', rf'\1 = "{folder}/', DEFAULT_TASKS_FILE.read_text(encoding="utf-8"), flags=re.M)
    task_file = tmp_path / "tasks.toml"
    task_file.write_text(
        base + f'\n[[task]]\nname = "region"\ndisplay = "지역"\ndescription = "기사가 다루는 지역"\n'
        f'input = "model_text"\nreviewed = true\nlabels = [{labels}]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("STREAMPROC_TASKS_FILE", str(task_file))
    twelve = Settings()
    assert len(twelve.tasks["region"].labels) == 12
    create_index(twelve)
    _queue(twelve, _docs(1, "g"))
    with serving(twelve) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{url}/?reviewer=alice")
        keys = page.locator("#task-region kbd").all_inner_texts()
        assert keys == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "a", "b"]
        page.screenshot(path=str(tmp_path / "review-page-twelve-labels.png"), full_page=True)
        for key in ("1", "1", "1", "b"):  # topic, sentiment, emotion, then the twelfth region: saves
            page.keyboard.press(key)
        page.wait_for_selector("#empty")
    assert _decisions(twelve)["redis"]["g0"]["labels"]["region"] == "r12"
