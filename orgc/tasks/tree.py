"""The tree walk: `load_project`, includes, and the builder that flattens a task file tree.

`load_project` finds the file a path means (a task file, an organization file, or a directory's
task file) and `ProjectBuilder` reads it depth first: the tasks of each file through the builder
of their type, and the file of each include with what the include hands down (`Context`: its
Parameters, Skip, roles and grouping), its tasks named `<Include>-<Task>`. Include cycles (E332)
and names taken twice (E340) are reported here; `ProjectBuilder.finish` resolves DependsOn (see
`orgc.tasks.dependencies`) and builds the `Project`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from orgc.diagnostics import Diagnostic, Diagnostics, Span, did_you_mean
from orgc.expressions import TargetText, is_expression
from orgc.load import (
    DataPath,
    LoadedFile,
    LoadOptions,
    display_path,
    find_task_file,
    is_organization_data,
    load_file,
    resolved,
)
from orgc.tasks.attributes import TaskReader
from orgc.tasks.dependencies import dependency_graph, report_cycles, resolve_local
from orgc.tasks.model import (
    ORGANIZATION_TASK_NAME,
    RESERVED_KEYS,
    TASK_TYPES,
    Include,
    OrganizationTask,
    Project,
    StacksTask,
    Task,
)
from orgc.tasks.parameters import Supplied, TaskFile
from orgc.tasks.task_types import (
    copy_to_s3_task,
    external_task,
    organization_task,
    stacks_task,
)

if TYPE_CHECKING:
    from orgc.model import Organization
    from orgc.templates import Binding

# --- entry point --------------------------------------------------------------------------------


def load_project(
    path: Path,
    options: LoadOptions,
    diagnostics: Diagnostics,
    *,
    parameters: Mapping[str, str] | None = None,
    organization_file: Path | None = None,
    loaded: LoadedFile | None = None,
    organization: Organization | None = None,
    binding_accounts: Callable[[Binding], tuple[str, ...]] | None = None,
) -> Project | None:
    """Read the task file tree that `path` names, with `parameters` (the command line's
    `--parameter key=value`) for the top-level file.

    `path` is a task file, an organization file (a project with no tasks), or a directory: its
    task file with an update-organization task, else its organization.yml. With
    `organization_file` (--organization-file) the tasks bind against that organization file;
    a tree without an update-organization task only reads it, never applies it. `loaded` is
    the file `path` names when the caller read it already. Every problem goes to
    `diagnostics`; None is returned only when nothing usable could be read.
    """
    path = resolved(path)
    if loaded is not None:
        file = loaded
        if is_organization_data(file.data):
            return _organization_only(file.path)
    elif path.is_dir():
        found = find_task_file(path, options, diagnostics)
        if found is None:
            return None
        if isinstance(found, Path):
            return _organization_only(found)
        file = found
    else:
        loaded = load_file(path, options, diagnostics)
        if loaded is None:
            return None
        file = loaded
        if is_organization_data(file.data):
            return _organization_only(file.path)
    builder = ProjectBuilder(options, diagnostics, organization, binding_accounts)
    supplied = {
        name: Supplied(value, None, None, (), command_line=True)
        for name, value in (parameters or {}).items()
    }
    builder.add_file(file, Context(supplied=supplied, chain=(file.path,)))
    for name in sorted(set(supplied) - builder.declared_parameters):
        declared = ", ".join(sorted(builder.declared_parameters)) or "none"
        diagnostics.add(
            "E335",
            f"--parameter {name} is not declared under Parameters of any task file"
            f"{did_you_mean(name, builder.declared_parameters)}; declared: {declared}",
        )
    project = builder.finish(file.display)
    if organization_file is None:
        return project
    return _detached(project, resolved(organization_file))


def _detached(project: Project, organization_file: Path) -> Project:
    """The project with the organization file --organization-file names: the tree's own
    update-organization task reads it instead of its Template; without one, the file is read
    and never applied (a task of that name that is skipped)."""
    task = project.organization
    if task is not None:
        return replace(project, organization=replace(task, template=organization_file))
    detached = OrganizationTask(
        name=ORGANIZATION_TASK_NAME,
        type="update-organization",
        file=display_path(organization_file),
        template=organization_file,
        skip=True,
    )
    reason = "the organization file comes from --organization-file, which is read, not applied"
    return replace(
        project,
        organization=detached,
        skipped={**project.skipped, ORGANIZATION_TASK_NAME: reason},
        detached=True,
    )


def _organization_only(path: Path) -> Project:
    display = display_path(path)
    task = OrganizationTask(
        name=ORGANIZATION_TASK_NAME, type="update-organization", file=display, template=path
    )
    return Project(file=display, organization=task, tasks={}, includes={})


# --- building -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What an include hands down to the file it includes."""

    supplied: dict[str, Supplied]
    chain: tuple[Path, ...]  # the files being read, outermost first, for include cycles
    prefix: str = ""  # qualified name of the include, "" for the top-level file
    group: tuple[str, ...] = ()
    skip: bool = False
    skipped_by: str | None = None  # the include whose Skip the file's tasks inherit
    force_deploy: bool | None = None
    log_verbose: bool | None = None
    task_role_name: TargetText | None = None
    task_via_role_arn: TargetText | None = None
    templating_context: dict[str, Any] | None = None

    def qualify(self, name: str) -> str:
        return f"{self.prefix}-{name}" if self.prefix else name


