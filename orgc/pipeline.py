"""The driver: runs the stages in order and stops at the first stage that reports an error.

It holds no logic of its own beyond the order of stages and what each needs from the last.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from orgc.apply import ApplyResult, Listener, apply
from orgc.bind import BoundTemplate, bind_template, resolve_binding
from orgc.diagnostics import Diagnostic, Diagnostics, StageError
from orgc.graph import StackOrder, order_stacks
from orgc.load import (
    LoadedFile,
    LoadOptions,
    display_path,
    load_organization,
    project_root,
    read_object_body,
)
from orgc.model import DEFAULT_ACCESS_ROLE, Organization, build_organization
from orgc.observed import LiveOrganization, LiveStack
from orgc.plan import ROOT, Plan, PlanError, digest, plan
from orgc.plan.objects import DesiredObject, content_hash, plan_objects
from orgc.plan.stacks import DesiredStacks, LiveStacks, access_role, plan_stacks
from orgc.plan.stacks import groups as stack_groups
from orgc.plan.stacksets import DesiredStackSets, as_recorded, plan_stack_sets
from orgc.plan.stacksets import groups as stack_set_groups
from orgc.recorded import (
    known_ids,
    recorded_organization_plan,
    recorded_stacks,
    with_organization_synced,
)
from orgc.render import RenderContext, RenderedStack, markers, render_project
from orgc.stacksets import DesiredStackSet, build_stack_sets, is_stack_set, observe_stack_sets
from orgc.state import LocalStateStore, LockedState, State, StateStore
from orgc.tasks import CopyToS3Task, Project, StacksTask, load_project
from orgc.templates import Template, build_template
from orgc.validate import check_template_limits, validate_organization

if TYPE_CHECKING:
    from orgc.aws import AwsProvider


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    organization: Organization
    source: str  # the path the run was started with, as given
    warnings: tuple[Diagnostic, ...]
    project: Project | None = None  # None: an organization file alone
    templates: dict[str, Template] = field(default_factory=dict)  # by update-stacks task
    bound: dict[str, BoundTemplate] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # --parameter values
    objects: tuple[DesiredObject, ...] = ()  # what copy-to-s3 tasks put
    digest: str = ""  # of everything above that decides the plan
    organization_digest: str = ""  # of the organization model alone
    stack_tasks: dict[str, StacksTask] = field(init=False)  # update-stacks tasks by name

    def __post_init__(self) -> None:
        tasks = self.project.tasks if self.project is not None else {}
        stack_tasks = {
            name: task for name, task in sorted(tasks.items()) if isinstance(task, StacksTask)
        }
        object.__setattr__(self, "stack_tasks", stack_tasks)

    @property
    def organization_group(self) -> str:
        if self.project is not None and self.project.organization is not None:
            return self.project.organization.name
        return "organization"


def compile_organization(
    path: Path,
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
    parameters: Mapping[str, str] | None = None,
) -> Inputs:
    """load → validate → model → bind, everything that needs no AWS.

    Raises StageError with every diagnostic when any is an error.
    """
    diagnostics = Diagnostics()
    options = LoadOptions(root=project_root(path, root), allow_cmd=allow_cmd)
    file = load_organization(path, options, diagnostics)
    organization = None
    if file is not None:
        validate_organization(file, diagnostics)
        organization = build_organization(file, diagnostics)
    project = None
    if not _is_organization_file(file, path):
        project = load_project(path, options, diagnostics, parameters=parameters or {})
    templates: dict[str, Template] = {}
    bound: dict[str, BoundTemplate] = {}
    if project is not None:
        for name, task in sorted(project.tasks.items()):
            if not isinstance(task, StacksTask):
                continue
            template = build_template(task, options, diagnostics)
            if template is None:
                continue
            templates[name] = template
            if organization is not None:
                bound[name] = bind_template(task, template, organization, diagnostics)
    objects: list[DesiredObject] = []
    if project is not None and organization is not None:
        for task in project.tasks.values():
            if isinstance(task, CopyToS3Task) and not task.skip:
                objects.extend(_desired_objects(task, organization, diagnostics))
    if organization is None or diagnostics.has_errors or file is None:
        raise StageError(diagnostics.sorted())
    return Inputs(
        organization=organization,
        source=str(path) if project is not None else file.display,
        warnings=diagnostics.sorted(),
        project=project,
        templates=templates,
        bound=bound,
        parameters=dict(sorted((parameters or {}).items())),
        objects=tuple(objects),
        organization_digest=digest(organization),
        digest=digest(
            {
                "organization": organization,
                "project": project,
                "templates": templates,
                "parameters": parameters or {},
                "objects": objects,
            }
        ),
    )


_S3_URL = re.compile(r"^s3://([^/]+)/(.+)$")
DEFAULT_REGION = "us-east-1"  # where an unbound copy-to-s3 task's bucket is addressed


def _desired_objects(
    task: CopyToS3Task, organization: Organization, diagnostics: Diagnostics
) -> list[DesiredObject]:
    """The objects a copy-to-s3 task puts: one per region of its binding (one when unbound)."""
    try:
        body = read_object_body(task.local_path, zipped=task.zip_before_put)
    except OSError as error:
        reason = error.strerror or str(error)
        diagnostics.add("E344", f"cannot read {display_path(task.local_path)}: {reason}", task.span)
        return []
    regions: tuple[str, ...] = (DEFAULT_REGION,)
    if task.binding is not None:
        _, bound_regions = resolve_binding(task.binding, organization, diagnostics)
        regions = bound_regions or regions
    management = organization.management_account.account_id or ""
    objects: dict[str, DesiredObject] = {}
    for region in regions:
        path = task.remote_path.replace("${AWS::Region}", region).replace(
            "${AWS::AccountId}", management
        )
        found = _S3_URL.match(path)
        if "${" in path or found is None:
            diagnostics.add(
                "E343",
                f"RemotePath {task.remote_path!r} must be s3://bucket/key with at most "
                "${AWS::Region} and ${AWS::AccountId} in it",
                task.span,
            )
            return []
        wanted = DesiredObject(
            task=task.name,
            bucket=found.group(1),
            key=found.group(2),
            region=region,
            local_path=display_path(task.local_path),
            zipped=task.zip_before_put,
            content_hash=content_hash(body),
            size=len(body),
            where=str(task.span) if task.span else task.file,
            after_tasks=task.depends_on,
        )
        objects.setdefault(wanted.url, wanted)
    return list(objects.values())


def _is_organization_file(file: LoadedFile | None, path: Path) -> bool:
    """Whether `path` names the organization file itself (no task file to read)."""
    return file is not None and not path.is_dir() and file.path == path.resolve()


def validate(
    path: Path,
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
    parameters: Mapping[str, str] | None = None,
) -> tuple[Diagnostic, ...]:
    """Every diagnostic for `path`, errors and warnings, sorted: the files, and what their
    stacks and StackSets make of them, with the ids the files give (no AWS call)."""
    try:
        inputs = compile_organization(path, root=root, allow_cmd=allow_cmd, parameters=parameters)
    except StageError as error:
        return error.diagnostics
    if not inputs.stack_tasks:
        return inputs.warnings
    ids = known_ids(wanted_ids(inputs.organization), State())
    try:
        found = {*inputs.warnings, *compile_stacks(inputs, ids, None)[3]}
    except StageError as error:
        found = {*inputs.warnings, *error.diagnostics}
    return tuple(sorted(found, key=Diagnostic.sort_key))


def observe(provider: AwsProvider, organization: Organization, state: State) -> LiveOrganization:
    """Read the live organization, reaching each known account through its own access role."""
    roles: dict[str, str] = {}
    for account in organization.accounts.values():
        account_id = account.account_id or state.accounts.get(account.logical_id)
        if account_id:
            roles[account_id] = account.access_role_name
    return provider.read_organization(account_roles=roles, read_account_details=True)


def make_plan(
    inputs: Inputs,
    provider: AwsProvider,
    state: State,
    *,
    perform_cleanup: bool = False,
    refresh: bool = True,
) -> Plan:
    """Observe what the plan needs and compare: the organization, then the landing zone.

    Without `refresh`, what the state recorded stands in for reads where the inputs did not
    change (see orgc.recorded); with it, everything is read, so drift shows up.
    """
    recorded = None
    if not refresh:
        recorded = recorded_organization_plan(
            source=inputs.source,
            organization_digest=inputs.organization_digest,
            wanted_ids=wanted_ids(inputs.organization),
            provider=provider,
            state=state,
        )
    if recorded is None:
        live = observe(provider, inputs.organization, state)
        recorded = plan(inputs.organization, live, state, source=inputs.source)
    group = inputs.organization_group
    result = replace(
        recorded,
        inputs_digest=inputs.digest,
        changes=tuple(replace(c, group=group) for c in recorded.changes),
        options={
            "parameters": inputs.parameters,
            "performCleanup": perform_cleanup,
            "refresh": refresh,
        },
    )
    if inputs.objects:
        result = _plan_objects(inputs, provider, state, result)
    if inputs.stack_tasks:
        result = _plan_stacks(
            inputs,
            provider,
            state,
            organization_plan=result,
            perform_cleanup=perform_cleanup,
            refresh=refresh,
        )
    if inputs.warnings:
        merged = tuple(sorted({*result.warnings, *inputs.warnings}, key=Diagnostic.sort_key))
        result = replace(result, warnings=merged)
    return result


def wanted_ids(organization: Organization) -> dict[str, dict[str, str | None]]:
    """Every logical id of the model by id table, with the physical ids the files give."""
    return {
        "accounts": {
            logical_id: account.account_id for logical_id, account in organization.accounts.items()
        },
        "organizationalUnits": dict.fromkeys(organization.organizational_units),
        "policies": dict.fromkeys(organization.policies),
    }


def _plan_objects(
    inputs: Inputs, provider: AwsProvider, state: State, organization_plan: Plan
) -> Plan:
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="orgc-observe") as pool:
        etags = dict(
            zip(
                [o.url for o in inputs.objects],
                pool.map(
                    lambda o: provider.head_s3_object(bucket=o.bucket, key=o.key, region=o.region),
                    inputs.objects,
                ),
                strict=True,
            )
        )
    changes, unchanged = plan_objects(
        inputs.objects, etags, state, organization_group=inputs.organization_group
    )
    return replace(
        organization_plan,
        observed_digest=digest(
            {"organization": organization_plan.observed_digest, "objects": etags}
        ),
        changes=organization_plan.changes + tuple(changes),
        unchanged=organization_plan.unchanged + tuple(unchanged),
    )


def render_stacks(
    inputs: Inputs, ids: Mapping[str, Mapping[str, str | None]], organization_id: str | None
) -> tuple[RenderedStack, ...]:
    """render → graph checks for every task that is not skipped; StageError on mistakes."""
    diagnostics = Diagnostics()
    active = [
        (task, inputs.templates[name], inputs.bound[name])
        for name, task in inputs.stack_tasks.items()
        if not task.skip and name in inputs.templates
    ]
    context = RenderContext(ids=ids, organization_id=organization_id, state_bucket=None)
    stacks = render_project(active, inputs.organization, context, diagnostics)
    if diagnostics.has_errors:
        raise StageError(diagnostics.sorted())
    return stacks


def compile_stacks(
    inputs: Inputs, ids: Mapping[str, Mapping[str, str | None]], organization_id: str | None
) -> tuple[
    tuple[RenderedStack, ...], tuple[DesiredStackSet, ...], StackOrder, tuple[Diagnostic, ...]
]:
    """render → StackSets → graph for every task that is not skipped, and the warnings on the
    way; StageError on mistakes. Ids not known yet (None) stay known-after-apply markers."""
    assert inputs.project is not None
    stacks = render_stacks(inputs, ids, organization_id)
    diagnostics = Diagnostics()
    too_large: set[str] = set()  # tasks reported once, not once per target
    for stack in stacks:
        if stack.key.task not in too_large and not check_template_limits(
            stack.template,
            f"the template of task {stack.key.task}",
            inputs.stack_tasks[stack.key.task].span,
            diagnostics,
        ):
            too_large.add(stack.key.task)
    stack_sets = build_stack_sets(
        tasks=inputs.stack_tasks,
        templates=inputs.templates,
        bound=inputs.bound,
        stacks=stacks,
        organization=inputs.organization,
        ids=ids,
        diagnostics=diagnostics,
    )
    order = order_stacks(
        stacks,
        {name: task.depends_on for name, task in inputs.project.tasks.items()},
        {name: task.span for name, task in inputs.project.tasks.items()},
        diagnostics,
    )
    if diagnostics.has_errors:
        raise StageError(diagnostics.sorted())
    return stacks, stack_sets, order, diagnostics.sorted()


def _plan_stacks(
    inputs: Inputs,
    provider: AwsProvider,
    state: State,
    *,
    organization_plan: Plan,
    perform_cleanup: bool,
    refresh: bool,
) -> Plan:
    stacks, stack_sets, order, diagnostics = compile_stacks(
        inputs, organization_plan.ids, organization_plan.organization_id
    )
    # A StackSet task's targets are its StackSet's instances, not stacks of their own.
    stacks = tuple(s for s in stacks if not is_stack_set(inputs.stack_tasks[s.key.task]))
    account_ids = organization_plan.ids.get("accounts", {})
    live_stacks = observe_stacks(provider, inputs, state, stacks, account_ids, refresh=refresh)
    desired = DesiredStacks(
        stacks=stacks,
        order=order,
        tasks=inputs.stack_tasks,
        organization_group=inputs.organization_group,
    )
    planner = plan_stacks(
        desired,
        live_stacks,
        state,
        inputs.organization,
        account_ids,
        perform_cleanup=perform_cleanup,
    )
    if planner.errors:
        raise PlanError(planner.errors)
    records = state.stack_set_records()
    trusted = frozenset(
        () if refresh else (s.name for s in stack_sets if as_recorded(s, records.get(s.name)))
    )
    live_sets = observe_stack_sets(
        provider,
        [name for name in [*(s.name for s in stack_sets), *records] if name not in trusted],
    )
    set_planner = plan_stack_sets(
        DesiredStackSets(
            stack_sets=stack_sets,
            tasks=inputs.stack_tasks,
            after_tasks=order.after_tasks,
            organization_group=inputs.organization_group,
            account_ids=account_ids,
            trusted=trusted,
        ),
        live_sets,
        state,
        perform_cleanup=perform_cleanup,
    )
    observed = {"organization": organization_plan.observed_digest, "stacks": live_stacks}
    return replace(
        organization_plan,
        observed_digest=digest({**observed, **({"stackSets": live_sets} if live_sets else {})}),
        changes=organization_plan.changes + tuple(planner.changes) + tuple(set_planner.changes),
        groups={
            inputs.organization_group: {"maxConcurrent": None, "failureTolerance": 0},
            **stack_groups(list(inputs.stack_tasks.values())),
            **stack_set_groups(inputs.stack_tasks),
        },
        unchanged=organization_plan.unchanged
        + tuple(sorted([*planner.unchanged, *set_planner.unchanged])),
        orphans=tuple(planner.orphans),
        warnings=tuple(
            sorted(
                {
                    *organization_plan.warnings,
                    *planner.warnings,
                    *set_planner.warnings,
                    *diagnostics,
                },
                key=Diagnostic.sort_key,
            )
        ),
    )


def observe_stacks(
    provider: AwsProvider,
    inputs: Inputs,
    state: State,
    stacks: Sequence[RenderedStack],
    account_ids: Mapping[str, str | None],
    *,
    refresh: bool = True,
) -> LiveStacks:
    """List the stacks of every (account, region) the plan deploys to or deployed to before
    (with `refresh`; else take them as the state recorded them), and read the exports that
    references take from stacks orgc does not deploy."""
    roles: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    tasks = inputs.stack_tasks
    for stack in stacks:
        account_id = account_ids.get(stack.key.account)
        if account_id:
            pairs.add((account_id, stack.key.region))
            role = access_role(tasks.get(stack.key.task), inputs.organization, stack.key.account)
            roles.setdefault(account_id, role)
    for record in state.stacks:
        pairs.add((record.account_id, record.region))
        roles.setdefault(
            record.account_id,
            access_role(tasks.get(record.task), inputs.organization, record.account),
        )
    wanted_exports: set[tuple[str, str, str]] = set()
    for stack in stacks:
        for reference in stack.references:
            account_id = reference.account_id or account_ids.get(stack.key.account)
            if reference.producer is None and account_id and not markers(account_id):
                wanted_exports.add(
                    (account_id, reference.region or stack.key.region, reference.export or "")
                )
                roles.setdefault(account_id, DEFAULT_ACCESS_ROLE)

    def list_pair(pair: tuple[str, str]) -> tuple[tuple[str, str], dict[str, LiveStack]]:
        return pair, provider.list_stacks(pair[0], roles[pair[0]], pair[1])

    def read_export(key: tuple[str, str, str]) -> tuple[tuple[str, str, str], str | None]:
        account_id, region, name = key
        value = provider.read_export(
            account_id=account_id, role_name=roles[account_id], region=region, name=name
        )
        return key, value

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="orgc-observe") as pool:
        listed = dict(pool.map(list_pair, sorted(pairs))) if refresh else recorded_stacks(state)
        exports = {k: v for k, v in pool.map(read_export, sorted(wanted_exports)) if v is not None}
    return LiveStacks(stacks=listed, exports=exports)


class StalePlan(Exception):
    """A saved plan no longer matches its inputs or the live organization."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(str(diagnostic))


