"""Give the worker's Python threads their names at the OS level, so `top -H`, py-spy and the benchmark see them.

Python does not name native threads; Linux lets a process rename its own threads through
`/proc/self/task/<tid>/comm` (15 characters). Threads without a Python name (torch's intra-op pool) keep theirs.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path


def name_native_threads() -> None:
    """Copy each live Python thread's name to its OS thread name (Linux only; elsewhere nothing happens)."""
    for thread in threading.enumerate():
        if thread.native_id is None:
            continue
        name = "event-loop" if thread is threading.main_thread() else thread.name
        with contextlib.suppress(OSError):
            Path(f"/proc/self/task/{thread.native_id}/comm").write_text(name[:15])
