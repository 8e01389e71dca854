"""The package layers of edgeus, enforced: no module imports from a layer above its own, and no two
packages of one layer import each other both ways. Imports inside functions count (edgeus imports lazily);
imports under ``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgeus"
# Top to bottom. A module may import its own layer and every layer below it.
LAYERS = [
    ["cli", "training", "__main__", "api"],
    ["farm"],
    ["pipeline"],
    ["stages"],
    ["bundle", "report", "uusic25"],
    ["runtime", "backends"],
    ["evidence"],
    ["contracts", "data", "models"],
    ["util", "errors", "_compat"],
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def top_package(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "edgeus" or len(parts) == 1:
        return None  # the root (its __version__ and the lazy public API) is not a layer
    return parts[1]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines |= set(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    skip = _type_checking_lines(tree)
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations(module_package: str, source: str) -> list[str]:
    """Back-imports in one module's source: imports of a package in a layer above ``module_package``'s."""
    own = RANK[module_package]
    bad = []
    for line, name in imports_of(source):
        target = top_package(name)
        if target is not None and target in RANK and RANK[target] < own:
            bad.append(f"line {line}: imports {name} (layer {RANK[target]}, above {module_package}'s {own})")
    return bad


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue
        yield rel, rel.parts[0].removesuffix(".py")


def test_every_package_is_in_a_layer():
    packages = {pkg for _, pkg in _modules()}
    assert packages <= set(RANK), packages - set(RANK)


def test_no_module_imports_from_a_layer_above():
    problems = []
    for rel, pkg in _modules():
        problems += [f"{rel}: {v}" for v in violations(pkg, (PACKAGE / rel).read_text())]
    assert problems == []


def test_no_two_packages_import_each_other():
    edges: dict[str, set[str]] = {}
    for rel, pkg in _modules():
        for _, name in imports_of((PACKAGE / rel).read_text()):
            target = top_package(name)
            if target and target != pkg and target in RANK:
                edges.setdefault(pkg, set()).add(target)
    cycles = sorted(f"{a} <-> {b}" for a in edges for b in edges[a] if a < b and a in edges.get(b, set()))
    assert cycles == []


def module_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """module -> the edgeus modules it imports (``from edgeus.a import b`` counts b when b is a module)."""
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, source in sources.items():
        for _, imported in imports_of(source):
            target = imported
            while target and target not in sources:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if f"{node.module}.{alias.name}" in sources and f"{node.module}.{alias.name}" != name:
                        graph[name].add(f"{node.module}.{alias.name}")
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted: every import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def _sources() -> dict[str, str]:
    sources = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        sources[".".join(rel.parts).removesuffix(".__init__")] = path.read_text()
    return sources


def test_no_import_circles_between_modules_within_or_across_packages():
    assert import_circles(module_graph(_sources())) == []


def test_the_circle_finder_finds_a_circle_inside_a_package():
    sources = {"edgeus.contracts.a": "from edgeus.contracts.b import x\n",
               "edgeus.contracts.b": "def f():\n    from edgeus.contracts import c\n",
               "edgeus.contracts.c": "import edgeus.contracts.a\n", "edgeus.contracts.d": "import edgeus.contracts.a\n"}
    assert import_circles(module_graph(sources)) == [["edgeus.contracts.a", "edgeus.contracts.b", "edgeus.contracts.c"]]


@pytest.mark.parametrize(("package", "source", "expected"), [
    ("evidence", "from edgeus.stages.validate import validate\n", 1),   # a deliberate back-import: caught
    ("runtime", "def f():\n    import edgeus.pipeline.flow\n", 1),   # lazily, inside a function: caught too
    ("evidence", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edgeus.backends.base import Runner\n", 0),
    ("stages", "from edgeus.evidence.metrics import dice\nfrom edgeus import __version__\n", 0),
])
def test_the_checker_catches_a_deliberate_back_import(package, source, expected):
    assert len(violations(package, source)) == expected


def test_package_docstrings_say_their_job_and_what_they_may_import():
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) > 40, init
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "may import" in doc.lower(), init.parent.name


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = node.args
    return len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)


def test_modules_stay_small_and_pipeline_hand_overs_stay_typed():
    """Rooms one can live in: no module above 400 lines (the build's flow and plan search at most 300); no
    function in pipeline/ with more than 8 parameters (more is a hand-over that wants a typed object)."""
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}
    for name in ("flow.py", "plans.py"):
        assert len((PACKAGE / "pipeline" / name).read_text().splitlines()) <= 300, name
    wide = [f"{p.name}:{node.name} ({_parameters(node)})" for p in sorted((PACKAGE / "pipeline").rglob("*.py"))
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _parameters(node) > 8]
    assert wide == []
