"""Stage 7, plan: desired organization + live organization + state → `Plan`.

A pure function: no I/O, no clock, no randomness. The plan compares the model with what AWS
holds now (not with a previous file), so changes made by hand show up. It is data: every change
names what it acts on by logical id and, where known, physical id; ids that exist only after an
earlier change of the same run (a new account, a new OU) are looked up by apply from the
`ids` table, where they start as None ("known after apply").
"""

from __future__ import annotations

import datetime

from orgc.diagnostics import Diagnostic
from orgc.model import Organization
from orgc.observed import LiveOrganization
from orgc.plan.document import (
    KINDS,
    PLAN_FORMAT,
    PLAN_VERSION,
    Change,
    Plan,
    PlanError,
    digest,
    observed_digest,
)
from orgc.plan.organization import OrganizationPlanner
from orgc.plan.specs import ROOT, Action, ChangeKind, IdTable
from orgc.state import State

__all__ = [
    "KINDS",
    "PLAN_FORMAT",
    "PLAN_VERSION",
    "ROOT",
    "Action",
    "Change",
    "ChangeKind",
    "IdTable",
    "Plan",
    "PlanError",
    "digest",
    "observed_digest",
    "plan",
]


def plan(
    desired: Organization,
    live: LiveOrganization,
    state: State,
    *,
    source: str,
    today: datetime.date | None = None,
) -> Plan:
    """Compare the desired organization with the live one. Raises PlanError on conflicts.

    `today` dates the window of AWS's account close quota (None: every close the state
    recorded counts); it is an input, so planning reads no clock."""
    planner = OrganizationPlanner(desired, live, state, today)
    planner.plan_policy_types()
    planner.plan_policies()
    planner.plan_organizational_units()
    planner.plan_accounts()
    planner.plan_attachments()
    planner.plan_removed_policies()
    planner.plan_removed_organizational_units()
    if planner.errors:
        raise PlanError(planner.errors)
    return Plan(
        source=source,
        management_account_id=live.management_account_id,
        organization_id=live.organization_id,
        inputs_digest=digest(desired),
        observed_digest=observed_digest(live, state),
        ids=IdTable(
            accounts=dict(sorted(planner.account_ids.items())),
            organizational_units=dict(sorted(planner.ou_ids.items())),
            policies=dict(sorted(planner.policy_ids.items())),
        ),
        changes=planner.ordered(),
        warnings=tuple(sorted(planner.warnings, key=Diagnostic.sort_key)),
    )
