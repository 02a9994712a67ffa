"""The steps of OrgFormation-style scenarios replayed on the emulator: a scenario's files
(tests/scenarios/compat/NAME) copied into a fresh project, orgc's CLI run in it against the
emulator with a local state, and what AWS holds read back with boto3 directly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from orgc.cli import main
from orgc.emulator import Emulator
from support.emulated import in_account

SCENARIOS = Path(__file__).parent.parent / "scenarios" / "compat"


def scenario(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(SCENARIOS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path / name)
    return tmp_path / name


def orgc(emulator: Emulator, *args: str) -> int:
    if args[0] == "validate":  # no AWS
        return main(list(args))
    return main([*args, "--state", "state.json", "--endpoint-url", emulator.endpoint])


def plan(emulator: Emulator, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert orgc(emulator, "plan", *args, "--format", "json") == 0
    return dict(json.loads(capsys.readouterr().out))


def validate_lines(capsys: pytest.CaptureFixture[str], emulator: Emulator, tasks: str) -> list[str]:
    """What `orgc validate` prints of the file, line by line (its exit code left to the lines)."""
    capsys.readouterr()
    orgc(emulator, "validate", tasks)
    return capsys.readouterr().out.splitlines()


def apply_then_no_op(emulator: Emulator, tasks: str) -> None:
    """Apply the file; a plan of it afterwards has nothing left to do."""
    assert orgc(emulator, "apply", tasks, "--auto-approve") == 0
    assert orgc(emulator, "plan", tasks, "--detailed-exitcode") == 0


def described_stack(account: str, name: str, region: str = "eu-west-1") -> dict[str, Any]:
    """The stack as CloudFormation in the account and region describes it."""
    client = in_account(account, "cloudformation", region)
    found: dict[str, Any] = client.describe_stacks(StackName=name)["Stacks"][0]
    return found


def stacks(account: str, region: str) -> set[str]:
    """The names of the live stacks in the account and region."""
    client = in_account(account, "cloudformation", region)
    return {
        s["StackName"]
        for s in client.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def account_ids() -> dict[str, str]:
    """Account name → id, of every account of the emulated organization."""
    client = boto3.client("organizations", region_name="us-east-1")
    return {a["Name"]: a["Id"] for a in client.list_accounts()["Accounts"]}


def account_id(name: str) -> str:
    return account_ids()[name]
