"""Claim, label, skip and reject review-queue items atomically (Lua scripts on the queue's Redis keys).

- `claim(reviewer, n)` first puts expired leases back on the queue, then hands the reviewer the items it
  still holds (their lease renewed), then the most uncertain waiting items, then skipped ones (oldest skip
  first). A claimed item is in `{prefix}:leases` (score = lease expiry) and `{prefix}:claims` (who holds it),
  not in `{prefix}:pending`, so no two reviewers ever hold the same item.
- `decide(...)`: `label` and `reject` store the decision in `{prefix}:reviewed` (the worker never queues those
  ids again), `skip` moves the item to `{prefix}:skipped` (claimed only after every waiting item). A decision
  on an item another reviewer holds is refused; the same decision twice is answered `duplicate` and changes
  nothing; a different decision on a decided item is refused.
- Audit trail: every accepted decision is appended, in the same script, to the Redis stream `{prefix}:audit`
  (reviewer, time, the model's labels, probabilities and versions, the previous label when it changes one).
  A stream rather than an Elasticsearch index because it is written atomically with the decision itself:
  no decision without its audit entry and vice versa, even when Elasticsearch is down; the worker never
  writes those keys, so a replay cannot touch them. `streamproc review export` and Elasticsearch are fed
  from the same records.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from redis import Redis

from streamproc.review.queue import ReviewKeys
from streamproc.tasks import TaskSet

Decision = Literal["label", "skip", "reject"]

_CLAIM = """
local now = tonumber(ARGV[3])
local expiry = now + tonumber(ARGV[4])
local reviewer = ARGV[1]
local wanted = tonumber(ARGV[2])
local function item(id)
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then return {} end
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then return decoded end
  return {}
end
local function priority(summary)
  if type(summary.uncertainty) == 'table' and tonumber(summary.uncertainty.max) then
    return tonumber(summary.uncertainty.max)
  end
  return 0
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  local summary = item(id)
  if summary.audit == true then
    redis.call('ZADD', KEYS[9], now, id)
  else
    redis.call('ZADD', KEYS[1], priority(summary), id)
  end
  redis.call('HINCRBY', KEYS[7], 'expired', 1)
end
local out = {}
local function take(id)
  redis.call('ZADD', KEYS[3], expiry, id)
  redis.call('HSET', KEYS[4], id, reviewer)
  table.insert(out, id)
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if #out < wanted and redis.call('HGET', KEYS[4], id) == reviewer then take(id) end
end
-- the audit sample (oldest first) and the uncertain articles (most uncertain first) take turns
while #out < wanted do
  local turn = redis.call('HINCRBY', KEYS[7], 'turns', 1)
  local sample = redis.call('ZRANGE', KEYS[9], 0, 0)
  local top = redis.call('ZREVRANGE', KEYS[1], 0, 0)
  local id, queue = nil, nil
  if #sample > 0 and (#top == 0 or turn % 2 == 0) then
    id, queue = sample[1], KEYS[9]
  elseif #top > 0 then
    id, queue = top[1], KEYS[1]
  else
    break
  end
  redis.call('ZREM', queue, id)
  if redis.call('HEXISTS', KEYS[6], id) == 0 then take(id) end
end
while #out < wanted do
  local oldest = redis.call('ZRANGE', KEYS[5], 0, 0)
  if #oldest == 0 then break end
  redis.call('ZREM', KEYS[5], oldest[1])
  take(oldest[1])
end
return {tostring(expiry), out}
"""

_DECIDE = """
local id, reviewer, now, decision, record = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', KEYS[2], id) == 0 then return {'unknown', ''} end
local done = redis.call('HGET', KEYS[6], id)
if done then
  local previous = cjson.decode(done)
  if previous.decision == decision and previous.fingerprint == cjson.decode(record).fingerprint then
    return {'duplicate', done}
  end
  return {'decided', done}
end
local holder = redis.call('HGET', KEYS[4], id)
if holder and holder ~= reviewer then return {'held', holder} end
if not holder and decision == 'skip' and redis.call('ZSCORE', KEYS[5], id) then return {'duplicate', ''} end
redis.call('ZREM', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('ZREM', KEYS[1], id)
redis.call('ZREM', KEYS[5], id)
redis.call('ZREM', KEYS[9], id)
if decision == 'skip' then
  redis.call('ZADD', KEYS[5], now, id)
else
  redis.call('HSET', KEYS[6], id, record)
end
redis.call('XADD', KEYS[8], '*', 'id', id, 'decision', decision, 'reviewer', reviewer, 'record', record)
redis.call('HINCRBY', KEYS[7], decision, 1)
redis.call('HINCRBY', KEYS[7], 'by:' .. reviewer .. ':' .. decision, 1)
for i = 6, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[7], ARGV[i], tonumber(ARGV[i + 1]))
end
return {'ok', record}
"""


class ReviewError(Exception):
    """A decision that cannot be taken; the message is one line for the reviewer."""


@dataclass(frozen=True)
class ClaimedItem:
    """An item handed to a reviewer, with its lease expiry (Unix seconds)."""

    id: str
    summary: dict[str, Any]
    lease_expires: float

    def model_label(self, task: str) -> str | None:
        """The model's label for `task` (None when the model had no head for it)."""
        return (self.summary.get(task) or {}).get("label")

    @property
    def audit(self) -> bool:
        """Whether the item is in the audit sample: reviewers must not see the model's answers."""
        return bool(self.summary.get("audit"))


