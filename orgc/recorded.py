"""What the state recorded, standing in for reads of AWS when the inputs did not change.

A plan normally needs few reads: the organization is read only when the organization file no
longer gives the digest the state recorded after the last complete apply, and a stack is taken
to be as orgc last left it. `--refresh` reads everything instead, so that changes made by hand
(drift) show up. Either way a change is planned from the same comparison; only what it is
compared with differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from orgc.model import Organization
from orgc.observed import LiveOrganization, LiveStack
from orgc.plan import ROOT, IdTable, Plan
from orgc.state import LockedState, State, with_alias, with_password_policy

if TYPE_CHECKING:
    from orgc.apply import ApplyResult

# How a recorded stack is taken to be: finished, in the status its last change left it in.
RECORDED_STATUS = "UPDATE_COMPLETE"


def wanted_ids(organization: Organization) -> dict[str, dict[str, str | None]]:
    """Every logical id of the model by id table, with the physical ids the files give."""
    return {
        "accounts": {
            logical_id: account.account_id for logical_id, account in organization.accounts.items()
        },
        "organizationalUnits": dict.fromkeys(organization.organizational_units),
        "policies": dict.fromkeys(organization.policies),
    }


def known_ids(organization_ids: Mapping[str, Mapping[str, str | None]], state: State) -> IdTable:
    """The plan's id tables: the ids the files give, else those the state recorded, else None
    (known after apply); the root as the state recorded it."""
    tables: dict[str, dict[str, str | None]] = {
        "accounts": {},
        "organizationalUnits": {ROOT: state.root_id},
        "policies": {},
    }
    recorded = {
        "accounts": state.accounts,
        "organizationalUnits": state.organizational_units,
        "policies": state.policies,
    }
    for table, wanted in organization_ids.items():
        for logical_id, given in wanted.items():
            if logical_id == ROOT:
                continue
            tables[table][logical_id] = given or recorded[table].get(logical_id)
    return IdTable(
        accounts=dict(sorted(tables["accounts"].items())),
        organizational_units=dict(sorted(tables["organizationalUnits"].items())),
        policies=dict(sorted(tables["policies"].items())),
    )


def recorded_ids(
    organization_ids: Mapping[str, Mapping[str, str | None]], state: State
) -> IdTable | None:
    """The plan's id tables taken from the state, or None when the state lacks any of them."""
    tables = known_ids(organization_ids, state)
    if any(value is None for table in tables.values() for value in table.values()):
        return None
    return tables


def account_settings_trusted(state: State, organization_digest: str) -> bool:
    """Whether what costs a call per account (tags, alias, password policy) may be taken to be
    as the files say: the files give the organization the state recorded after the last
    complete apply."""
    return state.organization_id is not None and state.organization_digest == organization_digest


def organization_comparison(
    live: LiveOrganization, *, per_account: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a plan of `live` compared with AWS, and what it took from the state instead."""
    accounts = len(live.accounts)
    active = sum(1 for account in live.accounts.values() if account.status == "ACTIVE")
    policies = sum(1 for policy in live.policies.values() if not policy.aws_managed)
    compared = [
        "the OU tree",
        f"where the {accounts} accounts sit",
        f"the contents and attachments of {policies} policies",
        "the accounts in the organization",
    ]
    if per_account:
        compared += [
            f"tags of {accounts} accounts",
            f"password policies and aliases of {active} accounts",
        ]
        return tuple(compared), ()
    return tuple(compared), (
        f"password policies and aliases of {active} accounts",
        f"tags of {accounts} accounts",
    )


def recorded_stacks(state: State) -> dict[tuple[str, str], dict[str, LiveStack]]:
    """The stacks as the state recorded them, in the shape ListStacks gives."""
    listed: dict[tuple[str, str], dict[str, LiveStack]] = {}
    for record in state.stacks:
        listed.setdefault((record.account_id, record.region), {})[record.stack_name] = LiveStack(
            stack_name=record.stack_name,
            account_id=record.account_id,
            region=record.region,
            # An imported record without these reads as "changed outside orgc": updated once.
            stack_id=record.stack_id or "",
            status=RECORDED_STATUS,
            last_changed=record.last_changed or "",
        )
    return listed


def with_organization_synced(
    state: State, *, organization_digest: str, plan: Plan, root_id: str | None
) -> State:
    """`state` noting that the organization now is as the files describe it."""
    return replace(
        state,
        organization_digest=organization_digest,
        organization_id=plan.organization_id,
        management_account_id=state.management_account_id or plan.management_account_id,
        root_id=root_id,
    )


def declared_account_settings(organization: Organization) -> dict[str, tuple[str | None, bool]]:
    """Account logical id → (the alias the files give it, whether they give it a password
    policy), for the accounts the files give either."""
    return {
        logical_id: (account.alias, account.password_policy is not None)
        for logical_id, account in sorted(organization.accounts.items())
        if account.alias or account.password_policy is not None
    }


def _with_declared_settings(
    state: State, declared: Mapping[str, tuple[str | None, bool]], plan: Plan
) -> State:
    settings = state.account_settings
    for logical_id, (alias, password_policy) in declared.items():
        account_id = state.accounts.get(logical_id) or plan.ids.accounts.get(logical_id)
        if account_id is None:
            continue
        if alias:
            settings = with_alias(settings, account_id, alias)
        if password_policy:
            settings = with_password_policy(settings, account_id, True)
    return replace(state, account_settings=settings)


def note_organization_synced(
    locked: LockedState,
    *,
    organization_group: str,
    organization_digest: str,
    applied: Plan,
    result: ApplyResult,
    declared: Mapping[str, tuple[str | None, bool]] | None = None,
) -> None:
    """After every organization change of `applied` (those of `organization_group`) went
    through, note in the state that the organization is as the files describe it, so later
    plans need not read it; after one that did not, forget any such note.

    Once in sync, every alias and password policy the files give (`declared`) is in AWS as
    they give it, set or found so: each is noted as orgc's, so that removing it from the files
    deletes it (an account adopted with its alias already right included)."""
    if any(
        change.group == organization_group
        and (change.id in result.failed or change.id in result.skipped)
        for change in applied.changes
    ):
        if locked.state.organization_digest is not None:
            locked.write(replace(locked.state, organization_digest=None))
        return
    noted = _with_declared_settings(locked.state, declared or {}, applied)
    if locked.state.organization_digest == organization_digest and noted == locked.state:
        return
    locked.write(
        with_organization_synced(
            noted,
            organization_digest=organization_digest,
            plan=applied,
            root_id=applied.ids.root_id,
        )
    )
