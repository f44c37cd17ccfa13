"""The layering of ``src/ocikit`` (docs/architecture.md), checked on every import statement.

Every ``import``/``from … import`` in every module is parsed, including the ones inside functions
(heavy imports are lazy on purpose, so they are most of what a layering mistake would hide in).
A module may import its own layer and the layers below it, never one above; and no two modules
may import each other, directly or through others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: bottom → top. A module in layer N may import layers 0..N. Names are the first two parts of the
#: dotted module name (``ocikit._store._layout`` → ``ocikit._store``).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"ocikit.errors", "ocikit._version", "ocikit._config", "ocikit._schemas"}),
    frozenset({"ocikit._io"}),
    frozenset({"ocikit._oci"}),
    frozenset({"ocikit._kitfile"}),
    frozenset({"ocikit._layers"}),
    frozenset({"ocikit._store"}),
    frozenset({"ocikit._registry"}),
    frozenset({"ocikit._modelkit"}),
    frozenset({"ocikit._trust"}),
    frozenset({"ocikit._stages"}),
    frozenset({"ocikit._ops"}),
    frozenset({"ocikit", "ocikit._client"}),
    frozenset({"ocikit.cli", "ocikit.__main__"}),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, imported name) for every import in ``source``, the text of ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            # `from ocikit._store import _layout` imports the module ocikit._store._layout
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def _resolve(name: str, modules: set[str]) -> str | None:
    """The ocikit module ``name`` refers to (a submodule, or the module owning an attribute)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _layer_of(module: str) -> int:
    parts = module.split(".")
    for key in (".".join(parts[:2]), parts[0]):
        for rank, names in enumerate(LAYERS):
            if key in names:
                return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _graph() -> dict[str, dict[str, int]]:
    files = {_module_name(p): p for p in (SRC / "ocikit").rglob("*.py")}
    modules = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        edges: dict[str, int] = {}
        source = path.read_text(encoding="utf-8")
        for line, name in imports_of(source, module, is_package=_is_package(path)):
            target = _resolve(name, modules)
            if target is not None and target != module and not module.startswith(target + "."):
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def layering_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    out = []
    for module, edges in sorted(graph.items()):
        for target, line in sorted(edges.items()):
            if _layer_of(target) > _layer_of(module):
                out.append(f"{module}:{line} imports {target}, a higher layer")
    return out


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# Packages' __init__ modules are docstrings only; importing a package never loads its modules.
def _package_inits() -> list[Path]:
    return [p for p in (SRC / "ocikit").rglob("__init__.py") if p.parent.name.startswith("_")]


def test_no_module_imports_a_higher_layer() -> None:
    assert layering_violations(_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(_graph()) == []


@pytest.mark.parametrize("init", _package_inits(), ids=lambda p: p.parent.name)
def test_each_subpackage_says_what_it_owns(init: Path) -> None:
    tree = ast.parse(init.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and len(doc) > 80, f"{init} needs a docstring: what it owns and what it may import"
    assert all(isinstance(n, (ast.Expr, ast.ImportFrom)) for n in tree.body), f"{init}: docstring only"


# --- the checks check: each would fail on a broken tree -----------------------------------------


def test_a_downward_import_is_reported() -> None:
    graph = {"ocikit._io._digest": {"ocikit._ops._pack": 3}, "ocikit._ops._pack": {}}
    assert layering_violations(graph) == ["ocikit._io._digest:3 imports ocikit._ops._pack, a higher layer"]


def test_a_cycle_is_reported() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_imports_inside_functions_and_relative_ones_are_seen() -> None:
    source = "import os\n\ndef f():\n    from ocikit._ops import _pack\n    from .._oci._model import Descriptor\n"
    seen = list(imports_of(source, "ocikit._store._copy"))
    assert seen == [(1, "os"), (4, "ocikit._ops._pack"), (5, "ocikit._oci._model.Descriptor")]


# --- size: a module that does one job fits on a few screens ----------------------------------------

MAX_MODULE_LINES = 420  # "about 400": room for a docstring, not for a second job
MAX_FUNCTION_LINES = 60


def oversized(source: str, name: str) -> list[str]:
    lines = source.count("\n") + 1
    out = [f"{name} has {lines} lines (max {MAX_MODULE_LINES})"] if lines > MAX_MODULE_LINES else []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append(f"{name}:{node.lineno} {node.name}() has {length} lines (max {MAX_FUNCTION_LINES})")
    return out


def test_no_module_or_function_is_oversized() -> None:
    found = []
    for path in sorted((SRC / "ocikit").rglob("*.py")):
        found += oversized(path.read_text(encoding="utf-8"), _module_name(path))
    assert found == []


def test_an_oversized_function_is_reported() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    assert oversized(f"def f():\n{body}", "m") == [f"m:1 f() has {MAX_FUNCTION_LINES + 1} lines (max 60)"]
    assert oversized("def f():\n    return 1\n", "m") == []


def test_the_module_map_in_docs_matches_the_tree() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_layout_docs", SRC.parent / "scripts" / "gen_layout_docs.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.DOC.read_text(encoding="utf-8")
    assert gen.updated(text) == text, "docs/architecture.md is out of date: run python scripts/gen_layout_docs.py"
