"""Alternate contacts (`Orgc::ORG::AlternateContacts`): inherited from the root and OUs, set per
account through the management account, recorded, re-planned empty, deleted when the files drop
them; on the in-memory fake and on the emulator (checked through boto3).
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from support.fake_provider import MANAGEMENT_ACCOUNT_ID, FakeAws

from orgc.aws import AwsProvider
from orgc.observed import ContactDetails
from orgc.pipeline import compile_organization, make_plan, plan_and_apply
from orgc.plan import Plan
from orgc.plan.codec import dumps, loads
from orgc.plan.specs import AccountRename
from orgc.provider import Provider
from orgc.show import render_text
from orgc.state import LocalStateStore, State

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {{AccountName: master, AccountId: '{management}'}}
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties: {{}}
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {{OrganizationalUnitName: prod, Accounts: [{prod_accounts}]}}
  DevOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {{OrganizationalUnitName: dev, Accounts: [{dev_accounts}]}}
  Shop:
    Type: OC::ORG::Account
    Properties: {{AccountName: shop, RootEmail: shop@example.com}}
  Audit:
    Type: OC::ORG::Account
    Properties: {{AccountName: audit, RootEmail: audit@example.com}}
{access}  Everyone:
    Type: Orgc::ORG::AlternateContacts
    Properties:
      Targets: !Ref Root
      Security:
        Name: Security
        Title: CISO
        EmailAddress: security@example.com
        PhoneNumber: '+1 555 0100'
      Billing:
        Name: Finance
        Title: Payables
        EmailAddress: billing@example.com
        PhoneNumber: '+1 555 0101'
{more}
"""

PROD_ON_CALL = """\
  ProdOperations:
    Type: Orgc::ORG::AlternateContacts
    Properties:
      Targets: !Ref ProdOU
      Operations:
        Name: Prod on call
        Title: SRE
        EmailAddress: prod-ops@example.com
        PhoneNumber: '+1 555 0102'
  AuditSecurity:
    Type: Orgc::ORG::AlternateContacts
    Properties:
      Targets: !Ref Audit
      Security:
        Name: Audit
        Title: Auditor
        EmailAddress: audit-security@example.com
        PhoneNumber: '+1 555 0103'
"""

SECURITY = ContactDetails(
    name="Security", title="CISO", email_address="security@example.com", phone_number="+1 555 0100"
)
BILLING = ContactDetails(
    name="Finance",
    title="Payables",
    email_address="billing@example.com",
    phone_number="+1 555 0101",
)
PROD_OPS = ContactDetails(
    name="Prod on call",
    title="SRE",
    email_address="prod-ops@example.com",
    phone_number="+1 555 0102",
)
AUDIT_SECURITY = ContactDetails(
    name="Audit",
    title="Auditor",
    email_address="audit-security@example.com",
    phone_number="+1 555 0103",
)


ACCESS = """\
  AccountManagement:
    Type: Orgc::ORG::ServiceAccess
    Properties: {ServicePrincipal: account.amazonaws.com}
"""


def write(
    tmp_path: Path,
    *,
    prod: str = "!Ref Shop",
    dev: str = "",
    more: str = PROD_ON_CALL,
    access: str = ACCESS,
) -> Path:
    path = tmp_path / "organization.yml"
    path.write_text(
        ORGANIZATION.format(
            management=MANAGEMENT_ACCOUNT_ID,
            prod_accounts=prod,
            dev_accounts=dev,
            more=more,
            access=access,
        )
    )
    return path


def apply_all(path: Path, provider: Provider, store: LocalStateStore) -> Plan:
    inputs = compile_organization(path, root=path.parent)
    plan, result = plan_and_apply(inputs, provider, store, confirm=lambda _: True)
    assert result is not None
    assert result.ok, (result.failed, result.skipped)
    return plan


def replan(path: Path, provider: Provider, state: State, *, refresh: bool = False) -> Plan:
    return make_plan(compile_organization(path, root=path.parent), provider, state, refresh=refresh)


@pytest.fixture
def store(tmp_path: Path) -> LocalStateStore:
    return LocalStateStore(tmp_path / "state.json")


