"""Stage 3 (model), task files: the tasks of an OrgFormation task file tree, checked and typed.

A task file maps task names to tasks (`update-organization`, `update-stacks`, `include`,
`copy-to-s3`, and tool chains orgc does not run). Includes are flattened: a child task is named
`<Include>-<Task>` and its `DependsOn` names are qualified the same way. Task-file expressions
(`!Ref` of a parameter, `!Sub`, `!Join`, `!Select`, `!FindInMap`) are evaluated here once their
arguments are known; expressions that need a target (`!GetAtt CurrentAccount.X`, `!CopyValue`,
`!Ref` of an account) are kept for the render stage.

`load_project` is the entry point. It reports every mistake to the diagnostics collector and
returns whatever could be built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.intrinsics import (
    ARGUMENT,
    MAPPING,
    SUB_VARIABLE,
    Scope,
    describe,
    evaluate,
    is_expression,
    is_known,
    to_text,
)
from orgc.load import DataPath, LoadedFile, LoadOptions, display_path, load_file
from orgc.templates import Binding, parse_binding


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    name: str  # qualified: "Include-Task" for a task of an included file
    type: str  # as written: "update-stacks", "copy-to-s3", ...
    file: str  # the task file, as diagnostics name it
    depends_on: tuple[str, ...] = ()  # qualified task names, each known to exist, sorted
    skip: bool = False  # its own Skip, or that of an enclosing include
    force_deploy: bool = False
    log_verbose: bool = False
    task_role_name: str | None = None
    task_via_role_arn: str | None = None
    # Include chain, outermost first: the qualified names of the includes that enclose the
    # task, whose MaxConcurrentTasks and FailedTaskTolerance apply to it. A task of the
    # top-level file has none.
    group: tuple[str, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationTask(Task):
    template: Path  # absolute path of the organization file
    templating_context: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StacksTask(Task):
    template: Path  # absolute path of the template file
    template_span: Span | None = field(default=None, compare=False, repr=False)
    stack_name: str
    stack_description: str | None = None
    # Values for the template's Parameters: evaluated where possible; expressions that need a
    # target (CurrentAccount, accounts' ids, !CopyValue) left in their long form.
    parameters: dict[str, Any] = field(default_factory=dict)
    default_binding: Binding | None = None  # task-level DefaultOrganizationBinding
    default_regions: tuple[str, ...] | None = None  # task-level DefaultOrganizationBindingRegion
    bindings: dict[str, Binding] = field(default_factory=dict)  # task-level OrganizationBindings
    termination_protection: bool = False
    update_protection: bool = False
    stack_policy: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    cloudformation_role_name: str | None = None
    max_concurrent_stacks: int | None = None  # None: only the overall limit applies
    failed_stack_tolerance: int = 0
    disable_stack_rollbacks: bool = False
    templating_context: dict[str, Any] | None = None  # its own, or its include's
    deployment_mode: str = "Stacks"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyToS3Task(Task):
    local_path: Path  # absolute; a directory when zip_before_put
    # s3://bucket/key. When `remote_path_needs_target` is set it is an Fn::Sub template whose
    # ${...} variables name values of the target (`${AWS::AccountId}`, `${CurrentAccount}`).
    remote_path: str
    remote_path_needs_target: bool = False
    zip_before_put: bool = False
    binding: Binding | None = None
    server_side_encryption: str | None = None  # "AES256" or "aws:kms"
    templating_context: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalTask(Task):
    """A task of a tool chain orgc does not run (CDK, Serverless, Terraform, ...): validated,
    reported, and left alone."""

    # Its own attributes as written, evaluated; `Path` as an absolute Path and
    # `OrganizationBinding` as a Binding.
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Include:
    name: str  # qualified name of the include task
    file: str  # the included file, as diagnostics name it
    max_concurrent_tasks: int | None = None
    failed_task_tolerance: int = 0
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Project:
    """Everything a task file tree asks for."""

    file: str  # the top-level task file, as diagnostics name it
    organization: OrganizationTask | None
    tasks: dict[str, Task]  # every task but update-organization, by qualified name
    includes: dict[str, Include]  # by qualified include name


# --- the format -----------------------------------------------------------------------------

RESERVED_KEYS = ("Parameters", "Mappings", "OrganizationBindings", "Definitions")
COMMON_ATTRIBUTES = (
    "Type",
    "DependsOn",
    "Skip",
    "TaskRoleName",
    "TaskViaRoleArn",
    "ForceDeploy",
    "LogVerbose",
)
PARAMETER_TYPES = (
    "String",
    "Number",
    "Boolean",
    "List<String>",
    "List<Number>",
    "CommaDelimitedList",
    "OrganizationBinding",
)
_PARAMETER_ATTRIBUTES = ("Type", "Default", "Description", "AllowedValues")
# The name orgc gives the update-organization task of a project that is only an organization
# file: the name OrgFormation's own examples use.
ORGANIZATION_TASK_NAME = "OrganizationUpdate"


@dataclass(frozen=True, slots=True)
class TaskType:
    attributes: tuple[str, ...]  # its own, besides COMMON_ATTRIBUTES (DependsOn excepted)
    required: tuple[str, ...] = ()
    # For task types orgc does not run: what to do instead, for the warning.
    instead: str | None = None
    depends_on: bool = True  # whether DependsOn is allowed


_PLUGIN = ("OrganizationBinding", "MaxConcurrentTasks", "FailedTaskTolerance")
_WORKLOAD = (
    "Path",
    "Parameters",
    "IgnoreFileChanges",
    "CustomDeployCommand",
    "CustomRemoveCommand",
)

TASK_TYPES: dict[str, TaskType] = {
    "update-organization": TaskType(("Template", "TemplatingContext"), ("Template",), None, False),
    "update-stacks": TaskType(
        (
            "Template",
            "StackName",
            "StackDescription",
            "Parameters",
            "DefaultOrganizationBinding",
            "DefaultOrganizationBindingRegion",
            "OrganizationBindings",
            "OrganizationBinding",
            "OrganizationBindingRegion",
            "OrganizationFile",
            "TerminationProtection",
            "UpdateProtection",
            "StackPolicy",
            "Tags",
            "CloudFormationRoleName",
            "MaxConcurrentStacks",
            "FailedStackTolerance",
            "DisableStackRollbacks",
            "TemplatingContext",
            "DeploymentMode",
        ),
        ("Template", "StackName"),
    ),
    "include": TaskType(
        ("Path", "Parameters", "MaxConcurrentTasks", "FailedTaskTolerance", "TemplatingContext"),
        ("Path",),
    ),
    "copy-to-s3": TaskType(
        (
            "LocalPath",
            "RemotePath",
            "ZipBeforePut",
            "OrganizationBinding",
            "ServerSideEncryption",
            "TemplatingContext",
        ),
        ("LocalPath", "RemotePath", "OrganizationBinding"),
    ),
    "update-cdk": TaskType(
        (
            *_WORKLOAD,
            *_PLUGIN,
            "RunNpmInstall",
            "RunNpmBuild",
            "AdditionalCdkArguments",
            "InstallCommand",
        ),
        ("Path", "OrganizationBinding"),
        "deploy it with the CDK (cdk deploy) separately",
    ),
    "update-serverless.com": TaskType(
        (
            *_WORKLOAD,
            *_PLUGIN,
            "Config",
            "Stage",
            "SLSVersion",
            "RunNpmInstall",
            "AdditionalSlsArguments",
            "InstallCommand",
        ),
        ("Path", "OrganizationBinding"),
        "deploy it with the Serverless Framework (serverless deploy) separately",
    ),
    "apply-tf": TaskType(
        (*_WORKLOAD, *_PLUGIN, "BackendConfig", "CustomInitCommand"),
        ("Path", "OrganizationBinding"),
        "apply it with Terraform (terraform apply) separately",
    ),
    "register-type": TaskType(
        (*_PLUGIN, "ResourceType", "SchemaHandlerPackage", "ExecutionRole"),
        ("ResourceType", "SchemaHandlerPackage", "OrganizationBinding"),
        "register the type separately, e.g. with an AWS::CloudFormation::ResourceVersion resource",
    ),
    "annotate-organization": TaskType(
        (
            "DefaultOrganizationAccessRoleName",
            "ExcludeAccounts",
            "AccountMapping",
            "OrganizationalUnitMapping",
        ),
        (),
        "declare the organization in an organization file and use an update-organization task",
        False,
    ),
}
_REQUIRED_HINTS = {
    "Template": "the path of the file, relative to this task file",
    "StackName": "the name its stacks get in every account",
    "Path": "the path it works on, relative to this task file",
    "LocalPath": "the file to upload, relative to this task file",
    "RemotePath": "s3://bucket/key",
    "OrganizationBinding": "a binding of the accounts and regions it targets",
    "ResourceType": "the type name, e.g. Community::Service::Resource",
    "SchemaHandlerPackage": "s3://bucket/handler.zip",
}
# The diagnostic code of each kind of problem that evaluating an expression finds.
_PROBLEM_CODES = {MAPPING: "E337", ARGUMENT: "E338"}
_DEPLOYMENT_MODES = ("Stacks", "StackSet")
_ENCRYPTIONS = ("AES256", "aws:kms")


# --- entry point ----------------------------------------------------------------------------


def load_project(
    path: Path,
    options: LoadOptions,
    diagnostics: Diagnostics,
    *,
    parameters: Mapping[str, str] | None = None,
) -> Project | None:
    """Read the task file tree that `path` names, with `parameters` (the command line's
    `--parameter key=value`) for the top-level file.

    `path` is a task file, an organization file (a project with no tasks), or a directory: its
    task file with an update-organization task, else its organization.yml. Every problem goes
    to `diagnostics`; None is returned only when nothing usable could be read.
    """
    path = path.resolve()
    if path.is_dir():
        found = _pick_from_directory(path, options, diagnostics)
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
        if _is_organization_file(file.data):
            return _organization_only(file.path)
    builder = _ProjectBuilder(options, diagnostics)
    supplied = {
        name: _Supplied(value, None, None, (), command_line=True)
        for name, value in (parameters or {}).items()
    }
    builder.add_file(file, _Context(supplied=supplied, chain=(file.path,)))
    for name in sorted(set(supplied) - builder.declared_parameters):
        declared = ", ".join(sorted(builder.declared_parameters)) or "none"
        diagnostics.add(
            "E335",
            f"--parameter {name} is not declared under Parameters of any task file"
            f"{did_you_mean(name, builder.declared_parameters)}; declared: {declared}",
        )
    return builder.finish(file.display)


def _organization_only(path: Path) -> Project:
    display = display_path(path)
    task = OrganizationTask(
        name=ORGANIZATION_TASK_NAME, type="update-organization", file=display, template=path
    )
    return Project(file=display, organization=task, tasks={}, includes={})


def _pick_from_directory(
    directory: Path, options: LoadOptions, diagnostics: Diagnostics
) -> LoadedFile | Path | None:
    """The directory's task file with an update-organization task, as load_organization picks
    it; else the path of its organization.yml."""
    for candidate in sorted(
        p for p in directory.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file()
    ):
        try:
            if "update-organization" not in candidate.read_text(encoding="utf-8"):
                continue
        except (OSError, UnicodeDecodeError):
            continue
        # Files that turn out not to be the task file say nothing about the project.
        probe = Diagnostics()
        file = load_file(candidate, options, probe)
        if file is not None and _has_organization_task(file.data):
            diagnostics.extend(probe)
            return file
    for name in ("organization.yml", "organization.yaml"):
        if (directory / name).is_file():
            return directory / name
    diagnostics.add(
        "E110",
        f"{display_path(directory)} holds no task file with an update-organization task and "
        "no organization.yml",
    )
    return None


def _is_organization_file(data: Any) -> bool:
    """Whether `data` has an Organization section (and not a task that happens to be named
    Organization)."""
    if not isinstance(data, dict) or "Organization" not in data:
        return False
    section = data["Organization"]
    return not (isinstance(section, dict) and section.get("Type") in TASK_TYPES)


def _has_organization_task(data: Any) -> bool:
    if not isinstance(data, dict) or "AWSTemplateFormatVersion" in data:
        return False
    return any(
        isinstance(task, dict) and task.get("Type") == "update-organization"
        for name, task in data.items()
        if name not in RESERVED_KEYS
    )


# --- building -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Supplied:
    """A value given to a parameter from outside its file, or its Default."""

    value: Any
    span: Span | None  # where it was written; None for the command line
    file: LoadedFile | None  # the file it was written in, for a binding's positions
    path: DataPath
    binding: Binding | None = None  # when it is !Ref of a binding where it was written
    command_line: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    """What an include hands down to the file it includes."""

    supplied: dict[str, _Supplied]
    chain: tuple[Path, ...]  # the files being read, outermost first, for include cycles
    prefix: str = ""  # qualified name of the include, "" for the top-level file
    group: tuple[str, ...] = ()
    skip: bool = False
    force_deploy: bool | None = None
    log_verbose: bool | None = None
    task_role_name: str | None = None
    task_via_role_arn: str | None = None
    templating_context: dict[str, Any] | None = None

    def qualify(self, name: str) -> str:
        return f"{self.prefix}-{name}" if self.prefix else name


@dataclass(frozen=True, slots=True)
class _Parameter:
    type: str
    value: Any
    binding: Binding | None = None


class _ProjectBuilder:
    """Reads a tree of task files into one project, depth first."""

    def __init__(self, options: LoadOptions, diagnostics: Diagnostics) -> None:
        self.options = options
        self.diagnostics = diagnostics
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

    def add_file(self, file: LoadedFile, context: _Context) -> list[str]:
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
        task_file = _TaskFile(self, file, context.supplied, included=bool(context.prefix))
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
            reader = _TaskReader(task_file, name, raw)
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
        for qualified, depends_on in pending:
            resolved = self.dependencies.setdefault(qualified, [])
            for target, span in depends_on:
                if target in local:
                    resolved.append((local[target], span))
                else:
                    self.diagnostics.add(
                        "E330",
                        f"DependsOn names {target!r}, which is not a task of this file"
                        f"{did_you_mean(target, local)}",
                        span,
                    )
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
        """Expand DependsOn, find cycles and duplicate stack names, and build the project."""
        graph: dict[str, dict[str, Span | None]] = {}
        for name, task in self.tasks.items():
            edges: dict[str, Span | None] = {}
            for owner in (*task.group, name):
                for target, span in self.dependencies.get(owner, []):
                    for dependency in self._expand(target):
                        edges.setdefault(dependency, span)
            graph[name] = edges
        for cycle in _cycles({name: sorted(edges) for name, edges in graph.items()}):
            self.diagnostics.add(
                "E331",
                f"DependsOn makes a cycle: {' → '.join(cycle)}; remove one of these dependencies",
                graph[cycle[0]][cycle[1]],
            )
        stack_names: dict[str, str] = {}
        for task in self.tasks.values():
            if not isinstance(task, StacksTask):
                continue
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
            name: replace(task, depends_on=tuple(sorted(graph[name])))
            for name, task in self.tasks.items()
        }
        return Project(
            file=display, organization=self.organization, tasks=tasks, includes=self.includes
        )

    def _expand(self, target: str) -> list[str]:
        if target in self.includes:
            return self.members.get(target, [])
        if target in self.tasks:
            return [target]
        return []  # the update-organization task: every task follows it anyway


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


# --- one file -------------------------------------------------------------------------------


class _TaskFile(Mapping[str, Any]):
    """One task file as its tasks see it: its parameters with their values, its named bindings
    and its mappings. As a Mapping it is what `!Ref Name` and `${Name}` mean in the file:
    values are worked out on first use, so a Default may use another parameter."""

    def __init__(
        self,
        builder: _ProjectBuilder,
        file: LoadedFile,
        supplied: dict[str, _Supplied],
        *,
        included: bool,
    ) -> None:
        self.builder = builder
        self.included = included
        self.diagnostics = builder.diagnostics
        self.file = file
        self.supplied = supplied
        self.declarations = self._declarations()
        self.binding_data = self._binding_data()
        mappings = file.data.get("Mappings")
        if mappings is not None and not isinstance(mappings, dict):
            self.diagnostics.add(
                "E324", "Mappings must map map names to mappings of keys", self.span(("Mappings",))
            )
        self.scope = Scope(values=self, mappings=mappings if isinstance(mappings, dict) else {})
        self._parameters: dict[str, _Parameter | None] = {}
        self._bindings: dict[str, Binding | None] = {}
        self._resolving: list[str] = []

    # positions

    def span(self, path: DataPath) -> Span | None:
        return self.file.span(path)

    def key_span(self, path: DataPath) -> Span | None:
        return self.file.source_map.key_span(path)

    # the scope of expressions

    def __getitem__(self, name: str) -> Any:
        if name in self.declarations:
            parameter = self.parameter(name)
            if parameter is None:
                raise KeyError(name)
            return parameter.value
        if name in self.binding_data:
            if name in self._resolving:
                raise KeyError(name)
            self._resolving.append(name)
            try:
                return self.evaluate(self.binding_data[name], ("OrganizationBindings", name))
            finally:
                self._resolving.pop()
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([*self.declarations, *self.binding_data])

    def __len__(self) -> int:
        return len(self.declarations) + len(self.binding_data)

    def evaluate(self, value: Any, path: DataPath) -> Any:
        """`value`, written at `path` of this file, with every expression evaluated that can be."""
        result, problems = evaluate(value, self.scope, path)
        for problem in problems:
            self.diagnostics.add(
                _PROBLEM_CODES[problem.kind], problem.message, self.span(problem.path)
            )
        return result

    # parameters

    def _declarations(self) -> dict[str, str]:
        """Parameter name → Type, for the declarations that are well formed."""
        section = self.file.data.get("Parameters")
        if section is None:
            return {}
        if not isinstance(section, dict):
            self.diagnostics.add(
                "E333",
                "Parameters must map parameter names to declarations with a Type",
                self.span(("Parameters",)),
            )
            return {}
        declared: dict[str, str] = {}
        for name, declaration in section.items():
            path: DataPath = ("Parameters", name)
            if not isinstance(declaration, dict):
                self.diagnostics.add(
                    "E333",
                    f"parameter {name} must be a mapping with a Type (String, Number, ...)",
                    self.key_span(path),
                )
                continue
            for key in declaration:
                if key not in _PARAMETER_ATTRIBUTES:
                    self.diagnostics.add(
                        "E333",
                        f"{key} is not an attribute of a parameter"
                        f"{did_you_mean(key, _PARAMETER_ATTRIBUTES)}; a parameter takes "
                        f"{', '.join(_PARAMETER_ATTRIBUTES)}",
                        self.key_span((*path, key)),
                    )
            kind = declaration.get("Type")
            if kind is None:
                self.diagnostics.add(
                    "E333",
                    f"parameter {name} has no Type; add Type: String (or "
                    f"{', '.join(PARAMETER_TYPES[1:])})",
                    self.key_span(path),
                )
                continue
            if kind not in PARAMETER_TYPES:
                self.diagnostics.add(
                    "E333",
                    f"parameter {name} has the unknown Type {kind!r}"
                    f"{did_you_mean(str(kind), PARAMETER_TYPES)}; use one of "
                    f"{', '.join(PARAMETER_TYPES)}",
                    self.span((*path, "Type")),
                )
                continue
            allowed = declaration.get("AllowedValues")
            if allowed is not None and not isinstance(allowed, list):
                self.diagnostics.add(
                    "E333",
                    f"AllowedValues of parameter {name} must be a list",
                    self.span((*path, "AllowedValues")),
                )
            declared[name] = kind
        return declared

    def parameter(self, name: str) -> _Parameter | None:
        """The parameter's value, worked out once; None when it has none (already reported)."""
        if name in self._parameters:
            return self._parameters[name]
        if name in self._resolving:
            loop = [*self._resolving[self._resolving.index(name) :], name]
            self.diagnostics.add(
                "E338",
                f"the Default of parameter {loop[-2]} refers back to it: {' → '.join(loop)}",
                self.span(("Parameters", loop[-2], "Default")),
            )
            return None
        self._resolving.append(name)
        try:
            result = self._resolve(name)
        finally:
            self._resolving.pop()
        self._parameters[name] = result
        return result

    def _resolve(self, name: str) -> _Parameter | None:
        kind = self.declarations[name]
        path: DataPath = ("Parameters", name)
        declaration = self.file.data["Parameters"][name]
        if name in self.supplied:
            origin = self.supplied[name]
        elif declaration.get("Default") is not None:
            raw = declaration["Default"]
            default_path = (*path, "Default")
            origin = _Supplied(
                self.evaluate(raw, default_path),
                self.span(default_path),
                self.file,
                default_path,
                self.binding_reference(raw, default_path, report=False),
            )
        else:
            where = (
                "a value in the Parameters of the include"
                if self.included
                else f"pass --parameter {name}=<value>"
            )
            self.diagnostics.add(
                "E334",
                f"parameter {name} has no value; give it a Default or {where}",
                self.key_span(path),
            )
            return None
        parameter = self._typed(name, kind, origin)
        if parameter is not None:
            self._check_allowed(name, declaration.get("AllowedValues"), parameter.value, origin)
        return parameter

    def _typed(self, name: str, kind: str, origin: _Supplied) -> _Parameter | None:
        value = origin.value
        shown = f"--parameter {name}={value}" if origin.command_line else f"{value!r}"
        where = origin.span or self.key_span(("Parameters", name))

        def wrong(expected: str) -> None:
            self.diagnostics.add(
                "E336",
                f"parameter {name} is of Type {kind}, but {shown} is not {expected}",
                where,
            )

        if kind == "OrganizationBinding":
            if origin.binding is not None:
                return _Parameter(kind, value, origin.binding)
            if isinstance(value, dict) and not is_expression(value) and origin.file is not None:
                binding = parse_binding(value, origin.path, origin.file, self.diagnostics)
                return _Parameter(kind, value, binding)
            wrong("a binding (Account, OrganizationalUnit, Region, ...)")
            return None
        if not is_known(value):
            return _Parameter(kind, value)  # known per target only: checked by the render stage
        converted = _convert(kind, value)
        if converted is _WRONG:
            wrong(_EXPECTED[kind])
            return None
        if converted is _SHAPE:
            self.diagnostics.add(
                "W323",
                f"parameter {name} is a String, but its value is a "
                f"{'list' if isinstance(value, list) else 'mapping'}; declare it List<String> "
                "if a list is meant",
                where,
            )
            return _Parameter(kind, value)
        return _Parameter(kind, converted)

    def _check_allowed(self, name: str, allowed: Any, value: Any, origin: _Supplied) -> None:
        if not isinstance(allowed, list) or not is_known(value):
            return
        texts = [to_text(item) for item in allowed]
        for item in value if isinstance(value, list) else [value]:
            if to_text(item) not in texts:
                self.diagnostics.add(
                    "E336",
                    f"parameter {name} must be one of {', '.join(texts)}, not {to_text(item)!r}",
                    origin.span or self.key_span(("Parameters", name)),
                )
                return

    # bindings

    def _binding_data(self) -> dict[str, Any]:
        section = self.file.data.get("OrganizationBindings")
        if section is None:
            return {}
        if not isinstance(section, dict):
            self.diagnostics.add(
                "E324",
                "OrganizationBindings must map binding names to bindings",
                self.span(("OrganizationBindings",)),
            )
            return {}
        found: dict[str, Any] = {}
        for name, value in section.items():
            if name in self.declarations:
                self.diagnostics.add(
                    "E341",
                    f"{name} is both a parameter and an organization binding of this file; "
                    "rename one of them",
                    self.key_span(("OrganizationBindings", name)),
                )
                continue
            found[name] = value
        return found

    def named_binding(self, name: str) -> Binding | None:
        """A binding of this file's OrganizationBindings, parsed once."""
        if name not in self._bindings:
            self._bindings[name] = None  # a binding that refers to itself finds nothing
            path: DataPath = ("OrganizationBindings", name)
            raw = self.binding_data[name]
            self._bindings[name] = self.binding(raw, path)
        return self._bindings[name]

    def binding_reference(self, raw: Any, path: DataPath, *, report: bool = True) -> Binding | None:
        """The binding that `!Ref Name` at `path` names: a named binding of this file or a
        parameter of Type OrganizationBinding. None when `raw` is not such a reference."""
        if not (is_expression(raw) and isinstance(raw.get("Ref"), str)):
            return None
        name = raw["Ref"]
        if name in self.binding_data:
            return self.named_binding(name)
        if self.declarations.get(name) == "OrganizationBinding":
            parameter = self.parameter(name)
            return parameter.binding if parameter else None
        if report:
            bindings = [*self.binding_data] + [
                n for n, kind in self.declarations.items() if kind == "OrganizationBinding"
            ]
            self.diagnostics.add(
                "E339",
                f"!Ref {name} names no organization binding of this file"
                f"{did_you_mean(name, bindings)}; declare it under OrganizationBindings or as "
                "a parameter of Type OrganizationBinding",
                self.span((*path, "Ref")),
            )
        return None

    def binding(self, raw: Any, path: DataPath) -> Binding | None:
        """The binding written at `path`: a mapping, or !Ref of a named one."""
        if is_expression(raw) and "Ref" in raw:
            return self.binding_reference(raw, path)
        return parse_binding(self.evaluate(raw, path), path, self.file, self.diagnostics)


