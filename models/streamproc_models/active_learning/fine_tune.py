"""The fine-tuning variant (`al-sim --fine-tune`): every round fine-tunes the encoder from the base model.

The classifier is the project's multi-head model with a Learning-Loss head on layers n/3, 2n/3 and n,
trained by the project's loop (cross-entropy + the pairwise margin ranking loss, as in Yoo & Kweon), so
`predicted_loss` here is the original, jointly trained design. Each round scores the unlabeled pool with
one forward pass: class probabilities, predicted loss and the sentence vectors (for `margin_clusters`).
Slow on a CPU (a forward and a training pass per round): use a small `--pool-limit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from streamproc.inference.encoder_profile import EncoderProfile
from streamproc.inference.multihead import MultiHeadClassifier, pool
from streamproc.inference.truncation import token_ids
from streamproc_models.active_learning.data_sets import StudySet, load_study_set
from streamproc_models.active_learning.features import default_layers
from streamproc_models.active_learning.settings import SimSettings
from streamproc_models.active_learning.simulate import checkpoint_sizes, seed_set
from streamproc_models.active_learning.strategies import STRATEGIES, Scores
from streamproc_models.active_learning.study import run_study
from streamproc_models.data import sample
from streamproc_models.encoder_choice import base_profile
from streamproc_models.training.batching import collate, sorted_batches
from streamproc_models.training.hyperparameters import Hyperparameters
from streamproc_models.training.loop import TaskData, fit
from streamproc_models.training.train import load_base

DEFAULT_POOL = 2000
TASK = "task"


@dataclass
class FineTuneSet:
    """Token ids of a study set's pool and validation split, labels as class indexes."""

    name: str
    labels: list[str]
    pool_ids: list[list[int]]
    pool_y: np.ndarray
    val_ids: list[list[int]]
    val_y: np.ndarray
    base: Path
    pad_id: int
    hp: Hyperparameters
    profile: EncoderProfile

    @property
    def pool_size(self) -> int:
        """Items in the stream."""
        return len(self.pool_y)


def load_fine_tune_set(
    sets: dict[str, StudySet],
    name: str,
    base: Path,
    pool_limit: int | None,
    hp: Hyperparameters,
    profile: EncoderProfile | None = None,
) -> FineTuneSet:
    """Tokenize a study set for fine-tuning (pool sampled to `pool_limit`, default `DEFAULT_POOL`), the texts read
    as `profile` says (chosen from `base` when not given)."""
    pool, val = load_study_set(sets, name)
    pool = sample(pool, pool_limit or DEFAULT_POOL, 7)
    _, tokenizer = load_base(base)
    profile = profile or base_profile(base, tokenizer=tokenizer)[0]
    max_length = profile.cap(hp.max_length)
    labels = pool.label_names()
    index = {label: i for i, label in enumerate(labels)}
    kept = [i for i, label in enumerate(val.labels) if label in index]

    def ids(texts: list[str]) -> list[list[int]]:
        return token_ids(tokenizer, texts, max_length, "head", profile.input_prefix)

    return FineTuneSet(
        name,
        labels,
        ids(pool.texts),
        np.array([index[label] for label in pool.labels]),
        ids([val.texts[i] for i in kept]),
        np.array([index[val.labels[i]] for i in kept]),
        base,
        tokenizer.pad_token_id,
        hp,
        profile,
    )


def train_round(data: FineTuneSet, labeled: np.ndarray, seed: int) -> tuple[MultiHeadClassifier, dict]:
    """Fine-tune a fresh model with a loss head on the labeled items; (model, its val metrics)."""
    torch.manual_seed(seed)
    encoder, _ = load_base(data.base)
    layers = default_layers(encoder.config.num_hidden_layers)
    model = MultiHeadClassifier(encoder, {TASK: data.labels}, loss_head_layers=layers, profile=data.profile)
    if data.hp.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    task = TaskData(
        TASK,
        data.labels,
        [data.pool_ids[i] for i in labeled],
        data.pool_y[labeled].tolist(),
        data.val_ids,
        data.val_y.tolist(),
    )
    history = fit(model, [task], Hyperparameters(**{**data.hp.as_dict(), "seed": seed, "loss_head": True}), data.pad_id)
    return model, history.best_metrics[TASK]


@torch.inference_mode()
def score_items(model: MultiHeadClassifier, ids: list[list[int]], pad_id: int) -> tuple[np.ndarray, ...]:
    """(probabilities, predicted loss, sentence vectors) of the given items, one forward pass each."""
    model.eval()
    n, k, hidden = len(ids), len(model.tasks[TASK]), model.encoder.config.hidden_size
    proba, loss, vectors = np.zeros((n, k)), np.zeros(n), np.zeros((n, hidden), dtype=np.float32)
    for index in sorted_batches([len(x) for x in ids], 64):
        input_ids, mask = collate([ids[i] for i in index], pad_id)
        out = model.encoder(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
        pooled = pool(out.last_hidden_state, mask, model.pooling)
        proba[index] = torch.softmax(model.heads[TASK](pooled), -1).numpy()
        vectors[index] = pooled.numpy()
        if model.loss_head is not None:
            layers = [out.hidden_states[i] for i in model.loss_head_layers]
            loss[index] = model.loss_head(layers, mask).numpy()
    return proba, loss, vectors


def fine_tune_curve(data: FineTuneSet, strategy: str, seed: int, settings: SimSettings) -> dict:
    """One stream where every round fine-tunes the encoder."""
    sizes = checkpoint_sizes(data.pool_size, len(data.labels), settings)
    is_labeled, rng = seed_set(data.pool_y, sizes[0], strategy, seed)
    macro_f1, accuracy = [], []
    for round_number in range(len(sizes)):
        model, metrics = train_round(data, np.flatnonzero(is_labeled), seed)
        macro_f1.append(float(metrics["macro_f1"]))
        accuracy.append(float(metrics["accuracy"]))
        if round_number + 1 < len(sizes):
            unlabeled = np.flatnonzero(~is_labeled)
            proba, loss, vectors = score_items(model, [data.pool_ids[i] for i in unlabeled], data.pad_id)
            scores = Scores(proba, rng, cluster_features=vectors, predicted_loss=loss)
            chosen = unlabeled[STRATEGIES[strategy](scores, sizes[round_number + 1] - int(is_labeled.sum()))]
            is_labeled[chosen] = True
    return {"seed": seed, "sizes": sizes, "macro_f1": macro_f1, "accuracy": accuracy}


def fine_tune_full_pool(data: FineTuneSet, settings: SimSettings) -> dict[str, float]:
    """The ceiling: fine-tuned on every pool label."""
    _, metrics = train_round(data, np.arange(data.pool_size), 0)
    return {"macro_f1": float(metrics["macro_f1"]), "accuracy": float(metrics["accuracy"])}


def run_fine_tune_study(
    study: dict[str, StudySet],
    names: list[str],
    strategies: list[str],
    seeds: list[int],
    settings: SimSettings,
    base: Path,
    pool_limit: int | None,
    hp: Hyperparameters | None = None,
    profile: EncoderProfile | None = None,
) -> dict:
    """The study with fine-tuning per round; same result layout as the frozen-feature study."""
    hp = hp or Hyperparameters(epochs=2, batch_size=16, max_length=64, patience=1)
    sets = [load_fine_tune_set(study, name, base, pool_limit, hp, profile) for name in names]
    result = run_study(sets, strategies, seeds, settings, curve=fine_tune_curve, full_pool=fine_tune_full_pool)
    result["settings"]["fine_tune"] = hp.as_dict()
    return result
