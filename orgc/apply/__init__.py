"""Stage 8, apply: carry out a `Plan` through the provider, in dependency order.

A DAG scheduler, not waves: a change starts as soon as every change it comes `after` is done,
with bounded concurrency. Each change that makes or removes something orgc tracks is written to
the state as soon as it finishes, so an interrupted run loses nothing and the next plan resumes
from where it stopped. A failed change skips only the changes that depend on it.

The package has one module per slot, as the plan has one planner per slot: `organization`,
`stacks`, `stacksets` and `objects` hold the handlers of their change kinds, `run` the typed
context every handler works with (and what apply needs of the provider), `scheduler` the order.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from orgc.apply import contacts, objects, organization, services, sso, stacks, stacksets
from orgc.apply.run import (
    ACCOUNTS,
    ORGANIZATIONAL_UNITS,
    POLICIES,
    EmulatorRefusal,
    Handler,
    Run,
    StateWriter,
    WaitsOnRefusal,
)
from orgc.apply.scheduler import ApplyResult, Listener, Scheduler
from orgc.apply.stacks import StackError
from orgc.apply.stacksets import StackSetError
from orgc.plan import Action, Change, ChangeKind, Plan
from orgc.provider import Provider

__all__ = [
    "HANDLERS",
    "ApplyResult",
    "EmulatorRefusal",
    "Listener",
    "StackError",
    "StackSetError",
    "StateWriter",
    "apply",
]

# Every change a plan can hold → its handler. One registry, from the modules of each slot.
HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    **organization.HANDLERS,
    **stacks.HANDLERS,
    **stacksets.HANDLERS,
    **objects.HANDLERS,
    **services.HANDLERS,
    **contacts.HANDLERS,
    **sso.HANDLERS,
}

# Changes that run inside member accounts, or on StackSets, do not contend for the Organizations
# API.
_IN_ACCOUNT = frozenset(
    {
        ChangeKind.PASSWORD_POLICY,
        ChangeKind.ALIAS,
        ChangeKind.STACK,
        ChangeKind.S3_OBJECT,
        *stacksets.KINDS,
    }
)


def _run_change(run: Run, change: Change) -> None:
    handler = HANDLERS.get((change.kind, change.action))
    if handler is None:
        raise RuntimeError(f"no handler for {change.kind} {change.action}")
    run.writer.check_held()  # fencing: no AWS change once the lock was taken over
    handler(run, change)


# Kinds whose created things get an id in the run's id tables.
_ID_TABLES = {
    ChangeKind.ACCOUNT: ACCOUNTS,
    ChangeKind.ORGANIZATIONAL_UNIT: ORGANIZATIONAL_UNITS,
    ChangeKind.POLICY: POLICIES,
}


def _physical_id(run: Run, change: Change) -> str:
    table = _ID_TABLES.get(change.kind)
    if table is not None and change.logical_id is not None:
        with run.lock:
            found = run.ids.get(table, {}).get(change.logical_id)
        if found:
            return found
    return change.physical_id or ""


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
    run = Run(plan, provider, writer, template_bucket)
    told = listener or (lambda event, change, message: None)

    def notify(event: str, change: Change, message: str) -> None:
        # Progress names what the run knows by then: ids of accounts it created earlier; a
        # finished change tells what it made or acted on, which only this run knows.
        told(
            event,
            run.as_known_now(change),
            _physical_id(run, change) if event == "done" else message,
        )

    scheduler = Scheduler(plan, notify)
    organization_slots = threading.BoundedSemaphore(max_organization_calls)
    group_slots = {
        name: threading.BoundedSemaphore(group.max_concurrent)
        for name, group in plan.groups.items()
        if group.max_concurrent
    }

    def execute(change: Change) -> None:
        with contextlib.ExitStack() as slots:
            if change.group in group_slots:
                slots.enter_context(group_slots[change.group])
            if change.kind not in _IN_ACCOUNT:
                slots.enter_context(organization_slots)
            _run_change(run, change)

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
                    if isinstance(error, WaitsOnRefusal):
                        scheduler.skip_after_refusal(change_id, str(error))
                        continue
                    scheduler.finish(
                        change_id,
                        None if error is None else str(error),
                        refused=isinstance(error, EmulatorRefusal),
                    )
        except BaseException:
            # Interrupted: let running calls finish (their results are recorded), start nothing.
            for future in running:
                future.cancel()
            raise
    return scheduler.result