_WRONG = object()  # a parameter value that does not fit its Type
_SHAPE = object()  # a String parameter given a list or mapping (OrgFormation passes it on)
_EXPECTED = {
    "String": "text",
    "Number": "a number",
    "Boolean": "true or false",
    "List<String>": "a list of text or comma-separated text",
    "List<Number>": "a list of numbers or comma-separated numbers",
    "CommaDelimitedList": "comma-separated text or a list of text",
}


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return _WRONG
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
    return _WRONG


def _convert(kind: str, value: Any) -> Any:
    """A known parameter value converted to its Type: _WRONG or _SHAPE when it does not fit."""
    if kind == "String":
        if isinstance(value, (dict, list)):
            return _SHAPE
        return None if value is None else to_text(value)
    if kind == "Number":
        return _number(value)
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return _WRONG
    items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or any(i is None or isinstance(i, (dict, list)) for i in items):
        return _WRONG
    if kind == "List<Number>":
        numbers = [_number(item) for item in items]
        return _WRONG if any(n is _WRONG for n in numbers) else numbers
    return [to_text(item) for item in items]


# --- one task -------------------------------------------------------------------------------


class _TaskReader:
    """The attributes of one task, each read at most once, every mistake reported."""

    def __init__(self, task_file: _TaskFile, name: str, raw: Any) -> None:
        self.task_file = task_file
        self.file = task_file.file
        self.diagnostics = task_file.diagnostics
        self.name = name
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        self.type = ""
        self._raw_is_mapping = isinstance(raw, dict)
        self._values: dict[str, Any] = {}

    def span(self, *keys: str) -> Span | None:
        """Where the value at `keys` below the task was written."""
        return self.file.span((self.name, *keys))

    def key_span(self, *keys: str) -> Span | None:
        """Where the key of `keys` below the task (or the task's own name) was written."""
        return self.file.source_map.key_span((self.name, *keys))

    def task_type(self) -> str | None:
        """The task's Type when it is one orgc knows, with its attributes checked."""
        if not self._raw_is_mapping:
            self.diagnostics.add(
                "E324",
                f"task {self.name} must be a mapping with a Type and its attributes",
                self.key_span(),
            )
            return None
        kind = self.raw.get("Type")
        if kind is None:
            self.diagnostics.add(
                "E323",
                f"task {self.name} has no Type; add Type: update-stacks (or another task type)",
                self.key_span(),
            )
            return None
        if not isinstance(kind, str) or kind not in TASK_TYPES:
            self.diagnostics.add(
                "E321",
                f"unknown task type {kind!r}{did_you_mean(str(kind), TASK_TYPES)}; orgc knows "
                f"{', '.join(TASK_TYPES)}",
                self.span("Type"),
            )
            return None
        self.type = kind
        spec = TASK_TYPES[kind]
        allowed = [
            *(a for a in COMMON_ATTRIBUTES if spec.depends_on or a != "DependsOn"),
            *spec.attributes,
        ]
        for key in self.raw:
            if key not in allowed:
                self.diagnostics.add(
                    "E322",
                    f"{key} is not an attribute of {kind} tasks{did_you_mean(key, allowed)}",
                    self.key_span(key),
                )
        for key in spec.required:
            if self.raw.get(key) is None:
                self.diagnostics.add(
                    "E323",
                    f"task {self.name} has no {key}; add {key}: <{_REQUIRED_HINTS[key]}>",
                    self.key_span(),
                )
        if spec.instead is not None:
            self.diagnostics.add(
                "W320",
                f"orgc does not run {kind} tasks and leaves {self.name} alone; {spec.instead}",
                self.span("Type"),
            )
        return kind

    # values

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def value(self, key: str) -> Any:
        """The attribute evaluated, or None when it is not given."""
        if key not in self._values:
            raw = self.raw.get(key)
            self._values[key] = (
                None if raw is None else self.task_file.evaluate(raw, (self.name, key))
            )
        return self._values[key]

    def known(self, key: str, value: Any, path: DataPath | None = None) -> bool:
        """Whether `value` is fully evaluated; reported when it is not (`key` names it in the
        message, `path` is where it was written when it is not the attribute itself)."""
        if is_known(value):
            return True
        unknown = next(_expressions(value))
        if _names_in(unknown) & set(self.task_file.declarations):
            return False  # a parameter without a value: reported where it is declared
        hint = ""
        if is_expression(unknown) and isinstance(unknown.get("Ref"), str):
            hint = did_you_mean(unknown["Ref"], self.task_file.declarations)
        self.diagnostics.add(
            "E342",
            f"{key} of task {self.name} must be known before deployment, but "
            f"{describe(unknown)} is not{hint}",
            self.file.span(path) if path else self.span(key),
        )
        return False

    def wrong(self, key: str, expected: str, value: Any, path: DataPath | None = None) -> None:
        shown = f"{value!r}" if not isinstance(value, (dict, list)) else type(value).__name__
        shown = {"dict": "a mapping", "list": "a list"}.get(shown, shown)
        self.diagnostics.add(
            "E324",
            f"{key} of task {self.name} must be {expected}, not {shown}",
            self.file.span(path) if path else self.span(key),
        )

    def string(self, key: str) -> str | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return to_text(value)
        if not isinstance(value, str):
            self.wrong(key, "text", value)
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(key)
        if value is not None and value not in choices:
            self.diagnostics.add(
                "E325",
                f"{key} of task {self.name} must be {' or '.join(choices)}, not {value!r}"
                f"{did_you_mean(value, choices)}",
                self.span(key),
            )
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.wrong(key, "true or false", value)
            return None
        return value

    def integer(self, key: str, minimum: int) -> int | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong(key, "a whole number", value)
            return None
        if value < minimum:
            self.diagnostics.add(
                "E325",
                f"{key} of task {self.name} must be at least {minimum}, not {value}",
                self.span(key),
            )
            return None
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        """A mapping attribute; its values may still hold expressions."""
        value = self.value(key)
        if value is None:
            return None
        if not isinstance(value, dict) or is_expression(value):
            self.wrong(key, "a mapping", value)
            return None
        return value

    def regions(self, key: str) -> tuple[str, ...] | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        regions = [value] if isinstance(value, str) else value
        if not isinstance(regions, list):
            self.wrong(key, "a region or a list of regions", value)
            return None
        for index, region in enumerate(regions):
            if not isinstance(region, str) or not region:
                self.diagnostics.add(
                    "E324",
                    f"{key} of task {self.name} lists regions, and {region!r} is not one",
                    self.file.span((self.name, key, index)),
                )
                return None
        return tuple(dict.fromkeys(regions))

    def local_path(self, key: str, kind: Literal["file", "directory", "any"]) -> Path | None:
        """A path attribute, relative to the task file: checked to exist inside the project."""
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if not isinstance(value, str) or not value.strip():
            self.wrong(key, "a path relative to this file", value)
            return None
        if value.startswith(("s3://", "http://", "https://")):
            self.diagnostics.add(
                "E325",
                f"{key} of task {self.name} is {value!r}; orgc reads it from the project only: "
                "download it into the project and give its path",
                self.span(key),
            )
            return None
        target = (self.file.path.parent / value).resolve()
        if not target.is_relative_to(self.task_file.builder.options.root.resolve()):
            self.diagnostics.add(
                "E327",
                f"{key} {value!r} of task {self.name} leads outside the project root; keep "
                "every file the tasks use inside the project",
                self.span(key),
            )
            return None
        if not target.exists():
            self.diagnostics.add(
                "E326",
                f"{key} {value!r} of task {self.name} does not exist: no "
                f"{'file or directory' if kind == 'any' else kind} {display_path(target)} "
                f"(paths are relative to {self.file.display})",
                self.span(key),
            )
            return None
        if (kind == "file" and not target.is_file()) or (kind == "directory" and target.is_file()):
            other = "directory" if kind == "file" else "file"
            self.diagnostics.add(
                "E326",
                f"{key} {value!r} of task {self.name} is a {other}; {key} names a {kind}",
                self.span(key),
            )
            return None
        return target

    def binding(self, key: str) -> Binding | None:
        raw = self.raw.get(key)
        if raw is None:
            return None
        return self.task_file.binding(raw, (self.name, key))

    def bindings(self, key: str) -> dict[str, Binding]:
        raw = self.raw.get(key)
        if raw is None:
            return {}
        if not isinstance(raw, dict) or is_expression(raw):
            self.wrong(key, "a mapping of binding names to bindings", raw)
            return {}
        found: dict[str, Binding] = {}
        for name, item in raw.items():
            binding = self.task_file.binding(item, (self.name, key, name))
            if binding is not None:
                found[name] = binding
        return found

    def depends_on(self) -> list[tuple[str, Span | None]]:
        """The names DependsOn lists, with where each was written."""
        value = self.value("DependsOn")
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        names: list[tuple[str, Span | None]] = []
        for index, item in enumerate(items):
            path = (self.name, "DependsOn", index) if isinstance(value, list) else None
            span = self.file.span(path) if path else self.span("DependsOn")
            if not isinstance(item, str) or not item:
                self.diagnostics.add(
                    "E324",
                    f"DependsOn of task {self.name} lists task names of this file, not "
                    f"{describe(item) if is_expression(item) else repr(item)}",
                    span,
                )
                continue
            names.append((item, span))
        return names

    def templating_context(self) -> dict[str, Any] | None:
        value = self.mapping("TemplatingContext")
        if value is not None:
            self.known("TemplatingContext", value)
        return value

    def common(self, context: _Context) -> dict[str, Any]:
        """The attributes every task has, with what its includes hand down."""
        force_deploy = self.boolean("ForceDeploy")
        log_verbose = self.boolean("LogVerbose")
        return {
            "type": self.type,
            "file": self.file.display,
            "skip": bool(self.boolean("Skip")) or context.skip,
            "force_deploy": bool(context.force_deploy if force_deploy is None else force_deploy),
            "log_verbose": bool(context.log_verbose if log_verbose is None else log_verbose),
            "task_role_name": self.string("TaskRoleName") or context.task_role_name,
            "task_via_role_arn": self.string("TaskViaRoleArn") or context.task_via_role_arn,
            "group": context.group,
            "span": self.key_span(),
        }


