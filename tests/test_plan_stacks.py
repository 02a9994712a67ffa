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
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.goldens import Golden, Rendering, check_outcome, folders
from support.memory_state import MemoryWriter
from support.scenarios import (
    STACKS_SCENARIOS,
    ScenarioProvider,
    plan_stacks_scenario,
    state_from_yaml,
)

from orgc.apply import apply
from orgc.diagnostics import StageError
from orgc.observed import LiveStack, StackDeployment, StackResult
from orgc.pipeline import compile_organization, make_plan
from orgc.plan import Plan, PlanError
from orgc.plan.codec import dumps, loads
from orgc.plan.specs import StackDeploy
from orgc.plan.stacks import deploy_order
from orgc.render import StackKey
from orgc.show import render_text

SCENARIOS = STACKS_SCENARIOS


def plan_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    return plan_stacks_scenario(folder, monkeypatch)


@pytest.mark.parametrize("folder", folders(SCENARIOS), ids=lambda p: p.name)
def test_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch, golden: Golden) -> None:
    check_outcome(
        folder,
        lambda: plan_scenario(folder, monkeypatch),
        golden,
        failures=(PlanError, StageError),
        renderings=(
            Rendering(name="plan.golden.json", render=dumps, as_json=True),
            Rendering(name="plan.golden.txt", render=render_text),
        ),
    )


def _stack_changes(plan: Plan) -> dict[str, str]:
    return {c.logical_id or "": c.action for c in plan.changes if c.kind == "stack"}


def _deploy(plan: Plan, logical_id: str) -> StackDeploy:
    spec = next(c.spec for c in plan.changes if c.logical_id == logical_id)
    assert isinstance(spec, StackDeploy)
    return spec


class MemoryCloud(ScenarioProvider):
    """A scenario whose stacks really change when apply deploys or deletes them."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.deployed: dict[tuple[str, str, str], dict[str, Any]] = {}

    def deploy_stack(self, deployment: StackDeployment) -> StackResult:
        key = (deployment.account_id, deployment.region, deployment.stack_name)
        number = len(self.deployed) + 1
        template = json.loads(deployment.template_body)
        self.deployed[key] = {"template": template, "parameters": dict(deployment.parameters)}
        stack = LiveStack(
            stack_name=deployment.stack_name,
            account_id=deployment.account_id,
            region=deployment.region,
            stack_id=f"arn:stack/{number}",
            status="CREATE_COMPLETE",
            last_changed=f"2026-11-21T00:00:{number:02d}+00:00",
        )
        self.stacks.setdefault((deployment.account_id, deployment.region), {})[
            deployment.stack_name
        ] = stack
        outputs = {name: f"{name}@{deployment.account_id}" for name in template.get("Outputs", {})}
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
    assert [o.stack_name for o in again.orphans] == ["acme-legacy"]

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
        _deploy(changed, "Logs/Shop/eu-west-1").parameters["OrgcRefLogBucket"] == "renamed-bucket"
    )


@pytest.mark.parametrize(
    "folder",
    sorted(p.parent for p in SCENARIOS.glob("*/plan.golden.json")),
    ids=lambda p: p.name,
)
def test_a_saved_stack_plan_reads_back_as_it_was(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = plan_scenario(folder, monkeypatch)
    assert loads(dumps(made)) == made


@given(
    edges=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=80),
    ranks=st.permutations(range(31)),
    listing=st.permutations(range(31)),
)
@settings(max_examples=300, deadline=None)
def test_deploy_order_is_graphlibs_static_order(
    edges: list[tuple[int, int]], ranks: list[int], listing: list[int]
) -> None:
    # An edge only from a node of higher rank to one of lower rank: every graph is acyclic.
    # Listed in another order, so some stacks are met first as what another one waits for.
    key = {n: StackKey("task", f"Account{n}", "eu-west-1") for n in range(31)}
    after: dict[StackKey, list[StackKey]] = {}
    for waiting, first in edges:
        if ranks[first] < ranks[waiting]:
            after.setdefault(key[waiting], []).append(key[first])
    listed = [key[n] for n in listing]
    expected = list(TopologicalSorter({k: after.get(k, ()) for k in listed}).static_order())
    assert deploy_order(listed, after) == expected
    assert sorted(expected) == sorted(listed)


def test_deploy_order_refuses_a_cycle() -> None:
    a, b = StackKey("t", "A", "r"), StackKey("t", "B", "r")
    with pytest.raises(CycleError):
        deploy_order([a, b], {a: (b,), b: (a,)})
