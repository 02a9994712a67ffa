"""Planning IAM Identity Center: permission sets, then the account assignments that give them.

Permission sets are ours by the state (logical id → ARN) or adopted by name (W612). One the
files hold and AWS lacks is created; one that differs from the files is updated, and when what
users get changes (policies, boundary, session, relay state) re-provisioned to every account it
is provisioned to; one the state holds and the files do not is deleted, after its assignments.
AWS cannot rename a permission set: a new name under the same logical id is an error (E614).

Assignments are expanded per account from the bindings, as the files are now: an account moved
into an OU gets the OU's assignments, one moved out loses them. What AWS lacks is created; what
the state says orgc made and the files no longer give is deleted. Assignments orgc did not make
are left alone (the plan says so). A group or user the identity store does not hold is an error
naming it (E612).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from orgc.diagnostics import Diagnostic
from orgc.model import Organization
from orgc.observed import AccountAssignment, LiveIdentityCenter, PermissionSetSettings
from orgc.plan.document import Change
from orgc.plan.specs import Action, AssignmentChange, ChangeKind, PermissionSetChange
from orgc.sso import IdentityCenter
from orgc.state import State

PERMISSION_SET_PREFIX = "permission-set"
ASSIGNMENT_PREFIX = "account-assignment"


def provisioning_differs(before: PermissionSetSettings, after: PermissionSetSettings) -> bool:
    """Whether users' access changes, so that the accounts need the set provisioned again
    (description and tags are AWS's records only)."""
    return (
        before.session_duration,
        before.relay_state,
        before.managed_policies,
        before.customer_policies,
        before.inline_policy,
        before.boundary,
    ) != (
        after.session_duration,
        after.relay_state,
        after.managed_policies,
        after.customer_policies,
        after.inline_policy,
        after.boundary,
    )


class IdentityCenterPlanner:
    def __init__(
        self,
        desired: IdentityCenter,
        live: LiveIdentityCenter,
        state: State,
        *,
        organization: Organization,
        account_ids: Mapping[str, str | None],
        account_names: Mapping[str, str],
        planned: frozenset[str],
        group: str,
    ) -> None:
        self.desired = desired
        self.live = live
        self.state = state
        self.organization = organization
        self.account_ids = account_ids
        self.account_names = account_names  # account id → name, as AWS has it
        self.planned = planned
        self.group = group
        self.instance = live.instance.instance_arn
        self.held = frozenset(live.assignments)
        self.changes: list[Change] = []
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self.arns: dict[str, str | None] = {}  # permission set logical id → ARN (None: new)
        self.set_changes: dict[str, str] = {}  # logical id → id of its create/update/adopt

    def plan(self) -> None:
        self.plan_permission_sets()
        deletes = self.plan_assignments()
        self.plan_removed_permission_sets(deletes)
        self.changes.sort(key=lambda c: c.id)

    # --- permission sets --------------------------------------------------------------------

    def plan_permission_sets(self) -> None:
        live = self.live
        for permission_set in self.desired.permission_sets:
            logical_id, wanted = permission_set.logical_id, permission_set.settings
            recorded = self.state.permission_sets.get(logical_id)
            arn = recorded if recorded in live.settings else None
            adopted = False
            if arn is None and wanted.name in live.permission_sets:
                arn, adopted = live.permission_sets[wanted.name], True
                self.warnings.append(
                    Diagnostic(
                        "W612",
                        f"permission set {wanted.name} ({arn}) is not in orgc's state; orgc "
                        f"adopts it for {logical_id}",
                        permission_set.span,
                    )
                )
            self.arns[logical_id] = arn
            if arn is None:
                again = " again: it was deleted outside orgc" if recorded else ""
                self.add_set(logical_id, Action.CREATE, None, None, wanted, note=again)
                continue
            current = live.settings[arn]
            if current.name != wanted.name:
                self.errors.append(
                    Diagnostic(
                        "E614",
                        f"permission set {logical_id} is named {current.name} in AWS, which "
                        f"cannot rename one; to call it {wanted.name}, give it a new logical id "
                        f"(the old one is deleted, with its assignments) or keep {current.name}",
                        permission_set.span,
                    )
                )
                continue
            if current == wanted and not adopted:
                continue
            action = Action.ADOPT if adopted else Action.UPDATE
            self.add_set(logical_id, action, arn, current, wanted)

    def add_set(
        self,
        logical_id: str,
        action: Action,
        arn: str | None,
        before: PermissionSetSettings | None,
        after: PermissionSetSettings | None,
        *,
        note: str = "",
    ) -> str:
        """Add the change; `note` follows what it does in the summary."""
        settings = after or before
        name = settings.name if settings is not None else logical_id
        provision = before is not None and after is not None and provisioning_differs(before, after)
        change_id = f"{PERMISSION_SET_PREFIX}.{action}:{logical_id}"
        what = f"{action} permission set {name}"
        if action is Action.DELETE:
            summary = f"{what} ({arn}): it is no longer in the files{note}"
        elif provision:
            summary = f"{what}{note}, then provision it again to every account it is in"
        else:
            summary = f"{what}{note}"
        self.changes.append(
            Change(
                id=change_id,
                kind=ChangeKind.PERMISSION_SET,
                action=action,
                logical_id=logical_id,
                physical_id=arn,
                summary=summary,
                spec=PermissionSetChange(
                    instance_arn=self.instance,
                    arn=arn,
                    name=name,
                    before=before,
                    after=after,
                    provision=provision,
                ),
                group=self.group,
            )
        )
        if action is not Action.DELETE:
            self.set_changes[logical_id] = change_id
        return change_id

    def plan_removed_permission_sets(self, deletes: Mapping[str, list[str]]) -> None:
        declared = {p.logical_id for p in self.desired.permission_sets}
        for logical_id, arn in sorted(self.state.permission_sets.items()):
            if logical_id in declared or arn not in self.live.settings:
                continue
            current = self.live.settings[arn]
            first = deletes.get(arn, [])
            tail = f"; its {len(first)} assignment(s) orgc made go first" if first else ""
            change_id = self.add_set(logical_id, Action.DELETE, arn, current, None, note=tail)
            assert self.changes[-1].id == change_id
            self.changes[-1] = dataclasses.replace(self.changes[-1], after=tuple(sorted(first)))

    # --- assignments ------------------------------------------------------------------------

    def account_name(self, logical_id: str | None, account_id: str | None) -> str:
        if logical_id is not None and logical_id in self.organization.accounts:
            return self.organization.accounts[logical_id].name
        return self.account_names.get(account_id or "", account_id or "?")

    def plan_assignments(self) -> dict[str, list[str]]:
        """Create what the files give and AWS lacks; delete what orgc made and the files no
        longer give. The deletes by permission set ARN, for a delete of the set to wait on."""
        sets = {p.logical_id: p for p in self.desired.permission_sets}
        wanted: set[AccountAssignment] = set()
        reported: set[tuple[str, str]] = set()
        for assignment in self.desired.assignments:
            permission_set = sets[assignment.permission_set]
            arn = self.arns.get(assignment.permission_set)
            for principal in assignment.principals:
                key = (principal.kind, principal.name)
                principal_id = self.live.principals.get(key)
                if principal_id is None:
                    if key not in reported:
                        reported.add(key)
                        what = "group" if principal.kind == "GROUP" else "user"
                        attribute = "display name" if principal.kind == "GROUP" else "user name"
                        self.errors.append(
                            Diagnostic(
                                "E612",
                                f"the identity store {self.live.instance.identity_store_id} "
                                f"has no {what} with the {attribute} {principal.name}; create "
                                f"it in your identity provider or fix the name",
                                assignment.principal_spans.get(principal, assignment.span),
                            )
                        )
                    continue
                for account in assignment.accounts:
                    account_id = self.account_ids.get(account)
                    if arn is not None and account_id is not None:
                        held = AccountAssignment(
                            permission_set_arn=arn,
                            principal_type=principal.kind,
                            principal_id=principal_id,
                            account_id=account_id,
                        )
                        wanted.add(held)
                        if held in self.held:
                            continue
                    after = [self.set_changes.get(assignment.permission_set)]
                    creation = f"account.create:{account}"
                    after.append(creation if creation in self.planned else None)
                    name = self.account_name(account, account_id)
                    self.changes.append(
                        Change(
                            id=f"{ASSIGNMENT_PREFIX}.create:{assignment.permission_set}/"
                            f"{principal.kind.lower()}:{principal.name}/{account}",
                            kind=ChangeKind.ACCOUNT_ASSIGNMENT,
                            action=Action.CREATE,
                            logical_id=assignment.logical_id,
                            physical_id=None,
                            summary=f"give {principal} {permission_set.settings.name} in {name} "
                            f"({account_id or 'known after apply'})",
                            spec=AssignmentChange(
                                instance_arn=self.instance,
                                permission_set=assignment.permission_set,
                                permission_set_name=permission_set.settings.name,
                                permission_set_arn=arn,
                                principal_type=principal.kind,
                                principal=principal.name,
                                principal_id=principal_id,
                                account=account,
                                account_name=name,
                                account_id=account_id,
                            ),
                            after=tuple(sorted(a for a in after if a)),
                            group=self.group,
                        )
                    )
        by_id = {v: k for k, v in sorted(self.account_ids.items(), reverse=True) if v}
        deletes: dict[str, list[str]] = {}
        for record in self.state.assignments:
            held = AccountAssignment(
                permission_set_arn=record.permission_set_arn,
                principal_type=record.principal_type,
                principal_id=record.principal_id,
                account_id=record.account_id,
            )
            if held in wanted or held not in self.held:
                continue
            settings = self.live.settings.get(record.permission_set_arn)
            set_name = settings.name if settings is not None else record.permission_set
            logical = by_id.get(record.account_id)
            name = self.account_name(logical, record.account_id)
            who = f"{record.principal_type.lower()} {record.principal}"
            change_id = (
                f"{ASSIGNMENT_PREFIX}.delete:{record.permission_set}/"
                f"{record.principal_type.lower()}:{record.principal}/{record.account_id}"
            )
            deletes.setdefault(record.permission_set_arn, []).append(change_id)
            self.changes.append(
                Change(
                    id=change_id,
                    kind=ChangeKind.ACCOUNT_ASSIGNMENT,
                    action=Action.DELETE,
                    logical_id=None,
                    physical_id=f"{set_name}/{who}/{name}",
                    summary=f"take {set_name} from {who} in {name} ({record.account_id}): the "
                    "files no longer give it",
                    spec=AssignmentChange(
                        instance_arn=self.instance,
                        permission_set=record.permission_set,
                        permission_set_name=set_name,
                        permission_set_arn=record.permission_set_arn,
                        principal_type=record.principal_type,
                        principal=record.principal,
                        principal_id=record.principal_id,
                        account=logical,
                        account_name=name,
                        account_id=record.account_id,
                    ),
                    group=self.group,
                )
            )
        return deletes
