"""A runtime-only install (`pip install streamproc`, no training extra) runs the worker and the operations
commands, lists every command, and a training command says in one line what to install.

No second environment without scikit-learn, SciPy and matplotlib can be built here (no network for the
tests), so the child process makes them unimportable the way Python itself does for a module that is not
there: `sys.modules[name] = None` makes `import name` raise ModuleNotFoundError and `find_spec` return None.
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import streamproc
from streamproc.cli.extras import INSTALL_HINT, TRAINING_IMPORTS

WITHOUT_TRAINING_EXTRA = f"""
import sys
for name in {TRAINING_IMPORTS!r}:
    sys.modules[name] = None
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    env = {**clean, "STREAMPROC_MODEL_STORE": str(tmp_path / "models"), "STREAMPROC_DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAINING_EXTRA + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return _run(f"sys.argv = ['streamproc', *{args!r}]\nfrom streamproc.cli.main import run\nrun()\n", tmp_path)


def test_every_runtime_module_imports_without_the_training_extra(tmp_path: Path) -> None:
    modules = pkgutil.walk_packages(streamproc.__path__, "streamproc.")
    names = [m.name for m in modules if m.name != "streamproc.__main__"]  # __main__ runs the CLI
    done = _run(f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\nprint('ok')\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_help_lists_every_command_without_the_training_extra(tmp_path: Path) -> None:
    done = _cli(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    for command in ("worker", "publish", "review", "health", "lag", "train", "evaluate", "retrain", "al-sim"):
        assert command in done.stdout
    for group, command in (("models", "promote"), ("bench", "heads"), ("bench", "pipeline")):
        sub = _cli([group, "--help"], tmp_path)
        assert sub.returncode == 0, sub.stderr
        assert command in sub.stdout


def test_operations_commands_run_without_the_training_extra(tmp_path: Path) -> None:
    listed = _cli(["models", "list"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "serving link" in listed.stdout
    config = _cli(["config"], tmp_path)
    assert config.returncode == 0, config.stderr
    assert "STREAMPROC_MODEL_STORE" in config.stdout


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["train", "topic"], "train"),
        (["evaluate", "somewhere", "--data", "val.tsv"], "evaluate"),
        (["al-sim"], "al-sim"),
        (["bench", "pipeline"], "bench pipeline"),
        (["models", "build-defaults"], "models build-defaults"),
    ],
)
def test_a_training_command_says_what_to_install(args: list[str], command: str, tmp_path: Path) -> None:
    done = _cli(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"streamproc: error: `streamproc {command}` needs the training extra (")
    assert lines[0].endswith(INSTALL_HINT)


def test_the_command_list_imports_no_model_library(tmp_path: Path) -> None:
    """`streamproc --help` stays quick: building the command tree (the training commands included) imports
    neither torch nor transformers nor the training extra; the commands import them when they run."""
    code = (
        "import sys\nfrom streamproc.cli import main\nmain._register_plugin_commands()\n"
        "print(sorted({'torch', 'transformers', 'sklearn', 'scipy', 'matplotlib'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
