"""`AwsProvider`: every verb of the package on one object, orgc.provider.Provider over AWS."""

from __future__ import annotations

import json

from orgc.aws.contacts import ContactVerbs
from orgc.aws.errors import AwsError
from orgc.aws.organizations import OrganizationVerbs
from orgc.aws.sso import SsoVerbs
from orgc.aws.stacksets import StackSetVerbs


class AwsProvider(OrganizationVerbs, ContactVerbs, SsoVerbs, StackSetVerbs):
    """Domain verbs over Organizations, IAM, STS, S3 and CloudFormation stacks and StackSets
    (StackSetVerbs builds on StackVerbs); safe to use from many threads.

    `profile` selects a named profile; without it boto3's standard credential chain applies.
    `endpoint_url` overrides every service's endpoint (the embedded emulator); without it boto3's
    own `AWS_ENDPOINT_URL` handling applies. `region` is where the global services (Organizations,
    STS, IAM) and the state bucket are addressed. `max_workers` bounds the threads of one read.
    `sleep` and `poll_interval` are how the provider waits (injectable so tests do not wait).
    `max_retry_attempts` is how many times a throttled or conflicting call is retried after its
    first attempt, with capped exponential backoff and full jitter, on top of botocore's own
    HTTP-level retries.
    """

    def put_event(self, *, source: str, detail_type: str, detail: str, region: str) -> None:
        """One event on the default bus of the management account; an entry EventBridge
        refuses (PutEvents answers with FailedEntryCount, not an error) raises AwsError."""
        events = self._client("events", region, None, None)
        entry = {"Source": source, "DetailType": detail_type, "Detail": detail}
        response = self._call("EventBridge.PutEvents", lambda: events.put_events(Entries=[entry]))
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise AwsError(
                code=str(failed.get("ErrorCode", "FailedEntry")),
                operation="EventBridge.PutEvents",
                message=str(failed.get("ErrorMessage", "the event bus refused the event")),
            )

    def ensure_template_bucket(self) -> str:
        """The bucket templates too large to pass inline go through: `orgc-templates-<management
        account id>` in the provider's region, made on first use versioned, encrypted and with
        public access blocked, its objects readable by the accounts of the organization alone
        (a bucket policy on aws:PrincipalOrgID: a member account's CloudFormation reads the
        template with that account's credentials). Returns its name; idempotent."""
        organization_id, management_id = self.organization_identity()
        bucket = f"orgc-templates-{management_id}"
        self.ensure_bucket(bucket, self._region)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OrganizationReadsTemplates",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/templates/*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
                },
            ],
        }
        s3 = self._s3(self._region)
        self._call(
            "S3.PutBucketPolicy",
            lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy)),
        )
        return bucket
