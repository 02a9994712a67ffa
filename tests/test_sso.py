"""IAM Identity Center as code (`Orgc::SSO::PermissionSet`, `Orgc::SSO::Assignment`): validated
with exact diagnostics, planned per account from the bindings (goldens), applied and re-planned
empty; on the in-memory fake (which refuses what AWS refuses) and on the emulator, where what
it holds is read back with boto3 and the organization is then changed: an account moved between
OUs, a group taken out of an assignment, a permission set's policy changed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.fake_provider import MANAGEMENT_ACCOUNT_ID, FakeAws
from support.goldens import Golden

from orgc.aws import AwsProvider
from orgc.diagnostics import StageError
from orgc.pipeline import compile_organization, make_plan, plan_and_apply, validate
from orgc.plan import Plan, PlanError
from orgc.plan.codec import change_json, dumps, loads
from orgc.plan.specs import PermissionSetChange
from orgc.provider import Provider
from orgc.show import render_markdown, render_text
from orgc.state import AssignmentRecord, LocalStateStore, State

GOLDEN = Path(__file__).parent / "scenarios" / "sso"

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {{AccountName: master, AccountId: '{management}'}}
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {{OrganizationalUnitName: prod, Accounts: {prod}}}
  DevOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {{OrganizationalUnitName: dev, Accounts: {dev}}}
  Shop:
    Type: OC::ORG::Account
    Properties: {{AccountName: shop, RootEmail: shop@example.com}}
  Lab:
    Type: OC::ORG::Account
    Properties: {{AccountName: lab, RootEmail: lab@example.com, Tags: {{sandbox: 'yes'}}}}
  ReadOnly:
    Type: Orgc::SSO::PermissionSet
    Properties:
      Name: ReadOnly
      Description: Read everything but secrets
      SessionDuration: PT8H
      RelayState: https://console.aws.amazon.com/cloudwatch/home
      ManagedPolicies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
      CustomerManagedPolicies: [team-read, {{Name: audit-read, Path: /security/}}]
      InlinePolicy: !ReadFile guard.json
      PermissionsBoundary: {{ManagedPolicyArn: arn:aws:iam::aws:policy/PowerUserAccess}}
      Tags: {{owner: platform}}
  Admin:
    Type: Orgc::SSO::PermissionSet
    Properties:
      Name: Admin
      SessionDuration: PT1H30M
      ManagedPolicies: [arn:aws:iam::aws:policy/AdministratorAccess]
  ReadProduction:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref ReadOnly
      Groups: [{readers}]
      OrganizationBinding: {{OrganizationalUnit: !Ref ProdOU}}
  AdministerSandboxes:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Admin
      Groups: Developers
      Users: alice
      OrganizationBinding: {{AccountsWithTag: sandbox}}
  PlatformEverywhere:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Admin
      Groups: Platform
      OrganizationBinding: {{Account: '*', IncludeMasterAccount: true, ExcludeAccount: !Ref Lab}}
"""

GUARD = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
}

GROUPS = ("Platform", "Developers")


def write(
    tmp_path: Path,
    *,
    prod: str = "[!Ref Shop]",
    dev: str = "[!Ref Lab]",
    readers: str = "Platform, Developers",
    guard_action: str = "secretsmanager:GetSecretValue",
) -> Path:
    guard = json.loads(json.dumps(GUARD))
    guard["Statement"][0]["Action"] = guard_action
    (tmp_path / "guard.json").write_text(json.dumps(guard, indent=2), encoding="utf-8")
    path = tmp_path / "organization.yml"
    path.write_text(
        ORGANIZATION.format(management=MANAGEMENT_ACCOUNT_ID, prod=prod, dev=dev, readers=readers),
        encoding="utf-8",
    )
    return path


def apply_all(path: Path, provider: Provider, store: LocalStateStore) -> Plan:
    inputs = compile_organization(path, root=path.parent)
    plan, result = plan_and_apply(inputs, provider, store, confirm=lambda _: True)
    assert result is not None
    assert result.ok, (result.failed, result.skipped)
    return plan


