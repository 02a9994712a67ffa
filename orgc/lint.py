"""Rendered templates checked with cfn-lint, when it is installed (the `lint` extra).

orgc renders one template per stack target; CloudFormation would refuse one with a resource
type that does not exist or a property it does not know only when apply creates the stack, in
the middle of a run. cfn-lint knows CloudFormation's resource specification, so orgc runs its
error rules (ids starting with E: template structure, functions, resource types, properties and
their values) over every distinct rendered template, in the regions the template is bound to,
and reports each finding at the line of the task that deploys it (E435). cfn-lint's warnings
and informational rules are not run: orgc's own generated parameters and outputs would set
some of them off, and a warning is not worth stopping a plan for.

A resource type outside AWS's own namespaces (`AWS::`, `Alexa::`) is a registry type: a private
type registered in the target accounts, or a public third-party one activated there.
cfn-lint's specification cannot know one, so its "type does not exist" finding (E3006) is not
reported for a type a `register-type` task of the same files registers: CloudFormation resolves
that type when it creates the stack. Any other registry type is still reported, as AWS refuses
a type nobody registered, with a hint: a type registered some other way is let through with
`--no-lint`.

cfn-lint's deprecated-runtime rules (E2531: AWS no longer lets a function with the Lambda
runtime be created, E2533: nor updated) are read against today's date, so a template that
passed last month fails today, and AWS itself still runs functions of such a runtime (and
grants extensions of the blocks): their findings are the warning W631 naming the runtime, and
plan and apply go on, leaving it to AWS to refuse the create or update.

Values known only after apply are `{{orgc:...}}` markers in a rendered template; they are
replaced by well-formed stand-ins of their kind (a 12-digit account id, an `ou-` id, ...) before
linting, so a marker is never a finding. Findings are cached by content hash in the user's cache
directory (`~/.cache/orgc/lint`), so planning the same templates again costs no cfn-lint run,
and cfn-lint itself (seconds to import) is loaded only when a template was not linted before.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from orgc.diagnostics import Diagnostic
from orgc.render import RenderedStack, markers
from orgc.render.model import fill_markers

# Setting ORGC_LINT=0 turns cfn-lint off, as `--no-lint` does.
ENVIRONMENT_SWITCH = "ORGC_LINT"

# Stand-ins for values known only after apply, by marker kind, numbered so that two markers
# never become the same text (a ForeachAccount copy is named by its account's id): well formed,
# so only a real mistake is a finding.
_STAND_INS = {
    "account": "{:012d}",
    "organizational-unit": "ou-orgc-{:08d}",
    "policy": "p-orgc{:08d}",
    "root": "r-orgc{:d}",
    "organization-id": "o-orgc{:06d}",
    "state-bucket": "orgc-state-{:012d}",
}

# cfn-lint's rules that a Lambda runtime is past its create block (E2531) or its update block
# (E2533), by today's date: reported as the warning W631, not as an error (see `lint_stacks`).
DEPRECATED_RUNTIME_RULES = frozenset({"E2531", "E2533"})


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # cfn-lint's rule id, E3006
    path: str  # where in the template, Resources/Topic/Type
    message: str
    # A format check of cfn-lint (an ARN, an id, a name of a kind) failing on an empty value of an
    # optional property: reported as the warning W630, not as an error (see `lint_stacks`).
    empty_optional: bool = False


def available() -> bool:
    """Whether cfn-lint is installed and not switched off."""
    if os.environ.get(ENVIRONMENT_SWITCH, "1") == "0":
        return False
    return importlib.util.find_spec("cfnlint") is not None


def lint_stacks(
    stacks: Sequence[RenderedStack],
    cache_dir: Path | None,
    registered: frozenset[str] = frozenset(),
) -> tuple[Diagnostic, ...]:
    """E435 for every cfn-lint error in the rendered `stacks`, one per finding and task;
    `registered` holds the registry types the files' register-type tasks register.

    A format check that fails on an empty value of an optional property is the warning W630
    instead. cfn-lint's format rules (an IAM role ARN, a VPC id, ...) read `''` as a malformed
    value, but CloudFormation takes an empty value of an optional property, and templates
    write one on purpose to leave the property unset, mostly as the branch of an `Fn::If`
    that switches a feature off: OrgFormation's reference landing zone gives its CloudTrail
    `CloudWatchLogsRoleArn: ''`, which AWS deploys. An empty value of a required property,
    and any other rule's finding on an empty value, stays an error.

    A deprecated Lambda runtime (DEPRECATED_RUNTIME_RULES) is the warning W631: cfn-lint reads
    AWS's block dates against today's, so a template valid last month fails today, and AWS
    decides itself whether it still creates or updates the function (it extends blocks, and
    an unchanged function is not updated at all)."""
    by_body: dict[str, tuple[dict[str, Any], set[str], list[RenderedStack]]] = {}
    for stack in stacks:
        template = _with_stand_ins(stack.template)
        body = json.dumps(template, sort_keys=True, ensure_ascii=False)
        entry = by_body.setdefault(body, (template, set(), []))
        entry[1].add(stack.key.region)
        entry[2].append(stack)
    cache = _Cache(cache_dir)
    found: list[Diagnostic] = []
    for body, (template, regions, targets) in by_body.items():
        key = _digest(body, regions, dated=_names_a_runtime(body))
        findings = cache.get(key)
        if findings is None:
            findings = _lint(template, tuple(sorted(regions)))
            cache.put(key, findings)
        never = {f"Resources/{name}/" for name in never_created(template)}
        kept = [f for f in findings if not any((f.path + "/").startswith(n) for n in never)]
        findings = _registry_findings(kept, template, registered)
        found.extend(_diagnostics(findings, targets, template))
    cache.save()
    return tuple(sorted(set(found), key=Diagnostic.sort_key))


def never_created(template: dict[str, Any]) -> set[str]:
    """The resources whose Condition is false whatever the parameters (`!Equals [A, B]`):
    CloudFormation never creates them, so it never checks their properties either."""
    conditions = template.get("Conditions")
    resources = template.get("Resources")
    if not isinstance(conditions, dict) or not isinstance(resources, dict):
        return set()
    return {
        name
        for name, resource in resources.items()
        if isinstance(resource, dict)
        and isinstance(resource.get("Condition"), str)
        and _condition(conditions, resource["Condition"], 0) is False
    }


def _condition(conditions: dict[str, Any], name: str, depth: int) -> bool | None:
    if depth > 20 or name not in conditions:
        return None
    return _truth(conditions, conditions[name], depth + 1)


def _truth(conditions: dict[str, Any], value: Any, depth: int) -> bool | None:
    """A condition's value when it needs no parameter, else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((name, argument),) = value.items()
    if name == "Condition" and isinstance(argument, str):
        return _condition(conditions, argument, depth)
    if not isinstance(argument, list):
        return None
    if name == "Fn::Equals" and len(argument) == 2:
        left, right = argument
        if all(isinstance(side, (str, int, float, bool)) for side in (left, right)):
            return str(left) == str(right)
        return None
    values = [_truth(conditions, item, depth) for item in argument]
    if name == "Fn::Not" and len(values) == 1 and values[0] is not None:
        return not values[0]
    if name == "Fn::And":
        return False if False in values else (True if None not in values else None)
    if name == "Fn::Or":
        return True if True in values else (False if None not in values else None)
    return None