def _names_in(expression: Any) -> set[str]:
    """The names an unevaluated expression refers to: !Ref targets, !GetAtt resources, the
    variables of !Sub templates."""
    names: set[str] = set()
    if isinstance(expression, dict):
        for key, argument in expression.items():
            if key == "Ref" and isinstance(argument, str):
                names.add(argument)
            elif key == "Fn::GetAtt" and isinstance(argument, list) and argument:
                names.add(str(argument[0]))
            elif key == "Fn::Sub":
                template = argument[0] if isinstance(argument, list) and argument else argument
                if isinstance(template, str):
                    names.update(
                        m.group(2).strip()
                        for m in SUB_VARIABLE.finditer(template)
                        if not m.group(1)
                    )
                names |= _names_in(argument)
            else:
                names |= _names_in(argument)
    elif isinstance(expression, list):
        for item in expression:
            names |= _names_in(item)
    return names


def _expressions(value: Any) -> Iterator[Any]:
    """The outermost expressions inside `value`, in document order."""
    if is_expression(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)


# --- task types -----------------------------------------------------------------------------


def _organization_task(
    builder: _ProjectBuilder, reader: _TaskReader, name: str, context: _Context
) -> list[str]:
    claimed = builder.claim_organization(name, reader.key_span())
    template = reader.local_path("Template", "file")
    templating_context = reader.templating_context()
    common = reader.common(context)
    if template is None or not claimed:
        return []
    return builder.add_task(
        OrganizationTask(
            name=name, template=template, templating_context=templating_context, **common
        )
    )


