"""Task attributes OrgFormation evaluates per target, replayed on the emulator.

Each scenario under tests/scenarios/compat/targets-* is applied with `orgc` as an OrgFormation
user would run it, what AWS then holds is read with boto3 directly, and every step ends with a
re-plan that must change nothing. The mistakes only a target shows are exact diagnostics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.compat import (
    account_id,
    apply_then_no_op,
    orgc,
    plan,
    scenario,
    stacks,
    validate_lines,
)
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.emulator import Emulator


def _parameters(account: str, name: str, region: str) -> dict[str, str]:
    client = in_account(account, "cloudformation", region)
    stack: dict[str, Any] = client.describe_stacks(StackName=name)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def test_stack_names_are_evaluated_per_target_and_a_changed_name_replaces_the_stack(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("targets-stack-names", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    apply_then_no_op(emulator, "tasks.yml")
    payments, search = account_id("payments"), account_id("search")
    for account, name in ((payments, "payments"), (search, "search")):
        for region in ("eu-west-1", "eu-central-1"):
            own = f"base-{name}-{region}"
            assert stacks(account, region) == {own}
            # AWS::StackName in a task parameter is the target's own name.
            assert _parameters(account, own, region) == {"ownName": own}
    management = f"in-{MANAGEMENT_ACCOUNT_ID}"
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {management}
    assert _parameters(MANAGEMENT_ACCOUNT_ID, management, "eu-west-1") == {
        "ownName": "master-master"
    }

    # Step 2: the name now comes from a tag. A stack cannot be renamed: each target's new
    # stack is created and its old one deleted, which the plan counts as destructive.
    renamed = plan(emulator, capsys, "tasks-renamed.yml")
    changes = sorted((c["action"], c["summary"]) for c in renamed["changes"])
    expected: list[tuple[str, str]] = []
    for account, name, team in ((payments, "payments", "ledger"), (search, "search", "index")):
        logical = name.capitalize()
        for region in ("eu-central-1", "eu-west-1"):
            expected.append(
                (
                    "create",
                    f"create stack base-{team}-{region} in {logical} ({account}) {region}",
                )
            )
            expected.append(
                (
                    "delete",
                    f"delete stack base-{name}-{region} in {logical} ({account}) {region}: "
                    f"the task's StackName now names it base-{team}-{region}, which is created "
                    "instead (a stack cannot be renamed)",
                )
            )
    assert changes == sorted(expected)
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks-renamed.yml") == 0
    assert "  - 4 stack(s) to delete\n" in capsys.readouterr().out
    apply_then_no_op(emulator, "tasks-renamed.yml")
    for account, team in ((payments, "ledger"), (search, "index")):
        for region in ("eu-west-1", "eu-central-1"):
            assert stacks(account, region) == {f"base-{team}-{region}"}
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {management}


def test_stack_names_that_cannot_be_are_diagnostics(
    tmp_path: Path,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("targets-stack-names", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks-errors.yml") == [
        "tasks-errors.yml:16:1: error[E470]: StackName of task Clash names its stack in account "
        "Search eu-west-1 'search-baseline', as task Baseline names its stack there; give the "
        "tasks StackNames that differ for every target",
        "tasks-errors.yml:26:1: error[E471]: StackName of task ById for account Payments "
        "eu-west-1 needs a value known only after apply (!Sub 'stack-${AWS::AccountId}': the "
        "account is created by this run); name the stack by what the files know "
        "(${CurrentAccount.AccountName}), or apply the organization first",
        "tasks-errors.yml:36:1: error[E472]: StackName of task ByTag gives 'team_ledger' for "
        "account Payments eu-west-1, which is not a stack name (a letter, then letters, digits "
        "and hyphens, 128 at most)",
        "3 errors, 0 warnings",
    ]
    assert validate_lines(capsys, emulator, "tasks-stackset.yml") == [
        "tasks-stackset.yml:6:1: error[E473]: task Set cannot be a StackSet: its StackName "
        "gives 2 names across its targets ('set-payments', 'set-search'), and a StackSet has "
        "one name; give a StackName that is the same for every target (no "
        "${CurrentAccount...}, ${AWS::AccountId} or ${AWS::Region}), or deploy with "
        "DeploymentMode: Stacks",
        "1 error, 0 warnings",
    ]


def test_a_named_binding_as_a_stack_parameter_gives_the_ids_of_its_accounts(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("targets-bindings", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    # The accounts are created by this run: their ids are filled in at apply.
    first = plan(emulator, capsys, "tasks.yml")
    stack = next(c for c in first["changes"] if c["kind"] == "stack")
    assert stack["details"]["parameters"] == {
        "auditors": MANAGEMENT_ACCOUNT_ID,
        "members": "{{orgc:account:Payments}},{{orgc:account:Search}}",
    }
    apply_then_no_op(emulator, "tasks.yml")
    # In the binding's order of accounts (by logical id), whatever their ids.
    members = f"{account_id('payments')},{account_id('search')}"
    assert _parameters(MANAGEMENT_ACCOUNT_ID, "members", "eu-west-1") == {
        "members": members,
        "auditors": MANAGEMENT_ACCOUNT_ID,
    }


def test_copy_to_s3_paths_and_templating_contexts_are_evaluated_per_target(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("targets-copy-to-s3", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    # Both accounts and their buckets are created by this run: their ids are filled in at
    # apply, in the path as in the bucket name; so is the export !CopyValue reads.
    first = plan(emulator, capsys, "tasks.yml")
    puts = sorted(c["logicalId"] for c in first["changes"] if c["kind"] == "s3-object")
    assert puts == sorted(
        [
            "s3://files-{{orgc:account:Shop}}/master/plain.txt",
            "s3://files-{{orgc:account:Shop}}/web/OrganizationAccountAccessRole/about.txt",
            "s3://files-{{orgc:account:Stock}}/ledger/OrganizationAccountAccessRole/about.txt",
            "s3://{{orgc:reference:Shop:eu-west-1:files-bucket}}/exported/shop.txt",
            "s3://{{orgc:reference:Stock:eu-west-1:files-bucket}}/exported/stock.txt",
        ]
    )
    apply_then_no_op(emulator, "tasks.yml")
    for name, team in (("shop", "web"), ("stock", "ledger")):
        account = account_id(name)
        s3 = in_account(account, "s3", "eu-west-1")
        key = f"{team}/OrganizationAccountAccessRole/about.txt"
        body = s3.get_object(Bucket=f"files-{account}", Key=key)["Body"].read()
        assert body == f"team {team} of {name} in eu-west-1\n".encode()
        # !CopyValue files-bucket: the export of the account's own Buckets stack.
        exported = s3.get_object(Bucket=f"files-{account}", Key=f"exported/{name}.txt")
        assert exported["Body"].read() == b"plain\n"
    shop = account_id("shop")
    s3 = in_account(shop, "s3", "eu-west-1")
    assert s3.get_object(Bucket=f"files-{shop}", Key="master/plain.txt")["Body"].read() == (
        b"plain\n"
    )


def test_copy_to_s3_attributes_no_target_can_finish_are_diagnostics(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("targets-copy-to-s3", tmp_path, monkeypatch)
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks-errors.yml") == 1
    assert capsys.readouterr().err.splitlines() == [
        "tasks-errors.yml:6:1: error[E343]: RemotePath of task Path: ${Nobody.AccountName}: "
        "Nobody is not an account, OU or policy",
        "tasks-errors.yml:14:1: error[E343]: RemotePath of task NotS3 gives 'files/shop' for "
        "Shop eu-west-1, which is not s3://bucket/key",
        "tasks-errors.yml:22:1: error[E474]: TemplatingContext of task Context: "
        "!GetAtt CurrentAccount.Colour: accounts have no attribute Colour; use AccountName, "
        "AccountId, Alias, RootEmail, Tags.<key>, OrganizationAccessRoleName, "
        "BuildAccessRoleName",
        "tasks-errors.yml:22:1: error[E474]: TemplatingContext of task Context: "
        "!Ref AWS::StackName is known only inside CloudFormation; TemplatingContext must be "
        "known before deploy",
    ]
