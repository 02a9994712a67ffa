"""Apply for the organization: policies, OUs, accounts, attachments, tags, aliases, passwords.

Each handler makes one change through the Organizations (or, inside an account, IAM) verbs of
the provider and records the ids it creates or removes at once, so a later change of the same run
and the next plan both find them.
"""

from __future__ import annotations

import dataclasses
import datetime

from orgc.apply.run import (
    ACCOUNTS,
    ORGANIZATIONAL_UNITS,
    POLICIES,
    Handler,
    Run,
    taking,
)
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.specs import (
    AccountClose,
    AccountCreate,
    AccountMove,
    AliasDelete,
    AliasSet,
    Attach,
    Detach,
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
from orgc.state import AccountSettingsRecord, State, with_alias, with_password_policy

_TABLE = {
    ChangeKind.ACCOUNT: ACCOUNTS,
    ChangeKind.ORGANIZATIONAL_UNIT: ORGANIZATIONAL_UNITS,
    ChangeKind.POLICY: POLICIES,
}

_TARGET_TABLE = {
    TargetKind.ACCOUNT: ACCOUNTS,
    TargetKind.ORGANIZATIONAL_UNIT: ORGANIZATIONAL_UNITS,
    TargetKind.POLICY: POLICIES,
}


def _logical_id(change: Change) -> str:
    if change.logical_id is None:
        raise RuntimeError(f"{change.id} names no logical id")
    return change.logical_id


def _physical_id(change: Change) -> str:
    if change.physical_id is None:
        raise RuntimeError(f"{change.id} names no physical id")
    return change.physical_id


def _target_id(run: Run, change: Change, target: TargetKind) -> str:
    if target is TargetKind.ROOT:
        return run.root_id()
    if target is TargetKind.TARGET:  # a physical id given as is
        return _physical_id(change)
    return change.physical_id or run.physical(_TARGET_TABLE[target], _logical_id(change))


def _account_id(run: Run, change: Change) -> str:
    return change.physical_id or run.physical(ACCOUNTS, _logical_id(change))


def _enable_policy_type(run: Run, change: Change, spec: PolicyTypeEnable) -> None:
    run.provider.enable_policy_type(run.root_id(), spec.policy_type)


def _adopt(run: Run, change: Change, spec: StateOnly) -> None:
    run.record(_TABLE[change.kind], _logical_id(change), change.physical_id)


def _create_policy(run: Run, change: Change, spec: PolicyCreate) -> None:
    policy_id = run.provider.create_policy(
        policy_type=spec.policy_type,
        name=spec.name,
        description=spec.description,
        content=spec.document,
        tags=spec.tags,
    )
    run.record(POLICIES, _logical_id(change), policy_id)


def _update_policy(run: Run, change: Change, spec: PolicyUpdate) -> None:
    run.provider.update_policy(
        _physical_id(change), name=spec.name, description=spec.description, content=spec.document
    )


def _delete_policy(run: Run, change: Change, spec: PolicyDelete) -> None:
    logical_id = _logical_id(change)
    run.provider.delete_policy(_physical_id(change))
    run.record(POLICIES, logical_id, None)


def _create_ou(run: Run, change: Change, spec: OrganizationalUnitCreate) -> None:
    parent_id = run.physical(ORGANIZATIONAL_UNITS, spec.parent)
    ou_id = run.provider.create_organizational_unit(parent_id, spec.name, spec.tags)
    run.record(ORGANIZATIONAL_UNITS, _logical_id(change), ou_id)


def _replace_ou(run: Run, change: Change, spec: OrganizationalUnitReplace) -> None:
    logical_id, retired = _logical_id(change), _physical_id(change)
    parent_id = run.physical(ORGANIZATIONAL_UNITS, spec.parent)
    ou_id = run.provider.create_organizational_unit(parent_id, spec.name, spec.tags)
    # Record the new id and the old one to be emptied and deleted in one write, so a crash right
    # after leaves a state that the next plan can finish from.
    run.remember_id(ORGANIZATIONAL_UNITS, logical_id, ou_id)
    run.update_state(
        lambda current: dataclasses.replace(
            current,
            organizational_units={**current.organizational_units, logical_id: ou_id},
            retired_organizational_units=tuple(
                sorted({*current.retired_organizational_units, retired})
            ),
        ),
        now=True,
    )


def _rename_ou(run: Run, change: Change, spec: Rename) -> None:
    run.provider.rename_organizational_unit(_physical_id(change), spec.after)


def _delete_ou(run: Run, change: Change, spec: OrganizationalUnitDelete) -> None:
    deleted = _physical_id(change)
    run.provider.delete_organizational_unit(deleted)
    run.update_state(
        lambda current: dataclasses.replace(
            current,
            organizational_units={
                k: v for k, v in current.organizational_units.items() if v != deleted
            },
            retired_organizational_units=tuple(
                r for r in current.retired_organizational_units if r != deleted
            ),
        ),
        now=True,
    )


def _create_account(run: Run, change: Change, spec: AccountCreate) -> None:
    account_id = run.provider.create_account(
        name=spec.name, email=spec.email or "", role_name=spec.role_name, tags=spec.tags
    )
    run.record(ACCOUNTS, _logical_id(change), account_id)


def _move_account(run: Run, change: Change, spec: AccountMove) -> None:
    # Without a logical id: an unmanaged account following its OU.
    account_id = _physical_id(change) if change.logical_id is None else _account_id(run, change)
    source = spec.source or run.root_id()
    destination = run.physical(ORGANIZATIONAL_UNITS, spec.destination)
    run.provider.move_account(account_id, source, destination)


def _close_account(run: Run, change: Change, spec: AccountClose) -> None:
    logical_id, account_id = _logical_id(change), _physical_id(change)
    run.provider.close_account(account_id)
    run.record(ACCOUNTS, logical_id, None)
    # The day counts against AWS's close quota of a rolling window (orgc.plan.organization).
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    run.update_state(
        lambda state: dataclasses.replace(
            state,
            closed_accounts={**state.closed_accounts, account_id: day},
            account_settings=_without_settings(state, account_id),
        )
    )


def _forget_account(run: Run, change: Change, spec: StateOnly) -> None:
    run.record(ACCOUNTS, _logical_id(change), None)
    # What orgc set inside it is no longer orgc's either: were the account named again, an
    # alias left there would not be deleted as orgc's.
    account_id = change.physical_id
    if account_id is not None:
        run.update_state(
            lambda state: dataclasses.replace(
                state, account_settings=_without_settings(state, account_id)
            )
        )


def _without_settings(state: State, account_id: str) -> dict[str, AccountSettingsRecord]:
    return {a: r for a, r in state.account_settings.items() if a != account_id}


def _update_tags(run: Run, change: Change, spec: TagsUpdate) -> None:
    resource_id = _target_id(run, change, spec.target)
    if spec.remove:
        run.provider.untag_resource(resource_id, list(spec.remove))
    if spec.add:
        run.provider.tag_resource(resource_id, spec.add)


def _attach(run: Run, change: Change, spec: Attach) -> None:
    policy_id = run.physical(POLICIES, spec.policy)
    run.provider.attach_policy(policy_id, _target_id(run, change, spec.target))


def _detach(run: Run, change: Change, spec: Detach) -> None:
    run.provider.detach_policy(spec.policy_id, _target_id(run, change, spec.target))


def _password_policy(run: Run, change: Change, spec: PasswordPolicySet) -> None:
    account_id = _account_id(run, change)
    run.provider.set_password_policy(account_id, spec.role_name or "", spec.after)
    _note_password_policy(run, account_id, present=True)


def _delete_password_policy(run: Run, change: Change, spec: PasswordPolicyDelete) -> None:
    account_id = _account_id(run, change)
    run.provider.set_password_policy(account_id, spec.role_name or "", None)
    _note_password_policy(run, account_id, present=False)


def _note_password_policy(run: Run, account_id: str, *, present: bool) -> None:
    run.update_state(
        lambda state: dataclasses.replace(
            state,
            account_settings=with_password_policy(state.account_settings, account_id, present),
        )
    )


def _alias(run: Run, change: Change, spec: AliasSet) -> None:
    account_id = _account_id(run, change)
    run.provider.set_account_alias(account_id, spec.role_name or "", spec.after)
    _note_alias(run, account_id, spec.after)


def _delete_alias(run: Run, change: Change, spec: AliasDelete) -> None:
    account_id = _account_id(run, change)
    run.provider.set_account_alias(account_id, spec.role_name or "", None)
    _note_alias(run, account_id, None)


def _note_alias(run: Run, account_id: str, alias: str | None) -> None:
    run.update_state(
        lambda state: dataclasses.replace(
            state, account_settings=with_alias(state.account_settings, account_id, alias)
        )
    )


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.POLICY_TYPE, Action.ENABLE): taking(PolicyTypeEnable, _enable_policy_type),
    (ChangeKind.POLICY, Action.ADOPT): taking(StateOnly, _adopt),
    (ChangeKind.POLICY, Action.CREATE): taking(PolicyCreate, _create_policy),
    (ChangeKind.POLICY, Action.UPDATE): taking(PolicyUpdate, _update_policy),
    (ChangeKind.POLICY, Action.DELETE): taking(PolicyDelete, _delete_policy),
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.ADOPT): taking(StateOnly, _adopt),
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.CREATE): taking(OrganizationalUnitCreate, _create_ou),
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.REPLACE): taking(
        OrganizationalUnitReplace, _replace_ou
    ),
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.RENAME): taking(Rename, _rename_ou),
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.DELETE): taking(OrganizationalUnitDelete, _delete_ou),
    (ChangeKind.ACCOUNT, Action.ADOPT): taking(StateOnly, _adopt),
    (ChangeKind.ACCOUNT, Action.CREATE): taking(AccountCreate, _create_account),
    (ChangeKind.ACCOUNT, Action.MOVE): taking(AccountMove, _move_account),
    (ChangeKind.ACCOUNT, Action.CLOSE): taking(AccountClose, _close_account),
    (ChangeKind.ACCOUNT, Action.FORGET): taking(StateOnly, _forget_account),
    (ChangeKind.TAGS, Action.UPDATE): taking(TagsUpdate, _update_tags),
    (ChangeKind.ATTACHMENT, Action.ATTACH): taking(Attach, _attach),
    (ChangeKind.ATTACHMENT, Action.DETACH): taking(Detach, _detach),
    (ChangeKind.PASSWORD_POLICY, Action.CREATE): taking(PasswordPolicySet, _password_policy),
    (ChangeKind.PASSWORD_POLICY, Action.UPDATE): taking(PasswordPolicySet, _password_policy),
    (ChangeKind.ALIAS, Action.CREATE): taking(AliasSet, _alias),
    (ChangeKind.PASSWORD_POLICY, Action.DELETE): taking(
        PasswordPolicyDelete, _delete_password_policy
    ),
    (ChangeKind.ALIAS, Action.UPDATE): taking(AliasSet, _alias),
    (ChangeKind.ALIAS, Action.DELETE): taking(AliasDelete, _delete_alias),
}