def load_saved_plan(path: Path) -> Plan:
    """Raises StalePlan (E606) when the file is not a saved plan."""
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StalePlan(
            Diagnostic("E606", f"{path} is not a plan saved by `orgc plan --out` ({error})")
        ) from None


def check_saved_plan(
    saved: Plan,
    provider: AwsProvider,
    state: State,
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
) -> Inputs:
    """Refuse a saved plan whose inputs or observed organization changed since it was made;
    give the inputs it was made from."""
    options = saved.options
    inputs = compile_organization(
        Path(saved.source),
        root=root,
        allow_cmd=allow_cmd,
        parameters=options.get("parameters") or {},
    )
    if inputs.digest != saved.inputs_digest:
        raise StalePlan(
            Diagnostic(
                "E605",
                f"{saved.source} changed since the plan was made; run orgc plan again",
            )
        )
    fresh = make_plan(
        inputs,
        provider,
        state,
        perform_cleanup=bool(options.get("performCleanup")),
        refresh=bool(options.get("refresh", True)),
    )
    if fresh.observed_digest != saved.observed_digest:
        raise StalePlan(
            Diagnostic(
                "E604",
                f"organization {fresh.organization_id}, its stacks or the state changed since "
                "the plan was made; run orgc plan again",
            )
        )
    return inputs


