"""Apply for copy-to-s3 tasks: put one object per change, as the plan saw its local content."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from orgc.apply.run import Handler, Run, taking
from orgc.load import read_object_body
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.objects import content_hash
from orgc.plan.specs import ObjectPut


class ObjectError(Exception):
    """An object could not be put; the message says why and which task."""


def _put_object(run: Run, change: Change, spec: ObjectPut) -> None:
    try:
        body = read_object_body(Path(spec.local_path), zipped=spec.zipped)
    except OSError as error:
        raise ObjectError(f"cannot read {spec.local_path}: {error} (task {spec.task})") from error
    if content_hash(body) != spec.hash:
        raise ObjectError(
            f"{spec.local_path} changed since the plan was made (task {spec.task}); plan again"
        )
    etag = run.provider.put_s3_object(
        bucket=spec.bucket, key=spec.key, body=body, region=spec.region
    )
    record = {"task": spec.task, "hash": spec.hash, "etag": etag}
    url = spec.url
    run.update_state(
        lambda state: dataclasses.replace(state, objects={**state.objects, url: record})
    )


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.S3_OBJECT, Action.CREATE): taking(ObjectPut, _put_object),
    (ChangeKind.S3_OBJECT, Action.UPDATE): taking(ObjectPut, _put_object),
}
