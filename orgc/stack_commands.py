"""OrgFormation's stack commands: `update-stacks`, `validate-stacks`, `print-stacks`,
`describe-stacks` and `delete-stacks`, on orgc's own pipeline.

`orgc update-stacks TEMPLATE --stack-name NAME` is read as a task file holding one update-stacks
task, named `update-stacks:NAME` (STACK_COMMAND_TASK + NAME), whose attributes are the command's
options; it is then compiled, planned and applied exactly as a task of a task file is, and its
stacks are recorded in the state under that task. A task file's plan leaves those stacks be
(no task file names them), and the command's plan sees only them (`own_stacks`), so neither
takes the other's stacks for orphans. `delete-stacks` plans with no task at all, seeing only the
stacks of its stack name (`named_stacks`), so that every one of them is a delete.

This module checks the command line (every mistake a diagnostic, before any AWS call) and
builds the inputs; orgc.cli runs them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from orgc.diagnostics import CodeId, Diagnostic, StageError
from orgc.load import LoadedFile, SourceMap, display_path, parse_json, resolved
from orgc.pipeline import Inputs, compile_organization
from orgc.plan.stacks import STACK_COMMAND_TASK
from orgc.remote import RemoteTemplates
from orgc.render import RenderedStack
from orgc.state import StackRecord, State

# CloudFormation's rule for a stack name.
_STACK_NAME = re.compile(r"[A-Za-z][-A-Za-z0-9]{0,127}")
_KEY_VALUE = re.compile(r"([^=\s]+)=(.*)", re.DOTALL)
_CLOUDFORMATION_FORM = re.compile(r"ParameterKey=([^,]+),ParameterValue=(.*)", re.DOTALL)


def command_task(stack_name: str) -> str:
    """The task name the stacks of `orgc update-stacks --stack-name NAME` are recorded under."""
    return f"{STACK_COMMAND_TASK}{stack_name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class StackOptions:
    """The options of `orgc update-stacks` (and of validate- and print-stacks), as typed."""

    template: Path
    stack_name: str | None
    stack_description: str | None = None
    parameters: Sequence[str] = ()
    termination_protection: bool = False
    update_protection: bool | None = None
    max_concurrent_stacks: str | None = None
    failed_stacks_tolerance: str | None = None
    templating_context: str | None = None
    tags: Sequence[str] = ()
    stack_policy: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StackCommand:
    """A checked stack command: the update-stacks task it stands for, as a task file holds it."""

    template: Path  # absolute
    stack_name: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return command_task(self.stack_name)


def check_stack_name(stack_name: str | None, command: str) -> str:
    """The stack name, or StageError (E480) naming what is wrong with it."""
    if stack_name is None:
        raise StageError(
            [Diagnostic("E480", f"orgc {command} needs --stack-name NAME: the stack to deploy")]
        )
    if not _STACK_NAME.fullmatch(stack_name):
        raise StageError(
            [
                Diagnostic(
                    "E480",
                    f"--stack-name {stack_name!r} is not a CloudFormation stack name: a letter, "
                    "then letters, digits and hyphens, 128 characters at most",
                )
            ]
        )
    return stack_name


def stack_command(options: StackOptions, command: str) -> StackCommand:
    """Check every option; StageError with every mistake (E480-E486), before any AWS call."""
    errors: list[Diagnostic] = []
    try:
        stack_name = check_stack_name(options.stack_name, command)
    except StageError as error:
        errors.extend(error.diagnostics)
        stack_name = ""
    template = resolved(options.template)
    if not template.exists():
        errors.append(Diagnostic("E486", f"template {options.template} not found: no such file"))
    elif not template.is_file():
        errors.append(
            Diagnostic(
                "E486",
                f"template {options.template} is not a file; name the annotated CloudFormation "
                "template to deploy",
            )
        )
    attributes: dict[str, Any] = {
        "Type": "update-stacks",
        "Template": str(template),
        "StackName": stack_name,
    }
    if options.stack_description is not None:
        attributes["StackDescription"] = options.stack_description
    parameters = _parameters(options.parameters, errors)
    if parameters:
        attributes["Parameters"] = parameters
    if options.termination_protection:
        attributes["TerminationProtection"] = True
    if options.update_protection is not None:
        if options.stack_policy is not None:
            errors.append(
                Diagnostic(
                    "E484",
                    "--stack-policy and --update-protection both set the stack policy; give "
                    "one of them",
                )
            )
        attributes["UpdateProtection"] = options.update_protection
    for option, key, least, text in (
        ("--max-concurrent-stacks", "MaxConcurrentStacks", 1, options.max_concurrent_stacks),
        ("--failed-stacks-tolerance", "FailedStackTolerance", 0, options.failed_stacks_tolerance),
    ):
        if text is None:
            continue
        number = _whole_number(text)
        if number is None or number < least:
            errors.append(
                Diagnostic(
                    "E485",
                    f"{option} takes a whole number of {least} or more, not {text!r}",
                )
            )
        else:
            attributes[key] = number
    if options.templating_context is not None:
        context = _json_object(options.templating_context, "--templating-context", "E482", errors)
        if context is not None:
            attributes["TemplatingContext"] = context
    tags = _key_values(options.tags, "--tags", "E483", errors)
    if tags:
        attributes["Tags"] = tags
    if options.stack_policy is not None:
        policy = _stack_policy(options.stack_policy, errors)
        if policy is not None:
            attributes["StackPolicy"] = policy
    if errors:
        raise StageError(errors)
    return StackCommand(template=template, stack_name=stack_name, attributes=attributes)


def _whole_number(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else None


def _words(items: Sequence[str]) -> list[str]:
    """`--parameters "A=1 B=2"` and `--parameters A=1 B=2` alike: one item a word."""
    return [word for item in items for word in item.split()]


def _parameters(items: Sequence[str], errors: list[Diagnostic]) -> dict[str, str]:
    """`Key=Value` and CloudFormation's `ParameterKey=Key,ParameterValue=Value`, mixed freely."""
    values: dict[str, str] = {}
    for word in _words(items):
        match = _CLOUDFORMATION_FORM.fullmatch(word)
        if match is None and not word.startswith("ParameterKey="):
            match = _KEY_VALUE.fullmatch(word)
        if match is None:
            errors.append(
                Diagnostic(
                    "E481",
                    f"--parameters takes Key=Value or ParameterKey=Key,ParameterValue=Value, "
                    f"not {word!r}",
                )
            )
            continue
        key, value = match.group(1), match.group(2)
        if key in values:
            errors.append(Diagnostic("E481", f"--parameters gives {key} twice; give it once"))
        values[key] = value
    return values