def test_contacts_are_inherited_the_nearest_target_winning(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path)
    plan = apply_all(path, fake, store)
    shop = fake.account_named("shop").account_id
    audit = fake.account_named("audit").account_id
    assert fake.contacts == {
        MANAGEMENT_ACCOUNT_ID: {"BILLING": BILLING, "SECURITY": SECURITY},
        shop: {"BILLING": BILLING, "OPERATIONS": PROD_OPS, "SECURITY": SECURITY},
        audit: {"BILLING": BILLING, "SECURITY": AUDIT_SECURITY},
    }
    creates = [c for c in plan.changes if c.kind == "alternate-contact"]
    assert {c.after for c in creates if c.logical_id == "Shop"} == {
        ("account.create:Shop", "service-access.enable:account.amazonaws.com")
    }
    assert "set the operations contact of account Shop to Prod on call <prod-ops@example.com>" in (
        render_text(plan)
    )
    assert loads(dumps(plan)) == plan
    assert store.read().contacts == {
        MANAGEMENT_ACCOUNT_ID: ("BILLING", "SECURITY"),
        shop: ("BILLING", "OPERATIONS", "SECURITY"),
        audit: ("BILLING", "SECURITY"),
    }
    # The files as last applied: the contacts are taken from the state, and the plan says so.
    reads = fake.calls["get_alternate_contacts"]
    again = replan(path, fake, store.read())
    assert not again.has_changes, render_text(again)
    assert "alternate contacts of 3 accounts" in again.not_compared
    assert "alternate contacts of 3 accounts" not in again.compared
    assert fake.calls["get_alternate_contacts"] == reads
    assert (
        "Not compared with AWS: password policies and aliases of 3 accounts, tags of 3 "
        "accounts, alternate contacts of 3 accounts; --refresh compares them."
    ) in render_text(again)
    refreshed = replan(path, fake, store.read(), refresh=True)
    assert not refreshed.has_changes
    assert "alternate contacts of 3 accounts" in refreshed.compared
    assert fake.calls["get_alternate_contacts"] == reads + 3


def test_an_account_moved_takes_its_new_ous_contacts(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path)
    apply_all(path, fake, store)
    shop = fake.account_named("shop").account_id
    write(tmp_path, prod="", dev="!Ref Shop")
    # The files changed the contacts: even a default plan reads them.
    assert "alternate contacts of 3 accounts" in replan(path, fake, store.read()).compared
    plan = apply_all(path, fake, store)
    assert sorted(c.summary for c in plan.changes if c.kind == "alternate-contact") == [
        "delete the operations contact of account Shop: the files no longer give it one"
    ]
    assert set(fake.contacts[shop]) == {"BILLING", "SECURITY"}
    assert store.read().contacts[shop] == ("BILLING", "SECURITY")
    assert not replan(path, fake, store.read()).has_changes


def test_a_contact_changed_by_hand_is_set_back_and_others_are_left_alone(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path, more="")
    apply_all(path, fake, store)
    audit = fake.account_named("audit").account_id
    fake.put_alternate_contact(audit, "SECURITY", PROD_OPS)
    fake.put_alternate_contact(audit, "OPERATIONS", PROD_OPS)  # not orgc's: left alone
    # A default plan trusts the state while the files are as applied; --refresh reads.
    assert not replan(path, fake, store.read()).has_changes
    plan = replan(path, fake, store.read(), refresh=True)
    assert [(c.id, c.action) for c in plan.changes] == [
        ("alternate-contact.update:Audit/SECURITY", "update")
    ]
    apply_all(path, fake, store)
    assert fake.contacts[audit] == {
        "BILLING": BILLING,
        "OPERATIONS": PROD_OPS,
        "SECURITY": SECURITY,
    }


def test_member_contacts_wait_for_account_management_access(tmp_path: Path) -> None:
    plan = replan(write(tmp_path), FakeAws(), State())
    after = {c.id: c.after for c in plan.changes if c.kind == "alternate-contact"}
    assert after["alternate-contact.create:Management/SECURITY"] == ()
    assert after["alternate-contact.create:Audit/SECURITY"] == (
        "account.create:Audit",
        "service-access.enable:account.amazonaws.com",
    )


