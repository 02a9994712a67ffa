"""Planning the landing zone with no AWS: scenario folders compared with golden plans.

Each folder under tests/scenarios/stacks is a small project (`tasks.yml`, `organization.yml`,
`templates/`) with `live.yml` (the organization, as in tests/scenarios/plan, plus `stacks:` by
account and region, and `exports:`), optionally `state.yml` (the organization's ids plus stack
records), and `plan.golden.json` / `.txt` — or `errors.golden.txt` when planning must fail.
Refresh goldens with `pytest --update-golden`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from test_plan import live_from_yaml

from orgc.apply import apply
from orgc.diagnostics import StageError
from orgc.observed import LiveOrganization, LiveStack, StackResult
from orgc.pipeline import compile_organization, make_plan
from orgc.plan import Plan, PlanError
from orgc.show import render_text
from orgc.state import StackRecord, State

SCENARIOS = Path(__file__).parent / "scenarios" / "stacks"


class ScenarioProvider:
    """Answers the reads a plan makes from a scenario's live.yml."""

    def __init__(self, folder: Path) -> None:
        data = YAML(typ="safe").load((folder / "live.yml").read_text(encoding="utf-8"))
        self.organization = live_from_yaml(folder / "live.yml")
        self.stacks: dict[tuple[str, str], dict[str, LiveStack]] = {}
        for account_id, regions in (data.get("stacks") or {}).items():
            for region, stacks in regions.items():
                self.stacks[(str(account_id), region)] = {
                    name: LiveStack(
                        stack_name=name,
                        account_id=str(account_id),
                        region=region,
                        stack_id=stack["id"],
                        status=stack.get("status", "CREATE_COMPLETE"),
                        last_changed=stack.get("changed", "2026-11-01T00:00:00+00:00"),
                        status_reason=stack.get("reason"),
                    )
                    for name, stack in stacks.items()
                }
        self.exports = {
            (str(e["account"]), e["region"], e["name"]): e["value"]
            for e in data.get("exports") or ()
        }
        self.listed: list[tuple[str, str, str]] = []

    def read_organization(
        self, *, account_roles: Mapping[str, str], read_account_details: bool
    ) -> LiveOrganization:
        return self.organization

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        self.listed.append((account_id, role_name, region))
        return self.stacks.get((account_id, region), {})

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        return self.exports.get((account_id, region, name))


def state_from_yaml(path: Path) -> State:
    if not path.exists():
        return State()
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return State(
        serial=1,
        lineage="scenario",
        management_account_id="111111111111",
        accounts={k: str(v) for k, v in (data.get("accounts") or {}).items()},
        organizational_units=data.get("organizational_units") or {},
        policies=data.get("policies") or {},
        stacks=tuple(
            sorted(
                (
                    StackRecord(
                        stack_name=r["stack"],
                        account_id=str(r["account_id"]),
                        region=r["region"],
                        task=r["task"],
                        account=r.get("account"),
                        hash=r.get("hash", "sha256:recorded"),
                        stack_id=r.get("id"),
                        last_changed=r.get("changed", "2026-11-01T00:00:00+00:00"),
                        parameters=r.get("parameters") or {},
                        outputs=r.get("outputs") or {},
                    )
                    for r in data.get("stacks") or ()
                ),
                key=lambda r: r.key,
            )
        ),
    )


def plan_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    monkeypatch.chdir(folder)
    options = (
        json.loads((folder / "options.json").read_text())
        if (folder / "options.json").exists()
        else {}
    )
    inputs = compile_organization(Path("tasks.yml"), parameters=options.get("parameters"))
    return make_plan(
        inputs,
        ScenarioProvider(folder),  # type: ignore[arg-type]
        state_from_yaml(folder / "state.yml"),
        perform_cleanup=bool(options.get("performCleanup")),
    )


def _folders() -> list[Path]:
    return sorted(p for p in SCENARIOS.iterdir() if p.is_dir())


