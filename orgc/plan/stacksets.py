"""Planning StackSet-mode tasks: one StackSet per task, compared with AWS and with the state.

For each StackSet the files ask for, what it would be created with (a content hash of template,
parameters and settings) is compared with what the state recorded and with what DescribeStackSet
returns now, and its targets with the instances ListStackInstances lists. The changes of one
task, in the order they run:

- `stack-set-instances delete`: instances in regions, OUs or accounts the task no longer targets;
- `stack-set create` (CreateStackSet), or `stack-set update` (UpdateStackSet) with a template
  diff and a parameter diff computed here, since StackSets have no change sets;
- `stack-set-instances create`: CreateStackInstances for OUs and regions that have no instances
  yet, or for accounts that lack one.

An unchanged StackSet gets no change at all, so it costs no write. A StackSet whose task left the
files is deleted (its instances, then the StackSet) only when cleanup is asked for; one whose task
is no longer in StackSet mode, or binds nothing any more, is deleted like a stack whose target
left its task's bindings. A pure function of its inputs.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from orgc.diagnostics import Diagnostic
from orgc.observed import NO_FILTER, ONLY, InstanceTargets, LiveStackSet
from orgc.plan.codec import stack_set_settings_from_json
from orgc.plan.document import Change
from orgc.plan.specs import (
    Action,
    ChangeKind,
    Group,
    InstanceDeletion,
    InstancesCreate,
    InstancesDelete,
    Json,
    ParameterChange,
    StackSetAddress,
    StackSetCreate,
    StackSetDelete,
    StackSetUpdate,
)
from orgc.render import markers
from orgc.stacksets import DesiredStackSet, is_stack_set
from orgc.state import StackSetRecord, State
from orgc.tasks import StacksTask

_CURRENT = "CURRENT"  # a stack instance as its StackSet says


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredStackSets:
    stack_sets: tuple[DesiredStackSet, ...]
    tasks: Mapping[str, StacksTask]  # every update-stacks task by name, skipped ones included
    after_tasks: Mapping[str, tuple[str, ...]]  # task → the tasks it DependsOn
    organization_group: str  # the group name of the organization's changes
    account_ids: Mapping[str, str | None]  # every account of the files → its id (None: new)
    # StackSets taken to be as the state recorded them (plans that trust the state): unchanged,
    # and not read.
    trusted: frozenset[str] = frozenset()
    # Skipped includes whose file was not read: what their tasks deployed is kept.
    skipped_includes: tuple[str, ...] = ()


class StackSetPlanner:
    def __init__(
        self,
        desired: DesiredStackSets,
        live: Mapping[str, LiveStackSet | None],
        state: State,
        *,
        perform_cleanup: bool = False,
    ) -> None:
        self.desired = desired
        self.live = live
        self.state = state
        self.perform_cleanup = perform_cleanup
        self.records = state.stack_set_records()
        self.names = {i: logical for logical, i in desired.account_ids.items() if i}
        self.changes: list[Change] = []
        self.unchanged: list[str] = []
        self.warnings: list[Diagnostic] = []

    def plan(self) -> None:
        for wanted in self.desired.stack_sets:
            self.plan_stack_set(wanted)
        self.plan_removed()

    # --- one StackSet ---------------------------------------------------------------------

    def plan_stack_set(self, wanted: DesiredStackSet) -> None:
        if wanted.name in self.desired.trusted:
            self.unchanged.append(f"{wanted.task} (StackSet {wanted.name})")
            return
        record = self.records.get(wanted.name)
        live = self.live.get(wanted.name)
        after = self.after(wanted)
        if live is None:
            again = "it was deleted outside orgc; it is created again" if record else ""
            created = self.content_change(wanted, Action.CREATE, again, record=record, live=None)
            self.instances_change(wanted, list(wanted.targets.regions), "", after=(*after, created))
            return
        changed: list[str] = []
        deletions = self.deletions(wanted, live, record)
        if deletions:
            changed.append(self.deletions_change(wanted, live, deletions, after=after))
        reason = self.update_reason(wanted, live, record)
        if reason is not None:
            changed.append(
                self.content_change(
                    wanted,
                    Action.UPDATE,
                    reason,
                    record=record,
                    live=live,
                    after=(*after, *changed),
                )
            )
        missing = self.missing(wanted, live, record)
        if missing is not None:
            regions, why = missing
            changed.append(self.instances_change(wanted, regions, why, after=(*after, *changed)))
        if not changed:
            self.unchanged.append(f"{wanted.task} (StackSet {wanted.name})")

    def after(self, wanted: DesiredStackSet) -> tuple[str, ...]:
        """The organization's changes, the tasks it DependsOn, and the deletion of the stacks
        the task deployed while it was in Stacks mode (their resources may clash)."""
        task_after = self.desired.after_tasks.get(wanted.task, ())
        return (
            f"task:{self.desired.organization_group}",
            *(f"task:{t}" for t in task_after),
            *(
                f"stack.delete:{r.stack_name}/{r.account_id}/{r.region}"
                for r in self.state.stacks
                if r.task == wanted.task
            ),
        )

    def update_reason(
        self, wanted: DesiredStackSet, live: LiveStackSet, record: StackSetRecord | None
    ) -> str | None:
        """Why the StackSet is updated, or None when it is as wanted."""
        content_hash = wanted.content_hash()
        if record is None:
            return "it exists but orgc has no record of it; it is taken over"
        if content_hash is None:
            return "values known only after apply may change it"
        if content_hash != record.hash:
            return _what_changed(wanted, live)
        if _differences(wanted, live):
            return "it was changed outside orgc since the last apply"
        outdated = sorted(
            {i.status for i in live.instances if i.status != _CURRENT and self.known(i.account_id)}
        )
        if outdated:
            return (
                f"stack instances are {', '.join(outdated)} (an earlier operation did not "
                "finish); they are updated again"
            )
        if wanted.force_deploy:
            return "ForceDeploy is set"
        return None

    def known(self, account_id: str) -> bool:
        """Whether the account is one of the files' (instances in other accounts that joined a
        targeted OU are AWS's business, not orgc's)."""
        return account_id in self.names

    # --- instances ------------------------------------------------------------------------

    def live_ous(self, live: LiveStackSet, record: StackSetRecord | None) -> set[str]:
        found = set(live.organizational_unit_ids)
        found.update(i.organizational_unit_id for i in live.instances if i.organizational_unit_id)
        if not found and record is not None:
            found.update(record.organizational_units)
        return found

    def deletions(
        self, wanted: DesiredStackSet, live: LiveStackSet, record: StackSetRecord | None
    ) -> list[InstanceDeletion]:
        """DeleteStackInstances requests for regions, OUs and accounts no longer targeted."""
        targets = wanted.targets
        wanted_ous = set(wanted.physical(targets.organizational_units))
        live_ous = self.live_ous(live, record)
        live_regions = {i.region for i in live.instances}
        gone_regions = sorted(live_regions - set(targets.regions))
        kept_regions = sorted(live_regions & set(targets.regions))
        gone_ous = sorted(live_ous - wanted_ous)
        found: list[InstanceDeletion] = []
        if gone_regions and live_ous:
            found.append(
                _request(
                    sorted(live_ous),
                    gone_regions,
                    reason=f"region(s) {', '.join(gone_regions)} left the task's bindings",
                )
            )
        if gone_ous and kept_regions:
            found.append(
                _request(
                    gone_ous,
                    kept_regions,
                    reason=f"{', '.join(self.ou_label(wanted, ou) for ou in gone_ous)} no longer "
                    "targeted",
                )
            )
        wanted_accounts = set(wanted.physical(wanted.accounts))
        strays = [
            i
            for i in live.instances
            if i.region in kept_regions
            and i.organizational_unit_id not in gone_ous
            and self.known(i.account_id)
            and i.account_id not in wanted_accounts
        ]
        if strays:
            accounts = sorted({i.account_id for i in strays})
            through = {i.organizational_unit_id for i in strays if i.organizational_unit_id}
            found.append(
                _request(
                    sorted(through or live_ous - set(gone_ous)),
                    sorted({i.region for i in strays}),
                    account_filter=ONLY,
                    accounts=accounts,
                    reason=f"account(s) {', '.join(self.account_label(a) for a in accounts)} "
                    "left the task's bindings",
                )
            )
        return found

    def missing(
        self, wanted: DesiredStackSet, live: LiveStackSet, record: StackSetRecord | None
    ) -> tuple[list[str], str] | None:
        """(regions, why) for CreateStackInstances, or None when every target has its
        instance. Creating instances that exist already changes nothing in AWS."""
        targets = wanted.targets
        live_ous = self.live_ous(live, record)
        live_regions = {i.region for i in live.instances}
        new_ous = [ou for ou in targets.organizational_units if wanted.ids[ou] not in live_ous]
        new_regions = sorted(set(targets.regions) - live_regions)
        have = {(i.account_id, i.region) for i in live.instances}
        lacking = sorted(
            logical_id
            for logical_id in wanted.accounts
            if not markers(wanted.ids[logical_id])
            and any(
                (wanted.ids[logical_id], region) not in have
                for region in targets.regions
                if region not in new_regions
            )
        )
        created = [a for a in wanted.accounts if markers(wanted.ids[a])]
        reasons = []
        if new_ous:
            reasons.append(f"{', '.join(_ou_name(ou) for ou in new_ous)} not targeted yet")
        if new_regions:
            reasons.append(f"region(s) {', '.join(new_regions)} new")
        if lacking:
            reasons.append(f"account(s) {', '.join(lacking)} without an instance")
        if created:
            reasons.append(f"account(s) {', '.join(created)} created by this run")
        if not reasons:
            return None
        everywhere = bool(new_ous or lacking or created)
        return (list(targets.regions) if everywhere else new_regions), "; ".join(reasons)

    def ou_label(self, wanted: DesiredStackSet, ou_id: str) -> str:
        recorded = {physical: logical for logical, physical in wanted.ids.items()}
        name = recorded.get(ou_id)
        return f"{_ou_name(name)} ({ou_id})" if name else f"OU {ou_id}"

    def account_label(self, account_id: str) -> str:
        name = self.names.get(account_id)
        return f"{name} ({account_id})" if name else account_id

    # --- changes --------------------------------------------------------------------------

    def common(self, wanted: DesiredStackSet, live: LiveStackSet | None) -> StackSetAddress:
        record = self.records.get(wanted.name)
        return StackSetAddress(
            task=wanted.task,
            where=wanted.where,
            name=wanted.name,
            stack_set_id=live.stack_set_id if live else record.stack_set_id if record else None,
            arn=live.arn if live else None,
            preferences=wanted.preferences,
            targets=wanted.instance_targets(),
            labels={physical: logical for logical, physical in sorted(wanted.ids.items())},
        )

    def add(self, change: Change) -> str:
        self.changes.append(change)
        return change.id

    def content_change(
        self,
        wanted: DesiredStackSet,
        action: Action,
        reason: str,
        *,
        record: StackSetRecord | None,
        live: LiveStackSet | None,
        after: tuple[str, ...] = (),
    ) -> str:
        spec: StackSetCreate | StackSetUpdate
        if live is None:
            spec = StackSetCreate(
                stack_set=self.common(wanted, live),
                template=wanted.template,
                parameters=wanted.parameters,
                settings=stack_set_settings_from_json(wanted.settings()),
                hash=wanted.content_hash(),
                previous_hash=record.hash if record else None,
                force_deploy=wanted.force_deploy,
            )
        else:
            spec = StackSetUpdate(
                stack_set=self.common(wanted, live),
                template=wanted.template,
                parameters=wanted.parameters,
                settings=stack_set_settings_from_json(wanted.settings()),
                hash=wanted.content_hash(),
                previous_hash=record.hash if record else None,
                force_deploy=wanted.force_deploy,
                template_diff=tuple(_template_diff(live.template_body, wanted.template)),
                parameter_changes=tuple(_parameter_changes(live.parameters, wanted.parameters)),
                update_targets=self.update_targets(wanted, live, record),
            )
        accounts = len(wanted.accounts)
        summary = (
            f"create StackSet {wanted.name} (task {wanted.task}) for {accounts} "
            f"account{'s' if accounts != 1 else ''} in {', '.join(wanted.targets.regions)}"
            if action == Action.CREATE
            else f"update StackSet {wanted.name} (task {wanted.task})"
        )
        return self.add(
            Change(
                id=f"stack-set.{action}:{wanted.task}",
                kind=ChangeKind.STACK_SET,
                action=action,
                logical_id=wanted.task,
                physical_id=live.stack_set_id if live else None,
                summary=summary + (f": {reason}" if reason else ""),
                spec=spec,
                after=tuple(sorted(set(after or self.after(wanted)))),
                group=wanted.task,
            )
        )

    def update_targets(
        self, wanted: DesiredStackSet, live: LiveStackSet, record: StackSetRecord | None
    ) -> InstanceTargets | None:
        """The instances an UpdateStackSet updates: the task's targets where instances are
        (the deletions before it have removed the others); None updates every instance."""
        live_ous = self.live_ous(live, record)
        ous = [ou for ou in wanted.targets.organizational_units if wanted.ids[ou] in live_ous]
        regions = sorted({i.region for i in live.instances} & set(wanted.targets.regions))
        if not ous or not regions:
            return None
        targets = wanted.targets
        return InstanceTargets(
            organizational_units=tuple(wanted.physical(ous)),
            account_filter=targets.account_filter,
            accounts=tuple(wanted.physical(targets.accounts)),
            regions=tuple(regions),
        )

    def instances_change(
        self, wanted: DesiredStackSet, regions: list[str], reason: str, *, after: tuple[str, ...]
    ) -> str:
        live = self.live.get(wanted.name)
        spec = InstancesCreate(
            stack_set=self.common(wanted, live), create=wanted.instance_targets(regions)
        )
        return self.add(
            Change(
                id=f"stack-set-instances.create:{wanted.task}",
                kind=ChangeKind.STACK_SET_INSTANCES,
                action=Action.CREATE,
                logical_id=wanted.task,
                physical_id=live.stack_set_id if live else None,
                summary=f"create instances of StackSet {wanted.name} in "
                f"{_where(wanted, regions)}" + (f": {reason}" if reason else ""),
                spec=spec,
                after=tuple(sorted(set(after))),
                group=wanted.task,
            )
        )

    def deletions_change(
        self,
        wanted: DesiredStackSet,
        live: LiveStackSet,
        deletions: list[InstanceDeletion],
        *,
        after: tuple[str, ...],
    ) -> str:
        return self.add(
            Change(
                id=f"stack-set-instances.delete:{wanted.task}",
                kind=ChangeKind.STACK_SET_INSTANCES,
                action=Action.DELETE,
                logical_id=wanted.task,
                physical_id=live.stack_set_id,
                summary=f"delete instances of StackSet {wanted.name}: "
                + "; ".join(d.reason for d in deletions),
                spec=InstancesDelete(stack_set=self.common(wanted, live), delete=tuple(deletions)),
                after=tuple(sorted(set(after))),
                group=wanted.task,
            )
        )

    # --- removed --------------------------------------------------------------------------

    def plan_removed(self) -> None:
        wanted = {w.name for w in self.desired.stack_sets}
        for name, record in sorted(self.records.items()):
            if name in wanted:
                continue
            task = self.desired.tasks.get(record.task)
            if task is not None and task.skip:
                continue
            if task is None and record.task.startswith(
                tuple(f"{name}-" for name in self.desired.skipped_includes)
            ):
                continue
            if task is None and not self.perform_cleanup:
                self.warnings.append(
                    Diagnostic(
                        "W442",
                        f"StackSet {name} belongs to task {record.task}, which is no longer in "
                        "the task files; orgc leaves it (apply with --perform-cleanup deletes it)",
                    )
                )
                continue
            self.plan_deletion(record, task)

    def plan_deletion(self, record: StackSetRecord, task: StacksTask | None) -> None:
        live = self.live.get(record.name)
        if task is None:
            reason = "its task is no longer in the task files (cleanup asked for)"
        elif not is_stack_set(task):
            reason = f"task {task.name} is no longer in StackSet mode"
        else:
            reason = f"task {task.name} binds no account any more"
        action = Action.DELETE if live is not None else Action.FORGET
        if live is None:
            reason = "it was already deleted outside orgc"
        ous = set(record.organizational_units) | (self.live_ous(live, record) if live else set())
        regions = set(record.regions) | ({i.region for i in live.instances} if live else set())
        self.changes.append(
            Change(
                id=f"stack-set.{action}:{record.task}",
                kind=ChangeKind.STACK_SET,
                action=action,
                logical_id=record.task,
                physical_id=live.stack_set_id if live else record.stack_set_id,
                summary=f"{action} StackSet {record.name} (task {record.task}): {reason}",
                spec=StackSetDelete(
                    task=record.task,
                    name=record.name,
                    organizational_units=tuple(sorted(ous)),
                    regions=tuple(sorted(regions)),
                    instances=len(live.instances) if live else 0,
                ),
                after=(f"task:{self.desired.organization_group}",),
                group=record.task,
            )
        )


def _request(
    ous: list[str],
    regions: list[str],
    *,
    reason: str,
    account_filter: str = NO_FILTER,
    accounts: list[str] | None = None,
) -> InstanceDeletion:
    """One DeleteStackInstances request as the plan shows it: its targets and why."""
    targets = InstanceTargets(
        organizational_units=tuple(ous),
        account_filter=account_filter,
        accounts=tuple(accounts or ()),
        regions=tuple(regions),
    )
    return InstanceDeletion(targets=targets, reason=reason)


def _ou_name(logical_id: str) -> str:
    return "the root" if logical_id == "root" else f"OU {logical_id}"


def _where(wanted: DesiredStackSet, regions: list[str]) -> str:
    targets = wanted.targets
    text = ", ".join(_ou_name(ou) for ou in targets.organizational_units)
    if targets.account_filter == ONLY:
        text += f" (only {', '.join(targets.accounts)})"
    elif targets.account_filter != NO_FILTER:
        text += f" (except {', '.join(targets.accounts)})"
    return f"{text}, {', '.join(regions)}"


def _live_template(body: str) -> Json:
    try:
        parsed: Json = json.loads(body)
        return parsed
    except ValueError:
        return None  # a YAML template, written outside orgc: never the one orgc wants


def _differences(wanted: DesiredStackSet, live: LiveStackSet) -> list[str]:
    """What of template, parameters and settings differs between the files and AWS."""
    found = []
    if _live_template(live.template_body) != wanted.template:
        found.append("the template")
    changed = [c.name for c in _parameter_changes(live.parameters, wanted.parameters)]
    if changed:
        found.append(f"parameter(s) {', '.join(changed)}")
    settings = wanted.settings()
    different = sorted(k for k in settings if live.settings.get(k) != settings[k])
    if different:
        found.append(f"setting(s) {', '.join(different)}")
    return found


def _what_changed(wanted: DesiredStackSet, live: LiveStackSet) -> str:
    found = _differences(wanted, live)
    if not found:
        return "AWS holds what the files say, but the state records an older version"
    return " and ".join(found) + " changed"


def _template_diff(body: str, template: Json) -> list[str]:
    """A unified diff of the template AWS holds against the one the files give (as JSON)."""
    parsed = _live_template(body)
    before = (
        json.dumps(parsed, indent=2, ensure_ascii=False).splitlines()
        if parsed is not None
        else body.splitlines()
    )
    after = json.dumps(template, indent=2, ensure_ascii=False).splitlines()
    return list(difflib.unified_diff(before, after, "in AWS", "in the files", lineterm=""))


def _parameter_changes(
    before: Mapping[str, str], after: Mapping[str, str]
) -> list[ParameterChange]:
    return [
        ParameterChange(name=name, before=before.get(name), after=after.get(name))
        for name in sorted({*before, *after})
        if before.get(name) != after.get(name)
    ]


def plan_stack_sets(
    desired: DesiredStackSets,
    live: Mapping[str, LiveStackSet | None],
    state: State,
    *,
    perform_cleanup: bool = False,
) -> StackSetPlanner:
    planner = StackSetPlanner(desired, live, state, perform_cleanup=perform_cleanup)
    planner.plan()
    return planner


def groups(tasks: Mapping[str, StacksTask]) -> dict[str, Group]:
    """How apply runs each StackSet task's changes: none may fail (they are operations on one
    StackSet, each waiting for the last); FailedStackTolerance is AWS's, within an operation."""
    return {
        name: Group(
            max_concurrent=None,
            failure_tolerance=0,
            where=str(task.span) if task.span else task.file,
        )
        for name, task in sorted(tasks.items())
        if is_stack_set(task)
    }


def as_recorded(wanted: DesiredStackSet, record: StackSetRecord | None) -> bool:
    """Whether the state's record says the StackSet is already as wanted: the same content and
    the same instance targets."""
    if record is None or record.hash is None or wanted.content_hash() != record.hash:
        return False
    targets = wanted.instance_targets()
    return (
        sorted(targets.organizational_units) == sorted(record.organizational_units)
        and targets.account_filter == record.account_filter
        and sorted(targets.accounts) == sorted(record.accounts)
        and sorted(targets.regions) == sorted(record.regions)
    )
