"""Apply for account settings made with the Account Management API through the management
account: alternate contacts (recorded in the state, `State.contacts`) and account names."""

from __future__ import annotations

import dataclasses

from orgc.apply.run import ACCOUNTS, Handler, Run, taking
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.specs import AccountRename, AlternateContactSet
from orgc.state import State


def _set_contact(run: Run, change: Change, spec: AlternateContactSet) -> None:
    account_id = spec.account_id or run.physical(ACCOUNTS, spec.account or "")
    addressed = None if spec.management else account_id
    if spec.after is None:
        run.provider.delete_alternate_contact(addressed, spec.contact_type)
    else:
        run.provider.put_alternate_contact(addressed, spec.contact_type, spec.after)
    contact_type, keep = spec.contact_type, spec.after is not None

    def edit(state: State) -> State:
        types = set(state.contacts.get(account_id, ())) - {contact_type}
        types |= {contact_type} if keep else set()
        contacts = {a: t for a, t in state.contacts.items() if a != account_id}
        if types:
            contacts[account_id] = tuple(sorted(types))
        return dataclasses.replace(state, contacts=dict(sorted(contacts.items())))

    run.update_state(edit)


def _rename(run: Run, change: Change, spec: AccountRename) -> None:
    run.provider.rename_account(None if spec.management else change.physical_id, spec.after)


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.ALTERNATE_CONTACT, Action.CREATE): taking(AlternateContactSet, _set_contact),
    (ChangeKind.ALTERNATE_CONTACT, Action.UPDATE): taking(AlternateContactSet, _set_contact),
    (ChangeKind.ALTERNATE_CONTACT, Action.DELETE): taking(AlternateContactSet, _set_contact),
    (ChangeKind.ACCOUNT, Action.RENAME): taking(AccountRename, _rename),
}
