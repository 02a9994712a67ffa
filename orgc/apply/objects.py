"""Apply for copy-to-s3 tasks: put one object per change, as the plan saw its local content,
with the target account's credentials when the plan names one (as OrgFormation puts it);
delete an orphan (cleanup asked for) with the credentials it was put with, or forget one that
is gone."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from orgc.apply.run import Handler, Run, taking
from orgc.copy_to_s3 import object_body
from orgc.diagnostics import Diagnostics
from orgc.model import DEFAULT_ACCESS_ROLE
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.objects import content_hash
from orgc.plan.specs import ObjectPut, ObjectRemoval
from orgc.render import known_after_apply, markers


class ObjectError(Exception):
    """An object could not be put; the message says why and which task."""


def _put_object(run: Run, change: Change, spec: ObjectPut) -> None:
    problems = Diagnostics()
    try:
        body = object_body(
            Path(spec.local_path),
            zipped=spec.zipped,
            templating=spec.templating_context,
            diagnostics=problems,
        )
    except OSError as error:
        raise ObjectError(f"cannot read {spec.local_path}: {error} (task {spec.task})") from error
    if body is None:
        reason = "; ".join(str(problem) for problem in problems)
        raise ObjectError(f"cannot render {spec.local_path}: {reason} (task {spec.task})")
    if content_hash(body) != spec.hash:
        raise ObjectError(
            f"{spec.local_path} changed since the plan was made (task {spec.task}); plan again"
        )
    if markers(spec.templating_context):
        # The context names an account this run created: rendered again with its id, and
        # recorded by the hash of what was put, which the next plan renders too.
        body = object_body(
            Path(spec.local_path),
            zipped=spec.zipped,
            templating=run.fill(spec.templating_context),
            diagnostics=problems,
        )
        if body is None:
            reason = "; ".join(str(problem) for problem in problems)
            raise ObjectError(f"cannot render {spec.local_path}: {reason} (task {spec.task})")
    # An account this run created is named by its marker in the bucket, the key and the id;
    # an export a stack of this run made, by the marker of its read.
    bucket = run.fill_text(_read_exports(run, spec, spec.bucket))
    key = run.fill_text(_read_exports(run, spec, spec.key))
    # A TaskViaRoleArn may name an account this run created too.
    role_name = run.fill_text(spec.role_name) if spec.role_name is not None else None
    etag = run.provider.put_s3_object(
        bucket=bucket,
        key=key,
        body=body,
        region=spec.region,
        account_id=run.fill_text(spec.account_id) if spec.account_id is not None else None,
        role_name=role_name,
        server_side_encryption=spec.server_side_encryption,
    )
    # With what it was put with, so that cleanup can delete it once no task puts it.
    record = {
        "task": spec.task,
        "hash": content_hash(body),
        "etag": etag,
        "region": spec.region,
    }
    if spec.account_id is not None and role_name is not None:
        record.update(accountId=run.fill_text(spec.account_id), roleName=role_name)
    url = f"s3://{bucket}/{key}"
    run.update_state(
        lambda state: dataclasses.replace(state, objects={**state.objects, url: record})
    )


def _delete_object(run: Run, change: Change, spec: ObjectRemoval) -> None:
    run.provider.delete_s3_object(
        bucket=spec.bucket,
        key=spec.key,
        region=spec.region,
        account_id=spec.account_id,
        role_name=spec.role_name,
    )
    _forget_object(run, change, spec)


def _forget_object(run: Run, change: Change, spec: ObjectRemoval) -> None:
    run.update_state(
        lambda state: dataclasses.replace(
            state, objects={u: r for u, r in state.objects.items() if u != spec.url}
        )
    )


def _read_exports(run: Run, spec: ObjectPut, text: str) -> str:
    """`text` with each `!CopyValue` of RemotePath read now: the reference markers named
    `<account id or logical id>:<region>:<export name>` (orgc.copy_to_s3)."""
    for kind, name in sorted(markers(text)):
        if kind != "reference":
            continue
        account, region, export = name.split(":", 2)
        account_id = account if account.isdigit() else run.physical("accounts", account)
        target_id = run.fill_text(spec.account_id) if spec.account_id is not None else None
        value = run.provider.read_export(
            account_id=account_id,
            role_name=spec.role_name
            if spec.role_name and account_id == target_id
            else DEFAULT_ACCESS_ROLE,
            region=region,
            name=export,
        )
        if value is None:
            raise ObjectError(
                f"RemotePath of task {spec.task}: no export {export} in account {account_id} "
                f"{region} (at {spec.where})"
            )
        text = text.replace(known_after_apply("reference", name), value)
    return text


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.S3_OBJECT, Action.CREATE): taking(ObjectPut, _put_object),
    (ChangeKind.S3_OBJECT, Action.UPDATE): taking(ObjectPut, _put_object),
    (ChangeKind.S3_OBJECT, Action.DELETE): taking(ObjectRemoval, _delete_object),
    (ChangeKind.S3_OBJECT, Action.FORGET): taking(ObjectRemoval, _forget_object),
}
