"""Claim, vote on, skip, correct and reject review-queue items atomically (Lua scripts on the queue's Redis keys).

- `claim(reviewer, n)` first puts expired leases back on the queue, then hands the reviewer the items it
  still holds (their lease renewed), then the most uncertain waiting items it has not voted on, then skipped
  ones (oldest skip first). A claimed item is in `{prefix}:leases` (score = lease expiry) and `{prefix}:claims`
  (who holds it), not in `{prefix}:pending`, so no two reviewers ever hold the same item.
- **Votes and consensus** (`votes` = `STREAMPROC_REVIEW_VOTES`, k): `label` and `reject` are votes, kept per
  item in `{prefix}:votes:<id>` (one per reviewer: the same person cannot vote twice). After each vote the
  script computes the consensus: k reject votes reject the item; otherwise a task takes the label that has k
  votes. The item is decided when at least k label votes were cast and every task any of them labelled has
  its k-vote label, or when 2k-1 votes were cast (a label with k of 2k-1 votes is a strict majority); a task
  still without a k-vote label then is *disputed* (no label: nothing is trained on it), and an item where no
  task reached one goes to `{prefix}:disputed` (`review resolve` settles it). Until then the item goes back
  to the queue, at its place, for someone who has not voted on it. With k = 1 the first vote decides, as
  before. The consensus is stored in `{prefix}:reviewed` (the worker never queues those ids again): it is what
  `decisions()` returns, and so what `review export`, `retrain` and its gate, `quality` and Elasticsearch use.
- **Stories**: a decided item's label applies to every copy of its story (`streamproc.review.stories`): the
  copies are recorded in `{prefix}:via` (copy -> item) in the same script, and returned for Elasticsearch.
  An item of the audit sample decides for itself only.
- **Corrections**: `relabel` replaces the reviewer's own vote, `undo` takes back their last vote and hands
  the item back to them; the consensus is computed again (a decision can be withdrawn: then the item, and its
  story's copies, go back to `label_source: model`).
- `skip` moves the item to `{prefix}:skipped` (claimed only after every waiting item). A vote on an item
  another reviewer holds is refused; the same vote twice is answered `duplicate` and changes nothing.
- Audit trail: every vote, skip, correction and undo is appended, in the same script, to the Redis stream
  `{prefix}:audit` (reviewer, how they were identified, time, the model's labels, probabilities and versions).
  A stream rather than an Elasticsearch index because it is written atomically with the decision itself:
  no decision without its audit entry and vice versa, even when Elasticsearch is down; the worker never
  writes those keys, so a replay cannot touch them. A correction adds an entry, it never rewrites one.
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
Identity = Literal["account", "self-named", "cli"]
IDENTITIES = ("account", "self-named", "cli")

_COMMON = """
local function decode(raw)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end
local function item(x) return decode(redis.call('HGET', KEYS[2], x)) or {} end
local function priority(summary)
  if type(summary.uncertainty) == 'table' and tonumber(summary.uncertainty.max) then
    return tonumber(summary.uncertainty.max)
  end
  return 0
end
"""

_CLAIM = (
    _COMMON
    + """
local now = tonumber(ARGV[3])
local expiry = now + tonumber(ARGV[4])
local reviewer = ARGV[1]
local wanted = tonumber(ARGV[2])
local tag = ARGV[5]
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
-- the first item of a queue this reviewer may take: decided ones are dropped, ones it voted on stay for others
local function first(queue, reverse)
  local offset = 0
  while true do
    local ids
    if reverse then
      ids = redis.call('ZREVRANGE', queue, offset, offset + 19)
    else
      ids = redis.call('ZRANGE', queue, offset, offset + 19)
    end
    if #ids == 0 then return nil end
    for _, id in ipairs(ids) do
      if redis.call('HEXISTS', KEYS[6], id) == 1 then
        redis.call('ZREM', queue, id)
      elseif redis.call('HEXISTS', tag .. ':votes:' .. id, reviewer) == 1 then
        offset = offset + 1
      else
        return id
      end
    end
  end
end
-- the audit sample (oldest first) and the uncertain articles (most uncertain first) take turns
while #out < wanted do
  local sample = first(KEYS[9], false)
  local top = first(KEYS[1], true)
  local id, queue = nil, nil
  local turn = redis.call('HINCRBY', KEYS[7], 'turns', 1)
  if sample and (not top or turn % 2 == 0) then
    id, queue = sample, KEYS[9]
  elseif top then
    id, queue = top, KEYS[1]
  else
    break
  end
  redis.call('ZREM', queue, id)
  take(id)