def _stacks_task(
    builder: _ProjectBuilder, reader: _TaskReader, name: str, context: _Context
) -> list[str]:
    template = reader.local_path("Template", "file")
    stack_name = reader.string("StackName")
    parameters = reader.mapping("Parameters")
    default_binding = reader.binding("DefaultOrganizationBinding")
    default_regions = reader.regions("DefaultOrganizationBindingRegion")
    for old, new in (
        ("OrganizationBinding", "DefaultOrganizationBinding"),
        ("OrganizationBindingRegion", "DefaultOrganizationBindingRegion"),
    ):
        if reader.has(old):
            builder.diagnostics.add(
                "W322",
                f"{old} is the old name of {new}, which is also set and wins; remove {old}"
                if reader.has(new)
                else f"{old} is the old name of {new}; rename it",
                reader.key_span(old),
            )
    if default_binding is None and not reader.has("DefaultOrganizationBinding"):
        default_binding = reader.binding("OrganizationBinding")
    if default_regions is None and not reader.has("DefaultOrganizationBindingRegion"):
        default_regions = reader.regions("OrganizationBindingRegion")
    if reader.has("OrganizationFile"):
        builder.diagnostics.add(
            "W324",
            "OrganizationFile is ignored: update-stacks tasks always use the organization of "
            "the update-organization task; remove it",
            reader.key_span("OrganizationFile"),
        )
    tags: dict[str, str] = {}
    for key, value in (reader.mapping("Tags") or {}).items():
        path = (reader.name, "Tags", key)
        if not reader.known(f"tag {key}", value, path):
            continue
        if isinstance(value, (dict, list)) or value is None:
            reader.wrong(f"tag {key}", "text", value, path)
        else:
            tags[key] = to_text(value)
    stack_policy = _stack_policy(reader)
    fields: dict[str, Any] = {
        "stack_description": reader.string("StackDescription"),
        "bindings": reader.bindings("OrganizationBindings"),
        "termination_protection": bool(reader.boolean("TerminationProtection")),
        "update_protection": bool(reader.boolean("UpdateProtection")),
        "cloudformation_role_name": reader.string("CloudFormationRoleName"),
        "max_concurrent_stacks": reader.integer("MaxConcurrentStacks", 1),
        "failed_stack_tolerance": reader.integer("FailedStackTolerance", 0) or 0,
        "disable_stack_rollbacks": bool(reader.boolean("DisableStackRollbacks")),
        "templating_context": reader.templating_context() or context.templating_context,
        "deployment_mode": reader.choice("DeploymentMode", _DEPLOYMENT_MODES) or "Stacks",
    }
    common = reader.common(context)
    if template is None or stack_name is None:
        return []
    builder.stack_name_spans[name] = reader.span("StackName")
    return builder.add_task(
        StacksTask(
            name=name,
            template=template,
            template_span=reader.span("Template"),
            stack_name=stack_name,
            parameters=parameters or {},
            default_binding=default_binding,
            default_regions=default_regions,
            tags=tags,
            stack_policy=stack_policy,
            **fields,
            **common,
        )
    )


