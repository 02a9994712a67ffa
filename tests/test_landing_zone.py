"""The landing zone end to end on the emulator: tasks, bindings and cross-account references.

`orgc` runs through `main(argv)` against the emulator over HTTP; what the member accounts hold
is read with boto3 directly, through the accounts' access role, never through orgc's own code.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.emulated import in_account

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator
from orgc.pipeline import compile_organization, make_plan
from orgc.state import LocalStateStore

SCENARIO = Path(__file__).parent / "scenarios" / "stacks" / "first-run"


@pytest.fixture
def project(tmp_path: Path, aws: AwsProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The first-run scenario's project, with the emulator's management account."""
    shutil.copytree(SCENARIO / "templates", tmp_path / "templates")
    shutil.copy(SCENARIO / "tasks.yml", tmp_path / "tasks.yml")
    organization = (SCENARIO / "organization.yml").read_text(encoding="utf-8")
    organization = organization.replace(
        "AccountName: management, AccountId: '111111111111'",
        "AccountName: master, AccountId: '123456789012'",
    )
    (tmp_path / "organization.yml").write_text(organization, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def orgc(emulator: Emulator, *args: str) -> int:
    return main([*args, "--state", "state.json", "--endpoint-url", emulator.endpoint])


def _account_ids() -> dict[str, str]:
    client = boto3.client("organizations", region_name="us-east-1")
    return {a["Name"]: a["Id"] for a in client.list_accounts()["Accounts"]}


def _stacks(account_id: str, region: str) -> dict[str, str]:
    """Stack name → stack id of every live stack in the account and region."""
    client = in_account(account_id, "cloudformation", region)
    return {
        s["StackName"]: s["StackId"]
        for s in client.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def _parameter(account_id: str, region: str, name: str) -> str:
    ssm = in_account(account_id, "ssm", region)
    return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def _plan(emulator: Emulator, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--format", "json", *extra) == 0
    return dict(json.loads(capsys.readouterr().out))


def _stack_actions(plan: dict[str, Any]) -> dict[str, str]:
    return {c["logicalId"]: c["action"] for c in plan["changes"] if c["kind"] == "stack"}


def test_apply_check_in_the_accounts_replan_and_change_a_binding(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    ids = _account_ids()
    archive, shop, sandbox = ids["log-archive"], ids["shop"], ids["sandbox"]

    # The bucket lives in the log archive account; its name reached both workload accounts.
    buckets = in_account(archive, "s3", "eu-west-1").list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets] == [f"acme-logs-{archive}"]
    for account_id in (shop, sandbox):
        assert _parameter(account_id, "eu-west-1", "/org/logs/bucket-name") == (
            f"acme-logs-{archive}"
        )
        assert _parameter(account_id, "eu-west-1", "/org/logs/bucket-arn") == (
            f"arn:aws:s3:::acme-logs-{archive}"
        )
    # The directory, in every account but the log archive, in both regions; the loop wrote one
    # parameter per account, the account created in this run included.
    for account_id in ("123456789012", shop, sandbox):
        for region in ("eu-west-1", "us-east-1"):
            assert "acme-directory" in _stacks(account_id, region)
            assert _parameter(account_id, region, "/org/accounts/sandbox/id") == sandbox
    assert _parameter(sandbox, "us-east-1", "/org/this-account/name") == "sandbox"
    assert "acme-directory" not in _stacks(archive, "eu-west-1")

    # Applied means planned: nothing left to do.
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0
    assert "Unchanged: 9 target(s)" in capsys.readouterr().out

    # Excluding Shop from the directory deletes exactly its two directory stacks.
    before = {region: _stacks(sandbox, region) for region in ("eu-west-1", "us-east-1")}
    tasks = Path("tasks.yml").read_text(encoding="utf-8")
    Path("tasks.yml").write_text(
        tasks.replace(
            "ExcludeAccount: !Ref LogArchive", "ExcludeAccount: [!Ref LogArchive, !Ref Shop]"
        ),
        encoding="utf-8",
    )
    plan = _plan(emulator, capsys)
    assert _stack_actions(plan) == {
        "Directory/Shop/eu-west-1": "delete",
        "Directory/Shop/us-east-1": "delete",
    }
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert "acme-directory" not in _stacks(shop, "eu-west-1")
    assert "acme-directory" not in _stacks(shop, "us-east-1")
    assert {region: _stacks(sandbox, region) for region in before} == before
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0


def test_a_stack_deleted_by_hand_is_created_again_and_removed_tasks_wait_for_cleanup(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    sandbox = _account_ids()["sandbox"]
    in_account(sandbox, "cloudformation", "us-east-1").delete_stack(StackName="acme-directory")
    assert _plan(emulator, capsys)["changes"] == []  # trusting the state: not seen
    plan = _plan(emulator, capsys, "--refresh")
    assert _stack_actions(plan) == {"Directory/Sandbox/us-east-1": "create"}
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve", "--refresh") == 0
    assert "acme-directory" in _stacks(sandbox, "us-east-1")

    # Without the Directory task its stacks are orphans: listed, kept, deleted on request.
    tasks = Path("tasks.yml").read_text(encoding="utf-8")
    Path("tasks.yml").write_text(tasks[: tasks.index("Directory:")], encoding="utf-8")
    plan = _plan(emulator, capsys)
    assert plan["changes"] == []
    assert len(plan["orphans"]) == 6
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert "acme-directory" in _stacks(sandbox, "us-east-1")
    plan = _plan(emulator, capsys, "--perform-cleanup")
    assert sorted(set(_stack_actions(plan).values())) == ["delete"]
    assert len(plan["changes"]) == 6
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve", "--perform-cleanup") == 0
    assert "acme-directory" not in _stacks(sandbox, "us-east-1")
    assert _plan(emulator, capsys)["orphans"] == []


def test_copy_to_s3_puts_once_and_again_when_the_content_changes(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="acme-artifacts")
    (project / "artifacts").mkdir()
    (project / "artifacts" / "handler.py").write_text("print('v1')\n", encoding="utf-8")
    with Path("tasks.yml").open("a", encoding="utf-8") as tasks:
        tasks.write(
            "\nArtifacts:\n"
            "  Type: copy-to-s3\n"
            "  LocalPath: ./artifacts\n"
            "  RemotePath: s3://acme-artifacts/lambda/bundle.zip\n"
            "  ZipBeforePut: true\n"
            "  OrganizationBinding: {IncludeMasterAccount: true, Region: us-east-1}\n"
        )
    plan = _plan(emulator, capsys)
    [put] = [c for c in plan["changes"] if c["kind"] == "s3-object"]
    assert (put["action"], put["logicalId"]) == ("create", "s3://acme-artifacts/lambda/bundle.zip")
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    s3 = boto3.client("s3", region_name="us-east-1")
    first = s3.get_object(Bucket="acme-artifacts", Key="lambda/bundle.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.read("handler.py") == b"print('v1')\n"
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0

    (project / "artifacts" / "handler.py").write_text("print('v2')\n", encoding="utf-8")
    plan = _plan(emulator, capsys)
    assert [(c["kind"], c["action"]) for c in plan["changes"]] == [("s3-object", "update")]
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    second = s3.get_object(Bucket="acme-artifacts", Key="lambda/bundle.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(second)) as archive:
        assert archive.read("handler.py") == b"print('v2')\n"


def test_a_plan_of_unchanged_files_trusts_the_state_and_reads_almost_nothing(
    project: Path, emulator: Emulator, aws: AwsProvider
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    state = LocalStateStore(Path("state.json")).read()
    assert state.organization_digest is not None
    assert state.root_id is not None
    inputs = compile_organization(Path("tasks.yml"))
    before = aws.call_counts()
    trusted = make_plan(inputs, aws, state, refresh=False)
    calls = {k: v - before.get(k, 0) for k, v in aws.call_counts().items() if v != before.get(k)}
    # The guardrails are compared with AWS at a cost per OU and per policy; nothing is read
    # inside an account, no account's tags, no stack: those are taken from the state.
    organization = inputs.organization
    parents = 1 + len(organization.organizational_units)
    policies = len(organization.policies)
    assert calls == {
        "Organizations.DescribeOrganization": 1,
        "Organizations.ListRoots": 1,
        "Organizations.ListOrganizationalUnitsForParent": parents,
        "Organizations.ListAccountsForParent": parents,
        "Organizations.ListPolicies": 1,
        "Organizations.DescribePolicy": policies + 1,  # FullAWSAccess too
        "Organizations.ListTargetsForPolicy": policies + 1,
        "Organizations.ListTagsForResource": parents + policies,
    }
    assert trusted.changes == ()
    assert trusted.not_compared[-1] == f"{len(trusted.unchanged)} stacks"

    # The same ids and targets as a plan that reads everything.
    refreshed = make_plan(inputs, aws, state, refresh=True)
    assert refreshed.changes == ()
    assert trusted.ids == refreshed.ids
    assert trusted.unchanged == refreshed.unchanged
    assert trusted.organization_id == refreshed.organization_id

    # A changed organization file is read again; the state stops vouching for it until the
    # change is applied.
    text = Path("organization.yml").read_text(encoding="utf-8")
    Path("organization.yml").write_text(text.replace("sandbox", "sandbox-2", 1), encoding="utf-8")
    before = aws.call_counts()
    changed = make_plan(compile_organization(Path("tasks.yml")), aws, state, refresh=False)
    assert aws.call_counts()["Organizations.ListRoots"] == before["Organizations.ListRoots"] + 1
    assert changed.changes != ()


def test_a_trusting_plan_that_meets_a_stack_not_as_recorded_still_applies(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    sandbox = _account_ids()["sandbox"]
    in_account(sandbox, "cloudformation", "us-east-1").delete_stack(StackName="acme-directory")
    template = Path("templates/directory.yml")
    template.write_text(
        template.read_text(encoding="utf-8").replace(
            "Type: String", "Type: String\n      Description: second revision", 1
        ),
        encoding="utf-8",
    )
    # The state says the stack is there: an update, which finds it gone and creates it.
    assert _stack_actions(_plan(emulator, capsys))["Directory/Sandbox/us-east-1"] == "update"
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert "acme-directory" in _stacks(sandbox, "us-east-1")
    assert _plan(emulator, capsys, "--refresh")["changes"] == []


def _edit(path: str, old: str, new: str) -> None:
    text = Path(path).read_text(encoding="utf-8")
    assert old in text
    Path(path).write_text(text.replace(old, new, 1), encoding="utf-8")


def _text_plan(emulator: Emulator, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", *extra) == 0
    return capsys.readouterr().out


def test_a_consumer_whose_own_template_changed_says_so_and_keeps_its_recorded_values(
    project: Path, emulator: Emulator, aws: AwsProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    ids = _account_ids()
    archive, shop = ids["log-archive"], ids["shop"]
    # Only the workload accounts' resources change: the log archive's stack, the producer of the
    # bucket's name and ARN, stays as it is.
    _edit(
        "templates/logs.yml",
        "Name: /org/logs/bucket-arn",
        "Name: /org/logs/bucket-arn\n      Description: where the logs go",
    )
    state = LocalStateStore(Path("state.json")).read()
    made = make_plan(compile_organization(Path("tasks.yml")), aws, state, refresh=False)
    assert len(made.changes) == 2
    # The deployed template is read for the two stacks updated, no other.
    assert aws.call_counts()["CloudFormation.GetTemplate"] == 2
    plan = _plan(emulator, capsys)
    changes = {c["logicalId"]: c for c in plan["changes"]}
    assert sorted(changes) == ["Logs/Sandbox/eu-west-1", "Logs/Shop/eu-west-1"]
    shop_change = changes["Logs/Shop/eu-west-1"]
    assert shop_change["summary"] == (
        f"update stack acme-logs in Shop ({shop}) eu-west-1: template changed"
    )
    details = shop_change["details"]
    assert details["templateChanges"]["resources"] == [
        {"logicalId": "BucketArn", "type": "AWS::SSM::Parameter", "change": "modified"}
    ]
    assert '+    "Description": "where the logs go",' in details["templateChanges"]["diff"]
    assert details["parameters"]["OrgcRefLogBucket"] == f"acme-logs-{archive}"

    text = _text_plan(emulator, capsys)
    assert "~ resource BucketArn (AWS::SSM::Parameter) modified" in text
    assert f"OrgcRefLogBucket = 'acme-logs-{archive}' from output OrgcRefLogBucket" in text
    assert "known after apply" not in text
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0


def test_a_producer_that_changes_makes_its_values_known_after_apply_and_says_which(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    archive = _account_ids()["log-archive"]
    _edit(
        "templates/logs.yml",
        "BucketName: !Sub '${Prefix}-logs-${AWS::AccountId}'",
        "BucketName: !Sub '${Prefix}-logs-${AWS::AccountId}'\n"
        "      Tags: [{Key: purpose, Value: logs}]",
    )
    plan = _plan(emulator, capsys)
    summaries = {c["logicalId"]: c["summary"] for c in plan["changes"]}
    assert summaries["Logs/LogArchive/eu-west-1"].endswith(": template changed")
    assert summaries["Logs/Shop/eu-west-1"].endswith(
        ": a value from another stack may change (Logs/LogArchive/eu-west-1 changes)"
    )
    text = _text_plan(emulator, capsys)
    assert (
        f"OrgcRefLogBucket = 'acme-logs-{archive}' from output OrgcRefLogBucket of stack "
        "Logs/LogArchive/eu-west-1 (!Ref LogBucket); may change: Logs/LogArchive/eu-west-1 "
        "changes in this plan" in text
    )
    assert "+ resource" not in text
    assert "~ resource LogBucket (AWS::S3::Bucket) modified" in text
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0


def test_a_binding_that_loses_most_of_its_targets_is_refused_unless_allowed(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    # A region slip: every directory stack would be deleted and created again elsewhere.
    _edit("tasks.yml", "Region: [eu-west-1, us-east-1]", "Region: eu-central-1")
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml") == 1
    assert capsys.readouterr().err.splitlines() == [
        "tasks.yml:19:1: error[E611]: task Directory: this plan deletes 6 of its 6 stacks "
        "(100 %) because they left its bindings, more than --max-delete-percent 50 allows; "
        "check the binding (a mistyped region or account moves every stack), or plan again "
        "with --allow-mass-delete"
    ]
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 1
    assert "acme-directory" in _stacks("123456789012", "us-east-1")

    plan = _plan(emulator, capsys, "--allow-mass-delete")
    actions = sorted(_stack_actions(plan).values())
    assert actions == ["create"] * 3 + ["delete"] * 6
    text = _text_plan(emulator, capsys, "--max-delete-percent", "100")
    # Named in the order of the accounts' ids, which the emulator draws at random.
    deletes = text.splitlines()[-2]
    assert deletes.startswith("DELETES: 6 stack(s) (")
    assert "Directory/Management/eu-west-1" in deletes

    # Half of the targets is within the default threshold.
    _edit("tasks.yml", "Region: eu-central-1", "Region: eu-west-1")
    assert sorted(_stack_actions(_plan(emulator, capsys)).values()) == ["delete"] * 3
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--max-delete-percent", "150") == 64  # usage
    assert "150 is not a percentage from 0 to 100" in capsys.readouterr().err
