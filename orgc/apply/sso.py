"""Apply for IAM Identity Center: permission sets created, updated (then provisioned again),
deleted; account assignments created and deleted, each waited for through its status call (in
orgc.aws.sso) and recorded in the state as soon as AWS confirms it."""

from __future__ import annotations

import dataclasses

from orgc.apply.run import ACCOUNTS, Handler, Run, taking
from orgc.observed import AccountAssignment
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.specs import AssignmentChange, PermissionSetChange
from orgc.state import AssignmentRecord, State


def _record_set(run: Run, logical_id: str, arn: str | None) -> None:
    def edit(state: State) -> State:
        sets = {k: v for k, v in state.permission_sets.items() if k != logical_id}
        kept = state.assignments
        if arn is not None:
            sets[logical_id] = arn
        else:
            gone = state.permission_sets.get(logical_id)
            kept = tuple(r for r in kept if r.permission_set_arn != gone)
        return dataclasses.replace(
            state, permission_sets=dict(sorted(sets.items())), assignments=kept
        )

    run.update_state(edit)


def _logical_id(change: Change) -> str:
    assert change.logical_id is not None, change.id
    return change.logical_id


def _create_set(run: Run, change: Change, spec: PermissionSetChange) -> None:
    assert spec.after is not None
    arn = run.provider.create_permission_set(spec.instance_arn, spec.after)
    _record_set(run, _logical_id(change), arn)


def _update_set(run: Run, change: Change, spec: PermissionSetChange) -> None:
    assert spec.arn is not None
    assert spec.before is not None
    assert spec.after is not None
    run.provider.update_permission_set(spec.instance_arn, spec.arn, spec.before, spec.after)
    _record_set(run, _logical_id(change), spec.arn)
    if spec.provision:
        run.provider.provision_permission_set(spec.instance_arn, spec.arn)


def _delete_set(run: Run, change: Change, spec: PermissionSetChange) -> None:
    assert spec.arn is not None
    run.provider.delete_permission_set(spec.instance_arn, spec.arn)
    _record_set(run, _logical_id(change), None)


def _held(run: Run, spec: AssignmentChange) -> AccountAssignment:
    arn = spec.permission_set_arn
    if arn is None:
        arn = run.state.permission_sets.get(spec.permission_set or "")
        if arn is None:
            raise RuntimeError(
                f"permission set {spec.permission_set} has no ARN yet; the change that creates "
                "it did not run"
            )
    account_id = spec.account_id or run.physical(ACCOUNTS, spec.account or "")
    return AccountAssignment(
        permission_set_arn=arn,
        principal_type=spec.principal_type,
        principal_id=spec.principal_id,
        account_id=account_id,
    )


def _record(held: AccountAssignment, spec: AssignmentChange) -> AssignmentRecord:
    return AssignmentRecord(
        permission_set_arn=held.permission_set_arn,
        principal_type=held.principal_type,
        principal_id=held.principal_id,
        account_id=held.account_id,
        permission_set=spec.permission_set or spec.permission_set_name,
        principal=spec.principal,
    )


def _create_assignment(run: Run, change: Change, spec: AssignmentChange) -> None:
    held = _held(run, spec)
    run.provider.create_account_assignment(spec.instance_arn, held)
    record = _record(held, spec)
    run.update_state(
        lambda state: dataclasses.replace(
            state, assignments=tuple(sorted({*state.assignments, record}))
        )
    )


def _delete_assignment(run: Run, change: Change, spec: AssignmentChange) -> None:
    held = _held(run, spec)
    run.provider.delete_account_assignment(spec.instance_arn, held)

    def edit(state: State) -> State:
        kept = tuple(
            r
            for r in state.assignments
            if (r.permission_set_arn, r.principal_type, r.principal_id, r.account_id)
            != (held.permission_set_arn, held.principal_type, held.principal_id, held.account_id)
        )
        return dataclasses.replace(state, assignments=kept)

    run.update_state(edit)


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.PERMISSION_SET, Action.CREATE): taking(PermissionSetChange, _create_set),
    (ChangeKind.PERMISSION_SET, Action.UPDATE): taking(PermissionSetChange, _update_set),
    (ChangeKind.PERMISSION_SET, Action.ADOPT): taking(PermissionSetChange, _update_set),
    (ChangeKind.PERMISSION_SET, Action.DELETE): taking(PermissionSetChange, _delete_set),
    (ChangeKind.ACCOUNT_ASSIGNMENT, Action.CREATE): taking(AssignmentChange, _create_assignment),
    (ChangeKind.ACCOUNT_ASSIGNMENT, Action.DELETE): taking(AssignmentChange, _delete_assignment),
}
