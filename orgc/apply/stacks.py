"""Apply for Stacks-mode tasks: deploy, replace, delete or forget one stack per change.

A stack's parameters are filled in first: values known only after apply from the run's ids,
references from the outputs its producer's change recorded in this run (or read from the
producer's stack) or from the export they name. A stack planned as "may change" whose values turn
out the same is not deployed again.
"""

from __future__ import annotations

import json
from typing import Any

from orgc.apply.run import EmulatorRefusal, Handler, Run, refused_detail, taking
from orgc.emulator_cloudformation import REFUSED_CODE
from orgc.observed import StackDeployment, StackResult
from orgc.plan import Action, Change, ChangeKind
from orgc.plan.specs import (
    StackAddress,
    StackDeploy,
    StackReference,
    StackRemoval,
    StackSettings,
)
from orgc.plan.stacks import stack_hash
from orgc.render import known_after_apply, markers
from orgc.state import StackRecord
from orgc.tasks.model import ALLOW_UPDATES_POLICY


class StackError(Exception):
    """A stack could not be deployed or deleted; the message says why and which task."""


def _where(run: Run, address: StackAddress) -> dict[str, str]:
    """The provider's keywords that locate a stack."""
    return {
        "account_id": run.account_id(address),
        "role_name": address.role_name,
        "region": address.region,
        "stack_name": address.stack_name,
    }


def _parameters(run: Run, change: Change, spec: StackDeploy) -> dict[str, str]:
    """The parameters with every marker filled and every reference read."""
    by_parameter = {r.parameter: r for r in spec.references}
    parameters: dict[str, str] = {}
    for name, written in spec.parameters.items():
        reference = by_parameter.get(name)
        if reference is not None and markers(written):
            parameters[name] = _reference_value(run, spec, reference)
            continue
        # A !CopyValue inside the parameter's text (`!Join`): its marker, by reference.
        text = written
        for inner in spec.references:
            marker = known_after_apply("reference", inner.parameter)
            if inner.parameter != name and marker in text:
                text = text.replace(marker, _reference_value(run, spec, inner))
        parameters[name] = run.fill_text(text)
    return parameters


def _reference_value(run: Run, spec: StackDeploy, reference: StackReference) -> str:
    task = spec.address.task
    producer = reference.producer
    if producer is not None:
        output = reference.output or ""
        outputs = run.outputs_of(reference.producer_change)
        if outputs is None:
            found = run.provider.describe_stack(**_where(run, producer))
            outputs = found.outputs if found else {}
        if output not in outputs:
            raise StackError(
                f"{reference.expression}: stack {producer} has no output {output} "
                f"(task {task} at {spec.where})"
            )
        return outputs[output]
    account_id = run.fill_text(reference.export_account_id or run.account_id(spec.address))
    region = reference.export_region or spec.address.region
    value = run.provider.read_export(
        account_id=account_id,
        role_name=spec.address.role_name,
        region=region,
        name=reference.export or "",
    )
    if value is None:
        raise StackError(
            f"{reference.expression}: no export {reference.export} in account "
            f"{account_id} {region} (task {task})"
        )
    return value


def _filled_settings(run: Run, settings: StackSettings) -> StackSettings:
    return StackSettings(
        tags=run.fill(dict(settings.tags)),
        termination_protection=settings.termination_protection,
        stack_policy=run.fill(settings.stack_policy),
        role_arn=run.fill(settings.role_arn),
        disable_rollback=settings.disable_rollback,
    )


