"""Pick and load the pipeline's models from the settings, and check them against the task file."""

from __future__ import annotations

import logging
from functools import partial

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.predictor import CombinedPredictor, Predictor, load_model, resolve_device
from streamproc.inference.threads import apply_inference_threads, inference_threads
from streamproc.tasks import TaskSet

log = logging.getLogger(__name__)


def load_pipeline_predictor(settings: Settings) -> Predictor:
    """One folder per task when `task_model_dirs` is set, else the one multi-task folder (the model link).

    The model serves the task file's tasks it has a head for; a task without a head is left out of the
    documents until a model learns it (`streamproc retrain`), and heads the task file does not name are ignored.
    """
    apply_inference_threads(inference_threads(settings.torch_threads, resolve_device(settings.device)))
    load = partial(
        load_model,
        device=settings.device,
        max_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        precision=settings.inference_precision,
    )
    if settings.task_model_dirs:
        unknown = sorted(set(settings.task_model_dirs) - set(settings.tasks.names))
        if unknown:
            raise UserError(
                f"STREAMPROC_TASK_MODEL_DIRS names {unknown[0]!r}, which the task file {settings.tasks.file} "
                f"does not have (its tasks: {', '.join(settings.tasks.names)})"
            )
        predictor: Predictor = CombinedPredictor(
            [load(folder, task=task) for task, folder in settings.task_model_dirs.items()]
        )
    else:
        predictor = load(settings.multitask_model_dir or settings.default_model_dir)
    check_heads(predictor, settings.tasks)
    if settings.uncertainty_strategy == "predicted_loss" and not getattr(predictor, "has_loss_head", False):
        raise UserError(
            "STREAMPROC_UNCERTAINTY_STRATEGY=predicted_loss needs a model trained with a loss head "
            "(`streamproc train --loss-head`); use margin, entropy or least_confidence"
        )
    return predictor


def check_heads(predictor: Predictor, tasks: TaskSet) -> None:
    """Refuse a model whose head for a task knows labels the task file does not list; say what it lacks."""
    for task in tasks:
        labels = predictor.tasks.get(task.name)
        if labels is None:
            continue
        unknown = [label for label in labels if task.label(label) is None]
        if unknown:
            raise UserError(
                f"the model's {task.name} head has labels the task file {tasks.file} does not list: "
                f"{', '.join(unknown)}; add them to the task's labels or serve another model"
            )
    served = [name for name in tasks.names if name in predictor.tasks]
    if not served:
        raise UserError(
            f"the model has no head for any task of {tasks.file} (it has {', '.join(predictor.tasks)}): "
            "build one with `streamproc models build-defaults` or point STREAMPROC_TASKS_FILE at its task file"
        )
    missing = [name for name in tasks.names if name not in predictor.tasks]
    if missing:
        log.info("no head yet for %s: served without it until a model learns it", ", ".join(missing))
    ignored = [name for name in predictor.tasks if name not in tasks]
    if ignored:
        log.info("the model's %s head is not in the task file: not served", ", ".join(ignored))
