"""What a model's recipe assumed about its encoder, recorded in `streamproc_model.json` and read by serving.

- `input_prefix`: text put before every input, by `streamproc.inference.truncation.token_ids` (the one function
  training and serving both call); "" for none. The character n-gram branch reads the text without it: a
  constant prefix adds the same n-grams to every text and would only tie the branch to the encoder.
- `pooling`: the sentence vector the heads read: `mean` of the token states or the first (`cls`) token's state.
- `max_positions`: how many tokens the encoder's position embeddings take (RoBERTa-style position ids start
  after the padding id, so 2 fewer than `max_position_embeddings`); training and serving cut texts within it.
- `special_tokens`: what the tokenizer puts before (`head`) and after (`tail`) a text; head + tail truncation
  keeps them and cuts the text between them. Serving refuses a folder whose tokenizer frames texts otherwise.

A folder written before these keys reads as it always did: no prefix, its `pooling`, the positions its config
allows, and its tokenizer's own frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

from streamproc.cli.safe_text import printable
from streamproc.errors import UserError

Pooling = Literal["mean", "cls"]
POOLINGS: tuple[str, ...] = get_args(Pooling)
# Model types whose position ids start after the padding id (`create_position_ids_from_input_ids`).
PADDING_OFFSET_TYPES = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text")
PROBE = "a b"  # any text with at least one token of its own: what the tokenizer adds around it is the frame
MAX_PREFIX_CHARS = 200


@dataclass(frozen=True)
class EncoderProfile:
    """The encoder properties a model was trained with (see the module docstring)."""

    input_prefix: str = ""
    pooling: Pooling = "mean"
    max_positions: int | None = None  # None: the config does not say (no cap beyond the asked length)
    head_tokens: tuple[str, ...] = ()
    tail_tokens: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_pooling(self.pooling)
        if len(self.input_prefix) > MAX_PREFIX_CHARS or "\n" in self.input_prefix:
            raise UserError(f"input prefix must be one line of at most {MAX_PREFIX_CHARS} characters")

    def manifest(self) -> dict[str, Any]:
        """The manifest keys (pooling is written by the model itself)."""
        return {
            "input_prefix": self.input_prefix,
            "max_positions": self.max_positions,
            "special_tokens": {"head": list(self.head_tokens), "tail": list(self.tail_tokens)},
        }

    def cap(self, max_tokens: int) -> int:
        """`max_tokens`, at most what the position embeddings take."""
        return max_tokens if self.max_positions is None else min(max_tokens, self.max_positions)

    def describe(self) -> str:
        """One line for people: pooling, prefix, positions and the frame head + tail truncation keeps."""
        prefix = f"input prefix {printable(repr(self.input_prefix))}" if self.input_prefix else "no input prefix"
        pooled = "mean pooling" if self.pooling == "mean" else "first-token pooling"
        positions = f"{self.max_positions} positions" if self.max_positions is not None else "positions not limited"
        frame = f"{' '.join(self.head_tokens) or '(nothing)'} … {' '.join(self.tail_tokens) or '(nothing)'}"
        return f"{pooled}, {prefix}, {positions}, special tokens {printable(frame)}"


def check_pooling(value: object) -> Pooling:
    """`value` as a pooling name; anything else is a clear error (e.g. from a hand-edited file)."""
    if value not in POOLINGS:
        raise UserError(f"unknown pooling {value!r}: expected one of {', '.join(POOLINGS)}")
    return value  # type: ignore[return-value]


def max_positions(config: Any) -> int | None:
    """Tokens the encoder's position embeddings take: `max_position_embeddings`, less the padding offset of
    RoBERTa-style models (their ids start at padding id + 1); None when the config does not say."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if getattr(config, "model_type", None) in PADDING_OFFSET_TYPES:
        pad = getattr(config, "pad_token_id", None)
        return int(positions) - ((1 if pad is None else int(pad)) + 1)
    return int(positions)


def tokenizer_frame(tokenizer: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The special tokens the tokenizer puts before and after a text (e.g. ("[CLS]",), ("[SEP]",))."""
    encoded = tokenizer(PROBE, return_special_tokens_mask=True)
    ids, special = encoded["input_ids"], encoded["special_tokens_mask"]
    start = 0
    while start < len(ids) and special[start]:
        start += 1
    stop = len(ids)
    while stop > start and special[stop - 1]:
        stop -= 1
    tokens = tokenizer.convert_ids_to_tokens(list(ids))
    return tuple(tokens[:start]), tuple(tokens[stop:])


def derived_profile(config: Any, tokenizer: Any, pooling: Pooling = "mean", input_prefix: str = "") -> EncoderProfile:
    """The properties an encoder folder's config and tokenizer determine, with the given pooling and prefix."""
    head, tail = tokenizer_frame(tokenizer)
    return EncoderProfile(input_prefix, check_pooling(pooling), max_positions(config), head, tail)


def served_profile(manifest: dict[str, Any], config: Any, tokenizer: Any, folder: Path) -> EncoderProfile:
    """The profile a model folder is served with: its manifest's keys, the rest from its config and tokenizer.

    A manifest that records special tokens the folder's tokenizer does not put around a text is refused: the
    encoder would read other ids than it was trained on.
    """
    derived = derived_profile(config, tokenizer, manifest.get("pooling", "mean"), manifest.get("input_prefix", ""))
    recorded = manifest.get("special_tokens")
    if recorded is not None:
        frame = (tuple(recorded.get("head", [])), tuple(recorded.get("tail", [])))
        if frame != (derived.head_tokens, derived.tail_tokens):
            raise UserError(
                f"{folder}: the model was trained with the special tokens {_frame(frame)} around each text, but "
                f"the tokenizer in its encoder/ folder puts {_frame((derived.head_tokens, derived.tail_tokens))}: "
                "the folder was changed after training; serve the folder as it was written"
            )
    positions = manifest.get("max_positions")
    return derived if positions is None else replace(derived, max_positions=int(positions))


def _frame(frame: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return printable(f"{' '.join(frame[0]) or '(nothing)'} … {' '.join(frame[1]) or '(nothing)'}")
