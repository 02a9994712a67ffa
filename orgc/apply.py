"""Stage 8, apply: carry out a `Plan` through the provider, in dependency order.

A DAG scheduler, not waves: a change starts as soon as every change it comes `after` is done,
with bounded concurrency. Each change that makes or removes something orgc tracks is written to
the state as soon as it finishes, so an interrupted run loses nothing and the next plan resumes
from where it stopped. A failed change skips only the changes that depend on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orgc import apply_stacksets
from orgc.load import read_object_body
from orgc.observed import PasswordPolicySettings, StackResult
from orgc.plan import ROOT, Change, Plan
from orgc.plan.objects import content_hash
from orgc.plan.stacks import stack_hash
from orgc.render import fill_markers, markers
from orgc.state import StackRecord, State


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
    def deploy_stack(
        self,
        *,
        account_id: str,
        role_name: str,
        region: str,
        stack_name: str,
        template_body: str,
        parameters: Mapping[str, str],
        tags: Mapping[str, str],
        create: bool,
        termination_protection: bool = False,
        stack_policy: str | None = None,
        role_arn: str | None = None,
        disable_rollback: bool = False,
        template_bucket: str | None = None,
    ) -> StackResult: ...
    def delete_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> None: ...
    def describe_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> StackResult | None: ...
    def read_export(
        self, *, account_id: str, role_name: str, region: str, name: str
    ) -> str | None: ...
    def put_s3_object(self, *, bucket: str, key: str, body: bytes, region: str) -> str: ...


class StateWriter(Protocol):
    """Where apply records what it did (orgc.state.LockedState)."""

    @property
    def state(self) -> State: ...
    def write(self, new: State) -> State: ...
    def check_held(self) -> None: ...  # raises once the state lock is not this run's any more


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


class StackError(Exception):
    """A stack could not be deployed or deleted; the message says why and which task."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _StackTarget:
    stack_name: str
    account_id: str
    region: str
    role_name: str

    def where(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "role_name": self.role_name,
            "region": self.region,
            "stack_name": self.stack_name,
        }


_MARKER_TABLES = {
    "account": "accounts",
    "organizational-unit": "organizationalUnits",
    "policy": "policies",
}

_TABLE = {
    "account": "accounts",
    "organizational-unit": "organizationalUnits",
    "root": "organizationalUnits",
    "policy": "policies",
}


