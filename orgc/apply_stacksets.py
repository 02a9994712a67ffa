"""Apply for StackSet-mode tasks: the handlers of `stack-set` and `stack-set-instances` changes.

Each handler carries out one change planned by orgc.plan.stacksets through the provider's
StackSet verbs (which wait for AWS's operation to end) and records the outcome in the task's
StackSet record. Values known only after apply (the id of an OU or account this run creates) are
filled in first; the ARNs of the StackSets a StackSet's automatic deployment depends on are read
from the state, where the changes of those tasks, which run first, recorded them.

`HANDLERS` is registered into apply's registry of handlers; they call the StackSet verbs of
orgc.provider.Provider.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from orgc.observed import InstanceTargets, Preferences, StackSetDefinition
from orgc.plan import Change
from orgc.stacksets import stack_set_hash
from orgc.state import StackSetRecord

if TYPE_CHECKING:
    from orgc.apply import _Run

T = TypeVar("T")

# Change kinds of StackSets: calls to CloudFormation in the management account, never to the
# Organizations API.
KINDS = frozenset({"stack-set", "stack-set-instances"})


class StackSetError(Exception):
    """A StackSet change could not be made; the message says why and for which task."""


def _failing(change: Change, action: Callable[[], T]) -> T:
    """Run `action`; a failure names the task and where it is written."""
    d = change.details
    try:
        return action()
    except Exception as error:
        where = f" at {d['where']}" if d.get("where") else ""
        raise StackSetError(f"{error} (task {d['task']}{where})") from error


def _body(template: Any) -> str:
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)


def _depends_on(run: _Run, change: Change) -> list[str]:
    """The ARNs of the StackSets this one's automatic deployments follow."""
    names: list[str] = change.details["settings"]["autoDeployment"]["dependsOn"]
    records = run.state.stack_set_records()
    missing = [name for name in names if name not in records or not records[name].arn]
    if missing:
        raise StackSetError(
            f"StackSet {', '.join(missing)}, which task {change.details['task']} depends on, "
            "has not been created"
        )
    return [str(records[name].arn) for name in names]


def _record(run: _Run, change: Change) -> StackSetRecord:
    """The task's StackSet record as the state holds it now, or a new one."""
    d = change.details
    found = run.state.stack_set_records().get(d["stackSetName"])
    if found is not None:
        return found
    return StackSetRecord(
        name=d["stackSetName"], task=d["task"], stack_set_id=d.get("stackSetId"), arn=d.get("arn")
    )


def _keep(run: _Run, record: StackSetRecord) -> None:
    run.update_state(lambda state: state.with_stack_set(record))


def _create_stack_set(run: _Run, change: Change) -> None:
    d = change.details
    template, parameters, settings = (
        run.fill(d["template"]),
        run.fill(d["parameters"]),
        d["settings"],
    )
    depends_on = _depends_on(run, change)
    stack_set_id, arn = _failing(
        change,
        lambda: run.provider.create_stack_set(
            StackSetDefinition(
                name=d["stackSetName"],
                template_body=_body(template),
                parameters=parameters,
                description=settings["description"],
                tags=settings["tags"],
                depends_on=tuple(depends_on),
                template_bucket=run.template_bucket,
            )
        ),
    )
    # A new StackSet holds no instances: a record of an earlier one (deleted outside orgc) goes.
    _keep(
        run,
        StackSetRecord(
            name=d["stackSetName"],
            task=d["task"],
            stack_set_id=stack_set_id,
            arn=arn,
            hash=stack_set_hash(template, parameters, settings),
            parameters=parameters,
        ),
    )


def _update_stack_set(run: _Run, change: Change) -> None:
    d = change.details
    template, parameters, settings = (
        run.fill(d["template"]),
        run.fill(d["parameters"]),
        d["settings"],
    )
    depends_on = _depends_on(run, change)
    targets = d.get("updateTargets")
    _failing(
        change,
        lambda: run.provider.update_stack_set(
            StackSetDefinition(
                name=d["stackSetName"],
                template_body=_body(template),
                parameters=parameters,
                description=settings["description"],
                tags=settings["tags"],
                depends_on=tuple(depends_on),
                template_bucket=run.template_bucket,
            ),
            targets=InstanceTargets.from_json(run.fill(targets)) if targets else None,
            preferences=Preferences.from_json(d["preferences"]),
        ),
    )
    _keep(
        run,
        dataclasses.replace(
            _record(run, change),
            hash=stack_set_hash(template, parameters, settings),
            parameters=parameters,
        ),
    )


def _create_instances(run: _Run, change: Change) -> None:
    d = change.details
    wanted = InstanceTargets.from_json(run.fill(d["create"]))
    _failing(
        change,
        lambda: run.provider.create_stack_instances(
            name=d["stackSetName"],
            targets=wanted,
            preferences=Preferences.from_json(d["preferences"]),
        ),
    )
    targets = InstanceTargets.from_json(run.fill(d["targets"]))
    _keep(
        run,
        dataclasses.replace(
            _record(run, change),
            organizational_units=targets.organizational_units,
            account_filter=targets.account_filter,
            accounts=targets.accounts,
            regions=targets.regions,
        ),
    )


def _delete_instances(run: _Run, change: Change) -> None:
    d = change.details
    preferences = Preferences.from_json(d["preferences"])
    provider = run.provider
    for request in d["delete"]:
        _failing(
            change,
            functools.partial(
                provider.delete_stack_instances,
                name=d["stackSetName"],
                targets=InstanceTargets.from_json(request),
                preferences=preferences,
            ),
        )
    targets = InstanceTargets.from_json(run.fill(d["targets"]))
    record = _record(run, change)
    _keep(
        run,
        dataclasses.replace(
            record,
            organizational_units=tuple(
                ou for ou in record.organizational_units if ou in targets.organizational_units
            ),
            regions=tuple(r for r in record.regions if r in targets.regions),
        ),
    )


def _delete_stack_set(run: _Run, change: Change) -> None:
    d = change.details
    name = d["stackSetName"]
    if change.action == "delete":
        provider = run.provider
        if d["instances"] and d["organizationalUnits"]:
            everything = InstanceTargets(
                organizational_units=tuple(d["organizationalUnits"]), regions=tuple(d["regions"])
            )
            _failing(
                change,
                lambda: provider.delete_stack_instances(
                    name=name, targets=everything, preferences=Preferences()
                ),
            )
        _failing(change, lambda: provider.delete_stack_set(name))
    run.update_state(lambda state: state.without_stack_set(name))


HANDLERS: dict[tuple[str, str], Callable[[_Run, Change], None]] = {
    ("stack-set", "create"): _create_stack_set,
    ("stack-set", "update"): _update_stack_set,
    ("stack-set", "delete"): _delete_stack_set,
    ("stack-set", "forget"): _delete_stack_set,
    ("stack-set-instances", "create"): _create_instances,
    ("stack-set-instances", "delete"): _delete_instances,
}
