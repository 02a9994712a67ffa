"""StackSet mode: an update-stacks task deployed as one service-managed StackSet.

With `DeploymentMode: StackSet` a task is not one stack per (account, region), each deployed
through the account's role, but one StackSet in the management account (PermissionModel
SERVICE_MANAGED, CallAs SELF) whose instances AWS itself fans out to organizational units, with
automatic deployment so that accounts joining those OUs later get the stack too.

That works only when every target would hold the same stack: one template, one set of
parameters. `build_stack_sets` renders nothing itself: it takes the stacks the render stage made
for every (account, region) of the task, checks that they are all the same, and when they are
not, names the construct that makes them differ (E440-E445, at the task). CloudFormation's own
pseudo parameters (`${AWS::AccountId}`, `${AWS::Region}`) stay in the template for CloudFormation
to resolve in each account, so they never make targets differ. `stack_set_targets` turns the
bound accounts into OU targets with an account filter that reaches exactly those accounts.

The StackSet as AWS reports it (`LiveStackSet`) and what a StackSet operation acts on
(`InstanceTargets`, `Preferences`) are the provider's types, in orgc.observed; the reads a plan
makes are in orgc.observe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orgc.bind import BoundTemplate
from orgc.diagnostics import CodeId, Diagnostics, Span
from orgc.expressions import CURRENT_ACCOUNT, describe, sub_variables
from orgc.model import Organization
from orgc.observed import (
    ALL_BUT,
    DEFAULT_MAX_CONCURRENT,
    NO_FILTER,
    ONLY,
    PERMISSION_MODEL,
    InstanceTargets,
    Preferences,
)
from orgc.plan.document import digest
from orgc.plan.specs import ROOT
from orgc.plan.stacks import for_target
from orgc.render import RenderedStack, StackKey, known_after_apply, markers
from orgc.tasks import StacksTask
from orgc.tasks.model import ALLOW_UPDATES_POLICY, UPDATE_PROTECTION_POLICY
from orgc.templates import Binding, Template

STACK_SET_MODE = "StackSet"

_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,127}$")
_INSTEAD = "use DeploymentMode: Stacks, or move the per-account part into its own task"


def is_stack_set(task: StacksTask) -> bool:
    return task.deployment_mode == STACK_SET_MODE


# --- what orgc wants ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetTargets:
    """Where a StackSet's instances go: the accounts of `organizational_units` and of every OU
    nested in them (ROOT: the whole organization; AWS never deploys to the management account),
    narrowed by `account_filter` with `accounts` (DIFFERENCE: all but these, INTERSECTION: only
    these, NONE: no filter), in every one of `regions`. Logical ids; `DesiredStackSet.ids` holds
    their physical ids."""

    organizational_units: tuple[str, ...]
    account_filter: str = NO_FILTER
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredStackSet:
    """One StackSet task as the files ask for it."""

    task: str
    name: str  # the task's StackName
    template: dict[str, Any]  # the one template every target gets (markers where unknown)
    parameters: dict[str, str]
    description: str | None
    tags: dict[str, str]
    targets: StackSetTargets
    accounts: tuple[str, ...]  # the bound accounts (logical ids): where instances belong now
    # Logical id of every OU, account and ROOT named above → physical id, or a
    # known-after-apply marker for one this run creates.
    ids: dict[str, str]
    # Names of the StackSets of the StackSet tasks it DependsOn (not skipped): its automatic
    # deployments wait for theirs.
    depends_on: tuple[str, ...] = ()
    preferences: Preferences = field(default_factory=Preferences)
    force_deploy: bool = False
    where: str = ""  # file:line:col of the task
    span: Span | None = field(default=None, compare=False, repr=False)

    def physical(self, logical_ids: Iterable[str]) -> list[str]:
        return [self.ids[logical_id] for logical_id in logical_ids]

    def instance_targets(self, regions: Iterable[str] | None = None) -> InstanceTargets:
        """The task's targets by physical id, in `regions` (default: all of them)."""
        targets = self.targets
        return InstanceTargets(
            organizational_units=tuple(self.physical(targets.organizational_units)),
            account_filter=targets.account_filter,
            accounts=tuple(self.physical(targets.accounts)),
            regions=tuple(targets.regions if regions is None else regions),
        )

    def settings(self) -> dict[str, Any]:
        """What besides template and parameters a StackSet is created with."""
        return stack_set_settings(
            description=self.description, tags=self.tags, depends_on=self.depends_on
        )

    def content_hash(self) -> str | None:
        """None while a value in the template or parameters is known only after apply."""
        if markers(self.template) or markers(self.parameters):
            return None
        return stack_set_hash(self.template, self.parameters, self.settings())