class _Run:
    def __init__(
        self,
        plan: Plan,
        provider: Provider,
        writer: StateWriter,
        template_bucket: str | None = None,
        flush_seconds: float = 2.0,
    ) -> None:
        self.plan = plan
        self.provider = provider
        self.writer = writer
        self.ids: dict[str, dict[str, str | None]] = {t: dict(v) for t, v in plan.ids.items()}
        self.lock = threading.Lock()
        self.outputs: dict[str, dict[str, str]] = {}  # stack change id → outputs it produced
        self.template_bucket = template_bucket
        self.current = writer.state  # every recorded edit, written or not
        self.version = 0  # edits recorded
        self.written_version = 0  # edits written
        self.write_lock = threading.Lock()
        self.flush_seconds = flush_seconds
        self.flushed_at = time.monotonic()

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
        if physical_id is not None:
            with self.lock:
                self.ids.setdefault(table, {})[logical_id] = physical_id
        self.update_state(lambda state: _with_id(state, table, logical_id, physical_id))

    @property
    def state(self) -> State:
        """The state with every recorded edit, written or still pending."""
        with self.lock:
            return self.current

    def update_state(self, edit: Callable[[State], State], *, now: bool = False) -> None:
        """Record `edit` of the current state, naming the management account on a first write.

        Records are written behind: at most every `flush_seconds`, and by `flush` at the end of
        the run (also when it is interrupted), so a run of hundreds of stacks costs a handful of
        state writes instead of one per stack. `now` writes at once (an OU replaced or deleted:
        records a crash must not lose). Workers do not wait for a write in progress.
        """
        with self.lock:
            updated = edit(self.current)
            if self.current.management_account_id is None:
                updated = dataclasses.replace(
                    updated, management_account_id=self.plan.management_account_id
                )
            self.current = updated
            self.version += 1
            due = now or time.monotonic() - self.flushed_at >= self.flush_seconds
            if due:
                self.flushed_at = time.monotonic()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the latest state unless it is written already; writes happen one at a time
        and each takes the latest, so an older state never overwrites a newer one."""
        with self.write_lock:
            with self.lock:
                latest, version = self.current, self.version
            if version > self.written_version:
                self.writer.write(latest)
                self.written_version = version

    # --- stacks ---------------------------------------------------------------------------

    def marker_value(self, kind: str, name: str) -> str:
        if kind == "organization-id":
            return self.plan.organization_id
        if kind in _MARKER_TABLES:
            return self.physical(_MARKER_TABLES[kind], name)
        raise RuntimeError(f"no value for the marker {kind}:{name}")

    def fill(self, value: Any) -> Any:
        return fill_markers(value, {m: self.marker_value(*m) for m in markers(value)})

    def stack_target(self, change: Change) -> _StackTarget:
        d = change.details
        return _StackTarget(
            stack_name=d["stackName"],
            account_id=self.fill(d["accountId"]),
            region=d["region"],
            role_name=d["roleName"],
        )

    def stack_parameters(self, change: Change) -> dict[str, str]:
        """The parameters with every marker filled and every reference read."""
        d = change.details
        by_parameter = {r["parameter"]: r for r in d["references"]}
        parameters: dict[str, str] = {}
        for name, written in d["parameters"].items():
            reference = by_parameter.get(name)
            if reference is not None and markers(written):
                parameters[name] = self.reference_value(change, reference)
            else:
                parameters[name] = self.fill(written)
        return parameters

    def reference_value(self, change: Change, reference: Mapping[str, Any]) -> str:
        producer = reference.get("producer")
        output = reference.get("output") or ""
        if producer is not None:
            producer_change = reference.get("producerChange")
            with self.lock:
                outputs = self.outputs.get(producer_change or "")
            if outputs is None:
                where = self.fill(reference["producerStack"])
                found = self.provider.describe_stack(
                    account_id=where["accountId"],
                    role_name=where["roleName"],
                    region=where["region"],
                    stack_name=where["stackName"],
                )
                outputs = found.outputs if found else {}
            if output not in outputs:
                raise StackError(
                    f"{reference['expression']}: stack {producer} has no output {output} "
                    f"(task {change.details['task']} at {change.details['where']})"
                )
            return outputs[output]
        target = self.stack_target(change)
        account_id = self.fill(reference.get("exportAccountId") or target.account_id)
        region = reference.get("exportRegion") or target.region
        value = self.provider.read_export(
            account_id=account_id,
            role_name=target.role_name,
            region=region,
            name=reference["export"],
        )
        if value is None:
            raise StackError(
                f"{reference['expression']}: no export {reference['export']} in account "
                f"{account_id} {region} (task {change.details['task']})"
            )
        return value

    def remember_outputs(self, change: Change, outputs: Mapping[str, str]) -> None:
        with self.lock:
            self.outputs[change.id] = dict(outputs)

    def previous_outputs(self, target: _StackTarget) -> dict[str, str]:
        record = self.state.stack_records().get(
            (target.stack_name, target.account_id, target.region)
        )
        return dict(record.outputs) if record else {}

    # --- handlers -------------------------------------------------------------------------

    def run(self, change: Change) -> None:
        handler = _HANDLERS.get((change.kind, change.action))
        if handler is None:
            raise RuntimeError(f"no handler for {change.kind} {change.action}")
        self.writer.check_held()  # fencing: no AWS change once the lock was taken over
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
        assert change.logical_id is not None
        retired, logical_id = change.physical_id, change.logical_id
        with run.lock:
            run.ids["organizationalUnits"][change.logical_id] = ou_id
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
        return
    run.record("organizationalUnits", change.logical_id, ou_id)


def _rename_ou(run: _Run, change: Change) -> None:
    assert change.physical_id is not None
    run.provider.rename_organizational_unit(change.physical_id, change.details["after"])


def _delete_ou(run: _Run, change: Change) -> None:
    assert change.physical_id is not None
    run.provider.delete_organizational_unit(change.physical_id)
    deleted = change.physical_id
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


def _deploy_stack(run: _Run, change: Change) -> None:
    d = change.details
    target = run.stack_target(change)
    template = run.fill(d["template"])
    parameters = run.stack_parameters(change)
    settings = run.fill(d["settings"])
    content_hash = stack_hash(template, parameters, settings)
    if (
        change.action == "update"
        and d["hash"] is None
        and content_hash == d["previousHash"]
        and not d.get("forceDeploy")
    ):
        # Decided at plan time as "may change": the values turned out the same.
        run.remember_outputs(change, run.previous_outputs(target))
        return

    def deploy(create: bool) -> StackResult:
        return run.provider.deploy_stack(
            **target.where(),
            template_body=json.dumps(template, separators=(",", ":"), ensure_ascii=False),
            parameters=parameters,
            tags=settings["tags"],
            create=create,
            termination_protection=settings["terminationProtection"],
            stack_policy=json.dumps(settings["stackPolicy"]) if settings["stackPolicy"] else None,
            role_arn=settings["roleArn"],
            disable_rollback=settings["disableRollback"],
            template_bucket=run.template_bucket,
        )

    try:
        if change.action == "replace":
            run.provider.delete_stack(**target.where())
        create = change.action in ("create", "replace")
        try:
            result = deploy(create)
        except Exception as error:
            # A plan that trusted the state can meet a stack that is not as recorded.
            recovery = _stack_recovery(error, create=create)
            if recovery is None:
                raise
            if recovery == "replace":
                run.provider.delete_stack(**target.where())
            result = deploy(recovery != "update")
    except Exception as error:
        raise StackError(f"{error} (task {d['task']} at {d['where']})") from error
    record = StackRecord(
        stack_name=target.stack_name,
        account_id=target.account_id,
        region=target.region,
        task=d["task"],
        account=d["account"],
        hash=content_hash,
        stack_id=result.stack_id,
        last_changed=result.last_changed,
        parameters=parameters,
        outputs=result.outputs,
        exports=result.exports,
    )
    run.remember_outputs(change, result.outputs)
    run.update_state(lambda state: state.with_stack(record))


def _stack_recovery(error: Exception, *, create: bool) -> str | None:
    """How to go on when a stack is not as the state recorded it: "update" a stack that exists
    after all, "create" one that is gone, "replace" one whose creation failed; None: no way."""
    code = getattr(error, "code", None)
    message = str(error)
    if create:
        return "update" if code == "AlreadyExistsException" else None
    if code != "ValidationError":
        return None
    if "does not exist" in message:
        return "create"
    if "ROLLBACK_COMPLETE state" in message:
        return "replace"
    return None


def _delete_stack(run: _Run, change: Change) -> None:
    target = run.stack_target(change)
    if change.action == "delete":
        try:
            run.provider.delete_stack(**target.where())
        except Exception as error:
            raise StackError(f"{error} (task {change.details['task']})") from error
    key = (target.stack_name, target.account_id, target.region)
    run.update_state(lambda state: state.without_stack(key))


def _put_object(run: _Run, change: Change) -> None:
    d = change.details
    try:
        body = read_object_body(Path(d["localPath"]), zipped=d["zipped"])
    except OSError as error:
        raise StackError(f"cannot read {d['localPath']}: {error} (task {d['task']})") from error
    if content_hash(body) != d["hash"]:
        raise StackError(
            f"{d['localPath']} changed since the plan was made (task {d['task']}); plan again"
        )
    etag = run.provider.put_s3_object(
        bucket=d["bucket"], key=d["key"], body=body, region=d["region"]
    )
    record = {"task": d["task"], "hash": d["hash"], "etag": etag}
    url = f"s3://{d['bucket']}/{d['key']}"
    run.update_state(
        lambda state: dataclasses.replace(state, objects={**state.objects, url: record})
    )


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
    ("stack", "create"): _deploy_stack,
    ("stack", "update"): _deploy_stack,
    ("stack", "replace"): _deploy_stack,
    ("stack", "delete"): _delete_stack,
    ("stack", "forget"): _delete_stack,
    ("s3-object", "create"): _put_object,
    ("s3-object", "update"): _put_object,
    **apply_stacksets.HANDLERS,
}

# Changes that run inside member accounts, or on StackSets, do not contend for the Organizations
# API.
_IN_ACCOUNT = frozenset({"password-policy", "alias", "stack", "s3-object", *apply_stacksets.KINDS})


def apply(
    plan: Plan,
    provider: Provider,
    writer: StateWriter,
    *,
    max_workers: int = 8,
    max_organization_calls: int = 4,
    listener: Listener | None = None,
    template_bucket: str | None = None,
) -> ApplyResult:
    """Carry out `plan`; never raises for an AWS failure (it is in the result).

    `template_bucket` is where templates too large to pass inline are uploaded.
    """
    run = _Run(plan, provider, writer, template_bucket)
    scheduler = _Scheduler(plan, listener or (lambda event, change, message: None))
    organization_slots = threading.BoundedSemaphore(max_organization_calls)
    group_slots = {
        name: threading.BoundedSemaphore(group["maxConcurrent"])
        for name, group in plan.groups.items()
        if group.get("maxConcurrent")
    }

    def execute(change: Change) -> None:
        with contextlib.ExitStack() as slots:
            if change.group in group_slots:
                slots.enter_context(group_slots[change.group])
            if change.kind not in _IN_ACCOUNT:
                slots.enter_context(organization_slots)
            run.run(change)

    running: dict[Future[None], str] = {}
    with (
        contextlib.ExitStack() as finally_,
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="orgc-apply") as pool,
    ):
        finally_.callback(run.flush)  # after the pool has let running calls finish
        try:
            while True:
                for change in scheduler.take_ready():
                    running[pool.submit(execute, change)] = change.id
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    change_id = running.pop(future)
                    error = future.exception()
                    scheduler.finish(change_id, None if error is None else str(error))
        except BaseException:
            # Interrupted: let running calls finish (their results are recorded), start nothing.
            for future in running:
                future.cancel()
            raise
    return scheduler.result


class _Scheduler:
    """Which changes may start: a DAG of changes and of groups.

    `after` names changes, or `task:<group>`: every change of that group, finished. A group
    fails when more of its changes fail (or are skipped) than its failure tolerance allows; then
    what waits on the group is skipped. A group with no changes in the plan is finished.
    """

    def __init__(self, plan: Plan, notify: Listener) -> None:
        self.notify = notify
        self.result = ApplyResult()
        self.changes = {c.id: c for c in plan.changes}
        self.order = {c.id: i for i, c in enumerate(plan.changes)}
        self.members: dict[str, set[str]] = {}
        for change in plan.changes:
            if change.group is not None:
                self.members.setdefault(change.group, set()).add(change.id)
        self.tolerance = {
            name: int(group.get("failureTolerance") or 0) for name, group in plan.groups.items()
        }
        self.unresolved = {name: set(ids) for name, ids in self.members.items()}
        self.losses: dict[str, int] = {}
        self.waiting: dict[str, set[str]] = {}
        self.dependents: dict[str, list[str]] = {}
        for change in plan.changes:
            needs = {
                a
                for a in change.after
                if a in self.changes
                or (a.startswith(_GROUP) and self.unresolved.get(a[len(_GROUP) :]))
            }
            # A change never waits on its own group.
            needs.discard(f"{_GROUP}{change.group}")
            self.waiting[change.id] = needs
            for before in needs:
                self.dependents.setdefault(before, []).append(change.id)
        self.ready = [c for c, needs in self.waiting.items() if not needs]

    def take_ready(self) -> list[Change]:
        ready = sorted(self.ready, key=self.order.__getitem__)
        self.ready = []
        for change_id in ready:
            self.notify("start", self.changes[change_id], "")
        return [self.changes[c] for c in ready]

    def finish(self, change_id: str, error: str | None) -> None:
        change = self.changes[change_id]
        if error is None:
            self.result.done.append(change_id)
            self.notify("done", change, "")
            self.release(change_id)
        else:
            self.result.failed[change_id] = error
            self.notify("failed", change, error)
            self.skip_dependents(change_id, f"waits on {change_id}, which failed")
        self.resolve_in_group(change)

    def release(self, node: str) -> None:
        for dependent in self.dependents.get(node, ()):
            needs = self.waiting[dependent]
            needs.discard(node)
            if not needs and not self.settled(dependent):
                self.ready.append(dependent)

    def settled(self, change_id: str) -> bool:
        return change_id in self.result.skipped or change_id in self.result.failed

    def skip_dependents(self, node: str, reason: str) -> None:
        for dependent in self.dependents.get(node, ()):
            if self.settled(dependent) or dependent in self.result.done:
                continue
            self.result.skipped[dependent] = reason
            self.notify("skipped", self.changes[dependent], reason)
            self.skip_dependents(dependent, reason)
            self.resolve_in_group(self.changes[dependent])

    def resolve_in_group(self, change: Change) -> None:
        group = change.group
        if group is None or change.id not in self.unresolved.get(group, set()):
            return
        self.unresolved[group].discard(change.id)
        if change.id not in self.result.done:
            self.losses[group] = self.losses.get(group, 0) + 1
        if self.unresolved[group]:
            return
        node = f"{_GROUP}{group}"
        lost = self.losses.get(group, 0)
        if lost > self.tolerance.get(group, 0):
            self.skip_dependents(
                node,
                f"waits on task {group}, where {lost} change(s) failed "
                f"(tolerance {self.tolerance.get(group, 0)})",
            )
        else:
            self.release(node)


_GROUP = "task:"
