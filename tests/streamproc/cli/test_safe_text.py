"""Publisher text printed by the CLI: no markup, no links, no terminal control."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from streamproc.cli.safe_text import plain, printable


def _render(text: str) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=300, color_system="truecolor")
    table = Table("title")
    table.add_row(plain(text))
    console.print(table)
    return out.getvalue()


def test_markup_is_shown_literally_and_never_raises() -> None:
    rendered = _render("[/bold] [link=https://evil.example]x[/link] [red]r :smile:")
    assert "[/bold] [link=https://evil.example]x[/link] [red]r :smile:" in rendered
    assert "\x1b]8;" not in rendered  # no hyperlink escape


def test_control_characters_are_neutralised_visibly() -> None:
    rendered = _render("a\x1b]0;title\x07b\x1b[2Jc\rd\u202eé\u2028f\x85g")
    for raw in ("\x1b]0;", "\x07", "\x1b[2J", "\r", "\u202e", "\u2028", "\x85"):
        assert raw not in rendered
    assert "a\\x1b]0;title\\x07b\\x1b[2Jc\\x0dd\\u202eé\\u2028f\\x85g" in rendered


def test_ordinary_text_is_unchanged() -> None:
    for text in ("정부가 예산안을 발표했다", "Ünïcödé — fine", "emoji 👍🏽 and ZWJ 👩‍💻", ""):
        assert printable(text) == text
    assert printable(None) == "" and plain("x" * 100, limit=10).plain == "x" * 9 + "…"
