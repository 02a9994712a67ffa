"""CloudFormation for the embedded emulator: a stack moto cannot build is refused, not faked.

moto 5.2.5 models a hundred resource types (its CloudFormation parsing's model map, plus
`Custom::` resources and the wait conditions it ignores). Any other type it skips without a
word, and what reads such a resource goes wrong in one of three ways: a `Ref` of it is dropped
from the property or output that holds it (an output silently missing, a property never set),
a `Fn::GetAtt` of it in a resource fails the request with "references undefined resource" after
the stack was registered, and one in the Outputs crashes the handler (an HTML HTTP 500 that
botocore cannot read), leaving a stack stuck in CREATE_IN_PROGRESS. None of that is what AWS
would do with the template.

`teach_refusals()` checks the template of CreateStack, UpdateStack, CreateChangeSet,
CreateStackSet and UpdateStackSet before moto sees it: where a resource that is created (its
Condition true, or none) or an output that is shown reads a resource of a type moto lacks, by
`Ref`, `Fn::GetAtt` or `Fn::Sub`, in the branch of `Fn::If` that its condition takes, the request
is refused with an AWS-style HTTP 400 error whose code is `EmulatorRefused` and whose message
names the type, the logical ids and the reading. A resource of a missing type that nothing reads
is still skipped, as before: the stack is otherwise what AWS would build. Any other exception
that escapes one of those handlers, ExecuteChangeSet and the StackSet instance calls is answered
the same way instead of an HTTP 500, and a stack the failed request left behind (created, or
waiting for review) is removed, so that reading the account again finds what it held before.

Termination protection is kept as AWS keeps it: moto stores EnableTerminationProtection but has
no UpdateTerminationProtection and deletes a protected stack; here the call sets the flag, and
DeleteStack of a protected stack is refused with AWS's ValidationError.

Like the other patches (orgc.emulator_stacksets) it names moto's internals, refuses any other
moto version, and is applied by the server process before it serves.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from orgc.emulator_stacksets import patches_moto

REFUSED_CODE = "EmulatorRefused"
"""The error code of a request the emulator cannot carry out as AWS would."""

# Handlers whose template is checked first, and those only guarded against crashes.
_CHECKED = (
    "create_stack",
    "update_stack",
    "create_change_set",
    "create_stack_set",
    "update_stack_set",
)
_GUARDED = ("execute_change_set", "create_stack_instances", "update_stack_instances")
# A stack in one of these states after a failed request is one that request left behind.
_LEFTOVER_STATUSES = frozenset({"CREATE_IN_PROGRESS", "CREATE_PENDING", "REVIEW_IN_PROGRESS"})
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


@patches_moto
def teach_refusals() -> None:
    """Patch moto's CloudFormation responses in this process (see above). Applying it twice is
    applying it once. Raises UnsupportedMoto for any other moto version."""
    from moto.cloudformation import responses

    response = responses.CloudFormationResponse
    # moto warns of a code CloudFormation's model does not list; this one is meant so.
    warnings.filterwarnings("ignore", f"Exception\\({REFUSED_CODE}\\)", UserWarning)
    for name in (*_CHECKED, *_GUARDED):
        setattr(response, name, _guarded(getattr(response, name), check=name in _CHECKED))
    kept_as_aws_keeps_it = {
        "update_termination_protection": _update_termination_protection,
        "delete_stack": _protected_delete(response.delete_stack),
    }
    for name, handler in kept_as_aws_keeps_it.items():
        setattr(response, name, handler)


# --- termination protection -------------------------------------------------------------------


def _update_termination_protection(self: Any) -> Any:
    from moto.core.responses import ActionResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection")
    return ActionResult({"StackId": stack.stack_id})


def _protected_delete(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def call(self: Any) -> Any:
        from moto.cloudformation.exceptions import ValidationError

        name = self._get_param("StackName")
        backend = self.cloudformation_backend
        # A deleted stack, or none of that name, is deleted as moto deletes it (a no-op).
        stack = backend.stacks.get(name) or next(
            (s for s in backend.stacks.values() if s.name == name), None
        )
        if stack is not None and stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.stack_id}] cannot be deleted while "
                "TerminationProtection is enabled"
            )
        return original(self)

    return call


@functools.cache
def _refusal_class() -> type[Exception]:
    from moto.core.exceptions import ServiceException

    class EmulatorRefused(ServiceException):
        # moto answers a service error whose code CloudFormation's model does not list with
        # HTTP 400 and AWS's error document; the class lives outside moto's packages so that
        # moto looks the code up in CloudFormation's model only.
        code = REFUSED_CODE

    return EmulatorRefused


def _refused(message: str) -> Exception:
    return _refusal_class()(message)


def _guarded(original: Callable[[Any], Any], *, check: bool) -> Callable[[Any], Any]:
    def call(self: Any) -> Any:
        from moto.core.exceptions import ServiceException
        from werkzeug.exceptions import HTTPException

        name = self._get_param("StackName")
        label = f"stack {name}" if name else f"StackSet {self._get_param('StackSetName')}"
        if check:
            problems = _unmodelled_reads(self)
            if problems:
                raise _refused(f"{label}: " + "; ".join(problems))
        backend = self.cloudformation_backend
        before = set(backend.stacks)
        try:
            return original(self)
        except Exception as error:
            _remove_leftovers(backend, before, name)
            if isinstance(error, (ServiceException, HTTPException)):
                raise  # an answer AWS could give: moto's own error
            raise _refused(
                f"{label}: the emulator failed on this request "
                f"({type(error).__name__}: {error}); AWS would carry it out or say why not"
            ) from error

    return call


def _remove_leftovers(backend: Any, before: set[str], name: str | None) -> None:
    """Drop the stacks a failed request registered, or left waiting, with their exports and
    whatever resources they made."""
    for stack_id, stack in list(backend.stacks.items()):
        new = stack_id not in before
        if not new and (stack.name != name or stack.status not in _LEFTOVER_STATUSES):
            continue
        backend.stacks.pop(stack_id, None)
        for export_name, export in list(backend.exports.items()):
            if export.exporting_stack_id == stack_id:
                backend.exports.pop(export_name, None)
        # Best effort: a half-made resource may not delete.
        with contextlib.suppress(Exception):
            stack.resource_map.delete()


# --- what a template reads --------------------------------------------------------------------


def _unmodelled_reads(self: Any) -> list[str]:
    """What the request's template reads of resources moto does not model, one line each; empty
    when the template reads none, or cannot be read here (moto then answers as it would)."""
    from moto.cloudformation.models import Stack

    try:
        body, parameters = _template_and_parameters(self)
        if not body:
            return []
        template = Stack.parse_template(body)
        conditions = _conditions(self, template, parameters)
    except Exception:  # moto's own handler reports a template it cannot read
        return []
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        return []
    return _problems(template, conditions)


def _template_and_parameters(self: Any) -> tuple[str | None, dict[str, Any]]:
    body = self._get_param("TemplateBody")
    url = self._get_param("TemplateURL")
    stack = None
    if self._get_param("StackName") and self._get_param("ChangeSetType", "UPDATE") == "UPDATE":
        name = self._get_param("StackName")
        stack = next(
            (s for s in self.cloudformation_backend.stacks.values() if s.name == name), None
        )
    if not body and url:
        body = self._get_stack_from_s3_url(url)
    if not body and stack is not None and self._get_bool_param("UsePreviousTemplate", False):
        body = stack.template
    previous = dict(stack.parameters) if stack is not None else {}
    parameters: dict[str, Any] = {}
    for parameter in self._get_param("Parameters", []):
        key = parameter.get("ParameterKey")
        if parameter.get("UsePreviousValue"):
            if key in previous:
                parameters[key] = previous[key]
        elif key is not None:
            parameters[key] = parameter.get("ParameterValue", "")
    return body, parameters


def _conditions(
    self: Any, template: dict[str, Any], parameters: dict[str, Any]
) -> Mapping[str, Any]:
    """The template's conditions as moto evaluates them for these parameters."""
    from moto.cloudformation.parsing import ResourceMap

    resources = ResourceMap(
        "orgc-check",
        self._get_param("StackName") or self._get_param("StackSetName") or "orgc-check",
        parameters,
        {},
        region_name=self.region,
        account_id=self.current_account,
        template=template,
        cross_stack_resources={},
    )
    resources.load_mapping()
    resources.load_parameters()
    resources.load_conditions()
    conditions: Mapping[str, Any] = resources.lazy_condition_map
    return conditions


