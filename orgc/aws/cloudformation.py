"""CloudFormation verbs: stacks in one account and region, reached through the account's role.

Stack operations are asynchronous in AWS: every verb that changes a stack returns only once the
stack has reached a terminal state, and a stack that ends failed or rolled back raises
`StackFailed` with the first resource failure AWS recorded for that operation.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import TYPE_CHECKING, Any, cast

from orgc.aws.errors import AwsError, StackFailed
from orgc.aws.idempotent import CREATE_ATTEMPTS, gave_up, no_blind_retry, outcome_unknown
from orgc.aws.s3 import S3Verbs
from orgc.observed import LiveStack, StackDeployment, StackResult

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.literals import CapabilityType
    from mypy_boto3_cloudformation.type_defs import (
        ParameterTypeDef,
        StackEventTypeDef,
        StackSummaryTypeDef,
        StackTypeDef,
        TagTypeDef,
    )

# CloudFormation refuses a TemplateBody longer than this many bytes; a larger template has to be
# read by CloudFormation from S3 (TemplateURL).
TEMPLATE_BODY_LIMIT = 51_200

# Landing-zone templates create IAM roles with names and may use macros (AWS::Serverless,
# AWS::Include); CloudFormation refuses such a template unless each is acknowledged.
_CAPABILITIES: list[CapabilityType] = [
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
]
_SUCCEEDED = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE"})
# After an update that changed nothing, any settled, usable state is the stack as it should be:
# UPDATE_ROLLBACK_COMPLETE, for one, is a stack whose failed update was undone to what is wanted.
_SETTLED = _SUCCEEDED | {"UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
# The stack-level statuses that open an operation: the stack's events since the newest of these
# are the events of the operation that just ended.
_OPERATION_STARTS = frozenset(
    {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS"}
)
# CloudFormation gives up on a stuck resource by itself (most handlers within an hour); this bound
# only keeps a stack that never settles from holding a run forever.
_STACK_TIMEOUT = 3 * 3600.0


class StackVerbs(S3Verbs):
    """Stacks inside member accounts (the management account with the base credentials)."""

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        """Every stack in the account and region that is not DELETE_COMPLETE, by name
        (ListStacks, paginated: one call per page). last_changed = LastUpdatedTime or
        CreationTime as ISO 8601 (datetime.isoformat())."""
        cloudformation = self._cloudformation(account_id, role_name, region)
        summaries = self._call(
            "CloudFormation.ListStacks",
            lambda: [
                summary
                for page in cloudformation.get_paginator("list_stacks").paginate()
                for summary in page["StackSummaries"]
            ],
            account_id=account_id,
        )
        # Deleted stacks are dropped here rather than with StackStatusFilter, which would hide a
        # live stack in any status added to CloudFormation after this list was written.
        return {
            summary["StackName"]: _live_stack(summary, account_id, region)
            for summary in sorted(summaries, key=lambda summary: summary["StackName"])
            if summary["StackStatus"] != "DELETE_COMPLETE"
        }

    def deploy_stack(self, deployment: StackDeployment) -> StackResult:
        """Create (`deployment.create`) or update the stack and wait until it is in a terminal
        state.

        Success is CREATE_COMPLETE or UPDATE_COMPLETE; an update that AWS refuses with "No updates
        are to be performed" is a success too, and returns the stack as it is (in any settled state
        that is not a failure, UPDATE_ROLLBACK_COMPLETE included). Any other end
        (CREATE_FAILED, ROLLBACK_*, UPDATE_ROLLBACK_*, *_FAILED) raises `StackFailed` naming the
        final status and the operation's earliest failed resource with its reason. A template
        over 51,200 bytes is uploaded to the `template_bucket` (management account, key
        `templates/<sha256>.json`) and passed as TemplateURL; without a bucket it raises
        `AwsError` (code `TemplateTooLarge`). On update, termination protection is changed (with
        UpdateTerminationProtection) only when it differs from the stack's. Returns the stack's
        id, status, last change, outputs and exports as the final DescribeStacks reports them.
        """
        account_id, region = deployment.account_id, deployment.region
        stack_name, create = deployment.stack_name, deployment.create
        cloudformation = self._cloudformation(account_id, deployment.role_name, region)
        operation = "CloudFormation.CreateStack" if create else "CloudFormation.UpdateStack"
        template = self._template_source(
            operation, deployment.template_body, deployment.template_bucket
        )
        parameter_list: list[ParameterTypeDef] = [
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in sorted(deployment.parameters.items())
        ]
        tag_list: list[TagTypeDef] = [
            {"Key": key, "Value": value} for key, value in sorted(deployment.tags.items())
        ]
        # What create and update share; the template is a TemplateBody or a TemplateURL.
        request: dict[str, Any] = {
            "StackName": stack_name,
            "Parameters": parameter_list,
            # On update, an empty list removes every tag, as a declared stack without tags should.
            "Tags": tag_list,
            "Capabilities": _CAPABILITIES,
            "DisableRollback": deployment.disable_rollback,
            **template,
        }
        if deployment.stack_policy is not None:
            request["StackPolicyBody"] = deployment.stack_policy
        if not create and deployment.stack_policy_during_update is not None:
            request["StackPolicyDuringUpdateBody"] = deployment.stack_policy_during_update
        if deployment.role_arn is not None:
            request["RoleARN"] = deployment.role_arn
        termination_protection = deployment.termination_protection
        stack_ref = stack_name
        succeeded = _SUCCEEDED
        # One token per deploy: CloudFormation takes a request it sees twice for one.
        request["ClientRequestToken"] = f"orgc-{uuid.uuid4()}"
        if create:
            request["EnableTerminationProtection"] = termination_protection
            # After a lost answer the stack is looked for by name before it is created again.
            no_blind_retry(cloudformation, "CreateStack")
            for attempt in range(CREATE_ATTEMPTS):
                try:
                    created = self._call(operation, lambda: cloudformation.create_stack(**request))
                    stack_ref = created["StackId"]
                    break
                except AwsError as error:
                    if not outcome_unknown(error):
                        raise
                    lost = error
                found = self._describe(cloudformation, stack_name)
                if found is not None:
                    stack_ref = found.get("StackId", stack_name)
                    break
                if attempt + 1 == CREATE_ATTEMPTS:
                    raise gave_up(lost, f"stack {stack_name} in {account_id} {region}")
                self._sleep(self._backoff(attempt))
        else:
            try:
                updated = self._call(operation, lambda: cloudformation.update_stack(**request))
            except AwsError as error:
                if not _nothing_to_update(error):
                    raise
                succeeded = _SETTLED
            else:
                stack_ref = updated["StackId"]

        stack = self._wait_for_stack(cloudformation, operation, stack_ref)
        if stack is None or stack["StackStatus"] not in succeeded:
            raise self._stack_failed(
                cloudformation,
                stack,
                operation=operation,
                stack_name=stack_name,
                account_id=account_id,
                region=region,
            )
        if not create and deployment.stack_policy is not None:
            # UpdateStack leaves the policy as it was when nothing else changes (and some
            # endpoints ignore StackPolicyBody on update): the policy is set on its own.
            stack_id = stack.get("StackId", stack_name)
            policy = deployment.stack_policy
            self._call(
                "CloudFormation.SetStackPolicy",
                lambda: cloudformation.set_stack_policy(StackName=stack_id, StackPolicyBody=policy),
            )
        if not create and stack.get("EnableTerminationProtection", False) != termination_protection:
            stack_id = stack.get("StackId", stack_name)
            self._call(
                "CloudFormation.UpdateTerminationProtection",
                lambda: cloudformation.update_termination_protection(
                    StackName=stack_id, EnableTerminationProtection=termination_protection
                ),
            )
        return _stack_result(stack)

    def delete_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> None:
        """Delete the stack and wait for DELETE_COMPLETE; a stack that is already gone is
        success. DELETE_FAILED raises `StackFailed` with the reason from the stack events."""
        cloudformation = self._cloudformation(account_id, role_name, region)
        operation = "CloudFormation.DeleteStack"
        stack = self._describe(cloudformation, stack_name)
        if stack is None:
            return
        # From here on the stack is followed by id: once deleted, its name no longer finds it.
        stack_id = stack.get("StackId", stack_name)
        self._call(operation, lambda: cloudformation.delete_stack(StackName=stack_id))
        final = self._wait_for_stack(cloudformation, operation, stack_id)
        if final is not None:
            raise self._stack_failed(
                cloudformation,
                final,
                operation=operation,
                stack_name=stack_name,
                account_id=account_id,
                region=region,
            )

    def describe_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> StackResult | None:
        """The stack's outputs and exports now, or None when there is no such stack."""
        cloudformation = self._cloudformation(account_id, role_name, region)
        stack = self._describe(cloudformation, stack_name)
        return None if stack is None else _stack_result(stack)

    def get_template(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> str | None:
        """The template body the stack was last deployed with (GetTemplate, the original
        template as given, not the processed one), or None when there is no such stack."""
        cloudformation = self._cloudformation(account_id, role_name, region)
        try:
            response = self._call(
                "CloudFormation.GetTemplate",
                lambda: cloudformation.get_template(StackName=stack_name, TemplateStage="Original"),
                account_id=account_id,
            )
        except AwsError as error:
            if _stack_missing(error):
                return None
            raise
        body = response.get("TemplateBody")
        # boto3 parses a JSON body into a dict; orgc compares the text it deployed.
        if isinstance(body, str):
            return body
        return None if body is None else json.dumps(body, separators=(",", ":"))

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        """The value of a CloudFormation export (ListExports, paginated), or None."""
        cloudformation = self._cloudformation(account_id, role_name, region)

        def find() -> str | None:
            for page in cloudformation.get_paginator("list_exports").paginate():
                for export in page["Exports"]:
                    if export.get("Name") == name:
                        return export.get("Value", "")
            return None

        return self._call("CloudFormation.ListExports", find, account_id=account_id)

    def _cloudformation(self, account_id: str, role_name: str, region: str) -> CloudFormationClient:
        return cast(
            "CloudFormationClient",
            self._in_account("cloudformation", region, account_id, role_name),
        )

    def _template_source(
        self, operation: str, template_body: str, template_bucket: str | None
    ) -> dict[str, str]:
        """{"TemplateBody": ...} for a template CloudFormation takes inline, else the template
        uploaded to `template_bucket` as {"TemplateURL": ...}."""
        body = template_body.encode("utf-8")
        if len(body) <= TEMPLATE_BODY_LIMIT:
            return {"TemplateBody": template_body}
        if template_bucket is None:
            raise AwsError(
                code="TemplateTooLarge",
                operation=operation,
                message=(
                    f"the template is {len(body):,} bytes, over CloudFormation's inline limit of "
                    f"{TEMPLATE_BODY_LIMIT:,}; name a template bucket to pass it through S3"
                ),
            )
        # Named by content: the same template is one object however often it is deployed.
        key = f"templates/{hashlib.sha256(body).hexdigest()}.json"
        self.put_s3_object(bucket=template_bucket, key=key, body=body, region=self._region)
        # The virtual-hosted global name reaches the bucket whatever its region.
        return {"TemplateURL": f"https://{template_bucket}.s3.amazonaws.com/{key}"}

    def _describe(
        self, cloudformation: CloudFormationClient, stack_ref: str
    ) -> StackTypeDef | None:
        """The stack by name or id, or None when it does not exist (or is DELETE_COMPLETE, as
        a deleted stack looked up by id is)."""
        try:
            stacks = self._call(
                "CloudFormation.DescribeStacks",
                lambda: cloudformation.describe_stacks(StackName=stack_ref)["Stacks"],
            )
        except AwsError as error:
            if _stack_missing(error):
                return None
            raise
        if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            return None
        return stacks[0]

    def _wait_for_stack(
        self, cloudformation: CloudFormationClient, operation: str, stack_ref: str
    ) -> StackTypeDef | None:
        """Poll until the stack is in a terminal state; None when it is gone."""
        elapsed = 0.0
        while True:
            stack = self._describe(cloudformation, stack_ref)
            if stack is None or not _in_progress(stack["StackStatus"]):
                return stack
            elapsed = self._wait(operation, _STACK_TIMEOUT, elapsed)

    def _stack_failed(
        self,
        cloudformation: CloudFormationClient,
        stack: StackTypeDef | None,
        *,
        operation: str,
        stack_name: str,
        account_id: str,
        region: str,
    ) -> StackFailed:
        """The error for a stack that ended `stack`'s status (None: it vanished meanwhile)."""
        where = f"stack {stack_name} in account {account_id}, region {region}"
        if stack is None:
            return StackFailed(
                code="StackFailed",
                operation=operation,
                message=f"{where} disappeared before its operation finished",
            )
        status = stack["StackStatus"]
        failure = self._first_failure(cloudformation, stack.get("StackId", stack_name))
        if failure is not None:
            logical_id = failure.get("LogicalResourceId", "?")
            resource_type = failure.get("ResourceType", "?")
            detail = (
                f"first failure: {logical_id} ({resource_type}) "
                f"{failure.get('ResourceStatus', '')}: "
                f"{failure.get('ResourceStatusReason', 'no reason given')}"
            )
        else:
            detail = stack.get("StackStatusReason") or "the stack events name no failed resource"
        return StackFailed(
            code="StackFailed", operation=operation, message=f"{where} ended {status}; {detail}"
        )

    def _first_failure(
        self, cloudformation: CloudFormationClient, stack_ref: str
    ) -> StackEventTypeDef | None:
        """The earliest *_FAILED event of the stack's latest operation, if any.

        Events come newest first; reading stops at the stack-level event that opened the
        operation, so a long history costs no more pages than the operation itself.
        """

        def operation_events() -> list[StackEventTypeDef]:
            events: list[StackEventTypeDef] = []
            pages = cloudformation.get_paginator("describe_stack_events").paginate(
                StackName=stack_ref
            )
            for page in pages:
                for event in page["StackEvents"]:
                    if _opens_operation(event):
                        return events
                    events.append(event)
            return events

        try:
            events = self._call("CloudFormation.DescribeStackEvents", operation_events)
        except AwsError:
            # The failure itself is what matters: a reason that cannot be read (events denied,
            # throttled for good) leaves the status to tell it, not a second error hiding it.
            return None
        failed = [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
        return failed[-1] if failed else None


def _in_progress(status: str) -> bool:
    # REVIEW_IN_PROGRESS is a stack waiting for a change set to be executed: nothing moves it on.
    return status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def _opens_operation(event: StackEventTypeDef) -> bool:
    # Stack-level events are the ones whose physical id is the stack itself (a nested stack's
    # events carry the nested stack's id).
    return (
        event.get("PhysicalResourceId") == event["StackId"]
        and event.get("ResourceStatus", "") in _OPERATION_STARTS
    )


def _nothing_to_update(error: AwsError) -> bool:
    return error.code == "ValidationError" and "No updates are to be performed" in error.message


def _stack_missing(error: AwsError) -> bool:
    return error.code == "ValidationError" and "does not exist" in error.message


def _live_stack(summary: StackSummaryTypeDef, account_id: str, region: str) -> LiveStack:
    changed = summary.get("LastUpdatedTime") or summary["CreationTime"]
    return LiveStack(
        stack_name=summary["StackName"],
        account_id=account_id,
        region=region,
        stack_id=summary.get("StackId", ""),
        status=summary["StackStatus"],
        last_changed=changed.isoformat(),
        status_reason=summary.get("StackStatusReason"),
    )


def _stack_result(stack: StackTypeDef) -> StackResult:
    outputs = stack.get("Outputs", [])
    changed = stack.get("LastUpdatedTime") or stack["CreationTime"]
    return StackResult(
        stack_id=stack.get("StackId", ""),
        status=stack["StackStatus"],
        last_changed=changed.isoformat(),
        outputs={
            output["OutputKey"]: output.get("OutputValue", "")
            for output in outputs
            if "OutputKey" in output
        },
        exports={
            output["ExportName"]: output.get("OutputValue", "")
            for output in outputs
            if "ExportName" in output
        },
    )
