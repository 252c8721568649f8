"""Reviewer accounts: who may log in to the review page, with passwords hashed by Argon2id (`argon2-cffi`).

Accounts live in Redis (`{prefix}:users`, name -> JSON with the Argon2id hash and a session nonce), next to the
queue they review: every page process of a deployment reads the same accounts, and `streamproc review users
add|list|remove` changes them for all at once. A password is never stored, printed or logged; the hash carries
its own salt and cost parameters (argon2-cffi's defaults, RFC 9106's low-memory profile), and a hash made with
weaker parameters is upgraded at the next login.

The page's session is a cookie signed with HMAC-SHA256 under a random key kept in Redis (`{prefix}:session-key`,
made on first use: a restart or a second page process accepts the same cookies): `name|expiry|nonce|signature`.
The nonce changes when an account is removed or its password changed, which ends its sessions at once.

Failed logins are counted per name (`{prefix}:login-failures:<name>`, kept `LOGIN_LOCK_SECONDS`): after
`MAX_LOGIN_FAILURES` the name cannot log in until that time has passed since the last failure, so guessing a
password from the page costs at least a quarter of an hour per ten tries; a right password clears the count.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from redis import Redis

from streamproc.review.desk import ReviewError, check_reviewer
from streamproc.review.queue import ReviewKeys

MIN_PASSWORD = 8
MAX_LOGIN_FAILURES = 10
LOGIN_LOCK_SECONDS = 900
_HASHER = PasswordHasher()
# verified against when the name is unknown, so an unknown name costs as long as a wrong password
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Account:
    """A reviewer account as listed (never with its hash)."""

    name: str
    added: str


class Accounts:
    """The reviewer accounts of one review queue (synchronous Redis client)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self.client = client
        keys = ReviewKeys.for_prefix(prefix)
        self.key = keys.users
        self.session_key_name = f"{keys.tag}:session-key"
        self.failures_prefix = f"{keys.tag}:login-failures:"

    def add(self, name: str, password: str, replace: bool = False) -> None:
        """Add an account (or, with `replace`, set a new password: its sessions end)."""
        check_reviewer(name)
        if len(password) < MIN_PASSWORD:
            raise ReviewError(f"a password needs at least {MIN_PASSWORD} characters")
        record = {
            "hash": _HASHER.hash(password),
            "added": datetime.now(UTC).isoformat(timespec="seconds"),
            "nonce": secrets.token_hex(8),
        }
        if replace:
            self.client.hset(self.key, name, json.dumps(record))
        elif not self.client.hsetnx(self.key, name, json.dumps(record)):
            raise ReviewError(f"{name}: an account of that name exists (--replace sets a new password)")

    def remove(self, name: str) -> None:
        """Remove an account; its sessions end at once."""
        if not self.client.hdel(self.key, name):
            raise ReviewError(f"{name}: no such account")

    def list(self) -> list[Account]:
        """Every account, by name."""
        rows = self.client.hgetall(self.key)
        return sorted(
            (Account(_text(name), json.loads(raw).get("added", "")) for name, raw in rows.items()),
            key=lambda a: a.name,
        )

    def any(self) -> bool:
        """Whether any account exists (then the page asks everyone to log in)."""
        return bool(self.client.hlen(self.key))

    def verify(self, name: str, password: str) -> bool:
        """Whether `password` is `name`'s (about the same time for an unknown name as for a wrong password)."""
        record = self._record(name)
        if record is None:
            with contextlib.suppress(VerificationError):
                _HASHER.verify(_DUMMY, password)
            return False
        try:
            _HASHER.verify(record["hash"], password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if _HASHER.check_needs_rehash(record["hash"]):
            record["hash"] = _HASHER.hash(password)
            self.client.hset(self.key, name, json.dumps(record))
        return True

    def locked_for(self, name: str) -> int:
        """Seconds until `name` may try to log in again (0: it may now)."""
        key = self.failures_prefix + name
        failures = int(self.client.get(key) or 0)
        return max(0, int(self.client.ttl(key))) if failures >= MAX_LOGIN_FAILURES else 0

    def login(self, name: str, password: str) -> bool:
        """`verify`, counting the failures (see the module); False while the name is locked, even for the right
        password."""
        if self.locked_for(name):
            return False
        if self.verify(name, password):
            self.client.delete(self.failures_prefix + name)
            return True
        key = self.failures_prefix + name
        with self.client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, LOGIN_LOCK_SECONDS)
            pipe.execute()
        return False

    def _record(self, name: str) -> dict[str, Any] | None:
        raw = self.client.hget(self.key, name)
        return json.loads(raw) if raw else None

    def _secret(self) -> bytes:
        self.client.set(self.session_key_name, secrets.token_hex(32), nx=True)
        secret = self.client.get(self.session_key_name)
        return _text(secret or b"").encode()

    def session(self, name: str, hours: float, now: float | None = None) -> str:
        """A signed session cookie value for `name` (who just logged in)."""
        record = self._record(name)
        if record is None:
            raise ReviewError(f"{name}: no such account")
        expiry = int((now if now is not None else time.time()) + hours * 3600)
        payload = f"{_b64(name.encode())}|{expiry}|{record['nonce']}"
        return f"{payload}|{_sign(self._secret(), payload)}"

    def session_name(self, cookie: str | None, now: float | None = None) -> str | None:
        """The account a session cookie belongs to; None when it is forged, expired, or its account is gone."""
        if not cookie or cookie.count("|") != 3:
            return None
        payload, _, signature = cookie.rpartition("|")
        if not hmac.compare_digest(signature, _sign(self._secret(), payload)):
            return None
        encoded, expiry, nonce = payload.split("|")
        try:
            name = base64.urlsafe_b64decode(encoded.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if not expiry.isdigit() or int(expiry) < (now if now is not None else time.time()):
            return None
        record = self._record(name)
        if record is None or not hmac.compare_digest(record["nonce"], nonce):
            return None
        return name


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
