"""Load classification models from disk (offline) and turn texts into class probabilities per task.

Two folder formats are accepted:
- a streamproc multi-head folder (`streamproc_model.json`): one encoder pass serves every task;
- a Hugging Face `AutoModelForSequenceClassification` folder: one task, labels from `id2label`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from streamproc.errors import UserError
from streamproc.inference.batching import CPU_MAX_ITEMS, chunk_limits, pad, plan_chunks, to_device
from streamproc.inference.encoder_profile import max_positions, served_profile
from streamproc.inference.multihead import MultiHeadClassifier, is_multihead_dir, read_manifest
from streamproc.inference.precision import Precision, quantize_int8, weight_dtype
from streamproc.inference.truncation import LEGACY_TRUNCATION, Truncation, check_truncation, token_ids
from streamproc.inference.versions import folder_version

CHUNK_SIZE = CPU_MAX_ITEMS  # texts per forward pass on CPU (see `batching.chunk_limits`)


@dataclass
class Predictions:
    """Class probabilities per task, in input order, and the loss head's output when there is one."""

    probabilities: dict[str, np.ndarray]
    predicted_loss: np.ndarray | None = None


class Predictor(Protocol):
    """Anything that maps texts to per-task probabilities."""

    tasks: dict[str, list[str]]
    versions: dict[str, str]

    def predict(self, texts: list[str]) -> Predictions:
        """Probabilities for every task, one row per text."""
        ...


def resolve_device(device: str) -> torch.device:
    """`auto` picks CUDA when present, else the CPU; asking for CUDA without one is a user error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("STREAMPROC_DEVICE=cuda but no CUDA device is visible: use auto or cpu")
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


class _TorchPredictor:
    """Shared batching: tokenize once, bucket by token length under the device's limits, restore the order."""

    def __init__(
        self,
        tokenizer,
        device: torch.device,
        max_tokens: int,
        batch_size: int | None = None,
        truncation: Truncation = LEGACY_TRUNCATION,
        prefix: str = "",
    ) -> None:
        self.tokenizer = tokenizer
        self.device = device
        self.max_tokens = max_tokens
        self.truncation = truncation
        self.prefix = prefix
        self.limits = chunk_limits(device, batch_size)

    def _chunks(self, texts: list[str]):
        encoded = token_ids(self.tokenizer, texts, self.max_tokens, self.truncation, self.prefix)
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for part in plan_chunks([len(encoded[i]) for i in order], self.limits):
            index = [order[i] for i in part]
            input_ids, mask = pad([encoded[i] for i in index], self.tokenizer.pad_token_id or 0)
            yield index, to_device(input_ids, self.device), to_device(mask, self.device)