def lock_owner() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def run_apply(
    saved: Plan,
    provider: AwsProvider,
    store: StateStore,
    *,
    listener: Listener | None = None,
    verify: bool = True,
    root: Path | None = None,
    allow_cmd: bool = False,
) -> ApplyResult:
    """Take the state lock, check the plan still holds, and carry it out."""
    with store.lock(lock_owner()) as locked:
        if not verify:
            return apply(saved, provider, locked, listener=listener)
        inputs = check_saved_plan(saved, provider, locked.state, root=root, allow_cmd=allow_cmd)
        result = apply(saved, provider, locked, listener=listener)
        _note_organization_synced(locked, inputs, saved, result)
        return result


def plan_and_apply(
    inputs: Inputs,
    provider: AwsProvider,
    store: StateStore,
    *,
    confirm: Callable[[Plan], bool],
    listener: Listener | None = None,
    perform_cleanup: bool = False,
    refresh: bool = True,
) -> tuple[Plan, ApplyResult | None]:
    """Plan under the state lock, ask `confirm`, apply. None as result: nothing was applied."""
    with store.lock(lock_owner()) as locked:
        fresh = make_plan(
            inputs, provider, locked.state, perform_cleanup=perform_cleanup, refresh=refresh
        )
        if not fresh.has_changes:
            _note_organization_synced(locked, inputs, fresh, ApplyResult())
            return fresh, None
        if not confirm(fresh):
            return fresh, None
        result = apply(fresh, provider, locked, listener=listener)
        _note_organization_synced(locked, inputs, fresh, result)
        return fresh, result


