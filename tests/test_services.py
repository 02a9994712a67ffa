"""Trusted service access and delegated administrators (`Orgc::ORG::ServiceAccess`): planned in
AWS's order, applied, recorded, drift-checked, re-planned empty; on the in-memory fake (which
refuses the wrong order) and on the emulator (checked through boto3).
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from support.fake_provider import MANAGEMENT_ACCOUNT_ID, FakeAws

from orgc.aws import AwsProvider
from orgc.pipeline import compile_organization, make_plan, plan_and_apply
from orgc.plan import Plan
from orgc.plan.codec import dumps, loads
from orgc.provider import Provider
from orgc.show import render_text
from orgc.state import LocalStateStore, State

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {{AccountName: master, AccountId: '{management}'}}
  Audit:
    Type: OC::ORG::Account
    Properties: {{AccountName: audit, RootEmail: audit@example.com}}
  Security:
    Type: OC::ORG::Account
    Properties: {{AccountName: security, RootEmail: security@example.com}}
{services}
"""

GUARDDUTY_BY_AUDIT = """\
  GuardDuty:
    Type: Orgc::ORG::ServiceAccess
    Properties:
      ServicePrincipal: guardduty.amazonaws.com
      DelegatedAdministrators: !Ref {guardduty}
  SecurityHub:
    Type: Orgc::ORG::ServiceAccess
    Properties:
      ServicePrincipal: securityhub.amazonaws.com
      DelegatedAdministrators: [!Ref Audit]
  Ram:
    Type: Orgc::ORG::ServiceAccess
    Properties:
      ServicePrincipal: ram.amazonaws.com
"""


def write(tmp_path: Path, services: str) -> Path:
    path = tmp_path / "organization.yml"
    path.write_text(ORGANIZATION.format(management=MANAGEMENT_ACCOUNT_ID, services=services))
    return path


def apply_all(path: Path, provider: Provider, store: LocalStateStore) -> Plan:
    inputs = compile_organization(path, root=path.parent)
    plan, result = plan_and_apply(inputs, provider, store, confirm=lambda _: True)
    assert result is not None
    assert result.ok, (result.failed, result.skipped)
    return plan


def replan(path: Path, provider: Provider, state: State, *, refresh: bool = False) -> Plan:
    return make_plan(compile_organization(path, root=path.parent), provider, state, refresh=refresh)


def of_kinds(plan: Plan) -> dict[str, tuple[str, ...]]:
    return {
        c.id: c.after
        for c in plan.changes
        if c.kind in ("service-access", "delegated-administrator")
    }


@pytest.fixture
def store(tmp_path: Path) -> LocalStateStore:
    return LocalStateStore(tmp_path / "state.json")