@pytest.mark.parametrize("folder", _folders(), ids=lambda p: p.name)
def test_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch, update_golden: bool) -> None:
    errors_file = folder / "errors.golden.txt"
    golden = folder / "plan.golden.json"
    golden_text = folder / "plan.golden.txt"
    try:
        result = plan_scenario(folder, monkeypatch)
    except (PlanError, StageError) as error:
        text = "".join(f"{d}\n" for d in error.diagnostics)
        if update_golden:
            errors_file.write_text(text, encoding="utf-8")
        assert errors_file.exists(), f"planning failed unexpectedly:\n{text}"
        assert text == errors_file.read_text(encoding="utf-8")
        return
    if update_golden:
        golden.write_text(result.dumps(), encoding="utf-8")
        golden_text.write_text(render_text(result), encoding="utf-8")
    assert not errors_file.exists(), "planning was expected to fail"
    assert json.loads(result.dumps()) == json.loads(golden.read_text(encoding="utf-8"))
    assert render_text(result) == golden_text.read_text(encoding="utf-8")


def _stack_changes(plan: Plan) -> dict[str, str]:
    return {c.logical_id or "": c.action for c in plan.changes if c.kind == "stack"}


def _details(plan: Plan, logical_id: str) -> dict[str, Any]:
    return next(c.details for c in plan.changes if c.logical_id == logical_id)


class MemoryCloud(ScenarioProvider):
    """A scenario whose stacks really change when apply deploys or deletes them."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.deployed: dict[tuple[str, str, str], dict[str, Any]] = {}

    def deploy_stack(self, **call: Any) -> StackResult:
        key = (call["account_id"], call["region"], call["stack_name"])
        number = len(self.deployed) + 1
        template = json.loads(call["template_body"])
        self.deployed[key] = {"template": template, "parameters": dict(call["parameters"])}
        stack = LiveStack(
            stack_name=call["stack_name"],
            account_id=call["account_id"],
            region=call["region"],
            stack_id=f"arn:stack/{number}",
            status="CREATE_COMPLETE",
            last_changed=f"2026-11-21T00:00:{number:02d}+00:00",
        )
        self.stacks.setdefault((call["account_id"], call["region"]), {})[call["stack_name"]] = stack
        outputs = {name: f"{name}@{call['account_id']}" for name in template.get("Outputs", {})}
        return StackResult(
            stack_id=stack.stack_id,
            status=stack.status,
            last_changed=stack.last_changed,
            outputs=outputs,
        )

    def delete_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> None:
        self.stacks.get((account_id, region), {}).pop(stack_name, None)


class MemoryWriter:
    def __init__(self, state: State) -> None:
        self.state = state
        self.writes = 0

    def write(self, new: State) -> State:
        self.state = new
        self.writes += 1
        return new

    def check_held(self) -> None:
        pass


def test_replanning_what_was_applied_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = SCENARIOS / "removed-task"
    cloud = MemoryCloud(folder)
    writer = MemoryWriter(state_from_yaml(folder / "state.yml"))
    monkeypatch.chdir(folder)
    inputs = compile_organization(Path("tasks.yml"))
    first = make_plan(inputs, cloud, writer.state)  # type: ignore[arg-type]
    result = apply(first, cloud, writer)  # type: ignore[arg-type]
    assert result.ok, result.failed
    # Records are written behind: one write at the end for a run this short, holding them all.
    assert writer.writes == 1
    assert len(writer.state.stacks) == 10
    # The consumers got the producer's outputs, read after it was deployed.
    shop_logs = cloud.deployed[("333333333333", "eu-west-1", "acme-logs")]["parameters"]
    assert shop_logs == {
        "OrgcRefLogBucket": "OrgcRefLogBucket@222222222222",
        "OrgcRefLogBucketArn": "OrgcRefLogBucketArn@222222222222",
        "Prefix": "acme",
    }
    again = make_plan(inputs, cloud, writer.state)  # type: ignore[arg-type]
    assert again.changes == ()
    assert len(again.unchanged) == 9
    assert [o["stackName"] for o in again.orphans] == ["acme-legacy"]

    # A producer value that changes reaches its consumers: the bucket's output now differs.
    records = writer.state.stack_records()
    archive = records[("acme-logs", "222222222222", "eu-west-1")]
    writer.state = writer.state.with_stack(
        dataclasses.replace(
            archive, outputs={**archive.outputs, "OrgcRefLogBucket": "renamed-bucket"}
        )
    )
    changed = make_plan(inputs, cloud, writer.state)  # type: ignore[arg-type]
    assert _stack_changes(changed) == {
        "Logs/Sandbox/eu-west-1": "update",
        "Logs/Shop/eu-west-1": "update",
    }
    assert (
        _details(changed, "Logs/Shop/eu-west-1")["parameters"]["OrgcRefLogBucket"]
        == "renamed-bucket"
    )
