"""Stage 6, graph: the order in which stacks may be deployed, as an explicit dependency graph.

Two kinds of edges. Hard edges join stacks: a consumer follows the producer of every value it
takes (`Reference`), a stack follows the stacks its resources' cross-target `DependsOn` name, and
`DependsOnAccount` / `DependsOnRegion` put a stack after its task's stacks in those accounts or
regions. Soft edges join tasks: every stack of a task follows every stack of the tasks in its
`DependsOn` (within their failure tolerance, which apply judges). Both kinds are checked together
for cycles, and a cycle is reported with the path that makes it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from orgc.diagnostics import Diagnostics, Span
from orgc.render import RenderedStack, StackKey

_TASK = "task:"


@dataclass(frozen=True, slots=True, kw_only=True)
class StackOrder:
    # stack → the stacks it must follow (hard edges), sorted
    after: dict[StackKey, tuple[StackKey, ...]]
    # task → the tasks it must follow (soft edges), sorted
    after_tasks: dict[str, tuple[str, ...]]


def order_stacks(
    stacks: Sequence[RenderedStack],
    task_dependencies: Mapping[str, Iterable[str]],
    task_spans: Mapping[str, Span | None],
    diagnostics: Diagnostics,
) -> StackOrder:
    """The edges between `stacks` and between tasks; a cycle is an E501 at its first task."""
    keys = {stack.key for stack in stacks}
    by_task: dict[str, list[StackKey]] = {}
    for stack in stacks:
        by_task.setdefault(stack.key.task, []).append(stack.key)

    after: dict[StackKey, set[StackKey]] = {}
    for stack in stacks:
        edges: set[StackKey] = set()
        after[stack.key] = edges
        if not (
            stack.references or stack.after_stacks or stack.after_accounts or stack.after_regions
        ):
            continue  # most stacks follow no other
        for reference in stack.references:
            if reference.producer is not None:
                if reference.producer not in keys:
                    diagnostics.add(
                        "E502",
                        f"{reference.expression} takes its value from {reference.producer}, "
                        "which this run does not deploy (its task is skipped or has no target "
                        "there)",
                        reference.span or stack.span,
                    )
                    continue
                edges.add(reference.producer)
        edges.update(k for k in stack.after_stacks if k in keys)
        if stack.after_accounts or stack.after_regions:  # rare: keep the scan off the rest
            for other in by_task.get(stack.key.task, ()):
                if other.account in stack.after_accounts or other.region in stack.after_regions:
                    edges.add(other)
        edges.discard(stack.key)

    after_tasks = {
        task: tuple(sorted(set(dependencies))) for task, dependencies in task_dependencies.items()
    }
    _check_cycles(stacks, after, after_tasks, task_spans, diagnostics)
    return StackOrder(
        after={key: tuple(sorted(edges)) if edges else () for key, edges in sorted(after.items())},
        after_tasks=after_tasks,
    )


def _check_cycles(
    stacks: Sequence[RenderedStack],
    after: Mapping[StackKey, set[StackKey]],
    after_tasks: Mapping[str, tuple[str, ...]],
    task_spans: Mapping[str, Span | None],
    diagnostics: Diagnostics,
) -> None:
    # One graph of stacks and tasks: a task is done when its stacks are; a stack starts when the
    # tasks its task depends on are done. A stack with no stack edge either way can only be on a
    # cycle through its task's own edges, which the task nodes carry already: it is left out, so
    # the graph grows with the references, not with the targets.
    linked = {key for key, edges in after.items() if edges}
    linked.update(k for edges in after.values() for k in edges)
    graph: dict[str, set[str]] = {}
    for stack in stacks:
        if stack.key not in linked:
            continue
        node = str(stack.key)
        graph.setdefault(node, set()).update(str(k) for k in after[stack.key])
        graph[node].update(_TASK + t for t in after_tasks.get(stack.key.task, ()))
        graph.setdefault(_TASK + stack.key.task, set()).add(node)
    for task, dependencies in after_tasks.items():
        graph.setdefault(_TASK + task, set()).update(_TASK + d for d in dependencies)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        cycle: list[str] = list(error.args[1])
        # graphlib gives the cycle end to start; read it as "X waits for Y".
        cycle.reverse()
        path = " → ".join(_readable(node) for node in cycle)
        diagnostics.add(
            "E501",
            f"deployment order has a cycle ({path}, each waiting for the next); remove one of "
            "these dependencies",
            task_spans.get(_blamed_task(cycle)),
        )


def _blamed_task(cycle: Sequence[str]) -> str:
    """The task whose DependsOn closes the cycle (where the user looks first), else the task
    of the first stack on it."""
    for waiting, awaited in itertools.pairwise(cycle):
        if awaited.startswith(_TASK):
            return _task_of(waiting)
    return _task_of(cycle[0])


def _task_of(node: str) -> str:
    return node[len(_TASK) :] if node.startswith(_TASK) else node.partition("/")[0]


def _readable(node: str) -> str:
    return f"task {node[len(_TASK) :]}" if node.startswith(_TASK) else f"stack {node}"
