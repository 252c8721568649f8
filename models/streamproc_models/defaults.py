"""Build the default model when it is missing: the base encoder, then a head per task of the task file on it.

Three recipes, all ending with the fused heads of `models.fast_heads` fitted on every training row:
- fast (what the main job builds, about 9 minutes on 2 cores): the heads on the frozen encoder;
- `quick_tune`: the encoder first tuned for one epoch on short texts only (`QUICK_TUNE`, about 14 minutes):
  finance sentiment 4-5 points better, the article topics 1.5 points up or 2 points down from run to run;
- `fine_tune`: the encoder first tuned for three epochs on a 6,000-row sample per task with the articles
  (`FINE_TUNE`, 10-13 minutes per epoch on 2 idle cores).
The tuned recipes keep the stage-1 card and plots in the folder's `fine_tune/`; with the seed set alone the
quick tune has nothing to read and keeps the encoder frozen. The result is a versioned folder
`<model_store>/default-fast|default-quick-tuned|default-finetuned/<version>`; `<model_store>/default` is a
symbolic link to the current one, swapped atomically, so a worker that starts never sees a half-written model.

Every recipe runs on any local Hugging Face encoder folder (`base`; default: the rebuilt e5). What the recipes
assume about it (pooling, input prefix, positions, the special tokens around a text) is chosen from the folder
(`streamproc_models.encoder_choice`), printed, used by both stages and recorded in the model folder.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from streamproc.config import Settings
from streamproc.errors import UserError
from streamproc.inference.encoder_profile import EncoderProfile
from streamproc.inference.multihead import is_multihead_dir, read_manifest
from streamproc_models.data import LabeledSet
from streamproc_models.default_sets import (
    TrainingSets,
    balanced_sample,
    default_training_sets,
    quick_tune_sets,
    source_weights,
)
from streamproc_models.encoder import ensure_encoder
from streamproc_models.encoder_choice import base_profile, describe_base
from streamproc_models.fast_heads import FastSettings, train_fast_model
from streamproc_models.feature_store import STORE_FOLDER
from streamproc_models.registry import point_link
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.train import train_model

DEFAULT_FAST_NAME = "default-fast"
DEFAULT_QUICK_NAME = "default-quick-tuned"
DEFAULT_FINETUNED_NAME = "default-finetuned"
# The fine-tuning recipe's first stage: a seeded 6,000 examples per task shared equally by its sources (all 914
# articles), three epochs, 256 tokens read head + tail (as the fast recipe and the worker's default `max_tokens`).
FINE_TUNE = Hyperparameters(max_train_examples=6000, epochs=3, max_length=256, truncation="head_tail")
# The quick-tune recipe's first stage: one epoch over `quick_tune_sets` (every finance sentence twice, 1,000
# reviews, 1,500 headlines), 128 tokens, lr 1e-4. Val, gated fused heads after it (finance macro-F1, NSMC accuracy
# on 1,000, headlines and articles macro-F1, AG accuracy): frozen encoder 0.735, 0.844, 0.762, 0.856, 0.896; this
# stage, two runs (sentiment's rows before topic's, then after): 0.789 / 0.773, 0.840 / 0.840, 0.762 / 0.755,
# 0.870 / 0.834, 0.896 / 0.900. Finance once with 1,500 reviews: 0.773, 0.846, 0.761, 0.851, 0.907 (164 s
# instead of about 245 s); at lr 2e-4 with 1,000 reviews and 1,000 headlines: 0.771, 0.837, 0.744, 0.849, 0.897;
# with the lowest 6 of 12 layers fixed: 0.778, 0.827, 0.758, 0.867, 0.900 (213 s). Not the default: the articles
# move too much from run to run, and the build takes about 14 minutes instead of 9.
QUICK_TUNE = Hyperparameters(epochs=1, max_length=128, truncation="head_tail")


def ensure_default_models(
    settings: Settings,
    force: bool = False,
    fine_tune: bool = False,
    say: Callable[[str], object] = print,
    fast: FastSettings | None = None,
    quick_tune: bool = False,
    base: Path | None = None,
) -> Path:
    """The default model folder, built first when missing (or when `force`, or when a tuned recipe is asked
    for and the current default is not of that recipe, or when `base` names another encoder than the current
    default's). `base`: a Hugging Face encoder folder (default: the rebuilt e5 in the model store)."""
    if fine_tune and quick_tune:
        raise UserError("--fine-tune and --quick-tune are two different recipes: choose one")
    recipe = DEFAULT_FINETUNED_NAME if fine_tune else DEFAULT_QUICK_NAME if quick_tune else DEFAULT_FAST_NAME
    target = settings.default_model_dir
    current = target.resolve()
    asked = fine_tune or quick_tune
    if base is not None:
        base = Path(base).expanduser()
        if not (base / "config.json").is_file():
            raise UserError(f"no base encoder in {base} (expected a Hugging Face model folder with config.json)")
    other_base = base is not None and is_multihead_dir(target) and _origin(current) != base.resolve()
    if is_multihead_dir(target) and not force and not other_base and (not asked or current.parent.name == recipe):
        return current
    if target.exists() and not target.is_symlink():
        raise UserError(f"{target} is a folder streamproc did not write: move it away or set STREAMPROC_MODEL_STORE")
    say(f"building the default model in {settings.model_store} (once; later runs reuse it)")
    base = base or ensure_encoder(settings.model_store, progress=True)
    profile, source = base_profile(base)
    say(describe_base(base, profile, source))
    data = default_training_sets(settings.data_dir, settings.tasks)
    if data.seed_only:
        say(
            f"WARNING: {settings.data_dir} lacks the labeled data sets of {', '.join(data.seeded)}: training those "
            "on the project's small seed set; they will be weak (set STREAMPROC_DATA_DIR to the shared data)"
        )
    if data.sources:
        say(f"training data: {', '.join(s.name for s in data.sources)} (data sets under {settings.data_dir})")
    untrained = [name for name in settings.tasks.names if name not in data.sets]
    if untrained:
        say(f"no data for {', '.join(untrained)}: no head yet (reviews teach it: `streamproc retrain`)")
    # The frozen encoder's features land in the store's feature cache: a rebuild, and `retrain` (the same frozen
    # encoder), read them back instead of encoding the data sets again.
    cache = settings.model_store / STORE_FOLDER
    store, heads = (
        settings.model_store,
        fast or FastSettings(source_emphasis=source_weights(settings.tasks), feature_cache=cache),
    )
    if asked:
        folder = fine_tune_and_refit(
            data, base, store, recipe, settings.device, heads, say, quick=quick_tune, profile=profile
        )
    else:
        folder = _fit_heads(data, base, store, recipe, settings.device, heads, profile=profile)
    point_link(target, folder)
    return folder


def _origin(model: Path) -> Path | None:
    """The encoder folder a model was built on (its manifest's `base_model`), resolved; None when unknown."""
    recorded = read_manifest(model).get("base_model")
    return Path(recorded).resolve() if recorded else None


def fine_tune_and_refit(
    data: TrainingSets,
    base: Path,
    store: Path,
    name: str,
    device: str,
    fast: FastSettings,
    say: Callable[[str], object] = print,
    quick: bool = False,
    profile: EncoderProfile | None = None,
) -> Path:
    """A recipe into `<store>/<name>/<version>`: stage 1 (`FINE_TUNE`, or `QUICK_TUNE` when `quick`), then the
    fused heads on its encoder.

    Stage 1 writes to a scratch folder in the store, removed once the heads are refitted; the new folder
    keeps its card and plots in `fine_tune/`. A quick recipe with nothing to tune on keeps `base` frozen.
    Both stages read the encoder as `profile` says (chosen from `base` when not given).
    """
    profile = profile or base_profile(base)[0]
    stage = quick_tune_sets(data) if quick else _balanced_sets(data)
    if not stage:
        return _fit_heads(data, base, store, name, device, fast, profile=profile)
    with tempfile.TemporaryDirectory(prefix=".fine-tune-", dir=store) as scratch:
        hp = QUICK_TUNE if quick else FINE_TUNE
        tuned = train_model(stage, base, Path(scratch), hp, name, data.files, device, profile)
        epochs = f"{hp.epochs} epoch" + ("" if hp.epochs == 1 else "s")
        say(f"encoder fine-tuned ({tuned.name}, {epochs}); fitting the fused heads on its features")
        return _fit_heads(data, tuned / "encoder", store, name, device, fast, tuned, profile)


def _fit_heads(
    data: TrainingSets,
    encoder: Path,
    store: Path,
    name: str,
    device: str,
    fast: FastSettings,
    tuned: Path | None = None,
    profile: EncoderProfile | None = None,
) -> Path:
    return train_fast_model(
        data.sets,
        encoder,
        store,
        name,
        fast,
        data_files=data.files,
        device=device,
        val_parts=data.val_parts,
        train_parts=data.train_parts,
        fine_tuned=tuned,
        profile=profile,
    )


def _balanced_sets(data: TrainingSets) -> dict[str, tuple[LabeledSet, LabeledSet]]:
    """The fine-tune recipe's stage-1 rows: a balanced sample of every task (`FINE_TUNE.max_train_examples`)."""
    limit = FINE_TUNE.max_train_examples or 0
    return {
        task: (balanced_sample(train, data.train_parts[task], limit) if task in data.train_parts else train, val)
        for task, (train, val) in data.sets.items()
    }
