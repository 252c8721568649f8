"""Fine-tune a multi-head classifier (tasks sharing one encoder); write a versioned model folder."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from streamproc.errors import UserError
from streamproc.inference.encoder_profile import EncoderProfile
from streamproc.inference.multihead import MultiHeadClassifier, load_encoder
from streamproc.inference.predictor import resolve_device
from streamproc.inference.truncation import Truncation, token_ids
from streamproc_models.data import LabeledSet, sample
from streamproc_models.encoder_choice import base_profile
from streamproc_models.model_card import versioned_name
from streamproc_models.training.hyperparameters import Hyperparameters, resolve_loss_layers
from streamproc_models.training.loop import TaskData, fit
from streamproc_models.training.output import RunRecord, write_run

Splits = tuple[LabeledSet, LabeledSet]


def train_classifier(
    task: str,
    train: LabeledSet,
    val: LabeledSet,
    base: Path,
    out_root: Path,
    hp: Hyperparameters,
    data_files: dict[str, Path | None] | None = None,
    device: str = "auto",
) -> Path:
    """Fine-tune one head for `task`; returns `<out_root>/<task>/<task>-<YYYYmmdd-HHMMSS>`."""
    files = {task: data_files} if data_files else None
    return train_model({task: (train, val)}, base, out_root, hp, name=task, data_files=files, device=device)


def train_model(
    sets: dict[str, Splits],
    base: Path,
    out_root: Path,
    hp: Hyperparameters,
    name: str,
    data_files: dict[str, dict[str, Path | None]] | None = None,
    device: str = "auto",
    profile: EncoderProfile | None = None,
) -> Path:
    """Train a head per entry of `sets` (task -> (train, val)) on the `base` encoder; write the folder.

    `profile` is what the recipe assumes about the encoder (pooling, input prefix, positions; recorded in the
    folder); without one it is chosen from `base`. `hp.max_length` is cut to the encoder's positions.
    """
    started = time.monotonic()
    version = versioned_name(name)
    if hp.threads:
        torch.set_num_threads(hp.threads)
    torch.manual_seed(hp.seed)
    encoder, tokenizer = load_base(base)
    profile = profile or base_profile(base, encoder.config, tokenizer)[0]
    hp = replace(hp, max_length=profile.cap(hp.max_length))
    used = {task: (sample(train, hp.max_train_examples, hp.seed), val) for task, (train, val) in sets.items()}
    labels = {task: _label_set(task, train, val) for task, (train, val) in used.items()}
    model = MultiHeadClassifier(
        encoder,
        labels,
        loss_head_layers=resolve_loss_layers(hp, encoder.config.num_hidden_layers) or None,
        version=version,
        profile=profile,
    )
    if hp.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    model.to(resolve_device(device))
    tasks = [
        _encode(task, labels[task], train, val, tokenizer, hp.max_length, hp.truncation, profile.input_prefix)
        for task, (train, val) in used.items()
    ]
    history = fit(model, tasks, hp, tokenizer.pad_token_id)
    record = RunRecord(
        version=version,
        base=Path(base),
        hp=hp,
        sets=used,
        source_rows={task: (len(train), len(val)) for task, (train, val) in sets.items()},
        data_files=data_files or {},
        history=history,
        device=str(next(model.parameters()).device),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total_parameters=sum(p.numel() for p in model.parameters()),
        wall_seconds=time.monotonic() - started,
    )
    return write_run(Path(out_root) / name, model.cpu(), tokenizer, record)


def load_base(base: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base encoder (a Hugging Face `AutoModel` folder with its tokenizer), offline."""
    base = Path(base).expanduser()
    if not (base / "config.json").is_file():
        raise UserError(f"no base encoder in {base} (expected a Hugging Face model folder): build it or pass --base")
    encoder = load_encoder(base)  # pooled token states: BERT-type encoders without their pooler layer
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    if tokenizer.pad_token_id is None:
        raise UserError(f"the tokenizer in {base} has no padding token")
    return encoder, tokenizer


def _label_set(task: str, train: LabeledSet, val: LabeledSet) -> list[str]:
    labels = train.label_names()
    unknown = sorted(set(val.labels) - set(labels))
    if unknown:
        raise UserError(f"{task}: validation labels {unknown} never occur in the training data")
    if len(labels) < 2:
        raise UserError(f"{task}: the training data has fewer than two labels ({labels})")
    return labels


def _encode(
    task: str,
    labels: list[str],
    train: LabeledSet,
    val: LabeledSet,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    truncation: Truncation,
    prefix: str = "",
) -> TaskData:
    index = {label: i for i, label in enumerate(labels)}

    def ids(texts: list[str]) -> list[list[int]]:
        return token_ids(tokenizer, texts, max_length, truncation, prefix)

    return TaskData(
        name=task,
        labels=labels,
        train_ids=ids(train.texts),
        train_y=[index[label] for label in train.labels],
        val_ids=ids(val.texts),
        val_y=[index[label] for label in val.labels],
    )
