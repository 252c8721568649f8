"""Training side of the character n-gram branch: the TF-IDF matrix of a text list and its IDF vector.

Uses the runtime's hashing (`streamproc.inference.char_ngrams`), so a model trained on these features
reads the same bags in the worker; `char_batch` there applies the same sublinear-tf × idf and L2 norm.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.preprocessing import normalize
from tqdm import tqdm

from streamproc.inference.char_ngrams import CharNgramSpec, bucket_counts

CHUNK = 256  # texts hashed together (numpy arrays of a few MB)


def count_matrix(texts: list[str], spec: CharNgramSpec, desc: str = "char n-grams") -> sparse.csr_matrix:
    """Texts × buckets matrix of n-gram counts."""
    rows, columns, values = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in tqdm(range(0, len(texts), CHUNK), desc=desc, unit="chunk", mininterval=5, leave=False):
        owner, bucket, count = bucket_counts(texts[start : start + CHUNK], spec)
        rows.append(owner + start)
        columns.append(bucket)
        values.append(count)
    return sparse.csr_matrix(
        (np.concatenate(values).astype(np.float32), (np.concatenate(rows), np.concatenate(columns))),
        shape=(len(texts), spec.buckets),
    )


def fit_idf(counts: sparse.csr_matrix) -> np.ndarray:
    """Smoothed inverse document frequency per bucket, as sklearn's `TfidfTransformer(smooth_idf=True)`."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1 + n) / (1 + df)) + 1).astype(np.float32)


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear tf × idf, each row L2-normalised (what `char_batch` computes at serving time)."""
    weighted = counts.copy()
    weighted.data = (1.0 + np.log(weighted.data)) * idf[weighted.indices]
    return normalize(weighted, norm="l2", copy=False).astype(np.float32)
