"""Guardrails: scenario folders planned with no AWS, then held to `orgc.guardrails`.

Each folder under tests/scenarios/guardrails holds what a plan scenario holds (see test_plan.py)
and `guardrails.golden.txt`: the plan's change ids, then every diagnostic the planner and the
guardrails give, as printed. Plans that no file or state produces (a saved plan edited by hand,
an older orgc's plan) are built inline from a scenario's plan.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from support.goldens import Golden
from support.scenarios import live_from_yaml, plan_organization_scenario

from orgc import guardrails
from orgc.diagnostics import CODES, REGISTERED
from orgc.model import Organization
from orgc.observed import LiveOrganization
from orgc.pipeline import compile_organization
from orgc.plan import Action, Change, ChangeKind, Plan, PlanError
from orgc.plan.specs import (
    AccountClose,
    Attach,
    Detach,
    OrganizationalUnitDelete,
    PolicyDelete,
    TargetKind,
)
from orgc.show import render_markdown, render_text
from orgc.state import import_orgformation_state

SCENARIOS = Path(__file__).parent / "scenarios" / "guardrails"


def _scenario(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Plan, Organization, LiveOrganization]:
    folder = SCENARIOS / name
    result = plan_organization_scenario(folder, monkeypatch)
    organization = compile_organization(Path("organization.yml")).organization
    return result, organization, live_from_yaml(folder / "live.yml")


@pytest.mark.parametrize(
    "folder", sorted(p for p in SCENARIOS.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch, golden: Golden) -> None:
    result, organization, live = _scenario(folder.name, monkeypatch)
    found = guardrails.check(result, organization, live)
    lines = [change.id for change in result.changes]
    lines += [str(d) for d in sorted({*result.warnings, *found}, key=lambda d: d.sort_key())]
    text = "".join(f"{line}\n" for line in lines)
    golden.text(folder / "guardrails.golden.txt", text)


def _codes(result: Plan, organization: Organization, live: LiveOrganization) -> list[str]:
    return [d.code for d in guardrails.check(result, organization, live)]


# --- FullAWSAccess and other AWS-managed policies -------------------------------------------


def test_a_state_naming_full_aws_access_plans_nothing_against_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, organization, live = _scenario("imported-full-aws-access", monkeypatch)
    assert not [c for c in result.changes if "p-FullAWSAccess" in c.id]
    assert [w.code for w in result.warnings] == ["W620"]
    assert guardrails.check(result, organization, live) == ()


def _detach(policy_id: str, kind: TargetKind, logical_id: str | None, physical_id: str) -> Change:
    return Change(
        id=f"attachment.detach:{policy_id}:{kind}:{logical_id or physical_id}",
        kind=ChangeKind.ATTACHMENT,
        action=Action.DETACH,
        logical_id=logical_id,
        physical_id=physical_id,
        summary=f"detach {policy_id}",
        spec=Detach(policy_id=policy_id, target=kind),
    )


def test_a_plan_that_deletes_full_aws_access_everywhere_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the planner made of such a state before: detach it everywhere, then delete it.
    result, organization, live = _scenario("imported-full-aws-access", monkeypatch)
    edited = dataclasses.replace(
        result,
        changes=(
            _detach("p-FullAWSAccess", TargetKind.ROOT, "root", "r-root"),
            _detach("p-FullAWSAccess", TargetKind.ORGANIZATIONAL_UNIT, "ProdOU", "ou-prod"),
            _detach("p-FullAWSAccess", TargetKind.ACCOUNT, "Shop", "222222222222"),
            Change(
                id="policy.delete:FullAWSAccess",
                kind=ChangeKind.POLICY,
                action=Action.DELETE,
                logical_id="FullAWSAccess",
                physical_id="p-FullAWSAccess",
                summary="delete SERVICE_CONTROL_POLICY FullAWSAccess",
                spec=PolicyDelete(policy_type="SERVICE_CONTROL_POLICY", name="FullAWSAccess"),
            ),
        ),
    )
    found = guardrails.check(edited, organization, live)
    assert sorted(d.code for d in found) == ["E620", "E621", "E621", "E621", "E622", "E622", "E622"]
    messages = "\n".join(str(d) for d in found)
    assert "refusing to delete p-FullAWSAccess: it is managed by AWS" in messages
    assert "refusing to detach FullAWSAccess from OU prod (ProdOU)" in messages
    assert "the root would have no SCP that allows anything" in messages
    with pytest.raises(PlanError):
        guardrails.enforce(edited, organization, live)


def test_full_aws_access_may_go_where_another_allow_everything_scp_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, organization, live = _scenario("imported-full-aws-access", monkeypatch)
    allow_all = dataclasses.replace(
        organization.policies["DenyLeave"],
        logical_id="AllowAll",
        name="AllowAll",
        document='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",'
        '"Resource":"*"}]}',
    )
    organization = dataclasses.replace(
        organization, policies={**organization.policies, "AllowAll": allow_all}
    )
    attach = Change(
        id="attachment.attach:AllowAll:organizational-unit:ProdOU",
        kind=ChangeKind.ATTACHMENT,
        action=Action.ATTACH,
        logical_id="ProdOU",
        physical_id="ou-prod",
        summary="attach AllowAll to OU ProdOU",
        spec=Attach(policy="AllowAll", target=TargetKind.ORGANIZATIONAL_UNIT),
    )
    detach = _detach("p-FullAWSAccess", TargetKind.ORGANIZATIONAL_UNIT, "ProdOU", "ou-prod")
    alone = dataclasses.replace(result, changes=(detach,))
    assert _codes(alone, organization, live) == ["E621", "E622"]
    replaced = dataclasses.replace(result, changes=(attach, detach))
    assert _codes(replaced, organization, live) == []


def test_import_drops_aws_managed_policies_with_a_notice() -> None:
    notices: list[str] = []
    state = import_orgformation_state(
        b'{"masterAccountId": "111111111111", "bindings": {"OC::ORG::ServiceControlPolicy": {'
        b'"FullAWSAccess": {"physicalId": "p-FullAWSAccess"}, '
        b'"DenyLeave": {"physicalId": "p-abcd1234"}}}}',
        origin="state.json",
        notices=notices,
    )
    assert state.policies == {"DenyLeave": "p-abcd1234"}
    assert notices == [
        "dropped OC::ORG::ServiceControlPolicy FullAWSAccess: p-FullAWSAccess is managed by "
        "AWS, and orgc never detaches or deletes it"
    ]


# --- lockouts -------------------------------------------------------------------------------


def test_deny_everything_on_the_root_is_refused_unless_overridden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, organization, live = _scenario("deny-all-root", monkeypatch)
    with pytest.raises(PlanError) as refused:
        guardrails.enforce(result, organization, live)
    assert [d.code for d in refused.value.diagnostics] == ["E623"]
    assert "--allow-scp-lockout" in refused.value.diagnostics[0].message
    allowed = guardrails.enforce(result, organization, live, allow_lockout=True)
    assert [w.code for w in allowed.warnings] == ["W621"]
    assert allowed.changes == result.changes


@pytest.mark.parametrize(
    ("statement", "denies"),
    [
        ('{"Effect":"Deny","Action":"*","Resource":"*"}', True),
        ('{"Effect":"Deny","Action":["s3:*","*"],"Resource":["*"]}', True),
        ('{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}', True),
        ('{"Effect":"Deny","Action":"*"}', True),
        (
            '{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"ArnNotLike":'
            '{"aws:PrincipalArn":"arn:aws:iam::*:role/OrganizationAccountAccessRole"}}}',
            False,
        ),
        ('{"Effect":"Deny","Action":"s3:*","Resource":"*"}', False),
        ('{"Effect":"Deny","Action":"*","Resource":"arn:aws:s3:::bucket"}', False),
        ('{"Effect":"Allow","Action":"*","Resource":"*"}', False),
    ],
)
def test_deny_everything_reads_the_statement(statement: str, denies: bool) -> None:
    import json

    assert guardrails.denies_everything(json.loads(statement)) is denies


def test_a_lockout_already_there_is_a_warning_not_a_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, organization, live = _scenario("lockout-already-there", monkeypatch)
    assert result.has_changes
    assert _codes(result, organization, live) == ["W622"]
    assert "OU jail (ou-jail) would have no SCP that allows anything" in str(
        guardrails.check(result, organization, live)[0]
    )


# --- accounts -------------------------------------------------------------------------------


def test_renaming_a_logical_id_never_closes_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("rename-member-close-on-removal", "rename-management"):
        result, _, _ = _scenario(name, monkeypatch)
        assert not [c for c in result.changes if c.action is Action.CLOSE], name


def _close(account_id: str, logical_id: str, email: str = "") -> Change:
    return Change(
        id=f"account.close:{logical_id}",
        kind=ChangeKind.ACCOUNT,
        action=Action.CLOSE,
        logical_id=logical_id,
        physical_id=account_id,
        summary=f"close account {account_id}",
        spec=AccountClose(name=logical_id, email=email),
    )


def test_closing_a_declared_or_the_management_account_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, organization, live = _scenario("rename-member-close-on-removal", monkeypatch)
    edited = dataclasses.replace(result, changes=(_close("222222222222", "Shop"),))
    found = guardrails.check(edited, organization, live)
    assert [str(d) for d in found] == [
        "organization.yml:17:5: error[E625]: refusing to close account 222222222222: the files "
        "still declare it as Storefront; accounts are closed only when the files drop them"
    ]
    edited = dataclasses.replace(result, changes=(_close("111111111111", "Management"),))
    assert _codes(edited, organization, live) == ["E624"]


def test_deleting_a_declared_policy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    result, organization, live = _scenario("rename-policy", monkeypatch)
    delete = Change(
        id="policy.delete:DenyLeave",
        kind=ChangeKind.POLICY,
        action=Action.DELETE,
        logical_id="DenyLeave",
        physical_id="p-leave",
        summary="delete SERVICE_CONTROL_POLICY DenyLeave",
        spec=PolicyDelete(policy_type="SERVICE_CONTROL_POLICY", name="DenyLeave"),
    )
    edited = dataclasses.replace(result, changes=(*result.changes, delete))
    assert [str(d) for d in guardrails.check(edited, organization, live)] == [
        "organization.yml:19:5: error[E626]: refusing to delete policy p-leave: the files still "
        "declare it as NoLeaving"
    ]


def test_every_new_code_is_registered() -> None:
    for code in ("E620", "E621", "E622", "E623", "E624", "E625", "E626", "W620", "W621", "W622"):
        assert code in CODES
        assert code in REGISTERED


# --- the summary ----------------------------------------------------------------------------


def test_every_destructive_action_has_its_own_summary_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, _, _ = _scenario("imported-full-aws-access", monkeypatch)
    edited = dataclasses.replace(
        result,
        changes=(
            _close("333333333333", "Old"),
            _detach("p-leave", TargetKind.ROOT, "root", "r-root"),
            _detach("p-leave", TargetKind.ORGANIZATIONAL_UNIT, "ProdOU", "ou-prod"),
            Change(
                id="organizational-unit.delete:ou-old",
                kind=ChangeKind.ORGANIZATIONAL_UNIT,
                action=Action.DELETE,
                logical_id=None,
                physical_id="ou-old",
                summary="delete OU old (ou-old): OU Old is no longer in the files",
                spec=OrganizationalUnitDelete(name="old", retired=False),
            ),
        ),
    )
    text = render_text(edited)
    assert "  - 1 account(s) to close\n" in text
    assert "  - 1 OU(s) to delete\n" in text
    assert "  - 2 policy attachment(s) to detach\n" in text
    assert "Accounts to close: 333333333333 (Old)" in text
    markdown = render_markdown(edited)
    assert "- **1** account(s) to close\n" in markdown
    assert "- **2** policy attachment(s) to detach\n" in markdown
    assert "**Accounts to close:** `333333333333` (Old)" in markdown


# --- on the emulator, through the command line ----------------------------------------------

EMULATED = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: master, AccountId: '123456789012'}
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties:
      ServiceControlPolicies: !Ref DenyAll
  Shop:
    Type: OC::ORG::Account
    Properties: {AccountName: shop, RootEmail: shop@example.com}
  DenyAll:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: DenyAll
      PolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Deny, Action: '*', Resource: '*'}]
"""


