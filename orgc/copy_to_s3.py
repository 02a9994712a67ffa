"""copy-to-s3 tasks, compiled: the objects each task puts, ready to be planned.

As in OrgFormation, a task puts its LocalPath (zipped with ZipBeforePut, rendered as text with
its TemplatingContext) once per target of its OrganizationBinding, each with that target
account's credentials (the task's TaskRoleName, else the account's access role) and in that
target's region, with ServerSideEncryption when given; objects of the same URL are put once.
A task whose binding selects no account puts with the management account's own credentials,
once per region (once in DEFAULT_REGION without one). The RemotePath is `s3://bucket/key` and
its `${...}` may name `AWS::Region` and `AWS::AccountId` (the target's), `AWS::Partition`,
`CurrentAccount` (the target: its id, or `.AccountName`, `.AccountId`, `.RootEmail`,
`.Alias`, `.LogicalId`) and any account by logical id (its id, or the same attributes);
anything else is a mistake reported at the task (E343), as is a LocalPath that cannot be read
(E344). The body is read here, once, for its content hash and size; orgc.plan.objects decides
from those what to put.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from orgc.bind import resolve_binding
from orgc.diagnostics import Diagnostics
from orgc.expressions.targets import target_text
from orgc.load import display_path, read_object_body
from orgc.model import Account, Organization
from orgc.plan.objects import DesiredObject, content_hash
from orgc.render import known_after_apply
from orgc.tasks import CopyToS3Task, Task

DEFAULT_REGION = "us-east-1"  # where an unbound copy-to-s3 task's bucket is addressed

_S3_URL = re.compile(r"^s3://([^/]+)/(.+)$")


def build_objects(
    tasks: Iterable[Task],
    organization: Organization,
    diagnostics: Diagnostics,
    account_ids: Mapping[str, str | None] | None = None,
) -> tuple[DesiredObject, ...]:
    """The objects of every copy-to-s3 task among `tasks` that is not skipped, in task order.

    `account_ids` are the plan's (the files', else the state's); without them (compiling
    offline) only the ids the files give are known, and a target whose id is not is left out
    here and planned once the ids are known."""
    objects: list[DesiredObject] = []
    for task in tasks:
        if isinstance(task, CopyToS3Task) and not task.skip:
            objects.extend(desired_objects(task, organization, diagnostics, account_ids))
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
) -> list[DesiredObject]:
    """The objects a copy-to-s3 task puts: one per target of its binding (see above)."""
    try:
        body = object_body(
            task.local_path,
            zipped=task.zip_before_put,
            templating=task.templating_context,
            diagnostics=diagnostics,
        )
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        diagnostics.add("E344", f"cannot read {display_path(task.local_path)}: {reason}", task.span)
        return []
    if body is None:
        return []
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

    objects: dict[str, DesiredObject] = {}
    for account, region in targets:
        if account_ids is None and account is not None and account.account_id is None:
            continue  # its id comes from the state: planned with the plan's ids
        path = _remote_path(task, organization, account, region, diagnostics, account_id=account_id)
        if path is None:
            return []
        found = _S3_URL.match(path)
        if found is None:
            diagnostics.add(
                "E343", f"RemotePath {task.remote_path!r} must be s3://bucket/key", task.span
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
            account=account.logical_id if account is not None else None,
            account_id=account_id(account.logical_id) if account is not None else None,
            role_name=_role_name(task, organization, account, region, diagnostics),
            server_side_encryption=task.server_side_encryption,
            templating_context=None if task.zip_before_put else task.templating_context,
        )
        objects.setdefault(wanted.url, wanted)
    return list(objects.values())


_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ATTRIBUTES = ("AccountName", "AccountId", "RootEmail", "Alias", "LogicalId")


def _remote_path(
    task: CopyToS3Task,
    organization: Organization,
    account: Account | None,
    region: str,
    diagnostics: Diagnostics,
    *,
    account_id: Callable[[str], str | None],
) -> str | None:
    """The task's RemotePath for one target, its `${...}` filled in; None when one cannot be
    (reported)."""
    management = organization.management_account
    target = account or management
    unknown: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        head, _, attribute = name.partition(".")
        if name == "AWS::Region":
            return region
        if name == "AWS::Partition":
            return "aws"
        if name == "AWS::AccountId":
            head, attribute = target.logical_id, ""
        elif head == "CurrentAccount":
            head = target.logical_id
        found = organization.accounts.get(head)
        if found is None or (attribute and attribute not in _ATTRIBUTES):
            unknown.append(name)
            return match.group(0)
        if (attribute or "AccountId") == "AccountId":
            text = account_id(found.logical_id)
        else:
            text = _account_attribute(found, attribute)
        if text is None:
            unknown.append(
                f"{name} (account {found.logical_id} has no {attribute or 'id'} yet: this plan "
                "creates it; apply the organization first)"
            )
            return match.group(0)
        return text

    path = _VARIABLE.sub(value, task.remote_path)
    if unknown:
        accounts = ", ".join(sorted(organization.accounts))
        diagnostics.add(
            "E343",
            f"RemotePath {task.remote_path!r} names {', '.join(unknown)}; its ${{...}} may name "
            "AWS::Region, AWS::AccountId, AWS::Partition, CurrentAccount[.Attribute] or an "
            f"account by logical id[.Attribute] ({accounts}), the attribute one of "
            f"{', '.join(_ATTRIBUTES)}",
            task.span,
        )
        return None
    return path


def _account_attribute(account: Account, attribute: str) -> str | None:
    return {
        "AccountId": account.account_id,
        "AccountName": account.name,
        "RootEmail": account.email,
        "Alias": account.alias,
        "LogicalId": account.logical_id,
    }[attribute]


def _role_name(
    task: CopyToS3Task,
    organization: Organization,
    account: Account | None,
    region: str,
    diagnostics: Diagnostics,
) -> str | None:
    """The role the object is put with in `account`: the task's TaskRoleName, evaluated for
    that account, else the account's access role."""
    if account is None:
        return None
    role, problems = target_text(
        task.task_role_name,
        organization=organization,
        account=account.logical_id,
        region=region,
        needed="TaskRoleName",
    )
    for problem in problems:
        diagnostics.add("E427", f"TaskRoleName of task {task.name}: {problem.message}", task.span)
    return role or account.access_role_name