end
while #out < wanted do
  local oldest = first(KEYS[5], false)
  if not oldest then break end
  redis.call('ZREM', KEYS[5], oldest)
  take(oldest)
end
return {tostring(expiry), out}
"""
)

# KEYS: pending, items, leases, claims, skipped, reviewed, stats, audit, sample, disputed, via
# ARGV: tag, id, reviewer, now, at, action, record, votes (k), lease seconds, story seconds
_DECIDE = (
    _COMMON
    + """
local tag, id, reviewer, now, at, action, vote = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6],
  ARGV[7]
local k, lease, ttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local function votes_key(x) return tag .. ':votes:' .. x end
local last_key = tag .. ':last:' .. reviewer

local function unqueue(x)
  redis.call('ZREM', KEYS[1], x)
  redis.call('ZREM', KEYS[9], x)
  redis.call('ZREM', KEYS[5], x)
  redis.call('ZREM', KEYS[3], x)
  redis.call('HDEL', KEYS[4], x)
end
local function requeue(x, summary)
  if redis.call('HEXISTS', KEYS[4], x) == 1 or redis.call('ZSCORE', KEYS[5], x) then return end
  if summary.audit == true then
    redis.call('ZADD', KEYS[9], now, x)
  else
    redis.call('ZADD', KEYS[1], priority(summary), x)
  end
end
local function said(record, task)
  if type(record.model) == 'table' and type(record.model[task]) == 'table'
      and type(record.model[task].label) == 'string' then
    return record.model[task].label
  end
  return nil
end
-- the consensus's counters: decisions, and agreement with the model where it had an answer
local function count(record, sign)
  redis.call('HINCRBY', KEYS[7], record.decision, sign)
  if record.decision ~= 'label' or type(record.labels) ~= 'table' then return end
  local sample = ''
  if record.audit == true then sample = 'audit_' end
  for task, label in pairs(record.labels) do
    local model = said(record, task)
    if model then
      redis.call('HINCRBY', KEYS[7], sample .. 'labeled:' .. task, sign)
      if model == label then redis.call('HINCRBY', KEYS[7], sample .. 'agree:' .. task, sign) end
    end
  end
end