def replan(path: Path, provider: Provider, state: State, *, refresh: bool = True) -> Plan:
    return make_plan(compile_organization(path, root=path.parent), provider, state, refresh=refresh)


def sso_changes(plan: Plan) -> list[str]:
    return sorted(c.id for c in plan.changes if c.kind in ("permission-set", "account-assignment"))


def fake_with_groups() -> FakeAws:
    fake = FakeAws()
    for group in GROUPS:
        fake.add_group(group)
    fake.add_user("alice")
    return fake


@pytest.fixture
def store(tmp_path: Path) -> LocalStateStore:
    return LocalStateStore(tmp_path / "state" / "state.json")


# --- validate -------------------------------------------------------------------------------

MISTAKES = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: master, AccountId: '111111111111', Tags: {team: platform}}
  Prod:
    Type: OC::ORG::OrganizationalUnit
    Properties: {OrganizationalUnitName: prod, Accounts: [!Ref Shop]}
  Shop:
    Type: OC::ORG::Account
    Properties: {AccountName: shop, RootEmail: shop@example.com, Tags: {team: shop}}
  Long:
    Type: Orgc::SSO::PermissionSet
    Properties:
      Name: a-name-that-is-longer-than-thirty-two
      SessionDuration: PT13H
      ManagedPolicies: [arn:aws:iam::123456789012:policy/Mine]
  Same:
    Type: Orgc::SSO::PermissionSet
    Properties: {Name: Viewer, SessionDuration: one hour}
  SameAgain:
    Type: Orgc::SSO::PermissionSet
    Properties: {Name: VIEWER}
  BadInline:
    Type: Orgc::SSO::PermissionSet
    Properties: {Name: Broken, InlinePolicy: '{"Version": '}
  HugeInline:
    Type: Orgc::SSO::PermissionSet
    Properties: {Name: Huge, InlinePolicy: !ReadFile huge.json}
  Boundary:
    Type: Orgc::SSO::PermissionSet
    Properties: {Name: Bounded, PermissionsBoundary: {ManagedPolicyArn: not-an-arn}}
  Viewer:
    Type: Orgc::SSO::PermissionSet
    Properties: {Name: Fine}
  Twice:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewer
      Groups: [Ops, Ops]
      OrganizationBinding: {OrganizationalUnit: !Ref Prod}
  Overlap:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewer
      Groups: Ops
      OrganizationBinding: {Account: !Ref Shop}
  ByTag:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewer
      Users: bob
      OrganizationBinding: {AccountsWithTag: team}
  NoOne:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewer
      OrganizationBinding: {Account: !Ref Shop}
  WithRegion:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewer
      Users: bob
      OrganizationBinding: {Account: !Ref Shop, Region: eu-west-1}
  NotASet:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Shop
      Users: bob
      OrganizationBinding: {Account: !Ref Shop}
  Misspelt:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewr
      Users: bob
      OrganizationBinding: {Account: !Ref Shop}
  Nowhere:
    Type: Orgc::SSO::Assignment
    Properties:
      PermissionSet: !Ref Viewer
      Users: carol
      OrganizationBinding: {ExcludeAccount: !Ref Shop}
