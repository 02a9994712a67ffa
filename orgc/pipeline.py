"""The driver: runs the stages in order and stops at the first stage that reports an error.

It holds no logic of its own beyond the order of stages and what each needs from the last.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orgc import guardrails
from orgc.apply import ApplyResult, Listener, apply
from orgc.bind import BoundTemplate, RegionDenials, bind_template, resolve_binding
from orgc.contacts import build_contacts
from orgc.copy_to_s3 import build_objects
from orgc.diagnostics import Diagnostic, Diagnostics, Severity, Span, StageError
from orgc.expressions import pseudo_parameters, static
from orgc.graph import StackOrder, order_stacks
from orgc.lint import cache_directory, lint_stacks
from orgc.live_source import LiveOrganizationNeeded, live_source
from orgc.load import (
    LoadedFile,
    LoadOptions,
    display_path,
    is_organization_data,
    load_file,
    load_organization_file,
    organization_task_template,
    project_root,
    resolved,
)
from orgc.model import Organization, build_organization
from orgc.observe import (
    observe_contacts,
    observe_identity_center,
    observe_objects,
    observe_organization,
    observe_removed_objects,
    observe_services,
    observe_stack_sets,
    observe_stacks,
    observe_templates,
)
from orgc.observed import ContactDetails, LiveOrganization
from orgc.plan import Change, Plan, PlanError, digest, plan
from orgc.plan.account_names import ACCOUNT_MANAGEMENT, plan_account_names, renamed_accounts
from orgc.plan.codec import PlanFormatError, change_json, loads
from orgc.plan.contacts import plan_contacts
from orgc.plan.objects import (
    DesiredObject,
    plan_objects,
    plan_removed_objects,
    removed_objects,
)
from orgc.plan.services import plan_services
from orgc.plan.specs import ROOT, Action, ChangeKind, Group, ObjectPut, PlanOptions, StackDeploy
from orgc.plan.sso import IdentityCenterPlanner
from orgc.plan.stacks import DeleteGuard, DesiredStacks, plan_stacks, updated_stacks
from orgc.plan.stacks import groups as stack_groups
from orgc.plan.stacksets import DesiredStackSets, as_recorded, plan_stack_sets
from orgc.plan.stacksets import groups as stack_set_groups
from orgc.provider import Provider
from orgc.publish import publish_organization
from orgc.recorded import (
    account_settings_trusted,
    declared_account_settings,
    known_ids,
    note_organization_synced,
    organization_comparison,
    wanted_ids,
)
from orgc.remote import (
    RemoteTemplates,
    load_remote_organization,
    organization_file_argument,
    remote_organization_path,
)
from orgc.render import RenderContext, RenderedStack, markers, render_project
from orgc.render.output import write_stacks
from orgc.services import ServiceAccess, build_services
from orgc.sso import IdentityCenter, build_identity_center
from orgc.stacksets import DesiredStackSet, build_stack_sets, is_stack_set
from orgc.state import (
    LocalStateStore,
    S3StateStore,
    State,
    StateStore,
    default_state_bucket,
    lock_owner,
)
from orgc.tasks import CopyToS3Task, ExternalTask, Project, StacksTask, Task, load_project
from orgc.templates import Template, build_template
from orgc.validate import check_template_limits, validate_organization


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    organization: Organization
    source: str  # the path the run was started with, as given
    warnings: tuple[Diagnostic, ...]
    project: Project | None = None  # None: an organization file alone
    templates: dict[str, Template] = field(default_factory=dict)  # by update-stacks task
    bound: dict[str, BoundTemplate] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # --parameter values
    organization_file: str | None = None  # --organization-file, as given
    objects: tuple[DesiredObject, ...] = ()  # what copy-to-s3 tasks put
    services: tuple[ServiceAccess, ...] = ()  # trusted access and delegated administrators
    # account logical id → contact type → alternate contact, inherited ones included
    contacts: dict[str, dict[str, ContactDetails]] = field(default_factory=dict)
    identity_center: IdentityCenter = field(default_factory=IdentityCenter)
    # The bucket ORG::StateBucketName names (--state-bucket); None: the default state bucket
    # of the management account.
    state_bucket: str | None = None
    digest: str = ""  # of everything above that decides the plan
    # Of the organization model and the alternate contacts: what the state vouches for once
    # applied (orgc.recorded.account_settings_trusted).
    organization_digest: str = ""
    # An `orgc update-stacks` / `delete-stacks` run (orgc.stack_commands): its plan sees the
    # stacks of those commands, which a task file's plan leaves be.
    stack_command: bool = False
    # Of the organization read from AWS that the tasks bind against (orgc.live_organization);
    # None when the files give the organization.
    live_organization: str | None = None
    # The organization file as loaded (its !Include resolved, tags in their long form), which
    # apply publishes to the state bucket (orgc.publish); None when the run reads the
    # organization without applying it (from --organization-file, or from AWS).
    organization_document: Any = field(default=None, compare=False, repr=False)
    stack_tasks: dict[str, StacksTask] = field(init=False)  # update-stacks tasks by name

    def __post_init__(self) -> None:
        tasks = self.project.tasks if self.project is not None else {}
        stack_tasks = {
            name: task for name, task in sorted(tasks.items()) if isinstance(task, StacksTask)
        }
        object.__setattr__(self, "stack_tasks", stack_tasks)

    @property
    def has_task_file(self) -> bool:
        """Whether the inputs come from a task file (not an organization file alone)."""
        project = self.project
        if project is None or project.organization is None:
            return project is not None
        return project.tasks != {} or display_path(project.organization.template) != project.file

    @property
    def organization_skipped(self) -> bool:
        """Whether the organization is left as it is: its update-organization task is skipped
        (or the organization file came from --organization-file)."""
        task = self.project.organization if self.project is not None else None
        return task is not None and task.skip

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
    organization_file: Path | str | None = None,
    remote: RemoteTemplates | None = None,
    loaded: LoadedFile | None = None,
) -> Inputs:
    """load → validate → model → bind, everything that needs no AWS.

    `path` is an organization file, a task file or a directory. A task file's organization is
    the Template of its update-organization task, wherever in the include tree it sits, or
    `organization_file` (--organization-file).

    Templates given as s3://bucket/key or an https:// URL are read through `remote`
    (orgc.remote: reads only; without a provider they are not read, W451), but those a
    copy-to-s3 task of these files puts, read from its LocalPath.

    `loaded` is the task file `path` names, made rather than read (orgc.stack_commands).

    Raises StageError with every diagnostic when any is an error.
    """
    diagnostics = Diagnostics()
    options = LoadOptions(root=project_root(path, root), allow_cmd=allow_cmd)
    if loaded is not None:
        top: LoadedFile | None = loaded
    else:
        top = None if path.is_dir() else load_file(path, options, diagnostics)
    project = None
    organization = None
    if top is not None and is_organization_data(top.data):
        file: LoadedFile | None = top
    else:
        # The organization the top-level file names, read before the tree when it can be, so
        # that the TemplatingContexts of includes can enumerate the accounts of a binding.
        file = _named_organization(top, options, diagnostics, organization_file, remote)
        organization = _model(file, diagnostics)
        model = organization
        if top is not None or path.is_dir():
            project = load_project(
                path,
                options,
                diagnostics,
                parameters=parameters or {},
                organization_file=remote_organization_path(options.root)
                if isinstance(organization_file, str)
                else organization_file,
                loaded=top,
                organization=model,
                binding_accounts=None
                if model is None
                else (lambda binding: resolve_binding(binding, model, diagnostics)[0]),
            )
        if project is not None and organization_file is None and not diagnostics.has_errors:
            source = live_source(project)
            if source is not None:
                # Valid offline; the organization is read from AWS at plan time.
                raise LiveOrganizationNeeded(diagnostics.sorted(), source)
        if isinstance(organization_file, str):
            pass  # read from S3 above, or reported there
        elif file is None or not _names(project, file):
            file = _organization_file(path, project, options, diagnostics, organization_file)
            organization = None
    services: tuple[ServiceAccess, ...] = ()
    contacts: dict[str, dict[str, ContactDetails]] = {}
    identity_center = IdentityCenter()
    if file is not None:
        if organization is None:
            organization = _model(file, diagnostics)
        if organization is not None:
            services = build_services(file, organization, diagnostics)
            contacts = build_contacts(file, organization, diagnostics)
            identity_center = build_identity_center(file, organization, diagnostics)
    if _is_organization_file(file, path):
        project = None
    templates: dict[str, Template] = {}
    bound: dict[str, BoundTemplate] = {}
    denials = RegionDenials(organization) if organization is not None else None
    if project is not None:
        copies = {
            task.remote_path: task.local_path
            for task in project.tasks.values()
            if isinstance(task, CopyToS3Task)
            and isinstance(task.remote_path, str)
            and not task.zip_before_put
        }
        sources = (remote or RemoteTemplates()).with_copies(copies)
        for name, task in sorted(project.tasks.items()):
            if not isinstance(task, StacksTask) or task.skip:
                continue  # a skipped task's template is not read: it need not exist
            template = build_template(task, options, diagnostics, sources)
            if template is None:
                continue
            templates[name] = template
            if organization is not None:
                bound[name] = bind_template(
                    task, template, organization, diagnostics, denials=denials
                )
    objects: tuple[DesiredObject, ...] = ()
    if project is not None and organization is not None:
        objects = build_objects(project.tasks.values(), organization, diagnostics)
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
        organization_file=str(organization_file) if organization_file is not None else None,
        organization_document=file.data if organization_file is None else None,
        objects=objects,
        services=services,
        contacts=contacts,
        identity_center=identity_center,
        # The alternate contacts are in it (when there are any, so that the digests of files
        # without any stay as they were): a plan trusts the contacts as last applied, as it
        # trusts the other per-account settings, only while the files give this digest.
        organization_digest=digest(
            {"organization": organization, "contacts": contacts} if contacts else organization
        ),
        digest=digest(
            {
                "organization": organization,
                "project": project,
                "templates": templates,
                "parameters": parameters or {},
                "objects": objects,
                # Only when declared, so that the digests of files without any stay as they were.
                **({"services": services} if services else {}),
                **({"contacts": contacts} if contacts else {}),
                **({"identityCenter": identity_center} if identity_center else {}),
            }
        ),
    )


def _named_organization(
    top: LoadedFile | None,
    options: LoadOptions,
    diagnostics: Diagnostics,
    organization_file: Path | str | None,
    remote: RemoteTemplates | None,
) -> LoadedFile | None:
    """The organization file --organization-file or the top-level file's update-organization
    task names, loaded, when it is there to be read; None leaves the finding (and the reporting
    of what is wrong with it) to `_organization_file`, once the tree is read. An
    --organization-file s3://bucket/key is read through `remote` (plan and apply; validate
    says it did not read it, W451)."""
    if isinstance(organization_file, str):
        return load_remote_organization(
            organization_file, remote or RemoteTemplates(), options, diagnostics
        )
    if organization_file is not None:
        target = resolved(organization_file)
        named = f"--organization-file {organization_file}"
        where = None
        templating = None
    else:
        found = organization_task_template(top) if top is not None else None
        if found is None:
            return None
        template, data_path, templating = found
        if "\0" in template:
            return None
        target = resolved(top.path.parent / template) if top is not None else Path(template)
        named = f"Template of task {data_path[0]}"
        where = top.source_map.span(data_path) if top is not None else None
    if not target.is_file() or not target.is_relative_to(resolved(options.root)):
        return None
    return load_organization_file(
        target,
        options,
        diagnostics,
        named=named,
        where=where,
        templating=templating,
        context_from=f"the TemplatingContext of the {named}",
    )


def _model(file: LoadedFile | None, diagnostics: Diagnostics) -> Organization | None:
    if file is None:
        return None
    validate_organization(file, diagnostics)
    return build_organization(file, diagnostics)


def _names(project: Project | None, file: LoadedFile) -> bool:
    """Whether `file` is the organization file of `project` (read before the tree was)."""
    if project is None:
        return True
    task = project.organization
    return task is not None and resolved(task.template) == resolved(file.path)


def _organization_file(
    path: Path,
    project: Project | None,
    options: LoadOptions,
    diagnostics: Diagnostics,
    organization_file: Path | None,
) -> LoadedFile | None:
    """The organization file the project binds against, loaded."""
    if project is None:
        return None
    task = project.organization
    if task is None:
        if not diagnostics.has_errors:
            diagnostics.add(
                "E110",
                f"{project.file} has no update-organization task (in it or in a file it "
                "includes); add one, or name the organization file with "
                "--organization-file PATH",
                Span(project.file, 1, 1),
            )
        return None
    if not task.template.exists() and organization_file is None:
        # Reported where the task names it (its Template does not exist).
        if not diagnostics.has_errors:
            diagnostics.add(
                "E106",
                f"Template of task {task.name} not found: no file "
                f"{display_path(task.template)}; a skipped update-organization task still "
                "names the organization file the other tasks bind against",
                task.span,
            )
        return None
    named = (
        f"--organization-file {organization_file}"
        if organization_file is not None
        else f"Template of task {task.name}"
    )
    return load_organization_file(
        task.template,
        options,
        diagnostics,
        named=named,
        where=None,
        templating=task.templating_context,
        context_from=f"the TemplatingContext of task {task.name}",
    )


def _is_organization_file(file: LoadedFile | None, path: Path) -> bool:
    """Whether `path` names the organization file itself (no task file to read)."""
    return file is not None and not path.is_dir() and file.path == path.resolve()


def validate(
    path: Path,
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
    parameters: Mapping[str, str] | None = None,
    lint: bool = False,
    organization_file: Path | str | None = None,
) -> tuple[Diagnostic, ...]:
    """Every diagnostic for `path`, errors and warnings, sorted: the files, and what their
    stacks and StackSets make of them, with the ids the files give (no AWS call); with `lint`,
    cfn-lint's findings in the rendered templates too."""
    try:
        inputs = compile_organization(
            path,
            root=root,
            allow_cmd=allow_cmd,
            parameters=parameters,
            organization_file=organization_file,
        )
    except LiveOrganizationNeeded as needed:
        return needed.diagnostics
    except StageError as error:
        return error.diagnostics
    if not inputs.stack_tasks:
        return inputs.warnings
    ids = known_ids(wanted_ids(inputs.organization), State())
    try:
        stacks, _, _, warnings = compile_stacks(inputs, ids, None)
    except StageError as error:
        return tuple(sorted({*inputs.warnings, *error.diagnostics}, key=Diagnostic.sort_key))
    found = {*inputs.warnings, *warnings}
    if lint:
        found.update(lint_stacks(stacks, cache_directory(), registered_types(inputs)))
    return tuple(sorted(found, key=Diagnostic.sort_key))


