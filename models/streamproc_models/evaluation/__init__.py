"""Evaluate classifiers: metrics, scoring a model folder on a TSV file, and printing the results."""

from streamproc_models.evaluation.evaluate import default_output, evaluate, parse_label_map, write_evaluation
from streamproc_models.evaluation.metrics import classification_metrics

__all__ = ["classification_metrics", "default_output", "evaluate", "parse_label_map", "write_evaluation"]
