"""Run the models on a batch off the event loop, so that one poison text cannot stop the rest.

When the models fail on a batch, its texts are classified one at a time and only the ones that still fail come
back as exceptions (the worker dead-letters them as `inference_failed`; relabel skips them). If even a known-good
canary text fails, the models are broken, not the input: `ModelFailure` is raised and the caller stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import Executor

from streamproc import metrics
from streamproc.config import Settings
from streamproc.inference.classify import Classification, classify
from streamproc.inference.predictor import Predictor

log = logging.getLogger(__name__)
CANARY_TEXT = "streamproc canary: 정부가 오늘 새 예산안을 발표했다."


class ModelFailure(RuntimeError):
    """The models fail on any input: a fault of the worker, not of the articles."""


async def run_models(
    settings: Settings, predictor: Predictor, texts: list[str], executor: Executor | None
) -> list[Classification]:
    """`classify` for the task file's tasks in `executor` (the worker's inference thread), timed in the metrics."""
    loop = asyncio.get_running_loop()
    strategy, tasks, reviewed = settings.uncertainty_strategy, settings.tasks.names, settings.tasks.reviewed
    with metrics.inference_timer():
        return await loop.run_in_executor(executor, classify, predictor, texts, strategy, tasks, reviewed)


async def classify_guarded(
    settings: Settings, predictor: Predictor, texts: list[str], executor: Executor | None
) -> Sequence[Classification | Exception]:
    """Each text's classification, or the exception the models raised on it alone (see the module)."""
    try:
        return await run_models(settings, predictor, texts, executor)
    except Exception:
        log.exception("the models failed on a batch of %d; retrying one article at a time", len(texts))
    outcomes: list[Classification | Exception] = []
    for text in texts:
        try:
            outcomes.extend(await run_models(settings, predictor, [text], executor))
        except Exception as exc:
            outcomes.append(exc)
    if any(isinstance(outcome, Exception) for outcome in outcomes):
        try:
            await run_models(settings, predictor, [CANARY_TEXT], executor)
        except Exception as exc:
            raise ModelFailure(f"the models fail even on a canary text: {exc!r}") from exc
    return outcomes
