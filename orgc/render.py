"""Stage 5, render: one CloudFormation template and parameter set per stack target.

For each `update-stacks` task and each (account, region) its bindings reach, the render stage
builds the template that stack will hold: only the resources bound to that target, `ForeachAccount`
resources replicated, org-aware expressions (`Fn::EnumTargetAccounts`, `CurrentAccount`,
`!GetAtt Account.Tags.k`, `ORG::PrincipalOrgID`, ...) replaced by plain values, and references to
resources of other targets turned into a generated Output on the producer and a generated
Parameter on the consumer. A pure function of its inputs: no AWS calls.

Values that exist only after apply (the id of an account created in the same run) are written as
`known_after_apply` markers, which apply replaces before it deploys.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orgc.bind import BoundTemplate, resolve_binding
from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.load import DataPath
from orgc.model import Account, Organization
from orgc.tasks import StacksTask
from orgc.templates import Resource, Template

_MARKER = re.compile(r"\{\{orgc:([a-z-]+):([A-Za-z0-9_.:-]*)\}\}")


def known_after_apply(kind: str, name: str = "") -> str:
    """A marker for a value known only after apply, by kind: "account", "organizational-unit",
    "policy" (an id, by logical id), "root", "organization-id" or "state-bucket" (no name)."""
    return f"{{{{orgc:{kind}:{name}}}}}"


def markers(value: Any) -> set[tuple[str, str]]:
    """Every (kind, name) marker in a JSON-able value, mapping keys included."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, str):
        found.update(_MARKER.findall(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.update(_MARKER.findall(key))
            found |= markers(item)
    elif isinstance(value, list):
        for item in value:
            found |= markers(item)
    return found


def fill_markers(value: Any, values: dict[tuple[str, str], str]) -> Any:
    """`value` with every marker replaced from `values` ((kind, name) → text), mapping keys
    included: a ForeachAccount copy of an account created in this run is named by a marker."""
    if isinstance(value, str):
        return _MARKER.sub(lambda m: values[(m.group(1), m.group(2))], value)
    if isinstance(value, dict):
        return {fill_markers(k, values): fill_markers(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_markers(v, values) for v in value]
    return value


@dataclass(frozen=True, slots=True, order=True)
class StackKey:
    """One stack target: a task's stack in one account (logical id) and region."""

    task: str
    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.task}/{self.account}/{self.region}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A value a stack takes from another stack, passed in as a generated parameter.

    Either `producer` is a stack orgc deploys and `output` the Output key it reads there (a
    cross-account `!Ref`/`!GetAtt`, or a `!CopyValue` of an export orgc's stacks produce), or
    `producer` is None and `export` names an export read at apply time in `account_id`/`region`.
    """

    parameter: str  # the consumer's generated parameter
    producer: StackKey | None
    output: str | None
    export: str | None = None
    account_id: str | None = None
    region: str | None = None
    expression: str  # as written, for the plan: "!GetAtt LogArchive.Resources.Bucket.Arn"
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedStack:
    key: StackKey
    stack_name: str
    account_id: str  # may be a known_after_apply marker
    template: dict[str, Any]  # JSON-able CloudFormation template
    parameters: dict[str, str]  # template parameter values known at render time
    references: tuple[Reference, ...] = ()
    # DependsOnAccount / DependsOnRegion: this task's stacks in these accounts (logical ids) /
    # regions finish first.
    after_accounts: tuple[str, ...] = ()
    after_regions: tuple[str, ...] = ()
    # Stacks of other targets this one must follow without taking a value from them (a
    # resource's DependsOn on a resource deployed elsewhere).
    after_stacks: tuple[StackKey, ...] = ()
    exports: dict[str, str] = field(default_factory=dict)  # export name → Output key
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderContext:
    """What the render stage knows of the live organization.

    `ids` maps "accounts" / "organizationalUnits" / "policies" to logical id → physical id, or
    None when the thing is created by this run (its references become markers). An account
    missing from `ids["accounts"]` takes the AccountId of the organization file.
    """

    ids: Mapping[str, Mapping[str, str | None]]
    organization_id: str | None  # None: ("organization-id", "") marker
    state_bucket: str | None  # None: ("state-bucket", "") marker
    root_id: str | None = None  # None: ("root", "") marker


# --- rendering ------------------------------------------------------------------------------

TEMPLATE_FORMAT_VERSION = "2010-09-09"
# Sections of a rendered template, in the order they are written.
_SECTIONS = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Transform",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Globals",
    "Hooks",
    "Resources",
    "Outputs",
)
_VERBATIM_SECTIONS = ("Metadata", "Transform", "Rules", "Mappings", "Globals", "Hooks")
CURRENT_ACCOUNT = ("CurrentAccount", "AWSAccount")
ACCOUNT_ATTRIBUTES = (
    "AccountName",
    "AccountId",
    "Alias",
    "RootEmail",
    "Tags.<key>",
    "OrganizationAccessRoleName",
    "BuildAccessRoleName",
)
_ENUM_ACCOUNTS = "Fn::EnumTargetAccounts"
_ENUM_REGIONS = "Fn::EnumTargetRegions"
_TARGET_COUNT = "Fn::TargetCount"
_ENUM_EXAMPLES = {
    _ENUM_ACCOUNTS: "'arn:aws:iam::${account}:root'",
    _ENUM_REGIONS: "'logs.${region}.amazonaws.com'",
}
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ENUM_VARIABLE = re.compile(
    r"\$\{(account|AccountId|AccountName|LogicalId|RootEmail|Alias|Tags\.[^}]+)\}"
)
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_NAME_LIMIT = 255  # CloudFormation's limit on logical ids of parameters and outputs
# Physical ids by the key of RenderContext.ids, with the marker kind of an unknown one.
_ID_KINDS = {
    "accounts": "account",
    "organizationalUnits": "organizational-unit",
    "policies": "policy",
}


def render_project(
    tasks: Sequence[tuple[StacksTask, Template, BoundTemplate]],
    organization: Organization,
    context: RenderContext,
    diagnostics: Diagnostics,
) -> tuple[RenderedStack, ...]:
    """One RenderedStack per (task, account, region) target, sorted by StackKey.

    Every mistake goes to `diagnostics`; the stacks are still returned, with an expression that
    could not be resolved left as written.
    """
    run = _Run(organization, context, diagnostics)
    jobs = [_Job(run, task, template, bound) for task, template, bound in tasks]
    for job in jobs:
        job.check_parameters()
        for target in job.targets.values():
            job.evaluate_parameters(target)
    # Exports first: a !CopyValue anywhere in the project may read any of them.
    for job in jobs:
        for target in job.targets.values():
            job.collect_exports(target)
    for job in jobs:
        for target in job.targets.values():
            job.copy_parameters(target)
            job.render(target)
    stacks = [job.finish(target) for job in jobs for target in job.targets.values()]
    return tuple(sorted(stacks, key=lambda stack: stack.key))


class _Run:
    """What every task of one render shares: the organization, known ids, exports."""

    def __init__(
        self, organization: Organization, context: RenderContext, diagnostics: Diagnostics
    ) -> None:
        self.organization = organization
        self.context = context
        self.diagnostics = diagnostics
        # export name → the stacks that export it, with their Output key
        self.exports: dict[str, list[tuple[_Target, str]]] = {}

    def physical_id(self, kind: str, logical_id: str) -> str:
        known = self.context.ids.get(kind, {}).get(logical_id)
        if known:
            return known
        if kind == "accounts":
            account = self.organization.accounts.get(logical_id)
            if account is not None and account.account_id:
                return account.account_id
        return known_after_apply(_ID_KINDS[kind], logical_id)

    def organization_value(self, name: str) -> str:
        if name == "ORG::PrincipalOrgID":
            return self.context.organization_id or known_after_apply("organization-id")
        return self.context.state_bucket or known_after_apply("state-bucket")


@dataclass(slots=True)
class _Placed:
    """A resource as one stack holds it; a ForeachAccount copy names its iterated account."""

    rendered_id: str
    resource: Resource
    loop_account: str | None = None


@dataclass(slots=True)
class _Target:
    key: StackKey
    account: Account
    account_id: str
    placed: dict[str, _Placed]  # by rendered id, in template order
    copies: dict[str, dict[str, str]]  # ForeachAccount: template id → loop account → copy id
    parameters: dict[str, str] = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)  # static values, for export names
    references: dict[str, Reference] = field(default_factory=dict)  # by parameter
    generated_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    after_stacks: set[StackKey] = field(default_factory=set)
    exports: dict[str, str] = field(default_factory=dict)
    copy_names: dict[str, str] = field(default_factory=dict)  # generated name → what it reads
    template: dict[str, Any] = field(default_factory=dict)

    def is_local(self, name: str) -> bool:
        return name in self.placed or name in self.copies


class _Job:
    """One update-stacks task: its targets and what they take from each other."""

    def __init__(
        self, run: _Run, task: StacksTask, template: Template, bound: BoundTemplate
    ) -> None:
        self.run = run
        self.task = task
        self.template = template
        self.bound = bound
        declared = template.sections.get("Parameters")
        self.declared: dict[str, Any] = declared if isinstance(declared, dict) else {}
        outputs = template.sections.get("Outputs")
        self.outputs: dict[str, Any] = outputs if isinstance(outputs, dict) else {}
        # Names a generated parameter or output must not take.
        self.reserved = {*self.declared, *self.outputs, *template.resources}
        self.bindings: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.targets: dict[StackKey, _Target] = {}
        # template id or copy id → every (stack, id in that stack) holding it
        self.holders: dict[str, list[tuple[StackKey, str]]] = {}
        self._place()

    # --- targets ------------------------------------------------------------------------------

    def _place(self) -> None:
        accounts = self.run.organization.accounts
        for (account_id, region), resource_ids in sorted(self.bound.targets.items()):
            account = accounts.get(account_id)
            if account is None:
                continue  # bind reported the unknown account
            key = StackKey(self.task.name, account_id, region)
            target = _Target(
                key=key,
                account=account,
                account_id=self.run.physical_id("accounts", account_id),
                placed={},
                copies={},
            )
            wanted = set(resource_ids)
            for logical_id, resource in self.template.resources.items():
                if logical_id not in wanted:
                    continue
                loop = self.bound.loops.get(logical_id)
                if loop is None:
                    target.placed[logical_id] = _Placed(logical_id, resource)
                    self.holders.setdefault(logical_id, []).append((key, logical_id))
                    continue
                target.copies[logical_id] = {}
                for loop_account in loop:
                    copy_id = logical_id + self.run.physical_id("accounts", loop_account)
                    target.placed[copy_id] = _Placed(copy_id, resource, loop_account)
                    target.copies[logical_id][loop_account] = copy_id
                    self.holders.setdefault(logical_id, []).append((key, copy_id))
                    self.holders.setdefault(copy_id, []).append((key, copy_id))
            self.targets[key] = target

    def binding(self, name: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(accounts, regions) of a named binding of the template, or None when there is none."""
        if name not in self.bindings:
            binding = self.template.bindings.get(name)
            if binding is None:
                return None
            self.bindings[name] = resolve_binding(
                binding, self.run.organization, self.run.diagnostics
            )
        return self.bindings[name]

    # --- parameters ---------------------------------------------------------------------------

    def check_parameters(self) -> None:
        """Task parameters the template does not declare; template parameters left empty."""
        for name in self.task.parameters:
            if name not in self.declared:
                self.run.diagnostics.add(
                    "E428",
                    f"task {self.task.name} gives parameter {name}, which "
                    f"{self.template.file.display} does not declare"
                    f"{did_you_mean(name, self.declared)}; remove it or declare it in the "
                    "template's Parameters",
                    self.task.span,
                )
        for name, declaration in self.declared.items():
            given = self.task.parameters.get(name) is not None
            if not given and not (isinstance(declaration, dict) and "Default" in declaration):
                self.run.diagnostics.add(
                    "E429",
                    f"parameter {name} has no Default and task {self.task.name} gives it no "
                    f"value; add {name} to the task's Parameters or give it a Default",
                    self.template.file.source_map.key_span(("Parameters", name)),
                )

    def evaluate_parameters(self, target: _Target) -> None:
        """The task's parameter values for one target, and the static values export names use."""
        target.known = _pseudo_parameters(target.key.region, target.account_id, self.task)
        for name, declaration in self.declared.items():
            if isinstance(declaration, dict):
                default = _static(declaration.get("Default"), {})
                if default is not None:
                    target.known[name] = default
        for name, raw in self.task.parameters.items():
            if name not in self.declared or raw is None:
                continue
            if _is_copy_value(raw):
                target.known.pop(name, None)  # read at apply time: see copy_parameters
                continue
            evaluator = _Evaluator(self, target, self.run.diagnostics, parameter=name)
            text = _parameter_text(evaluator.value(raw, None), target.known)
            if text is None and not evaluator.failed:
                self.run.diagnostics.add(
                    "E427",
                    f"parameter {name} of task {self.task.name} is {_describe(raw)}, which is "
                    "known only inside CloudFormation; give a value orgc can compute, or move the "
                    "expression into the template",
                    self.task.span,
                )
            if text is not None:
                target.parameters[name] = text
                target.known[name] = text

    def copy_parameters(self, target: _Target) -> None:
        """Task parameters whose whole value is a !CopyValue, once every export is known."""
        for name, raw in self.task.parameters.items():
            if name in self.declared and _is_copy_value(raw):
                evaluator = _Evaluator(self, target, self.run.diagnostics, parameter=name)
                evaluator.whole_parameter = True
                value = evaluator.copy_value(raw["Fn::CopyValue"], None)
                if isinstance(value, _Deferred):
                    target.references[name] = value.reference

    # --- exports ------------------------------------------------------------------------------

    def collect_exports(self, target: _Target) -> None:
        """Export names of the outputs this target keeps, where they can be known now."""
        probe = _Evaluator(self, target, Diagnostics(), probe=True)
        for output_key, output in self.outputs.items():
            if not isinstance(output, dict) or self._refers_elsewhere(output, target):
                continue
            export = output.get("Export")
            if not isinstance(export, dict) or "Name" not in export:
                continue
            path: DataPath = ("Outputs", output_key, "Export", "Name")
            name = _static(probe.value(export["Name"], path), target.known)
            if name is not None:
                target.exports[name] = output_key
                self.run.exports.setdefault(name, []).append((target, output_key))

    # --- templates ----------------------------------------------------------------------------

    def render(self, target: _Target) -> None:
        """The target's template, apart from outputs other targets still add to it."""
        evaluator = _Evaluator(self, target, self.run.diagnostics)
        sections = self.template.sections
        rendered: dict[str, Any] = {}
        for section in _VERBATIM_SECTIONS:
            if section in sections:
                rendered[section] = copy.deepcopy(sections[section])
        conditions = sections.get("Conditions")
        if isinstance(conditions, dict):
            rendered["Conditions"] = {
                name: evaluator.value(body, ("Conditions", name))
                for name, body in conditions.items()
            }
        resources: dict[str, Any] = {}
        for placed in target.placed.values():
            evaluator.placed = placed
            resources[placed.rendered_id] = self._resource(evaluator, target, placed)
        evaluator.placed = None
        rendered["Resources"] = resources
        outputs: dict[str, Any] = {}
        for name, output in self.outputs.items():
            if isinstance(output, dict) and self._refers_elsewhere(output, target):
                continue
            outputs[name] = evaluator.value(output, ("Outputs", name))
        rendered["Outputs"] = outputs
        target.template = rendered

    def _resource(self, evaluator: _Evaluator, target: _Target, placed: _Placed) -> Any:
        path: DataPath = ("Resources", placed.resource.logical_id)
        body: dict[str, Any] = {}
        for key, value in placed.resource.body.items():
            if key in ("Type", "Condition"):
                body[key] = copy.deepcopy(value)
            elif key == "DependsOn":
                depends_on = self._depends_on(value, path + (key,), target)
                if depends_on:
                    body[key] = depends_on[0] if len(depends_on) == 1 else depends_on
            else:
                body[key] = evaluator.value(value, path + (key,))
        return body

    def _depends_on(self, value: Any, path: DataPath, target: _Target) -> list[str]:
        """The DependsOn names deployed in this stack; the others become stack order."""
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list):
            return []
        kept: list[str] = []
        for index, name in enumerate(names):
            where = path if isinstance(value, str) else path + (index,)
            if not isinstance(name, str):
                continue
            if name in target.placed:
                kept.append(name)
            elif name in target.copies:
                kept.extend(target.copies[name].values())
            elif name in self.holders:
                target.after_stacks.update(key for key, _ in self.holders[name])
            elif name not in self.template.resources:
                self.run.diagnostics.add(
                    "E420",
                    f"DependsOn {name}: this template has no resource {name}"
                    f"{did_you_mean(name, self.template.resources)}",
                    self.template.file.span(where),
                )
            # A resource deployed nowhere leaves nothing to wait for.
        target.after_stacks.discard(target.key)
        return list(dict.fromkeys(kept))

    def _refers_elsewhere(self, value: Any, target: _Target) -> bool:
        """Whether a value names a resource of this template that this target does not hold."""
        return any(
            name in self.holders or name in self.template.resources
            for name in _names_used(value)
            if not target.is_local(name)
        )

    # --- generated names ----------------------------------------------------------------------

    def output_name(self, producer: StackKey, rendered_id: str, attribute: str | None) -> str:
        """The Output (and consumer Parameter) carrying one resource value across stacks."""
        base = "OrgcRef" + rendered_id + (attribute or "")
        unique = len(self.holders.get(rendered_id, ())) <= 1
        identity = f"{producer}|{rendered_id}|{attribute or ''}"
        return self._name(base, identity, exact=unique)

    def copy_name(self, target: _Target, export: str, identity: str) -> str:
        """The consumer Parameter carrying a !CopyValue: named after the export, unless another
        !CopyValue of the same stack, reading another value, took that name first."""
        base = "OrgcCopy" + _NOT_ALPHANUMERIC.sub("", export)
        taken = target.copy_names.get(base)
        name = self._name(base, identity, exact=taken in (None, identity))
        target.copy_names.setdefault(name, identity)
        return name

    def _name(self, base: str, identity: str, *, exact: bool) -> str:
        if (
            exact
            and base.isalnum()
            and base.isascii()
            and len(base) <= _NAME_LIMIT
            and base not in self.reserved
        ):
            return base
        digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:10]
        return _NOT_ALPHANUMERIC.sub("", base)[: _NAME_LIMIT - len(digest)] + digest

    # --- result -------------------------------------------------------------------------------

    def finish(self, target: _Target) -> RenderedStack:
        sections = target.template
        template: dict[str, Any] = {"AWSTemplateFormatVersion": TEMPLATE_FORMAT_VERSION}
        description = self.task.stack_description or self.template.sections.get("Description")
        if description is not None:
            template["Description"] = description
        parameters = copy.deepcopy(self.declared)
        for name in sorted(target.references):
            if name not in self.declared:
                parameters[name] = {"Type": "String"}
        if parameters:
            sections["Parameters"] = parameters
        outputs = sections.get("Outputs", {})
        for name in sorted(target.generated_outputs):
            outputs[name] = target.generated_outputs[name]
        if not outputs:
            sections.pop("Outputs", None)
        for section in _SECTIONS:
            if section in sections:
                template[section] = sections[section]
        after_accounts = {a for p in target.placed.values() for a in p.resource.depends_on_accounts}
        after_regions = {r for p in target.placed.values() for r in p.resource.depends_on_regions}
        return RenderedStack(
            key=target.key,
            stack_name=self.task.stack_name,
            account_id=target.account_id,
            template=template,
            parameters=dict(sorted(target.parameters.items())),
            references=tuple(target.references[name] for name in sorted(target.references)),
            after_accounts=tuple(sorted(after_accounts)),
            after_regions=tuple(sorted(after_regions)),
            after_stacks=tuple(sorted(target.after_stacks)),
            exports=dict(sorted(target.exports.items())),
            span=self.task.span,
        )


# --- expressions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ref:
    """A name CloudFormation resolves in the stack itself: a parameter, resource, pseudo
    parameter or generated parameter, with the attribute of a `!GetAtt`."""

    name: str
    attribute: str | None = None


@dataclass(frozen=True, slots=True)
class _Splice:
    """The items of a Fn::EnumTarget* expression, spliced into an enclosing list."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A task parameter whose value is read at apply time (!CopyValue)."""

    reference: Reference


_Resolved = _Ref | str | None


class _Evaluator:
    """Evaluates the org-aware expressions of one stack's template or task parameters.

    In the template, CloudFormation's own functions are kept and their arguments evaluated. For a
    task parameter (`parameter` set) every value must be known before deploy. A probe (used for
    export names before every stack is rendered) records nothing.
    """

    def __init__(
        self,
        job: _Job,
        target: _Target,
        diagnostics: Diagnostics,
        *,
        parameter: str | None = None,
        probe: bool = False,
    ) -> None:
        self.job = job
        self.run = job.run
        self.target = target
        self.diagnostics = diagnostics
        self.parameter = parameter
        self.probe = probe
        self.placed: _Placed | None = None  # the resource being rendered
        # A task parameter whose whole value is a !CopyValue is read at apply time.
        self.whole_parameter = False
        self.failed = False  # an error was reported

    def span(self, path: DataPath | None) -> Span | None:
        if path is None:
            return self.job.task.span
        return self.job.template.file.span(path)

    def error(self, code: str, message: str, path: DataPath | None) -> None:
        self.failed = True
        self.diagnostics.add(code, message, self.span(path))

    @property
    def current_account(self) -> str:
        """The account CurrentAccount means here: a ForeachAccount copy's, or the stack's."""
        if self.placed is not None and self.placed.loop_account is not None:
            return self.placed.loop_account
        return self.target.key.account

    # --- walking ------------------------------------------------------------------------------

    def value(self, value: Any, path: DataPath | None) -> Any:
        """The evaluated value; an enumeration outside a list collapses to its one item."""
        result = self.evaluate(value, path)
        if isinstance(result, _Splice):
            return result.items[0] if len(result.items) == 1 else list(result.items)
        return result

    def evaluate(self, value: Any, path: DataPath | None) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, list):
            items: list[Any] = []
            for index, item in enumerate(value):
                result = self.evaluate(item, _extend(path, index))
                if isinstance(result, _Splice):
                    items.extend(result.items)
                else:
                    items.append(result)
            return items
        if isinstance(value, dict):
            if len(value) == 1:
                name, argument = next(iter(value.items()))
                function = _FUNCTIONS.get(name)
                if function is not None:
                    return function(self, argument, _extend(path, name))
            return {key: self.value(item, _extend(path, key)) for key, item in value.items()}
        return value

    # --- names --------------------------------------------------------------------------------

    def resolve(
        self, name: str, attribute: str | None, syntax: str, expression: str, path: DataPath | None
    ) -> _Resolved:
        """What `name` (with `attribute`, from `!Ref`, `!GetAtt` or `${}`) means here."""
        if name.startswith("AWS::"):
            if self.parameter is None:
                return _Ref(name, attribute)
            known = self.target.known.get(name)
            if known is None:
                self.error(
                    "E427",
                    f"{expression} is known only inside CloudFormation; a task parameter value "
                    "must be known before deploy",
                    path,
                )
            return known
        if name in ("ORG::PrincipalOrgID", "ORG::StateBucketName"):
            return self.run.organization_value(name)
        if self.parameter is None:
            if name in self.job.declared:
                return _Ref(name, attribute)
            if name in self.job.template.resources or name in self.job.holders:
                return self.resource(name, attribute, expression, path)
        organization = self.run.organization
        account = self.current_account if name in CURRENT_ACCOUNT else None
        if account is None and name in organization.accounts:
            account = name
        if account is not None:
            if attribute is None:
                return self.run.physical_id("accounts", account)
            if attribute.startswith("Resources."):
                return self.explicit(
                    account, attribute.removeprefix("Resources."), expression, path
                )
            if syntax == "Ref":
                self.error(
                    "E426",
                    f"{expression}: !Ref takes no attribute; write !GetAtt {name}.{attribute}",
                    path,
                )
                return None
            return self.account_attribute(
                organization.accounts[account], attribute, expression, path
            )
        kind = _organization_kind(organization, name)
        if kind is not None and attribute is not None:
            self.error(
                "E421",
                f"{expression}: {name} is {kind}; only accounts have attributes, and !Ref {name} "
                "gives its id",
                path,
            )
            return None
        if kind == "an organizational unit":
            return self.run.physical_id("organizationalUnits", name)
        if kind == "a policy":
            return self.run.physical_id("policies", name)
        if kind == "the organization root":
            return self.run.context.root_id or known_after_apply("root")
        self.unknown(name, expression, path)
        return None

    def unknown(self, name: str, expression: str, path: DataPath | None) -> None:
        organization = self.run.organization
        names = [
            *organization.accounts,
            *organization.organizational_units,
            *organization.policies,
            *CURRENT_ACCOUNT,
        ]
        if self.parameter is None:
            names += [*self.job.declared, *self.job.template.resources]
            what = "a parameter or resource of this template, nor an account, OU or policy"
        else:
            what = "an account, OU or policy (task parameters cannot name template resources)"
        self.error("E420", f"{expression}: {name} is not {what}{did_you_mean(name, names)}", path)

    def account_attribute(
        self, account: Account, attribute: str, expression: str, path: DataPath | None
    ) -> str | None:
        value: str | None
        if attribute == "AccountName":
            value = account.name
        elif attribute == "AccountId":
            value = self.run.physical_id("accounts", account.logical_id)
        elif attribute == "OrganizationAccessRoleName":
            value = account.access_role_name
        elif attribute == "BuildAccessRoleName":
            value = (
                account.build_role_name
                or self.run.organization.root.default_build_role_name
                or account.access_role_name
            )
        elif attribute in ("Alias", "RootEmail"):
            value = account.alias if attribute == "Alias" else account.email
            if value is None:
                self.error(
                    "E422",
                    f"{expression}: account {account.logical_id} has no {attribute}; set "
                    f"{attribute} on it in the organization file",
                    path,
                )
        elif attribute.startswith("Tags."):
            tag = attribute.removeprefix("Tags.")
            value = account.tags.get(tag)
            if value is None:
                self.error(
                    "E422",
                    f"{expression}: account {account.logical_id} has no tag {tag}; add it to "
                    "the account's Tags in the organization file",
                    path,
                )
        else:
            value = None
            attributes = [a for a in ACCOUNT_ATTRIBUTES if a != "Tags.<key>"]
            self.error(
                "E421",
                f"{expression}: accounts have no attribute {attribute}"
                f"{did_you_mean(attribute, attributes)}; use "
                f"{', '.join(ACCOUNT_ATTRIBUTES)}",
                path,
            )
        return value

    # --- resources ----------------------------------------------------------------------------

    def resource(
        self, name: str, attribute: str | None, expression: str, path: DataPath | None
    ) -> _Resolved:
        """A resource of this template, in this stack or another."""
        target = self.target
        if name in target.placed:
            return _Ref(name, attribute)
        copies = target.copies.get(name)
        if copies:
            loop_account = self.placed.loop_account if self.placed is not None else None
            if loop_account in copies:
                return _Ref(copies[loop_account], attribute)
            if len(copies) == 1:
                return _Ref(next(iter(copies.values())), attribute)
            self.error(
                "E423",
                f"{expression} is ambiguous: ForeachAccount makes {len(copies)} copies of {name} "
                f"in this stack ({', '.join(copies.values())}); name one of them",
                path,
            )
            return None
        return self.across(name, None, attribute, expression, path)

    def explicit(
        self, account: str, rest: str, expression: str, path: DataPath | None
    ) -> _Resolved:
        """`Account.Resources.Res[.Attribute]`: a resource in a chosen account."""
        name, _, attribute = rest.partition(".")
        if name not in self.job.template.resources and name not in self.job.holders:
            self.unknown(name, expression, path)
            return None
        return self.across(name, account, attribute or None, expression, path)

    def across(
        self,
        name: str,
        account: str | None,
        attribute: str | None,
        expression: str,
        path: DataPath | None,
    ) -> _Resolved:
        """A resource value from the single stack that holds it (in `account` when given)."""
        holders = self.job.holders.get(name, [])
        candidates = [h for h in holders if account is None or h[0].account == account]
        if not candidates:
            if not holders:
                message = (
                    f"{name} is deployed to no stack: its binding selects no account or region"
                )
            else:
                message = (
                    f"{name} is not deployed to account {account}; it is deployed to "
                    f"{_where(holders, name)}"
                )
            self.error("E424", f"{expression}: {message}", path)
            return None
        region = self.target.key.region
        accounts = {key.account for key, _ in candidates}
        if len(candidates) > 1 and len(accounts) == 1:
            in_region = [h for h in candidates if h[0].region == region]
            candidates = in_region or candidates
        if len(candidates) > 1:
            regions = {key.region for key, _ in candidates}
            if len(accounts) > 1:
                hint = (
                    f"; name the account, as in {_explicit_form(expression, candidates[0], name)}"
                )
            elif len(regions) > 1:
                hint = (
                    f", none of them in this stack's region {region}; bind {name} to one region "
                    f"of {next(iter(accounts))}"
                )
            else:
                hint = "; name one of the copies"
            self.error(
                "E423",
                f"{expression} is ambiguous: {name} is deployed to "
                f"{_where(candidates, name)}{hint}",
                path,
            )
            return None
        producer, rendered_id = candidates[0]
        if producer == self.target.key:
            return _Ref(rendered_id, attribute)
        if self.probe:
            return None
        output = self.job.output_name(producer, rendered_id, attribute)
        producer_target = self.job.targets[producer]
        if output not in producer_target.generated_outputs:
            value: Any = (
                {"Ref": rendered_id}
                if attribute is None
                else {"Fn::GetAtt": [rendered_id, attribute]}
            )
            generated: dict[str, Any] = {"Value": value}
            condition = producer_target.placed[rendered_id].resource.body.get("Condition")
            if isinstance(condition, str):
                generated["Condition"] = condition
            producer_target.generated_outputs[output] = generated
        self.target.references.setdefault(
            output,
            Reference(
                parameter=output,
                producer=producer,
                output=output,
                expression=expression,
                span=self.span(path),
            ),
        )
        return _Ref(output)

    # --- functions ----------------------------------------------------------------------------

    def ref(self, argument: Any, path: DataPath | None) -> Any:
        if not isinstance(argument, str):
            return {"Ref": self.value(argument, path)}
        name, _, attribute = argument.partition(".")
        resolved = self.resolve(name, attribute or None, "Ref", f"!Ref {argument}", path)
        return _as_value(resolved, {"Ref": argument})

    def get_att(self, argument: Any, path: DataPath | None) -> Any:
        if isinstance(argument, str):
            name, _, attribute = argument.partition(".")
        elif (
            isinstance(argument, list)
            and len(argument) == 2
            and isinstance(argument[0], str)
            and isinstance(argument[1], str)
        ):
            head, attribute = argument
            name, dot, more = head.partition(".")
            if dot:  # the long form of an explicit reference: [Account.Resources.Res, Attr]
                attribute = f"{more}.{attribute}"
        else:
            return {"Fn::GetAtt": self.value(argument, path)}
        expression = f"!GetAtt {name}.{attribute}"
        resolved = self.resolve(name, attribute or None, "Fn::GetAtt", expression, path)
        return _as_value(resolved, {"Fn::GetAtt": copy.deepcopy(argument)})

    def sub(self, argument: Any, path: DataPath | None) -> Any:
        variables: dict[str, Any] = {}
        if isinstance(argument, str):
            text = argument
        elif (
            isinstance(argument, list)
            and len(argument) == 2
            and isinstance(argument[0], str)
            and isinstance(argument[1], dict)
        ):
            text = argument[0]
            variables = {
                key: self.value(item, _extend(path, 1, key)) for key, item in argument[1].items()
            }
        else:
            return {"Fn::Sub": self.value(argument, path)}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!") or inner in variables:
                return match.group(0)
            name, _, attribute = inner.partition(".")
            resolved = self.resolve(name, attribute or None, "Fn::Sub", f"${{{inner}}}", path)
            if resolved is None:
                return match.group(0)
            if isinstance(resolved, _Ref):
                suffix = f".{resolved.attribute}" if resolved.attribute else ""
                return f"${{{resolved.name}{suffix}}}"
            return _escape(resolved)

        return _simplify_sub(_SUB_VARIABLE.sub(replace, text), variables)

    def string(self, value: str, path: DataPath | None) -> Any:
        """A plain string, or OrgFormation's Fn::EnumTarget* / Fn::TargetCount written as one."""
        if not value.startswith("Fn:"):
            return value
        head = value.split(None, 1)[0]
        if head in (_ENUM_ACCOUNTS, _ENUM_REGIONS):
            return self.enumerate(value, path)
        if head == _TARGET_COUNT:
            parts = value.split()
            return self.target_count(parts[1] if len(parts) == 2 else None, value, path)
        if head.startswith(("Fn:EnumTarget", "Fn:TargetCount")):
            self.error(
                "E426",
                f"{head} has one colon; write {head.replace('Fn:', 'Fn::', 1)}",
                path,
            )
        return value

    def target_count(self, argument: Any, written: str, path: DataPath | None) -> Any:
        if not isinstance(argument, str):
            self.error("E426", f"{written!r}: Fn::TargetCount takes one binding name", path)
            return written
        bound = self.named_binding(_TARGET_COUNT, argument, path)
        if bound is None:
            return written
        accounts, regions = bound
        return len(accounts) * len(regions)

    def target_count_function(self, argument: Any, path: DataPath | None) -> Any:
        return self.target_count(argument, f"{_TARGET_COUNT} {argument}", path)

    def named_binding(
        self, function: str, name: str, path: DataPath | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        bound = self.job.binding(name)
        if bound is None:
            names = self.job.template.bindings
            choices = (
                f"name one of its OrganizationBindings: {', '.join(sorted(names))}"
                if names
                else "declare it under OrganizationBindings"
            )
            self.error(
                "E425",
                f"{function} {name}: the template has no binding named {name}"
                f"{did_you_mean(name, names)}; {choices}",
                path,
            )
        return bound

    def enumerate(self, value: str, path: DataPath | None) -> Any:
        parts = value.split(None, 2)
        function = parts[0]
        if len(parts) < 2:
            self.error(
                "E426",
                f"{function} takes a binding name and an expression: "
                f"{function} MyBinding {_ENUM_EXAMPLES[function]}",
                path,
            )
            return value
        pattern = parts[2].strip() if len(parts) == 3 else ""
        if len(pattern) >= 2 and pattern[0] == pattern[-1] and pattern[0] in "'\"":
            pattern = pattern[1:-1]
        bound = self.named_binding(function, parts[1], path)
        if bound is None:
            return value
        accounts, regions = bound
        if function == _ENUM_REGIONS:
            texts = [(pattern or "${region}").replace("${region}", region) for region in regions]
        else:
            texts = [self.fill_account(pattern or "${account}", a, value, path) for a in accounts]
        items = tuple(self.value({"Fn::Sub": t}, path) if "${" in t else t for t in texts)
        if not items and (self.placed is None or "Condition" not in self.placed.resource.body):
            self.diagnostics.add(
                "W405",
                f"{function} {parts[1]} selects nothing, so the value is an empty list; guard "
                f"the resource with a Condition on Fn::TargetCount {parts[1]}",
                self.span(path),
            )
        return _Splice(items)

    def fill_account(
        self, pattern: str, logical_id: str, written: str, path: DataPath | None
    ) -> str:
        account = self.run.organization.accounts[logical_id]

        def replace(match: re.Match[str]) -> str:
            variable = match.group(1)
            if variable in ("account", "AccountId"):
                return self.run.physical_id("accounts", logical_id)
            if variable == "LogicalId":
                return logical_id
            found = self.account_attribute(account, variable, written, path)
            return match.group(0) if found is None else found

        return _ENUM_VARIABLE.sub(replace, pattern)

    def json_string(self, argument: Any, path: DataPath | None) -> Any:
        pretty = False
        value_path = path
        if isinstance(argument, list):
            if (
                not argument
                or len(argument) > 2
                or (len(argument) == 2 and argument[1] != "pretty-print")
            ):
                self.error(
                    "E426",
                    "!JsonString takes a value, or a list of a value and 'pretty-print'",
                    path,
                )
                return {"Fn::JsonString": argument}
            pretty = len(argument) == 2
            argument, value_path = argument[0], _extend(path, 0)
        return _json_text(self.value(argument, value_path), pretty=pretty)

    def md5(self, argument: Any, path: DataPath | None) -> Any:
        value = self.value(argument, path)
        unknown = _first_intrinsic(value)
        if unknown is not None:
            self.error(
                "E427",
                f"!MD5 hashes its value before deploy, but {_describe(unknown)} is known only "
                "inside CloudFormation",
                path,
            )
            return {"Fn::MD5": value}
        text = value if isinstance(value, str) else _compact_json(value)
        return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()

    def copy_value(self, argument: Any, path: DataPath | None) -> Any:
        items = argument if isinstance(argument, list) else [argument]
        if not 1 <= len(items) <= 3:
            self.error(
                "E426",
                "!CopyValue takes an export name, or [export name, account id, region]",
                path,
            )
            return {"Fn::CopyValue": argument}
        expression = f"!CopyValue {_describe(argument)}"
        if self.probe:
            return {"Fn::CopyValue": argument}
        whole, self.whole_parameter = self.whole_parameter, False
        if self.parameter is not None and not whole:
            self.error(
                "E426",
                f"{expression}: a !CopyValue in a task parameter must be its whole value, as in "
                f"{self.parameter}: {expression}",
                path,
            )
            return {"Fn::CopyValue": argument}
        values: list[str | None] = []
        for index, item in enumerate(items):
            item_path = _extend(path, index) if isinstance(argument, list) else path
            evaluated = self.value(item, item_path)
            if evaluated is None and index > 0:
                values.append(None)
                continue
            if isinstance(evaluated, int) and not isinstance(evaluated, bool) and index == 1:
                self.error(
                    "E426",
                    f"{expression}: the account id {evaluated} is a number; quote it",
                    item_path,
                )
                return {"Fn::CopyValue": argument}
            static = _static(evaluated, self.target.known)
            if static is None:
                self.error(
                    "E427",
                    f"{expression}: {_describe(item)} is known only inside CloudFormation; "
                    "!CopyValue needs an export name, account and region orgc can compute",
                    item_path,
                )
                return {"Fn::CopyValue": argument}
            values.append(static)
        values += [None] * (3 - len(values))
        export, account_id, region = values
        assert export is not None
        reference = self.find_export(export, account_id, region, expression, path)
        if reference is None:
            return {"Fn::CopyValue": argument}
        if self.parameter is not None:
            return _Deferred(reference)
        self.target.references.setdefault(reference.parameter, reference)
        return {"Ref": reference.parameter}

    def find_export(
        self,
        export: str,
        account_id: str | None,
        region: str | None,
        expression: str,
        path: DataPath | None,
    ) -> Reference | None:
        """The stack of this project that makes `export`, or an export read at apply time."""
        candidates = [
            (target, output)
            for target, output in self.run.exports.get(export, [])
            if (account_id is None or target.account_id == account_id)
            and (region is None or target.key.region == region)
        ]
        if len(candidates) > 1:
            candidates = [
                (target, output)
                for target, output in candidates
                if target.account_id == (account_id or self.target.account_id)
                and target.key.region == (region or self.target.key.region)
            ] or candidates
        if len(candidates) > 1:
            where = ", ".join(str(target.key) for target, _ in candidates)
            self.error(
                "E430",
                f"{expression} is ambiguous: export {export} is made by {where}; give the "
                f"account and region, as in !CopyValue [{export}, <account id>, <region>]",
                path,
            )
            return None
        span = self.span(path)
        if not candidates:
            account_id = account_id or self.target.account_id
            region = region or self.target.key.region
            return Reference(
                parameter=self.parameter
                or self.job.copy_name(self.target, export, f"{export}|{account_id}|{region}"),
                producer=None,
                output=None,
                export=export,
                account_id=account_id,
                region=region,
                expression=expression,
                span=span,
            )
        producer, output = candidates[0]
        if producer is self.target:
            self.error(
                "E431",
                f"{expression} reads an export of this same stack; use !Ref or !GetAtt of the "
                "resource instead",
                path,
            )
            return None
        return Reference(
            parameter=self.parameter
            or self.job.copy_name(self.target, export, f"{producer.key}|{output}"),
            producer=producer.key,
            output=output,
            export=export,
            expression=expression,
            span=span,
        )


_FUNCTIONS: dict[str, Callable[[_Evaluator, Any, DataPath | None], Any]] = {
    "Ref": _Evaluator.ref,
    "Fn::GetAtt": _Evaluator.get_att,
    "Fn::Sub": _Evaluator.sub,
    "Fn::CopyValue": _Evaluator.copy_value,
    "Fn::JsonString": _Evaluator.json_string,
    "Fn::MD5": _Evaluator.md5,
    "Fn::TargetCount": _Evaluator.target_count_function,
}


# --- values ---------------------------------------------------------------------------------


def _extend(path: DataPath | None, *keys: str | int) -> DataPath | None:
    return None if path is None else path + keys


def _organization_kind(organization: Organization, name: str) -> str | None:
    if name in organization.organizational_units:
        return "an organizational unit"
    if name in organization.policies:
        return "a policy"
    if name == organization.root.logical_id:
        return "the organization root"
    return None


def _as_value(resolved: _Resolved, unresolved: Any) -> Any:
    if resolved is None:
        return unresolved
    if isinstance(resolved, str):
        return resolved
    if resolved.attribute is None:
        return {"Ref": resolved.name}
    return {"Fn::GetAtt": [resolved.name, resolved.attribute]}


def _where(holders: Sequence[tuple[StackKey, str]], name: str) -> str:
    """Stacks holding a resource, as `Account/region` (with the copy's id when it differs)."""
    return ", ".join(
        f"{key.account}/{key.region}" + ("" if rendered == name else f" as {rendered}")
        for key, rendered in holders
    )


def _explicit_form(expression: str, holder: tuple[StackKey, str], name: str) -> str:
    account = holder[0].account
    if expression.startswith("!Ref "):
        return f"!Ref {account}.Resources.{name}"
    if expression.startswith("!GetAtt "):
        attribute = expression.removeprefix(f"!GetAtt {name}.")
        return f"!GetAtt {account}.Resources.{name}.{attribute}"
    return "${" + account + ".Resources." + expression[2:]


def _names_used(value: Any) -> set[str]:
    """The logical ids a value names through !Ref, !GetAtt and ${} (before any dot)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _names_used(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item.partition(".")[0])
            elif key == "Fn::GetAtt" and isinstance(item, list) and item:
                if isinstance(item[0], str):
                    found.add(item[0].partition(".")[0])
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) and item else item
                if isinstance(text, str):
                    defined = item[1] if isinstance(item, list) and len(item) > 1 else {}
                    for match in _SUB_VARIABLE.finditer(text):
                        inner = match.group(1)
                        if not inner.startswith("!") and inner not in defined:
                            found.add(inner.partition(".")[0])
                found |= _names_used(item)
            else:
                found |= _names_used(item)
    return found


def _escape(text: str) -> str:
    """A literal for inside a Fn::Sub string."""
    return text.replace("${", "${!")


def _simplify_sub(text: str, variables: dict[str, Any]) -> Any:
    """A Fn::Sub with literal variables substituted, or the plain string when nothing is left."""
    remaining = dict(variables)
    for name, value in variables.items():
        literal = _static(value, {}) if not isinstance(value, (dict, list)) else None
        if literal is not None:
            text = text.replace("${" + name + "}", _escape(literal))
            del remaining[name]
    if any(not m.group(1).startswith("!") for m in _SUB_VARIABLE.finditer(text)):
        return {"Fn::Sub": [text, remaining] if remaining else text}
    return text.replace("${!", "${")


def _static(value: Any, known: Mapping[str, str]) -> str | None:
    """A value reduced to text with `known` names, or None when only CloudFormation can."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if not isinstance(value, dict) or len(value) != 1:
        return None
    name, argument = next(iter(value.items()))
    if name == "Ref" and isinstance(argument, str):
        return known.get(argument)
    if name == "Fn::Sub":
        text = argument[0] if isinstance(argument, list) and len(argument) == 2 else argument
        defined = argument[1] if isinstance(argument, list) and len(argument) == 2 else {}
        if not isinstance(text, str) or not isinstance(defined, dict):
            return None
        values = {k: _static(v, known) for k, v in defined.items()}
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            found = values.get(inner) if inner in values else known.get(inner)
            if found is None:
                unresolved = True
                return ""
            return found

        result = _SUB_VARIABLE.sub(replace, text)
        return None if unresolved else result
    if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        separator, items = argument
        if isinstance(separator, str) and isinstance(items, list):
            parts = [_static(item, known) for item in items]
            if all(part is not None for part in parts):
                return separator.join(part for part in parts if part is not None)
    if name == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
        index, items = argument
        index_text = _static(index, known)
        if index_text is not None and index_text.isdigit() and isinstance(items, list):
            position = int(index_text)
            if position < len(items):
                return _static(items[position], known)
    return None


def _parameter_text(value: Any, known: Mapping[str, str]) -> str | None:
    """A task parameter's value as CloudFormation takes it: lists comma-joined, booleans
    lowercase, numbers as written."""
    if isinstance(value, list):
        parts = [_parameter_text(item, known) for item in value]
        if any(part is None for part in parts):
            return None
        return ",".join(part for part in parts if part is not None)
    return _static(value, known)


def _pseudo_parameters(region: str, account_id: str, task: StacksTask) -> dict[str, str]:
    """The pseudo parameters a stack's values are known for before deploy."""
    if region.startswith("cn-"):
        partition, suffix = "aws-cn", "amazonaws.com.cn"
    elif region.startswith("us-gov-"):
        partition, suffix = "aws-us-gov", "amazonaws.com"
    else:
        partition, suffix = "aws", "amazonaws.com"
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::StackName": task.stack_name,
        "AWS::Partition": partition,
        "AWS::URLSuffix": suffix,
    }


