"""The apply stage: the scheduler on a recording provider, and whole runs on the emulator.

End-to-end tests drive `orgc` through `main(argv)` against the emulator over HTTP, then look at
what the emulator holds with boto3 directly (never through orgc's own reading code), re-plan to
no changes, change the files, and check again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.emulated import in_account
from support.fake_sso import FakeIdentityCenter
from support.memory_state import MemoryWriter

from orgc import cli
from orgc.apply import apply
from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator
from orgc.observed import (
    BucketFacts,
    ContactDetails,
    InstanceTargets,
    LiveOrganization,
    LiveServiceAccess,
    LiveStack,
    LiveStackSet,
    ObjectVersion,
    PasswordPolicySettings,
    Preferences,
    StackDeployment,
    StackResult,
    StackSetDefinition,
)
from orgc.pipeline import compile_organization, make_plan
from orgc.plan import Change, IdTable, Plan
from orgc.plan.codec import change_from_json
from orgc.plan.specs import Group
from orgc.state import LocalStateStore

MANAGEMENT = "123456789012"

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties:
      AccountName: master
      AccountId: '123456789012'
      PasswordPolicy: !Ref Passwords
      Tags: {owner: platform}
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties:
      ServiceControlPolicies: !Ref DenyLeave
  WorkloadsOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: workloads
      OrganizationalUnits: [!Ref ProdOU, !Ref DevOU]
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: prod
      Accounts: [!Ref Shop]
      ServiceControlPolicies: !Ref DenyRoot
  DevOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: dev
      Accounts: [!Ref Sandbox]
  Shop:
    Type: OC::ORG::Account
    Properties:
      AccountName: shop
      RootEmail: shop@example.com
      Alias: example-shop
      PasswordPolicy: !Ref Passwords
      Tags: {team: shop, environment: prod}
  Sandbox:
    Type: OC::ORG::Account
    Properties:
      AccountName: sandbox
      RootEmail: sandbox@example.com
      PasswordPolicy: !Ref Passwords
      Tags: {team: shop, environment: dev}
  Passwords:
    Type: OC::ORG::PasswordPolicy
    Properties:
      MinimumPasswordLength: 14
      RequireSymbols: true
      RequireNumbers: true
      PasswordReusePrevention: 5
  DenyLeave:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: DenyLeave
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - {Effect: Deny, Action: 'organizations:LeaveOrganization', Resource: '*'}
  DenyRoot:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: DenyRoot
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Deny
            Action: '*'
            Resource: '*'
            Condition: {StringLike: {'aws:PrincipalArn': 'arn:aws:iam::*:root'}}
"""


# --- the scheduler, on a recording provider -------------------------------------------------


