"""The summary of a relabel: per task, how many documents changed label, as a confusion of old vs new label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

from streamproc.relabel.scope import changed


def summary_json(target: dict[str, str], matrices: dict[str, dict[str, dict[str, int]]], **extra: Any) -> dict:
    """The summary as a JSON-ready dict."""
    tasks = {}
    for task, matrix in matrices.items():
        moved, total = changed(matrix)
        tasks[task] = {"relabeled": total, "changed": moved, "confusion": matrix}
    return {"target": target, "tasks": tasks, **extra}


def confusion_table(task: str, matrix: dict[str, dict[str, int]]) -> Table:
    """Rows: the label before; columns: the label after."""
    from streamproc.cli.safe_text import plain

    moved, total = changed(matrix)
    new_labels = sorted({new for row in matrix.values() for new in row})
    title = f"{task}: {moved} of {total} relabeled documents changed label (rows: before, columns: after)"
    table = Table("before \\ after", title=title)
    for label in new_labels:
        table.add_column(plain(label))
    for old in sorted(matrix):
        table.add_row(plain(old), *(str(matrix[old].get(new, 0) or "") for new in new_labels))
    return table


def write_summary(summary: dict, path: Path) -> Path:
    """Write the summary as JSON (the command draws the PNG beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return path
