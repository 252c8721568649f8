"""The Redis review queue: articles the models are unsure about, most uncertain first, one entry per id; and the
audit sample, a uniformly random share of all articles, reviewed blind (`streamproc.review.audit`).

Keys (the `{prefix}` hash tag keeps them in one Redis Cluster slot):
- `{prefix}:pending`  sorted set, member = article id, score = uncertainty (highest is reviewed first)
- `{prefix}:sample`   sorted set of the audit sample's waiting articles, score = when they were queued (oldest
  first); claims interleave them with the uncertain ones (`streamproc.review.desk`)
- `{prefix}:items`    hash, article id -> JSON summary shown to the reviewer (`"audit": true` for the sample)
- `{prefix}:reviewed` hash, article id -> the reviewer's decision (written by `streamproc.review`); ids in it
  are never queued again, even when a replay re-processes the article.
- `{prefix}:leases`, `{prefix}:skipped`, `{prefix}:claims`, `{prefix}:audit`, `{prefix}:stats`: the reviewers'
  side, see `streamproc.review.desk`. An id that is leased or skipped is not queued again either.

The queue is bounded (`review_queue_max`): when a push makes it longer, the least uncertain waiting entries are
dropped (their summaries too) and counted in `{prefix}:stats` field `dropped`; the audit sample has the same
bound, and drops its oldest waiting entries (`dropped_audit`): which ones is unrelated to their content, so the
sample stays uniform.

Each push leaves a receipt, `{prefix}:push:<digest of the batch>` (expires after an hour) holding how many it
added: when Redis applied a push but its reply was lost (the server killed mid-reply), the retry of the same
batch returns that count instead of 0, so "newly queued" stays exact. A replay is a new batch (new
`processed_at`) and gets its own receipt.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    BusyLoadingError,
    ClusterDownError,
    MasterDownError,
    NoPermissionError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streamproc.review.summary import review_summary
from streamproc.sinks.outgoing import OutgoingBatch
from streamproc.sinks.retry import PermanentSinkError, TransientSinkError

# Server states that pass: loading, fail-over, cluster reconfiguring, out of memory until something is freed.
_TRANSIENT = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    TryAgainError,
    ClusterDownError,
    MasterDownError,
)
_TRANSIENT_REPLIES = ("OOM", "LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY")

_PUSH = """
local receipt = redis.call('GET', KEYS[7])
if receipt then
  return tonumber(receipt)
end
local added = 0
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local tag, ttl = ARGV[4], tonumber(ARGV[5])
local function in_progress(rep)
  -- a story's item that a reviewer holds, skipped, voted on or disputed: its copies wait for that decision
  return redis.call('ZSCORE', KEYS[4], rep) or redis.call('ZSCORE', KEYS[5], rep)
    or redis.call('ZSCORE', KEYS[9], rep) or redis.call('EXISTS', tag .. ':votes:' .. rep) == 1
end
for i = 6, #ARGV, 5 do
  local id, score, summary, audit, story = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  if redis.call('HEXISTS', KEYS[3], id) == 0 and not redis.call('ZSCORE', KEYS[4], id)
      and not redis.call('ZSCORE', KEYS[5], id) then
    if audit == '1' then
      -- the audit sample stays a uniform sample of articles: queued whatever its story's state
      added = added + redis.call('ZADD', KEYS[8], 'NX', now, id)
      redis.call('HSET', KEYS[2], id, summary)
    elseif redis.call('HEXISTS', KEYS[10], id) == 0 then
      local story_key = tag .. ':story:' .. story
      local state = redis.call('HMGET', story_key, 'decided', 'rep')
      local take = not state[1] or state[1] == ''
      local rep = state[2]
      if take and rep and rep ~= '' and rep ~= id then
        local rep_score = redis.call('ZSCORE', KEYS[1], rep)
        if in_progress(rep) then
          take = false
        elseif rep_score then
          if score > tonumber(rep_score) then  -- the most uncertain copy represents the story
            redis.call('ZREM', KEYS[1], rep)
            redis.call('HDEL', KEYS[2], rep)
            added = added - 1
          else
            take = false
          end
        end
      end
      if take then
        added = added + redis.call('ZADD', KEYS[1], 'NX', score, id)
        redis.call('HSET', KEYS[2], id, summary)
        redis.call('HSET', story_key, 'rep', id)
        redis.call('EXPIRE', story_key, ttl)
      else
        redis.call('HINCRBY', KEYS[6], 'copies', 1)
      end
    end
  end
end
local function bound(queue, counter)
  local excess = redis.call('ZCARD', queue) - limit
  if excess > 0 then
    local dropped = redis.call('ZPOPMIN', queue, excess)
    for j = 1, #dropped, 2 do
      redis.call('HDEL', KEYS[2], dropped[j])
    end
    redis.call('HINCRBY', KEYS[6], counter, excess)
  end