def offline_stacks(inputs: Inputs) -> tuple[tuple[RenderedStack, ...], StackOrder]:
    """Every stack the inputs render to and the order between them, with the ids the files
    give (no AWS call); StageError on mistakes."""
    if not inputs.stack_tasks:
        return (), StackOrder(after={}, after_tasks={})
    ids = known_ids(wanted_ids(inputs.organization), State())
    stacks, _, order, _ = compile_stacks(inputs, ids, None)
    return stacks, order


def lint_templates(inputs: Inputs) -> Inputs:
    """cfn-lint over every template the inputs render, offline: StageError on an error
    finding, else the inputs with its warnings (W630) among theirs. A template that cannot be
    rendered with the ids the files give alone is not linted here: the plan renders it with
    the ids the state knows too, and reports what is wrong with it then."""
    if not inputs.stack_tasks:
        return inputs
    ids = known_ids(wanted_ids(inputs.organization), State())
    try:
        stacks = compile_stacks(inputs, ids, None)[0]
    except StageError:
        return inputs
    findings = lint_stacks(stacks, cache_directory(), registered_types(inputs))
    if any(finding.severity is Severity.ERROR for finding in findings):
        raise StageError(findings)
    if not findings:
        return inputs
    merged = tuple(sorted({*inputs.warnings, *findings}, key=Diagnostic.sort_key))
    return replace(inputs, warnings=merged)