def _stack_policy(reader: _TaskReader) -> dict[str, Any] | None:
    value = reader.value("StackPolicy")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            reader.diagnostics.add(
                "E324",
                f"StackPolicy of task {reader.name} must be a policy document: a mapping, or "
                "JSON text of one",
                reader.span("StackPolicy"),
            )
            return None
        return value
    policy = reader.mapping("StackPolicy")
    if policy is not None and not reader.known("StackPolicy", policy):
        return None
    return policy


def _copy_to_s3_task(
    builder: _ProjectBuilder, reader: _TaskReader, name: str, context: _Context
) -> list[str]:
    local_path = reader.local_path("LocalPath", "any")
    zip_before_put = bool(reader.boolean("ZipBeforePut"))
    if local_path is not None and local_path.is_dir() and not zip_before_put:
        builder.diagnostics.add(
            "E325",
            f"LocalPath of task {reader.name} is a directory; a directory is uploaded only as "
            "a zip: add ZipBeforePut: true",
            reader.span("LocalPath"),
        )
        local_path = None
    remote = _remote_path(reader)
    binding = reader.binding("OrganizationBinding")
    encryption = reader.choice("ServerSideEncryption", _ENCRYPTIONS)
    templating_context = reader.templating_context()
    common = reader.common(context)
    if local_path is None or remote is None:
        return []
    return builder.add_task(
        CopyToS3Task(
            name=name,
            local_path=local_path,
            remote_path=remote[0],
            remote_path_needs_target=remote[1],
            zip_before_put=zip_before_put,
            binding=binding,
            server_side_encryption=encryption,
            templating_context=templating_context,
            **common,
        )
    )


