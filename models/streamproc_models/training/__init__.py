"""Fine-tuning of streamproc's multi-head classifiers (optionally with a Learning-Loss head).

`hyperparameters` is light (the CLI reads its defaults); `train` loads torch, transformers and SciPy.
"""
