"""Which changes of a plan may start: a DAG of changes and of groups, and the run's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orgc.plan import Change, Plan


@dataclass(slots=True)
class ApplyResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # change id → reason
    skipped: dict[str, str] = field(default_factory=dict)  # change id → the failure it waited on
    # change id → why the embedded emulator cannot carry it out (AWS would): not a failure of
    # the files or of orgc, so reported apart from `failed`
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.refused


# Event callback: (event, change, message); event is "start", "done", "failed" or "skipped".
# The message of "failed" is the error, of "skipped" the reason; apply gives "done" the physical
# id the change made or acted on ("" when it has none).
Listener = Callable[[str, Change, str], None]


class Scheduler:
    """Which changes may start: a DAG of changes and of groups.

    `after` names changes, or `task:<group>`: every change of that group, finished. A group
    fails when more of its changes fail (or are skipped) than its failure tolerance allows; then
    what waits on the group is skipped. A group with no changes in the plan is finished. A change
    the embedded emulator refuses skips what waits on it (on its outputs, or on it by name),
    but is no loss to its group: AWS would have made it.
    """

    def __init__(self, plan: Plan, notify: Listener) -> None:
        self.notify = notify
        self.result = ApplyResult()
        self.changes = {c.id: c for c in plan.changes}
        self.order = {c.id: i for i, c in enumerate(plan.changes)}
        self.members: dict[str, set[str]] = {}
        for change in plan.changes:
            if change.group is not None:
                self.members.setdefault(change.group, set()).add(change.id)
        self.tolerance = {name: group.failure_tolerance for name, group in plan.groups.items()}
        self.unresolved = {name: set(ids) for name, ids in self.members.items()}
        self.losses: dict[str, int] = {}
        # Changes the emulator refused, and those skipped only because they waited on one.
        self.emulated: set[str] = set()
        self.waiting: dict[str, set[str]] = {}
        self.dependents: dict[str, list[str]] = {}
        for change in plan.changes:
            needs = {
                a
                for a in change.after
                if a in self.changes
                or (a.startswith(_GROUP) and self.unresolved.get(a[len(_GROUP) :]))
            }
            # A change never waits on its own group.
            needs.discard(f"{_GROUP}{change.group}")
            self.waiting[change.id] = needs
            for before in needs:
                self.dependents.setdefault(before, []).append(change.id)
        self.ready = [c for c, needs in self.waiting.items() if not needs]

    def take_ready(self) -> list[Change]:
        ready = sorted(self.ready, key=self.order.__getitem__)
        self.ready = []
        for change_id in ready:
            self.notify("start", self.changes[change_id], "")
        return [self.changes[c] for c in ready]

    def finish(self, change_id: str, error: str | None, *, refused: bool = False) -> None:
        """Record how a change ended: done (`error` None), failed, or `refused` by the
        emulator; what waits on a change that did not happen is skipped."""
        change = self.changes[change_id]
        if error is None:
            self.result.done.append(change_id)
            self.notify("done", change, "")
            self.release(change_id)
        elif refused:
            self.result.refused[change_id] = error
            self.emulated.add(change_id)
            self.notify("failed", change, error)
            self.skip_dependents(
                change_id, f"waits on {change_id}, which the emulator refused", refused=True
            )
        else:
            self.result.failed[change_id] = error
            self.notify("failed", change, error)
            self.skip_dependents(change_id, f"waits on {change_id}, which failed")
        self.resolve_in_group(change)

    def skip_after_refusal(self, change_id: str, reason: str) -> None:
        """A change that ran and found it needs what a refused change would have made: skipped
        with `reason`, as what waits on a refusal is."""
        change = self.changes[change_id]
        self.result.skipped[change_id] = reason
        self.emulated.add(change_id)
        self.notify("skipped", change, reason)
        self.skip_dependents(change_id, f"waits on {change_id}, which was skipped", refused=True)
        self.resolve_in_group(change)

    def release(self, node: str) -> None:
        for dependent in self.dependents.get(node, ()):
            needs = self.waiting[dependent]
            needs.discard(node)
            if not needs and not self.settled(dependent):
                self.ready.append(dependent)

    def settled(self, change_id: str) -> bool:
        return (
            change_id in self.result.skipped
            or change_id in self.result.failed
            or change_id in self.result.refused
        )

    def skip_dependents(self, node: str, reason: str, *, refused: bool = False) -> None:
        for dependent in self.dependents.get(node, ()):
            if self.settled(dependent) or dependent in self.result.done:
                continue
            self.result.skipped[dependent] = reason
            if refused:
                self.emulated.add(dependent)
            self.notify("skipped", self.changes[dependent], reason)
            self.skip_dependents(dependent, reason, refused=refused)
            self.resolve_in_group(self.changes[dependent])

    def resolve_in_group(self, change: Change) -> None:
        group = change.group
        if group is None or change.id not in self.unresolved.get(group, set()):
            return
        self.unresolved[group].discard(change.id)
        # A change the emulator refused (or that waited on one) would have been made on AWS: it
        # costs its task nothing, so what merely comes after the task still runs.
        if change.id not in self.result.done and change.id not in self.emulated:
            self.losses[group] = self.losses.get(group, 0) + 1
        if self.unresolved[group]:
            return
        node = f"{_GROUP}{group}"
        lost = self.losses.get(group, 0)
        if lost > self.tolerance.get(group, 0):
            self.skip_dependents(
                node,
                f"waits on task {group}, where {lost} change(s) failed "
                f"(tolerance {self.tolerance.get(group, 0)})",
            )
        else:
            self.release(node)


_GROUP = "task:"
