"""Stack policies for the embedded emulator: an update a stack's policy denies fails, as in AWS.

moto 5.2.5 stores a stack policy (CreateStack's StackPolicyBody, SetStackPolicy) and enforces
nothing: an update that deletes or replaces a protected resource goes through. CloudFormation
(AWS's user guide, "Prevent updates to stack resources") works as follows, and so does the
emulator once `teach_stack_policies()` has patched it:

- A stack without a policy allows every update. Once a policy is set, an update action on a
  resource is allowed only when a statement allows it and none denies it (an explicit Deny
  wins, anything not explicitly allowed is denied).
- The update actions are `Update:Modify` (properties change), `Update:Replace` (a property that
  cannot change in place, or the resource's Type, changes) and `Update:Delete` (the logical id
  leaves the template); `Update:*` and other wildcards match them. Resources the update adds
  are not governed by the policy.
- A statement names its resources as `*` or `LogicalResourceId/<id>` (wildcards `*` and `?`),
  or excludes them with `NotResource`; `NotAction` excludes actions; a `Condition` on the key
  `ResourceType` (`StringEquals`, `StringLike`, `StringNotEquals`, `StringNotLike`) narrows
  it to resource types.
- UpdateStack evaluates the stack's current policy, or its `StackPolicyDuringUpdateBody`, which
  overrides it for that update only. A `StackPolicyBody` given to UpdateStack becomes the
  stack's policy once the update succeeds.
- A denied update is accepted (UpdateStack answers the stack's id); the stack then fails the
  update and rolls back: UPDATE_FAILED for each denied resource, with a reason that says the
  stack policy denied the action, and the stack ends UPDATE_ROLLBACK_COMPLETE holding what it
  held before. moto carries out a stack operation before it answers, so the emulator does the
  same with the failed update: the stack is UPDATE_ROLLBACK_COMPLETE when the answer arrives,
  and it can be updated and deleted afterwards as any stack.

Whether a property change replaces the resource is read from cfn-lint's copy of the resource
schemas (`createOnlyProperties`); without it, or for a type it does not know, a property
change is a modification. A parameter whose value changes modifies the resources that read it
(`Ref`, `Fn::Sub`). As the other patches (orgc.emulator_stacksets), this names moto's internals,
refuses any other moto version, and is applied by the server process before it serves.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from orgc.emulator_stacksets import patches_moto

_request = threading.local()  # the UpdateStack request's policy bodies, while it is served
_CONDITION_KEY = "resourcetype"


@dataclass(frozen=True)
class Change:
    """An update action on a resource the stack holds."""

    action: str  # "Update:Modify", "Update:Replace" or "Update:Delete"
    logical_id: str
    resource_type: str


@patches_moto
def teach_stack_policies() -> None:
    """Patch moto, in this process, to enforce stack policies on UpdateStack (see above).
    Applying it twice is applying it once. Raises UnsupportedMoto for any other moto version."""
    from moto.cloudformation import models, responses

    response = responses.CloudFormationResponse
    backend = models.CloudFormationBackend
    setattr(response, "update_stack", _with_policies(response.update_stack))  # noqa: B010
    setattr(backend, "update_stack", _enforced(backend.update_stack))  # noqa: B010


def _with_policies(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """UpdateStack's handler, with the request's policy bodies kept for the backend."""

    def update_stack(self: Any) -> Any:
        from moto.cloudformation.exceptions import ValidationError

        during = _policy_param(self, "StackPolicyDuringUpdate")
        new = _policy_param(self, "StackPolicy")
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        tags = dict(stack.tags or {})
        _request.during, _request.new, _request.denied = during, new, False
        if during is not None and _statements(during) is None:
            raise ValidationError(message="Error validating stack policy: Invalid stack policy")
        try:
            result = original(self)
        finally:
            denied = _request.denied
            _request.during = _request.new = None
            _request.denied = False
        if denied:
            stack.tags = tags  # a rolled-back update leaves the stack's tags as they were
        return result

    return update_stack


def _policy_param(self: Any, prefix: str) -> str | None:
    body: str | None = self._get_param(f"{prefix}Body")
    url = self._get_param(f"{prefix}URL")
    if not body and url:
        body = self._get_stack_from_s3_url(url)
    return body or None


def _enforced(original: Callable[..., Any]) -> Callable[..., Any]:
    """The backend's update_stack: the update is carried out only when the policy allows it."""

    def update_stack(self: Any, name: str, template: str, *more: Any, **named: Any) -> Any:
        # moto passes (role_arn, parameters, tags), by position or by name
        parameters = named["parameters"] if "parameters" in named else more[1]
        stack = self.get_stack(name)
        during = getattr(_request, "during", None)
        policy = during if during is not None else (stack.policy or None)
        if policy is not None:
            resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
            denials = denied(policy, changes(stack, template, resolved))
            if denials:
                _roll_back(stack, denials)
                _request.denied = True
                return stack
        updated = original(self, name, template, *more, **named)
        new = getattr(_request, "new", None)
        if new is not None:
            stack.policy = new
        return updated

    return update_stack


