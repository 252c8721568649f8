"""A stand-in for the models, for the benchmark only: fixed probabilities for the task file's tasks, at once.

`streamproc bench pipeline --null-model` runs the real worker (Kafka, validation, text building, documents,
Elasticsearch, the review queue, offsets) with this in place of the model, to measure the pipeline's own ceiling:
how many articles/s the Python around the model can carry when the model costs nothing, as a GPU nearly does. It
is not a test double and never serves real traffic: nothing but the benchmark's worker entry
(`python -m streamproc.bench.null_worker`) builds one, and its documents say `model_versions: null-model`.
About one text in six (by a hash of the text) gets unsure probabilities, so the review queue does the work it
does under the default model (about 16 % of headlines queued at the default threshold).
"""

from __future__ import annotations

import zlib

import numpy as np

from streamproc.inference.predictor import Predictions
from streamproc.tasks import TaskSet

VERSION = "null-model"
UNSURE_PERCENT = 16


class NullPredictor:
    """`predict` returns one of two fixed rows per task (sure / unsure), chosen by a hash of the text."""

    has_loss_head = False

    def __init__(self, tasks: TaskSet) -> None:
        self.tasks = {task.name: task.label_names for task in tasks}
        self.versions = {name: VERSION for name in self.tasks}
        self._rows = {name: _rows(len(labels)) for name, labels in self.tasks.items()}

    def predict(self, texts: list[str]) -> Predictions:
        """Fixed probabilities per text (see the module)."""
        unsure = np.array([zlib.crc32(t.encode("utf-8", "replace")) % 100 < UNSURE_PERCENT for t in texts], dtype=int)
        return Predictions({name: rows[unsure] for name, rows in self._rows.items()})


def _rows(labels: int) -> np.ndarray:
    """(sure, unsure) probability rows for a task with `labels` labels: 0.9 on the first label, or the first two
    nearly tied (margin uncertainty 0.98, over the default review threshold of 0.9)."""
    sure = np.full(labels, 0.1 / (labels - 1), np.float32)
    sure[0] = 0.9
    if labels == 2:
        unsure = np.array([0.51, 0.49], np.float32)
    else:
        unsure = np.full(labels, 0.12 / (labels - 2), np.float32)
        unsure[:2] = (0.45, 0.43)
    return np.stack([sure, unsure])