def _key_values(
    items: Sequence[str], option: str, code: CodeId, errors: list[Diagnostic]
) -> dict[str, str]:
    values: dict[str, str] = {}
    for word in _words(items):
        match = _KEY_VALUE.fullmatch(word)
        if match is None:
            errors.append(Diagnostic(code, f"{option} takes Key=Value pairs, not {word!r}"))
            continue
        values[match.group(1)] = match.group(2)
    return values


def _json_object(
    text: str, option: str, code: CodeId, errors: list[Diagnostic]
) -> dict[str, Any] | None:
    try:
        value = parse_json(text)
    except ValueError as error:
        errors.append(Diagnostic(code, f"{option} is not JSON: {error}"))
        return None
    if not isinstance(value, dict):
        errors.append(Diagnostic(code, f"{option} must be a JSON object ({{...}}), not {text!r}"))
        return None
    return value


def _stack_policy(text: str, errors: list[Diagnostic]) -> dict[str, Any] | None:
    """A policy document given as JSON text, or the path of a file holding one."""
    candidate = Path(text.removeprefix("file://"))
    if not text.lstrip().startswith("{") and candidate.is_file():
        try:
            text = candidate.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            errors.append(Diagnostic("E484", f"--stack-policy: cannot read {candidate}: {error}"))
            return None
    policy = _json_object(text, "--stack-policy", "E484", errors)
    if policy is not None and "Statement" not in policy:
        errors.append(
            Diagnostic(
                "E484",
                "--stack-policy must be a stack policy document, with a Statement; "
                '{"Statement": [{"Effect": "Deny", "Action": "Update:*", "Principal": "*", '
                '"Resource": "*"}]} denies every update',
            )
        )
        return None
    return policy


def task_file(command: StackCommand | None, where: Path) -> LoadedFile:
    """The task file a stack command stands for, made rather than read: one update-stacks task
    (none for delete-stacks). Its path lies beside the template, so that what the template
    reads is found from there; nothing is written."""
    data: dict[str, Any] = {} if command is None else {command.task: dict(command.attributes)}
    path = where / f".orgc-{command.task if command else 'stacks'}.yml"
    return LoadedFile(
        path=path,
        # Where the plan says the task comes from: the template it deploys.
        display=display_path(command.template) if command else "orgc delete-stacks",
        data=data,
        source_map=SourceMap(),
        text=json.dumps(data),
        included=(),
    )