def registered_types(inputs: Inputs) -> frozenset[str]:
    """The resource types the register-type tasks of the files register (orgc does not run
    them; their types are taken to exist where the stacks use them)."""
    tasks = inputs.project.tasks.values() if inputs.project is not None else ()
    return frozenset(
        task.attributes["ResourceType"]
        for task in tasks
        if isinstance(task, ExternalTask)
        and task.type == "register-type"
        and isinstance(task.attributes.get("ResourceType"), str)
    )


def make_plan(
    inputs: Inputs,
    provider: Provider,
    state: State,
    *,
    perform_cleanup: bool = False,
    refresh: bool = True,
    allow_lockout: bool = False,
    delete_guard: DeleteGuard | None = None,
    today: datetime.date | None = None,
    force_deploy: bool = False,
) -> Plan:
    """Observe what the plan needs and compare: the organization, then the landing zone; then
    hold the plan to the guardrails (PlanError when one refuses it).

    `today` (the UTC date when not given) dates the window of AWS's account close quota.

    The organization's guardrails are always compared with AWS: the OU tree, where each account
    sits, every policy's content and attachments, which accounts exist; that costs calls per OU,
    per policy and per page of accounts. What costs a call per account (tags, and the alias and
    password policy inside each account) and the stacks are taken from the state without
    `refresh` while the files are as last applied (see orgc.recorded); the plan names what it
    took from the state. With `refresh` everything is compared.

    `force_deploy` (--force-deploy) plans every task as if it said `ForceDeploy: true`.
    """
    if force_deploy:
        inputs = forcing_deploys(inputs)
    trusted = not refresh and account_settings_trusted(state, inputs.organization_digest)
    live = observe_organization(provider, inputs.organization, state, per_account=not trusted)
    compared, not_compared = organization_comparison(live, per_account=not trusted)
    recorded = replace(
        plan(
            inputs.organization,
            live,
            state,
            source=inputs.source,
            today=today or datetime.datetime.now(datetime.timezone.utc).date(),
        ),
        compared=compared,
        not_compared=not_compared,
    )
    group = inputs.organization_group
    frozen = inputs.organization_skipped
    result = replace(
        recorded,
        inputs_digest=inputs.digest,
        live_organization=inputs.live_organization,
        # A skipped update-organization task leaves the organization as it is.
        changes=() if frozen else tuple(replace(c, group=group) for c in recorded.changes),
        options=PlanOptions(
            parameters=inputs.parameters,
            perform_cleanup=perform_cleanup,
            refresh=refresh,
            allow_scp_lockout=allow_lockout,
            organization_file=inputs.organization_file,
            force_deploy=force_deploy,
        ),
        skipped=skipped_sentences(inputs, state),
    )
    renamed = [] if frozen else renamed_accounts(inputs.organization, live, result.ids.accounts)
    if not frozen and (
        inputs.services or state.services or inputs.contacts or state.contacts or renamed
    ):
        result = _plan_account_settings(
            inputs,
            provider,
            state,
            live=live,
            organization_plan=result,
            renamed=renamed,
            trusted=trusted,
        )
    if not frozen and (inputs.identity_center or state.permission_sets or state.assignments):
        result = plan_identity_center(inputs, provider, state, organization_plan=result, live=live)
    if (
        inputs.objects
        or _has_copy_tasks(inputs)
        or (inputs.has_task_file and state.objects and not inputs.stack_command)
    ):
        # Also with no copy-to-s3 task left: the objects of removed tasks are orphans, and
        # --perform-cleanup deletes them. A stack command plans its own stack only.
        result = _plan_objects(inputs, provider, state, result, perform_cleanup=perform_cleanup)
    if inputs.stack_tasks or (
        inputs.has_task_file and (state.stack_records() or state.stack_set_records())
    ):
        # Also with no update-stacks task left: the stacks of removed tasks are orphans, and
        # --perform-cleanup deletes them.
        result = _plan_stacks(
            inputs,
            provider,
            state,
            organization_plan=result,
            perform_cleanup=perform_cleanup,
            refresh=refresh,
            delete_guard=delete_guard,
        )
    if inputs.warnings:
        merged = tuple(sorted({*result.warnings, *inputs.warnings}, key=Diagnostic.sort_key))
        result = replace(result, warnings=merged)
    unfillable = _unfillable_markers(inputs, result)
    if unfillable:
        raise PlanError(unfillable)
    return guardrails.enforce(result, inputs.organization, live, allow_lockout=allow_lockout)


