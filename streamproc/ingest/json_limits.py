"""Values that JSON allows but Elasticsearch refuses: non-finite numbers, integers beyond 64 bits, deep nesting.

Checked at validation time so such records become `invalid_article` with the path of the bad value, instead of
being classified and then refused by Elasticsearch (`index_rejected`).
"""

from __future__ import annotations

import math
from typing import Any

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 64  # far beyond real articles, well inside every JSON serializer's and parser's own limit


def unindexable_value(data: Any) -> str | None:
    """Describe the first value Elasticsearch would refuse (`path: problem`), or None. Never recurses."""
    problem = _first_problem(data)
    if problem is None:
        return None
    path, what = problem
    shown = path if len(path) <= 80 else path[:80] + "…"
    return f"{shown or 'record'}: {what}"


# A value's place in the record: (the parent's place, a key or list index), None for the record itself. Rendered
# only for the value reported: a path string per value copies every long key into each of its children's paths
# (a 170 KB record of one long key over thousands of short ones took 3.6 s and gigabytes that way).
_Place = tuple["_Place", str | int] | None


def _first_problem(data: Any) -> tuple[str, str] | None:
    stack: list[tuple[_Place, Any, int]] = [(None, data, 0)]
    while stack:
        place, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return _path(place), f"nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return _path(place), f"{value} is not a finite number (NaN, Infinity or out of range)"
        if isinstance(value, int) and not LONG_MIN <= value <= LONG_MAX:
            return _path(place), f"integer of {len(str(abs(value)))} digits is outside the 64-bit range"
        if isinstance(value, dict):
            stack.extend(reversed([((place, key), item, depth + 1) for key, item in value.items()]))  # in order
        elif isinstance(value, list):
            stack.extend(reversed([((place, i), item, depth + 1) for i, item in enumerate(value)]))
    return None


def _path(place: _Place) -> str:
    """`a.b[2].c` for a place."""
    parts: list[str | int] = []
    while place is not None:
        place, part = place
        parts.append(part)
    path = ""
    for part in reversed(parts):
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}" if path else str(part)
    return path
