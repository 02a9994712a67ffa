"""The provider's CloudFormation and S3 object verbs against the emulator.

The emulator finishes every stack operation at once and never fails one, so waiting and failure
are proved by rewriting its answers with botocore event hooks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from support.emulated import in_account

from orgc.aws import AwsError, AwsProvider, StackFailed
from orgc.emulator import Emulator
from orgc.observed import LiveStack, StackDeployment

MANAGEMENT = "123456789012"
ROLE = "OrganizationAccountAccessRole"
REGION = "eu-west-1"
STACK = "orgc-baseline"

Hook = Callable[..., Any]


def baseline_template(*, padding: int = 0) -> str:
    """An SSM parameter holding the `Value` parameter, with its name and value as outputs."""
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Value": {"Type": "String"}},
        "Resources": {
            "Parameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": "/orgc/baseline",
                    "Type": "String",
                    "Value": {"Ref": "Value"},
                },
            }
        },
        "Outputs": {
            "ParameterName": {
                "Value": {"Ref": "Parameter"},
                "Export": {"Name": "orgc-baseline-parameter"},
            },
            "ParameterValue": {"Value": {"Ref": "Value"}},
        },
    }
    if padding:
        template["Metadata"] = {"Padding": "x" * padding}
    return json.dumps(template, indent=2)


def deploy(
    aws: AwsProvider,
    account_id: str,
    value: str,
    *,
    create: bool,
    region: str = REGION,
    **options: Any,
) -> Any:
    return aws.deploy_stack(
        StackDeployment(
            account_id=account_id,
            role_name=ROLE,
            region=region,
            stack_name=STACK,
            template_body=baseline_template(),
            parameters={"Value": value},
            tags={"owner": "platform"},
            create=create,
            **options,
        )
    )


def rewrite_statuses(*statuses: str | None) -> Hook:
    """An after-call DescribeStacks hook: the n-th answer reports `statuses[n]` (None: as is)."""
    remaining = list(statuses)

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        if not remaining:
            return
        status = remaining.pop(0)
        if status is not None:
            parsed["Stacks"][0]["StackStatus"] = status

    return hook


def stack_event(
    logical_id: str, resource_type: str, status: str, reason: str = "", *, stack: bool = False
) -> dict[str, Any]:
    """One DescribeStackEvents entry; `stack` makes it a stack-level event."""
    stack_id = f"arn:aws:cloudformation:{REGION}:{MANAGEMENT}:stack/{STACK}/1"
    event: dict[str, Any] = {
        "StackId": stack_id,
        "EventId": f"{logical_id}-{status}",
        "StackName": STACK,
        "Timestamp": datetime(2026, 1, 1),
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": stack_id if stack else f"physical-{logical_id}",
        "ResourceType": resource_type,
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def replace_events(events: list[dict[str, Any]]) -> Hook:
    def hook(parsed: dict[str, Any], **_: Any) -> None:
        parsed["StackEvents"] = events

    return hook


def record_params(operation: str, into: list[dict[str, Any]]) -> tuple[str, Hook]:
    def hook(params: dict[str, Any], **_: Any) -> None:
        into.append(dict(params))

    return f"before-parameter-build.cloudformation.{operation}", hook


def missing_stack(endpoint: str) -> Hook:
    """A before-call hook answering as AWS does for a stack that is not there."""

    def hook(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        parsed = {
            "Error": {
                "Code": "ValidationError",
                "Message": f"Stack with id {params.get('StackName')} does not exist",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return AWSResponse(endpoint, 400, HTTPHeaders(), None), parsed

    return hook


@pytest.fixture
def member(aws: AwsProvider) -> str:
    return aws.create_account(name="Member", email="member@example.com")


def made(aws: AwsProvider, before: dict[str, int], operation: str) -> int:
    return aws.call_counts().get(operation, 0) - before.get(operation, 0)


# --- the life of a stack -------------------------------------------------------------------


def test_a_created_stack_is_listed_only_where_it_lives(aws: AwsProvider, member: str) -> None:
    result = deploy(aws, member, "one", create=True)

    assert result.status == "CREATE_COMPLETE"
    assert result.stack_id.startswith(f"arn:aws:cloudformation:{REGION}:{member}:stack/{STACK}/")
    assert result.outputs == {"ParameterName": "/orgc/baseline", "ParameterValue": "one"}
    assert result.exports == {"orgc-baseline-parameter": "/orgc/baseline"}
    listed = aws.list_stacks(member, ROLE, REGION)
    assert listed == {
        STACK: LiveStack(
            stack_name=STACK,
            account_id=member,
            region=REGION,
            stack_id=result.stack_id,
            status="CREATE_COMPLETE",
            last_changed=result.last_changed,
        )
    }
    assert datetime.fromisoformat(listed[STACK].last_changed).tzinfo is not None
    assert aws.list_stacks(member, ROLE, "us-east-1") == {}
    assert aws.list_stacks(MANAGEMENT, ROLE, REGION) == {}
    # One role assumption serves every call into the member account.
    assert aws.call_counts()["STS.AssumeRole"] == 1


def test_update_changes_the_outputs_and_a_no_op_update_succeeds(
    aws: AwsProvider, member: str
) -> None:
    created = deploy(aws, member, "one", create=True)
    updated = deploy(aws, member, "two", create=False)
    assert (updated.stack_id, updated.status) == (created.stack_id, "UPDATE_COMPLETE")
    assert updated.outputs["ParameterValue"] == "two"

    before = aws.call_counts()
    unchanged = deploy(aws, member, "two", create=False)
    assert unchanged == updated
    # AWS refused the update ("No updates are to be performed") and nothing else was tried.
    assert made(aws, before, "CloudFormation.UpdateStack") == 1
    assert made(aws, before, "CloudFormation.DescribeStacks") == 1
    assert made(aws, before, "CloudFormation.UpdateTerminationProtection") == 0


def test_a_no_op_update_of_a_rolled_back_stack_succeeds(aws: AwsProvider, member: str) -> None:
    deploy(aws, member, "one", create=True)
    deploy(aws, member, "two", create=False)
    # The stack's last update failed and was undone; asking again for what it holds is no change.
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStacks", rewrite_statuses("UPDATE_ROLLBACK_COMPLETE")
    )
    unchanged = deploy(aws, member, "two", create=False)
    assert (unchanged.status, unchanged.outputs["ParameterValue"]) == (
        "UPDATE_ROLLBACK_COMPLETE",
        "two",
    )


def test_describe_and_read_export_see_the_stack_until_it_is_deleted(
    aws: AwsProvider, member: str
) -> None:
    where = {"account_id": member, "role_name": ROLE, "region": REGION}
    assert aws.describe_stack(**where, stack_name=STACK) is None
    result = deploy(aws, member, "one", create=True)

    assert aws.describe_stack(**where, stack_name=STACK) == result
    assert aws.read_export(**where, name="orgc-baseline-parameter") == "/orgc/baseline"
    assert aws.read_export(**where, name="no-such-export") is None
    assert aws.read_export(account_id=member, role_name=ROLE, region="us-east-1", name="x") is None

    aws.delete_stack(**where, stack_name=STACK)
    assert aws.describe_stack(**where, stack_name=STACK) is None
    assert aws.list_stacks(member, ROLE, REGION) == {}
    assert aws.read_export(**where, name="orgc-baseline-parameter") is None


def test_deleting_a_missing_stack_is_fine(aws: AwsProvider, member: str) -> None:
    aws.delete_stack(account_id=member, role_name=ROLE, region=REGION, stack_name="never-made")
    assert "CloudFormation.DeleteStack" not in aws.call_counts()


def test_the_management_account_uses_the_base_credentials(aws: AwsProvider) -> None:
    deploy(aws, MANAGEMENT, "one", create=True)
    assert set(aws.list_stacks(MANAGEMENT, ROLE, REGION)) == {STACK}
    assert "STS.AssumeRole" not in aws.call_counts()


def test_create_sends_every_option(aws: AwsProvider, member: str) -> None:
    sent: list[dict[str, Any]] = []
    aws.register_event_hook(*record_params("CreateStack", sent))
    policy = json.dumps({"Statement": [{"Effect": "Deny", "Action": "Update:*"}]})
    deploy(
        aws,
        member,
        "one",
        create=True,
        termination_protection=True,
        stack_policy=policy,
        role_arn=f"arn:aws:iam::{member}:role/Deployer",
        disable_rollback=True,
    )
    # A token of its own, so that CloudFormation takes a request it receives twice for one.
    assert [params.pop("ClientRequestToken")[:5] for params in sent] == ["orgc-"]
    assert sent == [
        {
            "StackName": STACK,
            "TemplateBody": baseline_template(),
            "Parameters": [{"ParameterKey": "Value", "ParameterValue": "one"}],
            "Tags": [{"Key": "owner", "Value": "platform"}],
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "DisableRollback": True,
            "EnableTerminationProtection": True,
            "StackPolicyBody": policy,
            "RoleARN": f"arn:aws:iam::{member}:role/Deployer",
        }
    ]


def test_creating_an_existing_stack_reports_the_service_error(
    aws: AwsProvider, member: str
) -> None:
    deploy(aws, member, "one", create=True)
    with pytest.raises(AwsError) as raised:
        deploy(aws, member, "one", create=True)
    assert (raised.value.code, raised.value.operation) == (
        "AlreadyExistsException",
        "CloudFormation.CreateStack",
    )


# --- termination protection ----------------------------------------------------------------


def test_termination_protection_is_changed_only_when_it_differs(
    aws: AwsProvider, member: str
) -> None:
    deploy(aws, member, "one", create=True, termination_protection=True)
    deploy(aws, member, "two", create=False, termination_protection=True)
    assert "CloudFormation.UpdateTerminationProtection" not in aws.call_counts()

    # Turned off with UpdateTerminationProtection, which the emulator keeps as AWS does.
    deploy(aws, member, "three", create=False, termination_protection=False)
    assert aws.call_counts()["CloudFormation.UpdateTerminationProtection"] == 1
    client = in_account(member, "cloudformation", REGION)
    assert (
        client.describe_stacks(StackName=STACK)["Stacks"][0]["EnableTerminationProtection"] is False
    )


def test_a_protected_stack_is_not_deleted(aws: AwsProvider, member: str) -> None:
    deploy(aws, member, "one", create=True, termination_protection=True)
    where = {"account_id": member, "role_name": ROLE, "region": REGION}
    with pytest.raises(AwsError) as raised:
        aws.delete_stack(**where, stack_name=STACK)
    assert (raised.value.code, raised.value.operation) == (
        "ValidationError",
        "CloudFormation.DeleteStack",
    )
    assert "cannot be deleted while TerminationProtection is enabled" in str(raised.value)
    assert aws.describe_stack(**where, stack_name=STACK) is not None

    deploy(aws, member, "one", create=False, termination_protection=False)
    aws.delete_stack(**where, stack_name=STACK)
    assert aws.describe_stack(**where, stack_name=STACK) is None


# --- waiting -------------------------------------------------------------------------------


def test_deploy_polls_until_the_stack_settles(emulator: Emulator, aws: AwsProvider) -> None:
    waits: list[float] = []
    provider = AwsProvider(endpoint_url=emulator.endpoint, sleep=waits.append, poll_interval=5.0)
    provider.register_event_hook(
        "after-call.cloudformation.DescribeStacks",
        rewrite_statuses("CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"),
    )
    result = deploy(provider, MANAGEMENT, "one", create=True)
    assert result.status == "CREATE_COMPLETE"
    assert waits == [5.0, 5.0]
    assert provider.call_counts()["CloudFormation.DescribeStacks"] == 3


def test_an_update_waits_through_cleanup(aws: AwsProvider, sleeps: list[float]) -> None:
    deploy(aws, MANAGEMENT, "one", create=True)
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStacks",
        rewrite_statuses("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
    )
    result = deploy(aws, MANAGEMENT, "two", create=False)
    assert (result.status, result.outputs["ParameterValue"]) == ("UPDATE_COMPLETE", "two")
    assert len(sleeps) == 2


# --- failures ------------------------------------------------------------------------------


def test_a_rolled_back_create_names_the_first_failure_of_the_operation(
    aws: AwsProvider, sleeps: list[float]
) -> None:
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStacks",
        rewrite_statuses("CREATE_IN_PROGRESS", "ROLLBACK_COMPLETE"),
    )
    parameter, topic = "AWS::SSM::Parameter", "AWS::SNS::Topic"
    stack_type = "AWS::CloudFormation::Stack"
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStackEvents",
        replace_events(
            [  # newest first, as CloudFormation lists them
                stack_event(STACK, stack_type, "ROLLBACK_COMPLETE", stack=True),
                stack_event("Topic", topic, "DELETE_COMPLETE"),
                stack_event(
                    STACK,
                    stack_type,
                    "ROLLBACK_IN_PROGRESS",
                    "The following resource(s) failed to create: [Parameter, Topic].",
                    stack=True,
                ),
                stack_event("Topic", topic, "CREATE_FAILED", "Resource creation cancelled"),
                stack_event("Parameter", parameter, "CREATE_FAILED", "Parameter name is invalid"),
                stack_event("Parameter", parameter, "CREATE_IN_PROGRESS"),
                stack_event(STACK, stack_type, "CREATE_IN_PROGRESS", "User Initiated", stack=True),
                # An older operation's failure is not this one's.
                stack_event("Old", parameter, "UPDATE_FAILED", "an old failure"),
            ]
        ),
    )
    with pytest.raises(StackFailed) as raised:
        deploy(aws, MANAGEMENT, "one", create=True)
    assert raised.value.code == "StackFailed"
    assert raised.value.operation == "CloudFormation.CreateStack"
    assert raised.value.message == (
        f"stack {STACK} in account {MANAGEMENT}, region {REGION} ended ROLLBACK_COMPLETE; "
        "first failure: Parameter (AWS::SSM::Parameter) CREATE_FAILED: Parameter name is invalid"
    )
    assert len(sleeps) == 1


def test_a_failed_update_without_failure_events_gives_the_stack_reason(
    aws: AwsProvider, member: str
) -> None:
    deploy(aws, member, "one", create=True)

    def rolled_back(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Stacks"][0]["StackStatus"] = "UPDATE_ROLLBACK_COMPLETE"
        parsed["Stacks"][0]["StackStatusReason"] = "Export in use by another stack"

    aws.register_event_hook("after-call.cloudformation.DescribeStacks", rolled_back)
    with pytest.raises(StackFailed) as raised:
        deploy(aws, member, "two", create=False)
    assert str(raised.value) == (
        f"CloudFormation.UpdateStack: StackFailed: stack {STACK} in account {member}, "
        f"region {REGION} ended UPDATE_ROLLBACK_COMPLETE; Export in use by another stack"
    )


def test_a_failed_delete_raises_with_the_reason(aws: AwsProvider) -> None:
    deploy(aws, MANAGEMENT, "one", create=True)
    # The first answer is the lookup before the delete; the second is the wait after it.
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStacks", rewrite_statuses(None, "DELETE_FAILED")
    )
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStackEvents",
        replace_events(
            [
                stack_event(STACK, "AWS::CloudFormation::Stack", "DELETE_FAILED", stack=True),
                stack_event(
                    "Vpc",
                    "AWS::EC2::VPC",
                    "DELETE_FAILED",
                    "The vpc has dependencies and cannot be deleted",
                ),
                stack_event(STACK, "AWS::CloudFormation::Stack", "DELETE_IN_PROGRESS", stack=True),
            ]
        ),
    )
    with pytest.raises(StackFailed) as raised:
        aws.delete_stack(account_id=MANAGEMENT, role_name=ROLE, region=REGION, stack_name=STACK)
    assert raised.value.operation == "CloudFormation.DeleteStack"
    assert raised.value.message.endswith(
        "ended DELETE_FAILED; first failure: Vpc (AWS::EC2::VPC) DELETE_FAILED: "
        "The vpc has dependencies and cannot be deleted"
    )


def test_a_stack_that_vanishes_while_created_fails(
    aws: AwsProvider, emulator: Emulator, member: str
) -> None:
    aws.register_event_hook(
        "before-call.cloudformation.DescribeStacks", missing_stack(emulator.endpoint)
    )
    with pytest.raises(StackFailed) as raised:
        deploy(aws, member, "one", create=True)
    assert raised.value.message == (
        f"stack {STACK} in account {member}, region {REGION} disappeared before its operation "
        "finished"
    )


# --- templates through S3 ------------------------------------------------------------------


def test_a_large_template_goes_through_the_template_bucket(
    aws: AwsProvider, emulator: Emulator
) -> None:
    bucket = "orgc-templates-123456789012"
    aws.ensure_bucket(bucket, "us-east-1")
    template = baseline_template(padding=60_000)
    sent: list[dict[str, Any]] = []
    aws.register_event_hook(*record_params("CreateStack", sent))

    result = aws.deploy_stack(
        StackDeployment(
            account_id=MANAGEMENT,
            role_name=ROLE,
            region=REGION,
            stack_name=STACK,
            template_body=template,
            parameters={"Value": "big"},
            tags={},
            create=True,
            template_bucket=bucket,
        )
    )

    key = f"templates/{hashlib.sha256(template.encode()).hexdigest()}.json"
    assert "TemplateBody" not in sent[0]
    assert sent[0]["TemplateURL"] == f"https://{bucket}.s3.amazonaws.com/{key}"
    s3 = boto3.client("s3", endpoint_url=emulator.endpoint, region_name="us-east-1")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == template.encode()
    assert result.outputs["ParameterValue"] == "big"


def test_a_large_template_without_a_bucket_is_refused_before_any_call(aws: AwsProvider) -> None:
    with pytest.raises(AwsError) as raised:
        aws.deploy_stack(
            StackDeployment(
                account_id=MANAGEMENT,
                role_name=ROLE,
                region=REGION,
                stack_name=STACK,
                template_body=baseline_template(padding=60_000),
                parameters={"Value": "big"},
                tags={},
                create=False,
            )
        )
    assert (raised.value.code, raised.value.operation) == (
        "TemplateTooLarge",
        "CloudFormation.UpdateStack",
    )
    assert "over CloudFormation's inline limit of 51,200" in raised.value.message
    assert not any(name.startswith("CloudFormation.") for name in aws.call_counts())


# --- S3 objects ----------------------------------------------------------------------------


def test_s3_objects_put_and_head(aws: AwsProvider) -> None:
    bucket = "orgc-artifacts-eu"
    aws.ensure_bucket(bucket, REGION)
    assert aws.head_s3_object(bucket=bucket, key="a/b.txt", region=REGION) is None
    first = aws.put_s3_object(bucket=bucket, key="a/b.txt", body=b"one", region=REGION)
    assert first == f'"{hashlib.md5(b"one").hexdigest()}"'
    assert aws.head_s3_object(bucket=bucket, key="a/b.txt", region=REGION) == first
    second = aws.put_s3_object(bucket=bucket, key="a/b.txt", body=b"two", region=REGION)
    assert second != first
    assert aws.head_s3_object(bucket=bucket, key="a/b.txt", region=REGION) == second
    assert aws.head_s3_object(bucket="orgc-no-such-bucket", key="k", region=REGION) is None
    assert aws.call_counts()["S3.HeadObject"] == 4


def test_get_template_gives_the_body_deployed_and_none_for_a_missing_stack(
    aws: AwsProvider, member: str
) -> None:
    deploy(aws, member, "one", create=True)
    where = {"account_id": member, "role_name": ROLE, "region": REGION}
    body = aws.get_template(**where, stack_name=STACK)
    assert body is not None
    assert json.loads(body) == json.loads(baseline_template())
    assert aws.get_template(**where, stack_name="no-such-stack") is None
    assert aws.call_counts()["CloudFormation.GetTemplate"] == 2