# The id tables of the known-after-apply markers whose value a change of the plan makes, and
# the kinds of change that make them.
_MARKER_TABLES = {
    "account": ("accounts", ChangeKind.ACCOUNT),
    "organizational-unit": ("organizationalUnits", ChangeKind.ORGANIZATIONAL_UNIT),
    "policy": ("policies", ChangeKind.POLICY),
}
_MARKER_NOUNS = {"account": "account", "organizational-unit": "OU", "policy": "policy"}


def _unfillable_markers(inputs: Inputs, result: Plan) -> list[Diagnostic]:
    """E478 for each change that needs the id of an account, OU or policy that neither exists
    nor is made by a change of the plan (its update-organization task is skipped, say): apply
    would have no value for its marker."""
    made = {
        (change.kind, change.logical_id)
        for change in result.changes
        if change.action in (Action.CREATE, Action.ADOPT, Action.REPLACE)
    }
    tables = {
        "accounts": result.ids.accounts,
        "organizationalUnits": result.ids.organizational_units,
        "policies": result.ids.policies,
    }
    tasks = inputs.project.tasks if inputs.project is not None else {}
    why = (
        "the update-organization task is skipped"
        if inputs.organization_skipped
        else "no change of this plan makes it"
    )
    found: list[Diagnostic] = []
    exports = _planned_exports(result.changes)
    for change in result.changes:
        for kind, name in sorted(markers(repr(change.spec))):
            if kind == "reference" and isinstance(change.spec, ObjectPut):
                # A !CopyValue of RemotePath not there at plan time: a stack of the plan must
                # make it (the reference marker names `<account>:<region>:<export name>`).
                account, region, export = name.split(":", 2)
                if not exports(account, region, export):
                    found.append(
                        Diagnostic(
                            "E479",
                            f"RemotePath of task {change.spec.task} reads the export {export} "
                            f"in account {account} {region}, which is not there and which no "
                            "stack of this plan makes; deploy the stack that exports it first, "
                            "or correct the export's name, account or region",
                            _task_span(tasks, change.spec.task),
                        )
                    )
                continue
            if kind not in _MARKER_TABLES:
                continue
            table, maker = _MARKER_TABLES[kind]
            if tables[table].get(name) or (maker, name) in made:
                continue
            address = getattr(change.spec, "address", None)
            task_name = getattr(change.spec, "task", None) or getattr(address, "task", "")
            found.append(
                Diagnostic(
                    "E478",
                    f"{change.summary} needs the id of {_MARKER_NOUNS[kind]} {name}, which does "
                    f"not exist yet and which this plan does not make ({why}); apply the "
                    "organization first, or leave out what names it",
                    _task_span(tasks, str(task_name)),
                )
            )
    return sorted(set(found), key=Diagnostic.sort_key)