def _note_organization_synced(
    locked: LockedState, inputs: Inputs, applied: Plan, result: ApplyResult
) -> None:
    """After every organization change of `applied` went through, note in the state that the
    organization is as the files describe it, so later plans need not read it."""
    group = inputs.organization_group
    if any(
        change.group == group and (change.id in result.failed or change.id in result.skipped)
        for change in applied.changes
    ):
        if locked.state.organization_digest is not None:
            locked.write(replace(locked.state, organization_digest=None))
        return
    if locked.state.organization_digest == inputs.organization_digest:
        return
    locked.write(
        with_organization_synced(
            locked.state,
            organization_digest=inputs.organization_digest,
            plan=applied,
            root_id=applied.ids.get("organizationalUnits", {}).get(ROOT),
        )
    )


def write_rendered(inputs: Inputs, out: Path, *, state_file: Path | None = None) -> int:
    """Render every stack with the ids known offline (the files, and a local state file if
    given; others stay known-after-apply markers) and write each template and its parameters
    under `out/<task>/<account>/<region>/`, with an `index.json` of them all."""
    state = LocalStateStore(state_file).read() if state_file is not None else State()
    ids = known_ids(wanted_ids(inputs.organization), state)
    stacks = render_stacks(inputs, ids, None)
    unsafe = Diagnostics()
    for stack in stacks:
        for segment in (stack.key.task, stack.key.account, stack.key.region):
            if segment in ("", ".", "..") or any(c in segment for c in "/\\\0"):
                task = inputs.stack_tasks[stack.key.task]
                unsafe.add(
                    "E118",
                    f"{segment!r} (of task {stack.key.task}) is not a single path segment, so "
                    f"its stacks would be written outside {out}; rename it",
                    task.span,
                )
    if unsafe.has_errors:
        raise StageError(unsafe.sorted())
    index = []
    for stack in stacks:
        directory = out / stack.key.task / stack.key.account / stack.key.region
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "template.json").write_text(
            json.dumps(stack.template, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (directory / "parameters.json").write_text(
            json.dumps(
                [
                    {"ParameterKey": key, "ParameterValue": value}
                    for key, value in sorted(stack.parameters.items())
                ],
                indent=2,
                ensure_ascii=False,
            )
            + "\n",
            encoding="utf-8",
        )
        index.append(
            {
                "task": stack.key.task,
                "stackName": stack.stack_name,
                "account": stack.key.account,
                "accountId": stack.account_id,
                "region": stack.key.region,
                "path": str(directory.relative_to(out)),
                "references": [
                    {
                        "parameter": r.parameter,
                        "expression": r.expression,
                        "producer": str(r.producer) if r.producer else None,
                        "output": r.output,
                        "export": r.export,
                    }
                    for r in stack.references
                ],
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return len(stacks)