class ProjectBuilder:
    """Reads a tree of task files into one project, depth first."""

    def __init__(
        self,
        options: LoadOptions,
        diagnostics: Diagnostics,
        organization: Organization | None = None,
        binding_accounts: Callable[[Binding], tuple[str, ...]] | None = None,
    ) -> None:
        self.options = options
        self.diagnostics = diagnostics
        # For what TemplatingContexts enumerate: the organization, and the accounts a binding
        # selects in it (orgc.bind, which reads the task model, so it is handed in).
        self.organization_model = organization
        self.binding_accounts = binding_accounts
        self.organization: OrganizationTask | None = None
        self.organization_owner: str | None = None  # the task that manages the organization
        self.tasks: dict[str, Task] = {}
        self.includes: dict[str, Include] = {}
        self.members: dict[str, list[str]] = {}  # include → every task below it
        self.names: dict[str, Span | None] = {}  # every qualified name taken, tasks and includes
        # Declared DependsOn of tasks and includes: (qualified target, where it was written).
        self.dependencies: dict[str, list[tuple[str, Span | None]]] = {}
        self.declared_parameters: set[str] = set()
        self.stack_name_spans: dict[str, Span | None] = {}  # update-stacks task → its StackName
        # Task or include → why it is skipped at its own word or its include's.
        self.skip_reasons: dict[str, str] = {}
        # Task or include → the mistakes that count only when it is not skipped (a file that
        # does not exist: a skipped task's template need not).
        self.deferred: dict[str, list[Diagnostic]] = {}
        self.unread_includes: list[str] = []  # includes whose file was not read (skipped)

    def add_file(self, file: LoadedFile, context: Context) -> list[str]:
        """Read one task file; the qualified names of the tasks it holds, includes flattened."""
        if not isinstance(file.data, dict):
            if file.data is not None:
                self.diagnostics.add(
                    "E320",
                    f"{file.display} is not a task file: a task file maps task names to tasks",
                    file.span(()),
                )
            return []
        if "AWSTemplateFormatVersion" in file.data:
            self.diagnostics.add(
                "E320",
                f"{file.display} is a CloudFormation template, not a task file; deploy it with "
                "an update-stacks task whose Template names it",
                Span(file.display, 1, 1),
            )
            return []
        task_file = TaskFile(self, file, context.supplied, included=bool(context.prefix))
        self.declared_parameters.update(task_file.declarations)
        # Every parameter and binding is worked out, used or not, so that each mistake shows.
        for name in task_file.declarations:
            task_file.parameter(name)
        for name in task_file.binding_data:
            task_file.named_binding(name)
        local: dict[str, str] = {}  # name in this file → qualified name
        pending: list[tuple[str, list[tuple[str, Span | None]]]] = []
        produced: list[str] = []
        for name, raw in file.data.items():
            if name in RESERVED_KEYS:
                continue
            reader = TaskReader(task_file, name, raw)
            task_type = reader.task_type()
            if task_type is None:
                continue
            qualified = context.qualify(name)
            if not self._claim(qualified, name, reader.key_span()):
                continue
            local[name] = qualified
            depends_on = reader.depends_on() if TASK_TYPES[task_type].depends_on else []
            pending.append((qualified, depends_on))
            produced.extend(_BUILDERS[task_type](self, reader, qualified, context))
            if reader.deferred:
                self.deferred[qualified] = reader.deferred
            if reader.skip_reason is not None:
                self.skip_reasons[qualified] = reader.skip_reason
        resolve_local(pending, local, self.dependencies, self.diagnostics)
        return produced

    def _claim(self, qualified: str, name: str, span: Span | None) -> bool:
        if qualified in self.names:
            first = self.names[qualified]
            taken = f"already taken by the task at {first}" if first else "already taken"
            label = (
                f"task name {name} is"
                if qualified == name
                else f"task {name} is {qualified}, a name"
            )
            self.diagnostics.add("E340", f"{label} {taken}; rename one of them", span)
            return False
        self.names[qualified] = span
        return True

    def add_task(self, task: Task) -> list[str]:
        if isinstance(task, OrganizationTask):
            self.organization = task
            return []
        self.tasks[task.name] = task
        return [task.name]

    def claim_organization(self, name: str, span: Span | None) -> bool:
        """Whether this task may manage the organization: only one task of the tree may."""
        if self.organization_owner is None:
            self.organization_owner = name
            return True
        self.diagnostics.add(
            "E328",
            f"task {name} is a second task that manages the organization after "
            f"{self.organization_owner}; a task file tree has one update-organization task, "
            "remove one",
            span,
        )
        return False

    def finish(self, display: str) -> Project:
        """Expand DependsOn, find cycles and duplicate stack names, skip what depends on a
        skipped task, and build the project."""
        graph = dependency_graph(self.tasks, self.includes, self.members, self.dependencies)
        report_cycles(graph, self.diagnostics)
        skipped = self._skipped(graph)
        organization = self.organization
        for name, deferred in self.deferred.items():
            # A skipped update-organization task's file need not exist either: the
            # organization is then read from AWS at plan time (orgc.pipeline).
            if organization is not None and organization.skip and name == organization.name:
                continue
            if name not in skipped:
                self.diagnostics.extend(deferred)
        stack_names: dict[str, str] = {}
        for task in self.tasks.values():
            if not isinstance(task, StacksTask) or not isinstance(task.stack_name, str):
                continue  # a name finished per target is checked per stack (E470)
            if task.stack_name in stack_names:
                self.diagnostics.add(
                    "E329",
                    f"StackName {task.stack_name!r} is already used by task "
                    f"{stack_names[task.stack_name]}; each update-stacks task needs its own",
                    self.stack_name_spans.get(task.name),
                )
            else:
                stack_names[task.stack_name] = task.name
        tasks = {
            name: replace(task, depends_on=tuple(sorted(graph[name])), skip=name in skipped)
            for name, task in self.tasks.items()
        }
        organization = self.organization
        if organization is not None and organization.skip:
            skipped[organization.name] = self.skip_reasons.get(organization.name, "Skip: true")
        return Project(
            file=display,
            organization=organization,
            tasks=tasks,
            includes=self.includes,
            skipped=dict(sorted(skipped.items())),
            skipped_includes=tuple(sorted(n for n in self.unread_includes if n in skipped)),
        )

    def _skipped(self, graph: Mapping[str, Mapping[str, Span | None]]) -> dict[str, str]:
        """Every skipped task and unread include, with why: its own Skip or its include's,
        else a dependency that is skipped (a skipped task's dependents are not run either, as
        OrgFormation does). The update-organization task's Skip is not handed on: it only
        leaves the organization as it is."""
        skipped = {
            name: reason
            for name, reason in self.skip_reasons.items()
            if name in self.tasks or name in self.unread_includes
        }
        unread = [name for name in self.unread_includes if name in skipped]
        dependents: dict[str, list[str]] = {}
        for name, edges in graph.items():
            for dependency in edges:
                dependents.setdefault(dependency, []).append(name)
        for name, task in self.tasks.items():
            if name in skipped:
                continue
            for owner in (*task.group, name):
                targets = [t for t, _ in self.dependencies.get(owner, []) if t in unread]
                if targets:
                    skipped[name] = f"it depends on skipped include {targets[0]}"
                    break
        queue = sorted(name for name in skipped if name in self.tasks)
        while queue:
            current = queue.pop()
            for dependent in sorted(dependents.get(current, [])):
                if dependent not in skipped:
                    skipped[dependent] = f"it depends on skipped task {current}"
                    queue.append(dependent)
        for name in self.unread_includes:
            if name in skipped:
                continue
            for target, _ in self.dependencies.get(name, []):
                hit = [t for t in (self.members.get(target) or [target]) if t in skipped]
                if hit:
                    skipped[name] = f"it depends on skipped task {hit[0]}"
                    break
        return skipped


