"""Which articles go to review: a fixed uncertainty threshold, or a review budget (a target share).

With a budget, the threshold is the (1 - share) quantile of the uncertainties seen so far, estimated with
a KLL sketch (Apache DataSketches: bounded memory, mergeable, rank error about 0.7 % at k=400). The sketch
lives in Redis, so it survives restarts and is shared by every worker of the deployment: each batch merges
its uncertainties into it in an optimistic transaction (WATCH/MULTI) and reads back the threshold. Two
sketches rotate (`current`, `previous`, each up to `window` values) so the estimate follows drift while
remembering at least `window` values. Until `warmup` values were seen the fixed threshold applies. The
key names the uncertainty strategy and the model versions: a new model starts a fresh estimate.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Protocol

import numpy as np
from datasketches import kll_doubles_sketch
from redis.asyncio import Redis
from redis.exceptions import RedisError, WatchError

from streamproc.config import Settings
from streamproc.review.queue import classify_redis_error
from streamproc.sinks.retry import TransientSinkError

log = logging.getLogger(__name__)
SKETCH_K = 400
MAX_WATCH_ATTEMPTS = 50


class ReviewPolicy(Protocol):
    """Gives the uncertainty at or above which an article of this batch needs review."""

    async def threshold(self, uncertainties: list[float]) -> float:
        """The threshold for a batch with these (max per article) uncertainties."""
        ...


class FixedThreshold:
    """The same threshold for every batch (`STREAMPROC_REVIEW_THRESHOLD`)."""

    def __init__(self, value: float) -> None:
        self.value = value

    async def threshold(self, uncertainties: list[float]) -> float:
        """The fixed value."""
        return self.value


class ReviewBudget:
    """Queues about `share` of the articles: those in the top `share` of uncertainty."""

    def __init__(
        self, client: Redis, key: str, share: float, warmup: int, window: int, fallback: float, k: int = SKETCH_K
    ) -> None:
        if not 0 < share < 1:
            raise ValueError("share must be in (0, 1)")
        self.client, self.key, self.share = client, key, share
        self.warmup, self.window, self.fallback, self.k = warmup, window, fallback, k

    async def threshold(self, uncertainties: list[float]) -> float:
        """Merge the batch into the shared sketch, then the (1 - share) quantile (or the fallback)."""
        try:
            merged = await self._merge(uncertainties)
        except (RedisError, OSError) as exc:  # sorted like the review queue's own errors (same server)
            classified = classify_redis_error(exc, "review budget")
            if classified is None:
                raise
            raise classified from exc
        if merged.n < self.warmup:
            return self.fallback
        return float(merged.get_quantile(1.0 - self.share))

    async def _merge(self, uncertainties: list[float]) -> kll_doubles_sketch:
        batch = kll_doubles_sketch(self.k)
        if uncertainties:
            batch.update(np.asarray(uncertainties, dtype=np.float64))
        async with self.client.pipeline(transaction=True) as pipe:
            for _ in range(MAX_WATCH_ATTEMPTS):
                try:
                    await pipe.watch(self.key)
                    stored = await pipe.hgetall(self.key)
                    current = self._load(stored.get(b"current"))
                    previous = self._load(stored.get(b"previous"))
                    current.merge(batch)
                    if current.n >= self.window:
                        previous, current = current, kll_doubles_sketch(self.k)
                    pipe.multi()
                    pipe.hset(self.key, mapping={"current": current.serialize(), "previous": previous.serialize()})
                    await pipe.execute()
                except WatchError:
                    continue  # another worker merged first: read again
                both = kll_doubles_sketch(self.k)
                both.merge(previous)
                both.merge(current)
                return both
        raise TransientSinkError("Redis review budget: too many concurrent updates")

    def _load(self, raw: bytes | str | None) -> kll_doubles_sketch:
        if isinstance(raw, str):  # a client made with decode_responses=True cannot carry the binary sketch
            raise TypeError("the review budget needs a Redis client that returns bytes")
        if raw:
            try:
                return kll_doubles_sketch.deserialize(raw)
            except (RuntimeError, ValueError, IndexError):  # what datasketches raises on bad bytes
                log.warning("review budget: unreadable sketch in %s, starting a new estimate", self.key)
        return kll_doubles_sketch(self.k)


def budget_key(prefix: str, strategy: str, versions: dict[str, str]) -> str:
    """The sketch's key: in the review queue's hash tag, per uncertainty strategy and model versions."""
    scope = hashlib.sha256(json.dumps([strategy, sorted(versions.items())]).encode()).hexdigest()[:12]
    return "{" + prefix + "}" + f":budget:{strategy}:{scope}"


def review_policy(settings: Settings, client: Redis, versions: dict[str, str]) -> ReviewPolicy:
    """The budget when `STREAMPROC_REVIEW_SHARE` is set, else the fixed threshold."""
    if settings.review_share is None:
        return FixedThreshold(settings.review_threshold)
    return ReviewBudget(
        client,
        budget_key(settings.review_key_prefix, settings.uncertainty_strategy, versions),
        settings.review_share,
        warmup=settings.review_share_warmup,
        window=settings.review_share_window,
        fallback=settings.review_threshold,
    )
