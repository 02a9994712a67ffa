"""Planning copy-to-s3 tasks: one decision per object, from its content hash and its ETag.

An object is put when it is missing, when the local content differs from what orgc last put
(the state's hash), when the object in S3 is not the one orgc put (its ETag changed), or when
its task says ForceDeploy (or --force-deploy does).

An object orgc put (the state records it) that no task puts any more is an orphan: its task
left the files, its RemotePath changed, or its target left the binding. It is listed (W150)
and left in place, or deleted with --perform-cleanup; one changed outside orgc since it was
put is never deleted (W152), one deleted outside orgc is forgotten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orgc.diagnostics import Diagnostic
from orgc.plan.document import Change
from orgc.plan.specs import Action, ChangeKind, ObjectPut, ObjectRemoval
from orgc.state import State

# Where an object recorded before orgc kept its region is addressed.
RECORDED_REGION = "us-east-1"


def content_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class DesiredObject:
    task: str
    bucket: str
    key: str
    region: str
    local_path: str  # as the user wrote it, relative to the working directory when inside it
    zipped: bool
    content_hash: str
    size: int
    where: str  # the task, as file:line:col
    after_tasks: tuple[str, ...] = ()
    # The target the object is put as (OrgFormation puts it with the target account's
    # credentials); None: the management account.
    account: str | None = None  # logical id
    account_id: str | None = None
    role_name: str | None = None
    server_side_encryption: str | None = None
    templating_context: dict[str, Any] | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def plan_objects(
    desired: Iterable[DesiredObject],
    live_etags: Mapping[str, str | None],
    state: State,
    *,
    organization_group: str,
    forced: Collection[str] = (),
) -> tuple[list[Change], list[str]]:
    """(changes, urls that need none); the objects of the tasks `forced` names (ForceDeploy)
    are put again though nothing changed."""
    changes: list[Change] = []
    unchanged: list[str] = []
    for wanted in sorted(desired, key=lambda o: o.url):
        record = state.objects.get(wanted.url)
        etag = live_etags.get(wanted.url)
        if etag is None:
            action = Action.CREATE
            reason = "" if record is None else ": it was deleted outside orgc"
        elif record is None:
            action, reason = Action.UPDATE, ": the object exists but orgc did not put it"
        elif record.get("hash") != wanted.content_hash:
            action, reason = Action.UPDATE, ": the local content changed"
        elif record.get("etag") != etag:
            action, reason = Action.UPDATE, ": the object was changed outside orgc"
        elif wanted.task in forced:
            action, reason = Action.UPDATE, ": ForceDeploy is set"
        else:
            unchanged.append(wanted.url)
            continue
        source = f"{wanted.local_path}{' (zipped)' if wanted.zipped else ''}"
        if wanted.templating_context is not None:
            source += " (rendered)"
        if wanted.account is not None:
            source += f" as {wanted.account} ({wanted.account_id})"
        if wanted.server_side_encryption:
            source += f", {wanted.server_side_encryption} encrypted"
        changes.append(
            Change(
                id=f"s3-object.{action}:{wanted.url}",
                kind=ChangeKind.S3_OBJECT,
                action=action,
                logical_id=wanted.url,
                physical_id=wanted.url,
                summary=f"{action} {wanted.url} from {source}, {wanted.size:,} bytes{reason}",
                spec=ObjectPut(
                    task=wanted.task,
                    where=wanted.where,
                    bucket=wanted.bucket,
                    key=wanted.key,
                    region=wanted.region,
                    local_path=wanted.local_path,
                    zipped=wanted.zipped,
                    hash=wanted.content_hash,
                    account_id=wanted.account_id,
                    role_name=wanted.role_name,
                    server_side_encryption=wanted.server_side_encryption,
                    templating_context=wanted.templating_context,
                ),
                after=tuple(
                    sorted(
                        {f"task:{organization_group}", *(f"task:{t}" for t in wanted.after_tasks)}
                    )
                ),
                group=wanted.task,
            )
        )
    return changes, unchanged


def removed_objects(
    desired: Iterable[DesiredObject],
    state: State,
    *,
    left_alone: Callable[[str], bool] = lambda task: False,
) -> list[ObjectRemoval]:
    """The objects the state records that no desired object is, with the credentials they
    were put with; not those of a task `left_alone` says is skipped."""
    wanted = {o.url for o in desired}
    found: list[ObjectRemoval] = []
    for url, record in sorted(state.objects.items()):
        task = record.get("task", "")
        if url in wanted or left_alone(task) or not url.startswith("s3://"):
            continue
        bucket, _, key = url.removeprefix("s3://").partition("/")
        found.append(
            ObjectRemoval(
                task=task,
                bucket=bucket,
                key=key,
                region=record.get("region") or RECORDED_REGION,
                account_id=record.get("accountId"),
                role_name=record.get("roleName"),
            )
        )
    return found


def plan_removed_objects(
    removed: Iterable[ObjectRemoval],
    live_etags: Mapping[str, str | None],
    state: State,
    *,
    tasks: Iterable[str],
    perform_cleanup: bool,
    organization_group: str,
) -> tuple[list[Change], list[Diagnostic]]:
    """(changes, warnings) for the orphans `removed_objects` found; `tasks` are the names of
    the copy-to-s3 tasks in the files."""
    present = set(tasks)
    changes: list[Change] = []
    warnings: list[Diagnostic] = []
    for orphan in removed:
        url = orphan.url
        why = (
            f"task {orphan.task} no longer puts it (its RemotePath or binding changed)"
            if orphan.task in present
            else f"its task {orphan.task} is no longer in the task files"
        )
        etag = live_etags.get(url)
        if etag is None:
            action, summary = Action.FORGET, f"forget {url}: it was already deleted outside orgc"
        elif etag != state.objects[url].get("etag"):
            warnings.append(
                Diagnostic(
                    "W152",
                    f"{url} was put by orgc and {why}, but it was changed outside orgc since; "
                    "orgc never deletes it: delete it yourself when nothing needs it",
                )
            )
            continue
        elif not perform_cleanup:
            warnings.append(
                Diagnostic(
                    "W150",
                    f"{url} was put by orgc and {why}; orgc leaves it (apply with "
                    "--perform-cleanup deletes it)",
                )
            )
            continue
        else:
            action, summary = Action.DELETE, f"delete {url}: {why} (cleanup asked for)"
        changes.append(
            Change(
                id=f"s3-object.{action}:{url}",
                kind=ChangeKind.S3_OBJECT,
                action=action,
                logical_id=url,
                physical_id=url,
                summary=summary,
                spec=orphan,
                after=(f"task:{organization_group}",),
                group=orphan.task,
            )
        )
    return changes, warnings
