"""The streamproc model format: one Hugging Face encoder, one linear head per task, an optional loss head.

Folder layout (written by `MultiHeadClassifier.save`, read by `MultiHeadClassifier.load`)::

    streamproc_model.json   format, version, pooling, tasks -> labels, loss-head layers, the encoder's profile
    encoder/                a standard Hugging Face `AutoModel` folder (config, safetensors, tokenizer)
    heads.safetensors       the task heads, the loss-prediction head, the character n-gram branch

The encoder runs once per batch; every head reads the same pooled vector. A model may also have a
character n-gram branch (`char_ngrams` in the manifest, format `streamproc.multihead/2`): its per-task
logits are added to the heads' logits. A task may be gated (`experts` in the manifest: task -> the training
domains; format `streamproc.multihead/3`): its head holds a gate and one expert per domain, mixed by
`streamproc.inference.experts.mix`. A model trained with an input prefix on every text has format
`streamproc.multihead/4` (a runtime that does not know the prefix refuses the folder rather than serve it
without). What the recipe assumed about the encoder (`input_prefix`, `max_positions`, `special_tokens`; see
`streamproc.inference.encoder_profile`) is recorded beside `pooling`. Folders of formats 1 to 3 load unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, PreTrainedModel

from streamproc.inference.char_ngrams import CharBatch, CharNgramBranch, CharNgramSpec
from streamproc.inference.encoder_profile import EncoderProfile, Pooling, check_pooling
from streamproc.inference.experts import head_width, mix
from streamproc.inference.loss_prediction import LossPredictionHead

FORMAT = "streamproc.multihead/1"
FORMAT_CHAR = "streamproc.multihead/2"
FORMAT_EXPERTS = "streamproc.multihead/3"
FORMAT_PREFIX = "streamproc.multihead/4"
FORMATS = (FORMAT, FORMAT_CHAR, FORMAT_EXPERTS, FORMAT_PREFIX)
MANIFEST = "streamproc_model.json"


@dataclass
class MultiHeadOutput:
    """Logits per task, and the predicted loss when the model has a loss head."""

    logits: dict[str, torch.Tensor]
    predicted_loss: torch.Tensor | None


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """Sentence vector from token states: masked mean (as e5 was trained) or the first token."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MultiHeadClassifier(nn.Module):
    """A shared encoder with a linear classification head per task."""

    def __init__(
        self,
        encoder: PreTrainedModel,
        tasks: dict[str, list[str]],
        pooling: Pooling | None = None,
        loss_head_layers: list[int] | None = None,
        dropout: float = 0.1,
        version: str = "unversioned",
        char_ngrams: CharNgramSpec | None = None,
        experts: dict[str, list[str]] | None = None,
        profile: EncoderProfile | None = None,
    ) -> None:
        """`pooling` defaults to the `profile`'s (mean without one); the profile is written to the manifest."""
        super().__init__()
        if profile is not None and pooling is not None and pooling != profile.pooling:
            raise ValueError(f"pooling {pooling!r} differs from the encoder profile's {profile.pooling!r}")
        self.encoder = encoder
        self.tasks = {task: list(labels) for task, labels in tasks.items()}
        # task -> the domains of its gated experts (tasks not named have a plain head)
        self.experts = {task: list(domains) for task, domains in (experts or {}).items() if domains}
        widths = {task: head_width(len(labels), len(self.experts.get(task, []))) for task, labels in tasks.items()}
        self.pooling: Pooling = check_pooling(pooling or (profile.pooling if profile is not None else "mean"))
        self.profile = profile
        self.version = version
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({task: nn.Linear(hidden, width) for task, width in widths.items()})
        self.loss_head_layers = list(loss_head_layers or [])
        self.loss_head = LossPredictionHead(hidden, len(self.loss_head_layers)) if self.loss_head_layers else None
        self.char_branch = CharNgramBranch(char_ngrams, widths) if char_ngrams else None

    def head(self, task: str) -> nn.Linear:
        """The task's linear head (typed: `ModuleDict` items are plain modules to the type checker)."""
        head = self.heads[task]
        assert isinstance(head, nn.Linear)
        return head

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, chars: CharBatch | None = None
    ) -> MultiHeadOutput:
        """Run the encoder once and every head on its pooled output (plus the n-gram branch on `chars`)."""
        needs_layers = self.loss_head is not None
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=needs_layers)
        logits = self.classify(pool(out.last_hidden_state, attention_mask, self.pooling), chars)
        predicted = None
        if self.loss_head is not None:
            layers = [out.hidden_states[i] for i in self.loss_head_layers]
            predicted = self.loss_head(layers, attention_mask)
        return MultiHeadOutput(logits=logits, predicted_loss=predicted)

    def classify(self, pooled: torch.Tensor, chars: CharBatch | None = None) -> dict[str, torch.Tensor]:
        """Logits per task from pooled encoder vectors (plus the n-gram branch on `chars`): all of `forward` after
        the encoder, so vectors computed once (`streamproc_models.feature_store`) give the same logits."""
        pooled = self.dropout(pooled)
        logits = {task: head(pooled) for task, head in self.heads.items()}
        if self.char_branch is not None:
            if chars is None:
                raise ValueError("this model has a character n-gram branch: pass `chars` (char_branch.batch(texts))")
            extra = self.char_branch(chars)
            logits = {task: value + extra[task].to(value.dtype) for task, value in logits.items()}
        return {task: mix(value, len(self.experts.get(task, []))) for task, value in logits.items()}

    def save(self, directory: Path, tokenizer: object | None = None, extra: dict | None = None) -> None:
        """Write the folder described in the module docstring (tokenizer goes beside the encoder)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(directory / "encoder")
        if tokenizer is not None:
            tokenizer.save_pretrained(directory / "encoder")  # type: ignore[attr-defined]
        tensors = {f"heads.{k}": v.detach().contiguous().cpu() for k, v in self.heads.state_dict().items()}
        if self.loss_head is not None:
            tensors.update(
                {f"loss_head.{k}": v.detach().contiguous().cpu() for k, v in self.loss_head.state_dict().items()}
            )
        if self.char_branch is not None:
            tensors.update(
                {f"char.{k}": v.detach().contiguous().cpu() for k, v in self.char_branch.state_dict().items()}
            )
        save_file(tensors, str(directory / "heads.safetensors"))
        manifest = {
            "format": self._format(),
            "version": self.version,
            "pooling": self.pooling,
            **(self.profile.manifest() if self.profile is not None else {}),
            "tasks": self.tasks,
            "loss_head_layers": self.loss_head_layers,
            **({"char_ngrams": self.char_branch.spec.to_json()} if self.char_branch is not None else {}),
            **({"experts": self.experts} if self.experts else {}),
            **(extra or {}),
        }
        (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")

    def _format(self) -> str:
        """The lowest format that holds everything this model needs its reader to know."""
        if self.profile is not None and self.profile.input_prefix:
            return FORMAT_PREFIX
        return FORMAT_EXPERTS if self.experts else FORMAT if self.char_branch is None else FORMAT_CHAR

    @classmethod
    def load(cls, directory: Path, dtype: torch.dtype | None = None) -> MultiHeadClassifier:
        """Load a folder written by `save`, offline."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        encoder = load_encoder(directory / "encoder", dtype=dtype, attn_implementation="sdpa")
        model = cls(
            encoder,
            manifest["tasks"],
            pooling=manifest.get("pooling", "mean"),
            loss_head_layers=manifest.get("loss_head_layers") or None,
            version=manifest.get("version", directory.name),
            char_ngrams=CharNgramSpec(**manifest["char_ngrams"]) if manifest.get("char_ngrams") else None,
            experts=manifest.get("experts"),
            profile=recorded_profile(manifest),
        )
        tensors = load_file(str(directory / "heads.safetensors"))
        model.heads.load_state_dict(_strip(tensors, "heads."))
        if model.loss_head is not None:
            model.loss_head.load_state_dict(_strip(tensors, "loss_head."))
        if model.char_branch is not None:
            model.char_branch.load_state_dict(_strip(tensors, "char."))
        if dtype is not None:
            model.to(dtype)
        return model.eval()


