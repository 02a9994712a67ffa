"""The import graph of orgc: no cycle at run time, and a provider that is a leaf.

The graph is read from the source (the AST), not from a running interpreter, so that every
import counts, also one inside a function that no test happens to call. Imports under
`if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import orgc

PACKAGE = Path(orgc.__file__).parent


@dataclass(frozen=True, slots=True)
class Edge:
    target: str
    where: str  # path:line of the import statement


def module_files() -> dict[str, Path]:
    """Every module of orgc by dotted name (a package by its __init__)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, at any depth, but those that only type checkers
    run."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports_of(other)
            continue
        yield from _imports_of(child)


def _imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    yield from _imports(node)


def _ancestors(module: str) -> list[str]:
    """`a`, `a.b` for `a.b.c`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.cache
def import_graph() -> dict[str, list[Edge]]:
    """Module → the orgc modules its imports run.

    `import a.b.c` and `from a.b.c import x` run `a.b.c`, and before it the packages `a` and
    `a.b` (but those the importing module sits in: Python has started them before it); `from
    a.b import c` runs the module `a.b.c` when there is one, and `a.b` itself for a name that
    is not a module.
    """
    files = module_files()
    return {module: _edges(module, path, files) for module, path in files.items()}


def _edges(module: str, path: Path, files: dict[str, Path]) -> list[Edge]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    own = {*_ancestors(module), module}
    edges: set[Edge] = set()

    def add(target: str, line: int, *, implicit: bool) -> None:
        if target in files and target != module and not (implicit and target in own):
            edges.add(Edge(target, f"{path.relative_to(PACKAGE.parent)}:{line}"))

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for statement in _imports(tree):
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                for ancestor in _ancestors(alias.name):
                    add(ancestor, statement.lineno, implicit=True)
                add(alias.name, statement.lineno, implicit=False)
            continue
        if statement.level:
            parts = package.split(".")
            base = parts[: len(parts) - (statement.level - 1)]
            source = ".".join([*base, *([statement.module] if statement.module else [])])
        else:
            source = statement.module or ""
        for ancestor in _ancestors(source):
            add(ancestor, statement.lineno, implicit=True)
        names = [alias.name for alias in statement.names]
        if any(f"{source}.{name}" not in files for name in names):
            add(source, statement.lineno, implicit=False)
        for name in names:
            add(f"{source}.{name}", statement.lineno, implicit=False)
    return sorted(edges, key=lambda edge: (edge.target, edge.where))


def find_cycle(graph: dict[str, list[Edge]]) -> list[tuple[str, Edge]] | None:
    """One cycle of the graph as (module, the import it goes on by), or None."""
    done: set[str] = set()
    path: list[tuple[str, Edge]] = []
    on_path: dict[str, int] = {}

    def visit(module: str) -> list[tuple[str, Edge]] | None:
        on_path[module] = len(path)
        for edge in graph.get(module, []):
            if edge.target in on_path:
                return [*path[on_path[edge.target] :], (module, edge)]
            if edge.target in done:
                continue
            path.append((module, edge))
            found = visit(edge.target)
            if found is not None:
                return found
            path.pop()
        del on_path[module]
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            found = visit(module)
            if found is not None:
                return found
    return None


def test_the_graph_sees_imports_at_any_depth_but_not_type_checking_ones() -> None:
    graph = import_graph()
    # A module-level import, an import inside a method, and one under TYPE_CHECKING only.
    pipeline = {edge.target for edge in graph["orgc.pipeline"]}
    assert {"orgc.apply", "orgc.observe"} <= pipeline
    state = {edge.target for edge in graph["orgc.state"]}
    assert "orgc.aws" in state  # imported inside S3StateStore's methods
    cli = {edge.target for edge in graph["orgc.cli"]}
    assert "orgc.pipeline" in cli  # imported inside the command functions
    # `from orgc.apply import stacks` runs the module orgc.apply.stacks, not the package again.
    assert "orgc.apply.stacks" in {edge.target for edge in graph["orgc.apply"]}


def test_a_cycle_is_found_and_shown() -> None:
    graph = {
        "a": [Edge("b", "a.py:1")],
        "b": [Edge("c", "b.py:2")],
        "c": [Edge("a", "c.py:3"), Edge("d", "c.py:4")],
        "d": [],
    }
    assert find_cycle(graph) == [
        ("a", Edge("b", "a.py:1")),
        ("b", Edge("c", "b.py:2")),
        ("c", Edge("a", "c.py:3")),
    ]
    assert find_cycle({"a": [Edge("b", "a.py:1")], "b": []}) is None


def test_no_import_cycle_at_run_time() -> None:
    cycle = find_cycle(import_graph())
    shown = "\n".join(f"  {module} → {edge.target}  ({edge.where})" for module, edge in cycle or ())
    assert cycle is None, f"orgc's modules import each other in a cycle:\n{shown}"


# What the provider may import of orgc: itself, its protocol and the data types it shares.
PROVIDER_LEAF = ("orgc.aws", "orgc.observed", "orgc.provider")


def _in_leaf(module: str) -> bool:
    return module == "orgc" or any(
        module == allowed or module.startswith(f"{allowed}.") for allowed in PROVIDER_LEAF
    )


def test_the_provider_imports_only_its_own_modules_and_data_types() -> None:
    graph = import_graph()
    outside = {
        f"{module} → {edge.target} ({edge.where})"
        for module, edges in graph.items()
        if _in_leaf(module) and module != "orgc"
        for edge in edges
        if not _in_leaf(edge.target)
    }
    assert not outside


def _loaded_by(module: str, directory: Path) -> list[str]:
    """The modules a fresh interpreter holds after importing `module`."""
    script = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    environment = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        cwd=directory,  # `python -c` imports from its working directory first
    )
    loaded: list[str] = json.loads(ran.stdout)
    return loaded


def test_importing_the_provider_loads_no_stage(tmp_path: Path) -> None:
    loaded = [m for m in _loaded_by("orgc.aws", tmp_path) if m.split(".")[0] == "orgc"]
    assert "orgc.aws.provider" in loaded
    assert [module for module in loaded if not _in_leaf(module)] == []


def test_the_stages_load_no_aws_sdk(tmp_path: Path) -> None:
    """Planning and rendering are typed against the protocol: the AWS provider, and boto3 with
    it, are loaded only by what makes a provider (the command line, the S3 state store)."""
    loaded = _loaded_by("orgc.pipeline", tmp_path)
    assert "orgc.pipeline" in loaded
    assert [m for m in loaded if m.split(".")[0] in {"boto3", "botocore"}] == []
    assert [m for m in loaded if m == "orgc.aws" or m.startswith("orgc.aws.")] == []


@pytest.mark.parametrize("module", ["orgc.observed", "orgc.provider"])
def test_the_provider_types_import_nothing_of_orgc(module: str) -> None:
    graph = import_graph()
    allowed = {"orgc.observed"}
    assert {edge.target for edge in graph[module]} <= allowed