@dataclass(frozen=True)
class Outcome:
    """The result of a decision: `ok` (applied) or `duplicate` (already applied, nothing changed)."""

    status: Literal["ok", "duplicate"]
    record: dict[str, Any] | None


class ReviewDesk:
    """The reviewers' operations on one review queue (synchronous Redis client)."""

    def __init__(self, client: Redis, prefix: str, tasks: TaskSet, lease_seconds: float = 600.0) -> None:
        self.client = client
        self.tasks = tasks
        self.keys = ReviewKeys.for_prefix(prefix)
        self.lease_seconds = lease_seconds
        self._claim = client.register_script(_CLAIM)
        self._decide = client.register_script(_DECIDE)

    def _all_keys(self) -> list[str]:
        k = self.keys
        return [k.pending, k.items, k.leases, k.claims, k.skipped, k.reviewed, k.stats, k.audit, k.sample]

    def claim(self, reviewer: str, n: int = 1, now: float | None = None) -> list[ClaimedItem]:
        """Up to `n` items for `reviewer` (those it already holds first), each leased for `lease_seconds`."""
        check_reviewer(reviewer)
        args: list[str | float] = [reviewer, n, now if now is not None else time.time(), self.lease_seconds]
        expiry, ids = self._claim(keys=self._all_keys(), args=args)
        ids = [_text(i) for i in ids]
        summaries = self.client.hmget(self.keys.items, ids) if ids else []
        return [
            ClaimedItem(doc_id, json.loads(raw) if raw else {"id": doc_id}, float(expiry))
            for doc_id, raw in zip(ids, summaries, strict=True)
        ]

    def item(self, doc_id: str) -> dict[str, Any] | None:
        """The stored summary of an item (None when the id was never queued)."""
        raw = self.client.hget(self.keys.items, doc_id)
        return json.loads(raw) if raw else None

    def size(self) -> int:
        """How many articles wait for review (not leased, not skipped), the audit sample's included."""
        return int(self.client.zcard(self.keys.pending)) + self.audit_waiting()

    def audit_waiting(self) -> int:
        """How many articles of the audit sample wait for review."""
        return int(self.client.zcard(self.keys.sample))

    def waiting(self, limit: int = 100) -> list[tuple[str, float]]:
        """The most uncertain waiting article ids with their priority, most uncertain first."""
        # redis-py's annotation covers every reply shape; with `withscores` it is (member, score) pairs
        rows = cast(list[tuple[bytes, float]], self.client.zrevrange(self.keys.pending, 0, limit - 1, withscores=True))
        return [(_text(member), float(score)) for member, score in rows]

    def waiting_among(self, ids: list[str]) -> set[str]:
        """Those of `ids` that wait for review (uncertain or in the audit sample)."""
        found: set[str] = set()
        for queue in (self.keys.pending, self.keys.sample):
            scores = cast(list[float | None], self.client.zmscore(queue, ids) if ids else [])
            found |= {doc_id for doc_id, score in zip(ids, scores, strict=True) if score is not None}
        return found

    def holder(self, doc_id: str) -> str | None:
        """Who holds the item now (None when nobody does)."""
        raw = self.client.hget(self.keys.claims, doc_id)
        return _text(raw) if raw else None

    def label(self, doc_id: str, reviewer: str, labels: dict[str, str], now: float | None = None) -> Outcome:
        """Label an item for one or more reviewed tasks (the model's own label says "the model is right")."""
        labels = {task: label for task, label in labels.items() if label}
        reviewed = self.tasks.reviewed
        if not labels:
            raise ReviewError(f"give at least one label (TASK=LABEL; tasks: {', '.join(reviewed)})")
        for task, label in labels.items():
            if task not in reviewed:
                raise ReviewError(f"unknown task {task!r}: reviewers label {', '.join(reviewed)}")
            if label not in self.tasks[task].label_names:
                raise ReviewError(f"unknown {task} label {label!r}: use {', '.join(self.tasks[task].label_names)}")
        return self._apply(doc_id, reviewer, "label", self._summary(doc_id), labels, now)

    def skip(self, doc_id: str, reviewer: str, now: float | None = None) -> Outcome:
        """Put an item back, behind every item not yet seen."""
        return self._apply(doc_id, reviewer, "skip", self._summary(doc_id), {}, now)

    def reject(self, doc_id: str, reviewer: str, now: float | None = None) -> Outcome:
        """Mark an item as not a news article / unusable; it is never queued again."""
        return self._apply(doc_id, reviewer, "reject", self._summary(doc_id), {}, now)

    def _summary(self, doc_id: str) -> dict[str, Any]:
        summary = self.item(doc_id)
        if summary is None:
            raise ReviewError(f"unknown id {doc_id!r}: it was never on this review queue")
        return summary

    def _apply(
        self,
        doc_id: str,
        reviewer: str,
        decision: Decision,
        summary: dict[str, Any],
        labels: dict[str, str],
        now: float | None,
    ) -> Outcome:
        check_reviewer(reviewer)
        at = now if now is not None else time.time()
        record = decision_record(doc_id, reviewer, decision, summary, labels, at, self.tasks.names)
        counters: list[str | int] = []
        sample = "audit_" if record["audit"] else ""  # the audit sample's agreement is counted apart
        for task, label in labels.items():
            said = record["model"][task].get("label")
            if said is not None:  # agreement with the model counts only where the model had an answer
                counters += [f"{sample}labeled:{task}", 1, f"{sample}agree:{task}", int(said == label)]
        args = [doc_id, reviewer, at, decision, json.dumps(record, ensure_ascii=False), *counters]
        status, detail = (_text(x) for x in self._decide(keys=self._all_keys(), args=args))
        if status == "ok":
            return Outcome("ok", record)
        if status == "duplicate":
            return Outcome("duplicate", json.loads(detail) if detail else None)
        if status == "held":
            raise ReviewError(
                f"{doc_id}: your lease expired and {detail} holds this article now; claim another with `next`"
            )
        if status == "decided":
            previous = json.loads(detail)
            raise ReviewError(
                f"{doc_id}: already decided ({previous['decision']} by {previous['reviewer']} at {previous['at']})"
            )
        raise ReviewError(f"unknown id {doc_id!r}: it was never on this review queue")

    def decisions(self) -> dict[str, dict[str, Any]]:
        """Every label and reject decision, by article id."""
        return {_text(k): json.loads(v) for k, v in self.client.hgetall(self.keys.reviewed).items()}

    def audit(self, count: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first (every accepted decision, skips included)."""
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], self.client.xrange(self.keys.audit, count=count))
        return [
            {"entry": _text(entry_id), **{_text(k): _text(v) for k, v in fields.items()}}
            for entry_id, fields in entries
        ]

    def stats(self) -> dict[str, Any]:
        """Waiting, leased, skipped, decided, dropped counts; per reviewer; agreement with the model per task."""
        keys = self.keys
        counters = {_text(k): int(v) for k, v in self.client.hgetall(keys.stats).items()}
        by_reviewer: dict[str, dict[str, int]] = {}
        for field, value in counters.items():
            if field.startswith("by:"):
                name, _, decision = field[3:].rpartition(":")
                by_reviewer.setdefault(name, {})[decision] = value
        agreement: dict[str, dict[str, Any]] = {}
        audit: dict[str, dict[str, Any]] = {}
        for task in self.tasks.reviewed:
            for sample, table in (("", agreement), ("audit_", audit)):
                labeled, agree = counters.get(f"{sample}labeled:{task}", 0), counters.get(f"{sample}agree:{task}", 0)
                table[task] = {"labeled": labeled, "agree": agree, "rate": agree / labeled if labeled else None}
        return {
            "waiting": self.size(),
            "audit_waiting": self.audit_waiting(),
            "leased": int(self.client.zcard(keys.leases)),
            "skipped_waiting": int(self.client.zcard(keys.skipped)),
            "labeled": counters.get("label", 0),
            "rejected": counters.get("reject", 0),
            "skips": counters.get("skip", 0),
            "expired_leases": counters.get("expired", 0),
            "dropped_when_full": counters.get("dropped", 0),
            "by_reviewer": by_reviewer,
            "agreement": agreement,  # on the uncertain articles: biased towards where the model is unsure
            "audit_agreement": audit,  # on the audit sample: `streamproc quality` has the intervals
        }


def decision_record(
    doc_id: str,
    reviewer: str,
    decision: Decision,
    summary: dict[str, Any],
    labels: dict[str, str],
    at: float,
    tasks: tuple[str, ...],
) -> dict[str, Any]:
    """What is stored for a decision: who, when, what the model said, and the change it makes."""
    model: dict[str, Any] = {task: summary.get(task) or {} for task in tasks}
    previous = {task: model[task].get("label") for task, label in labels.items() if model[task].get("label") != label}
    fingerprint = hashlib.sha256(json.dumps([decision, sorted(labels.items())]).encode()).hexdigest()[:16]
    return {
        "id": doc_id,
        "decision": decision,
        "reviewer": reviewer,
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
        "labels": labels,
        "previous": previous,
        "model": {**model, "versions": summary.get("model_versions") or {}},
        "audit": bool(summary.get("audit")),
        "queued_at": summary.get("queued_at"),
        "fingerprint": fingerprint,
    }


def check_reviewer(reviewer: str) -> None:
    """Raise `ReviewError` for a reviewer name that cannot be stored (empty, too long, ':' or control chars)."""
    if not reviewer or len(reviewer) > 100 or any(c in reviewer for c in ":\r\n\t") or not reviewer.isprintable():
        raise ReviewError("a reviewer name needs 1-100 printable characters without ':' or tabs")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