local function consensus(x)
  local list = {}
  for _, raw in ipairs(redis.call('HVALS', votes_key(x))) do
    local v = decode(raw)
    if v then table.insert(list, v) end
  end
  if #list == 0 then return 'open', nil end
  table.sort(list, function(a, b) return tostring(a.at) < tostring(b.at) end)
  local rejects, labelled, counts, voters, corrected, resolution = 0, 0, {}, {}, false, nil
  for _, v in ipairs(list) do
    table.insert(voters, v.reviewer)
    if v.replaces ~= nil then corrected = true end
    if v.resolved == true then resolution = v end
    if v.decision == 'reject' then
      rejects = rejects + 1
    else
      labelled = labelled + 1
      if type(v.labels) == 'table' then
        for task, label in pairs(v.labels) do
          counts[task] = counts[task] or {}
          counts[task][label] = (counts[task][label] or 0) + 1
        end
      end
    end
  end
  local last = list[#list]
  local record = list[1]
  local state, labels, open, any = 'open', {}, {}, false
  if resolution then
    state, record.decision = 'decided', resolution.decision
    if type(resolution.labels) == 'table' then labels = resolution.labels end
    last = resolution
    record.resolved_by = resolution.reviewer
  elseif rejects >= k then
    state, record.decision = 'decided', 'reject'
  else
    record.decision = 'label'
    for task, c in pairs(counts) do
      local best = nil
      for label, m in pairs(c) do
        if m >= k then best = label end
      end
      if best then
        labels[task] = best
        any = true
      else
        table.insert(open, task)
      end
    end
    if (labelled >= k and #open == 0) or #list >= 2 * k - 1 then
      if any then state = 'decided' else state = 'disputed' end
    end
  end
  local previous = {}
  for task, label in pairs(labels) do
    local model = said(record, task)
    if not model then
      previous[task] = cjson.null
    elseif model ~= label then
      previous[task] = model
    end
  end
  record.labels = labels
  record.previous = previous
  record.reviewer = last.reviewer
  record.identity = last.identity
  record.at = at
  record.voters = voters
  record.votes = #list
  if #open > 0 then record.disputed = open else record.disputed = nil end
  if corrected then record.corrected = true end
  record.fingerprint = nil
  record.replaces = nil
  record.resolved = nil
  return state, record
end

-- store the item's consensus (or take it back) with its counters and its story's copies
local function settle(x, summary)
  local before_raw = redis.call('HGET', KEYS[6], x)
  local before = decode(before_raw)
  local state, record = consensus(x)
  if before then count(before, -1) end
  local story = summary.story_id
  if type(story) ~= 'string' or story == '' then story = x end
  local story_key, members_key = tag .. ':story:' .. story, tag .. ':members:' .. story
  local members, encoded = {}, ''
  if state == 'decided' then
    encoded = cjson.encode(record)
    redis.call('HSET', KEYS[6], x, encoded)
    redis.call('HDEL', KEYS[11], x)
    redis.call('ZREM', KEYS[10], x)
    unqueue(x)
    count(record, 1)
    if summary.audit ~= true then
      redis.call('HSET', story_key, 'decided', x)
      redis.call('EXPIRE', story_key, ttl)
      for _, m in ipairs(redis.call('SMEMBERS', members_key)) do
        if m ~= x and redis.call('HEXISTS', KEYS[6], m) == 0 then
          redis.call('HSET', KEYS[11], m, x)
          if item(m).audit ~= true then
            redis.call('ZREM', KEYS[1], m)
          end
          table.insert(members, m)
        end
      end
    end
  else
    if before then
      redis.call('HDEL', KEYS[6], x)
      if summary.audit ~= true then
        if redis.call('HGET', story_key, 'decided') == x then redis.call('HDEL', story_key, 'decided') end
        for _, m in ipairs(redis.call('SMEMBERS', members_key)) do
          if redis.call('HGET', KEYS[11], m) == x then
            redis.call('HDEL', KEYS[11], m)
            table.insert(members, m)
          end
        end
      end
    end
    if state == 'disputed' then
      unqueue(x)
      redis.call('ZADD', KEYS[10], now, x)
    else
      redis.call('ZREM', KEYS[10], x)
    end
  end
  local withdrawn = '0'
  if before and state ~= 'decided' then withdrawn = '1' end
  return state, encoded, withdrawn, members
end

local function answer(status, state, detail, withdrawn, target, members)
  local out = {status, state, detail, withdrawn, target}
  for _, m in ipairs(members or {}) do table.insert(out, m) end
  return out
end
local function audit(x, decision, record)
  redis.call('XADD', KEYS[8], '*', 'id', x, 'decision', decision, 'reviewer', reviewer, 'record', record)
end
local function tally(decision, sign)
  redis.call('HINCRBY', KEYS[7], 'by:' .. reviewer .. ':' .. decision, sign)
end

if action == 'undo' then
  local target = nil
  while true do
    local x = redis.call('LPOP', last_key)
    if not x then break end
    if redis.call('HEXISTS', votes_key(x), reviewer) == 1 then
      target = x
      break
    end
  end
  if not target then return answer('nothing', '', '', '0', '') end
  local raw = redis.call('HGET', votes_key(target), reviewer)
  local old = decode(raw) or {}
  redis.call('HDEL', votes_key(target), reviewer)
  audit(target, 'undo', raw)
  redis.call('HINCRBY', KEYS[7], 'votes', -1)
  redis.call('HINCRBY', KEYS[7], 'undone', 1)
  tally(old.decision or 'label', -1)
  local summary = item(target)
  local state, encoded, withdrawn, members = settle(target, summary)
  if state ~= 'decided' then
    local holder = redis.call('HGET', KEYS[4], target)
    if not holder or holder == reviewer then  -- back to the reviewer, to decide again
      unqueue(target)
      redis.call('ZADD', KEYS[3], now + lease, target)
      redis.call('HSET', KEYS[4], target, reviewer)
    end
  end
  return answer('ok', state, encoded, withdrawn, target, members)
end

if redis.call('HEXISTS', KEYS[2], id) == 0 then return answer('unknown', '', '', '0', id) end
local summary = item(id)
local holder = redis.call('HGET', KEYS[4], id)
local mine_raw = redis.call('HGET', votes_key(id), reviewer)
local mine = decode(mine_raw)
local new = decode(vote) or {}

if action == 'release' then  -- a held item back to its place in the queue, unseen (undo on the page)
  if holder ~= reviewer then return answer('not_held', '', '', '0', id) end
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  requeue(id, summary)
  return answer('ok', 'released', '', '0', id)
end

if action == 'skip' then
  if redis.call('HEXISTS', KEYS[6], id) == 1 then
    return answer('decided', '', redis.call('HGET', KEYS[6], id), '0', id)
  end
  if holder and holder ~= reviewer then return answer('held', '', holder, '0', id) end
  if not holder and redis.call('ZSCORE', KEYS[5], id) then return answer('duplicate', '', '', '0', id) end
  unqueue(id)
  redis.call('ZADD', KEYS[5], now, id)
  audit(id, 'skip', vote)
  redis.call('HINCRBY', KEYS[7], 'skip', 1)
  tally('skip', 1)
  return answer('ok', 'skipped', vote, '0', id)
end

if action == 'vote' then
  if mine then
    if mine.fingerprint == new.fingerprint then
      return answer('duplicate', '', redis.call('HGET', KEYS[6], id) or mine_raw, '0', id)
    end
    return answer('voted', '', mine_raw, '0', id)
  end
  local done = redis.call('HGET', KEYS[6], id)
  if done then return answer('decided', '', done, '0', id) end
  if redis.call('ZSCORE', KEYS[10], id) then return answer('disputed', '', '', '0', id) end
  if holder and holder ~= reviewer then return answer('held', '', holder, '0', id) end
  unqueue(id)
  redis.call('HSET', votes_key(id), reviewer, vote)
  audit(id, new.decision, vote)
  redis.call('HINCRBY', KEYS[7], 'votes', 1)
  tally(new.decision, 1)
  redis.call('LPUSH', last_key, id)
  redis.call('LTRIM', last_key, 0, 49)
  local state, encoded, withdrawn, members = settle(id, summary)
  if state == 'open' then requeue(id, summary) end
  if encoded == '' then encoded = vote end
  return answer('ok', state, encoded, withdrawn, id, members)
end

if action == 'relabel' or action == 'resolve' then
  if action == 'relabel' and not mine then return answer('not_voted', '', '', '0', id) end
  if action == 'resolve' and not redis.call('ZSCORE', KEYS[10], id) then
    return answer('not_disputed', '', redis.call('HGET', KEYS[6], id) or '', '0', id)
  end
  if mine and mine.fingerprint == new.fingerprint and action == 'relabel' then
    return answer('duplicate', '', redis.call('HGET', KEYS[6], id) or mine_raw, '0', id)
  end
  if mine then
    new.replaces = {at = mine.at, decision = mine.decision, labels = mine.labels}
    tally(mine.decision, -1)
  else
    redis.call('HINCRBY', KEYS[7], 'votes', 1)
  end
  if action == 'resolve' then new.resolved = true end
  local encoded_vote = cjson.encode(new)
  redis.call('HSET', votes_key(id), reviewer, encoded_vote)
  audit(id, action, encoded_vote)
  redis.call('HINCRBY', KEYS[7], action == 'relabel' and 'relabeled' or 'resolved', 1)
  tally(new.decision, 1)
  local state, encoded, withdrawn, members = settle(id, summary)
  if state == 'open' then requeue(id, summary) end
  return answer('ok', state, encoded, withdrawn, id, members)
end
return answer('unknown', '', '', '0', id)
"""
)


class ReviewError(Exception):
    """A decision that cannot be taken; the message is one line for the reviewer."""


@dataclass(frozen=True)
class ClaimedItem:
    """An item handed to a reviewer, with its lease expiry (Unix seconds)."""

    id: str
    summary: dict[str, Any]
    lease_expires: float
    copies: int = 0  # other articles of its story: one decision labels them all
    votes: int = 0  # votes already cast on it (by others: a reviewer never gets an item it voted on)

    def model_label(self, task: str) -> str | None:
        """The model's label for `task` (None when the model had no head for it)."""
        return (self.summary.get(task) or {}).get("label")

    @property
    def audit(self) -> bool:
        """Whether the item is in the audit sample: reviewers must not see the model's answers."""
        return bool(self.summary.get("audit"))


@dataclass(frozen=True)
class Outcome:
    """The result of an action: `ok` (applied) or `duplicate` (already applied, nothing changed).

    `state` is the item's after it: `decided` (`record` is the consensus), `open` (the vote is counted, more are
    needed; `record` is the vote), `disputed`, `skipped`. `members` are the story's copies whose documents the
    change concerns; `withdrawn` says a decision was taken back (the documents go back to the model's labels).
    """

    status: Literal["ok", "duplicate"]
    record: dict[str, Any] | None
    state: str = "decided"
    members: tuple[str, ...] = ()
    withdrawn: bool = False
    id: str = ""


class ReviewDesk:
    """The reviewers' operations on one review queue (synchronous Redis client)."""

    def __init__(
        self,
        client: Redis,
        prefix: str,
        tasks: TaskSet,
        lease_seconds: float = 600.0,
        votes: int = 1,
        story_days: float = 7.0,
    ) -> None:
        self.client = client
        self.tasks = tasks
        self.keys = ReviewKeys.for_prefix(prefix)
        self.lease_seconds = lease_seconds
        self.votes_needed = votes
        self.story_seconds = max(1, int(story_days * 86400))
        self._claim = client.register_script(_CLAIM)
        self._decide = client.register_script(_DECIDE)

    def _all_keys(self) -> list[str]:
        k = self.keys
        return [k.pending, k.items, k.leases, k.claims, k.skipped, k.reviewed, k.stats, k.audit, k.sample]

    def _decide_keys(self) -> list[str]:
        return [*self._all_keys(), self.keys.disputed, self.keys.via]

    def claim(self, reviewer: str, n: int = 1, now: float | None = None) -> list[ClaimedItem]:
        """Up to `n` items for `reviewer` (those it already holds first, never one it voted on), each leased for
        `lease_seconds`."""
        check_reviewer(reviewer)
        args: list[str | float] = [
            reviewer,
            n,
            now if now is not None else time.time(),
            self.lease_seconds,
            self.keys.tag,
        ]
        expiry, ids = self._claim(keys=self._all_keys(), args=args)
        ids = [_text(i) for i in ids]
        summaries = self.client.hmget(self.keys.items, ids) if ids else []
        claimed = []
        for doc_id, raw in zip(ids, summaries, strict=True):
            summary = json.loads(raw) if raw else {"id": doc_id}
            votes = int(self.client.hlen(self._votes_key(doc_id)))
            claimed.append(ClaimedItem(doc_id, summary, float(expiry), self.copies(summary), votes))
        return claimed

    def copies(self, summary: dict[str, Any]) -> int:
        """How many other articles share the item's story (one decision labels them all; 0 for an audit item,
        which decides for itself)."""
        if summary.get("audit"):
            return 0
        story = summary.get("story_id") or summary.get("id")
        size = self.client.hget(f"{self.keys.tag}:story:{story}", "n") if story else None
        return max(0, int(size) - 1) if size else 0

    def _votes_key(self, doc_id: str) -> str:
        return f"{self.keys.tag}:votes:{doc_id}"

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

    def label(
        self,
        doc_id: str,
        reviewer: str,
        labels: dict[str, str],
        now: float | None = None,
        identity: Identity = "cli",
    ) -> Outcome:
        """Vote labels on an item for one or more reviewed tasks (the model's own label says "the model is
        right")."""
        labels = self._checked(labels)
        return self._apply(doc_id, reviewer, "vote", "label", labels, now, identity)

    def skip(self, doc_id: str, reviewer: str, now: float | None = None, identity: Identity = "cli") -> Outcome:
        """Put an item back, behind every item not yet seen."""
        return self._apply(doc_id, reviewer, "skip", "skip", {}, now, identity)

    def reject(self, doc_id: str, reviewer: str, now: float | None = None, identity: Identity = "cli") -> Outcome:
        """Vote an item out: not a news article / unusable; once decided it is never queued again."""
        return self._apply(doc_id, reviewer, "vote", "reject", {}, now, identity)

    def relabel(
        self,
        doc_id: str,
        reviewer: str,
        labels: dict[str, str],
        now: float | None = None,
        identity: Identity = "cli",
    ) -> Outcome:
        """Replace the reviewer's own vote on an item with these labels (a correction; the audit trail keeps
        both); the consensus, Elasticsearch and retrain follow the latest."""
        labels = self._checked(labels)
        return self._apply(doc_id, reviewer, "relabel", "label", labels, now, identity)

    def resolve(
        self,
        doc_id: str,
        reviewer: str,
        labels: dict[str, str],
        now: float | None = None,
        identity: Identity = "cli",
    ) -> Outcome:
        """Settle a disputed item with these labels (an adjudication: it replaces the votes' consensus)."""
        labels = self._checked(labels)
        return self._apply(doc_id, reviewer, "resolve", "label", labels, now, identity)

    def undo(self, reviewer: str, now: float | None = None, lease: bool = True) -> Outcome | None:
        """Take back the reviewer's last vote (None when there is none); the item goes back to them."""
        check_reviewer(reviewer)
        at = now if now is not None else time.time()
        args = self._args("", reviewer, at, "undo", "")
        reply = [_text(x) for x in self._decide(keys=self._decide_keys(), args=args)]
        if reply[0] == "nothing":
            return None
        return self._outcome(reply)

    def release(self, doc_id: str, reviewer: str) -> bool:
        """Give an item the reviewer holds back to the queue at its place (not a skip); False when it held none."""
        check_reviewer(reviewer)
        args = self._args(doc_id, reviewer, time.time(), "release", "")
        reply = [_text(x) for x in self._decide(keys=self._decide_keys(), args=args)]
        return reply[0] == "ok"

    def _checked(self, labels: dict[str, str]) -> dict[str, str]:
        labels = {task: label for task, label in labels.items() if label}
        reviewed = self.tasks.reviewed
        if not labels:
            raise ReviewError(f"give at least one label (TASK=LABEL; tasks: {', '.join(reviewed)})")
        for task, label in labels.items():
            if task not in reviewed:
                raise ReviewError(f"unknown task {task!r}: reviewers label {', '.join(reviewed)}")
            if label not in self.tasks[task].label_names:
                raise ReviewError(f"unknown {task} label {label!r}: use {', '.join(self.tasks[task].label_names)}")
        return labels

    def _summary(self, doc_id: str) -> dict[str, Any]:
        summary = self.item(doc_id)
        if summary is None:
            raise ReviewError(f"unknown id {doc_id!r}: it was never on this review queue")
        return summary

    def _args(self, doc_id: str, reviewer: str, at: float, action: str, record: str) -> list[str | float | int]:
        iso = datetime.fromtimestamp(at, UTC).isoformat()
        k = self.keys
        return [k.tag, doc_id, reviewer, at, iso, action, record, self.votes_needed, self.lease_seconds,
                self.story_seconds]  # fmt: skip

    def _apply(
        self,
        doc_id: str,
        reviewer: str,
        action: str,
        decision: Decision,
        labels: dict[str, str],
        now: float | None,
        identity: Identity,
    ) -> Outcome:
        check_reviewer(reviewer)
        at = now if now is not None else time.time()
        record = decision_record(
            doc_id, reviewer, decision, self._summary(doc_id), labels, at, self.tasks.names, identity
        )
        args = self._args(doc_id, reviewer, at, action, json.dumps(record, ensure_ascii=False))
        reply = [_text(x) for x in self._decide(keys=self._decide_keys(), args=args)]
        status, detail = reply[0], reply[2]
        if status in ("ok", "duplicate"):
            return self._outcome(reply)
        if status == "held":
            raise ReviewError(
                f"{doc_id}: your lease expired and {detail} holds this article now; claim another with `next`"
            )
        if status == "decided":
            previous = json.loads(detail)
            raise ReviewError(
                f"{doc_id}: already decided ({previous['decision']} by {previous['reviewer']} at {previous['at']})"
            )
        if status == "voted":
            previous = json.loads(detail)
            raise ReviewError(
                f"{doc_id}: already decided by you ({previous['decision']} at {previous['at']}); "
                "`streamproc review relabel` changes your vote"
            )
        if status == "disputed":
            raise ReviewError(f"{doc_id}: its votes disagree; `streamproc review resolve` settles it")
        if status == "not_voted":
            raise ReviewError(f"{doc_id}: you have no vote on it to change; `streamproc review label` gives one")
        if status == "not_disputed":
            raise ReviewError(f"{doc_id}: not disputed; only an item whose votes reached no consensus is resolved")
        raise ReviewError(f"unknown id {doc_id!r}: it was never on this review queue")

    def _outcome(self, reply: list[str]) -> Outcome:
        status, state, detail, withdrawn, target, *members = reply
        record = self._ordered(json.loads(detail)) if detail else None
        return Outcome(
            "duplicate" if status == "duplicate" else "ok",
            record,
            state or "decided",
            tuple(members),
            withdrawn == "1",
            target,
        )

    def decisions(self) -> dict[str, dict[str, Any]]:
        """Every item's consensus (labels and rejects; one reviewer's vote when `votes` is 1), by article id: what
        export, retrain and its gate, and quality read. A copy labelled through its story is not in it (the
        story's text is trained on once)."""
        return {_text(k): self._ordered(json.loads(v)) for k, v in self.client.hgetall(self.keys.reviewed).items()}

    def _ordered(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record from Lua with its labels in the task file's order (Lua tables have none); an empty list
        that Lua wrote as `{}` is a list again."""
        order = {name: i for i, name in enumerate(self.tasks.names)}
        for key in ("labels", "previous"):
            if isinstance(record.get(key), dict):
                record[key] = dict(sorted(record[key].items(), key=lambda kv: order.get(kv[0], len(order))))
        if isinstance(record.get("disputed"), dict | list):
            record["disputed"] = sorted(record["disputed"] or [], key=lambda t: order.get(t, len(order)))
        return record

    def votes(self, doc_id: str) -> dict[str, dict[str, Any]]:
        """The votes cast on an item, by reviewer."""
        raw = self.client.hgetall(self._votes_key(doc_id))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def disputed(self) -> list[str]:
        """Items whose votes reached no consensus, oldest first."""
        return [_text(x) for x in cast(list[bytes], self.client.zrange(self.keys.disputed, 0, -1))]

    def copies_decided(self) -> dict[str, str]:
        """Copy id -> the decided item whose labels it took (its story's decision)."""
        return {_text(k): _text(v) for k, v in self.client.hgetall(self.keys.via).items()}

    def audit(self, count: int | None = None) -> list[dict[str, Any]]:
        """The audit trail, oldest first (every vote, skip, correction and undo)."""
        entries = cast(list[tuple[bytes, dict[bytes, bytes]]], self.client.xrange(self.keys.audit, count=count))
        return [
            {"entry": _text(entry_id), **{_text(k): _text(v) for k, v in fields.items()}}
            for entry_id, fields in entries
        ]

    def latest_votes(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Item id -> reviewer -> their standing vote, replayed from the audit trail (corrections replace a vote,
        an undo removes it)."""
        votes: dict[str, dict[str, dict[str, Any]]] = {}
        for entry in self.audit():
            decision, doc_id, reviewer = entry.get("decision"), entry.get("id", ""), entry.get("reviewer", "")
            if decision == "undo":
                votes.get(doc_id, {}).pop(reviewer, None)
            elif decision in ("label", "reject", "relabel", "resolve"):
                votes.setdefault(doc_id, {})[reviewer] = json.loads(entry["record"])
        return votes

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
            "votes": counters.get("votes", 0),
            "votes_needed": self.votes_needed,
            "disputed": int(self.client.zcard(keys.disputed)),
            "relabeled": counters.get("relabeled", 0),
            "undone": counters.get("undone", 0),
            "copies_labeled": int(self.client.hlen(keys.via)),
            "copies_not_queued": counters.get("copies", 0),
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
    identity: Identity = "cli",
) -> dict[str, Any]:
    """What is stored for a vote: who (and how they were identified), when, what the model said, and the change
    it makes."""
    model: dict[str, Any] = {task: summary.get(task) or {} for task in tasks}
    previous = {task: model[task].get("label") for task, label in labels.items() if model[task].get("label") != label}
    fingerprint = hashlib.sha256(json.dumps([decision, sorted(labels.items())]).encode()).hexdigest()[:16]
    return {
        "id": doc_id,
        "decision": decision,
        "reviewer": reviewer,
        "identity": identity,
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
        "labels": labels,
        "previous": previous,
        "model": {**model, "versions": summary.get("model_versions") or {}},
        "audit": bool(summary.get("audit")),
        "story_id": summary.get("story_id") or doc_id,
        "queued_at": summary.get("queued_at"),
        "fingerprint": fingerprint,
    }


def check_reviewer(reviewer: str) -> None:
    """Raise `ReviewError` for a reviewer name that cannot be stored (empty, too long, ':' or control chars)."""
    if not reviewer or len(reviewer) > 100 or any(c in reviewer for c in ":\r\n\t") or not reviewer.isprintable():
        raise ReviewError("a reviewer name needs 1-100 printable characters without ':' or tabs")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
