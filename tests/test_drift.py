"""Changes made by hand, outside orgc, and what plans report of them.

tests/cases/drift is applied on the emulator; each test then changes one thing through boto3, as
a person in the console would, and plans twice: by default and with `--refresh`. The default plan
compares the organization's guardrails with AWS (OU tree, where accounts sit, policy contents and
attachments, which accounts exist) and says what it took from the state instead; `--refresh`
compares everything.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator

CASE = Path(__file__).parent / "cases" / "drift"


class Drift:
    """The applied case organization and the ways to plan it."""

    def __init__(self, root: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.endpoint = emulator.endpoint
        self.capsys = capsys
        self.options = ["--state", str(root / "state.json"), "--endpoint-url", self.endpoint]
        self.organizations: Any = boto3.client(
            "organizations", endpoint_url=self.endpoint, region_name="us-east-1"
        )

    def run(self, *args: str) -> tuple[int, str, str]:
        code = main([*args, *self.options, "--root", str(self.root), "--no-lint"])
        out = self.capsys.readouterr()
        return code, out.out, out.err

    def plan(self, *, refresh: bool) -> tuple[dict[str, Any], str]:
        """The JSON plan and the text plan, each with --detailed-exitcode checked against it."""
        extra = ["--refresh"] if refresh else []
        tasks = str(self.root / "tasks.yml")
        code, out, err = self.run("plan", tasks, "--format", "json", *extra)
        assert code == 0, err
        planned = json.loads(out)
        code, text, err = self.run("plan", tasks, "--detailed-exitcode", *extra)
        assert code == (2 if planned["changes"] else 0), err
        return planned, text

    def changes(self, *, refresh: bool) -> set[tuple[str, str, str | None]]:
        planned, _ = self.plan(refresh=refresh)
        return {(c["kind"], c["action"], c["logicalId"]) for c in planned["changes"]}

    def ids(self) -> dict[str, dict[str, str]]:
        state = json.loads((self.root / "state.json").read_text(encoding="utf-8"))
        recorded: dict[str, dict[str, str]] = state["organization"]
        return recorded

    def member(self, service: str, account_id: str, region: str = "eu-west-1") -> Any:
        sts: Any = boto3.client("sts", endpoint_url=self.endpoint, region_name="us-east-1")
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="by-hand",
        )["Credentials"]
        client: Any = boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return client

    def root_id(self) -> str:
        return str(self.organizations.list_roots()["Roots"][0]["Id"])


@pytest.fixture
def drift(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Drift:
    shutil.copytree(CASE, tmp_path / "project")
    applied = Drift(tmp_path / "project", emulator, capsys)
    code, _, err = applied.run("apply", str(applied.root / "tasks.yml"), "--auto-approve")
    assert code == 0, err
    assert applied.changes(refresh=True) == set()
    assert applied.changes(refresh=False) == set()
    return applied


def test_no_change_plan_says_what_it_compared_and_what_it_took_from_the_state(
    drift: Drift,
) -> None:
    _, text = drift.plan(refresh=False)
    assert "No changes." in text
    assert (
        "Compared with AWS: the OU tree, where the 4 accounts sit, the contents and attachments "
        "of 2 policies, the accounts in the organization." in text
    )
    assert (
        "Not compared with AWS: password policies and aliases of 4 accounts, tags of 4 "
        "accounts, 2 stacks; --refresh compares them." in text
    )
    _, refreshed = drift.plan(refresh=True)
    assert "No changes." in refreshed
    assert "Not compared with AWS" not in refreshed


def test_policy_content_replaced_by_hand(drift: Drift) -> None:
    policy_id = drift.ids()["policies"]["DenyRegions"]
    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}
    drift.organizations.update_policy(PolicyId=policy_id, Content=json.dumps(allow_all))
    for refresh in (False, True):
        assert drift.changes(refresh=refresh) == {("policy", "update", "DenyRegions")}


def test_policy_detached_and_attached_by_hand(drift: Drift) -> None:
    ids = drift.ids()
    drift.organizations.detach_policy(
        PolicyId=ids["policies"]["DenyLeave"], TargetId=drift.root_id()
    )
    drift.organizations.attach_policy(
        PolicyId=ids["policies"]["DenyRegions"], TargetId=ids["accounts"]["Play"]
    )
    for refresh in (False, True):
        changes = drift.changes(refresh=refresh)
        assert changes == {("attachment", "attach", "root"), ("attachment", "detach", "Play")}


def test_account_moved_to_the_root_by_hand(drift: Drift) -> None:
    ids = drift.ids()
    drift.organizations.move_account(
        AccountId=ids["accounts"]["Shop"],
        SourceParentId=ids["organizationalUnits"]["WorkloadsOU"],
        DestinationParentId=drift.root_id(),
    )
    for refresh in (False, True):
        assert drift.changes(refresh=refresh) == {("account", "move", "Shop")}


def test_ou_renamed_by_hand(drift: Drift) -> None:
    ou_id = drift.ids()["organizationalUnits"]["SandboxOU"]
    drift.organizations.update_organizational_unit(OrganizationalUnitId=ou_id, Name="playground")
    for refresh in (False, True):
        assert drift.changes(refresh=refresh) == {("organizational-unit", "rename", "SandboxOU")}


def test_ou_deleted_by_hand(drift: Drift) -> None:
    ids = drift.ids()
    drift.organizations.move_account(
        AccountId=ids["accounts"]["Play"],
        SourceParentId=ids["organizationalUnits"]["SandboxOU"],
        DestinationParentId=drift.root_id(),
    )
    drift.organizations.delete_organizational_unit(
        OrganizationalUnitId=ids["organizationalUnits"]["SandboxOU"]
    )
    for refresh in (False, True):
        changes = drift.changes(refresh=refresh)
        assert ("organizational-unit", "create", "SandboxOU") in changes, changes
        assert ("account", "move", "Play") in changes, changes


def test_account_created_outside_orgc_is_reported(drift: Drift) -> None:
    created = drift.organizations.create_account(
        Email="by-hand@example.com", AccountName="by-hand"
    )["CreateAccountStatus"]
    account_id = drift.organizations.describe_create_account_status(
        CreateAccountRequestId=created["Id"]
    )["CreateAccountStatus"]["AccountId"]
    for refresh in (False, True):
        planned, text = drift.plan(refresh=refresh)
        assert planned["changes"] == []
        assert [w["code"] for w in planned["warnings"]] == ["W604"]
        assert planned["warnings"][0]["message"] == (
            f"account by-hand ({account_id}, by-hand@example.com) is in the organization but not "
            "in the files; orgc leaves it alone (add it to the organization file to manage it)"
        )
        assert "No changes." in text


def test_stack_deleted_by_hand_is_found_by_refresh(drift: Drift) -> None:
    account_id = drift.ids()["accounts"]["Shop"]
    drift.member("cloudformation", account_id).delete_stack(StackName="drift-directory")
    _, text = drift.plan(refresh=False)
    assert "No changes." in text
    assert "2 stacks; --refresh compares them." in text
    planned, _ = drift.plan(refresh=True)
    assert [(c["kind"], c["action"], c["physicalId"]) for c in planned["changes"]] == [
        ("stack", "create", None)
    ]
    assert [(c["details"]["accountId"], c["details"]["region"]) for c in planned["changes"]] == [
        (account_id, "eu-west-1")
    ]


def test_password_policy_changed_by_hand_is_found_by_refresh(drift: Drift) -> None:
    account_id = drift.ids()["accounts"]["Search"]
    drift.member("iam", account_id, "us-east-1").update_account_password_policy(
        MinimumPasswordLength=8
    )
    _, text = drift.plan(refresh=False)
    assert "No changes." in text
    assert "password policies and aliases of 4 accounts" in text
    assert drift.changes(refresh=True) == {("password-policy", "update", "Search")}
