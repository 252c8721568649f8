"""The review page in a real browser: Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from streamproc.config import Settings
from streamproc.review.service import ReviewService
from streamproc.review.web import create_review_app
from streamproc.stack.provision import create_index
from tests.review_items import index_documents, push, worker_document
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


@pytest.fixture
def page_url(settings: Settings) -> Iterator[str]:
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    service.close()


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
