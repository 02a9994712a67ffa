"""The tasks orgc builds from their attributes: update-organization, update-stacks, copy-to-s3,
and the tool chains orgc does not run.

Each builder reads every attribute of its task through a `TaskReader`, so that every mistake
shows, adds the task to the `ProjectBuilder`, and returns the qualified names of the tasks it
added: none when an attribute the task cannot do without is unusable. The include task, which
reads another file, lives with the tree walk in `orgc.tasks.tree`, as does the registry that maps
each task type to its builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orgc.diagnostics import Span
from orgc.expressions import TargetText, describe, is_expression, is_known, to_text
from orgc.load import parse_json
from orgc.remote import is_remote, location_problem
from orgc.tasks.annotate import annotate_attributes
from orgc.tasks.attributes import TaskReader
from orgc.tasks.model import (
    ALLOW_UPDATES_POLICY,
    TASK_TYPES,
    UPDATE_PROTECTION_POLICY,
    CopyToS3Task,
    ExternalTask,
    OrganizationTask,
    StacksTask,
)
from orgc.templates import Binding

if TYPE_CHECKING:
    from orgc.tasks.tree import Context, ProjectBuilder


_DEPLOYMENT_MODES = ("Stacks", "StackSet")

_ENCRYPTIONS = ("AES256", "aws:kms")


def _remote_template(reader: TaskReader, value: str) -> str | None:
    """An update-stacks Template given as s3://bucket/key or a URL (orgc.remote), checked;
    None when it is refused."""
    problem = location_problem(value)
    if problem is not None:
        reader.diagnostics.add(
            "E451", f"Template of task {reader.name}: {problem}", reader.span("Template")
        )
        return None
    return value


def organization_task(
    builder: ProjectBuilder, reader: TaskReader, name: str, context: Context
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


def stacks_task(
    builder: ProjectBuilder, reader: TaskReader, name: str, context: Context
) -> list[str]:
    written = reader.value("Template")
    template_url, template = None, None
    if isinstance(written, str) and is_remote(written):
        template_url = _remote_template(reader, written)
        template = reader.file.path if template_url else None
    else:
        template = reader.local_path("Template", "file")
    stack_name = reader.target_string("StackName")
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
    tags: dict[str, TargetText] = {}
    for key, value in (reader.mapping("Tags") or {}).items():
        path = (reader.name, "Tags", key)
        if is_expression(value) and not is_known(value):
            tags[key] = value  # finished per target, as StackDescription
            continue
        if isinstance(value, (dict, list)) or value is None:
            reader.wrong(f"tag {key}", "text", value, path)
        else:
            tags[key] = to_text(value)
    stack_policy = _stack_policy(reader)
    update_protection = reader.boolean("UpdateProtection")
    if update_protection is not None:
        if stack_policy is not None:
            builder.diagnostics.add(
                "W391",
                f"task {reader.name} sets both UpdateProtection and StackPolicy; "
                "UpdateProtection decides the stack policy, remove one of them",
                reader.key_span("StackPolicy"),
            )
        stack_policy = UPDATE_PROTECTION_POLICY if update_protection else ALLOW_UPDATES_POLICY
    fields: dict[str, Any] = {
        "stack_description": reader.target_string("StackDescription"),
        "bindings": reader.bindings("OrganizationBindings"),
        "termination_protection": bool(reader.boolean("TerminationProtection")),
        "update_protection": bool(update_protection),
        "cloudformation_role_name": reader.target_string("CloudFormationRoleName"),
        "max_concurrent_stacks": reader.integer("MaxConcurrentStacks", 1),
        "failed_stack_tolerance": reader.integer("FailedStackTolerance", 0) or 0,
        "disable_stack_rollbacks": bool(reader.boolean("DisableStackRollbacks")),
        # Its own only: as in OrgFormation, an include's context renders the included file,
        # not the templates of its tasks (a plain template may hold `{{resolve:...}}`). The
        # template is rendered once, so a value that names the target stays its expression,
        # which `| object` writes into the template, where each target finishes it.
        "templating_context": reader.templating_context(per_target=True),
        "deployment_mode": reader.choice("DeploymentMode", _DEPLOYMENT_MODES) or "Stacks",
    }
    common = reader.common(context)
    if template is None or stack_name is None or _refused(reader, default_binding, default_regions):
        return []
    builder.stack_name_spans[name] = reader.span("StackName")
    return builder.add_task(
        StacksTask(
            name=name,
            template=template,
            template_url=template_url,
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


def _refused(reader: TaskReader, binding: Binding | None, regions: tuple[str, ...] | None) -> bool:
    """Whether the task's binding or binding region was given but refused (reported): the
    task is left out, so that what it would bind without them (nothing, or the template's
    default) is not reported too."""
    given = [
        key
        for key in (
            "DefaultOrganizationBinding",
            "OrganizationBinding",
            "DefaultOrganizationBindingRegion",
            "OrganizationBindingRegion",
        )
        if reader.has(key)
    ]
    wants_binding = any(key.endswith("Binding") for key in given)
    wants_regions = any(key.endswith("Region") for key in given)
    return (wants_binding and binding is None) or (wants_regions and regions is None)


def _stack_policy(reader: TaskReader) -> dict[str, Any] | None:
    value = reader.value("StackPolicy")
    if isinstance(value, str):
        try:
            value = parse_json(value)
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


def copy_to_s3_task(
    builder: ProjectBuilder, reader: TaskReader, name: str, context: Context
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
    templating_context = reader.templating_context(per_target=True)
    common = reader.common(context)
    if local_path is None or remote is None or _refused(reader, binding, ()):
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


def _remote_path(reader: TaskReader) -> tuple[TargetText, bool] | None:
    """RemotePath as written, and whether it is finished per target: text with `${...}` is
    taken as the `!Sub` of it, and an expression the file could not finish (it names the
    target, or reads an export) is kept for orgc.copy_to_s3."""
    value = reader.value("RemotePath")
    if value is None:
        return None
    if isinstance(value, str) and "${" in value:
        return {"Fn::Sub": value}, True
    if isinstance(value, str) and value.startswith("s3://") and len(value) > len("s3://"):
        return value, False
    if is_expression(value) and not is_known(value):
        kept = reader.target_string("RemotePath")
        return None if kept is None else (kept, True)
    reader.diagnostics.add(
        "E325",
        f"RemotePath of task {reader.name} must be s3://bucket/key (or !Sub of one), not "
        f"{describe(value) if is_expression(value) else repr(value)}",
        reader.span("RemotePath"),
    )
    return None


def external_task(
    builder: ProjectBuilder, reader: TaskReader, name: str, context: Context
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
    spans: dict[str, Span | None] = {}
    if reader.type == "annotate-organization":
        if not builder.claim_organization(name, reader.key_span()):
            return []
        spans = annotate_attributes(reader, attributes)
    common = reader.common(context)
    if any(attributes.get(key) is None for key in spec.required if reader.has(key)):
        return []
    return builder.add_task(ExternalTask(name=name, attributes=attributes, spans=spans, **common))
