"""The `Host` names the review page and the worker's web server (`/health`, `/metrics`) answer to.

DNS rebinding: a page on `evil.example` points its own name at 127.0.0.1; the browser then treats the local
server as `evil.example`, lets the page read its answers and post its forms, with cookies the page set itself,
and sends `Host: evil.example`. Answering only to known names closes that: the loopback names, the address
the server binds when it is a concrete one, and the names in `STREAMPROC_ALLOWED_HOSTS` (e.g. the public
name behind a reverse proxy). Every other `Host` gets HTTP 400 with `REFUSED`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
REFUSED = "Host not allowed: this server answers only to its own names (add others to STREAMPROC_ALLOWED_HOSTS)"
_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")  # a DNS name or an IPv4 address, lower case
_PORT = re.compile(r"[0-9]{1,5}")


def host_name(value: str) -> str | None:
    """The host of a `Host` header or a configured name: lower case, no port, IPv6 in brackets; None if invalid."""
    value = value.strip().lower()
    if value.startswith("["):  # "[::1]" or "[::1]:8066"
        address, _, rest = value[1:].partition("]")
        if rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:])):
            return None
        return _bracketed(address)
    if value.count(":") > 1:  # a bare IPv6 address (never valid in a Host header, fine in a setting)
        return _bracketed(value)
    name, colon, port = value.partition(":")
    if colon and not _PORT.fullmatch(port):
        return None
    return name if _NAME.fullmatch(name) else None


def _bracketed(address: str) -> str | None:
    try:
        return f"[{ipaddress.IPv6Address(address).compressed}]"
    except ValueError:
        return None


def parse_allowed_hosts(value: str) -> tuple[str, ...]:
    """Comma-separated host names (a setting) -> normalised names; ValueError names the first invalid one."""
    names = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        name = host_name(item)
        if name is None or name not in (item.lower(), _bracketed(item)):  # a scheme, a port, a path
            raise ValueError(
                f"{item!r} is not a host name: give names or addresses without scheme or port, "
                "separated by commas (e.g. review.example.com,10.0.0.5)"
            )
        names.append(name)
    return tuple(names)


def allowed_host_names(configured: Iterable[str], bind_host: str) -> frozenset[str]:
    """Loopback names, `bind_host` when it is one address (not 0.0.0.0 or ::), and the configured names."""
    names = {*LOOPBACK_NAMES, *configured}
    bound = host_name(bind_host)
    if bound is not None and bound not in ("0.0.0.0", "[::]", ""):
        names.add(bound)
    return frozenset(names)


def host_allowed(header: str | None, names: frozenset[str]) -> bool:
    """Whether a request's `Host` header names this server (a request without one is refused too)."""
    return header is not None and host_name(header) in names