def test_without_account_management_access_only_the_management_account_is_set(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    plan = apply_all(write(tmp_path, access=""), fake, store)
    assert {c.logical_id for c in plan.changes if c.kind == "alternate-contact"} == {"Management"}
    assert sorted(w.message for w in plan.warnings if w.code == "W605") == [
        f"the alternate contacts of account {name} are not set: AWS sets a member account's "
        "contacts only with trusted access for account.amazonaws.com; declare an "
        "Orgc::ORG::ServiceAccess for it"
        for name in ("Audit", "Shop")
    ]
    assert set(fake.contacts) == {MANAGEMENT_ACCOUNT_ID}


def test_without_contacts_nothing_is_read(tmp_path: Path) -> None:
    fake = FakeAws()
    path = tmp_path / "organization.yml"
    path.write_text(
        "Organization:\n  Management:\n    Type: OC::ORG::MasterAccount\n"
        f"    Properties: {{AccountName: master, AccountId: '{MANAGEMENT_ACCOUNT_ID}'}}\n"
    )
    replan(path, fake, State())
    assert fake.calls["get_alternate_contacts"] == 0


def test_on_the_emulator_contacts_are_set_in_each_account(tmp_path: Path, aws: AwsProvider) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    path = write(tmp_path)
    apply_all(path, aws, store)
    org = boto3.client("organizations", region_name="us-east-1")
    ids = {a["Name"]: a["Id"] for a in org.list_accounts()["Accounts"]}
    account = boto3.client("account", region_name="us-east-1")
    shop = account.get_alternate_contact(AccountId=ids["shop"], AlternateContactType="OPERATIONS")
    assert shop["AlternateContact"]["EmailAddress"] == "prod-ops@example.com"
    audit = account.get_alternate_contact(AccountId=ids["audit"], AlternateContactType="SECURITY")
    assert audit["AlternateContact"]["EmailAddress"] == "audit-security@example.com"
    own = account.get_alternate_contact(AlternateContactType="BILLING")
    assert own["AlternateContact"]["Name"] == "Finance"
    assert not replan(path, aws, store.read()).has_changes


# --- account names ----------------------------------------------------------------------------


def test_accounts_are_renamed_once_account_management_has_access(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path, access="")
    apply_all(path, fake, store)
    path.write_text(
        path.read_text()
        .replace("AccountName: audit,", "AccountName: audit-2,")
        .replace("AccountName: master,", "AccountName: management,")
    )
    plan = replan(path, fake, store.read())
    assert [(c.id, c.spec) for c in plan.changes if c.kind == "account"] == [
        (
            "account.rename:Management",
            AccountRename(before="master", after="management", management=True),
        )
    ]
    assert [w.message for w in plan.warnings if w.code == "W602"] == [
        "account Audit is named 'audit' in AWS, 'audit-2' in the file; AWS renames a member "
        "account only with trusted access for account.amazonaws.com: declare an "
        "Orgc::ORG::ServiceAccess for it"
    ]
    path.write_text(path.read_text() + ACCESS)
    plan = apply_all(path, fake, store)
    assert [(c.id, c.after) for c in plan.changes if c.kind == "account"] == [
        ("account.rename:Audit", ("service-access.enable:account.amazonaws.com",)),
        ("account.rename:Management", ()),
    ]
    assert "rename account Audit" in render_text(plan)
    assert fake.account_named("audit-2").account_id
    assert fake.accounts[MANAGEMENT_ACCOUNT_ID].name == "management"
    assert not replan(path, fake, store.read()).has_changes


def test_on_the_emulator_an_account_is_renamed(tmp_path: Path, aws: AwsProvider) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    path = write(tmp_path)
    apply_all(path, aws, store)
    path.write_text(path.read_text().replace("AccountName: shop,", "AccountName: shop-eu,"))
    plan = apply_all(path, aws, store)
    assert [c.id for c in plan.changes] == ["account.rename:Shop"]
    org = boto3.client("organizations", region_name="us-east-1")
    assert "shop-eu" in {a["Name"] for a in org.list_accounts()["Accounts"]}
    assert not replan(path, aws, store.read()).has_changes
