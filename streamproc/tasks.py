"""The pipeline's tasks: the one place that names them (models, documents, review queue, CLI tables)."""

from __future__ import annotations

from typing import Literal, get_args

Task = Literal["topic", "sentiment"]
TASKS: tuple[Task, ...] = get_args(Task)