def _problems(template: dict[str, Any], conditions: Mapping[str, Any]) -> list[str]:
    resources: dict[str, Any] = template["Resources"]
    kinds: dict[str, str] = {
        name: resource["Type"]
        for name, resource in resources.items()
        if isinstance(resource, dict) and isinstance(resource.get("Type"), str)
    }
    missing = {name: kind for name, kind in kinds.items() if not modelled(kind)}
    if not missing:
        return []

    def live(entry: Any) -> bool:
        condition = entry.get("Condition") if isinstance(entry, dict) else None
        return not isinstance(condition, str) or bool(conditions.get(condition, True))

    readers: list[tuple[str, Any]] = [
        (f"resource {name}", resource.get("Properties"))
        for name, resource in resources.items()
        if name not in missing and isinstance(resource, dict) and live(resource)
    ]
    outputs = template.get("Outputs")
    if isinstance(outputs, dict):
        readers += [
            (f"output {name}", output)
            for name, output in outputs.items()
            if isinstance(output, dict) and live(output)
        ]
    found: dict[str, list[str]] = {}
    for reader, value in readers:
        for target, reading in _reads(value, conditions):
            if target in missing:
                found.setdefault(target, []).append(f"{reading} in {reader}")
    return [
        f"the emulator does not implement {missing[target]} (resource {target}), which "
        f"{', '.join(dict.fromkeys(readings))} read(s); AWS would create it"
        for target, readings in sorted(found.items())
    ]


