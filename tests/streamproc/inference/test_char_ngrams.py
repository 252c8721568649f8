"""The vectorised n-gram hashing equals the definition: CRC-32 of each n-gram's UTF-8 bytes, per text."""

from __future__ import annotations

import random
import zlib
from collections import Counter

import pytest

from streamproc.inference.char_ngrams import CharNgramSpec, bucket_counts


def reference_counts(text: str, spec: CharNgramSpec) -> Counter[int]:
    """The branch's definition, one n-gram at a time (what models trained before the vectorised hash read)."""
    text = " ".join(text.lower().split())[: spec.max_chars]
    counts: Counter[int] = Counter()
    for n in range(spec.n_min, spec.n_max + 1):
        for start in range(len(text) - n + 1):
            counts[zlib.crc32(text[start : start + n].encode("utf-8")) % spec.buckets] += 1
    return counts


def mixed_texts() -> list[str]:
    """Edge cases plus random strings of 1-, 2-, 3- and 4-byte characters."""
    rng = random.Random(7)
    ranges = [(0x20, 0x7F), (0xA0, 0x800), (0xAC00, 0xD7A4), (0x10000, 0x10FFFF)]
    texts = ["", "a", "ab", "  프로농구   개막전\t매진 ", "Café NAÏVE", "😀 emoji 𝄞", "주가 상승 마감 주가", "x" * 50]
    for _ in range(150):
        texts.append("".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randrange(0, 30))))
    return texts


@pytest.mark.parametrize(
    "spec",
    [CharNgramSpec(), CharNgramSpec(n_min=2, n_max=4, buckets=1000, max_chars=20), CharNgramSpec(1, 1, 7)],
    ids=["default", "2-4-grams-cut-at-20", "unigrams-7-buckets"],
)
def test_bucket_counts_equal_the_per_ngram_crc32(spec: CharNgramSpec) -> None:
    texts = mixed_texts()
    owner, bucket, count = bucket_counts(texts, spec)
    assert list(owner) == sorted(owner)
    for index, text in enumerate(texts):
        mine = owner == index
        assert dict(zip(bucket[mine].tolist(), count[mine].tolist(), strict=True)) == reference_counts(text, spec)


def test_a_lone_surrogate_is_hashed_not_raised() -> None:
    owner, bucket, _ = bucket_counts(["a\ud800b", "ok"], CharNgramSpec(1, 1, 2**20))
    assert set(owner.tolist()) == {0, 1}
    assert zlib.crc32("\ud800".encode("utf-8", "surrogatepass")) % 2**20 in bucket[owner == 0].tolist()
