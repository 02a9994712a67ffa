"""OrgFormation's task semantics, replayed step by step on the emulator.

Each scenario under tests/scenarios/compat is a folder of task files applied in order, as
OrgFormation's own integration scenarios do it (`perform-tasks` of one file after another): what
the accounts hold is read with boto3 directly, and every scenario ends with a plan that has no
change. The points: Skip (of update-organization, of a task, of what depends on a skipped task,
of an include whose file is not there), DependsOn naming no task (a warning, an error with
--strict), orphans and --perform-cleanup with no update-stacks task left, update-organization
inside an include, --organization-file, a whole organization file included as the Organization
section, a first task named Organization, UpdateProtection, a stack policy that denies an
update (it fails and rolls back), TaskViaRoleArn, and a task whose template names a resource
type that does not exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.compat import account_id, orgc, plan, scenario, stacks
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsError, AwsProvider
from orgc.cli import main
from orgc.diagnostics import Diagnostics
from orgc.emulator import Emulator
from orgc.load import LoadOptions
from orgc.observed import StackDeployment
from orgc.provider import chained_role, split_role
from orgc.tasks import StacksTask, load_project
from orgc.tasks.model import UPDATE_PROTECTION_POLICY


def apply(emulator: Emulator, *args: str) -> None:
    assert orgc(emulator, "apply", *args, "--auto-approve") == 0


def assert_no_op(emulator: Emulator, *args: str) -> None:
    assert orgc(emulator, "plan", *args, "--detailed-exitcode") == 0


def test_skipped_tasks_keep_their_stacks_and_cleanup_works_with_no_update_stacks_task_left(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("skip-and-cleanup", tmp_path, monkeypatch)
    apply(emulator, "0-organization.yml")
    workloads = account_id("workloads")

    # Step 1: the organization task is skipped, so are NotYet (its template does not exist),
    # AfterNotYet (it depends on NotYet, and its template does not exist either) and the
    # include Later (its file does not exist). DependsOn Bucket is a warning.
    capsys.readouterr()
    assert orgc(emulator, "validate", "1-deploy.yml") == 0
    assert capsys.readouterr().out.splitlines() == [
        "1-deploy.yml:17:24: warning[W390]: DependsOn names 'Bucket', which is not a task of "
        "this file (did you mean Buckets?); the dependency is ignored",
        "0 errors, 1 warning",
    ]
    first = plan(emulator, capsys, "1-deploy.yml")
    assert first["skipped"] == [
        "update-stacks task AfterNotYet (it depends on skipped task NotYet): not run",
        "include Later (Skip: true): its file is not read",
        "update-stacks task NotYet (Skip: true): not run",
        "update-organization task OrganizationUpdate (Skip: true): the organization is not "
        "changed; the other tasks bind against organization.yml as written",
    ]
    assert sorted(c["logicalId"] for c in first["changes"]) == [
        "Buckets/Workloads/eu-west-1",
        "Settings/MasterAccount/eu-west-1",
    ]
    apply(emulator, "1-deploy.yml")
    assert stacks(workloads, "eu-west-1") == {"compat-buckets"}
    assert "compat-parameters" in stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1")
    assert_no_op(emulator, "1-deploy.yml")

    # --strict counts the warning as an error: validate fails, plan stops.
    assert orgc(emulator, "validate", "1-deploy.yml", "--strict") == 1
    assert orgc(emulator, "plan", "1-deploy.yml", "--strict") == 1

    # Step 2: Buckets is skipped, Settings depends on it: nothing changes, nothing is deleted,
    # although Settings' parameter changed.
    second = plan(emulator, capsys, "2-skip-buckets.yml")
    assert second["changes"] == []
    assert second["orphans"] == []
    assert second["skipped"][0] == (
        "update-stacks task Buckets (Skip: true): not run; its 1 deployed stack(s) are kept as "
        "they are"
    )
    assert second["skipped"][2] == (
        "update-stacks task Settings (it depends on skipped task Buckets): not run; its 1 "
        "deployed stack(s) are kept as they are"
    )
    apply(emulator, "2-skip-buckets.yml")
    assert_no_op(emulator, "2-skip-buckets.yml")

    # Step 9: a task file with only the update-organization task: both stacks are orphans,
    # listed and left; --perform-cleanup deletes them, named in the plan.
    orphaned = plan(emulator, capsys, "9-cleanup.yml")
    assert orphaned["changes"] == []
    assert sorted((o["task"], o["stackName"]) for o in orphaned["orphans"]) == [
        ("Buckets", "compat-buckets"),
        ("Settings", "compat-parameters"),
    ]
    cleanup = plan(emulator, capsys, "9-cleanup.yml", "--perform-cleanup")
    assert sorted((c["action"], c["logicalId"]) for c in cleanup["changes"]) == [
        ("delete", "Buckets/Workloads/eu-west-1"),
        ("delete", "Settings/MasterAccount/eu-west-1"),
    ]
    apply(emulator, "9-cleanup.yml", "--perform-cleanup")
    assert stacks(workloads, "eu-west-1") == set()
    assert "compat-parameters" not in stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1")
    assert_no_op(emulator, "9-cleanup.yml", "--perform-cleanup")


def test_update_organization_inside_an_include_with_a_whole_organization_file_included(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("included-organization", tmp_path, monkeypatch)
    capsys.readouterr()
    assert orgc(emulator, "validate", "tasks.yml") == 0
    assert capsys.readouterr().out.splitlines() == ["0 errors, 0 warnings"]
    first = plan(emulator, capsys, "tasks.yml")
    kinds = sorted((c["kind"], c["action"]) for c in first["changes"])
    assert ("account", "create") in kinds
    apply(emulator, "tasks.yml")
    sandbox = account_id("sandbox")
    assert stacks(sandbox, "eu-central-1") == {"compat-included-buckets"}
    assert "compat-included-buckets" in stacks(MANAGEMENT_ACCOUNT_ID, "eu-central-1")
    assert_no_op(emulator, "tasks.yml")


def test_detached_tasks_bind_against_the_organization_file_given_and_clean_up(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("detached", tmp_path, monkeypatch)
    apply(emulator, "organization.yml")
    flag = ("--organization-file", "organization.yml")

    # Without the flag the task file names no organization.
    capsys.readouterr()
    assert orgc(emulator, "validate", "0-tasks.yml") == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "0-tasks.yml:1:1: error[E110]: 0-tasks.yml has no update-organization task (in it or "
        "in a file it includes); add one, or name the organization file with "
        "--organization-file PATH"
    )
    assert orgc(emulator, "validate", "0-tasks.yml", *flag) == 0
    first = plan(emulator, capsys, "0-tasks.yml", *flag)
    assert first["options"]["organizationFile"] == "organization.yml"
    assert [c["kind"] for c in first["changes"]] == ["stack"] * 3
    apply(emulator, "0-tasks.yml", *flag)
    for name in ("build", "shared"):
        assert stacks(account_id(name), "eu-west-1") == {"compat-detached-bucket"}
    assert_no_op(emulator, "0-tasks.yml", *flag)

    # A saved plan remembers the organization file.
    assert orgc(emulator, "plan", "0-tasks.yml", *flag, "--out", "saved.json") == 0
    assert orgc(emulator, "apply", "saved.json") == 0

    apply(emulator, "9-cleanup.yml", *flag, "--perform-cleanup")
    for name in ("build", "shared"):
        assert stacks(account_id(name), "eu-west-1") == set()
    assert_no_op(emulator, "9-cleanup.yml", *flag, "--perform-cleanup")


def test_update_protection_sets_the_stack_policy(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("update-protection", tmp_path, monkeypatch)
    client = in_account(MANAGEMENT_ACCOUNT_ID, "cloudformation", "eu-west-1")

    def policy() -> list[dict[str, Any]]:
        body = client.get_stack_policy(StackName="compat-protected")["StackPolicyBody"]
        return list(json.loads(body)["Statement"])

    everything = {"Action": "Update:*", "Principal": "*", "Resource": "*"}
    for step, effect in (
        ("1-update-protection-true.yml", "Deny"),
        ("2-update-protection-false.yml", "Allow"),
        ("3-update-protection-none.yml", "Allow"),
    ):
        apply(emulator, step)
        assert policy() == [{"Effect": effect, **everything}], step
        assert_no_op(emulator, step)


def test_task_via_role_arn_is_assumed_before_the_task_role(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("via-role", tmp_path, monkeypatch)
    first = plan(emulator, capsys, "tasks.yml")
    stack = next(c for c in first["changes"] if c["kind"] == "stack")
    assert stack["details"]["roleName"] == (
        "arn:aws:iam::123456789012:role/BuildRole|OrganizationAccountAccessRole"
    )
    apply(emulator, "tasks.yml")
    workloads = account_id("workloads")
    assert stacks(workloads, "eu-west-1") == {"compat-via-role"}
    client = in_account(workloads, "cloudformation", "eu-west-1")
    deployed = client.describe_stacks(StackName="compat-via-role")["Stacks"][0]
    assert deployed["RoleARN"] == f"arn:aws:iam::{workloads}:role/StackDeployRole"
    assert_no_op(emulator, "tasks.yml")


def test_a_chained_role_assumes_the_via_role_then_the_role_in_the_account(
    aws: AwsProvider,
) -> None:
    member = aws.create_account(name="member", email="member@example.com")
    via = "arn:aws:iam::123456789012:role/BuildRole"
    role = chained_role(via, "OrganizationAccountAccessRole")
    before = aws.call_counts().get("STS.AssumeRole", 0)
    aws.deploy_stack(
        StackDeployment(
            account_id=member,
            role_name=role,
            region="eu-west-1",
            stack_name="chained",
            template_body=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
            parameters={},
            tags={},
            create=True,
        )
    )
    # The via role once, then the account's role with the via role's credentials.
    assert aws.call_counts()["STS.AssumeRole"] - before == 2
    assert stacks(member, "eu-west-1") == {"chained"}
    assert split_role(role) == (via, "OrganizationAccountAccessRole")
    assert split_role("OrganizationAccountAccessRole") == (None, "OrganizationAccountAccessRole")


def test_skips_reach_dependents_and_update_protection_makes_the_policy() -> None:
    cases = Path(__file__).parent / "cases" / "tasks"
    diagnostics = Diagnostics()
    project = load_project(cases / "skip_and_protection.yml", LoadOptions(root=cases), diagnostics)
    assert project is not None
    assert project.skipped == {
        "AfterSkippedInclude": "it depends on skipped include SkippedInclude",
        "Dependent": "it depends on skipped task Skipped",
        "Skipped": "Skip: true",
        "SkippedInclude": "Skip: true",
    }
    assert project.skipped_includes == ("SkippedInclude",)
    assert [name for name, task in project.tasks.items() if not task.skip] == [
        "NotSkipped",
        "Protected",
    ]
    protected = project.tasks["Protected"]
    assert isinstance(protected, StacksTask)
    assert protected.update_protection
    assert protected.stack_policy == UPDATE_PROTECTION_POLICY


def test_a_missing_organization_file_and_strict_apply(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("skip-and-cleanup", tmp_path, monkeypatch)
    capsys.readouterr()
    assert orgc(emulator, "validate", "1-deploy.yml", "--organization-file", "gone.yml") == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "orgc: error[E106]: --organization-file gone.yml not found: no file gone.yml"
    )
    apply(emulator, "0-organization.yml")
    # --strict: the warning stops apply before any change.
    assert orgc(emulator, "apply", "1-deploy.yml", "--auto-approve", "--strict") == 1
    assert "--strict: the 1 warning below count as errors" in capsys.readouterr().err
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()


def test_detached_tasks_read_the_organization_file_from_s3(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = scenario("detached", tmp_path, monkeypatch)
    apply(emulator, "organization.yml")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-organization")
    s3.put_object(
        Bucket="acme-organization",
        Key="org/organization.yml",
        Body=(project / "organization.yml").read_bytes(),
    )
    (project / "organization.yml").unlink()  # only the copy in S3 is read
    flag = ("--organization-file", "s3://acme-organization/org/organization.yml")

    capsys.readouterr()
    assert orgc(emulator, "validate", "0-tasks.yml", *flag) == 0
    assert capsys.readouterr().out.splitlines() == [
        "orgc: warning[W451]: s3://acme-organization/org/organization.yml is read by plan and "
        "apply, "
        "not by validate, which calls no AWS and fetches nothing; it was not checked",
        "0 errors, 1 warning",
    ]
    first = plan(emulator, capsys, "0-tasks.yml", *flag)
    assert first["options"]["organizationFile"] == "s3://acme-organization/org/organization.yml"
    assert [c["kind"] for c in first["changes"]] == ["stack"] * 3
    apply(emulator, "0-tasks.yml", *flag)
    for name in ("build", "shared"):
        assert stacks(account_id(name), "eu-west-1") == {"compat-detached-bucket"}
    assert_no_op(emulator, "0-tasks.yml", *flag)

    # A saved plan reads it again, and a missing object is a diagnostic naming it.
    assert orgc(emulator, "plan", "0-tasks.yml", *flag, "--out", "saved.json") == 0
    assert orgc(emulator, "apply", "saved.json") == 0
    capsys.readouterr()
    missing = ("--organization-file", "s3://acme-organization/org/missing.yml")
    assert orgc(emulator, "plan", "0-tasks.yml", *missing) == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E450]: cannot read s3://acme-organization/org/missing.yml: bucket "
        "acme-organization holds no object org/missing.yml; upload it, or put it with a "
        "copy-to-s3 task of these files"
    ]


def test_render_and_graph_read_an_organization_file_in_s3(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = scenario("detached", tmp_path, monkeypatch)
    apply(emulator, "organization.yml")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-organization")
    s3.put_object(
        Bucket="acme-organization",
        Key="org/organization.yml",
        Body=(project / "organization.yml").read_bytes(),
    )
    (project / "organization.yml").unlink()  # only the copy in S3 is read
    flag = ("--organization-file", "s3://acme-organization/org/organization.yml")

    capsys.readouterr()
    assert orgc(emulator, "render", "0-tasks.yml", *flag, "--out", "out") == 0
    printed = capsys.readouterr()
    assert (printed.out, printed.err) == ("Wrote 3 stack template(s) under out\n", "")
    index = json.loads((project / "out" / "index.json").read_text(encoding="utf-8"))
    # The ids of the accounts the organization file names come from the state.
    assert sorted((e["account"], e["accountId"], e["region"]) for e in index) == [
        ("Build", account_id("build"), "eu-west-1"),
        ("MasterAccount", MANAGEMENT_ACCOUNT_ID, "eu-west-1"),
        ("Shared", account_id("shared"), "eu-west-1"),
    ]
    assert {e["stackName"] for e in index} == {"compat-detached-bucket"}
    body = json.loads(
        (
            project / "out" / "BucketToAllAccounts" / "Build" / "eu-west-1" / "template.json"
        ).read_text(encoding="utf-8")
    )
    assert sorted(body["Resources"]) == ["Bucket"]

    assert orgc(emulator, "graph", "0-tasks.yml", *flag) == 0
    drawn = capsys.readouterr().out
    for account in ("Build", "MasterAccount", "Shared"):
        assert f'label="{account} eu-west-1"' in drawn
    assert stacks(account_id("build"), "eu-west-1") == set()  # read only

    missing = ("--organization-file", "s3://acme-organization/org/missing.yml")
    assert orgc(emulator, "render", "0-tasks.yml", *missing, "--out", "gone") == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E450]: cannot read s3://acme-organization/org/missing.yml: bucket "
        "acme-organization holds no object org/missing.yml; upload it, or put it with a "
        "copy-to-s3 task of these files"
    ]
    assert not (project / "gone").exists()


@pytest.mark.parametrize("command", ["render", "graph"])
def test_render_and_graph_of_a_local_organization_file_make_no_aws_call(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    scenario("detached", tmp_path, monkeypatch)
    # No endpoint answers and no credentials are given: any AWS call would fail.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    extra = ["--out", str(tmp_path / "out")] if command == "render" else []
    capsys.readouterr()
    assert main([command, "0-tasks.yml", "--organization-file", "organization.yml", *extra]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    if command == "render":
        assert printed.out == f"Wrote 3 stack template(s) under {tmp_path / 'out'}\n"
    else:
        assert printed.out.startswith("digraph orgc {\n")
    assert not (tmp_path / "detached" / ".orgc" / "live-organization").exists()


def _stack_tags(stack_name: str) -> tuple[str, dict[str, str]]:
    client = in_account(MANAGEMENT_ACCOUNT_ID, "cloudformation", "eu-west-1")
    stack = client.describe_stacks(StackName=stack_name)["Stacks"][0]
    return stack["StackStatus"], {t["Key"]: t["Value"] for t in stack.get("Tags", [])}


def test_a_change_of_stack_tags_alone_is_applied_and_then_nothing_is_left_to_do(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = scenario("stack-tags", tmp_path, monkeypatch)
    apply(emulator, "tasks.yml")
    assert _stack_tags("compat-tagged") == (
        "CREATE_COMPLETE",
        {"owner": "platform", "tier": "gold"},
    )
    tasks = project / "tasks.yml"
    # Only a tag's value changes: the template and parameters stay as they are.
    tasks.write_text(tasks.read_text(encoding="utf-8").replace("gold", "silver"), "utf-8")
    changed = plan(emulator, capsys, "tasks.yml", "--refresh")
    assert [(c["action"], c["logicalId"]) for c in changed["changes"]] == [
        ("update", "Tagged/Management/eu-west-1")
    ]
    apply(emulator, "tasks.yml")
    assert _stack_tags("compat-tagged") == (
        "UPDATE_COMPLETE",
        {"owner": "platform", "tier": "silver"},
    )
    assert_no_op(emulator, "tasks.yml", "--refresh")
    # No Tags any more: the stack keeps none.
    text = tasks.read_text(encoding="utf-8")
    tasks.write_text(text.replace("  Tags:\n    owner: platform\n    tier: silver\n", ""), "utf-8")
    assert "Tags" not in tasks.read_text(encoding="utf-8").split("Tagged:")[1]
    apply(emulator, "tasks.yml")
    assert _stack_tags("compat-tagged") == ("UPDATE_COMPLETE", {})
    assert_no_op(emulator, "tasks.yml", "--refresh")


def test_a_task_of_an_unknown_resource_type_names_its_stack_and_stops_apply_before_any_change(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = scenario("failing-task", tmp_path, monkeypatch)
    refused = [
        "tasks.yml:15:1: error[E435]: task Broken: the template of stack compat-broken for "
        "Management/eu-west-1 fails cfn-lint E3006 at Resources/Store/Type: Resource type "
        "'Made::Up::Store' does not exist in 'eu-west-1'; Made::Up::Store is a registry type "
        "that no register-type task of these files registers (if it is registered in the "
        "accounts another way, --no-lint skips this check)",
        "1 error, 0 warnings",
    ]
    capsys.readouterr()
    assert orgc(emulator, "validate", "tasks.yml") == 1
    assert capsys.readouterr().out.splitlines() == refused
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 1
    captured = capsys.readouterr()
    assert refused[0] in (captured.out + captured.err).splitlines()
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()

    tasks = project / "tasks.yml"
    tasks.write_text(tasks.read_text(encoding="utf-8").split("\nBroken:")[0], "utf-8")
    apply(emulator, "tasks.yml")
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"compat-queue"}
    assert_no_op(emulator, "tasks.yml", "--refresh")


def _published_events(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in received.get("Messages", [])]


def test_apply_publishes_the_organization_file_to_the_state_bucket_for_detached_tasks(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = scenario("publish-organization", tmp_path, monkeypatch)
    bucket = f"orgc-state-{MANAGEMENT_ACCOUNT_ID}"
    published = f"s3://{bucket}/organization.yml"
    # What a pipeline listening for the event would see: a rule on OrgFormation's source.
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="organization-changed")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    events = boto3.client("events", region_name="us-east-1")
    events.put_rule(Name="organization-changed", EventPattern='{"source": ["oc.org-formation"]}')
    events.put_targets(
        Rule="organization-changed",
        Targets=[{"Id": "queue", "Arn": queue_arn["Attributes"]["QueueArn"]}],
    )
    s3_state = ["--endpoint-url", emulator.endpoint]  # no --state: the state is in S3

    capsys.readouterr()
    assert main(["apply", "tasks.yml", "--auto-approve", *s3_state]) == 0
    told = f"Published the organization file to {published} (OrganizationChanged event raised)."
    assert told in capsys.readouterr().out.splitlines()
    body = boto3.client("s3").get_object(Bucket=bucket, Key="organization.yml")["Body"].read()
    assert json.loads(body)["Organization"]["SharedOU"] == {
        "Type": "OC::ORG::OrganizationalUnit",
        "Properties": {"OrganizationalUnitName": "shared"},
    }
    [event] = _published_events(queue)
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "oc.org-formation",
        "events.org-formation.com",
        {"eventName": "OrganizationChanged", "bucketName": bucket, "objectKey": "organization.yml"},
    )

    # Another pipeline binds against the published file.
    detached = ["detached.yml", "--organization-file", published, *s3_state]
    assert main(["apply", *detached, "--auto-approve"]) == 0
    parameter = in_account(MANAGEMENT_ACCOUNT_ID, "ssm", "eu-west-1").get_parameter(
        Name="/compat/published-team"
    )
    assert parameter["Parameter"]["Value"] == "platform"

    # Nothing changed: nothing published again, no event.
    capsys.readouterr()
    assert main(["apply", "tasks.yml", "--auto-approve", *s3_state]) == 0
    assert "Published" not in capsys.readouterr().out
    assert _published_events(queue) == []

    # The apply of a saved plan publishes too.
    organization = project / "organization.yml"
    organization.write_text(
        organization.read_text(encoding="utf-8").replace("Name: shared", "Name: common"), "utf-8"
    )
    assert main(["plan", "tasks.yml", "--out", "reviewed.json", *s3_state]) == 0
    capsys.readouterr()
    assert main(["apply", "reviewed.json", *s3_state]) == 0
    assert told in capsys.readouterr().out.splitlines()
    body = boto3.client("s3").get_object(Bucket=bucket, Key="organization.yml")["Body"].read()
    assert json.loads(body)["Organization"]["SharedOU"]["Properties"] == {
        "OrganizationalUnitName": "common"
    }
    assert len(_published_events(queue)) == 1

    # The event bus refuses: the file is published, the apply succeeds, W490 says so.
    def refuse(self: AwsProvider, **_: str) -> None:
        raise AwsError(code="AccessDenied", operation="EventBridge.PutEvents", message="denied")

    monkeypatch.setattr(AwsProvider, "put_event", refuse)
    organization.write_text(
        organization.read_text(encoding="utf-8").replace("team: platform", "team: core"), "utf-8"
    )
    capsys.readouterr()
    assert main(["apply", "tasks.yml", "--auto-approve", *s3_state]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"orgc: warning[W490]: the organization file was published to {published}, but the "
        "OrganizationChanged event was not raised: EventBridge.PutEvents: AccessDenied: denied"
    )
    assert main(["plan", "tasks.yml", "--detailed-exitcode", *s3_state]) == 0
    assert main(["apply", *detached, "--auto-approve"]) == 0
    parameter = in_account(MANAGEMENT_ACCOUNT_ID, "ssm", "eu-west-1").get_parameter(
        Name="/compat/published-team"
    )
    assert parameter["Parameter"]["Value"] == "core"
    assert main(["plan", *detached, "--detailed-exitcode"]) == 0


def test_a_termination_protected_stack_is_left_by_cleanup_until_its_protection_is_off(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("termination-protection", tmp_path, monkeypatch)
    cleanup = "--perform-cleanup"

    def protected(account: str, name: str) -> bool:
        client = in_account(account, "cloudformation", "eu-west-1")
        return bool(
            client.describe_stacks(StackName=name)["Stacks"][0]["EnableTerminationProtection"]
        )

    apply(emulator, "1-protected.yml")
    workloads = account_id("workloads")
    for account in (MANAGEMENT_ACCOUNT_ID, workloads):
        assert protected(account, "compat-guarded")
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"compat-guarded", "compat-plain"}
    assert_no_op(emulator, "1-protected.yml")

    # Step 2: Plain's stack is deleted; the protected one the binding no longer reaches is left,
    # with a warning in every plan, which has nothing else to do.
    left = (
        f"orgc: warning[W640]: stack compat-guarded in account {workloads} eu-west-1 is left, "
        "not deleted: the target left the task's bindings, but its task deployed it with "
        "TerminationProtection: true and CloudFormation refuses to delete a protected stack. To "
        "delete it, apply its task once with TerminationProtection: false (putting the task back "
        "if it was removed), then remove it again"
    )
    capsys.readouterr()
    shrunk = plan(emulator, capsys, "2-shrunk.yml", cleanup)
    assert [(c["action"], c["logicalId"]) for c in shrunk["changes"] if c["kind"] == "stack"] == [
        ("delete", "Plain/MasterAccount/eu-west-1")
    ]
    apply(emulator, "2-shrunk.yml", cleanup)
    assert left in capsys.readouterr().out.splitlines()
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"compat-guarded"}
    assert stacks(workloads, "eu-west-1") == {"compat-guarded"}
    assert protected(workloads, "compat-guarded")
    assert_no_op(emulator, "2-shrunk.yml", cleanup)
    assert left in capsys.readouterr().out.splitlines()

    # Step 3: both stacks are updated to turn protection off.
    apply(emulator, "3-unprotected.yml")
    for account in (MANAGEMENT_ACCOUNT_ID, workloads):
        assert not protected(account, "compat-guarded")
    assert_no_op(emulator, "3-unprotected.yml")

    # Step 4: now cleanup deletes them.
    capsys.readouterr()
    apply(emulator, "4-removed.yml", cleanup)
    assert "W640" not in capsys.readouterr().out
    for account in (MANAGEMENT_ACCOUNT_ID, workloads):
        assert stacks(account, "eu-west-1") == set()
    assert_no_op(emulator, "4-removed.yml", cleanup)


def test_an_update_the_stack_policy_denies_fails_and_is_applied_once_the_policy_allows_it(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("stack-policy", tmp_path, monkeypatch)
    client = in_account(MANAGEMENT_ACCOUNT_ID, "cloudformation", "eu-west-1")

    def resources() -> list[str]:
        found = client.describe_stack_resources(StackName="compat-guarded")["StackResources"]
        return sorted(r["LogicalResourceId"] for r in found)

    apply(emulator, "1-protect.yml")
    assert_no_op(emulator, "1-protect.yml")
    # Step 2: the update is accepted, then fails and rolls back; apply names the stack policy.
    capsys.readouterr()
    assert orgc(emulator, "apply", "2-remove.yml", "--auto-approve") == 3
    assert capsys.readouterr().err.splitlines()[-2:] == [
        "orgc: error[E701]: stack.update:Topics/MasterAccount/eu-west-1 failed: "
        "CloudFormation.UpdateStack: StackFailed: stack compat-guarded in account 123456789012, "
        "region eu-west-1 ended UPDATE_ROLLBACK_COMPLETE; first failure: Keep (AWS::SNS::Topic) "
        "UPDATE_FAILED: Action denied by stack policy: Statement [#2] denies [Update:Delete] on "
        "resource [LogicalResourceId/Keep] (task Topics at 2-remove.yml:6:1)",
        "orgc: error[E708]: 0 changes made, 1 failed, 0 skipped; run orgc plan to see what is left",
    ]
    stack = client.describe_stacks(StackName="compat-guarded")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert resources() == ["Keep", "Spare"]
    again = plan(emulator, capsys, "2-remove.yml")
    assert [(c["logicalId"], c["action"]) for c in again["changes"]] == [
        ("Topics/MasterAccount/eu-west-1", "update")
    ]
    # Steps 3 and 4: a policy that allows every update, then the same removal goes through.
    apply(emulator, "3-allow.yml")
    body = client.get_stack_policy(StackName="compat-guarded")["StackPolicyBody"]
    assert json.loads(body)["Statement"] == [
        {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}
    ]
    apply(emulator, "4-remove-allowed.yml")
    assert client.describe_stacks(StackName="compat-guarded")["Stacks"][0]["StackStatus"] == (
        "UPDATE_COMPLETE"
    )
    assert resources() == ["Spare"]
    assert_no_op(emulator, "4-remove-allowed.yml", "--refresh")
