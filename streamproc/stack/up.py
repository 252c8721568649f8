"""`stack up`: start local stand-ins when the URLs are loopback, wait for every server, provision them."""

from __future__ import annotations

from streamproc.config import Settings
from streamproc.health import check_all
from streamproc.stack import local, provision
from streamproc.stack.endpoints import endpoints


def runs_locally(settings: Settings) -> bool:
    """Whether `stack up` starts the embedded servers (stack_mode, or auto: every URL is loopback)."""
    if settings.stack_mode == "external":
        return False
    return settings.stack_mode == "local" or all(p.is_loopback for p in endpoints(settings).values())


def bring_up(settings: Settings) -> list[str]:
    """Start (if local), check and provision; return what was done, a line each."""
    done = local.start_local(settings) if runs_locally(settings) else []
    done += check_all(settings)
    return done + provision.create_topics(settings) + provision.create_index(settings)
