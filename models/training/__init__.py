"""Fine-tuning of streamproc's multi-head classifiers (optionally with a Learning-Loss head)."""

from models.training.hyperparameters import Hyperparameters
from models.training.train import train_classifier, train_model, train_multitask

__all__ = ["Hyperparameters", "train_classifier", "train_model", "train_multitask"]