def modelled(kind: str) -> bool:
    """Whether moto's CloudFormation builds (or deliberately ignores) resources of `kind`."""
    from moto.cloudformation.parsing import NULL_MODELS, get_model_map

    return kind in NULL_MODELS or kind.startswith("Custom::") or kind in get_model_map()


def _reads(value: Any, conditions: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(logical id, how) for every resource `value` reads, in the branches it takes."""
    if isinstance(value, list):
        for item in value:
            yield from _reads(item, conditions)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            yield argument, f"Ref {argument}"
            return
        if function == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            if isinstance(parts, list) and parts and isinstance(parts[0], str):
                attribute = ".".join(str(p) for p in parts[1:])
                yield parts[0], f"Fn::GetAtt {parts[0]}.{attribute}"
            return
        if function == "Fn::Sub":
            yield from _sub_reads(argument, conditions)
            return
        if function == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
            condition = argument[0]
            if isinstance(condition, str) and condition in conditions:
                yield from _reads(argument[1] if conditions[condition] else argument[2], conditions)
            else:
                yield from _reads(argument[1:], conditions)
            return
    for item in value.values():
        yield from _reads(item, conditions)


def _sub_reads(argument: Any, conditions: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    text, variables = argument, {}
    if isinstance(argument, list) and len(argument) == 2:
        text, variables = argument
        yield from _reads(variables, conditions)
    if not isinstance(text, str):
        return
    for name in _SUB_VARIABLE.findall(text):
        target = name.split(".", 1)[0]
        if isinstance(variables, dict) and name in variables:
            continue
        how = "Fn::GetAtt" if "." in name else "Ref"
        yield target, f"Fn::Sub ${{{name}}} ({how})"