def stack_set_settings(
    *, description: str | None, tags: Mapping[str, str], depends_on: Iterable[str]
) -> dict[str, Any]:
    """A StackSet's settings in the one shape the files, the plan and AWS's answer share."""
    return {
        "description": description,
        "tags": dict(sorted(tags.items())),
        "permissionModel": PERMISSION_MODEL,
        "autoDeployment": {
            "enabled": True,
            "retainStacksOnAccountRemoval": False,
            "dependsOn": sorted(depends_on),
        },
    }


def stack_set_hash(
    template: Any, parameters: Mapping[str, str], settings: Mapping[str, Any]
) -> str:
    """What decides no-op versus update: everything a StackSet is created with, but where its
    instances go (that is compared instance by instance)."""
    return digest({"template": template, "parameters": parameters, "settings": settings})


# --- from rendered stacks to StackSets ------------------------------------------------------


def build_stack_sets(
    *,
    tasks: Mapping[str, StacksTask],
    templates: Mapping[str, Template],
    bound: Mapping[str, BoundTemplate],
    stacks: Sequence[RenderedStack],
    organization: Organization,
    ids: Mapping[str, Mapping[str, str | None]],
    diagnostics: Diagnostics,
) -> tuple[DesiredStackSet, ...]:
    """One DesiredStackSet per StackSet task that is not skipped and has targets, from the
    stacks the render stage made for it (`stacks` holds every task's); each reason a task cannot
    be a StackSet is reported at the task."""
    by_task: dict[str, list[RenderedStack]] = {}
    for stack in stacks:
        by_task.setdefault(stack.key.task, []).append(stack)
    wanted: list[DesiredStackSet] = []
    for name, task in sorted(tasks.items()):
        if not is_stack_set(task) or task.skip or name not in templates or name not in bound:
            continue
        own = sorted(by_task.get(name, []), key=lambda stack: stack.key)
        check = _Eligibility(task, templates[name], bound[name], organization, diagnostics)
        if not check.all(own, stacks) or not own:
            continue
        desired, lone = _desired(
            task=task,
            template=templates[name],
            bound=bound[name],
            stacks=own,
            tasks=tasks,
            organization=organization,
            ids=ids,
        )
        check.warn_lone(lone)
        wanted.append(desired)
    return tuple(wanted)


def _set_name(task: StacksTask, organization: Organization) -> str:
    """The name of a StackSet task's StackSet: its StackName, the same for every target (E473
    refuses one that is not)."""
    account = organization.management_account.logical_id
    return for_target(task.stack_name, organization, account, "") or describe(task.stack_name)


def _desired(
    *,
    task: StacksTask,
    template: Template,
    bound: BoundTemplate,
    stacks: Sequence[RenderedStack],
    tasks: Mapping[str, StacksTask],
    organization: Organization,
    ids: Mapping[str, Mapping[str, str | None]],
) -> tuple[DesiredStackSet, dict[str, tuple[str, ...]]]:
    """The StackSet of a task whose targets all hold the same stack (the first one's), and the
    OUs it targets only for accounts bound one by one."""
    accounts = {stack.key.account for stack in stacks}
    regions = tuple(sorted({stack.key.region for stack in stacks}))
    targets, lone = stack_set_targets(_bindings(template, bound), accounts, regions, organization)
    first = stacks[0]
    description = first.template.get("Description")
    desired = DesiredStackSet(
        task=task.name,
        name=first.stack_name,
        template=first.template,
        parameters=dict(first.parameters),
        description=description if isinstance(description, str) else None,
        tags={
            name: text
            for name, value in sorted(task.tags.items())
            if (text := for_target(value, organization, first.key.account, first.key.region))
            is not None
        },
        targets=targets,
        accounts=tuple(sorted(accounts)),
        ids=_physical_ids({*targets.organizational_units}, {*accounts, *targets.accounts}, ids),
        depends_on=tuple(
            sorted(
                _set_name(tasks[d], organization)
                for d in task.depends_on
                if d in tasks and is_stack_set(tasks[d]) and not tasks[d].skip
            )
        ),
        preferences=Preferences(
            max_concurrent=task.max_concurrent_stacks or DEFAULT_MAX_CONCURRENT,
            failure_tolerance=task.failed_stack_tolerance,
        ),
        force_deploy=task.force_deploy,
        where=str(task.span) if task.span else task.file,
        span=task.span,
    )
    return desired, lone