def _roll_back(stack: Any, denials: list[tuple[Change, str]]) -> None:
    """Record the failed update as CloudFormation reports one, and leave the stack as it was."""
    from moto.cloudformation.models import Event

    stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
    for change, reason in denials:
        resource = stack.resource_map._parsed_resources.get(change.logical_id)
        physical = getattr(resource, "physical_resource_id", None) or change.logical_id
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=change.logical_id,
                physical_resource_id=str(physical),
                resource_type=change.resource_type,
                resource_status="UPDATE_FAILED",
                resource_status_reason=reason,
                resource_properties=None,
            )
        )
    names = ", ".join(change.logical_id for change, _ in denials)
    stack._add_stack_event(
        "UPDATE_ROLLBACK_IN_PROGRESS",
        resource_status_reason=f"The following resource(s) failed to update: [{names}].",
    )
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
    stack.status = "UPDATE_ROLLBACK_COMPLETE"


# --- what the update changes ------------------------------------------------------------------


def changes(stack: Any, template: str, parameters: Mapping[str, Any]) -> list[Change]:
    """The update actions going from the stack's template and parameters to these, on the
    resources the stack holds (resources the update adds are not among them)."""
    from moto.cloudformation.models import Stack

    old_template = stack.template_dict
    new_template = Stack.parse_template(template)
    old = _live_resources(stack, old_template, dict(stack.parameters))
    new = _live_resources(stack, new_template, dict(parameters))
    moved = {
        key
        for key in set(stack.parameters) | set(parameters)
        if stack.parameters.get(key) != parameters.get(key)
    }
    found: list[Change] = []
    for logical_id, before in old.items():
        kind = str(before.get("Type", ""))
        after = new.get(logical_id)
        if after is None:
            found.append(Change("Update:Delete", logical_id, kind))
            continue
        if after.get("Type") != kind:
            found.append(Change("Update:Replace", logical_id, kind))
            continue
        changed = _changed_properties(before, after, moved)
        if changed:
            replaced = bool(changed & _create_only(kind))
            action = "Update:Replace" if replaced else "Update:Modify"
            found.append(Change(action, logical_id, kind))
        elif before.get("Metadata") != after.get("Metadata"):
            found.append(Change("Update:Modify", logical_id, kind))
    return found


def _changed_properties(
    before: Mapping[str, Any], after: Mapping[str, Any], moved: set[str]
) -> set[str]:
    old = before.get("Properties") or {}
    new = after.get("Properties") or {}
    if not isinstance(old, dict) or not isinstance(new, dict):
        return {"*"} if old != new else set()
    return {
        key
        for key in set(old) | set(new)
        if old.get(key) != new.get(key) or bool(_parameters_read(new.get(key)) & moved)
    }


def _parameters_read(value: Any) -> set[str]:
    return set(_names_read(value))


def _names_read(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _names_read(item)
    elif isinstance(value, dict):
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref" and isinstance(argument, str):
                yield argument
                return
            if function == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) and argument else argument
                if isinstance(text, str):
                    yield from re.findall(r"\$\{([^!}.][^}.]*)\}", text)
        for item in value.values():
            yield from _names_read(item)


