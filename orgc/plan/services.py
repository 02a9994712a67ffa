"""Planning trusted service access and delegated administrators.

For every service principal the files declare, trusted access is enabled when AWS has it off,
and the delegated administrators become exactly the declared accounts: those missing are
registered, others deregistered (the files own the list of a declared principal). A principal
orgc enabled (it is in the state) and the files no longer declare has its administrators
deregistered and its access disabled. Access enabled by someone else and not declared is left
alone: other services (Control Tower, IAM Identity Center) enable their own.

AWS's order is kept with `after`: access is enabled before an administrator is registered, an
administrator is deregistered before access is disabled, and before another is registered for
the same service (most services take one administrator at a time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orgc.observed import LiveServiceAccess
from orgc.plan.document import Change
from orgc.plan.specs import Action, ChangeKind, DelegatedAdministratorSet, ServiceAccessSet
from orgc.services import ServiceAccess, known_principals
from orgc.state import State


def _service(principal: str) -> str:
    known = known_principals().get(principal)
    return f"{known.service} ({principal})" if known else principal


def plan_services(
    desired: Sequence[ServiceAccess],
    live: LiveServiceAccess,
    state: State,
    *,
    account_ids: Mapping[str, str | None],
    planned: frozenset[str],
    organization_group: str,
) -> tuple[Change, ...]:
    """The changes that make AWS's trusted access and delegated administrators match the
    files. `account_ids` are the plan's (None: created by this plan), `planned` the ids of the
    plan's changes so far (an administrator in a new account waits for its creation)."""
    by_id = {physical: logical for logical, physical in account_ids.items() if physical}
    changes: list[Change] = []

    def named(account_id: str) -> str:
        logical = by_id.get(account_id)
        return f"{logical} ({account_id})" if logical else f"account {account_id}"

    def deregister(principal: str, account_id: str, why: str) -> str:
        change_id = f"delegated-administrator.deregister:{principal}/{account_id}"
        changes.append(
            Change(
                id=change_id,
                kind=ChangeKind.DELEGATED_ADMINISTRATOR,
                action=Action.DEREGISTER,
                logical_id=by_id.get(account_id),
                physical_id=account_id,
                summary=f"deregister {named(account_id)} as delegated administrator of "
                f"{_service(principal)}: {why}",
                spec=DelegatedAdministratorSet(
                    service_principal=principal,
                    account=by_id.get(account_id),
                    account_id=account_id,
                ),
                group=organization_group,
            )
        )
        return change_id

    for access in desired:
        principal = access.service_principal
        enable: tuple[str, ...] = ()
        if principal not in live.enabled:
            why = " again: it was disabled outside orgc" if principal in state.services else ""
            enable = (f"service-access.enable:{principal}",)
            changes.append(
                Change(
                    id=enable[0],
                    kind=ChangeKind.SERVICE_ACCESS,
                    action=Action.ENABLE,
                    logical_id=access.logical_id,
                    physical_id=principal,
                    summary=f"enable trusted access for {_service(principal)}{why}",
                    spec=ServiceAccessSet(service_principal=principal, service=_service(principal)),
                    group=organization_group,
                )
            )
        wanted = {account_ids.get(a) or f"new:{a}": a for a in access.delegated_administrators}
        registered = live.administrators.get(principal, ())
        removed = tuple(
            deregister(principal, account_id, "the files name other accounts")
            for account_id in registered
            if account_id not in wanted
        )
        recorded = state.services.get(principal, ())
        for key, logical_id in sorted(wanted.items(), key=lambda item: item[1]):
            if key in registered:
                continue
            account_id = account_ids.get(logical_id)
            creation = f"account.create:{logical_id}"
            why = " again: it was deregistered outside orgc" if key in recorded else ""
            changes.append(
                Change(
                    id=f"delegated-administrator.register:{principal}/{logical_id}",
                    kind=ChangeKind.DELEGATED_ADMINISTRATOR,
                    action=Action.REGISTER,
                    logical_id=logical_id,
                    physical_id=account_id,
                    summary=f"register {logical_id} ({account_id or 'known after apply'}) as "
                    f"delegated administrator of {_service(principal)}{why}",
                    spec=DelegatedAdministratorSet(
                        service_principal=principal, account=logical_id, account_id=account_id
                    ),
                    after=tuple(
                        sorted({*enable, *removed, *((creation,) if creation in planned else ())})
                    ),
                    group=organization_group,
                )
            )

    declared = {access.service_principal for access in desired}
    for principal in sorted(set(state.services) - declared):
        removed = tuple(
            deregister(principal, account_id, "its ServiceAccess is no longer in the files")
            for account_id in live.administrators.get(principal, ())
        )
        if principal not in live.enabled:
            continue
        changes.append(
            Change(
                id=f"service-access.disable:{principal}",
                kind=ChangeKind.SERVICE_ACCESS,
                action=Action.DISABLE,
                logical_id=None,
                physical_id=principal,
                summary=f"disable trusted access for {_service(principal)}: its ServiceAccess "
                "is no longer in the files",
                spec=ServiceAccessSet(service_principal=principal, service=_service(principal)),
                after=tuple(sorted(removed)),
                group=organization_group,
            )
        )
    return tuple(sorted(changes, key=lambda c: c.id))