class MultiHeadPredictor(_TorchPredictor):
    """Runs a streamproc multi-head folder."""

    def __init__(
        self,
        directory: Path,
        device: torch.device,
        max_tokens: int,
        batch_size: int | None = None,
        precision: Precision = "auto",
    ) -> None:
        from transformers import AutoTokenizer

        model = MultiHeadClassifier.load(directory, dtype=weight_dtype(precision, device)).to(device)
        if precision == "int8":
            model.encoder = quantize_int8(model.encoder)  # the heads stay float: tiny, and they set the labels
        self.model = model
        manifest = read_manifest(directory)
        # What the heads were trained on; folders from before the manifest recorded it read the head only.
        truncation = check_truncation(manifest.get("truncation", LEGACY_TRUNCATION))
        tokenizer = AutoTokenizer.from_pretrained(directory / "encoder", local_files_only=True)
        # The encoder's properties as the folder records them (prefix, positions, special tokens checked against
        # its tokenizer); a folder from before they were recorded: no prefix, positions from its config.
        self.profile = served_profile(manifest, model.encoder.config, tokenizer, directory)
        limit = self.profile.cap(max_tokens)
        super().__init__(tokenizer, device, limit, batch_size, truncation, self.profile.input_prefix)
        self.precision = precision
        self.tasks = self.model.tasks
        self.versions = {task: self.model.version for task in self.tasks}
        self.has_loss_head = self.model.loss_head is not None

    @torch.inference_mode()
    def predict(self, texts: list[str]) -> Predictions:
        probs = {task: np.zeros((len(texts), len(labels)), np.float32) for task, labels in self.tasks.items()}
        loss = np.zeros(len(texts), np.float32) if self.has_loss_head else None
        branch = self.model.char_branch
        for index, input_ids, mask in self._chunks(texts):
            chars = branch.batch([texts[i] for i in index]) if branch is not None else None
            out = self.model(input_ids, mask, chars)
            for task, logits in out.logits.items():
                probs[task][index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            if loss is not None and out.predicted_loss is not None:
                loss[index] = out.predicted_loss.float().cpu().numpy()
        return Predictions(probs, loss)


class SequenceClassifierPredictor(_TorchPredictor):
    """Runs a Hugging Face sequence-classification folder as one task."""

    has_loss_head = False

    def __init__(
        self,
        directory: Path,
        task: str,
        device: torch.device,
        max_tokens: int,
        batch_size: int | None = None,
        precision: Precision = "auto",
    ) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        dtype = weight_dtype(precision, device)
        model = AutoModelForSequenceClassification.from_pretrained(
            directory, local_files_only=True, dtype=dtype, attn_implementation="sdpa"
        )
        model = model.to(device).eval()
        self.model = quantize_int8(model) if precision == "int8" else model
        limit = position_limit(model.config, max_tokens)
        super().__init__(AutoTokenizer.from_pretrained(directory, local_files_only=True), device, limit, batch_size)
        id2label = model.config.id2label
        self.tasks = {task: [id2label[i] for i in range(len(id2label))]}
        self.versions = {task: folder_version(directory)}

    @torch.inference_mode()
    def predict(self, texts: list[str]) -> Predictions:
        ((task, labels),) = self.tasks.items()
        probs = np.zeros((len(texts), len(labels)), np.float32)
        for index, input_ids, mask in self._chunks(texts):
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits
            probs[index] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return Predictions({task: probs})


class CombinedPredictor:
    """Several single-task predictors behind one `predict` (one folder per task)."""

    has_loss_head = False

    def __init__(self, parts: Sequence[Predictor]) -> None:
        self.parts = list(parts)
        self.tasks = {task: labels for part in parts for task, labels in part.tasks.items()}
        self.versions = {task: version for part in parts for task, version in part.versions.items()}

    def predict(self, texts: list[str]) -> Predictions:
        merged: dict[str, np.ndarray] = {}
        for part in self.parts:
            merged.update(part.predict(texts).probabilities)
        return Predictions(merged)


def load_model(
    directory: Path,
    device: str = "auto",
    max_tokens: int = 256,
    task: str | None = None,
    batch_size: int | None = None,
    precision: Precision = "auto",
) -> MultiHeadPredictor | SequenceClassifierPredictor:
    """Load a model folder of either format; `task` names the task of a Hugging Face folder.

    `batch_size` (the micro-batch) sizes the forward chunks on a GPU; `precision` picks float16/bfloat16 on a GPU
    (`auto`) or int8 dynamic quantisation on CPU.
    """
    directory = Path(directory).expanduser()
    if not (directory / "config.json").is_file() and not is_multihead_dir(directory):
        raise UserError(
            f"no model in {directory}: build the defaults with `streamproc models build-defaults`, "
            "or point STREAMPROC_MULTITASK_MODEL_DIR (or STREAMPROC_TASK_MODEL_DIRS) at a model folder"
        )
    resolved = resolve_device(device)
    if is_multihead_dir(directory):
        return MultiHeadPredictor(directory, resolved, max_tokens, batch_size, precision)
    return SequenceClassifierPredictor(directory, task or directory.name, resolved, max_tokens, batch_size, precision)


def position_limit(config, max_tokens: int) -> int:
    """`max_tokens`, capped at what the model's position embeddings can take (RoBERTa-style ids start at 2)."""
    positions = max_positions(config)
    return max_tokens if positions is None else min(max_tokens, positions)
