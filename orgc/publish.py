"""The organization file published to the state bucket after apply, as OrgFormation does it.

OrgFormation's perform-tasks puts the organization file it applied into its state bucket as
`organization.yml`, and announces it with an `OrganizationChanged` event on the default event
bus of the management account, so that pipelines of other repositories bind against it with
`--organization-file s3://<bucket>/organization.yml` (detached perform-tasks) and may run when
it changes. orgc does the same after an apply whose state is in S3: it puts the file as loaded
(its !Include resolved, every tag in its long form, as JSON, which is YAML too) when the object
there differs, and only then raises the event. Nothing is published when the organization is
not applied by the run (a skipped update-organization task, --organization-file, an organization
read from AWS), nor with a local state file (there is no state bucket).

This is not a change of the plan: a plan says what the files change in AWS, and the published
copy follows the files, whatever the plan held. A failure here (the bucket's policy, an event
bus that refuses the event) is a warning (W490): what apply changed is done and recorded. A put
that failed is made by the next apply (the bucket still holds another file); an event that
failed is not raised again, as the file it announces is there.
"""

from __future__ import annotations

import json
from typing import Any

from orgc.diagnostics import Diagnostic
from orgc.provider import Provider

ORGANIZATION_OBJECT = "organization.yml"
# OrgFormation's event, which its users' rules match on.
EVENT_SOURCE = "oc.org-formation"
EVENT_DETAIL_TYPE = "events.org-formation.com"
EVENT_REGION = "us-east-1"


def published_document(document: Any) -> bytes:
    """The bytes put into the state bucket for an organization file loaded as `document`."""
    return (json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n").encode()


def publish_organization(provider: Provider, bucket: str, document: Any) -> str | Diagnostic | None:
    """Put the organization file into `bucket` as organization.yml and raise the
    OrganizationChanged event, unless the bucket already holds exactly that file. Returns what
    to tell: a line saying what was published, W490 naming what failed, or None (nothing to
    publish)."""
    from orgc.aws import AwsError

    body = published_document(document)
    where = f"s3://{bucket}/{ORGANIZATION_OBJECT}"
    try:
        held = provider.get_object(bucket, ORGANIZATION_OBJECT)
        if held is not None and held[0] == body:
            return None
        provider.put_object(bucket, ORGANIZATION_OBJECT, body)
    except AwsError as error:
        return Diagnostic(
            "W490",
            f"the organization file was applied but not published to {where}: {error}; "
            "pipelines reading it with --organization-file see the previous one",
        )
    detail = {
        "eventName": "OrganizationChanged",
        "bucketName": bucket,
        "objectKey": ORGANIZATION_OBJECT,
    }
    try:
        provider.put_event(
            source=EVENT_SOURCE,
            detail_type=EVENT_DETAIL_TYPE,
            detail=json.dumps(detail),
            region=EVENT_REGION,
        )
    except AwsError as error:
        return Diagnostic(
            "W490",
            f"the organization file was published to {where}, but the OrganizationChanged "
            f"event was not raised: {error}",
        )
    return f"Published the organization file to {where} (OrganizationChanged event raised)."
