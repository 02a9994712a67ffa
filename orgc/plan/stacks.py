"""Planning the landing zone: one decision per stack target, from content hashes and live stacks.

Every rendered target (task, account, region) is compared with what the state says orgc last
deployed there (a content hash of template, parameters and settings) and with what AWS reports
now (the stack exists, its id and last change are the ones orgc recorded, its status allows an
update). Targets that left their task's bindings are deleted; stacks of tasks that left the
files are orphans, deleted only when cleanup is asked for.

Values that cross stacks are resolved here when they are known (the producer does not change
and its output is recorded) and are otherwise "known after apply"; either way the plan says
where each comes from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError
from typing import Literal, cast

from orgc.diagnostics import Diagnostic
from orgc.expressions import TargetText, target_text
from orgc.graph import StackOrder
from orgc.model import DEFAULT_ACCESS_ROLE, Organization
from orgc.observed import LiveStack
from orgc.plan.codec import stack_settings_json
from orgc.plan.document import Change, digest
from orgc.plan.specs import (
    Action,
    ChangeKind,
    Group,
    Json,
    Orphan,
    StackAddress,
    StackDeploy,
    StackReference,
    StackRemoval,
    StackSettings,
    TemplateChanges,
)
from orgc.plan.template_diff import parse_template, template_changes
from orgc.provider import chained_role
from orgc.render import RenderedStack, StackKey, known_after_apply, markers
from orgc.state import StackRecord, State
from orgc.tasks import StacksTask

# What a stack change's summary says of the id of an account this plan creates.
UNKNOWN_ACCOUNT_ID = "known after apply"
# Statuses of a stack that failed to create and holds nothing: safe to delete and create again.
_FAILED_CREATE = frozenset({"ROLLBACK_COMPLETE"})
# Statuses an update can start from.
_UPDATABLE = frozenset(
    {
        "CREATE_COMPLETE",
        "UPDATE_COMPLETE",
        "UPDATE_ROLLBACK_COMPLETE",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)


# The task name `orgc update-stacks TEMPLATE --stack-name NAME` records its stacks under is this
# prefix and NAME (orgc.stack_commands).
STACK_COMMAND_TASK = "update-stacks:"


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredStacks:
    stacks: tuple[RenderedStack, ...]
    order: StackOrder
    tasks: dict[str, StacksTask]  # every update-stacks task by name, skipped ones included
    organization_group: str  # the group name of the organization's changes
    # Skipped includes whose file was not read: what their tasks deployed is kept.
    skipped_includes: tuple[str, ...] = ()
    # Whether the stacks `orgc update-stacks` deployed (tasks named STACK_COMMAND_TASK + their
    # stack name) are this plan's: only for the stack commands, which see their own stacks
    # alone. A task file's plan leaves them be, as OrgFormation's cleanup leaves the stacks of
    # its update-stacks command: no task file names them.
    command_stacks: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStacks:
    # (account id, region) → stack name → stack, for every pair that was read
    stacks: dict[tuple[str, str], dict[str, LiveStack]]
    # (account id, region, export name) → value, for the exports references read from outside
    exports: dict[tuple[str, str, str], str]


# The fewest stacks of one task a binding change must delete for the mass-delete guard (E611)
# to look at the share at all.
MASS_DELETE_FLOOR = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteGuard:
    """How many of a task's stacks a change of its bindings may delete: more than
    `max_percent` of them, when that is at least `floor` stacks, is refused unless
    `allow_mass_delete`. Below the floor (a task of a few stacks dropping an account or a
    region, as OrgFormation does without asking) the deletes are still named on the plan's
    DELETES line and in its destructive summary."""

    max_percent: float = 50.0
    allow_mass_delete: bool = False
    floor: int = MASS_DELETE_FLOOR


def stack_hash(template: Json, parameters: Mapping[str, str], settings: StackSettings) -> str:
    """What decides no-op versus update: the content of everything a stack is deployed with."""
    return digest(
        {"template": template, "parameters": parameters, "settings": stack_settings_json(settings)}
    )


class StacksPlanner:
    def __init__(
        self,
        desired: DesiredStacks,
        live: LiveStacks,
        state: State,
        organization: Organization,
        account_ids: Mapping[str, str | None],
        *,
        perform_cleanup: bool = False,
        previous_templates: Mapping[tuple[str, str, str], str | None] | None = None,
        delete_guard: DeleteGuard | None = None,
    ) -> None:
        self.desired = desired
        self.delete_guard = delete_guard or DeleteGuard()
        # Record key → the template body the stack was deployed with, for the stacks whose
        # template was read (those a first pass found updated); None: the stack is gone.
        self.previous_templates = previous_templates or {}
        self.live = live
        self.state = state
        self.organization = organization
        self.account_ids = account_ids
        self.perform_cleanup = perform_cleanup
        self.records = state.stack_records()
        self.changes: list[Change] = []
        self.change_of: dict[StackKey, str] = {}  # targets that change → their change id
        self.unchanged: list[str] = []
        self.orphans: list[Orphan] = []
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        # What every target of a task shares (see `shared`), and the physical account id of
        # each account id render gave (None for a known-after-apply marker).
        self._shared: dict[str, _TaskShared] = {}
        self._account_ids: dict[str, str | None] = {}
        # Every rendered target's address, made once: the plan, its references and apply use it.
        self.addresses = {
            stack.key: self.address(stack, self.desired.tasks[stack.key.task])
            for stack in desired.stacks
        }

    # --- targets --------------------------------------------------------------------------

    def plan(self) -> None:
        stacks = {s.key: s for s in self.desired.stacks}
        # Producers first, so a consumer knows whether the values it takes will change.
        for key in deploy_order(stacks, self.desired.order.after):
            stack = stacks[key]
            if self.desired.tasks[key.task].skip:
                continue
            self.plan_target(stack)
        self.plan_removed()

    def address(self, stack: RenderedStack, task: StacksTask) -> StackAddress:
        """The target's address, with the account id render resolved (None: a new account)."""
        rendered = stack.account_id
        if rendered in self._account_ids:
            account_id = self._account_ids[rendered]
        else:
            account_id = self._account_ids[rendered] = None if markers(rendered) else rendered
        return StackAddress(
            task=task.name,
            account=stack.key.account,
            account_id=account_id,
            region=stack.key.region,
            stack_name=stack.stack_name,
            role_name=self.role_name(task, stack.key.account, stack.key.region),
        )

    def shared(self, task: StacksTask) -> _TaskShared:
        """What the changes of every target of `task` have in common, worked out once."""
        found = self._shared.get(task.name)
        if found is None:
            after = {f"task:{self.desired.organization_group}"}
            after.update(f"task:{t}" for t in self.desired.order.after_tasks.get(task.name, ()))
            found = self._shared[task.name] = _TaskShared(
                where=f"{task.span}" if task.span else task.file,
                after=frozenset(after),
                sorted_after=tuple(sorted(after)),
                # The settings name no account unless a CloudFormation role is assumed.
                settings=_shared_settings(task),
            )
        return found

    def role_name(self, task: StacksTask | None, account: str | None, region: str = "") -> str:
        return access_role(task, self.organization, account, region)

    def plan_target(self, stack: RenderedStack) -> None:
        task = self.desired.tasks[stack.key.task]
        shared = self.shared(task)
        address = self.addresses[stack.key]
        account_id = address.account_id
        references, parameters = self.resolve_references(stack, account_id)
        settings = shared.settings or _settings(
            task, account_id, self.organization, stack.key, self.account_ids
        )
        complete = bool(account_id) and not markers(stack.template) and not markers(parameters)
        content_hash = stack_hash(stack.template, parameters, settings) if complete else None
        key = address.record_key
        record = self.records.get(key) if key else None
        live = (
            self.live.stacks.get((account_id, stack.key.region), {}).get(stack.stack_name)
            if account_id
            else None
        )
        decided, reason = self.decide(
            task,
            stack=stack,
            parameters=parameters,
            content_hash=content_hash,
            record=record,
            live=live,
        )
        if decided == "blocked":
            return
        if decided is None:
            self.unchanged.append(str(stack.key))
            return
        action = decided
        name = str(stack.key)
        change_id = f"stack.{action.value}:{name}"
        self.change_of[stack.key] = change_id
        after = shared.sorted_after
        producers = [
            self.change_of[k]
            for k in self.desired.order.after.get(stack.key, ())
            if k in self.change_of
        ]
        if producers:
            after = tuple(sorted(shared.after.union(producers)))
        self.changes.append(
            Change(
                id=change_id,
                kind=ChangeKind.STACK,
                action=action,
                logical_id=name,
                physical_id=live.stack_id if live else None,
                summary=f"{action.value} stack {stack.stack_name} in "
                f"{stack.key.account} ({account_id or UNKNOWN_ACCOUNT_ID}) "
                f"{stack.key.region}" + (f": {reason}" if reason else ""),
                spec=StackDeploy(
                    address=address,
                    where=shared.where,
                    template=stack.template,
                    parameters=parameters,
                    references=references,
                    settings=settings,
                    hash=content_hash,
                    previous_hash=record.hash if record else None,
                    previous_parameters=record.parameters
                    if record and action == Action.UPDATE
                    else None,
                    force_deploy=task.force_deploy,
                    template_changes=self.template_changes(stack, record)
                    if action is Action.UPDATE
                    else None,
                ),
                after=after,
                group=task.name,
            )
        )

    def decide(
        self,
        task: StacksTask,
        *,
        stack: RenderedStack,
        parameters: Mapping[str, str],
        content_hash: str | None,
        record: StackRecord | None,
        live: LiveStack | None,
    ) -> tuple[Action | Literal["blocked"] | None, str]:
        """(action, why): None for no change, "blocked" for a stack orgc must leave alone."""
        if live is None:
            if record is not None:
                return Action.CREATE, "the stack was deleted outside orgc; it is created again"
            return Action.CREATE, ""
        if live.status in _FAILED_CREATE:
            return Action.REPLACE, (
                f"the stack is {live.status} (its creation failed and it holds no resources); "
                "it is deleted and created again"
            )
        if live.status not in _UPDATABLE:
            self.warnings.append(
                Diagnostic(
                    "W610",
                    f"stack {stack.stack_name} in {stack.key.account} {stack.key.region} is "
                    f"{live.status}"
                    + (f" ({live.status_reason})" if live.status_reason else "")
                    + "; orgc leaves it as it is: finish or repair it in CloudFormation (for "
                    "UPDATE_ROLLBACK_FAILED, continue the rollback), then plan again",
                    task.span,
                )
            )
            return "blocked", ""
        if record is None:
            return Action.UPDATE, "the stack exists but orgc has no record of it; it is taken over"
        reasons: list[str] = []
        if record.stack_id is None and record.hash is None:
            # a record `orgc state import` made: the stack is OrgFormation's until this update
            reasons.append("imported from OrgFormation's state, not deployed by orgc yet")
        elif record.stack_id != live.stack_id:
            reasons.append("the stack was replaced outside orgc")
        elif record.last_changed != live.last_changed:
            reasons.append("the stack was changed outside orgc since the last apply")
        if content_hash is not None and content_hash == record.hash:
            if not reasons:
                return (Action.UPDATE, "ForceDeploy is set") if task.force_deploy else (None, "")
            # As orgc last deployed it, changed by hand since: only what AWS holds differs.
            if self.template_differs(stack, record):
                reasons.append("template changed")
            return Action.UPDATE, ", ".join(reasons)
        reasons.extend(self.why_updated(stack, parameters, content_hash, record))
        return Action.UPDATE, ", ".join(reasons)

    def template_differs(self, stack: RenderedStack, record: StackRecord) -> bool | None:
        """Whether the deployed template differs from the files' (None: it was not read)."""
        body = self.previous_templates.get(record.key)
        if body is None:
            return None
        return parse_template(body) != stack.template

    def why_updated(
        self,
        stack: RenderedStack,
        parameters: Mapping[str, str],
        content_hash: str | None,
        record: StackRecord,
    ) -> list[str]:
        """What of template, parameters and values from other stacks changes, each said only
        when it is true; the template is known to change only when the deployed one was read."""
        reasons: list[str] = []
        differs = self.template_differs(stack, record)
        template_read = differs is not None
        if differs:
            reasons.append("template changed")
        changed = sorted(
            name
            for name in {*parameters, *record.parameters}
            if not markers(parameters.get(name, ""))
            and parameters.get(name) != record.parameters.get(name)
        )
        if changed:
            reasons.append("parameters " + ", ".join(changed) + " changed")
        producers = sorted(
            {
                str(r.producer)
                for r in stack.references
                if r.producer is not None and r.producer in self.change_of
            }
        )
        if producers:
            reasons.append(
                "a value from another stack may change (" + ", ".join(producers) + " changes)"
            )
        if any(markers(v) for v in parameters.values()) and not producers:
            reasons.append("values known only after apply may change it")
        if reasons:
            return reasons
        if content_hash is None:
            return ["values known only after apply may change it"]
        if template_read:
            return ["the stack settings changed"]
        return ["the template or the stack settings changed"]

    def template_changes(
        self, stack: RenderedStack, record: StackRecord | None
    ) -> TemplateChanges | None:
        body = self.previous_templates.get(record.key) if record else None
        deployed = parse_template(body) if body is not None else None
        return template_changes(deployed, stack.template) if deployed is not None else None

    def resolve_references(
        self, stack: RenderedStack, account_id: str | None
    ) -> tuple[tuple[StackReference, ...], dict[str, str]]:
        """Each reference as the plan shows it, and the parameters with the values known now.

        A value not known yet is the marker ("reference", parameter): apply reads it from the
        producer's outputs (recorded by its change in the same run, or read from the stack) or
        from the export.
        """
        parameters = dict(stack.parameters)
        shown: list[StackReference] = []
        for reference in stack.references:
            unknown = known_after_apply("reference", reference.parameter)
            value: str = unknown
            producer_address: StackAddress | None = None
            producer_change: str | None = None
            if reference.producer is not None:
                producer = reference.producer
                source = f"output {reference.output} of stack {producer}"
                producer_change = self.change_of.get(producer)
                producer_address = self.producer_stack(producer)
                if producer_change is None:
                    value = self.recorded_output(producer, reference.output or "") or unknown
            else:
                export_account = reference.account_id or account_id
                region = reference.region or stack.key.region
                source = f"export {reference.export} in {export_account or '?'} {region}"
                if export_account and not markers(export_account):
                    found = self.live.exports.get((export_account, region, reference.export or ""))
                    if found is None:
                        self.errors.append(
                            Diagnostic(
                                "E610",
                                f"{reference.expression}: no export {reference.export} in "
                                f"account {export_account} region {region}",
                                reference.span or stack.span,
                            )
                        )
                    value = found or unknown
            holder = _holder(parameters, unknown)
            if holder is not None:  # a !CopyValue inside a task parameter's text
                if value != unknown:
                    parameters[holder] = parameters[holder].replace(unknown, value)
            else:
                parameters[reference.parameter] = value
            shown.append(
                StackReference(
                    parameter=reference.parameter,
                    expression=reference.expression,
                    source=source,
                    known=value != unknown,
                    producer=producer_address,
                    producer_change=producer_change,
                    output=reference.output,
                    export=reference.export,
                    export_account_id=reference.account_id,
                    export_region=reference.region,
                )
            )
        return tuple(shown), dict(sorted(parameters.items()))

    def producer_stack(self, producer: StackKey) -> StackAddress:
        found = self.addresses.get(producer)
        if found is not None:
            return found
        # A producer render did not place (its task is skipped): addressed from the id table.
        task = self.desired.tasks[producer.task]
        return StackAddress(
            task=producer.task,
            account=producer.account,
            account_id=self.account_ids.get(producer.account) or None,
            region=producer.region,
            stack_name=for_target(
                task.stack_name, self.organization, producer.account, producer.region
            )
            or "",
            role_name=self.role_name(task, producer.account, producer.region),
        )

    def recorded_output(self, producer: StackKey, output: str) -> str | None:
        if producer.task not in self.desired.tasks:
            return None
        key = self.producer_stack(producer).record_key
        record = self.records.get(key) if key else None
        return record.outputs.get(output) if record else None

    # --- removed targets ------------------------------------------------------------------

    def plan_removed(self) -> None:
        wanted = {a.record_key for a in self.addresses.values() if a.record_key}
        # (task, account id, region) → the name its stack has now: a StackName finished per
        # target that changed since the stack was made names a new stack, and the old one goes.
        renamed = {
            (a.task, a.account_id, a.region): a.stack_name
            for a in self.addresses.values()
            if a.account_id
        }
        left_bindings: dict[str, int] = {}  # task → its stacks deleted by a binding change
        for key, record in sorted(self.records.items()):
            if key in wanted:
                continue
            task = self.desired.tasks.get(record.task)
            if task is not None and task.skip:
                continue
            if task is None and record.task.startswith(
                tuple(f"{name}-" for name in self.desired.skipped_includes)
            ):
                continue
            if (
                task is None
                and not self.desired.command_stacks
                and record.task.startswith(STACK_COMMAND_TASK)
            ):
                continue
            if task is None and not self.perform_cleanup:
                self.warnings.append(
                    Diagnostic(
                        "W611",
                        f"stack {record.stack_name} in account {record.account_id} "
                        f"{record.region} belongs to task {record.task}, which is no longer in "
                        "the task files; orgc leaves it (apply with --perform-cleanup deletes it)",
                    )
                )
                self.orphans.append(
                    Orphan(
                        task=record.task,
                        stack_name=record.stack_name,
                        account_id=record.account_id,
                        region=record.region,
                    )
                )
                continue
            live = self.live.stacks.get((record.account_id, record.region))
            gone = live is not None and record.stack_name not in live
            new_name = renamed.get((record.task, record.account_id, record.region))
            if task is None and self.desired.command_stacks:
                reason = "orgc delete-stacks asked for it"
            elif task is None:
                reason = "its task is no longer in the task files (cleanup asked for)"
            elif new_name is not None:
                reason = (
                    f"the task's StackName now names it {new_name}, which is created instead "
                    "(a stack cannot be renamed)"
                )
            else:
                reason = "the target left the task's bindings"
            address = StackAddress(
                task=record.task,
                account=record.account,
                account_id=record.account_id,
                region=record.region,
                stack_name=record.stack_name,
                role_name=self.role_name(task, record.account, record.region),
            )
            action = Action.FORGET if gone else Action.DELETE
            if action is Action.DELETE and record.termination_protection:
                # CloudFormation refuses to delete it (and OrgFormation's cleanup fails on it).
                self.warnings.append(
                    Diagnostic(
                        "W640",
                        f"stack {record.stack_name} in account {record.account_id} "
                        f"{record.region} is left, not deleted: {reason}, but its task deployed "
                        "it with TerminationProtection: true and CloudFormation refuses to delete "
                        "a protected stack. To delete it, apply its task once with "
                        "TerminationProtection: false (putting the task back if it was removed), "
                        "then remove it again",
                    )
                )
                continue
            if task is not None and action is Action.DELETE and new_name is None:
                left_bindings[task.name] = left_bindings.get(task.name, 0) + 1
            self.changes.append(
                Change(
                    id=f"stack.{action}:{record.stack_name}/{record.account_id}/{record.region}",
                    kind=ChangeKind.STACK,
                    action=action,
                    logical_id=str(address),
                    physical_id=record.stack_id,
                    summary=f"{action} stack {record.stack_name} in "
                    f"{record.account or record.account_id} ({record.account_id}) "
                    f"{record.region}: "
                    + (reason if not gone else "it was already deleted outside orgc"),
                    spec=StackRemoval(address=address),
                    after=(f"task:{self.desired.organization_group}",),
                    group=record.task,
                )
            )
        self.guard_deletes(left_bindings)

    def guard_deletes(self, left_bindings: Mapping[str, int]) -> None:
        """Refuse a binding change that deletes most of a task's stacks (E611): a mistyped
        region or account looks exactly like that, and a delete cannot be undone."""
        guard = self.delete_guard
        if guard.allow_mass_delete:
            return
        recorded: dict[str, int] = {}
        for record in self.records.values():
            recorded[record.task] = recorded.get(record.task, 0) + 1
        for name, deleted in sorted(left_bindings.items()):
            total = recorded[name]
            if deleted < guard.floor or deleted * 100 <= guard.max_percent * total:
                continue
            task = self.desired.tasks[name]
            self.errors.append(
                Diagnostic(
                    "E611",
                    f"task {name}: this plan deletes {deleted} of its {total} stacks "
                    f"({deleted * 100 // total} %) because they left its bindings, more than "
                    f"--max-delete-percent {guard.max_percent:g} allows; check the binding "
                    "(a mistyped region or account moves every stack), or plan again with "
                    "--allow-mass-delete",
                    task.span,
                )
            )


