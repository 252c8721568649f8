"""Numeric precision of the encoder: float32, float16/bfloat16 (GPU), or int8 dynamic quantisation (CPU)."""

from __future__ import annotations

import warnings
from typing import Literal, TypeVar, cast

import torch
from torch import nn

from streamproc.errors import UserError

Precision = Literal["auto", "float32", "float16", "bfloat16", "int8"]
ModuleT = TypeVar("ModuleT", bound=nn.Module)
_FLOATS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def weight_dtype(precision: Precision, device: torch.device) -> torch.dtype | None:
    """The dtype to load weights in; `auto` = bfloat16 on a GPU that supports it, else float16; float32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if precision == "int8":
        if device.type == "cuda":
            raise UserError("STREAMPROC_INFERENCE_PRECISION=int8 is a CPU path: use auto, float16 or bfloat16 on a GPU")
        return None
    return _FLOATS[precision]


def quantize_int8(model: ModuleT) -> ModuleT:
    """Dynamic int8 quantisation of every Linear layer (weights int8, activations quantised per batch), CPU only."""
    # torch marks its eager quantisation API deprecated (migration target: torchao); it still works in the
    # pinned torch and is exercised by the tests, so the warnings are not shown to every worker start.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        from torch.ao.quantization import quantize_dynamic

        return cast(ModuleT, quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8))  # a copy of the same class