class RecordingProvider(FakeIdentityCenter):
    """Answers every verb at once and records the calls; fails the verbs it is told to."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.failing = failing
        self.lock = threading.Lock()
        self.counter = 0
        self.running = 0
        self.most_running = 0
        self.release = threading.Event()

    def _call(self, verb: str, *args: Any) -> str:
        with self.lock:
            self.calls.append((verb, args))
            self.counter += 1
            if verb in self.failing:
                raise RuntimeError(f"{verb} refused")
            return f"id-{self.counter}"

    def enable_policy_type(self, root_id: str, policy_type: str) -> None:
        self._call("enable_policy_type", root_id, policy_type)

    def create_policy(
        self,
        *,
        policy_type: str,
        name: str,
        description: str,
        content: str,
        tags: Mapping[str, str],
    ) -> str:
        return self._call("create_policy", name)

    def update_policy(self, policy_id: str, *, name: str, description: str, content: str) -> None:
        self._call("update_policy", policy_id)

    def delete_policy(self, policy_id: str) -> None:
        self._call("delete_policy", policy_id)

    def attach_policy(self, policy_id: str, target_id: str) -> None:
        self._call("attach_policy", policy_id, target_id)

    def detach_policy(self, policy_id: str, target_id: str) -> None:
        self._call("detach_policy", policy_id, target_id)

    def create_organizational_unit(self, parent_id: str, name: str, tags: Mapping[str, str]) -> str:
        return self._call("create_organizational_unit", parent_id, name)

    def rename_organizational_unit(self, ou_id: str, name: str) -> None:
        self._call("rename_organizational_unit", ou_id, name)

    def delete_organizational_unit(self, ou_id: str) -> None:
        self._call("delete_organizational_unit", ou_id)

    def create_account(
        self, *, name: str, email: str, role_name: str, tags: Mapping[str, str]
    ) -> str:
        return self._call("create_account", name)

    def move_account(
        self, account_id: str, source_parent_id: str, destination_parent_id: str
    ) -> None:
        self._call("move_account", account_id, source_parent_id, destination_parent_id)

    def close_account(self, account_id: str) -> None:
        self._call("close_account", account_id)

    def list_service_access(self) -> LiveServiceAccess:
        self._call("list_service_access")
        return LiveServiceAccess(enabled=())

    def enable_service_access(self, service_principal: str) -> None:
        self._call("enable_service_access", service_principal)

    def disable_service_access(self, service_principal: str) -> None:
        self._call("disable_service_access", service_principal)

    def register_delegated_administrator(self, account_id: str, service_principal: str) -> None:
        self._call("register_delegated_administrator", account_id, service_principal)

    def deregister_delegated_administrator(self, account_id: str, service_principal: str) -> None:
        self._call("deregister_delegated_administrator", account_id, service_principal)

    def get_alternate_contacts(self, account_id: str | None) -> dict[str, ContactDetails]:
        self._call("get_alternate_contacts", account_id)
        return {}

    def put_alternate_contact(
        self, account_id: str | None, contact_type: str, details: ContactDetails
    ) -> None:
        self._call("put_alternate_contact", account_id, contact_type)

    def delete_alternate_contact(self, account_id: str | None, contact_type: str) -> None:
        self._call("delete_alternate_contact", account_id, contact_type)

    def rename_account(self, account_id: str | None, name: str) -> None:
        self._call("rename_account", account_id, name)

    def tag_resource(self, resource_id: str, tags: Mapping[str, str]) -> None:
        self._call("tag_resource", resource_id)

    def untag_resource(self, resource_id: str, keys: list[str]) -> None:
        self._call("untag_resource", resource_id)

    def set_password_policy(
        self, account_id: str, role_name: str, settings: PasswordPolicySettings | None
    ) -> None:
        self._call("set_password_policy", account_id)

    def set_account_alias(self, account_id: str, role_name: str, alias: str | None) -> None:
        self._call("set_account_alias", account_id, alias)

    def deploy_stack(self, deployment: StackDeployment) -> StackResult:
        account_id, region = deployment.account_id, deployment.region
        stack_name = deployment.stack_name
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            # Give other workers the chance to start while this one runs.
            self.release.wait(0.05)
            self._call("deploy_stack", account_id, region, stack_name, dict(deployment.parameters))
        finally:
            with self.lock:
                self.running -= 1
        body = json.loads(deployment.template_body)
        outputs = {name: f"{name}-of-{account_id}" for name in body.get("Outputs", {})}
        return StackResult(
            stack_id=f"arn:stack/{stack_name}/{account_id}/{region}",
            status="CREATE_COMPLETE" if deployment.create else "UPDATE_COMPLETE",
            last_changed="2026-11-21T00:00:00+00:00",
            outputs=outputs,
        )

    def delete_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> None:
        self._call("delete_stack", account_id, region, stack_name)

    def describe_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> StackResult | None:
        self._call("describe_stack", account_id, region, stack_name)
        return None

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        self._call("read_export", account_id, region, name)
        return f"export-{name}"

    def put_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        body: bytes,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
        server_side_encryption: str | None = None,
    ) -> str:
        return self._call("put_s3_object", bucket, key, region)

    def delete_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> None:
        self._call("delete_s3_object", bucket, key, region)

    def ensure_template_bucket(self) -> str:
        return self._call("ensure_template_bucket")

    def get_template(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> str | None:
        return self._call("get_template", account_id, region, stack_name)

    # Verbs apply does not call: reads (a plan's) and the state's objects, which these tests
    # keep in memory. Any call of them is recorded like the others.

    def management_account_id(self) -> str:
        return self._call("management_account_id")

    def organization_identity(self) -> tuple[str, str]:
        self._call("organization_identity")
        return "o-recording", "111111111111"

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str],
        read_account_details: bool,
        read_account_tags: bool = True,
    ) -> LiveOrganization:
        raise AssertionError("apply does not read the organization")

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        self._call("list_stacks", account_id, region)
        return {}

    def head_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> str | None:
        self._call("head_s3_object", bucket, key, region)
        return None

    def ensure_bucket(self, bucket: str, region: str) -> None:
        self._call("ensure_bucket", bucket, region)

    def put_event(self, *, source: str, detail_type: str, detail: str, region: str) -> None:
        self._call("put_event", source, detail_type, detail, region)

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        self._call("get_object", bucket, key)
        return None

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        return self._call("put_object", bucket, key)

    def delete_object(self, bucket: str, key: str) -> None:
        self._call("delete_object", bucket, key)

    def create_bucket(self, bucket: str, region: str) -> None:
        self._call("create_bucket", bucket, region)

    def describe_bucket(
        self, bucket: str, region: str, *, setup: bool = True
    ) -> BucketFacts | None:
        self._call("describe_bucket", bucket, region)
        return None

    def enable_bucket_versioning(self, bucket: str, region: str) -> None:
        self._call("enable_bucket_versioning", bucket, region)

    def block_bucket_public_access(self, bucket: str, region: str) -> None:
        self._call("block_bucket_public_access", bucket, region)

    def enable_bucket_encryption(self, bucket: str, region: str) -> None:
        self._call("enable_bucket_encryption", bucket, region)

    def list_object_versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        self._call("list_object_versions", bucket, key)
        return []

    def get_object_version(self, bucket: str, key: str, version_id: str) -> bytes | None:
        self._call("get_object_version", bucket, key, version_id)
        return None

    def describe_stack_set(self, name: str) -> LiveStackSet | None:
        self._call("describe_stack_set", name)
        return None

    def create_stack_set(self, definition: StackSetDefinition) -> tuple[str, str]:
        made = self._call("create_stack_set", definition.name)
        return made, f"arn:stackset/{definition.name}:{made}"

    def update_stack_set(
        self,
        definition: StackSetDefinition,
        *,
        targets: InstanceTargets | None,
        preferences: Preferences,
    ) -> None:
        self._call("update_stack_set", definition.name, targets)

    def create_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None:
        self._call("create_stack_instances", name, targets)

    def delete_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None:
        self._call("delete_stack_instances", name, targets)

    def delete_stack_set(self, name: str) -> None:
        self._call("delete_stack_set", name)

    def check_held(self) -> None:
        pass


def _plan(*changes: Change, groups: dict[str, Group] | None = None) -> Plan:
    return Plan(
        source="organization.yml",
        management_account_id=MANAGEMENT,
        organization_id="o-test",
        inputs_digest="sha256:x",
        observed_digest="sha256:y",
        ids=IdTable(
            accounts={"A": None},
            organizational_units={"root": "r-1", "OU": None},
            policies={},
        ),
        changes=changes,
        groups=groups or {},
    )


def _change(change_id: str, kind: str, action: str, logical_id: str | None, **extra: Any) -> Change:
    """A change as a saved plan holds it, read by the plan's codec."""
    return change_from_json(
        {
            "id": change_id,
            "kind": kind,
            "action": action,
            "logicalId": logical_id,
            "physicalId": None,
            "summary": change_id,
            "details": extra.pop("details", {}),
            "after": list(extra.pop("after", ())),
            "group": extra.pop("group", None),
        }
    )


