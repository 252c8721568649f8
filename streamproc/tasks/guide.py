"""The label guide: every task's labels with their display names and descriptions, from the task file.

The review page shows it beside each task, `streamproc review guide` prints it, and `docs/tasks.md` holds it for
the default task file (a test keeps the page equal to `guide_markdown`).
"""

from __future__ import annotations

from streamproc.tasks import TaskSet


def guide_markdown(tasks: TaskSet) -> str:
    """One Markdown table per task: label, display name, description."""
    parts = []
    for task in tasks:
        reviewed = "reviewed" if task.reviewed else "not reviewed"
        parts.append(f"### `{task.name}`: {task.display}\n\n{task.description} ({reviewed})\n")
        rows = [f"| `{label.name}` | {label.display} | {label.description} |" for label in task.labels]
        parts.append("\n".join(["| label | shown as | when |", "|---|---|---|", *rows]) + "\n")
    return "\n".join(parts)