def _remote_path(reader: _TaskReader) -> tuple[str, bool] | None:
    """RemotePath as text, and whether it is a Sub template of target values."""
    value = reader.value("RemotePath")
    if value is None:
        return None
    text, needs_target = value, False
    if is_expression(value) and isinstance(value.get("Fn::Sub"), str):
        text, needs_target = value["Fn::Sub"], True
    if not isinstance(text, str) or not text.startswith("s3://") or len(text) <= len("s3://"):
        reader.diagnostics.add(
            "E325",
            f"RemotePath of task {reader.name} must be s3://bucket/key (or !Sub of one), not "
            f"{describe(value) if is_expression(value) else repr(value)}",
            reader.span("RemotePath"),
        )
        return None
    return text, needs_target


def _include_task(
    builder: _ProjectBuilder, reader: _TaskReader, name: str, context: _Context
) -> list[str]:
    target = reader.local_path("Path", "file")
    max_concurrent = reader.integer("MaxConcurrentTasks", 1)
    tolerance = reader.integer("FailedTaskTolerance", 0) or 0
    supplied = _include_parameters(reader)
    templating_context = reader.templating_context()
    common = reader.common(context)
    if target is None:
        return []
    if target in context.chain:
        chain = " → ".join(display_path(p) for p in (*context.chain, target))
        builder.diagnostics.add("E332", f"include cycle: {chain}", reader.span("Path"))
        return []
    file = load_file(target, builder.options, builder.diagnostics)
    if file is None:
        return []
    if _is_organization_file(file.data):
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
    child = _Context(
        supplied={**command_line, **supplied},
        chain=(*context.chain, target),
        prefix=name,
        group=(*context.group, name),
        skip=common["skip"],
        force_deploy=common["force_deploy"],
        log_verbose=common["log_verbose"],
        task_role_name=common["task_role_name"],
        task_via_role_arn=common["task_via_role_arn"],
        templating_context=templating_context or context.templating_context,
    )
    produced = builder.add_file(file, child)
    builder.members[name] = produced
    return produced


