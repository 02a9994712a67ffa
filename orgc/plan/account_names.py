"""Planning account names: an account whose name in AWS differs from the files' is renamed
with the Account Management API's PutAccountName.

AWS renames a member account only once trusted access for Account Management
(account.amazonaws.com) is enabled; where it is neither enabled nor declared, the rename cannot
be made and the plan says so (W602) instead. The management account renames itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from orgc.diagnostics import Diagnostic
from orgc.model import Organization
from orgc.observed import LiveOrganization
from orgc.plan.document import Change
from orgc.plan.specs import AccountRename, Action, ChangeKind

ACCOUNT_MANAGEMENT = "account.amazonaws.com"


def renamed_accounts(
    organization: Organization, live: LiveOrganization, account_ids: Mapping[str, str | None]
) -> list[tuple[str, str, str]]:
    """(logical id, account id, name in AWS) of each active account whose name differs."""
    found = []
    for account in sorted(organization.accounts.values(), key=lambda a: a.logical_id):
        account_id = account_ids.get(account.logical_id)
        current = live.accounts.get(account_id or "")
        if current is not None and current.status == "ACTIVE" and current.name != account.name:
            found.append((account.logical_id, current.account_id, current.name))
    return found


def plan_account_names(
    organization: Organization,
    renamed: list[tuple[str, str, str]],
    *,
    access: bool,
    planned: frozenset[str],
    organization_group: str,
) -> tuple[tuple[Change, ...], tuple[Diagnostic, ...]]:
    """`access`: trusted access for Account Management is enabled, or this plan enables it
    (then `planned` holds the change that does)."""
    enable = f"service-access.enable:{ACCOUNT_MANAGEMENT}"
    changes: list[Change] = []
    warnings: list[Diagnostic] = []
    for logical_id, account_id, current in renamed:
        account = organization.accounts[logical_id]
        if not account.management and not access:
            warnings.append(
                Diagnostic(
                    "W602",
                    f"account {logical_id} is named {current!r} in AWS, {account.name!r} in the "
                    f"file; AWS renames a member account only with trusted access for "
                    f"{ACCOUNT_MANAGEMENT}: declare an Orgc::ORG::ServiceAccess for it",
                    account.span,
                )
            )
            continue
        changes.append(
            Change(
                id=f"account.rename:{logical_id}",
                kind=ChangeKind.ACCOUNT,
                action=Action.RENAME,
                logical_id=logical_id,
                physical_id=account_id,
                summary=f"rename account {logical_id} ({account_id}) from {current!r} to "
                f"{account.name!r}",
                spec=AccountRename(
                    before=current, after=account.name, management=account.management
                ),
                after=(enable,) if enable in planned and not account.management else (),
                group=organization_group,
            )
        )
    return tuple(changes), tuple(warnings)