"""


def test_validate_reports_what_aws_would_refuse_at_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = Path("organization.yml")
    path.write_text(MISTAKES, encoding="utf-8")
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": f"S{i}", "Effect": "Deny", "Action": f"service{i}:*", "Resource": "*"}
            for i in range(600)
        ],
    }
    (tmp_path / "huge.json").write_text(json.dumps(big), encoding="utf-8")
    size = len(json.dumps(big, separators=(",", ":")))
    assert [str(d) for d in validate(path, root=tmp_path)] == [
        "organization.yml:15:13: error[E380]: permission set name "
        "'a-name-that-is-longer-than-thirty-two' is not one AWS takes: 1 to 32 letters, digits "
        "and +=,.@_-",
        "organization.yml:16:24: error[E382]: session duration 'PT13H' is not an ISO-8601 "
        "duration from PT1H to PT12H; write e.g. PT4H or PT1H30M",
        "organization.yml:17:25: error[E388]: arn:aws:iam::123456789012:policy/Mine is not the "
        "ARN of an AWS managed policy (arn:aws:iam::aws:policy/NAME); a policy of your own goes "
        "under CustomerManagedPolicies by name",
        "organization.yml:20:49: error[E382]: session duration 'one hour' is not an ISO-8601 "
        "duration from PT1H to PT12H; write e.g. PT4H or PT1H30M",
        "organization.yml:23:24: error[E381]: permission set name VIEWER is taken by Same "
        "already (AWS compares names without case); give each permission set its own name",
        "organization.yml:26:46: error[E383]: the inline policy is not JSON (Expecting value at "
        "line 1); give a mapping, or !ReadFile of a JSON policy document",
        f"organization.yml:29:44: error[E383]: the inline policy is {size:,} characters "
        "minified; AWS takes at most 32,768 (orgc/data/limits.json): move statements into a "
        "customer managed policy",
        "organization.yml:32:73: error[E388]: not-an-arn is not the ARN of an AWS managed "
        "policy; a boundary of your own is a CustomerManagedPolicyReference",
        "organization.yml:40:21: error[E385]: group Ops is named twice in this assignment; name "
        "it once",
        "organization.yml:46:15: error[E385]: group Ops has Fine in shop through Twice already; "
        "narrow one of the two bindings",
        "organization.yml:53:7: warning[W381]: this binding reaches the management account "
        "(Management) through AccountsWithTag; access there reaches the whole organization, so "
        "it is left out: add IncludeMasterAccount: true to give it there, or ExcludeAccount: "
        "!Ref Management to say it is meant",
        "organization.yml:56:5: error[E384]: an assignment gives its permission set to someone: "
        "add Groups (group names) or Users (user names)",
        "organization.yml:64:49: error[E389]: an assignment is made per account, in no region: "
        "remove Region from its OrganizationBinding",
        "organization.yml:68:22: error[E311]: !Ref Shop is of type OC::ORG::Account, but "
        "PermissionSet takes Orgc::SSO::PermissionSet",
        "organization.yml:74:22: error[E301]: !Ref Viewr names no resource in the organization "
        "(did you mean Viewer?)",
        "organization.yml:82:7: warning[W380]: assignment Nowhere selects no account, so it "
        "gives no access; check its OrganizationBinding",
    ]


# --- plan and apply, in memory --------------------------------------------------------------


def test_the_plan_expands_assignments_per_account_and_says_who_gains_access_where(
    tmp_path: Path, store: LocalStateStore, golden: Golden, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = fake_with_groups()
    path = write(Path("."))
    plan = replan(path, fake, store.read())
    golden.text(GOLDEN / "create.golden.txt", render_text(plan))
    document = json.loads(dumps(plan))
    assert document["access"]["byAccount"]["lab (known after apply)"] == {
        "gain": [
            {"principal": "group Developers", "permissionSet": "Admin"},
            {"principal": "user alice", "permissionSet": "Admin"},
        ],
        "lose": [],
    }
    assert document["access"]["byPermissionSet"]["Admin"] == {
        "gain": [
            {"principal": "group Developers", "accounts": ["lab (known after apply)"]},
            {
                "principal": "group Platform",
                "accounts": ["master (123456789012)", "shop (known after apply)"],
            },
            {"principal": "user alice", "accounts": ["lab (known after apply)"]},
        ],
        "lose": [],
        "permissionsChange": False,
    }
    # The saved plan reads back change for change (the access section is derived, not read).
    assert [change_json(c) for c in loads(dumps(plan)).changes] == [
        change_json(c) for c in plan.changes
    ]
    markdown = render_markdown(plan)
    assert "**Who gains / loses access**" in markdown
    assert "| lab (known after apply) | group Developers: Admin<br>user alice: Admin |  |" in (
        markdown
    )


def test_apply_records_what_it_made_and_a_changed_organization_plans_exactly_the_access_changes(
    tmp_path: Path, store: LocalStateStore, golden: Golden, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = fake_with_groups()
    path = write(Path("."))
    apply_all(path, fake, store)
    state = store.read()
    assert sorted(state.permission_sets) == ["Admin", "ReadOnly"]
    assert len(state.assignments) == 6  # 2 groups in shop; Developers, alice in lab; Platform x2
    assert not replan(path, fake, state).has_changes

    write(tmp_path, prod="[!Ref Shop, !Ref Lab]", dev="[]", readers="Platform",
          guard_action="secretsmanager:*")  # fmt: skip
    plan = replan(path, fake, store.read())
    golden.text(GOLDEN / "change.golden.txt", render_text(plan))
    assert sso_changes(plan) == [
        "account-assignment.create:ReadOnly/group:Platform/Lab",
        "account-assignment.delete:ReadOnly/group:Developers/" + store.read().accounts["Shop"],
        "permission-set.update:ReadOnly",
    ]
    apply_all(path, fake, store)
    assert fake.identity_center.provisioned == [store.read().permission_sets["ReadOnly"]]
    assert not replan(path, fake, store.read()).has_changes


def test_a_permission_set_removed_from_the_files_loses_its_assignments_first(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = fake_with_groups()
    path = write(tmp_path)
    apply_all(path, fake, store)
    text = path.read_text(encoding="utf-8")
    # Admin and the two assignments of it leave the files.
    admin, reads = text.index("  Admin:\n"), text.index("  ReadProduction:\n")
    path.write_text(
        text[:admin] + text[reads : text.index("  AdministerSandboxes:\n")], encoding="utf-8"
    )
    plan = replan(path, fake, store.read())
    delete = next(c for c in plan.changes if c.id == "permission-set.delete:Admin")
    assert len(delete.after) == 4  # Platform in master and shop, Developers and alice in lab
    assert all(a.startswith("account-assignment.delete:Admin/") for a in delete.after)
    shown = render_text(plan)
    assert (
        "DELETES: 4 account-assignment(s) (Admin/group Developers/lab, Admin/group Platform/shop, "
        "Admin/group Platform/master, Admin/user alice/lab); 1 permission-set(s) (Admin).\n"
    ) in shown
    apply_all(path, fake, store)
    state = store.read()
    assert sorted(state.permission_sets) == ["ReadOnly"]
    assert {r.permission_set for r in state.assignments} == {"ReadOnly"}


def test_a_group_the_identity_store_lacks_is_a_plan_error_naming_it(
    tmp_path: Path, store: LocalStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = FakeAws()
    fake.add_group("Platform")
    fake.add_user("alice")
    with pytest.raises(PlanError) as raised:
        replan(write(Path(".")), fake, store.read())
    assert [str(d) for d in raised.value.diagnostics] == [
        "organization.yml:46:15: error[E612]: the identity store d-0000000000 has no group with "
        "the display name Developers; create it in your identity provider or fix the name",
    ]


def test_without_an_identity_center_instance_the_plan_says_so(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = fake_with_groups()
    fake.identity_center.instance = None
    with pytest.raises(PlanError) as raised:
        replan(write(tmp_path), fake, store.read())
    assert [d.code for d in raised.value.diagnostics] == ["E613"]


def test_a_permission_set_of_the_same_name_is_adopted_and_a_rename_refused(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = fake_with_groups()
    path = write(tmp_path)
    plan = replan(path, fake, store.read())
    spec = next(c.spec for c in plan.changes if c.id == "permission-set.create:Admin")
    assert isinstance(spec, PermissionSetChange)
    settings = spec.after
    assert settings is not None
    arn = fake.create_permission_set("arn:aws:sso:::instance/ssoins-0000000000000000", settings)
    plan = replan(path, fake, store.read())
    assert [(w.code, w.message) for w in plan.warnings if w.code == "W612"] == [
        ("W612", f"permission set Admin ({arn}) is not in orgc's state; orgc adopts it for Admin")
    ]
    assert "permission-set.adopt:Admin" in sso_changes(plan)
    apply_all(path, fake, store)
    assert store.read().permission_sets["Admin"] == arn
    path.write_text(path.read_text(encoding="utf-8").replace("Name: Admin", "Name: Owner"))
    with pytest.raises(PlanError) as raised:
        replan(path, fake, store.read())
    assert [d.code for d in raised.value.diagnostics] == ["E614"]


def test_the_state_keeps_permission_sets_and_assignments(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    record = AssignmentRecord(
        permission_set_arn="arn:aws:sso:::permissionSet/ssoins-1/ps-1",
        principal_type="GROUP",
        principal_id="g-1",
        account_id="111111111111",
        permission_set="ReadOnly",
        principal="Platform",
    )
    with store.lock("test") as locked:
        locked.write(
            State(permission_sets={"ReadOnly": record.permission_set_arn}, assignments=(record,))
        )
    again = store.read()
    assert again.permission_sets == {"ReadOnly": record.permission_set_arn}
    assert again.assignments == (record,)
    assert b"identityCenter" not in State().to_json()


# --- on the emulator ------------------------------------------------------------------------


def _emulated_groups() -> dict[str, str]:
    sso = boto3.client("sso-admin", region_name="us-east-1")
    store_id = sso.list_instances()["Instances"][0]["IdentityStoreId"]
    identity = boto3.client("identitystore", region_name="us-east-1")
    found = {
        name: identity.create_group(IdentityStoreId=store_id, DisplayName=name)["GroupId"]
        for name in GROUPS
    }
    found["alice"] = identity.create_user(
        IdentityStoreId=store_id,
        UserName="alice",
        DisplayName="Alice",
        Name={"GivenName": "Alice", "FamilyName": "Doe"},
    )["UserId"]
    return found


def _held(instance: str) -> dict[str, Any]:
    """What the emulator holds, read with boto3: permission sets by name, with their policies,
    and the assignments as (set name, principal id, account id)."""
    sso = boto3.client("sso-admin", region_name="us-east-1")
    org = boto3.client("organizations", region_name="us-east-1")
    sets: dict[str, Any] = {}
    for arn in sso.list_permission_sets(InstanceArn=instance)["PermissionSets"]:
        where = {"InstanceArn": instance, "PermissionSetArn": arn}
        described = sso.describe_permission_set(**where)["PermissionSet"]
        sets[described["Name"]] = {
            "arn": arn,
            "session": described["SessionDuration"],
            "managed": [
                p["Arn"]
                for p in sso.list_managed_policies_in_permission_set(**where)[
                    "AttachedManagedPolicies"
                ]
            ],
            "customer": sorted(
                p["Path"] + p["Name"]
                for p in sso.list_customer_managed_policy_references_in_permission_set(**where)[
                    "CustomerManagedPolicyReferences"
                ]
            ),
            "inline": sso.get_inline_policy_for_permission_set(**where)["InlinePolicy"],
            "tags": sso.list_tags_for_resource(InstanceArn=instance, ResourceArn=arn)["Tags"],
        }
    accounts = {a["Id"]: a["Name"] for a in org.list_accounts()["Accounts"]}
    assignments = sorted(
        (name, a["PrincipalId"], accounts[a["AccountId"]])
        for name, held in sets.items()
        for account_id in accounts
        for a in sso.list_account_assignments(
            InstanceArn=instance, AccountId=account_id, PermissionSetArn=held["arn"]
        )["AccountAssignments"]
    )
    return {"sets": sets, "assignments": assignments}


def test_on_the_emulator_the_organization_gets_its_access_and_then_exactly_the_changes(
    tmp_path: Path, aws: AwsProvider, sleeps: list[float]
) -> None:
    ids = _emulated_groups()
    instance = boto3.client("sso-admin", region_name="us-east-1").list_instances()["Instances"][0]
    store = LocalStateStore(tmp_path / "state" / "state.json")
    path = write(tmp_path)
    apply_all(path, aws, store)
    held = _held(instance["InstanceArn"])
    read_only = held["sets"]["ReadOnly"]
    assert read_only["session"] == "PT8H"
    assert read_only["managed"] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert read_only["customer"] == ["/security/audit-read", "/team-read"]
    assert json.loads(read_only["inline"]) == GUARD
    assert read_only["tags"] == [{"Key": "owner", "Value": "platform"}]
    boundary = boto3.client("sso-admin", region_name="us-east-1")
    assert boundary.get_permissions_boundary_for_permission_set(
        InstanceArn=instance["InstanceArn"], PermissionSetArn=read_only["arn"]
    )["PermissionsBoundary"] == {"ManagedPolicyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}
    assert held["sets"]["Admin"]["session"] == "PT1H30M"
    platform, developers, alice = ids["Platform"], ids["Developers"], ids["alice"]
    assert held["assignments"] == sorted(
        [
            ("Admin", developers, "lab"),
            ("Admin", alice, "lab"),
            ("Admin", platform, "master"),
            ("Admin", platform, "shop"),
            ("ReadOnly", developers, "shop"),
            ("ReadOnly", platform, "shop"),
        ]
    )
    assert not replan(path, aws, store.read()).has_changes
    assert sleeps  # the assignments were IN_PROGRESS first, and polled
    sso = boto3.client("sso-admin", region_name="us-east-1")
    org = boto3.client("organizations", region_name="us-east-1")
    names = {a["Id"]: a["Name"] for a in org.list_accounts()["Accounts"]}
    provisioned = sso.list_accounts_for_provisioned_permission_set(
        InstanceArn=instance["InstanceArn"], PermissionSetArn=held["sets"]["Admin"]["arn"]
    )["AccountIds"]
    assert sorted(names[a] for a in provisioned) == ["lab", "master", "shop"]

    # Lab moves from dev to prod, Developers no longer read production, and the guard of
    # ReadOnly denies every Secrets Manager action.
    write(tmp_path, prod="[!Ref Shop, !Ref Lab]", dev="[]", readers="Platform",
          guard_action="secretsmanager:*")  # fmt: skip
    plan = replan(path, aws, store.read())
    shop = store.read().accounts["Shop"]
    assert sso_changes(plan) == [
        "account-assignment.create:ReadOnly/group:Platform/Lab",
        f"account-assignment.delete:ReadOnly/group:Developers/{shop}",
        "permission-set.update:ReadOnly",
    ]
    shown = render_text(plan)
    assert "      ~ what it allows changes for everyone who has it, in every account\n" in shown
    assert "      - group Developers: ReadOnly\n" in shown
    apply_all(path, aws, store)
    held = _held(instance["InstanceArn"])
    assert json.loads(held["sets"]["ReadOnly"]["inline"])["Statement"][0]["Action"] == (
        "secretsmanager:*"
    )
    assert held["assignments"] == sorted(
        [
            ("Admin", developers, "lab"),
            ("Admin", alice, "lab"),
            ("Admin", platform, "master"),
            ("Admin", platform, "shop"),
            ("ReadOnly", platform, "lab"),
            ("ReadOnly", platform, "shop"),
        ]
    )
    assert not replan(path, aws, store.read()).has_changes
    assert not replan(path, aws, store.read(), refresh=False).has_changes


def test_the_emulator_refuses_what_aws_refuses(aws: AwsProvider) -> None:
    sso = boto3.client("sso-admin", region_name="us-east-1")
    instance = sso.list_instances()["Instances"][0]["InstanceArn"]
    arn = sso.create_permission_set(InstanceArn=instance, Name="Viewer")["PermissionSet"][
        "PermissionSetArn"
    ]
    with pytest.raises(sso.exceptions.ConflictException):
        sso.create_permission_set(InstanceArn=instance, Name="viewer")
    created = sso.create_account_assignment(
        InstanceArn=instance,
        TargetId=MANAGEMENT_ACCOUNT_ID,
        TargetType="AWS_ACCOUNT",
        PermissionSetArn=arn,
        PrincipalType="GROUP",
        PrincipalId="00000000-0000-0000-0000-000000000000",
    )["AccountAssignmentCreationStatus"]
    assert created["Status"] == "IN_PROGRESS"
    status = sso.describe_account_assignment_creation_status(
        InstanceArn=instance, AccountAssignmentCreationRequestId=created["RequestId"]
    )["AccountAssignmentCreationStatus"]
    assert status["Status"] == "FAILED"
    assert "not in the identity store" in status["FailureReason"]
    assert (
        sso.list_account_assignments(
            InstanceArn=instance, AccountId=MANAGEMENT_ACCOUNT_ID, PermissionSetArn=arn
        )["AccountAssignments"]
        == []
    )
    provisioning = sso.provision_permission_set(
        InstanceArn=instance, PermissionSetArn=arn, TargetType="ALL_PROVISIONED_ACCOUNTS"
    )["PermissionSetProvisioningStatus"]
    assert (
        sso.describe_permission_set_provisioning_status(
            InstanceArn=instance, ProvisionPermissionSetRequestId=provisioning["RequestId"]
        )["PermissionSetProvisioningStatus"]["Status"]
        == "SUCCEEDED"
    )


def test_a_failed_assignment_fails_its_change_with_aws_s_reason(
    tmp_path: Path, aws: AwsProvider
) -> None:
    ids = _emulated_groups()
    store = LocalStateStore(tmp_path / "state" / "state.json")
    path = write(tmp_path)
    inputs = compile_organization(path, root=tmp_path)
    identity = boto3.client("identitystore", region_name="us-east-1")
    store_id = boto3.client("sso-admin", region_name="us-east-1").list_instances()["Instances"][0][
        "IdentityStoreId"
    ]

    def confirm(plan: Plan) -> bool:
        # Between plan and apply, the identity provider removes Developers.
        identity.delete_group(IdentityStoreId=store_id, GroupId=ids["Developers"])
        return True

    _, result = plan_and_apply(inputs, aws, store, confirm=confirm)
    assert result is not None
    assert sorted(result.failed) == [
        "account-assignment.create:Admin/group:Developers/Lab",
        "account-assignment.create:ReadOnly/group:Developers/Shop",
    ]
    assert all("not in the identity store" in why for why in result.failed.values())
    assert {r.principal for r in store.read().assignments} == {"Platform", "alice"}
    with pytest.raises(StageError):
        replan(path, aws, store.read())


def test_a_principal_given_by_its_identity_store_id_is_taken_as_it_is(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = fake_with_groups()
    developers = fake.identity_center.groups["Developers"]
    path = write(tmp_path, readers=f"Platform, '{developers}'")
    plan = replan(path, fake, store.read())
    assert "account-assignment.create:ReadOnly/group:" + developers + "/Shop" in sso_changes(plan)
    apply_all(path, fake, store)
    assert {r.principal for r in store.read().assignments if r.principal_id == developers} == {
        "Developers",
        developers,
    }


def test_on_the_emulator_orgc_stands_in_for_the_identity_provider_only_where_asked(
    aws: AwsProvider,
) -> None:
    from orgc.emulator_sso import stand_in_for_identity_provider

    existing = _emulated_groups()
    created = stand_in_for_identity_provider(
        [
            ("GROUP", "Platform"),
            ("GROUP", "Auditors"),
            ("USER", "bob"),
            ("GROUP", "00000000-0000-4000-8000-000000000001"),
        ],
        "us-east-1",
    )
    assert created == ["group Auditors", "user bob"]
    assert (
        aws.find_principal(
            boto3.client("sso-admin", region_name="us-east-1").list_instances()["Instances"][0][
                "IdentityStoreId"
            ],
            "GROUP",
            "Platform",
        )
        == existing["Platform"]
    )


def test_access_changed_by_hand_is_put_back_and_access_orgc_did_not_give_is_left_alone(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = fake_with_groups()
    path = write(tmp_path)
    apply_all(path, fake, store)
    state = store.read()
    read_only = state.permission_sets["ReadOnly"]
    shop = state.accounts["Shop"]
    held = fake.identity_center
    removed = next(
        a
        for a in held.assignments
        if (a.permission_set_arn, a.account_id, a.principal_id)
        == (read_only, shop, held.groups["Developers"])
    )
    held.assignments.discard(removed)  # taken away by hand
    held.permission_sets[read_only] = dataclasses.replace(
        held.permission_sets[read_only], session_duration="PT12H"
    )
    stranger = fake.add_group("Contractors")
    held.assignments.add(dataclasses.replace(removed, principal_id=stranger))  # given by hand
    plan = replan(path, fake, state)
    assert sso_changes(plan) == [
        "account-assignment.create:ReadOnly/group:Developers/Shop",
        "permission-set.update:ReadOnly",
    ]
    update = next(c for c in plan.changes if c.id == "permission-set.update:ReadOnly")
    assert render_text(plan).count("session duration: 'PT12H' → 'PT8H'") == 1
    assert update.summary == (
        "update permission set ReadOnly, then provision it again to every account it is in"
    )
    assert any(
        "not the assignments orgc did not make nor 0 other permission sets (left alone)" in c
        for c in plan.compared
    )
    apply_all(path, fake, store)
    assert dataclasses.replace(removed, principal_id=stranger) in held.assignments
    assert not replan(path, fake, store.read()).has_changes


def test_orgc_state_lists_shows_and_forgets_what_identity_center_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orgc.cli import main

    arn = "arn:aws:sso:::permissionSet/ssoins-1/ps-1"
    record = AssignmentRecord(
        permission_set_arn=arn,
        principal_type="GROUP",
        principal_id="g-1",
        account_id="222222222222",
        permission_set="ReadOnly",
        principal="Platform",
    )
    store = LocalStateStore(tmp_path / "state.json")
    with store.lock("test") as locked:
        locked.write(
            State(
                management_account_id=MANAGEMENT_ACCOUNT_ID,
                accounts={"Shop": "222222222222"},
                permission_sets={"ReadOnly": arn, "Admin": arn + "2"},
                assignments=(record,),
            )
        )
    where = ["--state", str(store.path)]
    assert main(["state", "list", *where]) == 0
    assert capsys.readouterr().out.splitlines()[-3:] == [
        "permission-set:Admin",
        "permission-set:ReadOnly",
        "account-assignment:ReadOnly/group:Platform/Shop",
    ]
    assert main(["state", "show", "account-assignment:ReadOnly/group:Platform/Shop", *where]) == 0
    assert capsys.readouterr().out == (
        "account-assignment:ReadOnly/group:Platform/Shop\n"
        "  permission set      ReadOnly\n"
        f"  permission set ARN  {arn}\n"
        "  principal           group Platform\n"
        "  principal id        g-1\n"
        "  account id          222222222222\n"
    )
    assert main(["state", "rm", "permission-set:ReadOnly", *where]) == 0
    capsys.readouterr()
    state = store.read()
    assert state.permission_sets == {"Admin": arn + "2"}
    assert state.assignments == ()  # forgotten with the permission set they give
