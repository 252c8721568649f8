"""Near-duplicate articles grouped into stories: MinHash over character shingles, LSH bands in Redis.

Wire stories are republished by many outlets with another byline, outlet tag or dateline, a trimmed last
paragraph or other title punctuation; a re-crawl under a new URL is a new article id. Each article gets a
`story_id`, the id of the first article of its story, so the review queue holds one item per story and one
decision labels every copy (`streamproc.review.queue`, `streamproc.review.desk`).

- **Signature** (`fingerprint`, CPU, in the worker's inference thread with the rest of `parse_batch`): the model input
  (`Article.text`, already capped at 1,000 + 4,000 characters) lower-cased with everything but letters and digits
  dropped (punctuation and spacing changes do not count), its character `SHINGLE`-grams, a 32-bit hash of each
  (`shingle_hashes`, all at once in numpy), and `datasketch.MinHash` (`NUM_PERM` permutations, the `affine32` scheme,
  seed 1: the same signature in every worker and after every restart). The LSH layout (`bands` x `rows`) is
  datasketch's `MinHashLSH` optimum for the threshold.
- **Index** (`StoryIndex.assign`, one Lua script per batch, atomic): per article, the bucket of each band
  (`{prefix}:band:<i>:<hash>` -> the first article that had it) names candidates; a candidate joins the article
  to its story only when the signatures agree on at least `threshold` of the positions (the MinHash estimate
  of the Jaccard similarity), so a band collision alone never merges. The article's story and signature
  (`{prefix}:copy:<id>`), the story's members (`{prefix}:members:<story>`) and its state (`{prefix}:story:<story>`:
  `n` members, `rep` the item queued for it, `decided` the item whose decision applies) are written in the same
  script. Two workers that see two copies at the same moment are serialised by Redis: the second joins the
  first's story. Every key expires `story_days` after the story last grew, so the index stays bounded; a copy
  arriving later starts a story of its own. A replay finds its `{prefix}:copy:<id>` and keeps its story.

Why not datasketch's own Redis storage (`MinHashLSH(storage_config={"type": "redis"})`): its query and insert
are separate round trips, so two workers could both find no match and open two stories for one wire story; its
keys carry no expiry (the index would grow forever) and are not in the review prefix's hash tag (a Redis Cluster
would scatter them); and the story's decision must be read in the same atomic step that adds the copy, or a
copy could slip into the queue while its story is being decided. The signature and the band layout still come
from datasketch; the buckets are ours.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from streamproc.review.queue import ReviewKeys, classify_redis_error

NUM_PERM = 128
SHINGLE = 5
SEED = 1
SCHEME = "affine32"  # 32-bit hash values: 4 bytes a position, 512 bytes a signature
# in the key names: a new signature scheme starts a new index instead of comparing unlike values (v1: SHA-1 per
# shingle; v2: `shingle_hashes`)
VERSION = "v2"
_POLYNOMIAL = np.uint64(0x100000001B3)  # an odd 64-bit multiplier (FNV's prime) for `shingle_hashes`


@dataclass(frozen=True)
class LshLayout:
    """How the signature is cut into bands for a threshold (datasketch's optimum for `NUM_PERM`)."""

    threshold: float
    bands: int
    rows: int

    @property
    def agreeing_positions(self) -> int:
        """Signature positions that must agree for two articles to be copies: the threshold of `NUM_PERM`."""
        return math.ceil(self.threshold * NUM_PERM - 1e-9)


@cache
def lsh_layout(threshold: float) -> LshLayout:
    """The band layout datasketch's `MinHashLSH` chooses for `threshold` (equal weight on misses and false hits)."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    return LshLayout(threshold, lsh.b, lsh.r)


@dataclass(frozen=True)
class Fingerprint:
    """An article's MinHash signature (`NUM_PERM` little-endian uint32) and its band hashes."""

    signature: bytes
    bands: tuple[str, ...]


def shingles(text: str) -> set[bytes]:
    """The character `SHINGLE`-grams of `text`'s letters and digits, lower-cased (the whole of a shorter text)."""
    letters = _letters(text)
    if len(letters) <= SHINGLE:
        return {letters.encode()} if letters else set()
    return {letters[i : i + SHINGLE].encode() for i in range(len(letters) - SHINGLE + 1)}


def shingle_hashes(text: str) -> list[int]:
    """A 32-bit hash of each distinct shingle of `text` (`shingles`), computed for all of them at once: a polynomial
    over the code points in 64-bit arithmetic, folded to 32 bits. datasketch's `affine32` scheme runs every value
    through MurmurHash3's finalizer before its permutations, so this plain hash is enough; hashing shingle by
    shingle in Python (SHA-1, datasketch's default) was three quarters of a full article's CPU in the worker."""
    letters = _letters(text)
    if not letters:
        return []
    codes = np.frombuffer(letters.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    width = min(SHINGLE, len(codes))
    count = len(codes) - width + 1
    hashes = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        hashes = hashes * _POLYNOMIAL + codes[offset : offset + count]
    folded = (hashes ^ (hashes >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return np.unique(folded).tolist()


def _letters(text: str) -> str:
    return "".join(filter(str.isalnum, text.lower()))


def signature(text: str) -> np.ndarray:
    """The MinHash signature of `text` (uint32, `NUM_PERM` values) over its shingles' hashes."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, hashfunc=int, permutations=_permutations())
    minhash.update_batch(shingle_hashes(text))
    return np.asarray(minhash.hashvalues, dtype="<u4")


@cache
def _permutations() -> np.ndarray:
    """The permutations of `SEED`, drawn once: datasketch draws them again for every `MinHash` it builds, which
    was a third of the signature's cost (profiled in the worker's inference thread)."""
    from datasketch import MinHash

    permutations = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations
    permutations.flags.writeable = False  # shared by every signature
    return permutations


def fingerprint(text: str, layout: LshLayout) -> Fingerprint:
    """Signature and band hashes of `text` (CPU: bounded by the capped model text)."""
    return banded(signature(text), layout)


def banded(values: np.ndarray, layout: LshLayout) -> Fingerprint:
    """The fingerprint of a signature: its bytes and the hash of each band of `layout.rows` values."""
    bands = tuple(
        hashlib.blake2b(values[i * layout.rows : (i + 1) * layout.rows].tobytes(), digest_size=10).hexdigest()
        for i in range(layout.bands)
    )
    return Fingerprint(values.tobytes(), bands)


def agreement(first: bytes, second: bytes) -> float:
    """The share of signature positions two fingerprints agree on (the MinHash estimate of Jaccard similarity)."""
    a, b = np.frombuffer(first, dtype="<u4"), np.frombuffer(second, dtype="<u4")
    return float(np.mean(a == b))


@dataclass(frozen=True)
class StoryInfo:
    """Where an article belongs: its story, how many articles the story has, and the decision that applies to
    it as a copy (the deciding item's consensus record; None while the story is undecided or the article has a
    decision of its own)."""

    story_id: str
    size: int
    decision: dict[str, Any] | None = None

    @property
    def decided_by(self) -> str | None:
        """The id of the item whose decision this copy takes."""
        return None if self.decision is None else str(self.decision["id"])


_ASSIGN = """
local tag, ttl, need, perms, bands = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5])
local version = ARGV[6]
local out = {}
local i = 7
while i <= #ARGV do
  local id, sig = ARGV[i], ARGV[i + 1]
  local copy_key = tag .. ':copy:' .. id
  local story = redis.call('HGET', copy_key, 'story')
  if not story then
    local best, best_same, seen = nil, -1, {}
    for j = 0, bands - 1 do
      local member = redis.call('GET', tag .. ':band:' .. version .. ':' .. j .. ':' .. ARGV[i + 2 + j])
      if member and member ~= id and not seen[member] then
        seen[member] = true
        local other = redis.call('HMGET', tag .. ':copy:' .. member, 'story', 'sig')
        if other[1] and other[2] and #other[2] == #sig then
          local same = 0
          for p = 1, perms * 4, 4 do
            if string.sub(sig, p, p + 3) == string.sub(other[2], p, p + 3) then same = same + 1 end
          end
          if same >= need and same > best_same then best, best_same = other[1], same end
        end
      end
    end
    story = best or id
    redis.call('HSET', copy_key, 'story', story, 'sig', sig)
    redis.call('SADD', tag .. ':members:' .. story, id)
    redis.call('HINCRBY', tag .. ':story:' .. story, 'n', 1)
    for j = 0, bands - 1 do
      redis.call('SET', tag .. ':band:' .. version .. ':' .. j .. ':' .. ARGV[i + 2 + j], id, 'NX', 'EX', ttl)
    end
  end
  local story_key = tag .. ':story:' .. story
  redis.call('EXPIRE', copy_key, ttl)
  redis.call('EXPIRE', tag .. ':members:' .. story, ttl)
  redis.call('EXPIRE', story_key, ttl)
  local size = redis.call('HGET', story_key, 'n') or '1'
  local record = ''
  if redis.call('HEXISTS', KEYS[1], id) == 0 then
    local decided = redis.call('HGET', KEYS[2], id) or redis.call('HGET', story_key, 'decided')
    if decided and decided ~= '' and decided ~= id then
      record = redis.call('HGET', KEYS[1], decided) or ''
    end
  end
  table.insert(out, {story, size, record})
  i = i + 2 + bands
end
return out
"""


class StoryIndex:
    """Puts articles into stories (asynchronous Redis client: the worker's)."""

    what = "Redis story index"

    def __init__(self, client: Redis, prefix: str, threshold: float, days: float) -> None:
        self.client = client
        self.keys = ReviewKeys.for_prefix(prefix)
        self.layout = lsh_layout(threshold)
        self.ttl = max(1, int(days * 86400))
        self._assign = client.register_script(_ASSIGN)

    async def assign(self, articles: list[tuple[str, Fingerprint]]) -> list[StoryInfo]:
        """The story of each (article id, fingerprint), in order; idempotent for a replay.

        Raises `TransientSinkError` (retry) or `PermanentSinkError` like the review queue."""
        import json

        if not articles:
            return []
        layout = self.layout
        args: list[str | bytes | int] = [
            self.keys.tag,
            self.ttl,
            layout.agreeing_positions,
            NUM_PERM,
            layout.bands,
            VERSION,
        ]
        for doc_id, print_ in articles:
            if len(print_.bands) != layout.bands:
                raise ValueError("a fingerprint of another band layout")
            args += [doc_id, print_.signature, *print_.bands]
        try:
            rows = await self._assign(keys=[self.keys.reviewed, self.keys.via], args=args)
        except (RedisError, OSError) as exc:
            classified = classify_redis_error(exc, "story index")
            if classified is None:
                raise
            raise classified from exc
        infos = []
        for story, size, record in rows:
            text = record.decode() if isinstance(record, bytes) else record
            infos.append(StoryInfo(_text(story), int(size), json.loads(text) if text else None))
        return infos


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
