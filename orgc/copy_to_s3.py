"""copy-to-s3 tasks, compiled: the objects each task puts, ready to be planned.

As in OrgFormation, a task puts its LocalPath (zipped with ZipBeforePut, rendered as text with
its TemplatingContext) once per target of its OrganizationBinding, each with that target
account's credentials (the task's TaskRoleName, else the account's access role) and in that
target's region, with ServerSideEncryption when given; objects of the same URL are put once.
A task whose binding selects no account puts with the management account's own credentials,
once per region (once in DEFAULT_REGION without one). The RemotePath is `s3://bucket/key`, or an
expression finished for each target by the evaluator every task attribute goes through
(orgc.expressions.target_text): `${...}` and `!GetAtt` may name `AWS::Region`, `AWS::AccountId`,
`AWS::Partition`, `CurrentAccount` and its attributes (tags, roles), and any account by logical
id; what cannot be known before deploy is a mistake reported at the task (E343), as is a
LocalPath that cannot be read (E344). The body is read here, once, for its content hash and
size; orgc.plan.objects decides from those what to put.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from orgc.bind import resolve_binding
from orgc.diagnostics import Diagnostics
from orgc.expressions import describe, expressions, is_known
from orgc.expressions.targets import (
    ExportReader,
    evaluate_for_target,
    target_scope,
    target_text,
)
from orgc.load import display_path, read_object_body
from orgc.model import DEFAULT_ACCESS_ROLE, Account, Organization
from orgc.plan.objects import DesiredObject, content_hash
from orgc.provider import chained_role
from orgc.render import known_after_apply, markers
from orgc.tasks import CopyToS3Task, Task

DEFAULT_REGION = "us-east-1"  # where an unbound copy-to-s3 task's bucket is addressed

_S3_URL = re.compile(r"^s3://([^/]+)/(.+)$")


def build_objects(
    tasks: Iterable[Task],
    organization: Organization,
    diagnostics: Diagnostics,
    account_ids: Mapping[str, str | None] | None = None,
    read_export: ReadExport | None = None,
) -> tuple[DesiredObject, ...]:
    """The objects of every copy-to-s3 task among `tasks` that is not skipped, in task order.

    `account_ids` are the plan's (the files', else the state's); without them (compiling
    offline) only the ids the files give are known, and a target whose id is not is left out
    here and planned once the ids are known. `read_export(account id, role, region, name)`
    reads the export a `!CopyValue` in RemotePath names; without it, or when the export is not
    there yet (a stack of this run makes it), the path holds a marker apply fills."""
    objects: list[DesiredObject] = []
    for task in tasks:
        if isinstance(task, CopyToS3Task) and not task.skip:
            objects.extend(
                desired_objects(task, organization, diagnostics, account_ids, read_export)
            )
    return tuple(objects)


def object_body(
    path: Path,
    *,
    zipped: bool,
    templating: Mapping[str, Any] | None,
    diagnostics: Diagnostics,
) -> bytes | None:
    """The bytes a copy-to-s3 task puts: the file, a zip of it, or the file rendered with the
    task's TemplatingContext (None when rendering failed, reported). Raises OSError."""
    body = read_object_body(path, zipped=zipped)
    if templating is None or zipped:
        return body
    from orgc.nunjucks import render

    text = body.decode("utf-8")
    rendered = render(text, path, templating, diagnostics, display=display_path(path))
    return None if rendered is None else rendered.text.encode("utf-8")


def desired_objects(
    task: CopyToS3Task,
    organization: Organization,
    diagnostics: Diagnostics,
    account_ids: Mapping[str, str | None] | None = None,
    read_export: ReadExport | None = None,
) -> list[DesiredObject]:
    """The objects a copy-to-s3 task puts: one per target of its binding (see above)."""
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = (DEFAULT_REGION,)
    if task.binding is not None:
        accounts, bound_regions = resolve_binding(task.binding, organization, diagnostics)
        regions = bound_regions or regions
    targets: list[tuple[Account | None, str]] = [
        (organization.accounts[logical_id], region) for logical_id in accounts for region in regions
    ] or [(None, region) for region in regions]

    def account_id(logical_id: str) -> str | None:
        if account_ids is not None:
            # With the plan's ids: an account this plan creates is named by its marker, which
            # apply fills once the account exists (in RemotePath too).
            return account_ids.get(logical_id) or known_after_apply("account", logical_id)
        return organization.accounts[logical_id].account_id

    exports = _export_reader(organization, account_ids, read_export)
    bodies: dict[str, bytes | None] = {}  # the context as JSON → the body rendered with it
    objects: dict[str, DesiredObject] = {}
    for account, region in targets:
        if account_ids is None and account is not None and account.account_id is None:
            continue  # its id comes from the state: planned with the plan's ids
        path = _remote_path(
            task,
            organization,
            account,
            region,
            diagnostics,
            account_id=account_id,
            exports=exports,
        )
        context = _templating_context(
            task, organization, account, region, diagnostics, account_id=account_id
        )
        if path is None or context is _UNUSABLE:
            return []
        found = _S3_URL.match(path)
        if found is None:
            diagnostics.add(
                "E343",
                f"RemotePath of task {task.name} gives {path!r} for "
                f"{account.logical_id if account else 'the management account'} {region}, "
                "which is not s3://bucket/key",
                task.span,
            )
            return []
        used = None if task.zip_before_put or not isinstance(context, dict) else context
        body_key = json.dumps(used, sort_keys=True)
        if body_key not in bodies:
            bodies[body_key] = _body(task, used, diagnostics)
        body = bodies[body_key]
        if body is None:
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
            account=account.logical_id if account is not None else None,
            account_id=account_id(account.logical_id) if account is not None else None,
            role_name=_role_name(
                task, organization, account, region, diagnostics, account_id=account_id
            ),
            server_side_encryption=task.server_side_encryption,
            templating_context=used,
        )
        objects.setdefault(wanted.url, wanted)
    return list(objects.values())


