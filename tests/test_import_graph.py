"""The import graph of the two packages has no circle, and the task names live in the task file.

A circle (a imports b imports ... imports a) makes the order of imports matter and a module's meaning depend on
who imported first; type-only imports (`if TYPE_CHECKING:`) count too, since they tie the modules together for
readers and type checkers alike. Imports inside functions run on call and do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.paths import REPO_ROOT

PACKAGES = {"streamproc": REPO_ROOT / "streamproc", "streamproc_models": REPO_ROOT / "models" / "streamproc_models"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _module_level_imports(tree: ast.Module, modules: dict[str, Path]) -> set[str]:
    """First-party modules imported outside functions (a `from package import module` names the module)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in modules else node.module)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(
                    child for child in getattr(node, field, []) if isinstance(child, ast.stmt | ast.ExceptHandler)
                )
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the first-party modules it imports at module level."""
    modules = _modules()
    return {
        name: _module_level_imports(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
        for name, path in modules.items()
    }


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circle() -> None:
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    tree = ast.parse("import streamproc.x\nif TYPE_CHECKING:\n    from streamproc import y\ndef f():\n    import z\n")
    modules = {name: Path() for name in ("streamproc", "streamproc.x", "streamproc.y", "z")}
    assert _module_level_imports(tree, modules) == {"streamproc.x", "streamproc.y"}


def test_the_runtime_names_no_task_outside_the_task_file() -> None:
    """Tasks are data: at most two runtime files may name one (the demo's scripts and data, which know the
    sample articles' labels, aside)."""
    naming = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in sorted((REPO_ROOT / "streamproc").rglob("*"))
        if path.suffix in (".py", ".html")
        and "demo" not in path.parts
        and re.search(r"\bsentiment\b", path.read_text(encoding="utf-8"))
    ]
    assert len(naming) <= 2, naming