end
bound(KEYS[1], 'dropped')
bound(KEYS[8], 'dropped_audit')
if added < 0 then added = 0 end
redis.call('SET', KEYS[7], added, 'EX', ARGV[2])
return added
"""
PUSH_RECEIPT_SECONDS = 3600  # a retry reaches Redis within `sink_retry_max` (at most an hour) of its return


@dataclass(frozen=True)
class ReviewKeys:
    """The Redis keys of one review queue."""

    pending: str
    items: str
    reviewed: str
    leases: str
    skipped: str
    claims: str
    audit: str  # the audit trail: a stream of every decision
    stats: str
    push: str  # prefix of the push receipts
    sample: str  # the audit sample's waiting articles
    disputed: str  # items whose votes reached no consensus (`streamproc.review.desk`)
    via: str  # copy id -> the item whose decision it took (`streamproc.review.stories`)
    users: str  # reviewer accounts (`streamproc.review.accounts`)
    tag: str  # "{prefix}": the hash tag of every key, and the start of the per-article keys

    def receipt(self, documents: Sequence[dict[str, Any]]) -> str:
        """The key of one batch's push receipt: the same for every retry of the batch, new for a replay."""
        batch = json.dumps([[doc["id"], str(doc["processed_at"])] for doc in documents]).encode()
        return f"{self.push}:{hashlib.sha256(batch).hexdigest()[:32]}"

    @classmethod
    def for_prefix(cls, prefix: str) -> ReviewKeys:
        """Keys under `{prefix}`."""
        tag = "{" + prefix + "}"
        names: tuple[str, ...] = ("pending", "items", "reviewed", "leases", "skipped", "claims", "audit", "stats")
        names += ("push", "sample", "disputed", "via", "users")
        return cls(tag=tag, **{name: f"{tag}:{name}" for name in names})


class ReviewQueue:
    """Adds documents to the queue atomically and idempotently."""

    what = "Redis review queue"
    metric = "redis"

    def __init__(
        self, client: Redis, prefix: str, tasks: Sequence[str], max_size: int = 10_000, story_days: float = 7.0
    ) -> None:
        self.client = client
        self.keys = ReviewKeys.for_prefix(prefix)
        self.tasks = tuple(tasks)
        self.max_size = max_size
        self.story_ttl = max(1, int(story_days * 86400))
        self._push = client.register_script(_PUSH)

    async def write(self, batch: OutgoingBatch) -> None:
        """Queue the batch's articles that need review (by their max uncertainty; not a copy of a decided story)
        and those of the audit sample; count the new ones."""
        wanted = [
            article
            for article in batch.articles
            if article.audit or (article.document.needs_review and article.copy_of is None)
        ]
        batch.queued = await self.push(
            [(article.document.worker_fields(), article.text, article.audit) for article in wanted]
        )

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()

    async def push(self, documents: list[tuple[dict[str, Any], str, bool]]) -> int:
        """Queue (document, model text, in the audit sample) triples: uncertain ones by their max uncertainty, one
        item per story (`story_id`; a document without one is a story of its own), the most uncertain copy
        representing it; the audit sample's in arrival order, each on its own; returns how many were new.

        Raises `TransientSinkError` (retry) or `PermanentSinkError` (credentials, permissions, a refused script).
        """
        if not documents:
            return 0
        k = self.keys
        args: list[str | float] = [self.max_size, PUSH_RECEIPT_SECONDS, time.time(), k.tag, self.story_ttl]
        for doc, text, audit in documents:
            summary = review_summary(doc, text, self.tasks, audit)
            story = doc.get("story_id") or doc["id"]
            args += [doc["id"], doc["uncertainty"]["max"], json.dumps(summary, ensure_ascii=False), int(audit), story]
        receipt = k.receipt([doc for doc, *_ in documents])
        keys = [k.pending, k.items, k.reviewed, k.leases, k.skipped, k.stats, receipt, k.sample, k.disputed, k.via]
        try:
            return int(await self._push(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            classified = classify_redis_error(exc)
            if classified is None:
                raise  # e.g. DataError: the worker passed something it should not have; a bug, not Redis's state
            raise classified from exc


def classify_redis_error(
    exc: RedisError | OSError, part: str = "review queue"
) -> TransientSinkError | PermanentSinkError | None:
    """Transient while Redis is down, loading, failing over or out of memory; permanent when it refuses us;
    None for a client-side error (a bug). `part` names what was asked of Redis in the message."""
    if isinstance(exc, AuthenticationError | AuthorizationError | NoPermissionError):
        return PermanentSinkError(f"Redis refused the {part}'s credentials or permissions: {exc}")
    if isinstance(exc, (*_TRANSIENT, OSError)) or str(exc).startswith(_TRANSIENT_REPLIES):
        return TransientSinkError(f"Redis {part} unavailable: {exc}")
    if isinstance(exc, ResponseError):
        return PermanentSinkError(f"Redis refused the {part}'s script: {exc}")
    return None