def deploy_order(
    keys: Iterable[StackKey], after: Mapping[StackKey, Sequence[StackKey]]
) -> list[StackKey]:
    """`keys` with every stack after the stacks it follows: the order of
    graphlib.TopologicalSorter({k: after.get(k, ()) for k in keys}).static_order(), wave by
    wave (the stacks that wait for nothing in the order first met, then those that only waited
    for the first wave, ...), without graphlib's object per stack. CycleError on a cycle, which
    the graph stage reports first (E501)."""
    waiting: dict[StackKey, int] = {}  # every stack, as first met → how many it still waits for
    followers: dict[StackKey, list[StackKey]] = {}
    for key in keys:
        firsts = after.get(key, ())
        waiting[key] = waiting.get(key, 0) + len(firsts)
        for first in firsts:
            if first not in waiting:
                waiting[first] = 0
            followers.setdefault(first, []).append(key)
    wave = [key for key, count in waiting.items() if count == 0]
    order: list[StackKey] = []
    while wave:
        order.extend(wave)
        ready = []
        for key in wave:
            for follower in followers.get(key, ()):
                waiting[follower] -= 1
                if waiting[follower] == 0:
                    ready.append(follower)
        wave = ready
    if len(order) != len(waiting):
        raise CycleError("stacks wait for each other in a cycle")
    return order


