"""Apply for trusted service access and delegated administrators: one Organizations call per
change, each recorded in the state (`State.services`) as soon as it is made."""

from __future__ import annotations

import dataclasses

from orgc.apply.run import ACCOUNTS, Handler, Run, taking
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.specs import DelegatedAdministratorSet, ServiceAccessSet
from orgc.state import State


def _with_administrators(state: State, principal: str, administrators: set[str]) -> State:
    services = {**state.services, principal: tuple(sorted(administrators))}
    return dataclasses.replace(state, services=dict(sorted(services.items())))


def _enable(run: Run, change: Change, spec: ServiceAccessSet) -> None:
    run.provider.enable_service_access(spec.service_principal)
    principal = spec.service_principal
    run.update_state(
        lambda state: _with_administrators(state, principal, set(state.services.get(principal, ())))
    )


def _disable(run: Run, change: Change, spec: ServiceAccessSet) -> None:
    run.provider.disable_service_access(spec.service_principal)
    principal = spec.service_principal
    run.update_state(
        lambda state: dataclasses.replace(
            state, services={p: a for p, a in state.services.items() if p != principal}
        )
    )


def _account_id(run: Run, spec: DelegatedAdministratorSet) -> str:
    if spec.account_id is not None:
        return spec.account_id
    return run.physical(ACCOUNTS, spec.account or "")


def _register(run: Run, change: Change, spec: DelegatedAdministratorSet) -> None:
    account_id = _account_id(run, spec)
    run.provider.register_delegated_administrator(account_id, spec.service_principal)
    principal = spec.service_principal
    run.update_state(
        lambda state: _with_administrators(
            state, principal, {*state.services.get(principal, ()), account_id}
        )
    )


def _deregister(run: Run, change: Change, spec: DelegatedAdministratorSet) -> None:
    account_id = _account_id(run, spec)
    run.provider.deregister_delegated_administrator(account_id, spec.service_principal)
    principal = spec.service_principal

    def edit(state: State) -> State:
        if principal not in state.services:
            return state
        return _with_administrators(state, principal, set(state.services[principal]) - {account_id})

    run.update_state(edit)


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.SERVICE_ACCESS, Action.ENABLE): taking(ServiceAccessSet, _enable),
    (ChangeKind.SERVICE_ACCESS, Action.DISABLE): taking(ServiceAccessSet, _disable),
    (ChangeKind.DELEGATED_ADMINISTRATOR, Action.REGISTER): taking(
        DelegatedAdministratorSet, _register
    ),
    (ChangeKind.DELEGATED_ADMINISTRATOR, Action.DEREGISTER): taking(
        DelegatedAdministratorSet, _deregister
    ),
}
