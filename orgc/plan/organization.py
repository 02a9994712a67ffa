"""Planning the organization: accounts, OUs, policies, attachments, tags, aliases, passwords.

Matches each desired thing with a live one (by the id in the state, then by a natural key:
account email, OU name under its parent, policy name and type), and emits the changes that make
the live organization match, each `after` the changes it needs.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from graphlib import TopologicalSorter

from orgc.diagnostics import Diagnostic
from orgc.limits import limits
from orgc.model import Account, Organization, OrganizationalUnit, Policy
from orgc.observed import (
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
)
from orgc.plan.document import KINDS, Change, label
from orgc.plan.specs import (
    ROOT,
    AccountClose,
    AccountCreate,
    AccountMove,
    Action,
    AliasDelete,
    AliasSet,
    Attach,
    ChangeKind,
    Detach,
    Difference,
    OrganizationalUnitCreate,
    OrganizationalUnitDelete,
    OrganizationalUnitReplace,
    PasswordPolicyDelete,
    PasswordPolicySet,
    PolicyCreate,
    PolicyDelete,
    PolicyTypeEnable,
    PolicyUpdate,
    Rename,
    StateOnly,
    TagsUpdate,
    TargetKind,
)
from orgc.state import State


def _policies_equal(desired: str, live: str) -> bool:
    try:
        return bool(json.loads(desired) == json.loads(live))
    except ValueError:
        return desired == live


class OrganizationPlanner:
    def __init__(
        self,
        desired: Organization,
        live: LiveOrganization,
        state: State,
        today: datetime.date | None = None,
    ) -> None:
        self.desired = desired
        self.live = live
        self.state = state
        self.today = today  # None: every close the state recorded counts against the quota
        self.changes: dict[str, Change] = {}
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        # logical id → physical id (None: created by this plan)
        self.account_ids: dict[str, str | None] = {}
        self.ou_ids: dict[str, str | None] = {ROOT: live.root.root_id}
        self.policy_ids: dict[str, str | None] = {}
        self.new_ous: set[str] = set()  # logical ids created (or re-created) by this plan
        self.retired: dict[str, str] = {}  # live OU id → logical id of its replacement
        self.moves_out_of: dict[str, list[str]] = {}  # live parent id → change ids

    def add(self, change: Change) -> str:
        assert change.id not in self.changes, change.id
        self.changes[change.id] = change
        return change.id

    def creation(self, kind: ChangeKind | TargetKind, logical_id: str | None) -> tuple[str, ...]:
        """The id of the change that creates `logical_id`, if this plan creates it."""
        if logical_id is None:
            return ()
        for action in ("create", "replace"):
            change_id = f"{kind}.{action}:{logical_id}"
            if change_id in self.changes:
                return (change_id,)
        return ()

    def parent_key(self, parent: str | None) -> str:
        return parent or ROOT

    # --- policies -------------------------------------------------------------------------

    def plan_policy_types(self) -> None:
        wanted = sorted({p.policy_type for p in self.desired.policies.values()})
        for policy_type in wanted:
            if policy_type in self.live.root.enabled_policy_types:
                continue
            self.add(
                Change(
                    id=f"policy-type.enable:{policy_type}",
                    kind=ChangeKind.POLICY_TYPE,
                    action=Action.ENABLE,
                    logical_id=None,
                    physical_id=self.live.root.root_id,
                    summary=f"enable {policy_type} policies on the root",
                    spec=PolicyTypeEnable(policy_type=policy_type),
                )
            )

    def match_policy(self, policy: Policy) -> LivePolicy | None:
        known = self.live.policies.get(self.state.policies.get(policy.logical_id, ""))
        if known is not None and not known.aws_managed:
            return known
        for live in sorted(self.live.policies.values(), key=lambda p: p.policy_id):
            if live.aws_managed or live.policy_type != policy.policy_type:
                continue
            if live.name == policy.name:
                return live
        return None

    def plan_policies(self) -> None:
        table = limits()
        for policy in sorted(self.desired.policies.values(), key=lambda p: p.logical_id):
            limit = table.get(f"{policy.policy_type}.documentSize")
            size, limit_value = len(policy.document), limit.value if limit else None
            live = self.match_policy(policy)
            if live is None:
                self.policy_ids[policy.logical_id] = None
                enable = f"policy-type.enable:{policy.policy_type}"
                self.add(
                    Change(
                        id=f"policy.create:{policy.logical_id}",
                        kind=ChangeKind.POLICY,
                        action=Action.CREATE,
                        logical_id=policy.logical_id,
                        physical_id=None,
                        summary=f"create {policy.policy_type} {policy.name}",
                        spec=PolicyCreate(
                            policy_type=policy.policy_type,
                            name=policy.name,
                            description=policy.description,
                            document=policy.document,
                            tags=policy.tags,
                            size=size,
                            limit=limit_value,
                        ),
                        after=(enable,) if enable in self.changes else (),
                    )
                )
                continue
            self.policy_ids[policy.logical_id] = live.policy_id
            if policy.logical_id not in self.state.policies:
                self.adopt(ChangeKind.POLICY, policy.logical_id, live.policy_id, f"{policy.name}")
            updates: dict[str, Difference] = {}
            if live.name != policy.name:
                updates["name"] = Difference(before=live.name, after=policy.name)
            if live.description != policy.description:
                updates["description"] = Difference(
                    before=live.description, after=policy.description
                )
            if not _policies_equal(policy.document, live.content):
                updates["document"] = Difference(before=live.content, after=policy.document)
            if updates:
                self.add(
                    Change(
                        id=f"policy.update:{policy.logical_id}",
                        kind=ChangeKind.POLICY,
                        action=Action.UPDATE,
                        logical_id=policy.logical_id,
                        physical_id=live.policy_id,
                        summary=f"update {policy.policy_type} {policy.name}: "
                        + ", ".join(sorted(updates)),
                        spec=PolicyUpdate(
                            changes=updates,
                            name=policy.name,
                            description=policy.description,
                            document=policy.document,
                            size=size,
                            limit=limit_value,
                        ),
                    )
                )
            self.plan_tags(
                TargetKind.POLICY, policy.logical_id, live.policy_id, live.tags, policy.tags
            )

    def adopt(self, kind: ChangeKind, logical_id: str, physical_id: str, label: str) -> None:
        self.add(
            Change(
                id=f"{kind}.adopt:{logical_id}",
                kind=kind,
                action=Action.ADOPT,
                logical_id=logical_id,
                physical_id=physical_id,
                summary=f"adopt existing {kind} {label} ({physical_id}) into the state",
                spec=StateOnly(),
            )
        )

    def plan_tags(
        self,
        kind: TargetKind,
        logical_id: str,
        physical_id: str | None,
        before: Mapping[str, str],
        after: Mapping[str, str],
    ) -> None:
        add = {k: v for k, v in sorted(after.items()) if before.get(k) != v}
        remove = sorted(k for k in before if k not in after)
        if not add and not remove:
            return
        parts = [f"{k}={v}" for k, v in add.items()] + [f"-{k}" for k in remove]
        self.add(
            Change(
                id=f"tags.update:{kind}:{logical_id}",
                kind=ChangeKind.TAGS,
                action=Action.UPDATE,
                logical_id=logical_id,
                physical_id=physical_id,
                summary=f"tag {label(kind, logical_id)}: {', '.join(parts)}",
                spec=TagsUpdate(
                    target=kind,
                    add=add,
                    remove=tuple(remove),
                    before=dict(sorted(before.items())),
                ),
                after=self.creation(kind, logical_id),
            )
        )

    # --- organizational units -------------------------------------------------------------

    def match_ou(self, ou: OrganizationalUnit) -> LiveOrganizationalUnit | None:
        known = self.state.organizational_units.get(ou.logical_id)
        if known and known in self.live.organizational_units:
            return self.live.organizational_units[known]
        parent_id = self.ou_ids.get(self.parent_key(ou.parent))
        if parent_id is None:
            return None  # the parent is new, so is the child
        claimed = {v for v in self.ou_ids.values() if v}
        for live in sorted(self.live.organizational_units.values(), key=lambda o: o.ou_id):
            if live.parent_id == parent_id and live.name == ou.name and live.ou_id not in claimed:
                return live
        return None

    def plan_organizational_units(self) -> None:
        for ou in self.desired.ous_top_down():
            parent_key = self.parent_key(ou.parent)
            parent_id = self.ou_ids.get(parent_key)
            parent_new = parent_key in self.new_ous
            live = self.match_ou(ou)
            where = f"under {ou.parent}" if ou.parent else "under the root"
            if live is not None and (parent_new or live.parent_id != parent_id):
                # AWS cannot move an OU: make a new one where it belongs, move what the old
                # one holds, delete the old one. Each step is recorded as it finishes, so an
                # interrupted run resumes from the state.
                self.retired[live.ou_id] = ou.logical_id
                self.ou_ids[ou.logical_id] = None
                self.new_ous.add(ou.logical_id)
                self.add(
                    Change(
                        id=f"organizational-unit.replace:{ou.logical_id}",
                        kind=ChangeKind.ORGANIZATIONAL_UNIT,
                        action=Action.REPLACE,
                        logical_id=ou.logical_id,
                        physical_id=live.ou_id,
                        summary=f"re-parent OU {ou.name} {where}: create it there, move its "
                        f"contents, delete {live.ou_id}",
                        spec=OrganizationalUnitReplace(
                            name=ou.name,
                            parent=parent_key,
                            tags=ou.tags,
                            replaces=live.ou_id,
                            from_parent=live.parent_id,
                        ),
                        after=self.creation(ChangeKind.ORGANIZATIONAL_UNIT, ou.parent),
                    )
                )
                continue
            if live is None:
                self.ou_ids[ou.logical_id] = None
                self.new_ous.add(ou.logical_id)
                self.add(
                    Change(
                        id=f"organizational-unit.create:{ou.logical_id}",
                        kind=ChangeKind.ORGANIZATIONAL_UNIT,
                        action=Action.CREATE,
                        logical_id=ou.logical_id,
                        physical_id=None,
                        summary=f"create OU {ou.name} {where}",
                        spec=OrganizationalUnitCreate(
                            name=ou.name, parent=parent_key, tags=ou.tags
                        ),
                        after=self.creation(ChangeKind.ORGANIZATIONAL_UNIT, ou.parent),
                    )
                )
                continue
            self.ou_ids[ou.logical_id] = live.ou_id
            if ou.logical_id not in self.state.organizational_units:
                self.adopt(ChangeKind.ORGANIZATIONAL_UNIT, ou.logical_id, live.ou_id, ou.name)
            if live.name != ou.name:
                self.add(
                    Change(
                        id=f"organizational-unit.rename:{ou.logical_id}",
                        kind=ChangeKind.ORGANIZATIONAL_UNIT,
                        action=Action.RENAME,
                        logical_id=ou.logical_id,
                        physical_id=live.ou_id,
                        summary=f"rename OU {live.name} to {ou.name}",
                        spec=Rename(before=live.name, after=ou.name),
                    )
                )
            self.plan_tags(
                TargetKind.ORGANIZATIONAL_UNIT, ou.logical_id, live.ou_id, live.tags, ou.tags
            )
        for retired in self.state.retired_organizational_units:
            old = self.live.organizational_units.get(retired)
            if old is None or retired in self.retired:
                continue
            # A re-parent that was interrupted after its new OU was made: finish emptying and
            # deleting the old one. Its replacement is the desired OU of the same name.
            self.retired[retired] = next(
                (
                    ou.logical_id
                    for ou in sorted(
                        self.desired.organizational_units.values(), key=lambda o: o.logical_id
                    )
                    if ou.name == old.name and self.ou_ids.get(ou.logical_id) != retired
                ),
                ROOT,
            )

    def managed_ou_ids(self) -> set[str]:
        return {v for v in self.ou_ids.values() if v}

    # --- accounts -------------------------------------------------------------------------

    def match_account(self, account: Account) -> LiveAccount | None:
        if account.account_id:
            found = self.live.accounts.get(account.account_id)
            if found is None:
                self.errors.append(
                    Diagnostic(
                        "E603",
                        f"account {account.logical_id} has AccountId {account.account_id}, which "
                        f"is not in organization {self.live.organization_id}",
                        account.span,
                    )
                )
            return found
        # The email names an account for good; the state's record of a logical id only stands
        # in when no live account has the email (so a renamed logical id keeps its account).
        if account.email:
            for live in sorted(self.live.accounts.values(), key=lambda a: a.account_id):
                if live.email.lower() == account.email.lower():
                    return live
        known = self.state.accounts.get(account.logical_id)
        if known and known in self.live.accounts:
            return self.live.accounts[known]
        return None

    def plan_accounts(self) -> None:
        management = self.desired.management_account
        if management.account_id != self.live.management_account_id:
            self.errors.append(
                Diagnostic(
                    "E602",
                    f"the MasterAccount {management.logical_id} has AccountId "
                    f"{management.account_id}, but these credentials manage organization "
                    f"{self.live.organization_id} of {self.live.management_account_id}",
                    management.span,
                )
            )
            return
        for account in sorted(self.desired.accounts.values(), key=lambda a: a.logical_id):
            self.plan_account(account)
        self.plan_removed_accounts()
        self.report_unknown_accounts()

    def report_unknown_accounts(self) -> None:
        """W604 for each active account in the organization that neither the files nor the
        state name: orgc leaves it alone, and says so rather than pass over it."""
        known = {*self.account_ids.values(), *self.state.accounts.values()}
        for live in sorted(self.live.accounts.values(), key=lambda a: a.account_id):
            if live.account_id in known or live.status != "ACTIVE":
                continue
            self.warnings.append(
                Diagnostic(
                    "W604",
                    f"account {live.name} ({live.account_id}, {live.email}) is in the "
                    "organization but not in the files; orgc leaves it alone (add it to the "
                    "organization file to manage it)",
                    None,
                )
            )

    def plan_account(self, account: Account) -> None:
        live = self.match_account(account)
        parent_key = self.parent_key(account.parent)
        parent_label = account.parent or "the root"
        if live is None:
            if account.account_id:
                return  # E603 reported
            self.account_ids[account.logical_id] = None
            create = self.add(
                Change(
                    id=f"account.create:{account.logical_id}",
                    kind=ChangeKind.ACCOUNT,
                    action=Action.CREATE,
                    logical_id=account.logical_id,
                    physical_id=None,
                    summary=f"create account {account.name} <{account.email}> in {parent_label}",
                    spec=AccountCreate(
                        name=account.name,
                        email=account.email,
                        role_name=account.access_role_name,
                        tags=account.tags,
                    ),
                )
            )
            if account.parent:
                self.add_move(account, None, parent_key, (create,))
            self.plan_account_settings(account, None)
            return
        self.account_ids[account.logical_id] = live.account_id
        if live.status != "ACTIVE":
            self.warnings.append(
                Diagnostic(
                    "W603",
                    f"account {account.logical_id} ({live.account_id}) is {live.status}; orgc "
                    "leaves it as it is",
                    account.span,
                )
            )
            return
        if account.logical_id not in self.state.accounts:
            self.adopt(ChangeKind.ACCOUNT, account.logical_id, live.account_id, account.name)
        # A name that differs is renamed by orgc.plan.account_names (PutAccountName).
        wanted_parent = self.ou_ids.get(parent_key)
        if parent_key in self.new_ous or wanted_parent != live.parent_id:
            self.add_move(account, live.parent_id, parent_key, ())
        if live.tags_read:  # unread: taken as the last apply left them (see orgc.recorded)
            self.plan_tags(
                TargetKind.ACCOUNT, account.logical_id, live.account_id, live.tags, account.tags
            )
        self.plan_account_settings(account, live)

    def add_move(
        self, account: Account, source: str | None, parent_key: str, after: tuple[str, ...]
    ) -> None:
        target = parent_key if parent_key != ROOT else "the root"
        change = self.add(
            Change(
                id=f"account.move:{account.logical_id}",
                kind=ChangeKind.ACCOUNT,
                action=Action.MOVE,
                logical_id=account.logical_id,
                physical_id=self.account_ids.get(account.logical_id),
                summary=f"move account {account.logical_id} "
                f"from {self.describe_parent(source)} to {target}",
                spec=AccountMove(source=source, destination=parent_key),
                after=after + self.creation(ChangeKind.ORGANIZATIONAL_UNIT, account.parent),
            )
        )
        if source:
            self.moves_out_of.setdefault(source, []).append(change)

    def describe_parent(self, physical_id: str | None) -> str:
        if physical_id is None:
            return "the root"
        if physical_id == self.live.root.root_id:
            return "the root"
        for logical, known in self.ou_ids.items():
            if known == physical_id:
                return f"{logical} ({physical_id})"
        live = self.live.organizational_units.get(physical_id)
        return f"{live.name} ({physical_id})" if live else physical_id

    def plan_account_settings(self, account: Account, live: LiveAccount | None) -> None:
        after = self.creation(ChangeKind.ACCOUNT, account.logical_id)
        role = None if account.management else account.access_role_name
        if account.password_policy:
            wanted = self.desired.password_policies[account.password_policy].settings
            current = live.password_policy if live and live.details_read else None
            if live is None or (live.details_read and current != wanted):
                self.add(
                    Change(
                        id=f"password-policy.update:{account.logical_id}",
                        kind=ChangeKind.PASSWORD_POLICY,
                        action=Action.UPDATE if current else Action.CREATE,
                        logical_id=account.logical_id,
                        physical_id=live.account_id if live else None,
                        summary=f"set password policy {account.password_policy} in account "
                        f"{account.logical_id}",
                        spec=PasswordPolicySet(
                            role_name=role,
                            policy=account.password_policy,
                            before=current,
                            after=wanted,
                        ),
                        after=after,
                    )
                )
        recorded = self.state.account_settings.get(live.account_id) if live else None
        if (
            live is not None
            and live.details_read
            and live.password_policy is not None
            and not account.password_policy
            and recorded is not None
            and recorded.password_policy
        ):
            self.add(
                Change(
                    id=f"password-policy.delete:{account.logical_id}",
                    kind=ChangeKind.PASSWORD_POLICY,
                    action=Action.DELETE,
                    logical_id=account.logical_id,
                    physical_id=live.account_id,
                    summary=f"delete the password policy orgc set in account "
                    f"{account.logical_id} (no PasswordPolicy in the files)",
                    spec=PasswordPolicyDelete(role_name=role, before=live.password_policy),
                )
            )
        if (
            live is not None
            and live.details_read
            and not account.alias
            and recorded is not None
            and recorded.alias is not None
            and live.alias == recorded.alias
        ):
            self.add(
                Change(
                    id=f"alias.delete:{account.logical_id}",
                    kind=ChangeKind.ALIAS,
                    action=Action.DELETE,
                    logical_id=account.logical_id,
                    physical_id=live.account_id,
                    summary=f"delete IAM alias {recorded.alias} of account "
                    f"{account.logical_id} (no Alias in the files)",
                    spec=AliasDelete(role_name=role, alias=recorded.alias),
                )
            )
        if account.alias:
            current_alias = live.alias if live else None
            if live is None or (live.details_read and current_alias != account.alias):
                self.add(
                    Change(
                        id=f"alias.update:{account.logical_id}",
                        kind=ChangeKind.ALIAS,
                        action=Action.UPDATE if current_alias else Action.CREATE,
                        logical_id=account.logical_id,
                        physical_id=live.account_id if live else None,
                        summary=f"set IAM alias {account.alias} in account {account.logical_id}",
                        spec=AliasSet(role_name=role, before=current_alias, after=account.alias),
                        after=after,
                    )
                )

    def close_quota_left(self) -> tuple[int, int, int]:
        """(closes AWS allows now, its quota, closes recorded in the quota's window): 10% of
        the member accounts, between the limits' minimum and maximum, per rolling window."""
        table = limits()
        members = sum(
            1
            for a in self.live.accounts.values()
            if a.status == "ACTIVE" and a.account_id != self.live.management_account_id
        )
        percent = table["closeAccount.perMonth"].value
        quota = min(
            max(members * percent // 100, table["closeAccount.minimum"].value),
            table["closeAccount.maximum"].value,
        )
        window = datetime.timedelta(days=table["closeAccount.windowDays"].value)
        recent = sum(
            1
            for day in self.state.closed_accounts.values()
            if self.today is None or datetime.date.fromisoformat(day) > self.today - window
        )
        return max(quota - recent, 0), quota, recent

    def plan_removed_accounts(self) -> None:
        close = self.desired.root.close_accounts_on_removal
        declared = {v: k for k, v in sorted(self.account_ids.items(), reverse=True) if v}
        allowed, quota, recent = self.close_quota_left()
        closing = 0
        for logical_id, account_id in sorted(self.state.accounts.items()):
            if logical_id in self.desired.accounts:
                continue
            live = self.live.accounts.get(account_id)
            if account_id in declared or account_id == self.live.management_account_id:
                # A logical id renamed in the files, not an account removed: the account is
                # matched under its new name, and never closed for the change of name.
                now = declared.get(account_id, self.desired.management_account.logical_id)
                self.add(
                    Change(
                        id=f"account.forget:{logical_id}",
                        kind=ChangeKind.ACCOUNT,
                        action=Action.FORGET,
                        logical_id=logical_id,
                        physical_id=account_id,
                        summary=f"forget logical id {logical_id} of account {account_id}: the "
                        f"files now declare it as {now}",
                        spec=StateOnly(),
                    )
                )
                continue
            if live is None or live.status != "ACTIVE":
                self.add(
                    Change(
                        id=f"account.forget:{logical_id}",
                        kind=ChangeKind.ACCOUNT,
                        action=Action.FORGET,
                        logical_id=logical_id,
                        physical_id=account_id,
                        summary=f"forget account {logical_id} ({account_id}): no longer active",
                        spec=StateOnly(),
                    )
                )
                continue
            if close and closing >= allowed:
                # AWS refuses closes beyond its quota; this one waits for a later run.
                self.warnings.append(
                    Diagnostic(
                        "W606",
                        f"account {live.name} ({account_id}) waits to be closed: AWS closes "
                        f"{quota} accounts in 30 days here, {recent + closing} of them are "
                        "closed or closing; a later run closes it",
                        None,
                    )
                )
            elif close:
                closing += 1
                self.add(
                    Change(
                        id=f"account.close:{logical_id}",
                        kind=ChangeKind.ACCOUNT,
                        action=Action.CLOSE,
                        logical_id=logical_id,
                        physical_id=account_id,
                        summary=f"close account {live.name} ({account_id}): removed from the "
                        "files and CloseAccountsOnRemoval is true",
                        spec=AccountClose(name=live.name, email=live.email),
                    )
                )
            else:
                self.warnings.append(
                    Diagnostic(
                        "W601",
                        f"account {logical_id} ({account_id}) is no longer in the files; orgc "
                        "forgets it and leaves it in the organization",
                        None,
                    )
                )
                self.add(
                    Change(
                        id=f"account.forget:{logical_id}",
                        kind=ChangeKind.ACCOUNT,
                        action=Action.FORGET,
                        logical_id=logical_id,
                        physical_id=account_id,
                        summary=f"forget account {live.name} ({account_id}); it stays in the "
                        "organization",
                        spec=StateOnly(),
                    )
                )

    # --- attachments ----------------------------------------------------------------------

    def plan_attachments(self) -> None:
        # AWS's own policies (FullAWSAccess) are never orgc's to detach, whatever the state says.
        managed_policies = {
            p
            for p in {v for v in self.policy_ids.values() if v} | set(self.state.policies.values())
            if not (p in self.live.policies and self.live.policies[p].aws_managed)
        }
        targets: list[tuple[TargetKind, str, str | None, tuple[str, ...], tuple[str, ...]]] = []
        root = self.desired.root
        targets.append(
            (
                TargetKind.ROOT,
                ROOT,
                self.live.root.root_id,
                root.policies,
                self.live.root.policy_ids,
            )
        )
        for ou in sorted(self.desired.organizational_units.values(), key=lambda o: o.logical_id):
            physical = self.ou_ids.get(ou.logical_id)
            live_ou = self.live.organizational_units.get(physical or "")
            targets.append(
                (
                    TargetKind.ORGANIZATIONAL_UNIT,
                    ou.logical_id,
                    physical,
                    ou.policies,
                    live_ou.policy_ids if live_ou else (),
                )
            )
        for account in sorted(self.desired.accounts.values(), key=lambda a: a.logical_id):
            physical = self.account_ids.get(account.logical_id)
            if account.logical_id not in self.account_ids:
                continue  # not planned (an error was reported)
            live_account = self.live.accounts.get(physical or "")
            if live_account and live_account.status != "ACTIVE":
                continue
            targets.append(
                (
                    TargetKind.ACCOUNT,
                    account.logical_id,
                    physical,
                    account.policies,
                    live_account.policy_ids if live_account else (),
                )
            )
        for kind, logical_id, physical, wanted, attached in targets:
            wanted_physical = {self.policy_ids.get(p) for p in wanted}
            detaches: list[str] = []
            for policy_id in attached:
                if policy_id in wanted_physical or policy_id not in managed_policies:
                    continue
                live_policy = self.live.policies.get(policy_id)
                name = live_policy.name if live_policy else policy_id
                detaches.append(
                    self.add(
                        Change(
                            id=f"attachment.detach:{policy_id}:{kind}:{logical_id}",
                            kind=ChangeKind.ATTACHMENT,
                            action=Action.DETACH,
                            logical_id=logical_id,
                            physical_id=physical,
                            summary=f"detach {name} from {label(kind, logical_id)}",
                            spec=Detach(policy_id=policy_id, target=kind),
                        )
                    )
                )
            for policy_logical in wanted:
                wanted_id = self.policy_ids.get(policy_logical)
                if wanted_id is not None and wanted_id in attached:
                    continue
                # Detaching first keeps the target within its per-target policy limit.
                self.add(
                    Change(
                        id=f"attachment.attach:{policy_logical}:{kind}:{logical_id}",
                        kind=ChangeKind.ATTACHMENT,
                        action=Action.ATTACH,
                        logical_id=logical_id,
                        physical_id=physical,
                        summary=f"attach {self.desired.policies[policy_logical].name} to "
                        f"{label(kind, logical_id)}",
                        spec=Attach(policy=policy_logical, target=kind),
                        after=self.creation(ChangeKind.POLICY, policy_logical)
                        + self.creation(kind, logical_id)
                        + tuple(detaches),
                    )
                )

    def plan_removed_policies(self) -> None:
        for logical_id, policy_id in sorted(self.state.policies.items()):
            if logical_id in self.desired.policies or policy_id not in self.live.policies:
                continue
            if policy_id in self.policy_ids.values():
                continue  # a logical id renamed in the files: the policy is matched under it
            live = self.live.policies[policy_id]
            if live.aws_managed:
                self.warnings.append(
                    Diagnostic(
                        "W620",
                        f"the state names AWS-managed policy {live.name} ({policy_id}) as "
                        f"{logical_id}; orgc never detaches or deletes it (import the state again "
                        "to drop the record)",
                    )
                )
                continue
            prefix = f"attachment.detach:{policy_id}:"
            detaches = {
                c: self.changes[c].physical_id for c in self.changes if c.startswith(prefix)
            }
            for target_id in self.targets_of(policy_id):
                if target_id in detaches.values():
                    continue
                change_id = self.add(
                    Change(
                        id=f"{prefix}target:{target_id}",
                        kind=ChangeKind.ATTACHMENT,
                        action=Action.DETACH,
                        logical_id=None,
                        physical_id=target_id,
                        summary=f"detach {live.name} from {self.describe_parent(target_id)}",
                        spec=Detach(policy_id=policy_id, target=TargetKind.TARGET),
                    )
                )
                detaches[change_id] = target_id
            self.add(
                Change(
                    id=f"policy.delete:{logical_id}",
                    kind=ChangeKind.POLICY,
                    action=Action.DELETE,
                    logical_id=logical_id,
                    physical_id=policy_id,
                    summary=f"delete {live.policy_type} {live.name}: no longer in the files",
                    spec=PolicyDelete(policy_type=live.policy_type, name=live.name),
                    after=tuple(sorted(detaches)),
                )
            )

    def targets_of(self, policy_id: str) -> list[str]:
        found = []
        if policy_id in self.live.root.policy_ids:
            found.append(self.live.root.root_id)
        found.extend(
            ou.ou_id for ou in self.live.organizational_units.values() if policy_id in ou.policy_ids
        )
        found.extend(a.account_id for a in self.live.accounts.values() if policy_id in a.policy_ids)
        return sorted(found)

    # --- OU removal -----------------------------------------------------------------------

    def plan_removed_organizational_units(self) -> None:
        """Delete OUs orgc manages that the files dropped, and OUs a re-parent replaced."""
        wanted = self.managed_ou_ids()
        doomed: dict[str, str] = {}  # live OU id → why
        for logical_id, ou_id in self.state.organizational_units.items():
            if logical_id not in self.desired.organizational_units and ou_id not in wanted:
                doomed[ou_id] = f"OU {logical_id} is no longer in the files"
        for ou_id, replacement in self.retired.items():
            doomed[ou_id] = f"replaced by {replacement}"
        doomed = {k: v for k, v in doomed.items() if k in self.live.organizational_units}

        # Children first: delete in reverse depth order.
        def depth(ou_id: str) -> int:
            level, current = 0, self.live.organizational_units.get(ou_id)
            while current is not None:
                level += 1
                current = self.live.organizational_units.get(current.parent_id)
            return level

        moved_accounts = {
            self.changes[c].physical_id for ids in self.moves_out_of.values() for c in ids
        }
        for ou_id in sorted(doomed, key=lambda o: (-depth(o), o)):
            live = self.live.organizational_units[ou_id]
            after: list[str] = list(self.moves_out_of.get(ou_id, []))
            if ou_id in self.retired:
                # The replacement exists before the old OU goes, so a crash in between never
                # leaves the OU missing altogether.
                after.extend(self.creation(ChangeKind.ORGANIZATIONAL_UNIT, self.retired[ou_id]))
            blockers = []
            for account in self.live.accounts.values():
                if account.parent_id != ou_id or account.account_id in moved_accounts:
                    continue
                if ou_id in self.retired:
                    # Unmanaged accounts follow their OU to its new place.
                    replacement = self.retired[ou_id]
                    after.append(
                        self.add(
                            Change(
                                id=f"account.move-unmanaged:{account.account_id}",
                                kind=ChangeKind.ACCOUNT,
                                action=Action.MOVE,
                                logical_id=None,
                                physical_id=account.account_id,
                                summary=f"move unmanaged account {account.name} "
                                f"({account.account_id}) along with its OU to {replacement}",
                                spec=AccountMove(source=ou_id, destination=replacement),
                                after=self.creation(ChangeKind.ORGANIZATIONAL_UNIT, replacement),
                            )
                        )
                    )
                else:
                    blockers.append(f"account {account.name} ({account.account_id})")
            for child in self.live.organizational_units.values():
                if child.parent_id != ou_id:
                    continue
                if child.ou_id in doomed:
                    after.append(f"organizational-unit.delete:{child.ou_id}")
                elif child.ou_id not in wanted:
                    blockers.append(f"OU {child.name} ({child.ou_id})")
            if blockers:
                self.errors.append(
                    Diagnostic(
                        "E601",
                        f"cannot delete OU {live.name} ({ou_id}, {doomed[ou_id]}): it holds "
                        f"{', '.join(sorted(blockers))}, which orgc does not manage",
                        None,
                    )
                )
                continue
            for change_id in list(self.changes):
                change = self.changes[change_id]
                # Child OUs re-created elsewhere must exist before their old parent goes.
                spec = change.spec
                if isinstance(spec, OrganizationalUnitReplace) and spec.from_parent == ou_id:
                    after.append(change_id)
            self.add(
                Change(
                    id=f"organizational-unit.delete:{ou_id}",
                    kind=ChangeKind.ORGANIZATIONAL_UNIT,
                    action=Action.DELETE,
                    logical_id=None,
                    physical_id=ou_id,
                    summary=f"delete OU {live.name} ({ou_id}): {doomed[ou_id]}",
                    spec=OrganizationalUnitDelete(name=live.name, retired=ou_id in self.retired),
                    after=tuple(sorted(set(after))),
                )
            )

    # --- result ---------------------------------------------------------------------------

    def ordered(self) -> tuple[Change, ...]:
        """Changes in a deterministic order that respects `after`."""
        known = set(self.changes)
        graph = TopologicalSorter[str]()
        for change_id in sorted(self.changes):
            change = self.changes[change_id]
            graph.add(change_id, *(a for a in change.after if a in known))
        graph.prepare()
        kind_rank = {kind: i for i, kind in enumerate(KINDS)}
        result: list[Change] = []
        while graph.is_active():
            ready = sorted(graph.get_ready(), key=lambda c: (kind_rank[self.changes[c].kind], c))
            for change_id in ready:
                change = self.changes[change_id]
                result.append(
                    dataclasses.replace(change, after=tuple(a for a in change.after if a in known))
                )
                graph.done(change_id)
        return tuple(result)
