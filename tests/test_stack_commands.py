"""OrgFormation's stack commands (update-stacks, validate-stacks, print-stacks, describe-stacks,
delete-stacks) run through orgc's CLI on the emulator, as OrgFormation's create-buckets and
update-stacks scenarios run them: what the accounts hold is read back with boto3, every bad
option is a diagnostic, and every run ends with a re-run that changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.compat import account_id, orgc, plan, scenario, stacks
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator
from orgc.load import parse_json
from orgc.tasks.model import UPDATE_PROTECTION_POLICY

BUCKETS = "templates/buckets.yml"
REGIONS = ("eu-west-1", "us-east-1")


def _described(capsys: pytest.CaptureFixture[str], emulator: Emulator, *args: str) -> Any:
    capsys.readouterr()
    assert orgc(emulator, "describe-stacks", *args) == 0
    return json.loads(capsys.readouterr().out)


def _stack(account: str, region: str, name: str) -> dict[str, Any]:
    client = in_account(account, "cloudformation", region)
    return dict(client.describe_stacks(StackName=name)["Stacks"][0])


def _parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def _policy(account: str, region: str, name: str) -> Any:
    client = in_account(account, "cloudformation", region)
    return json.loads(client.get_stack_policy(StackName=name)["StackPolicyBody"])


@pytest.fixture
def project(
    tmp_path: Path, aws: AwsProvider, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = scenario("stack-commands", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "0-organization.yml", "--auto-approve") == 0
    return path


def test_update_stacks_deploys_records_and_reruns_as_a_no_op(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shop, billing = account_id("shop"), account_id("billing")
    capsys.readouterr()
    code = orgc(
        emulator,
        "update-stacks",
        BUCKETS,
        "--stack-name",
        "buckets",
        "--parameters",
        "bucketPrefix=org",
        "ParameterKey=retention,ParameterValue=30",
        "--stack-description",
        "buckets of the apps accounts",
        "--termination-protection",
        "--update-protection",
        "--tags",
        "team=platform cost=shared",
        "--max-concurrent-stacks",
        "2",
        "--failed-stacks-tolerance",
        "1",
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[0].endswith(
        ", from orgc update-stacks templates/buckets.yml --stack-name buckets"
    )
    assert "      task update-stacks:buckets (templates/buckets.yml)\n" in out
    assert "Apply complete: 4 changes" in out
    for account in (shop, billing):
        for region in REGIONS:
            assert stacks(account, region) == {"buckets"}
            stack = _stack(account, region, "buckets")
            assert _parameters(stack) == {"bucketPrefix": "org", "retention": "30"}
            assert stack["Description"] == "buckets of the apps accounts"
            assert stack["EnableTerminationProtection"] is True
            assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {
                "team": "platform",
                "cost": "shared",
            }
            assert _policy(account, region, "buckets") == UPDATE_PROTECTION_POLICY
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()

    described = _described(capsys, emulator)
    assert list(described) == ["buckets"]
    assert sorted((t["logicalAccountId"], t["region"]) for t in described["buckets"]) == [
        ("Billing", "eu-west-1"),
        ("Billing", "us-east-1"),
        ("Shop", "eu-west-1"),
        ("Shop", "us-east-1"),
    ]
    assert {t["task"] for t in described["buckets"]} == {"update-stacks:buckets"}
    assert {t["status"] for t in described["buckets"]} == {"CREATE_COMPLETE"}

    # The same command again changes nothing.
    capsys.readouterr()
    assert (
        orgc(
            emulator,
            "update-stacks",
            BUCKETS,
            "--stack-name",
            "buckets",
            "--parameters",
            "bucketPrefix=org retention=30",
            "--stack-description",
            "buckets of the apps accounts",
            "--termination-protection",
            "--update-protection",
            "--tags",
            "team=platform",
            "cost=shared",
        )
        == 0
    )
    assert capsys.readouterr().out.splitlines()[-1] == "Stack buckets already up to date."


def test_a_changed_option_updates_and_no_update_protection_allows_updates_again(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = account_id("shop")
    base = ("update-stacks", BUCKETS, "--stack-name", "buckets", "--parameters", "bucketPrefix=b")
    assert orgc(emulator, *base, "--update-protection", "--tags", "team=a") == 0
    assert _policy(shop, "eu-west-1", "buckets") == UPDATE_PROTECTION_POLICY
    capsys.readouterr()
    # (The emulator cannot take every tag off a stack: a changed tag shows the update.)
    assert orgc(emulator, *base, "retention=14", "--no-update-protection", "--tags", "team=b") == 0
    out = capsys.readouterr().out
    assert "Apply complete: 4 changes" in out
    updated = _stack(shop, "us-east-1", "buckets")
    assert _parameters(updated)["retention"] == "14"
    assert updated["Tags"] == [{"Key": "team", "Value": "b"}]
    assert _policy(shop, "eu-west-1", "buckets")["Statement"][0]["Effect"] == "Allow"
    # A policy given as a file.
    with_tag = ("retention=14", "--tags", "team=b")
    assert orgc(emulator, *base, *with_tag, "--stack-policy", "file://policy.json") == 0
    assert _policy(shop, "eu-west-1", "buckets") == json.loads(Path("policy.json").read_text())
    capsys.readouterr()
    assert orgc(emulator, *base, *with_tag, "--stack-policy", "policy.json") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Stack buckets already up to date."


def test_templating_context_and_the_organization_file(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (
        "update-stacks",
        "templates/context.njk",
        "--stack-name",
        "topics",
        "--templating-context",
        '{"topics": ["audit", "alerts"]}',
        "--organization-file",
        "organization.yml",
    )
    assert orgc(emulator, *args) == 0
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"topics"}
    client = in_account(MANAGEMENT_ACCOUNT_ID, "sns", "eu-west-1")
    topics = {t["TopicArn"].rsplit(":", 1)[1] for t in client.list_topics()["Topics"]}
    assert topics == {"audit", "alerts"}
    capsys.readouterr()
    assert orgc(emulator, *args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Stack topics already up to date."


def test_task_files_and_stack_commands_leave_each_others_stacks_be(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = account_id("shop")
    buckets = (
        "update-stacks",
        BUCKETS,
        "--stack-name",
        "buckets",
        "--parameters",
        "bucketPrefix=t",
    )
    assert orgc(emulator, *buckets) == 0
    # The task file does not name the command's stacks: no orphan, and cleanup keeps them.
    planned = plan(emulator, capsys, "1-tasks.yml", "--perform-cleanup")
    assert [c["logicalId"] for c in planned["changes"]] == ["Marker/MasterAccount/eu-west-1"]
    assert planned["warnings"] == []
    assert orgc(emulator, "apply", "1-tasks.yml", "--perform-cleanup", "--auto-approve") == 0
    assert stacks(shop, "eu-west-1") == {"buckets"}
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"tasks-marker"}
    assert orgc(emulator, "plan", "1-tasks.yml", "--perform-cleanup", "--detailed-exitcode") == 0
    # ... and the command does not take the task file's stack for its own or for an orphan.
    capsys.readouterr()
    assert orgc(emulator, *buckets) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Stack buckets already up to date."
    marker = ("update-stacks", "templates/marker.yml", "--stack-name", "tasks-marker")
    assert orgc(emulator, *marker) == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E488]: stack tasks-marker is deployed by task Marker of the task files; "
        "apply the task file to change it, or give another --stack-name"
    ]
    described = _described(capsys, emulator, "--stack-name", "tasks-marker")
    assert [(t["task"], t["accountId"], t["status"]) for t in described["tasks-marker"]] == [
        ("Marker", MANAGEMENT_ACCOUNT_ID, "CREATE_COMPLETE")
    ]


def test_delete_stacks_deletes_every_stack_of_the_name_and_then_finds_none(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shop, billing = account_id("shop"), account_id("billing")
    buckets = (
        "update-stacks",
        BUCKETS,
        "--stack-name",
        "buckets",
        "--parameters",
        "bucketPrefix=d",
    )
    assert orgc(emulator, *buckets, "--termination-protection") == 0
    assert orgc(emulator, "apply", "1-tasks.yml", "--auto-approve") == 0
    assert list(_described(capsys, emulator)) == ["buckets", "tasks-marker"]

    # Protected stacks are left, as CloudFormation would refuse to delete them.
    capsys.readouterr()
    assert orgc(emulator, "delete-stacks", "--stack-name", "buckets") == 0
    printed = capsys.readouterr()
    assert printed.out == "nothing deleted: the stacks named buckets have termination protection\n"
    left = printed.err.splitlines()
    assert len(left) == 4
    assert left[0].startswith("orgc: warning[W640]: stack buckets in account ")
    assert "is left, not deleted: orgc delete-stacks asked for it, but" in left[0]
    for account in (shop, billing):
        for region in REGIONS:
            assert stacks(account, region) == {"buckets"}

    assert orgc(emulator, *buckets) == 0  # protection off
    capsys.readouterr()
    assert orgc(emulator, "delete-stacks", "--stack-name", "buckets") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(", from orgc delete-stacks buckets")
    assert (
        f"  - delete stack buckets in Shop ({shop}) eu-west-1: orgc delete-stacks asked for it\n"
        in out
    )
    assert "Apply complete: 4 changes" in out
    for account in (shop, billing):
        for region in REGIONS:
            assert stacks(account, region) == set()
    assert list(_described(capsys, emulator)) == ["tasks-marker"]
    assert _described(capsys, emulator, "--stack-name", "buckets") == {}
    # The task file's stack is left, and its plan is still a no-op.
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"tasks-marker"}
    assert orgc(emulator, "plan", "1-tasks.yml", "--detailed-exitcode") == 0

    # Nothing left of the name: a notice, and success.
    capsys.readouterr()
    assert orgc(emulator, "delete-stacks", "buckets") == 0
    assert capsys.readouterr().err.splitlines() == [
        "orgc: warning[W480]: the state records no stack named buckets; nothing to delete "
        "(orgc describe-stacks lists the stacks it records)"
    ]
    # A task file's stack is deleted by its name too, as OrgFormation does; the next plan of
    # the task file makes it again.
    assert orgc(emulator, "delete-stacks", "tasks-marker") == 0
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()
    assert _described(capsys, emulator) == {}
    assert orgc(emulator, "plan", "1-tasks.yml", "--detailed-exitcode") == 2


def test_validate_and_print_stacks_make_no_change(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    local = ("--organization-file", "organization.yml")
    capsys.readouterr()
    # A local organization file: no AWS call at all (no endpoint is given).
    assert main(["validate-stacks", BUCKETS, "--parameters", "bucketPrefix=v", *local]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 errors, 0 warnings"]
    assert main(["validate-stacks", BUCKETS, *local]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "templates/buckets.yml:4:3: error[E429]: parameter bucketPrefix has no Default and task "
        "update-stacks:validation gives it no value; add bucketPrefix to the task's Parameters "
        "or give it a Default",
        "1 error, 0 warnings",
    ]
    # Without one, the organization is read from AWS, with the ids the state gives.
    assert orgc(emulator, "validate-stacks", BUCKETS, "--parameters", "bucketPrefix=v") == 0
    assert capsys.readouterr().out.splitlines() == ["0 errors, 0 warnings"]

    shop = account_id("shop")
    assert orgc(emulator, "print-stacks", BUCKETS, "--parameters", "bucketPrefix=v") == 0
    printed = capsys.readouterr().out
    headers = [line for line in printed.splitlines() if line.startswith("# ")]
    assert headers == [
        "# print in Billing eu-west-1",
        "# print in Billing us-east-1",
        "# print in Shop eu-west-1",
        "# print in Shop us-east-1",
    ]
    assert "  Bucket:\n    Type: AWS::S3::Bucket\n" in printed
    out = tmp_path / "printed"
    assert (
        main(
            [
                "print-stacks",
                BUCKETS,
                "--stack-name",
                "buckets",
                "--parameters",
                "bucketPrefix=v",
                "--output",
                "json",
                "--output-path",
                str(out),
                *local,
            ]
        )
        == 0
    )
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.json"))
    assert written == [
        "buckets/Billing-eu-west-1.json",
        "buckets/Billing-us-east-1.json",
        "buckets/Shop-eu-west-1.json",
        "buckets/Shop-us-east-1.json",
    ]
    template = json.loads((out / "buckets" / "Shop-eu-west-1.json").read_text())
    assert sorted(template["Resources"]) == ["Bucket", "Retention"]
    blocked = tmp_path / "file"
    blocked.write_text("")
    capsys.readouterr()
    assert (
        main(
            [
                "print-stacks",
                BUCKETS,
                "--parameters",
                "bucketPrefix=v",
                "--output-path",
                str(blocked),
                *local,
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.startswith(
        f"orgc: error[E489]: cannot write {blocked}/print/Billing-eu-west-1.yaml under "
        "--output-path: "
    )
    # Nothing was deployed, and the state records nothing.
    assert stacks(shop, "eu-west-1") == set()
    assert _described(capsys, emulator) == {}


def test_every_bad_option_is_a_diagnostic_before_any_aws_call(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    # No endpoint: a command that got as far as AWS would fail differently.
    assert (
        main(
            [
                "update-stacks",
                "templates/missing.yml",
                "--parameters",
                "bad",
                "ParameterKey=x",
                "a=1 a=2",
                "--tags",
                "t",
                "--templating-context",
                "[1]",
                "--max-concurrent-stacks",
                "0",
                "--failed-stacks-tolerance",
                "x",
                "--update-protection",
                "--stack-policy",
                "{",
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E480]: orgc update-stacks needs --stack-name NAME: the stack to deploy",
        "orgc: error[E481]: --parameters gives a twice; give it once",
        "orgc: error[E481]: --parameters takes Key=Value or ParameterKey=Key,ParameterValue=Value, "
        "not 'ParameterKey=x'",
        "orgc: error[E481]: --parameters takes Key=Value or ParameterKey=Key,ParameterValue=Value, "
        "not 'bad'",
        "orgc: error[E482]: --templating-context must be a JSON object ({...}), not '[1]'",
        "orgc: error[E483]: --tags takes Key=Value pairs, not 't'",
        "orgc: error[E484]: --stack-policy and --update-protection both set the stack policy; "
        "give one of them",
        "orgc: error[E484]: --stack-policy is not JSON: " + _json_error("{"),
        "orgc: error[E485]: --failed-stacks-tolerance takes a whole number of 0 or more, not 'x'",
        "orgc: error[E485]: --max-concurrent-stacks takes a whole number of 1 or more, not '0'",
        "orgc: error[E486]: template templates/missing.yml not found: no such file",
    ]
    assert main(["validate-stacks", "templates", "--stack-name", "bad_name"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E480]: --stack-name 'bad_name' is not a CloudFormation stack name: a letter, "
        "then letters, digits and hyphens, 128 characters at most",
        "orgc: error[E486]: template templates is not a file; name the annotated CloudFormation "
        "template to deploy",
    ]
    assert main(["print-stacks", BUCKETS, "--stack-policy", "{}"]) == 64  # not its option
    capsys.readouterr()
    assert main(["update-stacks", BUCKETS, "--stack-name", "s", "--stack-policy", '{"a": 1}']) == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E484]: --stack-policy must be a stack policy document, with a Statement; "
        '{"Statement": [{"Effect": "Deny", "Action": "Update:*", "Principal": "*", '
        '"Resource": "*"}]} denies every update'
    ]
    assert main(["delete-stacks"]) == 1
    assert main(["delete-stacks", "--stack-name", "x", "--max-concurrent-stacks", "two"]) == 1
    assert main(["describe-stacks", "--stack-name", "-"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E480]: orgc delete-stacks needs --stack-name NAME: the stack to deploy",
        "orgc: error[E485]: --max-concurrent-stacks takes a whole number, not 'two'",
        "orgc: error[E480]: --stack-name '-' is not a CloudFormation stack name: a letter, then "
        "letters, digits and hyphens, 128 characters at most",
    ]
    assert main(["delete-stacks", "a", "--stack-name", "b"]) == 64
    assert capsys.readouterr().err.splitlines()[-1] == (
        "orgc: delete-stacks names two stacks (a and --stack-name b); give one"
    )


def _json_error(text: str) -> str:
    try:
        parse_json(text)
    except ValueError as error:
        return str(error)
    raise AssertionError(text)


def test_a_target_that_leaves_the_bindings_is_deleted_and_the_state_names_the_task(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = account_id("shop")
    regional = ("update-stacks", "templates/regional.njk", "--stack-name", "regional")
    assert orgc(emulator, *regional, "--templating-context", json.dumps({"regions": REGIONS})) == 0
    assert stacks(shop, "eu-west-1") == stacks(shop, "us-east-1") == {"regional"}
    capsys.readouterr()
    assert orgc(emulator, "state", "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert [a for a in listed if a.startswith("stack:")] == [
        "stack:update-stacks:regional/Shop/eu-west-1",
        "stack:update-stacks:regional/Shop/us-east-1",
    ]
    assert orgc(emulator, "state", "show", "stack:update-stacks:regional/Shop/us-east-1") == 0
    assert "update-stacks:regional" in capsys.readouterr().out

    only_eu = ("--templating-context", '{"regions": ["eu-west-1"]}')
    assert orgc(emulator, *regional, *only_eu) == 0
    out = capsys.readouterr().out
    assert (
        f"  - delete stack regional in Shop ({shop}) us-east-1: the target left the task's "
        "bindings\n" in out
    )
    assert stacks(shop, "eu-west-1") == {"regional"}
    assert stacks(shop, "us-east-1") == set()
    assert orgc(emulator, *regional, *only_eu) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Stack regional already up to date."


def test_the_organization_file_from_s3(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="stack-commands-organization")
    s3.put_object(
        Bucket="stack-commands-organization",
        Key="organization.yml",
        Body=(project / "organization.yml").read_bytes(),
    )
    flag = ("--organization-file", "s3://stack-commands-organization/organization.yml")
    buckets = ("update-stacks", BUCKETS, "--stack-name", "s3-org", "--parameters", "bucketPrefix=s")
    assert orgc(emulator, *buckets, *flag) == 0
    assert stacks(account_id("shop"), "eu-west-1") == {"s3-org"}
    capsys.readouterr()
    assert orgc(emulator, *buckets, *flag) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Stack s3-org already up to date."
    missing = ("--organization-file", "s3://stack-commands-organization/missing.yml")
    assert (
        orgc(emulator, "validate-stacks", BUCKETS, "--parameters", "bucketPrefix=s", *missing) == 1
    )
    assert capsys.readouterr().out.splitlines() == [
        "orgc: error[E450]: cannot read s3://stack-commands-organization/missing.yml: bucket "
        "stack-commands-organization holds no object missing.yml; upload it, or put it with a "
        "copy-to-s3 task of these files",
        "1 error, 0 warnings",
    ]