def _bindings(template: Template, bound: BoundTemplate) -> list[Binding]:
    """The bindings of the resources that are deployed somewhere."""
    placed = {logical_id for held in bound.targets.values() for logical_id in held}
    found: list[Binding] = []
    for logical_id in sorted(placed):
        resource = template.resources.get(logical_id)
        binding = resource.binding if resource is not None else None
        binding = binding if binding is not None else template.default_binding
        if binding is not None:
            found.append(binding)
    return found


def _physical_ids(
    ous: set[str], accounts: set[str], ids: Mapping[str, Mapping[str, str | None]]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for ou in sorted(ous):
        known = ids.get("organizationalUnits", {}).get(ou)
        found[ou] = known or known_after_apply("organizational-unit", ou)
    for account in sorted(accounts):
        known = ids.get("accounts", {}).get(account)
        found[account] = known or known_after_apply("account", account)
    return found


# --- targets --------------------------------------------------------------------------------


def stack_set_targets(
    bindings: Sequence[Binding],
    accounts: set[str],
    regions: tuple[str, ...],
    organization: Organization,
) -> tuple[StackSetTargets, dict[str, tuple[str, ...]]]:
    """OU targets and an account filter that reach exactly `accounts` (logical ids).

    The OUs a binding names are targeted (ROOT for `Account: '*'`, the top OUs for
    `OrganizationalUnit: '*'`); an account bound one by one outside them brings its parent OU
    in. The filter is NONE when the OUs hold exactly the bound accounts; else DIFFERENCE (the
    accounts to leave out) when a binding names OUs, so that accounts joining them later get the
    stack as the binding says, and INTERSECTION (the bound accounts) when bindings name accounts
    only. Also returns the OUs brought in by accounts bound one by one, with those accounts:
    accounts that join such an OU later get the stack too (automatic deployment works by OU).
    """
    named: set[str] = set()
    for binding in bindings:
        if binding.all_accounts:
            named.add(ROOT)
        if binding.all_organizational_units:
            named.update(
                ou.logical_id
                for ou in organization.organizational_units.values()
                if ou.parent is None
            )
        named.update(
            ou for ou in binding.organizational_units if ou in organization.organizational_units
        )
    reach = _accounts_under(_outermost(named, organization), organization)
    brought: dict[str, list[str]] = {}
    for account in sorted(accounts - reach):
        parent = organization.accounts[account].parent or ROOT
        brought.setdefault(parent, []).append(account)
    targets = _outermost(named | set(brought), organization)
    management = organization.management_account.logical_id
    reach = _accounts_under(targets, organization) - {management}
    filtered: tuple[str, ...] = ()
    if reach == accounts:
        account_filter = NO_FILTER
    elif named:
        account_filter, filtered = ALL_BUT, tuple(sorted(reach - accounts))
    else:
        account_filter, filtered = ONLY, tuple(sorted(accounts))
    lone = {
        target: tuple(
            sorted(
                a
                for ou, names in brought.items()
                if target in _chain(ou, organization)
                for a in names
            )
        )
        for target in sorted(targets - named)
    }
    return (
        StackSetTargets(
            organizational_units=tuple(sorted(targets)),
            account_filter=account_filter,
            accounts=filtered,
            regions=regions,
        ),
        lone,
    )


def _chain(ou: str | None, organization: Organization) -> list[str]:
    """`ou` and every OU above it, ending with ROOT (None: the root)."""
    chain: list[str] = []
    while ou is not None and ou != ROOT and ou not in chain:
        chain.append(ou)
        found = organization.organizational_units.get(ou)
        ou = found.parent if found is not None else None
    return [*chain, ROOT]


def _outermost(ous: set[str], organization: Organization) -> set[str]:
    """`ous` without those nested in another of them."""
    return {ou for ou in ous if not any(a in ous for a in _chain(ou, organization)[1:])}


def _accounts_under(ous: set[str], organization: Organization) -> set[str]:
    return {
        account.logical_id
        for account in organization.accounts.values()
        if any(ou in ous for ou in _chain(account.parent, organization))
    }


# --- eligibility ----------------------------------------------------------------------------


class _Eligibility:
    """Whether one task's targets can be one StackSet; each reason reported at the task."""

    def __init__(
        self,
        task: StacksTask,
        template: Template,
        bound: BoundTemplate,
        organization: Organization,
        diagnostics: Diagnostics,
    ) -> None:
        self.task = task
        self.template = template
        self.bound = bound
        self.organization = organization
        self.diagnostics = diagnostics
        self.failed = False

    def error(self, code: CodeId, reason: str) -> None:
        self.failed = True
        self.diagnostics.add(
            code, f"task {self.task.name} cannot be a StackSet: {reason}", self.task.span
        )

    def all(self, own: Sequence[RenderedStack], stacks: Sequence[RenderedStack]) -> bool:
        """Run every check; True when the task can be a StackSet."""
        self.name(own)
        self.management(own)
        explained = self.references(own, stacks)
        explained = self.resources() or explained
        self.parameters(own)
        self.tags(own)
        if not explained:
            self.template_differs(own)
        self.ignored_settings()
        return not self.failed

    def name(self, own: Sequence[RenderedStack]) -> None:
        names = sorted({stack.stack_name for stack in own})
        if len(names) > 1:
            shown = ", ".join(repr(name) for name in names[:3]) + (", ..." if names[3:] else "")
            self.error(
                "E473",
                f"its StackName gives {len(names)} names across its targets ({shown}), and a "
                "StackSet has one name; give a StackName that is the same for every target "
                "(no ${CurrentAccount...}, ${AWS::AccountId} or ${AWS::Region}), or deploy "
                "with DeploymentMode: Stacks",
            )
            return
        name = names[0] if names else self.task.stack_name
        if not isinstance(name, str) or not _NAME.match(name):
            self.error(
                "E445",
                f"StackName {name!r} is not a StackSet name (a letter, then "
                "letters, digits and hyphens, 128 at most); rename it",
            )

    def management(self, own: Sequence[RenderedStack]) -> None:
        management = self.organization.management_account
        if any(stack.key.account == management.logical_id for stack in own):
            account_id = management.account_id or "its id known after apply"
            self.error(
                "E440",
                f"it deploys to the management account {management.logical_id} "
                f"({account_id}), where a service-managed StackSet cannot deploy; take the "
                "management account out of its binding (IncludeMasterAccount, Account) and "
                "deploy to it from a task with DeploymentMode: Stacks",
            )

    def references(self, own: Sequence[RenderedStack], stacks: Sequence[RenderedStack]) -> bool:
        """Values taken from other stacks, or by other stacks from this task's (E441)."""
        for stack in own:
            for reference in stack.references:
                if reference.producer is not None:
                    source = f"stack {reference.producer}"
                else:
                    source = f"the export {reference.export}"
                where = _at(reference.span) if reference.span != self.task.span else ""
                self.error(
                    "E441",
                    f"{reference.expression}{where} in {_target(stack.key)} takes a value from "
                    f"{source}, but a StackSet gives every account the same template and "
                    "parameters; use DeploymentMode: Stacks, or move the part that takes it into "
                    "its own task",
                )
                return True
        for stack in stacks:
            if stack.key.task == self.task.name:
                continue
            for reference in stack.references:
                if reference.producer is not None and reference.producer.task == self.task.name:
                    self.error(
                        "E441",
                        f"{reference.expression}{_at(reference.span)} in task {stack.key.task} "
                        f"reads a value from its stack {reference.producer}, but orgc cannot read "
                        "the outputs of StackSet instances; use DeploymentMode: Stacks, or move "
                        f"what task {stack.key.task} reads into its own task",
                    )
                    return True
        return False

    def resources(self) -> bool:
        """Resources bound to different targets, so targets would hold different templates."""
        targets = set(self.bound.targets)
        holders: dict[str, set[tuple[str, str]]] = {}
        for target, logical_ids in self.bound.targets.items():
            for logical_id in logical_ids:
                holders.setdefault(logical_id, set()).add(target)
        partial = sorted(lid for lid, held in holders.items() if held != targets)
        if not partial:
            return False
        logical_id = partial[0]
        resource = self.template.resources.get(logical_id)
        where = _at(resource.span if resource is not None else None)
        self.error(
            "E442",
            f"resource {logical_id}{where} goes to {len(holders[logical_id])} of the task's "
            f"{len(targets)} targets, so its targets would need different templates, and a "
            "StackSet deploys one template to every target; give every resource of the template "
            f"the same binding, or move {logical_id} into its own task (or use DeploymentMode: "
            "Stacks)",
        )
        return True

    def parameters(self, own: Sequence[RenderedStack]) -> None:
        if not own:
            return
        first = own[0]
        names = sorted({name for stack in own for name in stack.parameters})
        for name in names:
            for stack in own[1:]:
                if stack.parameters.get(name) != first.parameters.get(name):
                    self.error(
                        "E443",
                        f"parameter {name} is {_shown(first.parameters.get(name))} in "
                        f"{_target(first.key)} but {_shown(stack.parameters.get(name))} in "
                        f"{_target(stack.key)}, and a StackSet gives every account the same "
                        "parameters; give it one value for all (in the template, "
                        "CloudFormation resolves ${AWS::AccountId} and ${AWS::Region} in each "
                        f"account), {_INSTEAD}",
                    )
                    return

    def tags(self, own: Sequence[RenderedStack]) -> None:
        """A StackSet has one set of tags: a tag the task evaluates per target must give every
        target the same text."""
        if not own:
            return
        first = own[0]
        for name, value in sorted(self.task.tags.items()):
            if isinstance(value, str):
                continue
            wanted = for_target(value, self.organization, first.key.account, first.key.region)
            for stack in own[1:]:
                text = for_target(value, self.organization, stack.key.account, stack.key.region)
                if text != wanted:
                    self.error(
                        "E477",
                        f"tag {name} ({describe(value)}) is {_shown(wanted)} in "
                        f"{_target(first.key)} but {_shown(text)} in {_target(stack.key)}, and "
                        "a StackSet has one set of tags for every account; give the tag one "
                        f"value for all, {_INSTEAD}",
                    )
                    return

    def template_differs(self, own: Sequence[RenderedStack]) -> None:
        if not own:
            return
        first = own[0]
        for stack in own[1:]:
            path = _first_difference(first.template, stack.template, ())
            if path is None:
                continue
            source_path, written = _source(self.template, path)
            expression = _per_account_expression(written)
            uses = f", which uses {expression}" if expression else ""
            where = _at(self.template.file.span(source_path))
            description = self.task.stack_description
            if path == ("Description",) and not isinstance(description, (str, type(None))):
                # The task's StackDescription, evaluated per target, not the template's.
                where, uses = (
                    "",
                    f", which the task's StackDescription ({describe(description)}) gives",
                )
            self.error(
                "E444",
                f"its template differs between {_target(first.key)} and {_target(stack.key)} "
                f"at {_dotted(path)}{where}{uses}, and a "
                "StackSet deploys one template to every account; write a value every account "
                "shares (CloudFormation resolves ${AWS::AccountId} and ${AWS::Region} in each "
                f"account), {_INSTEAD}",
            )
            return

    def ignored_settings(self) -> None:
        """Settings of stacks a StackSet has no place for. (TaskRoleName, often inherited from
        an include, is not among them: orgc simply does not reach into accounts then.)"""
        task = self.task
        resources = self.template.resources.values()
        ignored = [
            name
            for name, given in (
                ("TerminationProtection", task.termination_protection),
                ("UpdateProtection", task.update_protection),
                (
                    "StackPolicy",
                    task.stack_policy not in (None, UPDATE_PROTECTION_POLICY, ALLOW_UPDATES_POLICY),
                ),
                ("CloudFormationRoleName", task.cloudformation_role_name is not None),
                ("DisableStackRollbacks", task.disable_stack_rollbacks),
                ("DependsOnAccount", any(r.depends_on_accounts for r in resources)),
                ("DependsOnRegion", any(r.depends_on_regions for r in resources)),
            )
            if given
        ]
        if ignored:
            self.diagnostics.add(
                "W440",
                f"task {task.name} is a StackSet, which has no {_either(ignored)}; orgc ignores "
                f"{'it' if len(ignored) == 1 else 'them'}: remove "
                f"{'it' if len(ignored) == 1 else 'them'}, or use DeploymentMode: Stacks",
                task.span,
            )

    def warn_lone(self, lone: Mapping[str, tuple[str, ...]]) -> None:
        if not lone:
            return
        reached = [
            f"{'the root' if ou == ROOT else f'OU {ou}'} for {', '.join(accounts)}"
            for ou, accounts in lone.items()
        ]
        self.diagnostics.add(
            "W441",
            f"task {self.task.name}: its StackSet reaches accounts bound one by one through "
            f"their OU ({'; '.join(reached)}), so accounts that join "
            f"{'that OU' if len(lone) == 1 else 'those OUs'} later get the stack too (automatic "
            "deployment works by OU); bind the OU instead, or use DeploymentMode: Stacks to "
            "deploy to these accounts alone",
            self.task.span,
        )


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _at(span: Span | None) -> str:
    return f" ({span})" if span is not None else ""


def _target(key: StackKey) -> str:
    return f"{key.account} {key.region}"


def _shown(value: str | None) -> str:
    if value is None:
        return "not given"
    return "(known after apply)" if markers(value) else repr(value)


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def _first_difference(a: Any, b: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The path of the first place where two JSON-able values differ, or None."""
    if type(a) is not type(b):
        return path
    if isinstance(a, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                return (*path, key)
            found = _first_difference(a[key], b[key], (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(a, list):
        for index, (x, y) in enumerate(zip(a, b, strict=False)):  # lengths: below
            found = _first_difference(x, y, (*path, index))
            if found is not None:
                return found
        return path if len(a) != len(b) else None
    return None if a == b else path


def _source(template: Template, path: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], Any]:
    """The deepest part of the template as written that a rendered path leads to, with its
    data path (a ForeachAccount copy leads to the resource it copies)."""
    if len(path) >= 2 and path[0] == "Resources" and isinstance(path[1], str):
        logical_id = _copied(template, path[1])
        if logical_id is None:
            return ("Resources",), template.sections.get("Resources")
        node: Any = template.resources[logical_id].body
        found: tuple[str | int, ...] = ("Resources", logical_id)
        rest = path[2:]
    else:
        node, found, rest = (
            template.sections.get(str(path[0])) if path else None,
            path[:1],
            path[1:],
        )
    for key in rest:
        inside = key in node if isinstance(node, dict) else _has_index(node, key)
        if not inside:
            break
        node = node[key]
        found = (*found, key)
    return found, node


def _has_index(node: Any, key: str | int) -> bool:
    return isinstance(node, list) and isinstance(key, int) and key < len(node)


def _copied(template: Template, rendered_id: str) -> str | None:
    if rendered_id in template.resources:
        return rendered_id
    candidates = [lid for lid in template.resources if rendered_id.startswith(lid)]
    return max(candidates, key=len) if candidates else None


def _per_account_expression(value: Any) -> str | None:
    """The first expression in `value` (as written) that names CurrentAccount."""
    if isinstance(value, list):
        for item in value:
            found = _per_account_expression(item)
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return None
    if len(value) == 1:
        name, argument = next(iter(value.items()))
        if set(_names(name, argument)) & set(CURRENT_ACCOUNT):
            return describe(value)
    for item in value.values():
        found = _per_account_expression(item)
        if found is not None:
            return found
    return None


def _names(function: str, argument: Any) -> list[str]:
    if function == "Ref" and isinstance(argument, str):
        return [argument.partition(".")[0]]
    if function == "Fn::GetAtt":
        head = argument if isinstance(argument, str) else argument[0] if argument else None
        return [head.partition(".")[0]] if isinstance(head, str) else []
    if function == "Fn::Sub":
        text = argument[0] if isinstance(argument, list) and argument else argument
        if isinstance(text, str):
            return [name.partition(".")[0] for name in sub_variables(text)]
    return []
