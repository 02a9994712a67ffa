"""Apply for StackSet-mode tasks: the handlers of `stack-set` and `stack-set-instances` changes.

Each handler carries out one change planned by orgc.plan.stacksets through the provider's
StackSet verbs (which wait for AWS's operation to end) and records the outcome in the task's
StackSet record. Values known only after apply (the id of an OU or account this run creates) are
filled in first; the ARNs of the StackSets a StackSet's automatic deployment depends on are read
from the state, where the changes of those tasks, which run first, recorded them.

They call the StackSet verbs of orgc.provider.Provider.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from orgc.apply.run import (
    EmulatorRefusal,
    Handler,
    Run,
    WaitsOnRefusal,
    refused_detail,
    taking,
)
from orgc.emulator_cloudformation import REFUSED_CODE
from orgc.observed import InstanceTargets, Preferences, StackSetDefinition
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.codec import stack_set_settings_json
from orgc.plan.specs import (
    InstancesCreate,
    InstancesDelete,
    Json,
    StackSetAddress,
    StackSetCreate,
    StackSetDelete,
    StackSetUpdate,
)
from orgc.stacksets import stack_set_hash
from orgc.state import StackSetRecord

T = TypeVar("T")

# Change kinds of StackSets: calls to CloudFormation in the management account, never to the
# Organizations API.
KINDS = frozenset({ChangeKind.STACK_SET, ChangeKind.STACK_SET_INSTANCES})


class StackSetError(Exception):
    """A StackSet change could not be made; the message says why and for which task."""


def _failing(task: str, where: str | None, action: Callable[[], T]) -> T:
    """Run `action`; a failure names the task and where it is written."""
    try:
        return action()
    except Exception as error:
        at = f" at {where}" if where else ""
        if getattr(error, "code", None) == REFUSED_CODE:
            raise EmulatorRefusal(
                f"the StackSet of task {task}{at}: the embedded emulator refused it: "
                f"{refused_detail(error)}. That is a limit of the emulator, not a mistake in the "
                "files: on AWS the StackSet would be made so; what waits on it is skipped"
            ) from error
        raise StackSetError(f"{error} (task {task}{at})") from error


def _body(template: Json) -> str:
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)


def _filled(run: Run, targets: InstanceTargets) -> InstanceTargets:
    """`targets` with the ids this run created in place of their markers."""
    return InstanceTargets(
        organizational_units=tuple(run.fill_text(ou) for ou in targets.organizational_units),
        account_filter=targets.account_filter,
        accounts=tuple(run.fill_text(a) for a in targets.accounts),
        regions=targets.regions,
    )


def _depends_on(run: Run, stack_set: StackSetAddress, names: Sequence[str]) -> list[str]:
    """The ARNs of the StackSets this one's automatic deployments follow."""
    records = run.state.stack_set_records()
    missing = [name for name in names if name not in records or not records[name].arn]
    with run.lock:
        refused = [name for name in missing if name in run.refused_stack_sets]
    if refused:
        raise WaitsOnRefusal(
            f"follows the automatic deployments of StackSet {', '.join(refused)}, which the "
            "emulator refused"
        )
    if missing:
        raise StackSetError(
            f"StackSet {', '.join(missing)}, which task {stack_set.task} depends on, "
            "has not been created"
        )
    return [str(records[name].arn) for name in names]


def _record(run: Run, stack_set: StackSetAddress) -> StackSetRecord:
    """The task's StackSet record as the state holds it now, or a new one."""
    found = run.state.stack_set_records().get(stack_set.name)
    if found is not None:
        return found
    return StackSetRecord(
        name=stack_set.name,
        task=stack_set.task,
        stack_set_id=stack_set.stack_set_id,
        arn=stack_set.arn,
    )


def _keep(run: Run, record: StackSetRecord) -> None:
    run.update_state(lambda state: state.with_stack_set(record))


def _definition(
    run: Run, spec: StackSetCreate | StackSetUpdate, template: Json, parameters: dict[str, str]
) -> StackSetDefinition:
    """What CreateStackSet and UpdateStackSet take for the task's StackSet, its template and
    parameters filled; WaitsOnRefusal / StackSetError when a StackSet it follows is not made."""
    stack_set, settings = spec.stack_set, spec.settings
    body = _body(template)
    return StackSetDefinition(
        name=stack_set.name,
        template_body=body,
        parameters=parameters,
        description=settings.description,
        tags=settings.tags,
        depends_on=tuple(_depends_on(run, stack_set, settings.auto_deployment.depends_on)),
        template_bucket=run.template_bucket(body),
    )


