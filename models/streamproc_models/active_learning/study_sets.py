"""Data sets to prepared features: read the TSVs, encode once (cached), standardise."""

from __future__ import annotations

from pathlib import Path

from streamproc.inference.encoder_profile import EncoderProfile
from streamproc_models.active_learning.data_sets import StudySet, load_study_set
from streamproc_models.active_learning.features import layer_features
from streamproc_models.active_learning.simulate import PreparedSet, prepare
from streamproc_models.data import sample

POOL_SAMPLE_SEED = 7


def prepared_sets(
    sets: dict[str, StudySet],
    names: list[str],
    base: Path,
    cache_dir: Path,
    pool_limit: int | None = None,
    profile: EncoderProfile | None = None,
) -> list[PreparedSet]:
    """Each named study set with its pool and validation features (encoded only when not cached), the encoder
    read as `profile` says (chosen from `base` when not given)."""
    prepared = []
    for name in names:
        pool, val = load_study_set(sets, name)
        pool = sample(pool, pool_limit, POOL_SAMPLE_SEED)
        val_layers = layer_features(val.texts, base, cache_dir, f"{name}-val", profile=profile)
        pool_layers = layer_features(pool.texts, base, cache_dir, f"{name}-pool", profile=profile)
        prepared.append(prepare(name, pool_layers, val_layers, pool.labels, val.labels))
    return prepared