def _with_stand_ins(template: dict[str, Any]) -> dict[str, Any]:
    found = markers(template)
    if not found:
        return template
    values = {
        marker: _STAND_INS.get(marker[0], "orgc{:d}").format(number)
        for number, marker in enumerate(sorted(found), start=1)
    }
    filled: dict[str, Any] = fill_markers(template, values)
    return filled


def _diagnostics(
    findings: Iterable[Finding], targets: Sequence[RenderedStack], template: dict[str, Any]
) -> list[Diagnostic]:
    # One diagnostic per task and finding: the same template in forty accounts is one mistake.
    first: dict[str, RenderedStack] = {}
    counts: dict[str, int] = {}
    for stack in targets:
        first.setdefault(stack.key.task, stack)
        counts[stack.key.task] = counts.get(stack.key.task, 0) + 1
    result = []
    for finding in findings:
        for task, stack in first.items():
            where = f"{stack.key.account}/{stack.key.region}"
            if counts[task] > 1:
                where += f" and {counts[task] - 1} other target(s)"
            if finding.empty_optional:
                message = (
                    f"task {task}: the template of stack {stack.stack_name} for {where} sets "
                    f"{finding.path} to an empty "
                    f"value, which cfn-lint {finding.rule} refuses ({finding.message}); "
                    "CloudFormation takes an empty value of an optional property as leaving it "
                    "unset, so it is left to AWS"
                )
                result.append(Diagnostic("W630", message, stack.span))
                continue
            if finding.rule in DEPRECATED_RUNTIME_RULES:
                runtime = _value_at(template, finding.path)
                message = (
                    f"task {task}: the template of stack {stack.stack_name} for {where} gives "
                    f"{finding.path} the Lambda runtime {runtime!r}, which AWS deprecated "
                    f"(cfn-lint {finding.rule}: {finding.message}); AWS may refuse creating or "
                    "updating a function with it, so it is left to AWS: move the function to a "
                    "supported runtime"
                )
                result.append(Diagnostic("W631", message, stack.span))
                continue
            result.append(
                Diagnostic(
                    "E435",
                    f"task {task}: the template of stack {stack.stack_name} for {where} fails "
                    f"cfn-lint {finding.rule} at {finding.path}: {finding.message}",
                    stack.span,
                )
            )
    return result


def _value_at(template: dict[str, Any], path: str) -> Any:
    """The value at a finding's `path` (Resources/Function/Properties/Runtime), None if none."""
    value: Any = template
    for part in path.split("/"):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _names_a_runtime(body: str) -> bool:
    """Whether a template's JSON text may give a Lambda runtime, whose findings depend on the
    day (DEPRECATED_RUNTIME_RULES)."""
    return '"Runtime"' in body