def _stack(task: str, account: str, *, after: tuple[str, ...] = (), **details: Any) -> Change:
    key = f"{task}/{account}/us-east-1"
    return _change(
        f"stack.create:{key}",
        "stack",
        "create",
        key,
        group=task,
        after=after,
        details={
            "task": task,
            "where": "tasks.yml:3:1",
            "stackName": f"stack-{task.lower()}",
            "account": account,
            "accountId": details.pop("accountId", f"{account}-id"),
            "region": "us-east-1",
            "roleName": "OrganizationAccountAccessRole",
            "template": details.pop("template", {"Resources": {}}),
            "parameters": details.pop("parameters", {}),
            "references": details.pop("references", []),
            "settings": {
                "tags": {},
                "terminationProtection": False,
                "stackPolicy": None,
                "roleArn": None,
                "disableRollback": False,
            },
            "hash": None,
            "previousHash": None,
            "previousParameters": None,
            "forceDeploy": False,
        },
    )


def test_new_ids_flow_to_later_changes_and_into_the_state() -> None:
    plan = _plan(
        _change(
            "organizational-unit.create:OU",
            "organizational-unit",
            "create",
            "OU",
            details={"name": "ou", "parent": "root", "tags": {}},
        ),
        _change(
            "account.create:A",
            "account",
            "create",
            "A",
            details={"name": "a", "email": "a@example.com", "roleName": "R", "tags": {}},
        ),
        _change(
            "account.move:A",
            "account",
            "move",
            "A",
            details={"from": None, "to": "OU"},
            after=["account.create:A", "organizational-unit.create:OU"],
        ),
    )
    provider, writer = RecordingProvider(), MemoryWriter()
    result = apply(plan, provider, writer)
    assert result.ok
    account_id = writer.state.accounts["A"]
    ou_id = writer.state.organizational_units["OU"]
    assert ("move_account", (account_id, "r-1", ou_id)) in provider.calls
    assert provider.calls[-1][0] == "move_account"


