"""Every task attribute OrgFormation evaluates per target, with every kind of expression it
accepts there, replayed on the emulator; and what is known only after apply, filled in by it.

Each scenario under tests/scenarios/compat/attrs-* is validated, applied with `orgc` as an
OrgFormation user would run it, what AWS then holds is read with boto3 directly, and the run
ends with a re-plan that must change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.compat import account_id, orgc, plan, scenario, stacks
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.emulator import Emulator


def _validate(capsys: pytest.CaptureFixture[str], emulator: Emulator, tasks: str) -> list[str]:
    capsys.readouterr()
    orgc(emulator, "validate", tasks)
    return capsys.readouterr().out.splitlines()


def _apply(emulator: Emulator, tasks: str) -> None:
    assert orgc(emulator, "apply", tasks, "--auto-approve") == 0
    assert orgc(emulator, "plan", tasks, "--detailed-exitcode") == 0  # a no-op re-plan


def _stack(account: str, name: str, region: str) -> dict[str, Any]:
    client = in_account(account, "cloudformation", region)
    found: dict[str, Any] = client.describe_stacks(StackName=name)["Stacks"][0]
    return found


def test_every_attribute_is_finished_for_each_target_with_what_the_target_knows(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("attrs-per-target", tmp_path, monkeypatch)
    assert _validate(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    # The accounts are created by this run: what names their ids is filled in at apply.
    first = plan(emulator, capsys, "tasks.yml")
    roles = {
        (c["details"]["account"], c["details"]["region"]): c["details"]["roleName"]
        for c in first["changes"]
        if c["kind"] == "stack" and c["details"]["task"] == "PerTarget"
    }
    via = f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/PipelineRole|"
    assert roles == {
        (account, region): via + role
        for account, role in (
            ("MasterAccount", "OrganizationAccountAccessRole"),
            ("AccountA", "AlphaAccessRole"),
            ("AccountB", "OrganizationAccountAccessRole"),
        )
        for region in ("eu-west-1", "eu-central-1")
    }
    _apply(emulator, "tasks.yml")

    alpha, beta = account_id("alpha"), account_id("beta")
    targets = (
        (MANAGEMENT_ACCOUNT_ID, "master", "1000", "OrganizationAccountAccessRole", "PipelineRole"),
        (alpha, "alpha", "200", "AlphaAccessRole", "PipelineRole"),
        (beta, "beta", "300", "OrganizationAccountAccessRole", "BetaBuildRole"),
    )
    for account, name, budget, access, build in targets:
        # !FindInMap [Regions, !Ref AWS::Partition, all] gave both regions.
        for region in ("eu-west-1", "eu-central-1"):
            assert stacks(account, region) == {"attrs-shared", "attrs-per-target"}
            stack = _stack(account, "attrs-per-target", region)
            assert stack["Description"] == (
                f"{name} ({account}) in {region}, managed from {MANAGEMENT_ACCOUNT_ID}"
            )
            assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {
                "owner": name,
                "budget": budget,
            }
            assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
                "name": name,
                "id": account,
                "region": region,
                "partition": "aws",
                "master": MANAGEMENT_ACCOUNT_ID,
                "alphaName": "alpha",
                "alphaId": alpha,
                "threshold": budget,
                "accessRole": access,
                "buildRole": build,
                "owner": name,  # a task-file parameter whose Default names CurrentAccount
                "flavour": "commercial",
                "shared": f"{account}-shared",  # the export of the target's own stack
                "joined": f"{alpha}-shared/{name}",
                "peers": beta,  # !Ref of the task's named binding
            }
    # copy-to-s3: the path and the rendered file name the target, its id filled in at apply;
    # each put as the target's TaskRoleName.
    recorded = json.loads(Path("state.json").read_text(encoding="utf-8"))["objects"]
    for account, name, team, budget, role in (
        (alpha, "alpha", "web", "200", "AlphaAccessRole"),
        (beta, "beta", "data", "300", "OrganizationAccountAccessRole"),
    ):
        bucket, key = f"attrs-{account}-eu-central-1", f"{name}/{team}.txt"
        s3 = in_account(account, "s3", "eu-central-1")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert body == (
            f"note of {name} ({account}) in eu-central-1: budget {budget}, commercial, "
            "managed by master\n"
        )
        assert recorded[f"s3://{bucket}/{key}"]["roleName"] == role
