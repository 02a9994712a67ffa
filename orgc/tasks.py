"""Stage 3 (model), task files: the tasks of an OrgFormation task file tree, checked and typed.

A task file maps task names to tasks (`update-organization`, `update-stacks`, `include`,
`copy-to-s3`, and tool chains orgc does not run). Includes are flattened: a child task is named
`<Include>-<Task>` and its `DependsOn` names are qualified the same way. Task-file expressions
(`!Ref` of a parameter, `!Sub`, `!Join`, `!Select`, `!FindInMap`) are evaluated here once their
arguments are known; expressions that need a target (`!GetAtt CurrentAccount.X`, `!CopyValue`,
`!Ref` of an account) are kept for the render stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgc.diagnostics import Span
from orgc.templates import Binding


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    name: str  # qualified: "Include-Task" for a task of an included file
    type: str  # as written: "update-stacks", "copy-to-s3", ...
    file: str  # the task file, as diagnostics name it
    depends_on: tuple[str, ...] = ()  # qualified task names, each known to exist
    skip: bool = False
    force_deploy: bool = False
    task_role_name: str | None = None
    task_via_role_arn: str | None = None
    # Include chain, outermost first ("" is the top-level file): where MaxConcurrentTasks and
    # FailedTaskTolerance of each enclosing include apply.
    group: tuple[str, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationTask(Task):
    template: Path  # absolute path of the organization file


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
    max_concurrent_stacks: int = 1  # OrgFormation's default
    failed_stack_tolerance: int = 0
    disable_stack_rollbacks: bool = False
    templating_context: dict[str, Any] | None = None
    deployment_mode: str = "Stacks"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyToS3Task(Task):
    local_path: Path  # absolute
    remote_path: str  # s3://bucket/key
    zip_before_put: bool = False
    binding: Binding | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExternalTask(Task):
    """A task of a tool chain orgc does not run (CDK, Serverless, Terraform, ...): validated,
    reported, and left alone."""

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