# --- includes -----------------------------------------------------------------------------------


def _include_task(
    builder: ProjectBuilder, reader: TaskReader, name: str, context: Context
) -> list[str]:
    target = reader.local_path("Path", "file")
    max_concurrent = reader.integer("MaxConcurrentTasks", 1)
    tolerance = reader.integer("FailedTaskTolerance", 0) or 0
    supplied = _include_parameters(reader)
    templating_context = _include_templating_context(builder, reader)
    common = reader.common(context)
    if target is None:
        return []
    if reader.deferred:
        # Its file does not exist: fine while the include is skipped (its own Skip, or a
        # dependency's, known once the tree is read), a mistake otherwise.
        builder.unread_includes.append(name)
        return []
    if target in context.chain:
        chain = " → ".join(display_path(p) for p in (*context.chain, target))
        builder.diagnostics.add("E332", f"include cycle: {chain}", reader.span("Path"))
        return []
    file = load_file(
        target,
        builder.options,
        builder.diagnostics,
        templating=templating_context,
        context_from=f"the TemplatingContext of include {reader.name}",
    )
    if file is None:
        return []
    if is_organization_data(file.data):
        builder.diagnostics.add(
            "E320",
            f"{file.display} is an organization file, not a task file; name it in the Template "
            "of an update-organization task instead",
            reader.span("Path"),
        )
        return []
    builder.includes[name] = Include(
        name=name,
        file=file.display,
        max_concurrent_tasks=max_concurrent,
        failed_task_tolerance=tolerance,
        span=reader.key_span(),
    )
    declared = _declared_names(file.data)
    for key in supplied:
        if key not in declared:
            builder.diagnostics.add(
                "W321",
                f"include {reader.name} passes {key}, which {file.display} does not declare "
                f"under Parameters{did_you_mean(key, declared)}; it is ignored",
                reader.key_span("Parameters", key),
            )
    command_line = {k: v for k, v in context.supplied.items() if v.command_line}
    child = Context(
        supplied={**command_line, **supplied},
        chain=(*context.chain, target),
        prefix=name,
        group=(*context.group, name),
        skip=common["skip"],
        skipped_by=(context.skipped_by if context.skip else name) if common["skip"] else None,
        force_deploy=common["force_deploy"],
        log_verbose=common["log_verbose"],
        task_role_name=common["task_role_name"],
        task_via_role_arn=common["task_via_role_arn"],
    )
    produced = builder.add_file(file, child)
    builder.members[name] = produced
    return produced


