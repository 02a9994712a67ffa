"""Scenario folders: desired files, what AWS holds (`live.yml`) and what orgc recorded
(`state.yml`), read into the types the plan compares.

`live.yml` is the organization in a compact form (root, `ous`, `accounts`, `policies` by id),
plus `stacks:` by account and region and `exports:` for the landing zone. `state.yml` holds the
id tables and, for the landing zone, the stack records. Folders under tests/scenarios/plan plan
an organization file; folders under tests/scenarios/stacks plan a task file (`options.json` may
give `parameters`, `performCleanup` and `allowMassDelete`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from orgc.observed import (
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    LiveRoot,
    LiveStack,
    PasswordPolicySettings,
)
from orgc.pipeline import compile_organization, make_plan
from orgc.plan import Plan, plan
from orgc.plan.stacks import DeleteGuard
from orgc.state import StackRecord, State

SCENARIOS = Path(__file__).parent.parent / "scenarios"
PLAN_SCENARIOS = SCENARIOS / "plan"
STACKS_SCENARIOS = SCENARIOS / "stacks"

# The management account of every scenario's state.
MANAGEMENT_ACCOUNT_ID = "111111111111"


def read_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def live_from_yaml(path: Path) -> LiveOrganization:
    """The organization a `live.yml` describes, every account's details read."""
    data = read_yaml(path)
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
    """The state a `state.yml` describes; an empty state when there is none."""
    if not path.exists():
        return State()
    data = read_yaml(path)
    return State(
        serial=1,
        lineage="scenario",
        management_account_id=MANAGEMENT_ACCOUNT_ID,
        accounts={k: str(v) for k, v in (data.get("accounts") or {}).items()},
        organizational_units=data.get("organizational_units") or {},
        policies=data.get("policies") or {},
        retired_organizational_units=tuple(data.get("retired_organizational_units") or ()),
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


class ScenarioProvider:
    """Answers the reads a plan makes from a scenario's live.yml."""

    def __init__(self, folder: Path) -> None:
        data = read_yaml(folder / "live.yml")
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
        # The template each stack was deployed with, where live.yml gives one (`template:`).
        self.templates = {
            (str(account_id), region, name): json.dumps(stack["template"])
            for account_id, regions in (data.get("stacks") or {}).items()
            for region, stacks in regions.items()
            for name, stack in stacks.items()
            if "template" in stack
        }
        self.exports = {
            (str(e["account"]), e["region"], e["name"]): e["value"]
            for e in data.get("exports") or ()
        }
        self.listed: list[tuple[str, str, str]] = []

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str],
        read_account_details: bool,
        read_account_tags: bool = True,
    ) -> LiveOrganization:
        if read_account_tags:
            return self.organization
        unread = {
            account_id: dataclasses.replace(account, tags={}, tags_read=False)
            for account_id, account in self.organization.accounts.items()
        }
        return dataclasses.replace(self.organization, accounts=unread)

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        self.listed.append((account_id, role_name, region))
        return self.stacks.get((account_id, region), {})

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        return self.exports.get((account_id, region, name))

    def get_template(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> str | None:
        return self.templates.get((account_id, region, stack_name))


def plan_organization_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    """The plan of a folder under tests/scenarios/plan, made from its directory."""
    monkeypatch.chdir(folder)
    inputs = compile_organization(Path("organization.yml"))
    return plan(
        inputs.organization,
        live_from_yaml(folder / "live.yml"),
        state_from_yaml(folder / "state.yml"),
        source=inputs.source,
    )


def scenario_options(folder: Path) -> dict[str, Any]:
    """The run's options of a folder under tests/scenarios/stacks (`options.json`)."""
    options = folder / "options.json"
    return dict(json.loads(options.read_text(encoding="utf-8"))) if options.exists() else {}


def plan_stacks_scenario(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Plan:
    """The plan of a folder under tests/scenarios/stacks, made from its directory."""
    monkeypatch.chdir(folder)
    options = scenario_options(folder)
    inputs = compile_organization(Path("tasks.yml"), parameters=options.get("parameters"))
    return make_plan(
        inputs,
        ScenarioProvider(folder),  # type: ignore[arg-type]
        state_from_yaml(folder / "state.yml"),
        perform_cleanup=bool(options.get("performCleanup")),
        delete_guard=DeleteGuard(allow_mass_delete=bool(options.get("allowMassDelete"))),
    )
