"""MkDocs hook: in a table row, `\\|` inside a code span is a pipe.

The pages are read on GitHub too (the README links them), where a pipe inside a table cell must be written
`\\|`, code spans included, and shows as `|`. Python-Markdown's tables keep a plain `|` inside a code span in
its cell but would show the backslash of `\\|`, so the site gets the plain pipe.
"""

from __future__ import annotations

import re
from typing import Any

CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    lines = []
    fence = ""
    for line in markdown.split("\n"):
        opened = FENCE.match(line)
        if opened and (not fence or opened.group(1).startswith(fence)):
            fence = "" if fence else opened.group(1)
        elif not fence and line.lstrip().startswith("|"):
            line = CODE_SPAN.sub(lambda span: span.group(0).replace("\\|", "|"), line)
        lines.append(line)
    return "\n".join(lines)
