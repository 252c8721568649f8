"""Build the default model when it is missing: the base encoder, then topic + sentiment heads on it.

Two recipes: fast heads on the frozen encoder (minutes; what the main job builds), or `fine_tune`: first the
encoder is fine-tuned with both heads (three epochs, 10-13 minutes each on 2 idle cores), then the same fused
heads as the fast recipe are fitted on the fine-tuned encoder's features, from every training row (the fine-tune
itself sees a 6,000-row sample per task). The result is a versioned folder
`<model_store>/default-fast|default-finetuned/<version>`; `<model_store>/default` is a symbolic link to the
current one, swapped atomically, so a worker that starts never sees a half-written model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.multihead import is_multihead_dir
from streamproc_models.default_sets import TrainingSets, balanced_sample, default_training_sets
from streamproc_models.encoder import ensure_encoder
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.registry import point_link
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.train import train_model

DEFAULT_FAST_NAME = "default-fast"
DEFAULT_FINETUNED_NAME = "default-finetuned"
# The fine-tuning recipe's first stage: a seeded 6,000 examples per task shared equally by its sources (all 914
# articles), three epochs, 256 tokens read head + tail (as the fast recipe and the worker's default `max_tokens`).
FINE_TUNE = Hyperparameters(max_train_examples=6000, epochs=3, max_length=256, truncation="head_tail")


def ensure_default_models(
    settings: Settings,
    force: bool = False,
    fine_tune: bool = False,
    say: Callable[[str], None] = print,
    fast: FastSettings | None = None,
) -> Path:
    """The default model folder, built first when missing (or when `force`)."""
    target = settings.default_model_dir
    current = target.resolve()
    if is_multihead_dir(target) and not force and (not fine_tune or current.parent.name == DEFAULT_FINETUNED_NAME):
        return current
    if target.exists() and not target.is_symlink():
        raise UserError(f"{target} is a folder streamproc did not write: move it away or set STREAMPROC_MODEL_STORE")
    say(f"building the default model in {settings.model_store} (once; later runs reuse it)")
    base = ensure_encoder(settings.model_store, progress=True)
    data = default_training_sets(settings.data_dir)
    if data.seed_only:
        say(
            f"WARNING: {settings.data_dir} has no labeled data sets: training on the project's small seed set; "
            "the models will be weak (set STREAMPROC_DATA_DIR to the shared data for real ones)"
        )
    else:
        say(f"training data: {', '.join(s.folder for s in data.sources)} from {settings.data_dir}")
    if fine_tune:
        folder = fine_tune_and_refit(
            data, base, settings.model_store, DEFAULT_FINETUNED_NAME, settings.device, fast or FastSettings(), say
        )
    else:
        folder = train_fast_model(
            data.sets,
            base,
            settings.model_store,
            DEFAULT_FAST_NAME,
            fast or FastSettings(),
            data_files=data.files,
            device=settings.device,
            val_parts=data.val_parts,
            train_parts=data.train_parts,
        )
    point_link(target, folder)
    return folder


def fine_tune_and_refit(
    data: TrainingSets,
    base: Path,
    store: Path,
    name: str,
    device: str,
    fast: FastSettings,
    say: Callable[[str], None] = print,
) -> Path:
    """The fine-tune recipe into `<store>/<name>/<version>`: stage 1, then the fused heads on its encoder.

    Stage 1 writes to a scratch folder in the store, removed once the heads are refitted; the new folder
    keeps its card and plots in `fine_tune/`.
    """
    with tempfile.TemporaryDirectory(prefix=".fine-tune-", dir=store) as scratch:
        tuned = _fine_tune(data, base, Path(scratch), device)
        say(f"encoder fine-tuned ({tuned.name}); fitting the fused heads on its features")
        return train_fast_model(
            data.sets,
            tuned / "encoder",
            store,
            name,
            fast,
            data_files=data.files,
            device=device,
            val_parts=data.val_parts,
            train_parts=data.train_parts,
            fine_tuned=tuned,
        )


def _fine_tune(data: TrainingSets, base: Path, scratch: Path, device: str) -> Path:
    """The first stage of the fine-tune recipe: the encoder and both heads trained on a balanced sample."""
    limit = FINE_TUNE.max_train_examples or 0
    sets = {
        task: (balanced_sample(train, data.train_parts[task], limit) if task in data.train_parts else train, val)
        for task, (train, val) in data.sets.items()
    }
    return train_model(sets, base, scratch, FINE_TUNE, DEFAULT_FINETUNED_NAME, data.files, device)