def _is_copy_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "Fn::CopyValue" in value


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    name = str(next(iter(value)))
    return name == "Ref" or name.startswith("Fn::")


def _first_intrinsic(value: Any) -> Any:
    """The first value CloudFormation resolves inside `value`, or None."""
    if _is_intrinsic(value):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _first_intrinsic(item)
        if found is not None:
            return found
    return None


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_text(value: Any, *, pretty: bool) -> Any:
    """`value` as JSON text; values CloudFormation resolves make it a Fn::Sub."""

    def dump(item: Any) -> str:
        if pretty:
            return json.dumps(item, indent=2, ensure_ascii=False)
        return _compact_json(item)

    if not _first_intrinsic(value) is not None:
        return dump(value)
    placeholders: list[Any] = []

    def hide(item: Any) -> Any:
        if _is_intrinsic(item):
            placeholders.append(item)
            return f"\0{len(placeholders) - 1}\0"
        if isinstance(item, dict):
            return {key: hide(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [hide(inner) for inner in item]
        return item

    text = _escape(dump(hide(value)))
    variables: dict[str, Any] = {}
    for index, intrinsic in enumerate(placeholders):
        name, argument = next(iter(intrinsic.items()))
        if name == "Ref" and isinstance(argument, str):
            variable = argument
        elif name == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
            variable = f"{argument[0]}.{argument[1]}"
        else:
            variable = f"OrgcJson{len(variables)}"
            variables[variable] = intrinsic
        text = text.replace(json.dumps(f"\0{index}\0")[1:-1], "${" + variable + "}")
    return {"Fn::Sub": [text, variables] if variables else text}


def _describe(value: Any) -> str:
    """A value as the user wrote it, short: `!Ref X`, `!GetAtt A.B`, `[a, !Ref B]`."""
    if isinstance(value, list):
        return "[" + ", ".join(_describe(item) for item in value) + "]"
    if isinstance(value, dict) and len(value) == 1:
        name, argument = next(iter(value.items()))
        if name == "Ref" and isinstance(argument, str):
            return f"!Ref {argument}"
        if name == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
            return f"!GetAtt {argument[0]}.{argument[1]}"
        if name.startswith("Fn::"):
            return f"!{name.removeprefix('Fn::')} {_describe(argument)}"
    if isinstance(value, str):
        return value
    return _compact_json(value)