def test_a_failure_skips_only_what_depends_on_it() -> None:
    plan = _plan(
        _change(
            "account.create:A",
            "account",
            "create",
            "A",
            details={"name": "a", "email": "a@example.com", "roleName": "R", "tags": {}},
        ),
        _change(
            "alias.create:A",
            "alias",
            "create",
            "A",
            details={"roleName": "R", "before": None, "after": "a"},
            after=["account.create:A"],
        ),
        _change(
            "organizational-unit.create:OU",
            "organizational-unit",
            "create",
            "OU",
            details={"name": "ou", "parent": "root", "tags": {}},
        ),
    )
    provider, writer = RecordingProvider(failing=frozenset({"create_account"})), MemoryWriter()
    result = apply(plan, provider, writer)
    assert result.failed == {"account.create:A": "create_account refused"}
    assert result.skipped == {"alias.create:A": "waits on account.create:A, which failed"}
    assert result.done == ["organizational-unit.create:OU"]
    assert "OU" in writer.state.organizational_units
    assert "A" not in writer.state.accounts


def test_a_task_within_its_failure_tolerance_lets_dependent_tasks_run() -> None:
    failing = RecordingProvider(failing=frozenset({"deploy_stack"}))
    plan = _plan(
        _stack("Network", "A"),
        _stack("Baseline", "A", after=("task:Network",)),
        groups={"Network": Group(failure_tolerance=1), "Baseline": Group()},
    )
    result = apply(plan, failing, MemoryWriter())
    assert set(result.failed) == {
        "stack.create:Network/A/us-east-1",
        "stack.create:Baseline/A/us-east-1",
    }
    assert result.skipped == {}


def test_a_task_past_its_failure_tolerance_skips_the_tasks_after_it() -> None:
    plan = _plan(
        _stack("Network", "A"),
        _stack("Network", "B"),
        _stack("Baseline", "C", after=("task:Network",)),
        groups={"Network": Group(failure_tolerance=1), "Baseline": Group()},
    )
    result = apply(plan, RecordingProvider(failing=frozenset({"deploy_stack"})), MemoryWriter())
    assert sorted(result.failed) == [
        "stack.create:Network/A/us-east-1",
        "stack.create:Network/B/us-east-1",
    ]
    assert result.skipped == {
        "stack.create:Baseline/C/us-east-1": "waits on task Network, where 2 change(s) failed "
        "(tolerance 1)"
    }


def test_max_concurrent_bounds_a_task_and_not_the_others() -> None:
    provider = RecordingProvider()
    provider.release.set()  # nobody waits: concurrency is counted, not timed
    bounded = _plan(
        *(_stack("Network", f"A{i}") for i in range(6)),
        groups={"Network": Group(max_concurrent=1)},
    )
    assert apply(bounded, provider, MemoryWriter()).ok
    assert provider.most_running == 1


