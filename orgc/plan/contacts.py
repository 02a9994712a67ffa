"""Planning alternate contacts: each account's billing, operations and security contacts made
what the files give it (its own, or inherited from its OU or the root).

A contact that differs from AWS's is put; a contact type orgc set before (the state) that the
files no longer give the account is deleted; contacts orgc never set are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from orgc.diagnostics import Diagnostic
from orgc.observed import ContactDetails
from orgc.plan.document import Change
from orgc.plan.specs import Action, AlternateContactSet, ChangeKind
from orgc.state import State

ACCOUNT_MANAGEMENT = "account.amazonaws.com"


def plan_contacts(
    desired: Mapping[str, Mapping[str, ContactDetails]],
    live: Mapping[str, Mapping[str, ContactDetails]],
    state: State,
    *,
    account_ids: Mapping[str, str | None],
    management: str,
    planned: frozenset[str],
    organization_group: str,
    access: bool,
) -> tuple[tuple[Change, ...], tuple[Diagnostic, ...]]:
    """`desired`: account logical id → type → contact; `live`: account id → type → contact as
    read (accounts not read are absent); `management`: the management account's logical id;
    `access`: Account Management's trusted access is enabled or enabled by this plan (without
    it, member accounts' contacts cannot be set: W605)."""
    by_id = {physical: logical for logical, physical in account_ids.items() if physical}
    changes: list[Change] = []
    # AWS takes these calls for member accounts once Account Management has trusted access.
    enable = f"service-access.enable:{ACCOUNT_MANAGEMENT}"
    needs_access = (enable,) if enable in planned else ()
    warnings: list[Diagnostic] = []
    for logical_id, contacts in sorted(desired.items()):
        if logical_id != management and not access:
            warnings.append(
                Diagnostic(
                    "W605",
                    f"the alternate contacts of account {logical_id} are not set: AWS sets a "
                    f"member account's contacts only with trusted access for "
                    f"{ACCOUNT_MANAGEMENT}; declare an Orgc::ORG::ServiceAccess for it",
                    None,
                )
            )
            continue
        account_id = account_ids.get(logical_id)
        current = live.get(account_id, {}) if account_id else {}
        creation = f"account.create:{logical_id}"
        for contact_type, wanted in sorted(contacts.items()):
            before = current.get(contact_type)
            if before == wanted:
                continue
            action = Action.UPDATE if before else Action.CREATE
            changes.append(
                Change(
                    id=f"alternate-contact.{action}:{logical_id}/{contact_type}",
                    kind=ChangeKind.ALTERNATE_CONTACT,
                    action=action,
                    logical_id=logical_id,
                    physical_id=account_id,
                    summary=f"set the {contact_type.lower()} contact of account {logical_id} to "
                    f"{wanted.name} <{wanted.email_address}>",
                    spec=AlternateContactSet(
                        account=logical_id,
                        account_id=account_id,
                        management=logical_id == management,
                        contact_type=contact_type,
                        before=before,
                        after=wanted,
                    ),
                    after=tuple(
                        sorted(
                            {
                                *((creation,) if creation in planned else ()),
                                *(needs_access if logical_id != management else ()),
                            }
                        )
                    ),
                    group=organization_group,
                )
            )
    for account_id, types in sorted(state.contacts.items()):
        known = by_id.get(account_id)
        still = desired.get(known or "", {})
        for contact_type in types:
            before = live.get(account_id, {}).get(contact_type)
            if contact_type in still or before is None:
                continue
            changes.append(
                Change(
                    id=f"alternate-contact.delete:{account_id}/{contact_type}",
                    kind=ChangeKind.ALTERNATE_CONTACT,
                    action=Action.DELETE,
                    logical_id=known,
                    physical_id=account_id,
                    summary=f"delete the {contact_type.lower()} contact of account "
                    f"{known or account_id}: the files no longer give it one",
                    spec=AlternateContactSet(
                        account=known,
                        account_id=account_id,
                        management=known == management,
                        contact_type=contact_type,
                        before=before,
                        after=None,
                    ),
                    group=organization_group,
                )
            )
    return tuple(changes), tuple(warnings)
