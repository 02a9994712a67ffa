"""OrgFormation's stack commands (update-stacks, validate-stacks, print-stacks, describe-stacks,
delete-stacks) run through orgc's CLI on the emulator, as OrgFormation's create-buckets and
update-stacks scenarios run them: what the accounts hold is read back with boto3, every bad
option is a diagnostic, and every run ends with a re-run that changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.compat import account_id, orgc, scenario, stacks
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.emulator import Emulator
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