POOLED_MODEL_TYPES = ("bert", "xlm-roberta", "roberta")


def load_encoder(folder: Path, **options: Any) -> PreTrainedModel:
    """`AutoModel.from_pretrained(folder)`, offline, for an encoder read through pooling of its token states.

    BERT-type encoders are built without their pooler layer, which nothing here reads: the rebuilt e5 folder holds
    a seeded one, the encoders saved after training hold none. Checkpoints from the hub (KoELECTRA, KLUE) also
    hold their pre-training heads (`discriminator_predictions.*`, `lm_head.*`, `cls.*`), which `AutoModel` leaves
    out. transformers' load report on those weights alone (pooler UNEXPECTED or MISSING, pre-training heads
    UNEXPECTED) is expected and not printed; a report that names any other weight is printed whole, and loading
    errors raise as always.
    """
    config = json.loads((Path(folder) / "config.json").read_text())
    if config.get("model_type") in POOLED_MODEL_TYPES:
        options.setdefault("add_pooling_layer", False)
    logger, only_pooler = logging.getLogger("transformers.modeling_utils"), _UnreadWeightsLoadReport()
    logger.addFilter(only_pooler)
    try:
        return AutoModel.from_pretrained(folder, local_files_only=True, **options)
    finally:
        logger.removeFilter(only_pooler)


