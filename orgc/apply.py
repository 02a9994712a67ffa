"""Stage 8, apply: carry out a `Plan` through the provider, in dependency order.

A DAG scheduler, not waves: a change starts as soon as every change it comes `after` is done,
with bounded concurrency. Each change that makes or removes something orgc tracks is written to
the state as soon as it finishes, so an interrupted run loses nothing and the next plan resumes
from where it stopped. A failed change skips only the changes that depend on it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from orgc.observed import PasswordPolicySettings
from orgc.plan import ROOT, Change, Plan
from orgc.state import State


class Provider(Protocol):
    """The AWS verbs apply needs (orgc.aws.AwsProvider implements them)."""

    def enable_policy_type(self, root_id: str, policy_type: str) -> None: ...
    def create_policy(
        self,
        *,
        policy_type: str,
        name: str,
        description: str,
        content: str,
        tags: Mapping[str, str],
    ) -> str: ...
    def update_policy(
        self, policy_id: str, *, name: str, description: str, content: str
    ) -> None: ...
    def delete_policy(self, policy_id: str) -> None: ...
    def attach_policy(self, policy_id: str, target_id: str) -> None: ...
    def detach_policy(self, policy_id: str, target_id: str) -> None: ...
    def create_organizational_unit(
        self, parent_id: str, name: str, tags: Mapping[str, str]
    ) -> str: ...
    def rename_organizational_unit(self, ou_id: str, name: str) -> None: ...
    def delete_organizational_unit(self, ou_id: str) -> None: ...
    def create_account(
        self, *, name: str, email: str, role_name: str, tags: Mapping[str, str]
    ) -> str: ...
    def move_account(
        self, account_id: str, source_parent_id: str, destination_parent_id: str
    ) -> None: ...
    def close_account(self, account_id: str) -> None: ...
    def tag_resource(self, resource_id: str, tags: Mapping[str, str]) -> None: ...
    def untag_resource(self, resource_id: str, keys: list[str]) -> None: ...
    def set_password_policy(
        self, account_id: str, role_name: str, settings: PasswordPolicySettings | None
    ) -> None: ...
    def set_account_alias(self, account_id: str, role_name: str, alias: str | None) -> None: ...


class StateWriter(Protocol):
    """Where apply records what it did (orgc.state.LockedState)."""

    @property
    def state(self) -> State: ...
    def write(self, new: State) -> State: ...


@dataclass(slots=True)
class ApplyResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # change id → reason
    skipped: dict[str, str] = field(default_factory=dict)  # change id → the failure it waited on

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


# Event callback: (event, change, message); event is "start", "done", "failed" or "skipped".
Listener = Callable[[str, Change, str], None]

_TABLE = {
    "account": "accounts",
    "organizational-unit": "organizationalUnits",
    "root": "organizationalUnits",
    "policy": "policies",
}


class _Run:
    def __init__(self, plan: Plan, provider: Provider, writer: StateWriter) -> None:
        self.plan = plan
        self.provider = provider
        self.writer = writer
        self.ids: dict[str, dict[str, str | None]] = {t: dict(v) for t, v in plan.ids.items()}
        self.lock = threading.Lock()

    # --- ids and state --------------------------------------------------------------------

    def physical(self, table: str, logical_id: str) -> str:
        with self.lock:
            found = self.ids.get(table, {}).get(logical_id)
        if not found:
            raise RuntimeError(
                f"{logical_id} has no id yet; the change that creates it did not run"
            )
        return found

    def target_id(self, change: Change, kind: str) -> str:
        if kind == "root":
            return self.physical("organizationalUnits", ROOT)
        if kind == "target":  # a physical id given as is
            assert change.physical_id is not None
            return change.physical_id
        assert change.logical_id is not None
        return change.physical_id or self.physical(_TABLE[kind], change.logical_id)

    def record(self, table: str, logical_id: str, physical_id: str | None) -> None:
        """Remember an id for later changes and write it to the state at once."""
        with self.lock:
            if physical_id is not None:
                self.ids.setdefault(table, {})[logical_id] = physical_id
            current = self.writer.state
            updated = _with_id(current, table, logical_id, physical_id)
            if current.management_account_id is None:
                updated = dataclasses.replace(
                    updated, management_account_id=self.plan.management_account_id
                )
            self.writer.write(updated)

    # --- handlers -------------------------------------------------------------------------

    def run(self, change: Change) -> None:
        handler = _HANDLERS.get((change.kind, change.action))
        if handler is None:
            raise RuntimeError(f"no handler for {change.kind} {change.action}")
        handler(self, change)


def _with_id(state: State, table: str, logical_id: str, physical_id: str | None) -> State:
    def put(mapping: Mapping[str, str]) -> dict[str, str]:
        updated = {k: v for k, v in mapping.items() if k != logical_id}
        if physical_id is not None:
            updated[logical_id] = physical_id
        return updated

    if table == "accounts":
        return dataclasses.replace(state, accounts=put(state.accounts))
    if table == "organizationalUnits":
        return dataclasses.replace(state, organizational_units=put(state.organizational_units))
    return dataclasses.replace(state, policies=put(state.policies))


def _enable_policy_type(run: _Run, change: Change) -> None:
    root_id = run.physical("organizationalUnits", ROOT)
    run.provider.enable_policy_type(root_id, change.details["policyType"])


def _adopt(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    run.record(_TABLE[change.kind], change.logical_id, change.physical_id)


def _create_policy(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    d = change.details
    policy_id = run.provider.create_policy(
        policy_type=d["policyType"],
        name=d["name"],
        description=d["description"],
        content=d["document"],
        tags=d["tags"],
    )
    run.record("policies", change.logical_id, policy_id)


def _update_policy(run: _Run, change: Change) -> None:
    assert change.physical_id is not None
    d = change.details
    run.provider.update_policy(
        change.physical_id, name=d["name"], description=d["description"], content=d["document"]
    )


def _delete_policy(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    assert change.physical_id is not None
    run.provider.delete_policy(change.physical_id)
    run.record("policies", change.logical_id, None)


def _create_ou(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    d = change.details
    parent_id = run.physical("organizationalUnits", d["parent"])
    ou_id = run.provider.create_organizational_unit(parent_id, d["name"], d["tags"])
    if change.action == "replace":
        # Record the new id and the old one to be emptied and deleted in one write, so a crash
        # right after leaves a state that the next plan can finish from.
        assert change.physical_id is not None
        with run.lock:
            current = run.writer.state
            run.ids["organizationalUnits"][change.logical_id] = ou_id
            run.writer.write(
                dataclasses.replace(
                    current,
                    organizational_units={**current.organizational_units, change.logical_id: ou_id},
                    retired_organizational_units=tuple(
                        sorted({*current.retired_organizational_units, change.physical_id})
                    ),
                )
            )
        return
    run.record("organizationalUnits", change.logical_id, ou_id)


def _rename_ou(run: _Run, change: Change) -> None:
    assert change.physical_id is not None
    run.provider.rename_organizational_unit(change.physical_id, change.details["after"])


def _delete_ou(run: _Run, change: Change) -> None:
    assert change.physical_id is not None
    run.provider.delete_organizational_unit(change.physical_id)
    with run.lock:
        current = run.writer.state
        run.writer.write(
            dataclasses.replace(
                current,
                organizational_units={
                    k: v for k, v in current.organizational_units.items() if v != change.physical_id
                },
                retired_organizational_units=tuple(
                    r for r in current.retired_organizational_units if r != change.physical_id
                ),
            )
        )


def _create_account(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    d = change.details
    account_id = run.provider.create_account(
        name=d["name"], email=d["email"], role_name=d["roleName"], tags=d["tags"]
    )
    run.record("accounts", change.logical_id, account_id)


def _move_account(run: _Run, change: Change) -> None:
    d = change.details
    if change.logical_id is None:  # an unmanaged account following its OU
        assert change.physical_id is not None
        account_id = change.physical_id
    else:
        account_id = change.physical_id or run.physical("accounts", change.logical_id)
    source = d["from"] or run.physical("organizationalUnits", ROOT)
    destination = run.physical("organizationalUnits", d["to"])
    run.provider.move_account(account_id, source, destination)


def _close_account(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    assert change.physical_id is not None
    run.provider.close_account(change.physical_id)
    run.record("accounts", change.logical_id, None)


def _forget_account(run: _Run, change: Change) -> None:
    assert change.logical_id is not None
    run.record("accounts", change.logical_id, None)


def _update_tags(run: _Run, change: Change) -> None:
    d = change.details
    resource_id = run.target_id(change, d["target"])
    if d["remove"]:
        run.provider.untag_resource(resource_id, list(d["remove"]))
    if d["add"]:
        run.provider.tag_resource(resource_id, d["add"])


def _attach(run: _Run, change: Change) -> None:
    d = change.details
    policy_id = run.physical("policies", d["policy"])
    run.provider.attach_policy(policy_id, run.target_id(change, d["target"]))


def _detach(run: _Run, change: Change) -> None:
    d = change.details
    run.provider.detach_policy(d["policyId"], run.target_id(change, d["target"]))


def _account_id(run: _Run, change: Change) -> str:
    assert change.logical_id is not None
    return change.physical_id or run.physical("accounts", change.logical_id)


def _password_policy(run: _Run, change: Change) -> None:
    d = change.details
    settings = PasswordPolicySettings(**d["after"]) if d["after"] is not None else None
    run.provider.set_password_policy(_account_id(run, change), d["roleName"] or "", settings)


def _alias(run: _Run, change: Change) -> None:
    d = change.details
    run.provider.set_account_alias(_account_id(run, change), d["roleName"] or "", d["after"])


_HANDLERS: dict[tuple[str, str], Callable[[_Run, Change], None]] = {
    ("policy-type", "enable"): _enable_policy_type,
    ("policy", "adopt"): _adopt,
    ("policy", "create"): _create_policy,
    ("policy", "update"): _update_policy,
    ("policy", "delete"): _delete_policy,
    ("organizational-unit", "adopt"): _adopt,
    ("organizational-unit", "create"): _create_ou,
    ("organizational-unit", "replace"): _create_ou,
    ("organizational-unit", "rename"): _rename_ou,
    ("organizational-unit", "delete"): _delete_ou,
    ("account", "adopt"): _adopt,
    ("account", "create"): _create_account,
    ("account", "move"): _move_account,
    ("account", "close"): _close_account,
    ("account", "forget"): _forget_account,
    ("tags", "update"): _update_tags,
    ("attachment", "attach"): _attach,
    ("attachment", "detach"): _detach,
    ("password-policy", "create"): _password_policy,
    ("password-policy", "update"): _password_policy,
    ("alias", "create"): _alias,
    ("alias", "update"): _alias,
}

# Changes that run inside member accounts do not contend for the Organizations API.
_IN_ACCOUNT = frozenset({"password-policy", "alias"})


def apply(
    plan: Plan,
    provider: Provider,
    writer: StateWriter,
    *,
    max_workers: int = 8,
    max_organization_calls: int = 4,
    listener: Listener | None = None,
) -> ApplyResult:
    """Carry out `plan`; never raises for an AWS failure (it is in the result)."""
    run = _Run(plan, provider, writer)
    changes = {c.id: c for c in plan.changes}
    waiting = {c.id: set(c.after) & changes.keys() for c in plan.changes}
    dependents: dict[str, list[str]] = {c: [] for c in changes}
    for change_id, after in waiting.items():
        for before in after:
            dependents[before].append(change_id)
    result = ApplyResult()
    organization_slots = threading.BoundedSemaphore(max_organization_calls)
    notify = listener or (lambda event, change, message: None)

    def execute(change: Change) -> None:
        if change.kind in _IN_ACCOUNT:
            run.run(change)
            return
        with organization_slots:
            run.run(change)

    def skip(change_id: str, reason: str) -> None:
        for dependent in dependents[change_id]:
            if dependent in result.skipped or dependent in result.failed:
                continue
            result.skipped[dependent] = reason
            notify("skipped", changes[dependent], reason)
            skip(dependent, reason)

    running: dict[Future[None], str] = {}
    ready = sorted(c for c, after in waiting.items() if not after)
    plan_order = {c.id: i for i, c in enumerate(plan.changes)}
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="orgc-apply") as pool:
        try:
            while ready or running:
                for change_id in sorted(ready, key=plan_order.__getitem__):
                    notify("start", changes[change_id], "")
                    running[pool.submit(execute, changes[change_id])] = change_id
                ready = []
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    change_id = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        result.failed[change_id] = str(error)
                        notify("failed", changes[change_id], str(error))
                        skip(change_id, f"waits on {change_id}, which failed")
                        continue
                    result.done.append(change_id)
                    notify("done", changes[change_id], "")
                    for dependent in dependents[change_id]:
                        waiting[dependent].discard(change_id)
                        if (
                            not waiting[dependent]
                            and dependent not in result.skipped
                            and dependent not in result.failed
                        ):
                            ready.append(dependent)
        except BaseException:
            # Interrupted: let running calls finish (their results are recorded), start nothing.
            for future in running:
                future.cancel()
            raise
    return result