def _task_span(tasks: Mapping[str, Task], name: str) -> Span | None:
    task = tasks.get(name)
    return task.span if task is not None else None


def _planned_exports(changes: Sequence[Change]) -> Callable[[str, str, str], bool]:
    """Whether a stack the plan creates or updates in the account (an id, or the logical id of
    one this run creates) and region may make the export: its template names it, or names an
    export only CloudFormation can (taken to be it)."""
    made: dict[tuple[str, str], set[str | None]] = {}
    for change in changes:
        spec = change.spec
        if not isinstance(spec, StackDeploy):
            continue
        address = spec.address
        known = pseudo_parameters(address.region, address.account_id or "", address.stack_name)
        if address.account_id is None:
            known.pop("AWS::AccountId")
        outputs = spec.template.get("Outputs")
        names: set[str | None] = set()
        for output in (outputs or {}).values() if isinstance(outputs, dict) else ():
            export = output.get("Export") if isinstance(output, dict) else None
            if isinstance(export, dict) and "Name" in export:
                names.add(static(export["Name"], known))
        for account in (address.account_id, address.account):
            if account:
                made.setdefault((account, address.region), set()).update(names)

    def exports(account: str, region: str, name: str) -> bool:
        names = made.get((account, region), set())
        return name in names or None in names

    return exports


def skipped_sentences(inputs: Inputs, state: State) -> tuple[str, ...]:
    """What each skip of the files means, for the plan."""
    project = inputs.project
    if project is None:
        return ()
    records: dict[str, int] = {}
    for record in state.stack_records().values():
        records[record.task] = records.get(record.task, 0) + 1
    sentences: list[str] = []
    organization = project.organization
    for name, reason in project.skipped.items():
        if name in project.skipped_includes:
            kept = sum(n for task, n in records.items() if task.startswith(f"{name}-"))
            keeps = f"; the {kept} stack(s) its tasks deployed are kept" if kept else ""
            sentences.append(f"include {name} ({reason}): its file is not read{keeps}")
            continue
        if organization is not None and name == organization.name and project.live:
            sentences.append(
                f"organization ({project.live}): not changed; the tasks bind against the "
                f"organization as read from AWS, written to {display_path(organization.template)}"
            )
            continue
        if organization is not None and name == organization.name:
            sentences.append(
                f"update-organization task {name} ({reason}): the organization is not "
                f"changed; the other tasks bind against {display_path(organization.template)} "
                "as written"
            )
            continue
        task = project.tasks.get(name)
        kept = records.get(name, 0)
        keeps = f"; its {kept} deployed stack(s) are kept as they are" if kept else ""
        kind = f"{task.type} task" if task is not None else "include"
        sentences.append(f"{kind} {name} ({reason}): not run{keeps}")
    return tuple(sentences)


def _plan_account_settings(
    inputs: Inputs,
    provider: Provider,
    state: State,
    *,
    live: LiveOrganization,
    organization_plan: Plan,
    renamed: list[tuple[str, str, str]],
    trusted: bool,
) -> Plan:
    """Trusted access and delegated administrators, alternate contacts and account names: all
    but the management account's own need Account Management's trusted access, so the
    organization's service access is read once for them all.

    Alternate contacts cost a call per contact type per account: while `trusted` (no
    --refresh, and the files give the digest of the last complete apply, contacts included)
    they are taken to be as the files give them, and the plan says it did not read them."""
    services = observe_services(provider)
    planned = frozenset(c.id for c in organization_plan.changes)
    account_ids = organization_plan.ids.accounts
    changes: tuple[Change, ...] = ()
    compared: list[str] = []
    if inputs.services or state.services:
        changes += plan_services(
            inputs.services,
            services,
            state,
            account_ids=account_ids,
            planned=planned,
            organization_group=inputs.organization_group,
        )
        compared.append(
            f"trusted access and delegated administrators of {len(inputs.services)} services"
        )
    planned |= {c.id for c in changes}
    enabled = ACCOUNT_MANAGEMENT in services.enabled
    access = enabled or any(s.service_principal == ACCOUNT_MANAGEMENT for s in inputs.services)
    contacts: dict[str, dict[str, ContactDetails]] = {}
    warnings: tuple[Diagnostic, ...] = ()
    not_compared: list[str] = []
    if inputs.contacts or state.contacts:
        active = {a for a, account in live.accounts.items() if account.status == "ACTIVE"}
        wanted = {account_ids.get(logical) for logical in inputs.contacts} | set(state.contacts)
        # Member accounts are read only once AWS lets the management account read them.
        readable = {a for a in active if enabled or a == live.management_account_id}
        read = sorted(a for a in wanted if a and a in readable)
        if trusted:
            contacts = _contacts_as_applied(inputs.contacts, account_ids, read)
        else:
            contacts = observe_contacts(provider, read, live.management_account_id)
        contact_changes, contact_warnings = plan_contacts(
            inputs.contacts,
            contacts,
            state,
            account_ids=account_ids,
            management=inputs.organization.management_account.logical_id,
            planned=planned,
            organization_group=inputs.organization_group,
            access=access,
        )
        changes += contact_changes
        warnings += contact_warnings
        (not_compared if trusted else compared).append(
            f"alternate contacts of {len(read)} accounts"
        )
    renames, name_warnings = plan_account_names(
        inputs.organization,
        renamed,
        access=access,
        planned=planned,
        organization_group=inputs.organization_group,
    )
    return replace(
        organization_plan,
        compared=(*organization_plan.compared, *compared),
        not_compared=(*organization_plan.not_compared, *not_compared),
        observed_digest=digest(
            {
                "organization": organization_plan.observed_digest,
                "services": services,
                "contacts": contacts,
            }
        ),
        changes=organization_plan.changes + changes + renames,
        warnings=tuple(
            sorted(
                {*organization_plan.warnings, *warnings, *name_warnings},
                key=Diagnostic.sort_key,
            )
        ),
    )