class _UnreadWeightsLoadReport(logging.Filter):
    """Drops transformers' LOAD REPORT when every weight its table names is one nothing here reads: a pooler
    weight (UNEXPECTED or MISSING) or a pre-training head's (UNEXPECTED)."""

    _ROW = re.compile(r"^(\S+)\s*\|\s*(\S+)", re.MULTILINE)  # a table row: "pooler.dense.bias   | UNEXPECTED | "
    _POOLER = re.compile(r"^(?:[a-z_]+\.)?pooler\.")  # "pooler.dense.bias", "bert.pooler.dense.bias"
    _HEADS = re.compile(r"^(?:cls|lm_head|discriminator_predictions|generator_predictions|generator_lm_head)\.")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "LOAD REPORT" not in message:
            return True
        rows = [(key, status) for key, status in self._ROW.findall(message) if key != "Key"]
        return not rows or not all(self._unread(key, status) for key, status in rows)

    def _unread(self, key: str, status: str) -> bool:
        if self._POOLER.match(key):
            return status in ("UNEXPECTED", "MISSING")
        return status == "UNEXPECTED" and bool(self._HEADS.match(key))


def recorded_profile(manifest: dict) -> EncoderProfile | None:
    """The encoder profile a manifest records (None for folders written before profiles: see the predictor)."""
    if "special_tokens" not in manifest:
        return None
    frame = manifest["special_tokens"]
    return EncoderProfile(
        input_prefix=manifest.get("input_prefix", ""),
        pooling=manifest.get("pooling", "mean"),
        max_positions=manifest.get("max_positions"),
        head_tokens=tuple(frame.get("head", [])),
        tail_tokens=tuple(frame.get("tail", [])),
    )


def read_manifest(directory: Path) -> dict:
    """The parsed `streamproc_model.json` of a multi-head folder."""
    manifest = json.loads((Path(directory) / MANIFEST).read_text())
    if manifest.get("format") not in FORMATS:
        raise ValueError(f"{directory}: unknown model format {manifest.get('format')!r}, expected one of {FORMATS}")
    return manifest


def is_multihead_dir(directory: Path) -> bool:
    """True when the folder holds a streamproc multi-head model."""
    return (Path(directory) / MANIFEST).is_file()


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
