"""Fine-tuning of streamproc's multi-head classifiers (optionally with a Learning-Loss head)."""

from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.train import train_classifier, train_model, train_multitask

__all__ = ["Hyperparameters", "train_classifier", "train_model", "train_multitask"]
