"""copy-to-s3 tasks, compiled: the objects each task puts, ready to be planned.

A task puts its LocalPath (zipped with ZipBeforePut) at its RemotePath once per region of its
binding, once in DEFAULT_REGION when it has none. The RemotePath is `s3://bucket/key` and may
name `${AWS::Region}` (the region the object is put in) and `${AWS::AccountId}` (the management
account, whose credentials put it); anything else in `${...}` is a mistake reported at the task
(E343), as is a LocalPath that cannot be read (E344). The body is read here, once, for its
content hash and size; orgc.plan.objects decides from those what to put.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orgc.bind import resolve_binding
from orgc.diagnostics import Diagnostics
from orgc.load import display_path, read_object_body
from orgc.model import Organization
from orgc.plan.objects import DesiredObject, content_hash
from orgc.tasks import CopyToS3Task, Task

DEFAULT_REGION = "us-east-1"  # where an unbound copy-to-s3 task's bucket is addressed

_S3_URL = re.compile(r"^s3://([^/]+)/(.+)$")


def build_objects(
    tasks: Iterable[Task], organization: Organization, diagnostics: Diagnostics
) -> tuple[DesiredObject, ...]:
    """The objects of every copy-to-s3 task among `tasks` that is not skipped, in task order."""
    objects: list[DesiredObject] = []
    for task in tasks:
        if isinstance(task, CopyToS3Task) and not task.skip:
            objects.extend(desired_objects(task, organization, diagnostics))
    return tuple(objects)


def desired_objects(
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