def test_access_is_enabled_before_administrators_in_new_accounts_are_registered(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Audit"))
    plan = apply_all(path, fake, store)
    assert of_kinds(plan) == {
        "delegated-administrator.register:guardduty.amazonaws.com/Audit": (
            "account.create:Audit",
            "service-access.enable:guardduty.amazonaws.com",
        ),
        "delegated-administrator.register:securityhub.amazonaws.com/Audit": (
            "account.create:Audit",
            "service-access.enable:securityhub.amazonaws.com",
        ),
        "service-access.enable:guardduty.amazonaws.com": (),
        "service-access.enable:ram.amazonaws.com": (),
        "service-access.enable:securityhub.amazonaws.com": (),
    }
    audit = fake.account_named("audit").account_id
    assert fake.service_access == {
        "guardduty.amazonaws.com",
        "ram.amazonaws.com",
        "securityhub.amazonaws.com",
    }
    assert fake.delegated == {
        "guardduty.amazonaws.com": {audit},
        "securityhub.amazonaws.com": {audit},
    }
    state = store.read()
    assert state.services == {
        "guardduty.amazonaws.com": (audit,),
        "ram.amazonaws.com": (),
        "securityhub.amazonaws.com": (audit,),
    }
    text = render_text(plan)
    assert "Trusted service access:\n  + enable trusted access for Amazon GuardDuty" in text
    assert (
        "+ register Audit (known after apply) as delegated administrator of AWS Security Hub"
        in (text)
    )
    for refresh in (False, True):
        again = replan(path, fake, state, refresh=refresh)
        assert not again.has_changes, render_text(again)
        assert "trusted access and delegated administrators of 3 services" in again.compared


def test_a_new_administrator_waits_for_the_old_one_to_go(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Audit"))
    apply_all(path, fake, store)
    audit = fake.account_named("audit").account_id
    security = fake.account_named("security").account_id
    write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Security"))
    plan = apply_all(path, fake, store)
    deregister = f"delegated-administrator.deregister:guardduty.amazonaws.com/{audit}"
    assert of_kinds(plan) == {
        deregister: (),
        "delegated-administrator.register:guardduty.amazonaws.com/Security": (deregister,),
    }
    assert fake.delegated["guardduty.amazonaws.com"] == {security}
    assert store.read().services["guardduty.amazonaws.com"] == (security,)
    assert not replan(path, fake, store.read()).has_changes


def test_changes_made_by_hand_are_undone(tmp_path: Path, store: LocalStateStore) -> None:
    fake = FakeAws()
    path = write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Audit"))
    apply_all(path, fake, store)
    audit = fake.account_named("audit").account_id
    security = fake.account_named("security").account_id
    fake.deregister_delegated_administrator(audit, "guardduty.amazonaws.com")
    fake.register_delegated_administrator(security, "securityhub.amazonaws.com")
    fake.disable_service_access("ram.amazonaws.com")
    fake.enable_service_access("sso.amazonaws.com")  # someone else's: left alone
    plan = replan(path, fake, store.read())
    assert sorted(c.summary for c in plan.changes) == [
        f"deregister Security ({security}) as delegated administrator of AWS Security Hub "
        "(securityhub.amazonaws.com): the files name other accounts",
        "enable trusted access for AWS Resource Access Manager (ram.amazonaws.com) again: it "
        "was disabled outside orgc",
        f"register Audit ({audit}) as delegated administrator of Amazon GuardDuty "
        "(guardduty.amazonaws.com) again: it was deregistered outside orgc",
    ]
    apply_all(path, fake, store)
    assert fake.delegated["securityhub.amazonaws.com"] == {audit}
    assert "sso.amazonaws.com" in fake.service_access
    assert not replan(path, fake, store.read()).has_changes


def test_a_service_removed_from_the_files_is_deregistered_then_disabled(
    tmp_path: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    path = write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Audit"))
    apply_all(path, fake, store)
    audit = fake.account_named("audit").account_id
    fake.enable_service_access("sso.amazonaws.com")
    write(tmp_path, "")
    plan = apply_all(path, fake, store)
    hub = f"delegated-administrator.deregister:securityhub.amazonaws.com/{audit}"
    duty = f"delegated-administrator.deregister:guardduty.amazonaws.com/{audit}"
    assert of_kinds(plan) == {
        duty: (),
        hub: (),
        "service-access.disable:guardduty.amazonaws.com": (duty,),
        "service-access.disable:ram.amazonaws.com": (),
        "service-access.disable:securityhub.amazonaws.com": (hub,),
    }
    assert fake.service_access == {"sso.amazonaws.com"}
    assert not any(fake.delegated.values())
    assert store.read().services == {}
    assert not replan(path, fake, store.read()).has_changes


def test_the_plan_file_keeps_every_service_change(tmp_path: Path, store: LocalStateStore) -> None:
    path = write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Audit"))
    plan = replan(path, FakeAws(), State())
    assert loads(dumps(plan)) == plan


def test_without_services_nothing_is_read(tmp_path: Path) -> None:
    fake = FakeAws()
    replan(write(tmp_path, ""), fake, State())
    assert fake.calls["list_service_access"] == 0


# --- on the emulator ------------------------------------------------------------------------


def test_on_the_emulator_every_principal_orgc_knows_can_be_delegated(
    tmp_path: Path, aws: AwsProvider
) -> None:
    store = LocalStateStore(tmp_path / "state.json")
    path = write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Audit"))
    apply_all(path, aws, store)
    org = boto3.client("organizations", region_name="us-east-1")
    audit = next(a["Id"] for a in org.list_accounts()["Accounts"] if a["Name"] == "audit")
    enabled = {
        s["ServicePrincipal"]
        for s in org.list_aws_service_access_for_organization()["EnabledServicePrincipals"]
    }
    assert enabled == {"guardduty.amazonaws.com", "ram.amazonaws.com", "securityhub.amazonaws.com"}
    # Security Hub is not among the six principals moto takes an administrator for unpatched.
    for principal in ("guardduty.amazonaws.com", "securityhub.amazonaws.com"):
        admins = org.list_delegated_administrators(ServicePrincipal=principal)
        assert [a["Id"] for a in admins["DelegatedAdministrators"]] == [audit]
    assert not replan(path, aws, store.read()).has_changes

    org.deregister_delegated_administrator(
        AccountId=audit, ServicePrincipal="securityhub.amazonaws.com"
    )
    write(tmp_path, GUARDDUTY_BY_AUDIT.format(guardduty="Security"))
    plan = apply_all(path, aws, store)
    assert sorted(c.id for c in plan.changes) == [
        f"delegated-administrator.deregister:guardduty.amazonaws.com/{audit}",
        "delegated-administrator.register:guardduty.amazonaws.com/Security",
        "delegated-administrator.register:securityhub.amazonaws.com/Audit",
    ]
    security = next(a["Id"] for a in org.list_accounts()["Accounts"] if a["Name"] == "security")
    services = org.list_delegated_services_for_account(AccountId=security)["DelegatedServices"]
    assert [s["ServicePrincipal"] for s in services] == ["guardduty.amazonaws.com"]
    assert not replan(path, aws, store.read(), refresh=True).has_changes


def test_the_state_keeps_services_contacts_and_closes(tmp_path: Path) -> None:
    state = State(
        services={"guardduty.amazonaws.com": ("111111111111",), "ram.amazonaws.com": ()},
        contacts={"111111111111": ("BILLING", "SECURITY")},
        closed_accounts={"222222222222": "2026-12-01"},
    )
    assert State.from_json(state.to_json(), origin="test") == state
    assert b"services" not in State().to_json()  # older states read and write as before