@dataclass(frozen=True, slots=True)
class _TaskShared:
    where: str  # the task, as its stack changes name it
    after: frozenset[str]  # the groups its stack changes wait for
    sorted_after: tuple[str, ...]  # the same, as a change lists them
    settings: StackSettings | None  # None: they name the target's account (a CloudFormation role)


def _holder(parameters: Mapping[str, str], marker: str) -> str | None:
    """The parameter whose text holds `marker` along with other text, if any."""
    for name, text in parameters.items():
        if marker in text:
            return name
    return None


def for_target(
    value: TargetText | None,
    organization: Organization,
    account: str | None,
    region: str,
    account_ids: Mapping[str, str | None] | None = None,
) -> str | None:
    """A task's text attribute for one target (render has reported what is wrong with it). An
    account this run creates is named by its known-after-apply marker, which apply fills."""
    if value is None or isinstance(value, str):
        return value
    if account is None or account not in organization.accounts:
        return None

    def ids(table: str, logical_id: str) -> str | None:
        if table != "accounts" or logical_id not in organization.accounts:
            return None
        known = (account_ids or {}).get(logical_id) or organization.accounts[logical_id].account_id
        return known or known_after_apply("account", logical_id)

    return target_text(value, organization=organization, account=account, region=region, ids=ids)[0]