_ENUMERATION = re.compile(r"^Fn::EnumTarget(Accounts|Regions)\s+(\S+)\s*$")


def _include_templating_context(
    builder: ProjectBuilder, reader: TaskReader
) -> dict[str, Any] | None:
    """The include's TemplatingContext, the included file is rendered with. As in OrgFormation,
    what cannot be known yet stays an expression (`| object` writes it into the file, where it
    is evaluated per target), and the text `Fn::EnumTargetAccounts Binding` (or `Regions`)
    becomes the accounts (LogicalId, AccountId, AccountName, RootEmail, Alias, Tags) or the
    regions of a binding of this file."""
    value = reader.mapping("TemplatingContext")
    if value is None:
        return None
    return cast("dict[str, Any]", _enumerations(builder, reader, value, ("TemplatingContext",)))


def _enumerations(builder: ProjectBuilder, reader: TaskReader, value: Any, at: DataPath) -> Any:
    if isinstance(value, dict):
        return {k: _enumerations(builder, reader, v, (*at, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_enumerations(builder, reader, v, (*at, i)) for i, v in enumerate(value)]
    match = _ENUMERATION.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    kind, name = match.groups()
    task_file = reader.task_file
    binding = task_file.named_binding(name) if name in task_file.binding_data else None
    if binding is None:
        known = ", ".join(sorted(task_file.binding_data)) or "none"
        builder.diagnostics.add(
            "E357",
            f"Fn::EnumTarget{kind} {name} names no binding of this file's OrganizationBindings"
            f"{did_you_mean(name, task_file.binding_data)}; declared: {known}",
            reader.span(*(str(part) for part in at)),
        )
        return []
    if kind == "Regions":
        return list(binding.regions)
    organization = builder.organization_model
    if organization is None or builder.binding_accounts is None:
        return []
    found = []
    for logical_id in builder.binding_accounts(binding):
        account = organization.accounts[logical_id]
        found.append(
            {
                "LogicalId": logical_id,
                "AccountId": account.account_id,
                "AccountName": account.name,
                "RootEmail": account.email,
                "Alias": account.alias,
                "Tags": dict(account.tags),
            }
        )
    return found


def _declared_names(data: Any) -> list[str]:
    section = data.get("Parameters") if isinstance(data, dict) else None
    return list(section) if isinstance(section, dict) else []


def _include_parameters(reader: TaskReader) -> dict[str, Supplied]:
    raw = reader.raw.get("Parameters")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or is_expression(raw):
        reader.wrong("Parameters", "a mapping of parameter names to values", raw)
        return {}
    task_file = reader.task_file
    supplied: dict[str, Supplied] = {}
    for key, value in raw.items():
        path: DataPath = (reader.name, "Parameters", key)
        supplied[key] = Supplied(
            task_file.evaluate(value, path),
            reader.file.span(path),
            reader.file,
            path,
            task_file.binding_reference(value, path, report=False),
        )
    return supplied


_BUILDERS: dict[str, Callable[[ProjectBuilder, TaskReader, str, Context], list[str]]] = {
    "update-organization": organization_task,
    "update-stacks": stacks_task,
    "include": _include_task,
    "copy-to-s3": copy_to_s3_task,
    "update-cdk": external_task,
    "update-serverless.com": external_task,
    "apply-tf": external_task,
    "register-type": external_task,
    "annotate-organization": external_task,
}
