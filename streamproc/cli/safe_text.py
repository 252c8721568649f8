"""Print text that came from publishers safely: no rich markup, no links, no terminal control sequences.

Use `plain(value)` for anything a publisher wrote (titles, ids, error examples) before handing it to rich
(`console.print`, table cells): the result is a `rich.text.Text`, which rich never parses as markup, and every
control character (escape sequences, carriage returns, bidi overrides) is shown as a visible escape such as `\\x1b`.
"""

from __future__ import annotations

import unicodedata

from rich.text import Text

# Bidirectional embeddings/overrides/isolates reorder what the terminal shows ("Trojan Source"); line and
# paragraph separators break a table row; C0/C1 controls and DEL drive the terminal itself.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_unsafe(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """`str(value)` with each control character replaced by a visible escape (`\\x1b`, `\\n`, `\\u202e`)."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(_escape(char) if _is_unsafe(char) else char for char in text)


def plain(value: object, limit: int | None = None) -> Text:
    """Untrusted text as a rich `Text` (never markup), control characters escaped, cut to `limit` characters."""
    text = printable(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text)