def access_role(
    task: StacksTask | None, organization: Organization, account: str | None, region: str = ""
) -> str:
    """The role orgc assumes to deploy a task's stack in an account (by logical id): the task's
    TaskRoleName (finished for the target), else the account's access role; reached through
    the task's TaskViaRoleArn (assumed first, finished for the target too) when it has one."""
    via = (
        for_target(task.task_via_role_arn, organization, account, region)
        if task is not None
        else None
    )
    if task is not None and task.task_role_name:
        role = for_target(task.task_role_name, organization, account, region)
        if role:
            return chained_role(via, role)
    found = organization.accounts.get(account or "")
    return chained_role(via, found.access_role_name if found else DEFAULT_ACCESS_ROLE)


def _shared_settings(task: StacksTask) -> StackSettings | None:
    """The settings every target of `task` has, when none of them names its target (no
    CloudFormation role, no tag evaluated per target); None otherwise."""
    if task.cloudformation_role_name or not all(isinstance(v, str) for v in task.tags.values()):
        return None
    return _stack_settings(task, cast("dict[str, str]", task.tags), None)


def _settings(
    task: StacksTask,
    account_id: str | None,
    organization: Organization,
    key: StackKey,
    account_ids: Mapping[str, str | None],
) -> StackSettings:
    """The stack's settings for its target; `account_id` None: the account (`key.account`) is
    created by this plan, and its id is filled in at apply."""
    role_arn = None
    role_name = for_target(
        task.cloudformation_role_name, organization, key.account, key.region, account_ids
    )
    if role_name:
        role_arn = (
            f"arn:aws:iam::{account_id or known_after_apply('account', key.account)}:role/"
            f"{role_name}"
        )
    tags = {
        name: text
        for name, value in task.tags.items()
        if (text := for_target(value, organization, key.account, key.region, account_ids))
        is not None
    }
    return _stack_settings(task, tags, role_arn)