def test_a_stack_gets_new_account_ids_and_its_producers_outputs() -> None:
    producer = _stack(
        "Logs",
        "Archive",
        template={"Resources": {}, "Outputs": {"OrgcRefBucketArn": {"Value": "x"}}},
    )
    consumer = _stack(
        "Logs",
        "A",
        accountId="{{orgc:account:A}}",
        after=("account.create:A", producer.id),
        template={"Resources": {"P": {"Properties": {"Value": "{{orgc:account:A}}"}}}},
        parameters={"OrgcRefBucketArn": "{{orgc:reference:OrgcRefBucketArn}}", "Org": "o"},
        references=[
            {
                "parameter": "OrgcRefBucketArn",
                "expression": "!GetAtt Bucket.Arn",
                "producer": "Logs/Archive/us-east-1",
                "producerChange": producer.id,
                "producerStack": {
                    "stackName": "stack-logs",
                    "accountId": "Archive-id",
                    "region": "us-east-1",
                    "roleName": "OrganizationAccountAccessRole",
                },
                "output": "OrgcRefBucketArn",
                "export": None,
                "exportAccountId": None,
                "exportRegion": None,
                "from": "output OrgcRefBucketArn of stack Logs/Archive/us-east-1",
                "known": False,
            }
        ],
    )
    account = _change(
        "account.create:A",
        "account",
        "create",
        "A",
        details={"name": "a", "email": "a@example.com", "roleName": "R", "tags": {}},
    )
    provider, writer = RecordingProvider(), MemoryWriter()
    result = apply(_plan(account, producer, consumer), provider, writer)
    assert result.ok, result.failed
    account_id = writer.state.accounts["A"]
    deployed = [args for verb, args in provider.calls if verb == "deploy_stack"]
    assert (
        account_id,
        "us-east-1",
        "stack-logs",
        {"OrgcRefBucketArn": "OrgcRefBucketArn-of-Archive-id", "Org": "o"},
    ) in deployed
    records = writer.state.stack_records()
    record = records[("stack-logs", account_id, "us-east-1")]
    assert record.parameters["OrgcRefBucketArn"] == "OrgcRefBucketArn-of-Archive-id"
    assert record.hash is not None
    assert (record.task, record.account) == ("Logs", "A")
    assert records[("stack-logs", "Archive-id", "us-east-1")].outputs == {
        "OrgcRefBucketArn": "OrgcRefBucketArn-of-Archive-id"
    }