def _lint(template: dict[str, Any], regions: tuple[str, ...]) -> list[Finding]:
    from cfnlint.config import ConfigMixIn
    from cfnlint.rules.formats.FormatKeyword import FormatKeyword
    from cfnlint.runner import run_template_by_data

    config = ConfigMixIn(regions=list(regions))
    result = []
    for match in run_template_by_data(template, config, _rules()):
        rule = str(match.rule.id)
        if not rule.startswith("E"):
            continue
        parts = list(match.path or ())
        path = "/".join(str(part) for part in parts)
        empty_optional = isinstance(match.rule, FormatKeyword) and _empty_optional(
            template, parts, regions
        )
        result.append(Finding(rule, path, str(match.message), empty_optional))
    return sorted(set(result), key=lambda f: (f.path, f.rule, f.message))


def _empty_optional(template: dict[str, Any], path: list[Any], regions: tuple[str, ...]) -> bool:
    """Whether `path` is an empty string in a property (or a branch of its value) that the
    resource type's schema does not require in any of `regions`."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

    value: Any = template
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return False
    if value != "" or len(path) < 4 or path[0] != "Resources" or path[2] != "Properties":
        return False
    kind = template["Resources"][path[1]].get("Type")
    for region in regions:
        try:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, kind).schema
        except ResourceNotFoundError:  # a type cfn-lint does not know: keep the error
            return False
        if path[3] in schema.get("required", ()):
            return False
    return True


# The namespaces AWS owns; every other `Namespace::Service::Resource` is a registry type.
_AWS_NAMESPACES = frozenset({"AWS", "Alexa"})


def is_registry_type(kind: str) -> bool:
    """Whether `kind` names a CloudFormation registry type: `Namespace::Service::Resource`
    outside AWS's namespaces and Custom::."""
    parts = kind.split("::")
    return len(parts) == 3 and all(parts) and parts[0] not in _AWS_NAMESPACES | {"Custom"}


def _registry_types(template: dict[str, Any]) -> dict[str, str]:
    """Logical id → type of the resources whose type is a registry type."""
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        return {}
    return {
        name: resource["Type"]
        for name, resource in resources.items()
        if isinstance(resource, dict)
        and isinstance(resource.get("Type"), str)
        and is_registry_type(resource["Type"])
    }


def _registry_findings(
    findings: Sequence[Finding], template: dict[str, Any], registered: frozenset[str]
) -> list[Finding]:
    """`findings` without "type does not exist" for the registry types the files register, and
    with a hint on the others."""
    kinds = _registry_types(template)
    result = []
    for finding in findings:
        parts = finding.path.split("/")
        kind = kinds.get(parts[1]) if len(parts) == 3 and parts[0] == "Resources" else None
        if finding.rule != "E3006" or parts[-1] != "Type" or kind is None:
            result.append(finding)
        elif kind not in registered:
            hint = (
                f"; {kind} is a registry type that no register-type task of these files "
                "registers (if it is registered in the accounts another way, --no-lint skips "
                "this check)"
            )
            result.append(Finding(finding.rule, finding.path, finding.message + hint))
    return result


@functools.cache
def _rules() -> Any:
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(regions=["us-east-1"])).rules


@functools.cache
def _version() -> str:
    return importlib.metadata.version("cfn-lint")


# Entries of another layout are not read back: 2 added `Finding.empty_optional`.
_CACHE_LAYOUT = 2


def _digest(body: str, regions: Iterable[str], *, dated: bool = False) -> str:
    # A template that gives a Lambda runtime is linted again each day: cfn-lint's deprecated-
    # runtime rules read today's date, so yesterday's findings may not be today's.
    day = date.today().isoformat() if dated else None
    text = json.dumps([_CACHE_LAYOUT, _version(), sorted(regions), body, day])
    return hashlib.sha256(text.encode()).hexdigest()


class _Cache:
    """Findings by template digest, in one JSON file; a damaged cache is ignored."""

    def __init__(self, directory: Path | None) -> None:
        self._file = directory / "findings.json" if directory else None
        self._entries: dict[str, list[list[Any]]] = {}
        self._changed = False
        if self._file is None:
            return
        try:
            loaded = json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(loaded, dict):
            self._entries = loaded

    def get(self, key: str) -> list[Finding] | None:
        entry = self._entries.get(key)
        if not isinstance(entry, list):
            return None
        found = []
        for item in entry:
            if not isinstance(item, list) or len(item) != 4:
                return None
            rule, path, message, empty_optional = item
            found.append(Finding(str(rule), str(path), str(message), empty_optional is True))
        return found

    def put(self, key: str, findings: Sequence[Finding]) -> None:
        self._entries[key] = [[f.rule, f.path, f.message, f.empty_optional] for f in findings]
        self._changed = True

    def save(self) -> None:
        if self._file is None or not self._changed:
            return
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._file.with_name(f".{self._file.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(self._entries, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self._file)
        except OSError:
            pass  # a cache that cannot be written only costs time next run


def cache_directory() -> Path:
    """`$XDG_CACHE_HOME/orgc/lint`, else `~/.cache/orgc/lint`: never inside the project."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "orgc" / "lint"