def compile_command(
    command: StackCommand | None,
    *,
    where: Path,
    organization_file: Path | str,
    root: Path | None = None,
    allow_cmd: bool = False,
    remote: RemoteTemplates | None = None,
    live: bool = False,
    deleting: str | None = None,
) -> Inputs:
    """The inputs of a stack command: its one task (or none) bound against the organization in
    `organization_file`, which it never changes. With `live` that file was read from AWS
    (orgc.live_organization): the plan says so instead of naming --organization-file.
    `deleting` is the stack name of delete-stacks (which has no task), for the plan's title."""
    top = task_file(command, where)
    inputs = compile_organization(
        top.path,
        root=root,
        allow_cmd=allow_cmd,
        organization_file=organization_file,
        remote=remote,
        loaded=top,
    )
    source = (
        f"orgc update-stacks {display_path(command.template)} --stack-name {command.stack_name}"
        if command is not None
        else f"orgc delete-stacks {deleting}"
    )
    inputs = replace(inputs, stack_command=True, source=source)
    project = inputs.project
    if live and project is not None and project.organization is not None:
        name = project.organization.name
        reason = "read from AWS by a stack command, which never changes it"
        skipped = {**project.skipped, name: reason}
        inputs = replace(inputs, project=replace(project, live=reason, skipped=skipped))
    return inputs


def own_stacks(stack_name: str) -> Callable[[State], State]:
    """The state as `orgc update-stacks --stack-name NAME` compares with: its stacks alone.
    StageError (E488) when a task of the task files deploys a stack of that name."""
    task = command_task(stack_name)

    def scope(state: State) -> State:
        others = sorted(
            {r.task for r in state.stacks if r.stack_name == stack_name and r.task != task}
        )
        if others:
            raise StageError(
                [
                    Diagnostic(
                        "E488",
                        f"stack {stack_name} is deployed by task {', '.join(others)} of the task "
                        "files; apply the task file to change it, or give another --stack-name",
                    )
                ]
            )
        # Nor the StackSets of task files: the command deploys none.
        own = tuple(r for r in state.stacks if r.task == task)
        return replace(state, stacks=own, stack_sets=())

    return scope


def named_stacks(stack_name: str) -> Callable[[State], State]:
    """The state as `orgc delete-stacks --stack-name NAME` compares with: the stacks of that
    name alone, whichever task deployed them."""

    def scope(state: State) -> State:
        return replace(state, stacks=records_named(state, stack_name), stack_sets=())

    return scope


def records_named(state: State, stack_name: str | None) -> tuple[StackRecord, ...]:
    return tuple(r for r in state.stacks if stack_name is None or r.stack_name == stack_name)


def describe(
    state: State, stack_name: str | None, live: Mapping[tuple[str, str, str], str | None]
) -> dict[str, list[dict[str, Any]]]:
    """OrgFormation's describe-stacks document: stack name → its targets, as the state records
    them, each with the status AWS gives (`live`, by record key; None: not in AWS)."""
    described: dict[str, list[dict[str, Any]]] = {}
    for record in records_named(state, stack_name):
        described.setdefault(record.stack_name, []).append(
            {
                "stackName": record.stack_name,
                "accountId": record.account_id,
                "logicalAccountId": record.account,
                "region": record.region,
                "task": record.task,
                "stackId": record.stack_id,
                "status": live.get(record.key),
            }
        )
    return dict(sorted(described.items()))


def printed(stack: RenderedStack, output: str) -> str:
    """One rendered template as print-stacks shows it."""
    if output == "json":
        return json.dumps(stack.template, indent=2, ensure_ascii=False) + "\n"
    # As plain data: render's mappings are its own types, which YAML cannot represent.
    plain = json.loads(json.dumps(stack.template))
    yaml = YAML(typ="rt")  # keeps the template's order, as written
    yaml.default_flow_style = False
    buffer = StringIO()
    yaml.dump(plain, buffer)
    return buffer.getvalue()


def print_path(out: Path, stack: RenderedStack, output: str) -> Path:
    """Where print-stacks --output-path writes a target's template."""
    return out / stack.stack_name / f"{stack.key.account}-{stack.key.region}.{output}"
