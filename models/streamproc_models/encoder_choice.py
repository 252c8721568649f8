"""The encoder properties the recipes use (`streamproc.inference.encoder_profile`): chosen from a base folder, or
read back from a model folder.

On a base folder (`build-defaults --base`, `train --base`, `al-sim --base`, `retrain --base`):
- pooling: what the folder's `streamproc_encoder.json` says, else its sentence-transformers pooling config
  (`modules.json` names the Pooling module; first token when its config sets `pooling_mode_cls_token`, mean when
  it sets `pooling_mode_mean_tokens`), else **mean**: the safe choice for encoders never trained to give a
  sentence vector (the first-token state of a BERT, ELECTRA or RoBERTa is a poor one until fine-tuned);
- input prefix: what `streamproc_encoder.json` says, else **none**. A sentence-transformers `prompts` entry is
  not taken: e5's documented "query: " was measured on this project's data and bought nothing (docs/models.md);
- max positions and the special tokens around a text: from the folder's config and tokenizer.

A model folder (retrain's fast path, which reuses the serving model's encoder) is read back as it is served: its
manifest, the rest from its config and tokenizer; never from the folder its encoder first came from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamproc.cli.safe_text import printable
from streamproc.errors import UserError
from streamproc.inference.encoder_profile import EncoderProfile, check_pooling, derived_profile, served_profile
from streamproc.inference.multihead import read_manifest

OVERRIDES = "streamproc_encoder.json"
OVERRIDE_KEYS = ("input_prefix", "pooling")


def base_profile(base: Path, config: Any = None, tokenizer: Any = None) -> tuple[EncoderProfile, str]:
    """The profile of a base encoder folder, and where its pooling and prefix came from (one phrase).

    `config` and `tokenizer` are the folder's, loaded here when not given.
    """
    base = Path(base)
    config, tokenizer = _config_and_tokenizer(base, config, tokenizer)
    chosen = _overrides(base)
    pooling, source = chosen.get("pooling"), f"set in {OVERRIDES}"
    if pooling is None:
        pooling, source = _sentence_transformers_pooling(base), "the folder's sentence-transformers pooling"
    if pooling is None:
        pooling, source = "mean", "default"
    if "input_prefix" in chosen:
        source += f"; prefix set in {OVERRIDES}"
    profile = derived_profile(config, tokenizer, check_pooling(pooling), str(chosen.get("input_prefix", "")))
    if profile.pooling == "cls" and not profile.head_tokens:
        raise UserError(f"{base}: first-token pooling, but the tokenizer puts no special token before a text")
    return profile, source


def describe_base(base: Path, profile: EncoderProfile, source: str) -> str:
    """The line the recipes print about the encoder they train on (its model type, profile, and why)."""
    try:
        model_type = json.loads((Path(base) / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        model_type = None
    kind = f" ({printable(model_type)})" if model_type else ""
    return f"encoder {printable(base)}{kind}: {profile.describe()} (pooling: {source})"


def model_profile(folder: Path) -> EncoderProfile:
    """The profile a model folder is served with (`streamproc.inference.encoder_profile.served_profile`)."""
    folder = Path(folder)
    config, tokenizer = _config_and_tokenizer(folder / "encoder", None, None)
    return served_profile(read_manifest(folder), config, tokenizer, folder)


def _config_and_tokenizer(folder: Path, config: Any, tokenizer: Any) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoTokenizer

    if not (folder / "config.json").is_file():
        raise UserError(f"no base encoder in {folder} (expected a Hugging Face model folder with config.json)")
    if config is None:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return config, tokenizer


def _overrides(base: Path) -> dict[str, Any]:
    """The folder's `streamproc_encoder.json` ({} without one); unknown keys are a clear error."""
    path = base / OVERRIDES
    if not path.is_file():
        return {}
    try:
        chosen = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not JSON ({exc})") from None
    if not isinstance(chosen, dict):
        raise UserError(f"{path}: expected an object with {' and/or '.join(OVERRIDE_KEYS)}")
    unknown = sorted(set(chosen) - set(OVERRIDE_KEYS))
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(OVERRIDE_KEYS)})")
    if not isinstance(chosen.get("input_prefix", ""), str):
        raise UserError(f"{path}: input_prefix must be a string")
    return chosen


def _sentence_transformers_pooling(base: Path) -> str | None:
    """First-token (`cls`) or `mean` from a sentence-transformers folder's Pooling module config; None without."""
    modules = base / "modules.json"
    if not modules.is_file():
        return None
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
        for entry in entries:
            if str(entry.get("type", "")).endswith("Pooling"):
                config = json.loads((base / entry["path"] / "config.json").read_text(encoding="utf-8"))
                if config.get("pooling_mode_cls_token"):
                    return "cls"
                if config.get("pooling_mode_mean_tokens"):
                    return "mean"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # an unreadable sentence-transformers config: the default below
    return None
