"""The plan stage, with no AWS at all: scenario folders compared with golden plans.

Each folder under tests/scenarios/plan holds `organization.yml` (desired), `live.yml` (what the
organization holds, in a compact form), optionally `state.yml`, and `plan.golden.json` — or
`errors.golden.txt` when planning must fail. Refresh goldens with `pytest --update-golden`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.goldens import Golden, Rendering, check_outcome, expects_failure, folders
from support.scenarios import PLAN_SCENARIOS, plan_organization_scenario

from orgc.diagnostics import Diagnostic, StageError
from orgc.pipeline import StalePlan, compile_organization, load_saved_plan
from orgc.plan import Action, Change, ChangeKind, Plan, PlanError, digest
from orgc.plan.codec import dumps, loads
from orgc.plan.specs import OrganizationalUnitReplace, PolicyDelete

SCENARIOS = PLAN_SCENARIOS


def plan_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    return plan_organization_scenario(folder, monkeypatch)


@pytest.mark.parametrize("folder", folders(SCENARIOS), ids=lambda p: p.name)
def test_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch, golden: Golden) -> None:
    check_outcome(
        folder,
        lambda: plan_scenario(folder, monkeypatch),
        golden,
        failures=(PlanError,),
        renderings=(Rendering(name="plan.golden.json", render=dumps, as_json=True),),
    )


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


@pytest.mark.parametrize(
    "folder", [f for f in folders(SCENARIOS) if not expects_failure(f)], ids=lambda p: p.name
)
def test_every_change_comes_after_what_it_needs(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the folders with an errors golden may fail to plan (test_scenario holds them to it);
    # every other one plans, and its changes come in an order that respects every `after`.
    result = plan_scenario(folder, monkeypatch)
    ids = [change.id for change in result.changes]
    assert len(set(ids)) == len(ids), folder.name
    seen: set[str] = set()
    for change in result.changes:
        assert set(change.after) <= seen, (folder.name, change.id)
        seen.add(change.id)


def test_the_order_check_sees_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check above is not vacuous: these scenarios hold changes that wait on other changes
    # of the same plan (not only on whole tasks), this many edges each.
    edges = {}
    for name in ("first-run", "removed", "reparent", "resume-reparent"):
        result = plan_scenario(SCENARIOS / name, monkeypatch)
        ids = {change.id for change in result.changes}
        edges[name] = sum(len(set(change.after) & ids) for change in result.changes)
    assert edges == {"first-run": 11, "removed": 2, "reparent": 10, "resume-reparent": 2}


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