def _orgc(emulator: object, *args: str) -> int:
    from orgc.cli import main

    endpoint = emulator.endpoint  # type: ignore[attr-defined]
    return main([*args, "--state", "state.json", "--endpoint-url", endpoint])


@pytest.fixture
def emulated(tmp_path: Path, aws: object, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "organization.yml").write_text(EMULATED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _policy_names() -> list[str]:
    import boto3

    org = boto3.client("organizations", region_name="us-east-1")
    return sorted(p["Name"] for p in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"])


def test_a_refused_plan_writes_nothing_and_says_why(
    emulated: Path, emulator: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _orgc(emulator, "apply", "organization.yml", "--auto-approve") == 1
    errors = capsys.readouterr().err
    assert "organization.yml:14:5: error[E623]: SCP DenyAll on the root denies every action" in (
        errors
    )
    assert "pass --allow-scp-lockout if the lockout is what you mean" in errors
    assert _policy_names() == ["FullAWSAccess"]
    assert _orgc(emulator, "plan", "organization.yml") == 1


def test_the_override_is_saved_with_the_plan_and_a_hand_edited_plan_is_refused(
    emulated: Path, emulator: object, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert (
        _orgc(emulator, "plan", "organization.yml", "--allow-scp-lockout", "--out", "plan.json")
        == 0
    )
    shown = capsys.readouterr().out
    assert "warning[W621]" in shown
    saved = json.loads(Path("plan.json").read_text(encoding="utf-8"))
    assert saved["options"]["allowScpLockout"] is True

    # The same plan with the attachment to the root dropped by hand is not what orgc planned.
    edited = dict(saved, changes=[c for c in saved["changes"] if c["action"] != "attach"])
    Path("edited.json").write_text(json.dumps(edited), encoding="utf-8")
    assert _orgc(emulator, "apply", "edited.json", "--auto-approve") == 1
    assert "error[E604]: the saved plan's changes are not the ones orgc plans" in (
        capsys.readouterr().err
    )
    assert _policy_names() == ["FullAWSAccess"]

    assert _orgc(emulator, "apply", "plan.json", "--auto-approve") == 0
    assert _policy_names() == ["DenyAll", "FullAWSAccess"]


def test_state_import_says_what_it_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from orgc.cli import main

    monkeypatch.chdir(tmp_path)
    Path("orgformation.json").write_text(
        json.dumps(
            {
                "masterAccountId": "111111111111",
                "bindings": {
                    "OC::ORG::ServiceControlPolicy": {
                        "FullAWSAccess": {"physicalId": "p-FullAWSAccess"}
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    assert main(["state", "import", "orgformation.json", "--state", "state.json"]) == 0
    assert "orgc: dropped OC::ORG::ServiceControlPolicy FullAWSAccess: p-FullAWSAccess is " in (
        capsys.readouterr().err
    )
    assert (
        json.loads(Path("state.json").read_text(encoding="utf-8"))["organization"]["policies"] == {}
    )