def _stack_settings(
    task: StacksTask, tags: Mapping[str, str], role_arn: str | None
) -> StackSettings:
    return StackSettings(
        tags=dict(sorted(tags.items())),
        termination_protection=task.termination_protection,
        stack_policy=task.stack_policy,
        role_arn=role_arn,
        disable_rollback=task.disable_stack_rollbacks,
    )


def plan_stacks(
    desired: DesiredStacks,
    live: LiveStacks,
    state: State,
    organization: Organization,
    account_ids: Mapping[str, str | None],
    *,
    perform_cleanup: bool = False,
    previous_templates: Mapping[tuple[str, str, str], str | None] | None = None,
    delete_guard: DeleteGuard | None = None,
) -> StacksPlanner:
    """Plan every target; `previous_templates` are the deployed templates of the stacks a first
    pass (without them) found updated, read so that the plan says how each template changes."""
    planner = StacksPlanner(
        desired,
        live,
        state,
        organization,
        account_ids,
        perform_cleanup=perform_cleanup,
        previous_templates=previous_templates,
        delete_guard=delete_guard,
    )
    planner.plan()
    return planner


def updated_stacks(changes: Sequence[Change]) -> list[StackAddress]:
    """The stacks an update of `changes` deploys over a stack orgc recorded: those whose
    deployed template the plan reads to show its diff."""
    return [
        change.spec.address
        for change in changes
        if isinstance(change.spec, StackDeploy)
        and change.action is Action.UPDATE
        and change.spec.previous_hash is not None
    ]


def groups(tasks: Sequence[StacksTask]) -> dict[str, Group]:
    return {
        task.name: Group(
            max_concurrent=task.max_concurrent_stacks,
            failure_tolerance=task.failed_stack_tolerance,
            where=str(task.span) if task.span else task.file,
        )
        for task in sorted(tasks, key=lambda t: t.name)
    }
