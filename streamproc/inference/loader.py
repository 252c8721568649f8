"""Pick and load the pipeline's topic and sentiment models from the settings."""

from __future__ import annotations

from functools import partial

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.predictor import CombinedPredictor, Predictor, load_model, resolve_device
from streamproc.inference.threads import apply_inference_threads, inference_threads
from streamproc.tasks import TASKS


def load_pipeline_predictor(settings: Settings) -> Predictor:
    """Separate topic and sentiment folders when both are set, else the one multi-task folder."""
    apply_inference_threads(inference_threads(settings.torch_threads, resolve_device(settings.device)))
    load = partial(
        load_model,
        device=settings.device,
        max_tokens=settings.max_tokens,
        batch_size=settings.batch_size,
        precision=settings.inference_precision,
    )
    if settings.topic_model_dir is not None and settings.sentiment_model_dir is not None:
        predictor: Predictor = CombinedPredictor(
            [load(settings.topic_model_dir, task="topic"), load(settings.sentiment_model_dir, task="sentiment")]
        )
    else:
        predictor = load(settings.multitask_model_dir or settings.default_model_dir)
    missing = [task for task in TASKS if task not in predictor.tasks]
    if missing:
        raise UserError(f"the configured model has no {' or '.join(missing)} head (it has {list(predictor.tasks)})")
    if settings.uncertainty_strategy == "predicted_loss" and not getattr(predictor, "has_loss_head", False):
        raise UserError(
            "STREAMPROC_UNCERTAINTY_STRATEGY=predicted_loss needs a model trained with a loss head "
            "(`streamproc train multitask --loss-head`); use margin, entropy or least_confidence"
        )
    return predictor