def _create_stack_set(run: Run, change: Change, spec: StackSetCreate) -> None:
    stack_set, settings = spec.stack_set, spec.settings
    template: Json = run.fill(spec.template)
    parameters: dict[str, str] = run.fill(dict(spec.parameters))
    definition = _definition(run, spec, template, parameters)
    try:
        stack_set_id, arn = _failing(
            stack_set.task, stack_set.where, lambda: run.provider.create_stack_set(definition)
        )
    except EmulatorRefusal:
        # A StackSet whose automatic deployments follow this one cannot be made either.
        with run.lock:
            run.refused_stack_sets.add(stack_set.name)
        raise
    # A new StackSet holds no instances: a record of an earlier one (deleted outside orgc) goes.
    _keep(
        run,
        StackSetRecord(
            name=stack_set.name,
            task=stack_set.task,
            stack_set_id=stack_set_id,
            arn=arn,
            hash=stack_set_hash(template, parameters, stack_set_settings_json(settings)),
            parameters=parameters,
        ),
    )


def _update_stack_set(run: Run, change: Change, spec: StackSetUpdate) -> None:
    stack_set, settings = spec.stack_set, spec.settings
    template: Json = run.fill(spec.template)
    parameters: dict[str, str] = run.fill(dict(spec.parameters))
    definition = _definition(run, spec, template, parameters)
    targets = spec.update_targets
    _failing(
        stack_set.task,
        stack_set.where,
        lambda: run.provider.update_stack_set(
            definition,
            targets=_filled(run, targets) if targets else None,
            preferences=stack_set.preferences,
        ),
    )
    _keep(
        run,
        dataclasses.replace(
            _record(run, stack_set),
            hash=stack_set_hash(template, parameters, stack_set_settings_json(settings)),
            parameters=parameters,
        ),
    )


def _create_instances(run: Run, change: Change, spec: InstancesCreate) -> None:
    stack_set = spec.stack_set
    wanted = _filled(run, spec.create)
    _failing(
        stack_set.task,
        stack_set.where,
        lambda: run.provider.create_stack_instances(
            name=stack_set.name, targets=wanted, preferences=stack_set.preferences
        ),
    )
    targets = _filled(run, stack_set.targets)
    _keep(
        run,
        dataclasses.replace(
            _record(run, stack_set),
            organizational_units=targets.organizational_units,
            account_filter=targets.account_filter,
            accounts=targets.accounts,
            regions=targets.regions,
        ),
    )


def _delete_instances(run: Run, change: Change, spec: InstancesDelete) -> None:
    stack_set = spec.stack_set
    provider = run.provider
    for request in spec.delete:
        _failing(
            stack_set.task,
            stack_set.where,
            functools.partial(
                provider.delete_stack_instances,
                name=stack_set.name,
                targets=request.targets,
                preferences=stack_set.preferences,
            ),
        )
    targets = _filled(run, stack_set.targets)
    record = _record(run, stack_set)
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


def _delete_stack_set(run: Run, change: Change, spec: StackSetDelete) -> None:
    name = spec.name
    if change.action is Action.DELETE:
        provider = run.provider
        if spec.instances and spec.organizational_units:
            everything = InstanceTargets(
                organizational_units=spec.organizational_units, regions=spec.regions
            )
            _failing(
                spec.task,
                None,
                lambda: provider.delete_stack_instances(
                    name=name, targets=everything, preferences=Preferences()
                ),
            )
        _failing(spec.task, None, lambda: provider.delete_stack_set(name))
    run.update_state(lambda state: state.without_stack_set(name))


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.STACK_SET, Action.CREATE): taking(StackSetCreate, _create_stack_set),
    (ChangeKind.STACK_SET, Action.UPDATE): taking(StackSetUpdate, _update_stack_set),
    (ChangeKind.STACK_SET, Action.DELETE): taking(StackSetDelete, _delete_stack_set),
    (ChangeKind.STACK_SET, Action.FORGET): taking(StackSetDelete, _delete_stack_set),
    (ChangeKind.STACK_SET_INSTANCES, Action.CREATE): taking(InstancesCreate, _create_instances),
    (ChangeKind.STACK_SET_INSTANCES, Action.DELETE): taking(InstancesDelete, _delete_instances),
}
