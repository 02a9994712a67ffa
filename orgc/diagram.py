"""The dependency graph drawn for people: Graphviz DOT or Mermaid, for a README or a pull request.

Two sources: a saved plan (every change, and what it waits on: `after`, a task's changes
grouped), and the files alone, offline (tasks, the stacks each renders to, the edges between
stacks and between tasks). Both are drawn with the same two writers. Arrows point from what
comes first to what follows it.

Node ids are stable: derived from what the node is (a change id, a task name, a stack target),
never from its position, so that adding one node changes one line of a committed diagram.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from orgc.graph import StackOrder
from orgc.plan import Plan
from orgc.render import RenderedStack
from orgc.tasks import Task


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    key: str  # what the node is: a change id, "task:<name>", "stack:<task/account/region>"
    label: str
    group: str | None = None  # the key of the group drawn around it


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagram:
    nodes: tuple[Node, ...]  # in drawing order
    edges: tuple[tuple[str, str], ...]  # (first, then), sorted
    groups: Mapping[str, str]  # group key → label, drawn in key order


_TASK = "task:"


def plan_diagram(plan: Plan) -> Diagram:
    """Every change of `plan`, in a box per task; an edge for each change it comes after. A
    change that waits on a whole task (`after` names `task:<name>`) gets an edge from the
    task's box."""
    groups = {f"{_TASK}{c.group}": f"task {c.group}" for c in plan.changes if c.group}
    nodes = tuple(
        Node(
            key=change.id,
            label=change.summary,
            group=f"{_TASK}{change.group}" if change.group else None,
        )
        for change in plan.changes
    )
    known = {node.key for node in nodes} | set(groups)
    edges = {
        (first, change.id) for change in plan.changes for first in change.after if first in known
    }
    return Diagram(nodes=nodes, edges=tuple(sorted(edges)), groups=dict(sorted(groups.items())))


def project_diagram(
    tasks: Mapping[str, Task], stacks: Sequence[RenderedStack], order: StackOrder
) -> Diagram:
    """The files' tasks and the stacks they render to, offline: an edge from each task to the
    tasks that DependsOn it, and from each stack to the stacks that take a value from it or
    must follow it. A task's stacks are grouped in its box."""
    groups = {f"{_TASK}{name}": f"{task.type} {name}" for name, task in sorted(tasks.items())}
    nodes: list[Node] = []
    with_stacks = {stack.key.task for stack in stacks}
    for name, task in sorted(tasks.items()):
        if name not in with_stacks:
            nodes.append(Node(key=f"{_TASK}{name}", label=f"{task.type} {name}"))
    for stack in sorted(stacks, key=lambda s: s.key):
        key = stack.key
        nodes.append(
            Node(
                key=_stack_key(key),
                label=f"{key.account} {key.region}",
                group=f"{_TASK}{key.task}",
            )
        )
    edges: set[tuple[str, str]] = set()
    for name, task in tasks.items():
        for first in task.depends_on:
            # A task drawn as a box of stacks is reached at its box.
            edges.add((f"{_TASK}{first}", f"{_TASK}{name}"))
    for then, firsts in order.after.items():
        edges.update((_stack_key(first), _stack_key(then)) for first in firsts)
    used = {g for g in groups if g[len(_TASK) :] in with_stacks}
    return Diagram(
        nodes=tuple(nodes),
        edges=tuple(sorted(edges)),
        groups={g: label for g, label in groups.items() if g in used},
    )


def _stack_key(key: Iterable[str]) -> str:
    return "stack:" + "/".join(key)


# --- writers ------------------------------------------------------------------------------------


def node_id(key: str) -> str:
    """An identifier both DOT and Mermaid accept, stable for `key` and unique in practice: its
    letters and digits, and a short hash of the whole key."""
    readable = re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_")[:48]
    return f"{readable or 'n'}_{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(diagram: Diagram) -> str:
    lines = [
        "digraph orgc {",
        "  rankdir=LR;",
        "  compound=true;",
        '  node [shape=box, fontname="Helvetica"];',
    ]
    members: dict[str | None, list[Node]] = {}
    for node in diagram.nodes:
        members.setdefault(node.group, []).append(node)
    for group, label in diagram.groups.items():
        lines.append(f"  subgraph cluster_{node_id(group)} {{")
        lines.append(f"    label={_dot_string(label)};")
        # An invisible point stands for the box, so that edges can reach the task as a whole.
        lines.append(f'    {node_id(group)} [shape=point, style=invis, label=""];')
        lines.extend(
            f"    {node_id(n.key)} [label={_dot_string(n.label)}];" for n in members.get(group, [])
        )
        lines.append("  }")
    lines.extend(
        f"  {node_id(n.key)} [label={_dot_string(n.label)}];" for n in members.get(None, [])
    )
    for first, then in diagram.edges:
        # An edge from or to a task's box is drawn to its border (compound=true).
        ends = [f"ltail=cluster_{node_id(first)}"] if first in diagram.groups else []
        ends += [f"lhead=cluster_{node_id(then)}"] if then in diagram.groups else []
        attributes = f" [{', '.join(ends)}]" if ends else ""
        lines.append(f"  {node_id(first)} -> {node_id(then)}{attributes};")
    lines.append("}")
    return "\n".join(lines) + "\n"


_MERMAID_ENTITIES = str.maketrans(
    {'"': "#quot;", "<": "#lt;", ">": "#gt;", "#": "#35;", "\n": " ", "`": "#96;"}
)


def _mermaid_label(text: str) -> str:
    return '"' + text.translate(_MERMAID_ENTITIES) + '"'


def to_mermaid(diagram: Diagram) -> str:
    lines = ["flowchart LR"]
    members: dict[str | None, list[Node]] = {}
    for node in diagram.nodes:
        members.setdefault(node.group, []).append(node)
    for group, label in diagram.groups.items():
        lines.append(f"  subgraph {node_id(group)}[{_mermaid_label(label)}]")
        lines.extend(
            f"    {node_id(n.key)}[{_mermaid_label(n.label)}]" for n in members.get(group, [])
        )
        lines.append("  end")
    lines.extend(f"  {node_id(n.key)}[{_mermaid_label(n.label)}]" for n in members.get(None, []))
    lines.extend(f"  {node_id(first)} --> {node_id(then)}" for first, then in diagram.edges)
    return "\n".join(lines) + "\n"


FORMATS: dict[str, Callable[[Diagram], str]] = {"dot": to_dot, "mermaid": to_mermaid}