def _declared_names(data: Any) -> list[str]:
    section = data.get("Parameters") if isinstance(data, dict) else None
    return list(section) if isinstance(section, dict) else []


def _include_parameters(reader: _TaskReader) -> dict[str, _Supplied]:
    raw = reader.raw.get("Parameters")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or is_expression(raw):
        reader.wrong("Parameters", "a mapping of parameter names to values", raw)
        return {}
    task_file = reader.task_file
    supplied: dict[str, _Supplied] = {}
    for key, value in raw.items():
        path: DataPath = (reader.name, "Parameters", key)
        supplied[key] = _Supplied(
            task_file.evaluate(value, path),
            reader.file.span(path),
            reader.file,
            path,
            task_file.binding_reference(value, path, report=False),
        )
    return supplied


def _external_task(
    builder: _ProjectBuilder, reader: _TaskReader, name: str, context: _Context
) -> list[str]:
    spec = TASK_TYPES[reader.type]
    attributes: dict[str, Any] = {}
    for key in reader.raw:
        if key not in spec.attributes or not reader.has(key):
            continue
        if key == "Path":
            attributes[key] = reader.local_path(key, "directory")
        elif key == "OrganizationBinding":
            attributes[key] = reader.binding(key)
        elif key in ("MaxConcurrentTasks", "FailedTaskTolerance"):
            attributes[key] = reader.integer(key, 1 if key == "MaxConcurrentTasks" else 0)
        elif key in ("RunNpmInstall", "RunNpmBuild"):
            attributes[key] = reader.boolean(key)
        else:
            attributes[key] = reader.value(key)
    package = attributes.get("SchemaHandlerPackage")
    if package is not None and not (isinstance(package, str) and package.startswith("s3://")):
        builder.diagnostics.add(
            "E325",
            f"SchemaHandlerPackage of task {reader.name} must be s3://bucket/handler.zip, not "
            f"{package!r}",
            reader.span("SchemaHandlerPackage"),
        )
    if reader.type == "annotate-organization" and not builder.claim_organization(
        name, reader.key_span()
    ):
        return []
    common = reader.common(context)
    if any(attributes.get(key) is None for key in spec.required if reader.has(key)):
        return []
    return builder.add_task(ExternalTask(name=name, attributes=attributes, **common))


_BUILDERS: dict[str, Callable[[_ProjectBuilder, _TaskReader, str, _Context], list[str]]] = {
    "update-organization": _organization_task,
    "update-stacks": _stacks_task,
    "include": _include_task,
    "copy-to-s3": _copy_to_s3_task,
    "update-cdk": _external_task,
    "update-serverless.com": _external_task,
    "apply-tf": _external_task,
    "register-type": _external_task,
    "annotate-organization": _external_task,
}
