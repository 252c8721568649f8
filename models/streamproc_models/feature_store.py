"""A persistent cache of frozen-encoder features, one vector per text, keyed by the encoder's weights.

`streamproc retrain` refits the heads on the serving model's frozen encoder: its base data (tens of thousands of
texts) is the same from one retrain to the next, only the reviewed rows are new. Encoding the base data took
nearly all of a retrain (14 minutes on 2 cores); with this store it is read back, and only texts not seen before
are encoded. One SQLite file per (encoder weights, max tokens, truncation, prefix, pooling):
`<store>/<key>.sqlite`, rows (sha256 of the text, float32 vector). The weights' fingerprint is a hash of the
loaded encoder's tensors, so the default build, the models it promotes and every fast-path retrain (the same
frozen encoder, copied) share one cache, and a fine-tuned encoder gets its own.
"""

from __future__ import annotations

import hashlib
import sqlite3
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

LOOKUP_CHUNK = 500  # SQLite's default limit on host parameters is 999
STORE_FOLDER = "feature-cache"  # under the model store: the default build and `retrain` share it


def encoder_fingerprint(encoder: torch.nn.Module) -> str:
    """SHA-256 of an encoder's weights, in name order (the pooler left out: nothing here reads it), computed once
    per loaded model. Two folders holding the same weights (a fast-path model copies its frozen encoder) give the
    same fingerprint."""
    known = _FINGERPRINTS.get(encoder)
    if known is None:
        digest = hashlib.sha256()
        for name, tensor in sorted(encoder.state_dict().items()):
            if not name.startswith("pooler."):
                digest.update(name.encode() + b"\0")
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        known = _FINGERPRINTS[encoder] = digest.hexdigest()
    return known


_FINGERPRINTS: weakref.WeakKeyDictionary[torch.nn.Module, str] = weakref.WeakKeyDictionary()


class FeatureStore:
    """Vectors by text for one encoder and tokenisation."""

    def __init__(
        self,
        directory: Path,
        fingerprint: str,
        max_length: int,
        truncation: str,
        prefix: str = "",
        pooling: str = "mean",
    ) -> None:
        key = hashlib.sha256(f"{fingerprint}\0{max_length}\0{truncation}".encode())
        if prefix or pooling != "mean":  # the key of a mean-pooled, unprefixed encoder stays what it was
            key.update(f"\0{prefix}\0{pooling}".encode())
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / f"{key.hexdigest()[:24]}.sqlite"
        self.connection = sqlite3.connect(self.path)
        self.connection.execute("CREATE TABLE IF NOT EXISTS features (text BLOB PRIMARY KEY, vector BLOB NOT NULL)")

    def close(self) -> None:
        """Close the database."""
        self.connection.close()

    def features(self, texts: list[str], width: int, encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """One row per text: stored rows read back, the others `encode`d (once per distinct text) and stored."""
        keys = [hashlib.sha256(text.encode("utf-8")).digest() for text in texts]
        found: dict[bytes, np.ndarray] = {}
        distinct = list(dict.fromkeys(keys))
        for start in range(0, len(distinct), LOOKUP_CHUNK):
            chunk = distinct[start : start + LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.connection.execute(f"SELECT text, vector FROM features WHERE text IN ({marks})", chunk)
            found.update((key, np.frombuffer(vector, dtype=np.float32)) for key, vector in rows)
        missing = [key for key in distinct if key not in found]
        if missing:
            first = {key: text for key, text in zip(keys, texts, strict=True) if key not in found}
            encoded = encode([first[key] for key in missing]).astype(np.float32)
            with self.connection:
                self.connection.executemany(
                    "INSERT OR REPLACE INTO features VALUES (?, ?)",
                    [(key, row.tobytes()) for key, row in zip(missing, encoded, strict=True)],
                )
            found.update(zip(missing, encoded, strict=True))
        out = np.zeros((len(texts), width), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out
