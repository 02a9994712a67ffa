"""The AWS provider against the emulator, with failures injected through botocore event hooks."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from orgc.aws import AwsError, AwsProvider, NoCredentials, PreconditionFailed
from orgc.emulator import Emulator, emulator_environment
from orgc.observed import (
    RESOURCE_CONTROL_POLICY,
    SERVICE_CONTROL_POLICY,
    TAG_POLICY,
    PasswordPolicySettings,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MANAGEMENT = "123456789012"
ROLE = "OrganizationAccountAccessRole"
DENY_LEAVE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}
        ],
    }
)
TAG_DOCUMENT = json.dumps({"tags": {"team": {"tag_key": {"@@assign": "team"}}}})

Hook = Callable[..., Any]


def injected_error(endpoint: str, code: str, times: int, *, status: int = 400) -> Hook:
    """A before-call hook answering the first `times` calls with an error, then stepping aside."""
    remaining = [times]

    def hook(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if remaining[0] == 0:
            return None
        remaining[0] -= 1
        parsed = {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse(endpoint, status, HTTPHeaders(), None), parsed

    return hook


def root_id(aws: AwsProvider) -> str:
    return aws.read_organization(read_account_details=False).root.root_id


def s3_client(emulator: Emulator) -> S3Client:
    """A plain boto3 client, to check what the provider did from the outside."""
    return boto3.client("s3", endpoint_url=emulator.endpoint, region_name="us-east-1")


# --- reading the organization --------------------------------------------------------------


def test_read_organization_reports_what_the_verbs_made(aws: AwsProvider) -> None:
    root = root_id(aws)
    for policy_type in (SERVICE_CONTROL_POLICY, TAG_POLICY):
        aws.enable_policy_type(root, policy_type)
    aws.tag_resource(root, {"owner": "platform"})
    prod = aws.create_organizational_unit(root, "Prod", {"tier": "prod"})
    web = aws.create_organizational_unit(prod, "Web")
    in_root = aws.create_account(name="Shared", email="shared@example.com", role_name=ROLE)
    in_web = aws.create_account(
        name="Web Prod", email="web-prod@example.com", role_name=ROLE, tags={"team": "web"}
    )
    aws.move_account(in_web, root, web)
    scp = aws.create_policy(
        policy_type=SERVICE_CONTROL_POLICY,
        name="deny-leave",
        description="stay in the organization",
        content=DENY_LEAVE,
        tags={"kind": "guardrail"},
    )
    tag_policy = aws.create_policy(
        policy_type=TAG_POLICY, name="team-tag", description="", content=TAG_DOCUMENT
    )
    aws.attach_policy(scp, prod)
    aws.attach_policy(tag_policy, in_web)

    live = aws.read_organization()

    assert live.organization_id.startswith("o-")
    assert live.management_account_id == MANAGEMENT
    assert live.root.root_id == root
    assert set(live.root.enabled_policy_types) == {SERVICE_CONTROL_POLICY, TAG_POLICY}
    assert live.root.tags == {"owner": "platform"}
    assert live.root.policy_ids == ("p-FullAWSAccess",)

    assert set(live.organizational_units) == {prod, web}
    prod_ou, web_ou = live.organizational_units[prod], live.organizational_units[web]
    assert (prod_ou.name, prod_ou.parent_id, prod_ou.tags) == ("Prod", root, {"tier": "prod"})
    assert prod_ou.policy_ids == tuple(sorted(("p-FullAWSAccess", scp)))
    assert (web_ou.name, web_ou.parent_id, web_ou.tags) == ("Web", prod, {})
    assert web_ou.policy_ids == ("p-FullAWSAccess",)

    assert set(live.accounts) == {MANAGEMENT, in_root, in_web}
    shared = live.accounts[in_root]
    assert (shared.name, shared.email, shared.status) == ("Shared", "shared@example.com", "ACTIVE")
    assert (shared.parent_id, shared.tags, shared.policy_ids) == (root, {}, ("p-FullAWSAccess",))
    web_prod = live.accounts[in_web]
    assert (web_prod.name, web_prod.parent_id) == ("Web Prod", web)
    assert web_prod.tags == {"team": "web"}
    assert web_prod.policy_ids == tuple(sorted(("p-FullAWSAccess", tag_policy)))
    assert live.accounts[MANAGEMENT].parent_id == root
    for account in live.accounts.values():
        assert account.details_read
        assert (account.alias, account.password_policy) == (None, None)

    assert set(live.policies) == {"p-FullAWSAccess", scp, tag_policy}
    full_access = live.policies["p-FullAWSAccess"]
    assert full_access.aws_managed
    assert full_access.policy_type == SERVICE_CONTROL_POLICY
    assert json.loads(full_access.content)["Statement"][0]["Effect"] == "Allow"
    deny = live.policies[scp]
    assert (deny.name, deny.description, deny.policy_type) == (
        "deny-leave",
        "stay in the organization",
        SERVICE_CONTROL_POLICY,
    )
    assert (deny.content, deny.aws_managed, deny.tags) == (DENY_LEAVE, False, {"kind": "guardrail"})
    tags = live.policies[tag_policy]
    assert (tags.policy_type, tags.content, tags.tags) == (TAG_POLICY, TAG_DOCUMENT, {})


def test_read_lists_resource_control_policies_once_enabled(aws: AwsProvider) -> None:
    root = root_id(aws)
    assert "p-RCPFullAWSAccess" not in aws.read_organization(read_account_details=False).policies
    aws.enable_policy_type(root, RESOURCE_CONTROL_POLICY)
    live = aws.read_organization(read_account_details=False)
    assert live.policies["p-RCPFullAWSAccess"].policy_type == RESOURCE_CONTROL_POLICY
    assert "p-RCPFullAWSAccess" in live.root.policy_ids


def test_read_without_details_leaves_accounts_unread(aws: AwsProvider) -> None:
    account = aws.create_account(name="A", email="a@example.com")
    aws.set_account_alias(account, ROLE, "alias-a")
    before = aws.call_counts()
    live = aws.read_organization(read_account_details=False)
    assert not live.accounts[account].details_read
    assert live.accounts[account].alias is None
    after = aws.call_counts()
    assert after["IAM.ListAccountAliases"] == before["IAM.ListAccountAliases"]


def test_changes_show_in_the_next_read(aws: AwsProvider) -> None:
    root = root_id(aws)
    aws.enable_policy_type(root, SERVICE_CONTROL_POLICY)
    ou = aws.create_organizational_unit(root, "Old", {"a": "1", "b": "2"})
    gone = aws.create_organizational_unit(root, "Gone")
    policy = aws.create_policy(
        policy_type=SERVICE_CONTROL_POLICY, name="p", description="d", content=DENY_LEAVE
    )
    aws.attach_policy(policy, ou)
    account = aws.create_account(name="Closing", email="closing@example.com")

    aws.rename_organizational_unit(ou, "New")
    aws.untag_resource(ou, ["a"])
    aws.tag_resource(ou, {"c": "3"})
    aws.delete_organizational_unit(gone)
    aws.update_policy(policy, name="p2", description="d2", content="{}")
    aws.detach_policy(policy, ou)
    aws.close_account(account)

    live = aws.read_organization()
    assert live.organizational_units[ou].name == "New"
    assert live.organizational_units[ou].tags == {"b": "2", "c": "3"}
    assert live.organizational_units[ou].policy_ids == ("p-FullAWSAccess",)
    assert gone not in live.organizational_units
    changed = live.policies[policy]
    assert (changed.name, changed.description, changed.content) == ("p2", "d2", "{}")
    assert live.accounts[account].status == "SUSPENDED"
    # A closed account cannot be entered: its details are not read.
    assert not live.accounts[account].details_read

    aws.delete_policy(policy)
    assert policy not in aws.read_organization(read_account_details=False).policies


def test_empty_tag_changes_make_no_call(aws: AwsProvider) -> None:
    root = root_id(aws)
    before = aws.call_counts()
    aws.tag_resource(root, {})
    aws.untag_resource(root, [])
    assert aws.call_counts() == before


# --- in-account verbs ----------------------------------------------------------------------


def test_password_policy_set_read_and_delete_through_the_role(aws: AwsProvider) -> None:
    account = aws.create_account(name="Member", email="member@example.com")
    settings = PasswordPolicySettings(
        minimum_password_length=14,
        require_symbols=True,
        require_numbers=True,
        require_uppercase_characters=True,
        require_lowercase_characters=True,
        allow_users_to_change_password=True,
        max_password_age=90,
        password_reuse_prevention=5,
        hard_expiry=False,
    )
    aws.set_password_policy(account, ROLE, settings)
    live = aws.read_organization()
    assert live.accounts[account].password_policy == settings
    # The policy went into the member only, not into the management account.
    assert live.accounts[MANAGEMENT].password_policy is None

    aws.set_password_policy(account, ROLE, PasswordPolicySettings(minimum_password_length=10))
    reread = aws.read_organization().accounts[account].password_policy
    assert reread == PasswordPolicySettings(minimum_password_length=10)

    aws.set_password_policy(account, ROLE, None)
    aws.set_password_policy(account, ROLE, None)  # deleting a missing policy is not an error
    assert aws.read_organization().accounts[account].password_policy is None
    # The role was assumed once; its credentials and clients are cached.
    assert aws.call_counts()["STS.AssumeRole"] == 1


def test_password_policy_in_the_management_account_uses_base_credentials(
    aws: AwsProvider,
) -> None:
    aws.set_password_policy(MANAGEMENT, ROLE, PasswordPolicySettings(minimum_password_length=20))
    live = aws.read_organization()
    assert live.accounts[MANAGEMENT].password_policy == PasswordPolicySettings(
        minimum_password_length=20
    )
    assert "STS.AssumeRole" not in aws.call_counts()


def test_account_alias_is_replaced_and_removed(aws: AwsProvider) -> None:
    account = aws.create_account(name="Member", email="member@example.com")
    aws.set_account_alias(account, ROLE, "first-alias")
    assert aws.read_organization().accounts[account].alias == "first-alias"
    aws.set_account_alias(account, ROLE, "second-alias")
    assert aws.read_organization().accounts[account].alias == "second-alias"
    calls = aws.call_counts()
    aws.set_account_alias(account, ROLE, "second-alias")
    assert aws.call_counts().get("IAM.CreateAccountAlias") == calls["IAM.CreateAccountAlias"]
    aws.set_account_alias(account, ROLE, None)
    assert aws.read_organization().accounts[account].alias is None


def test_account_roles_choose_the_role_per_account(aws: AwsProvider) -> None:
    account = aws.create_account(name="Member", email="member@example.com")
    assumed: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        assumed.append(params["RoleArn"])

    aws.register_event_hook("before-parameter-build.sts.AssumeRole", record)
    aws.read_organization(account_roles={account: "CustomAccess"})
    assert assumed == [f"arn:aws:iam::{account}:role/CustomAccess"]


def test_each_role_is_assumed_once_across_threads_and_reads(
    emulator: Emulator, aws: AwsProvider
) -> None:
    members = {aws.create_account(name=f"M{i}", email=f"m{i}@example.com") for i in range(6)}
    provider = AwsProvider(endpoint_url=emulator.endpoint, max_workers=8, sleep=lambda _: None)
    first = provider.read_organization()
    second = provider.read_organization()
    assert first == second
    assert all(first.accounts[member].details_read for member in members)
    assert provider.call_counts()["STS.AssumeRole"] == len(members)


def test_credentials_near_expiry_are_renewed(aws: AwsProvider) -> None:
    account = aws.create_account(name="Member", email="member@example.com")

    def expiring(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Credentials"]["Expiration"] = datetime.now(timezone.utc) + timedelta(minutes=1)

    aws.register_event_hook("after-call.sts.AssumeRole", expiring)
    aws.set_password_policy(account, ROLE, PasswordPolicySettings())
    aws.set_password_policy(account, ROLE, None)
    assert aws.call_counts()["STS.AssumeRole"] == 2


# --- retries -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ConcurrentModificationException", "TooManyRequestsException"])
def test_throttling_is_retried_with_backoff(
    aws: AwsProvider, emulator: Emulator, sleeps: list[float], code: str
) -> None:
    root = root_id(aws)
    aws.register_event_hook(
        "before-call.organizations.CreateOrganizationalUnit",
        injected_error(emulator.endpoint, code, 2),
    )
    ou = aws.create_organizational_unit(root, "Retried")
    assert ou in aws.read_organization(read_account_details=False).organizational_units
    assert len(sleeps) == 2
    # Full jitter: each wait is anywhere up to a ceiling that doubles per attempt.
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 1.0


def test_backoff_ceiling_grows_and_is_capped(emulator: Emulator, aws: AwsProvider) -> None:
    waits: list[float] = []
    provider = AwsProvider(endpoint_url=emulator.endpoint, sleep=waits.append, max_retry_attempts=9)
    provider.register_event_hook(
        "before-call.organizations.ListRoots",
        injected_error(emulator.endpoint, "ThrottlingException", 9),
    )
    provider.read_organization(read_account_details=False)
    ceilings = [min(20.0, 0.5 * 2**attempt) for attempt in range(9)]
    assert len(waits) == 9
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings, strict=True))
    assert max(waits) > 1.0  # the later ceilings are really used


def test_throttling_narrows_the_service_and_calls_without_it_widen_it_again(
    aws: AwsProvider, emulator: Emulator, sleeps: list[float]
) -> None:
    aws.register_event_hook(
        "before-call.organizations.ListRoots",
        injected_error(emulator.endpoint, "ThrottlingException", 3),
    )
    root_id(aws)
    # Eight calls in flight to start with, halved by each of the three throttling answers.
    limit, lowest = aws.service_limits()["Organizations"]
    assert lowest == 1
    assert 1 < limit < 8  # the reads after the retried one have widened it again
    limits = []
    for _ in range(10):
        root_id(aws)
        limits.append(aws.service_limits()["Organizations"][0])
    assert limits == sorted(limits)
    assert limits[-1] == 8  # back to the ceiling, never past it


def test_retries_end_and_report_the_service_error(
    aws: AwsProvider, emulator: Emulator, sleeps: list[float]
) -> None:
    aws.register_event_hook(
        "before-call.organizations.ListRoots",
        injected_error(emulator.endpoint, "TooManyRequestsException", 100),
    )
    with pytest.raises(AwsError) as raised:
        aws.read_organization()
    assert raised.value.code == "TooManyRequestsException"
    assert raised.value.operation == "Organizations.ListRoots"
    assert len(sleeps) == 8


def test_other_errors_are_not_retried(
    aws: AwsProvider, emulator: Emulator, sleeps: list[float]
) -> None:
    aws.register_event_hook(
        "before-call.organizations.CreatePolicy",
        injected_error(emulator.endpoint, "AccessDeniedException", 1),
    )
    with pytest.raises(AwsError) as raised:
        aws.create_policy(
            policy_type=SERVICE_CONTROL_POLICY, name="p", description="", content=DENY_LEAVE
        )
    assert str(raised.value) == (
        "Organizations.CreatePolicy: AccessDeniedException: injected AccessDeniedException"
    )
    assert sleeps == []


def test_a_real_service_error_keeps_its_code(aws: AwsProvider) -> None:
    # (DeletePolicy takes "not found" as done: a delete resent after a lost answer meets it.)
    with pytest.raises(AwsError) as raised:
        aws.update_policy("p-00000000", name="n", description="", content="{}")
    assert raised.value.code == "PolicyNotFoundException"
    assert raised.value.operation == "Organizations.UpdatePolicy"


def test_access_denied_on_a_fresh_account_role_is_waited_out(
    aws: AwsProvider, emulator: Emulator, sleeps: list[float]
) -> None:
    account = aws.create_account(name="Fresh", email="fresh@example.com")
    aws.register_event_hook(
        "before-call.sts.AssumeRole", injected_error(emulator.endpoint, "AccessDenied", 2)
    )
    aws.set_account_alias(account, ROLE, "fresh-account")
    assert len(sleeps) == 2
    assert aws.read_organization().accounts[account].alias == "fresh-account"


def test_access_denied_on_an_older_account_role_is_not_retried(
    aws: AwsProvider, emulator: Emulator, sleeps: list[float]
) -> None:
    account = aws.create_account(name="Old", email="old@example.com")
    # Another run (a new provider) did not create the account: AccessDenied means no.
    later = AwsProvider(endpoint_url=emulator.endpoint, sleep=sleeps.append)
    later.register_event_hook(
        "before-call.sts.AssumeRole", injected_error(emulator.endpoint, "AccessDenied", 1)
    )
    with pytest.raises(AwsError) as raised:
        later.set_account_alias(account, ROLE, "old-account")
    assert (raised.value.code, raised.value.operation) == ("AccessDenied", "STS.AssumeRole")
    assert sleeps == []


def test_an_unreachable_account_is_read_without_details(
    aws: AwsProvider, emulator: Emulator
) -> None:
    account = aws.create_account(name="Invited", email="invited@example.com")
    later = AwsProvider(endpoint_url=emulator.endpoint, sleep=lambda _: None)
    later.register_event_hook(
        "before-call.sts.AssumeRole", injected_error(emulator.endpoint, "AccessDenied", 100)
    )
    live = later.read_organization()
    assert not live.accounts[account].details_read
    assert live.accounts[MANAGEMENT].details_read


# --- waiting for asynchronous operations ---------------------------------------------------


def rewrite_status(state: str, times: int, **fields: str) -> Hook:
    """An after-call hook that makes the first `times` account-creation statuses say `state`."""
    remaining = [times]

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        if remaining[0] == 0:
            return
        remaining[0] -= 1
        status = parsed["CreateAccountStatus"]
        status["State"] = state
        status.pop("AccountId", None)
        status.update(fields)

    return hook


def test_create_account_polls_until_it_succeeds(emulator: Emulator, aws: AwsProvider) -> None:
    waits: list[float] = []
    provider = AwsProvider(endpoint_url=emulator.endpoint, sleep=waits.append, poll_interval=2.0)
    provider.register_event_hook(
        "after-call.organizations.CreateAccount", rewrite_status("IN_PROGRESS", 1)
    )
    provider.register_event_hook(
        "after-call.organizations.DescribeCreateAccountStatus", rewrite_status("IN_PROGRESS", 2)
    )
    account = provider.create_account(name="Slow", email="slow@example.com")
    assert waits == [2.0, 2.0, 2.0]
    assert provider.call_counts()["Organizations.DescribeCreateAccountStatus"] == 3
    assert account in provider.read_organization(read_account_details=False).accounts


def test_create_account_failure_reports_the_reason(aws: AwsProvider) -> None:
    aws.register_event_hook(
        "after-call.organizations.CreateAccount", rewrite_status("IN_PROGRESS", 1)
    )
    aws.register_event_hook(
        "after-call.organizations.DescribeCreateAccountStatus",
        rewrite_status("FAILED", 1, FailureReason="ACCOUNT_LIMIT_EXCEEDED"),
    )
    with pytest.raises(AwsError) as raised:
        aws.create_account(name="Full", email="full@example.com")
    assert raised.value.code == "CreateAccountFailed"
    assert raised.value.operation == "Organizations.CreateAccount"
    assert raised.value.message == "ACCOUNT_LIMIT_EXCEEDED"


def test_email_already_exists_in_the_organization_is_the_account_itself(
    aws: AwsProvider,
) -> None:
    # What AWS answers a create resent after its first answer was lost: the account exists.
    aws.register_event_hook(
        "after-call.organizations.CreateAccount", rewrite_status("IN_PROGRESS", 1)
    )
    aws.register_event_hook(
        "after-call.organizations.DescribeCreateAccountStatus",
        rewrite_status("FAILED", 1, FailureReason="EMAIL_ALREADY_EXISTS"),
    )
    account = aws.create_account(name="Dup", email="dup@example.com")
    accounts = aws.read_organization(read_account_details=False).accounts
    assert accounts[account].email == "dup@example.com"
    assert [a.email for a in accounts.values()].count("dup@example.com") == 1


def test_enable_policy_type_waits_until_enabled(aws: AwsProvider, sleeps: list[float]) -> None:
    root = root_id(aws)

    def pending(parsed: dict[str, Any], **_: Any) -> None:
        for entry in parsed["Root"]["PolicyTypes"]:
            entry["Status"] = "PENDING_ENABLE"

    aws.register_event_hook("after-call.organizations.EnablePolicyType", pending)
    calls = aws.call_counts()["Organizations.ListRoots"]
    aws.enable_policy_type(root, TAG_POLICY)
    assert len(sleeps) == 1
    assert aws.call_counts()["Organizations.ListRoots"] == calls + 1


# --- S3 ------------------------------------------------------------------------------------


def test_ensure_bucket_creates_a_private_versioned_bucket_once(
    aws: AwsProvider, emulator: Emulator
) -> None:
    aws.ensure_bucket("orgc-state-123456789012", "us-east-1")
    aws.ensure_bucket("orgc-state-123456789012", "us-east-1")
    aws.ensure_bucket("orgc-state-eu", "eu-west-1")
    assert aws.call_counts()["S3.CreateBucket"] == 2
    s3 = s3_client(emulator)
    versioning = s3.get_bucket_versioning(Bucket="orgc-state-123456789012")
    assert versioning["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket="orgc-state-123456789012")
    assert all(block["PublicAccessBlockConfiguration"].values())
    location = s3.get_bucket_location(Bucket="orgc-state-eu")["LocationConstraint"]
    assert location == "eu-west-1"


def test_conditional_writes(aws: AwsProvider) -> None:
    bucket = "orgc-state-123456789012"
    aws.ensure_bucket(bucket, "us-east-1")
    assert aws.get_object(bucket, "state.json") is None

    first = aws.put_object(bucket, "state.json", b"one", if_none_match=True)
    with pytest.raises(PreconditionFailed) as raised:
        aws.put_object(bucket, "state.json", b"two", if_none_match=True)
    assert raised.value.code == "PreconditionFailed"
    assert aws.get_object(bucket, "state.json") == (b"one", first)

    second = aws.put_object(bucket, "state.json", b"two", if_match=first)
    with pytest.raises(PreconditionFailed):
        aws.put_object(bucket, "state.json", b"stale", if_match=first)
    assert aws.get_object(bucket, "state.json") == (b"two", second)

    aws.delete_object(bucket, "state.json")
    assert aws.get_object(bucket, "state.json") is None
    with pytest.raises(PreconditionFailed):
        aws.put_object(bucket, "state.json", b"gone", if_match=second)


def test_conditional_write_conflict_409_is_a_lost_precondition(
    aws: AwsProvider, emulator: Emulator
) -> None:
    aws.ensure_bucket("orgc-state-123456789012", "us-east-1")
    aws.register_event_hook(
        "before-call.s3.PutObject",
        injected_error(emulator.endpoint, "ConditionalRequestConflict", 1, status=409),
    )
    with pytest.raises(PreconditionFailed) as raised:
        aws.put_object("orgc-state-123456789012", "k", b"x", if_none_match=True)
    assert raised.value.code == "ConditionalRequestConflict"


def test_get_object_from_a_missing_bucket_fails(aws: AwsProvider) -> None:
    with pytest.raises(AwsError) as raised:
        aws.get_object("orgc-no-such-bucket", "state.json")
    assert raised.value.code == "NoSuchBucket"


# --- plumbing ------------------------------------------------------------------------------


def test_call_counter_counts_every_call_and_page(aws: AwsProvider) -> None:
    root = root_id(aws)
    for index in range(25):
        aws.create_organizational_unit(root, f"ou-{index}")
    before = aws.call_counts()
    live = aws.read_organization(read_account_details=False)
    after = aws.call_counts()

    def made(operation: str) -> int:
        return after.get(operation, 0) - before.get(operation, 0)

    assert made("Organizations.DescribeOrganization") == 1
    assert made("Organizations.ListRoots") == 1
    # 26 parents (root + 25 OUs), and the root's 25 OUs take two pages of at most 20.
    assert made("Organizations.ListOrganizationalUnitsForParent") == 27
    assert made("Organizations.ListAccountsForParent") == 26
    taggable = 1 + len(live.organizational_units) + len(live.accounts)
    assert made("Organizations.ListTagsForResource") == taggable
    # One listing per policy (the emulator answers each in a single page), none per target.
    assert made("Organizations.ListTargetsForPolicy") == len(live.policies)
    assert "Organizations.ListPoliciesForTarget" not in after


def test_management_account_is_read_once(aws: AwsProvider) -> None:
    assert aws.management_account_id() == MANAGEMENT
    assert aws.management_account_id() == MANAGEMENT
    assert aws.call_counts()["STS.GetCallerIdentity"] == 1


def test_missing_credentials_raise_no_credentials(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in emulator_environment(emulator.endpoint):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    provider = AwsProvider(endpoint_url=emulator.endpoint, sleep=lambda _: None)
    with pytest.raises(NoCredentials) as raised:
        provider.management_account_id()
    assert raised.value.code == "NoCredentials"


def test_unknown_profile_raises_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    with pytest.raises(NoCredentials) as raised:
        AwsProvider(profile="no-such-profile")
    assert raised.value.code == "ProfileNotFound"


# --- answers that mean "done already" (a request resent after its answer was lost) -----------


def test_already_done_answers_are_success(aws: AwsProvider, emulator: Emulator) -> None:
    root = root_id(aws)
    ou = aws.create_organizational_unit(root, "Here")
    account = aws.create_account(name="Moved", email="moved@example.com")
    policy = aws.create_policy(
        policy_type="SERVICE_CONTROL_POLICY",
        name="Quiet",
        description="",
        content='{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*",'
        '"Resource":"*"}]}',
    )
    for operation, code in (
        ("AttachPolicy", "DuplicatePolicyAttachmentException"),
        ("DetachPolicy", "PolicyNotAttachedException"),
        ("MoveAccount", "DuplicateAccountException"),
        ("CloseAccount", "AccountAlreadyClosedException"),
        ("DeleteOrganizationalUnit", "OrganizationalUnitNotFoundException"),
        ("DeletePolicy", "PolicyNotFoundException"),
    ):
        aws.register_event_hook(
            f"before-call.organizations.{operation}", injected_error(emulator.endpoint, code, 1)
        )
    aws.attach_policy(policy, ou)
    aws.detach_policy(policy, ou)
    aws.move_account(account, root, ou)
    aws.close_account(account)
    aws.delete_organizational_unit(ou)
    aws.delete_policy(policy)
    # The emulator itself answers PolicyTypeAlreadyEnabledException to a second enable.
    aws.enable_policy_type(root, "TAG_POLICY")
    aws.enable_policy_type(root, "TAG_POLICY")
    assert (
        "TAG_POLICY" in aws.read_organization(read_account_details=False).root.enabled_policy_types
    )
    # Each was answered "already so" and sent no further request; nothing changed.
    organization = aws.read_organization(read_account_details=False)
    assert policy not in organization.organizational_units[ou].policy_ids
    assert policy in organization.policies
    assert organization.accounts[account].parent_id == root
    assert organization.accounts[account].status == "ACTIVE"


def test_other_refusals_still_fail(aws: AwsProvider, emulator: Emulator) -> None:
    aws.register_event_hook(
        "before-call.organizations.AttachPolicy",
        injected_error(emulator.endpoint, "ConstraintViolationException", 1),
    )
    with pytest.raises(AwsError) as raised:
        aws.attach_policy("p-FullAWSAccess", root_id(aws))
    assert raised.value.code == "ConstraintViolationException"
