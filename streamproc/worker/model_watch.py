"""Live model switch: notice a promoted version between batches and swap it in without stopping.

The serving model is named by a symbolic link (`streamproc models promote` re-points it). Between batches the
worker asks `ModelWatch.current()`; at most every `model_poll_seconds` it resolves the link, and when the target
changed it starts loading the new folder in a thread of its own (the event loop keeps heart-beating, the old
model keeps serving). Once loaded, the next batch runs on the new model, so every document of a batch carries one
version in `model_versions`. A folder that fails to load is logged with the reason and not retried until the
link changes again; the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streamproc import metrics
from streamproc.config import Settings
from streamproc.inference.loader import load_pipeline_predictor
from streamproc.inference.predictor import Predictor

log = logging.getLogger(__name__)


class ModelWatch:
    """Holds the serving predictor and replaces it when the model link points elsewhere."""

    def __init__(
        self,
        settings: Settings,
        predictor: Predictor,
        load: Callable[[Settings], Predictor] = load_pipeline_predictor,
    ) -> None:
        self.settings = settings
        self.predictor = predictor
        self.load = load
        # separate folders per task have no link to watch
        self.link: Path | None = None
        if not settings.task_model_dirs:
            self.link = Path(settings.multitask_model_dir or settings.default_model_dir).expanduser()
        self.serving = self._target()
        self.failed: Path | None = None
        self._next_check = time.monotonic() + settings.model_poll_seconds
        self._loading: asyncio.Future[Predictor] | None = None
        self._loading_target: Path | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
        self._closed = False

    def _target(self) -> Path | None:
        if self.link is None:
            return None
        try:
            return self.link.resolve(strict=True)
        except OSError:
            return None

    async def current(self) -> Predictor:
        """The predictor for the next batch (never waits for a load in progress)."""
        if self._loading is not None and self._loading.done():
            self._finish()
        if self._closed:
            return self.predictor
        if self._loading is None and self.link is not None and time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + self.settings.model_poll_seconds
            target = self._target()
            if target is not None and target not in (self.serving, self.failed):
                log.info("model link %s now points at %s: loading it while %s serves", self.link, target, self._names())
                self._loading_target = target
                pinned = self.settings.model_copy(update={"multitask_model_dir": target})
                self._loading = asyncio.get_running_loop().run_in_executor(self._thread, self.load, pinned)
        return self.predictor

    @property
    def loading(self) -> bool:
        """Whether a promoted version is being loaded now."""
        return self._loading is not None and not self._loading.done()

    def _finish(self) -> None:
        assert self._loading is not None
        try:
            predictor = self._loading.result()
        except Exception as exc:  # any load failure keeps the old model serving
            log.error(
                "cannot load the promoted model %s (%s); still serving %s", self._loading_target, exc, self._names()
            )
            self.failed = self._loading_target
        else:
            old = self._names()
            self.predictor, self.serving, self.failed = predictor, self._loading_target, None
            log.info("switched models: %s -> %s", old, self._names())
            metrics.set_model_versions(predictor.versions)
        self._loading = self._loading_target = None

    def _names(self) -> str:
        return ", ".join(f"{task}={version}" for task, version in self.predictor.versions.items())

    def close(self) -> None:
        """Stop the loader thread (a load in progress is abandoned); `current` keeps the serving model."""
        self._closed = True
        self._thread.shutdown(wait=False, cancel_futures=True)
