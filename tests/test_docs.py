"""The README is the landing page of the manual in docs/: its relative links resolve, it stays short, it links
every page, and its data-flow diagram is the one in docs/architecture.md.

The pages themselves are checked by `mkdocs build --strict` (`make test`, `make docs`): mkdocs.yml turns broken
links and anchors and pages missing from the nav into warnings, and --strict into errors. The README is not
part of the site, so its links are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.paths import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
ARCHITECTURE = DOCS / "architecture.md"
MAX_README_LINES = 200
DIAGRAM_MARK = "news.raw"  # the data-flow diagram is the fenced block that names the raw topic

FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1", re.S)
# [text](target "title") and ![alt](target); the text may hold one level of brackets
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)[^)]*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")


def _split_fences(markdown: str) -> tuple[str, list[str]]:
    """The text outside fenced code blocks, and the body of each fenced block."""
    outside: list[str] = []
    blocks: list[str] = []
    body: list[str] | None = None
    fence = ""
    for line in markdown.splitlines():
        if body is None:
            opened = FENCE_OPEN.match(line)
            if opened:
                fence, body = opened.group(1), []
            else:
                outside.append(line)
        elif re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*", line):
            blocks.append("\n".join(body))
            body = None
        else:
            body.append(line)
    if body is not None:  # an unclosed fence runs to the end of the document
        blocks.append("\n".join(body))
    return "\n".join(outside), blocks


def relative_links(markdown: str) -> list[str]:
    """Link and image targets that name a file of the repository (no URL, no bare #anchor), outside code."""
    text = CODE_SPAN.sub("", _split_fences(markdown)[0])
    targets = INLINE_LINK.findall(text) + REFERENCE_DEFINITION.findall(text) + HTML_LINK.findall(text)
    found = []
    for target in (t.strip("<>") for t in targets):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:  # http:, mailto:, //host, #anchor
            continue
        found.append(target)
    return found


def broken_links(markdown: str, base: Path) -> list[str]:
    """The relative link targets of a document in `base` whose file or folder does not exist."""
    return [t for t in relative_links(markdown) if not (base / unquote(urlsplit(t).path)).exists()]


def diagram(path: Path) -> str:
    """The one fenced block of `path` that holds the data-flow diagram."""
    found = [block for block in _split_fences(path.read_text(encoding="utf-8"))[1] if DIAGRAM_MARK in block]
    assert len(found) == 1, f"{path.name}: {len(found)} fenced blocks name {DIAGRAM_MARK}, expected the diagram only"
    return found[0]


def test_the_link_scan_finds_broken_links_and_skips_code_and_urls(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("x")
    markdown = "\n".join(
        [
            "[ok](docs/here.md#anchor) [gone](docs/gone.md) ![img](docs/gone.png 'title') [`code` text](<docs/a b.md>)",
            "[web](https://example.org/x.md) [mail](mailto:a@b.c) [anchor](#section) `[span](docs/in-span.md)`",
            "[ref]: docs/ref-gone.md",
            '<img src="docs/html-gone.png">',
            "```",
            "[fenced](docs/in-fence.md)",
            "```",
        ]
    )
    assert relative_links(markdown) == [
        "docs/here.md#anchor",
        "docs/gone.md",
        "docs/gone.png",
        "docs/a b.md",
        "docs/ref-gone.md",
        "docs/html-gone.png",
    ]
    assert broken_links(markdown, tmp_path) == [
        "docs/gone.md",
        "docs/gone.png",
        "docs/a b.md",
        "docs/ref-gone.md",
        "docs/html-gone.png",
    ]


def test_readme_relative_links_resolve() -> None:
    markdown = README.read_text(encoding="utf-8")
    assert relative_links(markdown), "the README links no file: the scan found nothing to check"
    broken = broken_links(markdown, README.parent)
    assert not broken, f"README.md links to files that do not exist: {', '.join(broken)}"


def test_readme_is_a_landing_page() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES}): move text to docs/"


def test_readme_links_every_docs_page() -> None:
    linked = {unquote(urlsplit(t).path) for t in relative_links(README.read_text(encoding="utf-8"))}
    pages = {page.relative_to(REPO_ROOT).as_posix() for page in DOCS.glob("*.md")}
    assert pages, "no pages in docs/"
    missing = sorted(pages - linked)
    assert not missing, f"README.md's 'Where to read on' does not link {', '.join(missing)}"


def test_readme_diagram_is_the_architecture_pages() -> None:
    assert diagram(README) == diagram(ARCHITECTURE), (
        "the data-flow diagram in README.md differs from the one in docs/architecture.md: change both"
    )


def test_the_label_guide_page_is_the_default_task_files() -> None:
    """docs/tasks.md holds `guide_markdown` of the default task file between its two markers."""
    from streamproc.tasks import load_tasks
    from streamproc.tasks.guide import guide_markdown

    page = (DOCS / "tasks.md").read_text(encoding="utf-8")
    start = page.index("-->\n", page.index("<!-- label guide")) + len("-->\n")
    assert page[start : page.index("<!-- end of the label guide -->")] == guide_markdown(load_tasks())