def plan_identity_center(
    inputs: Inputs,
    provider: Provider,
    state: State,
    *,
    organization_plan: Plan,
    live: LiveOrganization,
) -> Plan:
    """Permission sets and account assignments: PlanError when AWS has no Identity Center
    instance (E613), names a group or user the identity store lacks (E612), or a rename."""
    instance = provider.sso_instance()
    if instance is None:
        raise PlanError(
            [
                Diagnostic(
                    "E613",
                    "the files declare IAM Identity Center permission sets or assignments, but "
                    "sso-admin ListInstances finds no instance; enable IAM Identity Center for "
                    "the organization in the region orgc runs in",
                    None,
                )
            ]
        )
    account_ids = organization_plan.ids.accounts
    observed = observe_identity_center(
        provider, instance, inputs.identity_center, state, account_ids
    )
    planner = IdentityCenterPlanner(
        inputs.identity_center,
        observed,
        state,
        organization=inputs.organization,
        account_ids=account_ids,
        account_names={a: account.name for a, account in live.accounts.items()},
        planned=frozenset(c.id for c in organization_plan.changes),
        group=inputs.organization_group,
    )
    planner.plan()
    if planner.errors:
        raise PlanError(sorted(planner.errors, key=Diagnostic.sort_key))
    accounts = len({account for _, account in observed.pairs})
    others = len(observed.permission_sets) - len(observed.settings)
    # What is left alone is said too: a reviewer must not read it as checked.
    compared = (
        f"IAM Identity Center permission sets ({len(observed.settings)}) and their assignments "
        f"in {accounts} accounts, not the assignments orgc did not make nor {others} other "
        "permission sets (left alone)"
    )
    return replace(
        organization_plan,
        compared=(*organization_plan.compared, compared),
        observed_digest=digest(
            {"organization": organization_plan.observed_digest, "identityCenter": observed}
        ),
        changes=organization_plan.changes + tuple(planner.changes),
        warnings=tuple(
            sorted({*organization_plan.warnings, *planner.warnings}, key=Diagnostic.sort_key)
        ),
    )


def _contacts_as_applied(
    desired: Mapping[str, Mapping[str, ContactDetails]],
    account_ids: Mapping[str, str | None],
    accounts: Sequence[str],
) -> dict[str, dict[str, ContactDetails]]:
    """The contacts of `accounts` as the last complete apply left them: as the files give them
    (a type the files no longer give was deleted by it)."""
    by_id = {physical: logical for logical, physical in account_ids.items() if physical}
    return {a: dict(desired.get(by_id.get(a, ""), {})) for a in accounts}


def _has_copy_tasks(inputs: Inputs) -> bool:
    tasks = inputs.project.tasks.values() if inputs.project is not None else ()
    return any(isinstance(task, CopyToS3Task) and not task.skip for task in tasks)


def forcing_deploys(inputs: Inputs) -> Inputs:
    """The inputs with every task marked `ForceDeploy: true`: its stacks are updated and its
    objects put again though nothing changed (OrgFormation's perform-tasks --force-deploy)."""
    project = inputs.project
    if project is None:
        return inputs
    tasks = {name: replace(task, force_deploy=True) for name, task in project.tasks.items()}
    return replace(inputs, project=replace(project, tasks=tasks))


def _plan_objects(
    inputs: Inputs,
    provider: Provider,
    state: State,
    organization_plan: Plan,
    *,
    perform_cleanup: bool,
) -> Plan:
    # Again with the plan's account ids: a target's id may come from the state.
    diagnostics = Diagnostics()
    project = inputs.project
    tasks = project.tasks if project is not None else {}
    objects = build_objects(
        tasks.values(),
        inputs.organization,
        diagnostics,
        organization_plan.ids.accounts,
        lambda account_id, role_name, region, name: provider.read_export(
            account_id=account_id, role_name=role_name, region=region, name=name
        ),
    )
    if diagnostics.has_errors:
        raise StageError(diagnostics.sorted())
    skipped_includes = tuple(f"{n}-" for n in project.skipped_includes) if project else ()

    def left_alone(task: str) -> bool:
        # A skipped task (or one of a skipped include) still owns what it put.
        found = tasks.get(task)
        return (found is not None and found.skip) or (
            found is None and task.startswith(skipped_includes) and bool(skipped_includes)
        )

    removed = removed_objects(objects, state, left_alone=left_alone)
    etags = observe_objects(provider, objects)
    removed_etags = observe_removed_objects(provider, removed)
    changes, unchanged = plan_objects(
        objects,
        etags,
        state,
        organization_group=inputs.organization_group,
        forced={name for name, task in tasks.items() if task.force_deploy},
    )
    removals, warnings = plan_removed_objects(
        removed,
        removed_etags,
        state,
        tasks=[name for name, task in tasks.items() if isinstance(task, CopyToS3Task)],
        perform_cleanup=perform_cleanup,
        organization_group=inputs.organization_group,
    )
    return replace(
        organization_plan,
        observed_digest=digest(
            {
                "organization": organization_plan.observed_digest,
                "objects": etags,
                # Only when there are any, so that the digests of plans without stay as they were.
                **({"removedObjects": removed_etags} if removed_etags else {}),
            }
        ),
        changes=organization_plan.changes + tuple(changes) + tuple(removals),
        unchanged=organization_plan.unchanged + tuple(unchanged),
        warnings=tuple(sorted({*organization_plan.warnings, *warnings}, key=Diagnostic.sort_key)),
    )


