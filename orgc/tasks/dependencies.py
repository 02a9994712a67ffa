"""DependsOn resolution: names qualified per file, includes expanded to their tasks, cycles found.

A task's DependsOn names tasks and includes of its own file; another name is ignored with a
warning (W390), as OrgFormation does. A dependency on an include means every task below it, and
a task also waits for what each include that encloses it waits for. `dependency_graph` gives,
per task, the tasks it waits for with where each dependency was written; `report_cycles`
reports each group of tasks that wait for each other once (E331).
"""

from __future__ import annotations

from collections.abc import Mapping

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.tasks.model import Include, Task

# A task's or include's declared DependsOn: (qualified target, where it was written).
Declared = dict[str, list[tuple[str, Span | None]]]


def resolve_local(
    pending: list[tuple[str, list[tuple[str, Span | None]]]],
    local: Mapping[str, str],
    dependencies: Declared,
    diagnostics: Diagnostics,
) -> None:
    """Record the DependsOn of the tasks and includes of one file in `dependencies`, qualified
    through `local` (name in the file → qualified name); names of no task of the file are
    reported."""
    for qualified, depends_on in pending:
        resolved = dependencies.setdefault(qualified, [])
        for target, span in depends_on:
            if target in local:
                resolved.append((local[target], span))
            else:
                diagnostics.add(
                    "W390",
                    f"DependsOn names {target!r}, which is not a task of this file"
                    f"{did_you_mean(target, local)}; the dependency is ignored",
                    span,
                )


def dependency_graph(
    tasks: Mapping[str, Task],
    includes: Mapping[str, Include],
    members: Mapping[str, list[str]],
    dependencies: Declared,
) -> dict[str, dict[str, Span | None]]:
    """Per task, the tasks it waits for, each with where the first DependsOn that asks for it
    was written: its own DependsOn and those of its enclosing includes, includes expanded to
    `members`, every task below them."""
    graph: dict[str, dict[str, Span | None]] = {}
    for name, task in tasks.items():
        edges: dict[str, Span | None] = {}
        for owner in (*task.group, name):
            for target, span in dependencies.get(owner, []):
                for dependency in _expand(target, tasks, includes, members):
                    edges.setdefault(dependency, span)
        graph[name] = edges
    return graph


def _expand(
    target: str,
    tasks: Mapping[str, Task],
    includes: Mapping[str, Include],
    members: Mapping[str, list[str]],
) -> list[str]:
    if target in includes:
        return members.get(target, [])
    if target in tasks:
        return [target]
    return []  # the update-organization task: every task follows it anyway


def report_cycles(graph: Mapping[str, Mapping[str, Span | None]], diagnostics: Diagnostics) -> None:
    """Report each group of tasks of `graph` that wait for each other, once."""
    for cycle in _cycles({name: sorted(edges) for name, edges in graph.items()}):
        diagnostics.add(
            "E331",
            f"DependsOn makes a cycle: {' → '.join(cycle)}; remove one of these dependencies",
            graph[cycle[0]][cycle[1]],
        )


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """One cycle per group of tasks that wait for each other, each starting at its smallest
    name: ["A", "B", "A"]. Iterative, so that no length of DependsOn chain is too long."""
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        state[root] = 1
        path, pending = [root], [iter(graph[root])]
        while pending:
            successor = next(pending[-1], None)
            if successor is None:
                pending.pop()
                state[path.pop()] = 2
            elif state.get(successor) == 1:
                members = path[path.index(successor) :]
                if frozenset(members) not in seen:
                    seen.add(frozenset(members))
                    start = members.index(min(members))
                    rotated = members[start:] + members[:start]
                    found.append([*rotated, rotated[0]])
            elif successor in graph and successor not in state:
                state[successor] = 1
                path.append(successor)
                pending.append(iter(graph[successor]))
    return found
