"""The plan stage, with no AWS at all: scenario folders compared with golden plans.

Each folder under tests/scenarios/plan holds `organization.yml` (desired), `live.yml` (what the
organization holds, in a compact form), optionally `state.yml`, and `plan.golden.json` — or
`errors.golden.txt` when planning must fail. Refresh goldens with `pytest --update-golden`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from orgc.diagnostics import Diagnostic, StageError
from orgc.observed import (
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    LiveRoot,
    PasswordPolicySettings,
)
from orgc.pipeline import StalePlan, compile_organization, load_saved_plan
from orgc.plan import Action, Change, ChangeKind, Plan, PlanError, digest, plan
from orgc.plan.codec import dumps, loads
from orgc.plan.specs import OrganizationalUnitReplace, PolicyDelete
from orgc.state import State

SCENARIOS = Path(__file__).parent / "scenarios" / "plan"


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def live_from_yaml(path: Path) -> LiveOrganization:
    data = _yaml(path)
    root = data["root"]
    return LiveOrganization(
        organization_id=data["organization_id"],
        management_account_id=data["management_account_id"],
        root=LiveRoot(
            root_id=root["id"],
            enabled_policy_types=tuple(root.get("enabled_policy_types", ())),
            policy_ids=tuple(root.get("policies", ())),
        ),
        organizational_units={
            ou_id: LiveOrganizationalUnit(
                ou_id=ou_id,
                name=ou["name"],
                parent_id=ou["parent"],
                tags=ou.get("tags", {}),
                policy_ids=tuple(ou.get("policies", ())),
            )
            for ou_id, ou in (data.get("ous") or {}).items()
        },
        accounts={
            str(account_id): LiveAccount(
                account_id=str(account_id),
                name=account["name"],
                email=account["email"],
                status=account.get("status", "ACTIVE"),
                parent_id=account["parent"],
                tags=account.get("tags", {}),
                policy_ids=tuple(account.get("policies", ())),
                alias=account.get("alias"),
                password_policy=(
                    PasswordPolicySettings(**account["password_policy"])
                    if "password_policy" in account
                    else None
                ),
                details_read=True,
            )
            for account_id, account in (data.get("accounts") or {}).items()
        },
        policies={
            policy_id: LivePolicy(
                policy_id=policy_id,
                policy_type=policy["type"],
                name=policy["name"],
                description=policy.get("description", ""),
                content=policy["content"],
                aws_managed=policy.get("aws_managed", False),
                tags=policy.get("tags", {}),
            )
            for policy_id, policy in (data.get("policies") or {}).items()
        },
    )


def state_from_yaml(path: Path) -> State:
    if not path.exists():
        return State()
    data = _yaml(path)
    return State(
        serial=1,
        lineage="scenario",
        management_account_id="111111111111",
        accounts={k: str(v) for k, v in data.get("accounts", {}).items()},
        organizational_units=data.get("organizational_units", {}),
        policies=data.get("policies", {}),
        retired_organizational_units=tuple(data.get("retired_organizational_units", ())),
    )


def plan_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    monkeypatch.chdir(folder)
    inputs = compile_organization(Path("organization.yml"))
    return plan(
        inputs.organization,
        live_from_yaml(folder / "live.yml"),
        state_from_yaml(folder / "state.yml"),
        source=inputs.source,
    )


@pytest.mark.parametrize(
    "folder", sorted(p for p in SCENARIOS.iterdir() if p.is_dir()), ids=lambda p: p.name
)
def test_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool) -> None:
    errors_file = folder / "errors.golden.txt"
    golden = folder / "plan.golden.json"
    try:
        result = plan_scenario(folder, monkeypatch)
    except PlanError as error:
        text = "".join(f"{d}\n" for d in error.diagnostics)
        if update_golden:
            errors_file.write_text(text, encoding="utf-8")
        assert errors_file.exists(), f"planning failed unexpectedly:\n{text}"
        assert text == errors_file.read_text(encoding="utf-8")
        return
    if update_golden:
        golden.write_text(dumps(result), encoding="utf-8")
    assert not errors_file.exists(), "planning was expected to fail"
    assert json.loads(dumps(result)) == json.loads(golden.read_text(encoding="utf-8"))


def test_plan_is_deterministic_and_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    first = plan_scenario(SCENARIOS / "reparent", monkeypatch)
    second = plan_scenario(SCENARIOS / "reparent", monkeypatch)
    assert dumps(first) == dumps(second)
    assert loads(dumps(first)) == first
    assert dumps(loads(dumps(first))) == dumps(first)


def test_no_changes_scenario_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    result = plan_scenario(SCENARIOS / "no-changes", monkeypatch)
    assert result.changes == ()
    assert not result.has_changes


def test_every_change_comes_after_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    for folder in sorted(p for p in SCENARIOS.iterdir() if p.is_dir()):
        try:
            result = plan_scenario(folder, monkeypatch)
        except PlanError:
            continue
        seen: set[str] = set()
        for change in result.changes:
            assert set(change.after) <= seen, (folder.name, change.id)
            seen.add(change.id)


def test_reparent_deletes_the_old_ou_only_after_emptying_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = plan_scenario(SCENARIOS / "reparent", monkeypatch)
    by_id = {c.id: c for c in result.changes}
    delete = by_id["organizational-unit.delete:ou-prod"]
    assert "account.move:Shop" in delete.after
    assert "account.move-unmanaged:333333333333" in delete.after
    assert "organizational-unit.replace:ProdEuOU" in delete.after
    replace = by_id["organizational-unit.replace:ProdOU"].spec
    assert isinstance(replace, OrganizationalUnitReplace)
    assert replace.parent == "WorkloadsOU"


def test_positions_do_not_change_the_inputs_digest(tmp_path: Path) -> None:
    source = (SCENARIOS / "first-run" / "organization.yml").read_text(encoding="utf-8")
    (tmp_path / "a.yml").write_text(source, encoding="utf-8")
    (tmp_path / "b.yml").write_text("# moved down by a comment\n\n" + source, encoding="utf-8")
    a = compile_organization(tmp_path / "a.yml", root=tmp_path)
    b = compile_organization(tmp_path / "b.yml", root=tmp_path)
    assert digest(a.organization) == digest(b.organization)


def test_invalid_files_never_reach_the_planner(tmp_path: Path) -> None:
    (tmp_path / "organization.yml").write_text(
        "Organization:\n"
        "  Management:\n    Type: OC::ORG::MasterAccount\n"
        "    Properties: {AccountName: m, AccountId: '111111111111'}\n"
        "  A:\n    Type: OC::ORG::Acount\n",
        encoding="utf-8",
    )
    with pytest.raises(StageError) as raised:
        compile_organization(tmp_path / "organization.yml", root=tmp_path)
    assert [d.code for d in raised.value.diagnostics] == ["E205"]


@pytest.mark.parametrize(
    "folder",
    sorted(p.parent for p in SCENARIOS.glob("*/plan.golden.json")),
    ids=lambda p: p.name,
)
def test_a_saved_plan_reads_back_as_it_was(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = plan_scenario(folder, monkeypatch)
    assert loads(dumps(made)) == made


def test_a_change_holds_only_the_spec_of_its_kind_and_action() -> None:
    with pytest.raises(ValueError, match="a policy create change cannot hold a PolicyDelete"):
        Change(
            id="policy.create:P",
            kind=ChangeKind.POLICY,
            action=Action.CREATE,
            logical_id="P",
            physical_id=None,
            summary="create P",
            spec=PolicyDelete(policy_type="SERVICE_CONTROL_POLICY", name="P"),
        )


def test_a_saved_plan_with_a_malformed_change_is_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = json.loads(dumps(plan_scenario(SCENARIOS / "first-run", monkeypatch)))
    del saved["changes"][1]["details"]["document"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(StalePlan) as raised:
        load_saved_plan(path)
    assert raised.value.diagnostics == (
        Diagnostic("E606", f"{path} is not a plan saved by `orgc plan --out` ('document')"),
    )