# --- end to end on the emulator -------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, aws: AwsProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with the organization file, as the working directory."""
    (tmp_path / "organization.yml").write_text(ORGANIZATION, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def orgc(emulator: Emulator, *args: str) -> int:
    return main([*args, "--endpoint-url", emulator.endpoint])


def _organizations() -> Any:
    return boto3.client("organizations", region_name="us-east-1")


def _tree() -> dict[str, Any]:
    """What the emulator holds: OU paths, account parents, attachments, tags."""
    client = _organizations()
    root_id = client.list_roots()["Roots"][0]["Id"]
    paths = {root_id: "/"}
    pending = [root_id]
    while pending:
        parent = pending.pop()
        for ou in client.list_organizational_units_for_parent(ParentId=parent)[
            "OrganizationalUnits"
        ]:
            paths[ou["Id"]] = paths[parent].rstrip("/") + "/" + ou["Name"]
            pending.append(ou["Id"])

    def policies(target: str) -> list[str]:
        found = client.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")
        return sorted(p["Name"] for p in found["Policies"])

    accounts = {}
    for account in client.list_accounts()["Accounts"]:
        parent = client.list_parents(ChildId=account["Id"])["Parents"][0]["Id"]
        tags = client.list_tags_for_resource(ResourceId=account["Id"])["Tags"]
        accounts[account["Name"]] = {
            "id": account["Id"],
            "ou": paths[parent],
            "scps": policies(account["Id"]),
            "tags": {t["Key"]: t["Value"] for t in tags},
        }
    return {
        "ous": {path: policies(ou_id) for ou_id, path in paths.items()},
        "accounts": accounts,
    }


def _password_policy(account_id: str) -> dict[str, Any]:
    iam = in_account(account_id, "iam")
    return dict(iam.get_account_password_policy()["PasswordPolicy"])


def _plan_json(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, Any]:
    capsys.readouterr()
    assert orgc(emulator, "plan", "organization.yml", "--format", "json", *extra) == 0
    plan: dict[str, Any] = json.loads(capsys.readouterr().out)
    return plan


def test_apply_replan_change_and_apply_again(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    tree = _tree()
    assert tree["ous"] == {
        "/": ["DenyLeave", "FullAWSAccess"],
        "/workloads": ["FullAWSAccess"],
        "/workloads/prod": ["DenyRoot", "FullAWSAccess"],
        "/workloads/dev": ["FullAWSAccess"],
    }
    assert tree["accounts"]["shop"]["ou"] == "/workloads/prod"
    assert tree["accounts"]["sandbox"]["ou"] == "/workloads/dev"
    assert tree["accounts"]["shop"]["tags"] == {"team": "shop", "environment": "prod"}
    assert tree["accounts"]["master"]["tags"] == {"owner": "platform"}
    for name in ("master", "shop", "sandbox"):
        policy = _password_policy(tree["accounts"][name]["id"])
        assert policy["MinimumPasswordLength"] == 14
        assert policy["RequireSymbols"] is True
        assert policy["PasswordReusePrevention"] == 5
    # The state went to S3 in the management account, versioned.
    s3 = boto3.client("s3", region_name="us-east-1")
    state = json.loads(
        s3.get_object(Bucket=f"orgc-state-{MANAGEMENT}", Key="state.json")["Body"].read()
    )
    assert set(state["organization"]["accounts"]) == {"Management", "Shop", "Sandbox"}

    assert orgc(emulator, "plan", "organization.yml", "--detailed-exitcode") == 0

    # Move an account, change a policy and attach it elsewhere, add an account.
    changed = (
        ORGANIZATION.replace("Accounts: [!Ref Shop]", "Accounts: [!Ref Shop, !Ref Sandbox]")
        .replace(
            "Accounts: [!Ref Sandbox]",
            "Accounts: [!Ref Lab]\n      ServiceControlPolicies: !Ref DenyRoot",
        )
        .replace(
            "ServiceControlPolicies: !Ref DenyRoot\n  DevOU",
            "ServiceControlPolicies: !Ref DenyLeave\n  DevOU",
        )
        .replace(
            "Action: 'organizations:LeaveOrganization'",
            "Action: ['organizations:LeaveOrganization', 'account:CloseAccount']",
        )
        + """\
  Lab:
    Type: OC::ORG::Account
    Properties:
      AccountName: lab
      RootEmail: lab@example.com
"""
    )
    Path("organization.yml").write_text(changed, encoding="utf-8")
    plan = _plan_json(emulator, capsys)
    assert sorted((c["action"], c["id"]) for c in plan["changes"]) == [
        ("attach", "attachment.attach:DenyLeave:organizational-unit:ProdOU"),
        ("attach", "attachment.attach:DenyRoot:organizational-unit:DevOU"),
        ("create", "account.create:Lab"),
        ("detach", f"attachment.detach:{_policy_id('DenyRoot')}:organizational-unit:ProdOU"),
        ("move", "account.move:Lab"),
        ("move", "account.move:Sandbox"),
        ("update", "policy.update:DenyLeave"),
    ]
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    tree = _tree()
    assert tree["ous"]["/workloads/prod"] == ["DenyLeave", "FullAWSAccess"]
    assert tree["ous"]["/workloads/dev"] == ["DenyRoot", "FullAWSAccess"]
    assert tree["accounts"]["sandbox"]["ou"] == "/workloads/prod"
    assert tree["accounts"]["lab"]["ou"] == "/workloads/dev"
    content = _organizations().describe_policy(PolicyId=_policy_id("DenyLeave"))["Policy"][
        "Content"
    ]
    assert json.loads(content)["Statement"][0]["Action"] == [
        "organizations:LeaveOrganization",
        "account:CloseAccount",
    ]
    assert orgc(emulator, "plan", "organization.yml", "--detailed-exitcode") == 0


def _policy_id(name: str) -> str:
    for policy in _organizations().list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]:
        if policy["Name"] == name:
            return str(policy["Id"])
    raise AssertionError(f"no policy {name}")


def test_changes_made_by_hand_show_up_and_are_undone(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    client = _organizations()
    tree = _tree()
    prod = next(
        ou["Id"]
        for ou in client.list_organizational_units_for_parent(
            ParentId=client.list_organizational_units_for_parent(
                ParentId=client.list_roots()["Roots"][0]["Id"]
            )["OrganizationalUnits"][0]["Id"]
        )["OrganizationalUnits"]
        if ou["Name"] == "prod"
    )
    client.detach_policy(PolicyId=_policy_id("DenyRoot"), TargetId=prod)
    client.tag_resource(
        ResourceId=tree["accounts"]["shop"]["id"], Tags=[{"Key": "team", "Value": "someone-else"}]
    )
    # The files did not change: a plain plan compares the guardrails (the detached SCP) and
    # takes what costs a call per account (the tags) from the state, and says so.
    plain = _plan_json(emulator, capsys)
    assert [c["id"] for c in plain["changes"]] == [
        "attachment.attach:DenyRoot:organizational-unit:ProdOU"
    ]
    assert plain["notCompared"] == [
        "password policies and aliases of 3 accounts",
        "tags of 3 accounts",
    ]
    plan = _plan_json(emulator, capsys, "--refresh")
    assert sorted(c["id"] for c in plan["changes"]) == [
        "attachment.attach:DenyRoot:organizational-unit:ProdOU",
        "tags.update:account:Shop",
    ]
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve", "--refresh") == 0
    assert _tree() == tree


def test_saved_plan_applies_exactly_and_refuses_when_stale(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "plan", "organization.yml", "--out", "plan.json") == 0
    assert orgc(emulator, "apply", "plan.json", "--auto-approve") == 0
    assert _tree()["accounts"]["shop"]["ou"] == "/workloads/prod"

    Path("organization.yml").write_text(
        ORGANIZATION.replace("team: shop, environment: prod", "team: shop, environment: live"),
        encoding="utf-8",
    )
    assert orgc(emulator, "plan", "organization.yml", "--out", "plan.json") == 0
    # Someone changes the organization between plan and apply.
    client = _organizations()
    client.tag_resource(
        ResourceId=_tree()["accounts"]["sandbox"]["id"], Tags=[{"Key": "by", "Value": "hand"}]
    )
    capsys.readouterr()
    assert orgc(emulator, "apply", "plan.json", "--auto-approve") == 1
    assert "error[E604]" in capsys.readouterr().err
    assert _tree()["accounts"]["shop"]["tags"]["environment"] == "prod"

    assert orgc(emulator, "plan", "organization.yml", "--out", "plan.json") == 0
    Path("organization.yml").write_text(ORGANIZATION, encoding="utf-8")
    capsys.readouterr()
    assert orgc(emulator, "apply", "plan.json", "--auto-approve") == 1
    assert "error[E605]" in capsys.readouterr().err


def test_a_plan_saved_by_an_older_orgc_is_refused(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert orgc(emulator, "plan", "organization.yml", "--out", "plan.json") == 0
    saved = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    Path("plan.json").write_text(json.dumps({**saved, "version": 1}), encoding="utf-8")
    capsys.readouterr()
    assert orgc(emulator, "apply", "plan.json", "--auto-approve") == 1
    assert capsys.readouterr().err == (
        "orgc: error[E606]: plan.json is a plan of format version 1, and this orgc reads "
        "version 2 only; run orgc plan again\n"
    )
    assert "shop" not in _tree()["accounts"]


def test_reparenting_an_ou_survives_an_interruption(
    project: Path, emulator: Emulator, aws: AwsProvider, tmp_path: Path
) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    assert (
        orgc(emulator, "apply", "organization.yml", "--auto-approve", "--state", str(store.path))
        == 0
    )
    # prod moves from workloads to the root: AWS has no move-OU call.
    Path("organization.yml").write_text(
        ORGANIZATION.replace(
            "OrganizationalUnits: [!Ref ProdOU, !Ref DevOU]", "OrganizationalUnits: [!Ref DevOU]"
        ),
        encoding="utf-8",
    )
    inputs = compile_organization(Path("organization.yml"))

    def connection_lost(**_: Any) -> None:
        raise ConnectionError("connection lost")

    # The run dies at the first account move: the new OU exists, the old one still holds all.
    aws.register_event_hook("before-call.organizations.MoveAccount", connection_lost)
    with store.lock("test") as locked:
        plan = make_plan(inputs, aws, locked.state)
        assert "organizational-unit.replace:ProdOU" in {c.id for c in plan.changes}
        result = apply(plan, aws, locked, max_workers=1)
    assert result.failed == {"account.move:Shop": "connection lost"}
    assert not [c for c in result.done if c.startswith("organizational-unit.delete:")]
    state = store.read()
    assert len(state.retired_organizational_units) == 1
    tree = _tree()
    assert "/prod" in tree["ous"]
    assert "/workloads/prod" in tree["ous"]  # not yet emptied
    assert tree["accounts"]["shop"]["ou"] == "/workloads/prod"

    # A new run picks up where the last one stopped.
    assert (
        orgc(emulator, "apply", "organization.yml", "--auto-approve", "--state", str(store.path))
        == 0
    )
    tree = _tree()
    assert "/workloads/prod" not in tree["ous"]
    assert tree["ous"]["/prod"] == ["DenyRoot", "FullAWSAccess"]
    assert tree["accounts"]["shop"]["ou"] == "/prod"
    assert store.read().retired_organizational_units == ()
    assert (
        orgc(
            emulator, "plan", "organization.yml", "--detailed-exitcode", "--state", str(store.path)
        )
        == 0
    )


def test_a_held_lock_stops_a_second_apply(
    project: Path, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    with store.lock("someone else"):
        capsys.readouterr()
        assert (
            orgc(
                emulator, "apply", "organization.yml", "--auto-approve", "--state", str(store.path)
            )
            == 5  # locked by another run: its own exit code, not "apply failed"
        )
    assert "error[E702]" in capsys.readouterr().err
    assert "shop" not in _tree()["accounts"]


def test_invalid_files_make_no_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text(
        ORGANIZATION.replace("AccountName: shop", "AcountName: shop"), encoding="utf-8"
    )
    # Nothing listens on port 9: any AWS call would fail with a connection error, not E202.
    code = main(
        ["apply", "organization.yml", "--auto-approve", "--endpoint-url", "http://127.0.0.1:9"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "error[E202]" in err
    assert "E701" not in err


def test_a_failed_change_is_reported_with_what_is_left(
    project: Path,
    emulator: Emulator,
    aws: AwsProvider,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def limit_reached(parsed: dict[str, Any], **_: Any) -> None:
        status = parsed["CreateAccountStatus"]
        if status.get("AccountName") == "shop":
            status.update(State="FAILED", FailureReason="ACCOUNT_LIMIT_EXCEEDED")
            status.pop("AccountId", None)

    # AWS answers that it could not create the shop account; the run goes on with what does
    # not need it. (EMAIL_ALREADY_EXISTS would not do: for an email that an account of the
    # organization has, that account is the one a lost answer made, and the create succeeds.)
    aws.register_event_hook("after-call.organizations.CreateAccount", limit_reached)
    monkeypatch.setattr(cli, "_provider", lambda args: aws)
    state = str(project / "state.json")
    capsys.readouterr()
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve", "--state", state) == 3
    failures = [line for line in capsys.readouterr().err.splitlines() if "error[" in line]
    assert failures[0] == (
        "orgc: error[E701]: account.create:Shop failed: Organizations.CreateAccount: "
        "CreateAccountFailed: ACCOUNT_LIMIT_EXCEEDED"
    )
    assert len(failures) == 2
    assert failures[1].startswith("orgc: error[E708]: ")
    assert failures[1].endswith(
        " changes made, 1 failed, 3 skipped; run orgc plan to see what is left"
    )
    tree = _tree()
    assert tree["accounts"]["sandbox"]["ou"] == "/workloads/dev"
    # The emulator did make the account (only its answer was rewritten); orgc took AWS's
    # FAILED for the truth and did not go on to move it into its OU.
    assert tree["accounts"]["shop"]["ou"] == "/"