def _body(
    task: CopyToS3Task, context: dict[str, Any] | None, diagnostics: Diagnostics
) -> bytes | None:
    """The bytes the task puts with `context`; None when they cannot be had (reported)."""
    try:
        return object_body(
            task.local_path,
            zipped=task.zip_before_put,
            templating=context,
            diagnostics=diagnostics,
        )
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        diagnostics.add("E344", f"cannot read {display_path(task.local_path)}: {reason}", task.span)
        return None


_UNUSABLE = object()  # a TemplatingContext that cannot be finished for a target (reported)


def _templating_context(
    task: CopyToS3Task,
    organization: Organization,
    account: Account | None,
    region: str,
    diagnostics: Diagnostics,
    *,
    account_id: Callable[[str], str | None],
) -> object:
    """The task's TemplatingContext for one target: as written when the file knows it, else
    finished by the evaluator of task attributes (`!GetAtt CurrentAccount.AccountName`)."""
    context = task.templating_context
    if context is None or is_known(context):
        return context
    target = account or organization.management_account
    scope = target_scope(
        organization=organization,
        account=target.logical_id,
        region=region,
        ids=_account_ids(organization, account_id),
        needed="TemplatingContext",
    )
    finished, problems = evaluate_for_target(context, scope)
    where = f"{target.logical_id} {region}"
    for problem in problems:
        diagnostics.add(
            "E474", f"TemplatingContext of task {task.name}: {problem.message}", task.span
        )
    if problems:
        return _UNUSABLE
    if not is_known(finished):
        unknown = next(expressions(finished))
        diagnostics.add(
            "E474",
            f"TemplatingContext of task {task.name} holds {describe(unknown)}, which is known "
            f"only inside CloudFormation; the file for {where} is rendered before deploy",
            task.span,
        )
        return _UNUSABLE
    # An id of an account this run creates stays its marker: the plan renders the file with
    # it, and apply renders it again with the id (orgc.apply.objects) before the put.
    return finished


# Reads an export at plan time: (account id, role name, region, export name) → its value.
ReadExport = Callable[[str, str, str, str], str | None]


def _export_reader(
    organization: Organization,
    account_ids: Mapping[str, str | None] | None,
    read_export: ReadExport | None,
) -> ExportReader:
    """How RemotePath reads a `!CopyValue`: the export's value when it is there now, else the
    marker of the read apply makes (orgc.apply.objects), once the stack making it is deployed:
    the reference marker named `<account id or logical id>:<region>:<export name>`."""
    roles = {
        (account_ids or {}).get(logical_id) or account.account_id: account.access_role_name
        for logical_id, account in organization.accounts.items()
    }

    def exports(name: str, account_id: str, region: str) -> str:
        new = sorted(logical_id for kind, logical_id in markers(account_id) if kind == "account")
        if read_export is not None and not new:
            role = roles.get(account_id) or DEFAULT_ACCESS_ROLE
            found = read_export(account_id, role, region, name)
            if found is not None:
                return found
        return known_after_apply("reference", f"{new[0] if new else account_id}:{region}:{name}")

    return exports


def _account_ids(
    organization: Organization, account_id: Callable[[str], str | None]
) -> Callable[[str, str], str | None]:
    """`ids` for the evaluator: the accounts' ids (or markers) as this build knows them."""

    def ids(table: str, logical_id: str) -> str | None:
        if table != "accounts" or logical_id not in organization.accounts:
            return None
        return account_id(logical_id)

    return ids


def _remote_path(
    task: CopyToS3Task,
    organization: Organization,
    account: Account | None,
    region: str,
    diagnostics: Diagnostics,
    *,
    account_id: Callable[[str], str | None],
    exports: ExportReader,
) -> str | None:
    """The task's RemotePath for one target, finished by the one evaluator of task attributes
    (orgc.expressions.target_text); None when it cannot be (reported)."""
    if isinstance(task.remote_path, str):
        return task.remote_path
    target = account or organization.management_account
    path, problems = target_text(
        task.remote_path,
        organization=organization,
        account=target.logical_id,
        region=region,
        ids=_account_ids(organization, account_id),
        needed="RemotePath",
        exports=exports,
    )
    for problem in problems:
        diagnostics.add("E343", f"RemotePath of task {task.name}: {problem.message}", task.span)
    if problems:
        return None
    return path


def _role_name(
    task: CopyToS3Task,
    organization: Organization,
    account: Account | None,
    region: str,
    diagnostics: Diagnostics,
    *,
    account_id: Callable[[str], str | None],
) -> str | None:
    """The role the object is put with in `account`: the task's TaskRoleName, evaluated for
    that account, else the account's access role; reached through the task's TaskViaRoleArn
    (evaluated for that account too) when it has one, as the task's stacks are."""
    if account is None:
        return None
    found: dict[str, str | None] = {}
    for key, written in (
        ("TaskRoleName", task.task_role_name),
        ("TaskViaRoleArn", task.task_via_role_arn),
    ):
        found[key], problems = target_text(
            written,
            organization=organization,
            account=account.logical_id,
            region=region,
            ids=_account_ids(organization, account_id),
            needed=key,
        )
        for problem in problems:
            diagnostics.add("E427", f"{key} of task {task.name}: {problem.message}", task.span)
    return chained_role(found["TaskViaRoleArn"], found["TaskRoleName"] or account.access_role_name)