def _live_resources(
    stack: Any, template: Mapping[str, Any], parameters: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The template's resources that exist with these parameters (their Condition true)."""
    resources = template.get("Resources") if isinstance(template, Mapping) else None
    if not isinstance(resources, dict):
        return {}
    live = {k: v for k, v in resources.items() if isinstance(v, dict)}
    if not any(isinstance(v.get("Condition"), str) for v in live.values()):
        return live
    from moto.cloudformation.parsing import ResourceMap

    resource_map = ResourceMap(
        stack.stack_id,
        stack.name,
        parameters,
        {},
        region_name=stack.region_name,
        account_id=stack.account_id,
        template=dict(template),
        cross_stack_resources={},
    )
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    conditions = resource_map.lazy_condition_map
    return {
        k: v
        for k, v in live.items()
        if not isinstance(v.get("Condition"), str) or bool(conditions.get(v["Condition"], True))
    }


@functools.cache
def _create_only(kind: str) -> frozenset[str]:
    """The top-level properties of `kind` that cannot change without replacing the resource."""
    try:
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema
    except Exception:  # no cfn-lint, or a type it does not know: changes modify in place
        return frozenset()
    paths = schema.get("createOnlyProperties", [])
    return frozenset(str(path).split("/")[2] for path in paths if str(path).count("/") >= 2)


# --- the policy -------------------------------------------------------------------------------


def _statements(policy: str) -> list[dict[str, Any]] | None:
    """The policy's statements, or None when it is not a policy document."""
    try:
        document = json.loads(policy)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(s, dict) for s in statements):
        return None
    return statements


def denied(policy: str, found: list[Change]) -> list[tuple[Change, str]]:
    """Each change the policy denies, with the reason CloudFormation's event would give."""
    statements = _statements(policy)
    if statements is None:
        statements = []  # a policy that cannot be read allows nothing
    denials: list[tuple[Change, str]] = []
    for change in found:
        target = f"[{change.action}] on resource [LogicalResourceId/{change.logical_id}]"
        deny = next(
            (
                number
                for number, statement in enumerate(statements, 1)
                if statement.get("Effect") == "Deny" and _applies(statement, change)
            ),
            None,
        )
        if deny is not None:
            reason = f"Action denied by stack policy: Statement [#{deny}] denies {target}"
            denials.append((change, reason))
        elif not any(
            statement.get("Effect") == "Allow" and _applies(statement, change)
            for statement in statements
        ):
            reason = f"Action denied by stack policy: no statement allows {target}"
            denials.append((change, reason))
    return denials


def _applies(statement: Mapping[str, Any], change: Change) -> bool:
    resource = f"LogicalResourceId/{change.logical_id}"
    if "Action" in statement:
        actions = _matches(statement["Action"], change.action, fold=True)
    else:
        actions = "NotAction" in statement and not _matches(
            statement["NotAction"], change.action, fold=True
        )
    if "Resource" in statement:
        resources = _matches(statement["Resource"], resource, fold=False)
    else:
        resources = "NotResource" in statement and not _matches(
            statement["NotResource"], resource, fold=False
        )
    return actions and resources and _condition_holds(statement.get("Condition"), change)


def _matches(patterns: Any, value: str, *, fold: bool) -> bool:
    items = patterns if isinstance(patterns, list) else [patterns]
    for item in items:
        if not isinstance(item, str):
            continue
        pattern, text = (item.lower(), value.lower()) if fold else (item, value)
        if fnmatch.fnmatchcase(text, pattern.replace("[", "[[]")):
            return True
    return False


def _condition_holds(condition: Any, change: Change) -> bool:
    if condition is None:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, keys in condition.items():
        if not isinstance(keys, dict):
            return False
        for key, wanted in keys.items():
            present = str(key).lower() == _CONDITION_KEY
            value = change.resource_type if present else ""
            if operator == "StringEquals":
                holds = present and value in _strings(wanted)
            elif operator == "StringNotEquals":
                holds = not present or value not in _strings(wanted)
            elif operator == "StringLike":
                holds = present and _matches(_strings(wanted), value, fold=False)
            elif operator == "StringNotLike":
                holds = not present or not _matches(_strings(wanted), value, fold=False)
            else:
                holds = False  # an operator stack policies do not take matches nothing
            if not holds:
                return False
    return True


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items]
