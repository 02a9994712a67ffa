"""The data of a task file tree, and its format as data.

The frozen dataclasses the model stage hands on (`Task` and its kinds, `Include`, `Project`), the
reserved top-level keys of a task file, the attributes every task has, and `TASK_TYPES`: the one
registry of task types, with the attributes each takes and requires. Nothing here reads a file or
reports a diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orgc.diagnostics import Span
from orgc.expressions import TargetText
from orgc.templates import Binding


@dataclass(frozen=True, slots=True, kw_only=True)
class Task:
    name: str  # qualified: "Include-Task" for a task of an included file
    type: str  # as written: "update-stacks", "copy-to-s3", ...
    file: str  # the task file, as diagnostics name it
    depends_on: tuple[str, ...] = ()  # qualified task names, each known to exist, sorted
    skip: bool = False  # its own Skip, or that of an enclosing include
    force_deploy: bool = False
    log_verbose: bool = False
    # Text, or an expression finished per target (orgc.expressions.target_text).
    task_role_name: TargetText | None = None
    task_via_role_arn: TargetText | None = None
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
    template: Path  # absolute path of the template file; the task file for a remote one
    template_url: str | None = None  # s3://bucket/key or https:// URL of a remote template
    template_span: Span | None = field(default=None, compare=False, repr=False)
    # Text, or an expression finished per target (`!Sub '${CurrentAccount.AccountName}-x'`):
    # render names each target's stack (RenderedStack.stack_name).
    stack_name: TargetText
    stack_description: TargetText | None = None  # text, or finished per target
    # Values for the template's Parameters: evaluated where possible; expressions that need a
    # target (CurrentAccount, accounts' ids, !CopyValue) left in their long form.
    parameters: dict[str, Any] = field(default_factory=dict)
    default_binding: Binding | None = None  # task-level DefaultOrganizationBinding
    default_regions: tuple[str, ...] | None = None  # task-level DefaultOrganizationBindingRegion
    bindings: dict[str, Binding] = field(default_factory=dict)  # task-level OrganizationBindings
    termination_protection: bool = False
    update_protection: bool = False
    stack_policy: dict[str, Any] | None = None
    tags: dict[str, TargetText] = field(default_factory=dict)  # values finished per target
    cloudformation_role_name: TargetText | None = None
    max_concurrent_stacks: int | None = None  # None: only the overall limit applies
    failed_stack_tolerance: int = 0
    disable_stack_rollbacks: bool = False
    templating_context: dict[str, Any] | None = None
    deployment_mode: str = "Stacks"


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyToS3Task(Task):
    local_path: Path  # absolute; a directory when zip_before_put
    # s3://bucket/key as written, or the expression the file left (`!Sub` naming the target's
    # `${AWS::AccountId}` or `${CurrentAccount.Tags.team}`, `!Join` with a `!CopyValue`),
    # finished per target (orgc.expressions.target_text); then `remote_path_needs_target`.
    remote_path: TargetText
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
    # Where parts of the attributes were written (annotate-organization's mapping entries).
    spans: dict[str, Span | None] = field(default_factory=dict, compare=False, repr=False)


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
    # Skipped tasks (the update-organization task too) → why: "Skip: true", "include X is
    # skipped", "it depends on skipped task X"; for the plan's notices.
    skipped: dict[str, str] = field(default_factory=dict, compare=False)
    # Qualified names of skipped includes whose file was not read: the stacks their tasks
    # deployed are kept, never orphans.
    skipped_includes: tuple[str, ...] = field(default=(), compare=False)
    # Whether the organization comes from --organization-file (read, never applied).
    detached: bool = field(default=False, compare=False)
    # Why the organization is read from AWS at plan time (annotate-organization, or a skipped
    # update-organization task whose file does not exist); None: it comes from a file.
    live: str | None = field(default=None, compare=False)


# The stack policies UpdateProtection sets, as OrgFormation sets them: true denies every update
# of every resource of the stack; false allows them all (CloudFormation keeps a stack's policy
# until another replaces it, so turning protection off needs a policy of its own).
UPDATE_PROTECTION_POLICY: dict[str, Any] = {
    "Statement": [{"Effect": "Deny", "Action": "Update:*", "Principal": "*", "Resource": "*"}]
}
ALLOW_UPDATES_POLICY: dict[str, Any] = {
    "Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]
}

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
        None,  # run: the organization is read from AWS at plan time, never changed
        False,
    ),
}
REQUIRED_HINTS = {
    "Template": "the path of the file, relative to this task file",
    "StackName": "the name its stacks get in every account",
    "Path": "the path it works on, relative to this task file",
    "LocalPath": "the file to upload, relative to this task file",
    "RemotePath": "s3://bucket/key",
    "OrganizationBinding": "a binding of the accounts and regions it targets",
    "ResourceType": "the type name, e.g. Community::Service::Resource",
    "SchemaHandlerPackage": "s3://bucket/handler.zip",
}
