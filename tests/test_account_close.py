"""Closing accounts within AWS's CloseAccount quota (10% of the member accounts, between 10 and
1,000, per rolling 30 days; orgc/data/limits.json): the plan closes what the quota allows now and
says which accounts wait; the state dates each close, and a later run closes the rest."""

from __future__ import annotations

import datetime
from pathlib import Path

from support.fake_provider import MANAGEMENT_ACCOUNT_ID, FakeAws

from orgc.pipeline import compile_organization, make_plan, plan_and_apply
from orgc.state import LocalStateStore


def organization(accounts: int) -> str:
    lines = [
        "AWSTemplateFormatVersion: '2010-09-09-OC'",
        "Organization:",
        "  Management:",
        "    Type: OC::ORG::MasterAccount",
        f"    Properties: {{AccountName: master, AccountId: '{MANAGEMENT_ACCOUNT_ID}'}}",
        "  Root:",
        "    Type: OC::ORG::OrganizationRoot",
        "    Properties: {CloseAccountsOnRemoval: true}",
    ]
    for index in range(accounts):
        lines += [
            f"  Team{index:02}:",
            "    Type: OC::ORG::Account",
            "    Properties:",
            f"      AccountName: team-{index:02}",
            f"      RootEmail: team-{index:02}@example.com",
        ]
    return "\n".join(lines) + "\n"


def test_closes_beyond_the_quota_wait_for_a_later_run(tmp_path: Path) -> None:
    fake = FakeAws()
    store = LocalStateStore(tmp_path / "state.json")
    path = tmp_path / "organization.yml"
    path.write_text(organization(12))
    inputs = compile_organization(path, root=tmp_path)
    plan_and_apply(inputs, fake, store, confirm=lambda _: True)

    path.write_text(organization(0))
    inputs = compile_organization(path, root=tmp_path)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    plan = make_plan(inputs, fake, store.read(), today=today)
    closes = [c.logical_id for c in plan.changes if c.action == "close"]
    assert closes == [f"Team{i:02}" for i in range(10)]
    waiting = [w.message for w in plan.warnings if w.code == "W606"]
    assert len(waiting) == 2
    assert waiting[0].startswith("account team-10 (")
    assert waiting[0].endswith(
        "waits to be closed: AWS closes 10 accounts in 30 days here, 10 of them are closed or "
        "closing; a later run closes it"
    )

    _, result = plan_and_apply(inputs, fake, store, confirm=lambda _: True)
    assert result is not None
    assert result.ok
    state = store.read()
    assert set(state.closed_accounts.values()) == {today.isoformat()}
    assert len(state.closed_accounts) == 10
    suspended = [a for a in fake.accounts.values() if a.status == "SUSPENDED"]
    assert len(suspended) == 10

    again = make_plan(inputs, fake, state, today=today)
    assert not again.has_changes
    assert len([w for w in again.warnings if w.code == "W606"]) == 2

    later = make_plan(inputs, fake, state, today=today + datetime.timedelta(days=30))
    assert [c.logical_id for c in later.changes if c.action == "close"] == ["Team10", "Team11"]