def render_stacks(
    inputs: Inputs,
    ids: Mapping[str, Mapping[str, str | None]],
    organization_id: str | None,
    warnings: Diagnostics | None = None,
) -> tuple[RenderedStack, ...]:
    """render → graph checks for every task that is not skipped; StageError on mistakes. The
    warnings render gives go to `warnings` when given."""
    diagnostics = Diagnostics()
    active = [
        (task, inputs.templates[name], inputs.bound[name])
        for name, task in inputs.stack_tasks.items()
        if not task.skip and name in inputs.templates
    ]
    management = inputs.organization.management_account
    management_id = ids.get("accounts", {}).get(management.logical_id) or management.account_id
    state_bucket = inputs.state_bucket or (
        default_state_bucket(management_id) if management_id else None
    )
    root_id = ids.get("organizationalUnits", {}).get(ROOT)
    context = RenderContext(
        ids=ids, organization_id=organization_id, state_bucket=state_bucket, root_id=root_id
    )
    stacks = render_project(active, inputs.organization, context, diagnostics)
    if diagnostics.has_errors:
        raise StageError(diagnostics.sorted())
    if warnings is not None:
        warnings.extend(diagnostics)
    return stacks


def compile_stacks(
    inputs: Inputs, ids: Mapping[str, Mapping[str, str | None]], organization_id: str | None
) -> tuple[
    tuple[RenderedStack, ...], tuple[DesiredStackSet, ...], StackOrder, tuple[Diagnostic, ...]
]:
    """render → StackSets → graph for every task that is not skipped, and the warnings on the
    way; StageError on mistakes. Ids not known yet (None) stay known-after-apply markers."""
    assert inputs.project is not None
    diagnostics = Diagnostics()
    stacks = render_stacks(inputs, ids, organization_id, diagnostics)
    too_large: set[str] = set()  # tasks reported once, not once per target
    fits: set[int] = set()  # templates that fit, by identity: stacks rendered alike share one
    for stack in stacks:
        if stack.key.task in too_large or id(stack.template) in fits:
            continue
        if check_template_limits(
            stack.template,
            f"the template of task {stack.key.task}",
            inputs.stack_tasks[stack.key.task].span,
            diagnostics,
        ):
            fits.add(id(stack.template))
        else:
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
    provider: Provider,
    state: State,
    *,
    organization_plan: Plan,
    perform_cleanup: bool,
    refresh: bool,
    delete_guard: DeleteGuard | None,
) -> Plan:
    stacks, stack_sets, order, diagnostics = compile_stacks(
        inputs, organization_plan.ids, organization_plan.organization_id
    )
    # A StackSet task's targets are its StackSet's instances, not stacks of their own.
    stacks = tuple(s for s in stacks if not is_stack_set(inputs.stack_tasks[s.key.task]))
    account_ids = organization_plan.ids.get("accounts", {})
    skipped_includes = inputs.project.skipped_includes if inputs.project is not None else ()
    live_stacks = observe_stacks(
        provider,
        tasks=inputs.stack_tasks,
        organization=inputs.organization,
        state=state,
        stacks=stacks,
        refresh=refresh,
    )
    desired = DesiredStacks(
        stacks=stacks,
        order=order,
        tasks=inputs.stack_tasks,
        organization_group=inputs.organization_group,
        skipped_includes=skipped_includes,
        command_stacks=inputs.stack_command,
    )
    planner = plan_stacks(
        desired,
        live_stacks,
        state,
        inputs.organization,
        account_ids,
        perform_cleanup=perform_cleanup,
        delete_guard=delete_guard,
    )
    updated = updated_stacks(planner.changes)
    if updated and not planner.errors:
        # Planned again with the templates the updated stacks were deployed with, so each
        # update says whether its template changes and how.
        planner = plan_stacks(
            desired,
            live_stacks,
            state,
            inputs.organization,
            account_ids,
            perform_cleanup=perform_cleanup,
            previous_templates=observe_templates(provider, updated),
            delete_guard=delete_guard,
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
            skipped_includes=skipped_includes,
        ),
        live_sets,
        state,
        perform_cleanup=perform_cleanup,
    )
    observed = {"organization": organization_plan.observed_digest, "stacks": live_stacks}
    read_sets = len(stack_sets) - len(trusted)
    compared = [f"{len(stacks)} stacks"] if refresh and stacks else []
    compared += [f"{read_sets} StackSets"] if read_sets else []
    not_compared = [] if refresh or not stacks else [f"{len(stacks)} stacks"]
    not_compared += [f"{len(trusted)} StackSets"] if trusted else []
    return replace(
        organization_plan,
        compared=organization_plan.compared + tuple(compared),
        not_compared=organization_plan.not_compared + tuple(not_compared),
        observed_digest=digest({**observed, **({"stackSets": live_sets} if live_sets else {})}),
        changes=organization_plan.changes + tuple(planner.changes) + tuple(set_planner.changes),
        groups={
            inputs.organization_group: Group(max_concurrent=None, failure_tolerance=0),
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


class StalePlan(StageError):
    """A saved plan no longer matches its inputs or the live organization."""


def load_saved_plan(path: Path) -> Plan:
    """Raises StalePlan (E606) when the file is not a saved plan of this version."""
    try:
        return loads(path.read_text(encoding="utf-8"))
    except PlanFormatError as error:
        raise StalePlan([Diagnostic("E606", f"{path} is {error}")]) from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StalePlan(
            [Diagnostic("E606", f"{path} is not a plan saved by `orgc plan --out` ({error})")]
        ) from None


def check_saved_plan(
    saved: Plan,
    provider: Provider,
    state: State,
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
    recompile: Callable[[State], Inputs] | None = None,
) -> Inputs:
    """Refuse a saved plan whose inputs or observed organization changed since it was made;
    give the inputs it was made from. `recompile` compiles the files again with the state
    (orgc.live_organization reads the organization from AWS for files that take it from
    there); without it they are compiled as `compile_organization` does."""
    options = saved.options or PlanOptions()
    if recompile is not None:
        inputs = recompile(state)
    else:
        try:
            inputs = compile_organization(
                Path(saved.source),
                root=root,
                allow_cmd=allow_cmd,
                parameters=dict(options.parameters),
                organization_file=(
                    organization_file_argument(options.organization_file)
                    if options.organization_file is not None
                    else None
                ),
                remote=RemoteTemplates(provider=provider),
            )
        except LiveOrganizationNeeded:
            inputs = None
    if inputs is None or inputs.digest != saved.inputs_digest:
        raise StalePlan(
            [
                Diagnostic(
                    "E605",
                    f"{saved.source} changed since the plan was made; run orgc plan again",
                )
            ]
        )
    fresh = make_plan(
        inputs,
        provider,
        state,
        perform_cleanup=options.perform_cleanup,
        refresh=options.refresh,
        allow_lockout=options.allow_scp_lockout,
        force_deploy=options.force_deploy,
        # Its deletes were allowed (or not refused) when the plan was made and reviewed.
        delete_guard=DeleteGuard(allow_mass_delete=True),
    )
    if fresh.observed_digest != saved.observed_digest:
        raise StalePlan(
            [
                Diagnostic(
                    "E604",
                    f"organization {fresh.organization_id}, its stacks or the state changed "
                    "since the plan was made; run orgc plan again",
                )
            ]
        )
    # The fresh plan passed the guardrails; the saved one must be that plan, change for change
    # (one edited by hand would carry changes no guardrail saw).
    if [change_json(c) for c in fresh.changes] != [change_json(c) for c in saved.changes]:
        raise StalePlan(
            [
                Diagnostic(
                    "E604",
                    "the saved plan's changes are not the ones orgc plans from the same files "
                    "and organization (was it edited?); run orgc plan again",
                )
            ]
        )
    return inputs


def run_apply(
    saved: Plan,
    provider: Provider,
    store: StateStore,
    *,
    listener: Listener | None = None,
    verify: bool = True,
    root: Path | None = None,
    allow_cmd: bool = False,
    recompile: Callable[[State], Inputs] | None = None,
) -> ApplyResult:
    """Take the state lock, check the plan still holds (see `check_saved_plan`), and carry it
    out."""
    with store.lock(lock_owner()) as locked:
        if not verify:
            return apply(saved, provider, locked, listener=listener)
        inputs = check_saved_plan(
            saved,
            provider,
            locked.state,
            root=root,
            allow_cmd=allow_cmd,
            recompile=recompile,
        )
        result = apply(saved, provider, locked, listener=listener)
        note_organization_synced(
            locked,
            organization_group=inputs.organization_group,
            organization_digest=inputs.organization_digest,
            applied=saved,
            result=result,
            declared=_declared_settings(inputs),
        )
        return result


def plan_and_apply(
    inputs: Inputs,
    provider: Provider,
    store: StateStore,
    *,
    confirm: Callable[[Plan], bool],
    listener: Listener | None = None,
    perform_cleanup: bool = False,
    refresh: bool = True,
    allow_lockout: bool = False,
    delete_guard: DeleteGuard | None = None,
    scope: Callable[[State], State] | None = None,
    force_deploy: bool = False,
) -> tuple[Plan, ApplyResult | None]:
    """Plan under the state lock, ask `confirm`, apply. None as result: nothing was applied.

    `scope` gives the part of the state the plan compares with (the stack commands see their
    own stacks only); apply records into the whole state."""
    with store.lock(lock_owner()) as locked:
        fresh = make_plan(
            inputs,
            provider,
            locked.state if scope is None else scope(locked.state),
            perform_cleanup=perform_cleanup,
            refresh=refresh,
            allow_lockout=allow_lockout,
            delete_guard=delete_guard,
            force_deploy=force_deploy,
        )
        if not fresh.has_changes:
            note_organization_synced(
                locked,
                organization_group=inputs.organization_group,
                organization_digest=inputs.organization_digest,
                applied=fresh,
                result=ApplyResult(),
                declared=_declared_settings(inputs),
            )
            return fresh, None
        if not confirm(fresh):
            return fresh, None
        result = apply(fresh, provider, locked, listener=listener)
        note_organization_synced(
            locked,
            organization_group=inputs.organization_group,
            organization_digest=inputs.organization_digest,
            applied=fresh,
            result=result,
            declared=_declared_settings(inputs),
        )
        return fresh, result


def publish_applied_organization(
    inputs: Inputs, provider: Provider, store: StateStore
) -> str | Diagnostic | None:
    """After a successful apply: the organization file the run applied, published to the state
    bucket (orgc.publish), when the state is in S3 and the run applied the organization."""
    if (
        inputs.organization_document is None
        or inputs.organization_skipped
        or not isinstance(store, S3StateStore)
    ):
        return None
    return publish_organization(provider, store.bucket, inputs.organization_document)


def _declared_settings(inputs: Inputs) -> dict[str, tuple[str | None, bool]]:
    """The aliases and password policies the files give, unless the organization is left as
    it is (then orgc sets none of them)."""
    return {} if inputs.organization_skipped else declared_account_settings(inputs.organization)


def write_rendered(inputs: Inputs, out: Path, *, state_file: Path | None = None) -> int:
    """Render every stack with the ids known offline (the files, and a local state file if
    given; others stay known-after-apply markers) and write each template and its parameters
    under `out/<task>/<account>/<region>/`, with an `index.json` of them all."""
    state = LocalStateStore(state_file).read() if state_file is not None else State()
    ids = known_ids(wanted_ids(inputs.organization), state)
    stacks = render_stacks(inputs, ids, None)
    write_stacks(stacks, out, {name: task.span for name, task in inputs.stack_tasks.items()})
    return len(stacks)
