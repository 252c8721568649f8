"""Importing the code changes no process-wide state: no environment variable is set at import time.

(Models are loaded from folders with `local_files_only=True`; the CLI sets its defaults once at start-up.)
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import streamproc
import streamproc_models

CHILD = """
import importlib, json, os, sys
before = dict(os.environ)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
after = dict(os.environ)
print(json.dumps(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))))
"""


def _modules() -> list[str]:
    names = []
    for package in (streamproc, streamproc_models):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            names.append(module.name)
    return [name for name in names if not name.endswith("__main__")]  # __main__ runs the CLI


def test_importing_every_module_leaves_the_environment_alone() -> None:
    names = _modules()
    assert "streamproc.inference.predictor" in names and "streamproc_models.training.train" in names
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(names)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