def _deploy_stack(run: Run, change: Change, spec: StackDeploy) -> None:
    address = spec.address
    where = _where(run, address)
    template = run.fill(spec.template)
    parameters = _parameters(run, change, spec)
    settings = _filled_settings(run, spec.settings)
    content_hash = stack_hash(template, parameters, settings)
    if (
        change.action is Action.UPDATE
        and spec.hash is None
        and content_hash == spec.previous_hash
        and not spec.force_deploy
    ):
        # Decided at plan time as "may change": the values turned out the same.
        record = run.state.stack_records().get(
            (address.stack_name, where["account_id"], address.region)
        )
        run.remember_outputs(change, record.outputs if record else {})
        return

    body = json.dumps(template, separators=(",", ":"), ensure_ascii=False)

    def deploy(create: bool) -> StackResult:
        return run.provider.deploy_stack(
            StackDeployment(
                **where,
                template_body=body,
                parameters=parameters,
                tags=settings.tags,
                create=create,
                termination_protection=settings.termination_protection,
                stack_policy=_stack_policy(settings.stack_policy, create=create),
                stack_policy_during_update=_policy_during_update(
                    settings.stack_policy, create=create
                ),
                role_arn=settings.role_arn,
                disable_rollback=settings.disable_rollback,
                template_bucket=run.template_bucket(body),
            )
        )

    try:
        if change.action is Action.REPLACE:
            run.provider.delete_stack(**where)
        create = change.action in (Action.CREATE, Action.REPLACE)
        try:
            result = deploy(create)
        except Exception as error:
            # A plan that trusted the state can meet a stack that is not as recorded.
            recovery = _stack_recovery(error, create=create)
            if recovery is None:
                raise
            if recovery == "replace":
                run.provider.delete_stack(**where)
            result = deploy(recovery != "update")
    except Exception as error:
        if getattr(error, "code", None) == REFUSED_CODE:
            raise EmulatorRefusal(_refusal(change, spec, where, error)) from error
        raise StackError(f"{error} (task {address.task} at {spec.where})") from error
    record = StackRecord(
        stack_name=address.stack_name,
        account_id=where["account_id"],
        region=address.region,
        task=address.task,
        account=address.account,
        hash=content_hash,
        stack_id=result.stack_id,
        last_changed=result.last_changed,
        parameters=parameters,
        outputs=result.outputs,
        exports=result.exports,
        termination_protection=settings.termination_protection,
    )
    run.remember_outputs(change, result.outputs)
    run.update_state(lambda state: state.with_stack(record))


def _refusal(change: Change, spec: StackDeploy, where: dict[str, str], error: Exception) -> str:
    address = spec.address
    detail = refused_detail(error)
    verb = "updated" if change.action is Action.UPDATE else "created"
    account = (
        f"{address.account} ({where['account_id']})" if address.account else where["account_id"]
    )
    return (
        f"stack {address.stack_name} in {account} {address.region} (task {address.task} at "
        f"{spec.where}): the embedded emulator refused it: {detail}. That is a limit of the "
        f"emulator, not a mistake in the files: on AWS the stack would be {verb}; what waits on "
        "it is skipped"
    )


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


def _delete_stack(run: Run, change: Change, spec: StackRemoval) -> None:
    address = spec.address
    where = _where(run, address)
    if change.action is Action.DELETE:
        try:
            run.provider.delete_stack(**where)
        except Exception as error:
            raise StackError(f"{error} (task {address.task})") from error
    key = (address.stack_name, where["account_id"], address.region)
    run.update_state(lambda state: state.without_stack(key))


HANDLERS: dict[tuple[ChangeKind, Action], Handler] = {
    (ChangeKind.STACK, Action.CREATE): taking(StackDeploy, _deploy_stack),
    (ChangeKind.STACK, Action.UPDATE): taking(StackDeploy, _deploy_stack),
    (ChangeKind.STACK, Action.REPLACE): taking(StackDeploy, _deploy_stack),
    (ChangeKind.STACK, Action.DELETE): taking(StackRemoval, _delete_stack),
    (ChangeKind.STACK, Action.FORGET): taking(StackRemoval, _delete_stack),
}


def _policy_during_update(policy: Any, *, create: bool) -> str | None:
    """The policy that judges an update, where it is not the one the stack holds. CloudFormation
    checks an update against the stack's current policy and gives the stack the new one after
    it; so when the files lift the protection (UpdateProtection: false, a policy removed from
    the files), the update that lifts it also may change what was protected, as the files say,
    instead of failing until a second apply. A stricter policy takes effect after the update,
    as on AWS."""
    if create or (policy and policy != ALLOW_UPDATES_POLICY):
        return None
    return json.dumps(ALLOW_UPDATES_POLICY)


def _stack_policy(policy: Any, *, create: bool) -> str | None:
    """The policy a deploy sends. An update of a stack the files give no policy sends one that
    allows every update: CloudFormation keeps the last policy a stack was given, so a policy
    removed from the files (or UpdateProtection turned off) would otherwise stay in force."""
    if policy:
        return json.dumps(policy)
    if create:
        return None
    return json.dumps(ALLOW_UPDATES_POLICY)
