"""Per-target assembly: render_project, the stage's entry function.

`render_project` places each update-stacks task's bound resources on its (account, region)
targets (ForeachAccount copies included), evaluates task parameters, collects the exports every
!CopyValue may read, renders each target's template through `StackEvaluator` and assembles one
`RenderedStack` per target, sorted by `StackKey`, with generated cross-stack Outputs and
Parameters named here. Diagnostics are collected, never raised.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from orgc.bind import BoundTemplate, resolve_binding
from orgc.diagnostics import Diagnostics, did_you_mean
from orgc.expressions import (
    UNRESOLVED,
    Read,
    TargetText,
    copy_data,
    describe,
    is_expression,
    names_used,
    parameter_text,
    pseudo_parameters,
    static,
)
from orgc.load import DataPath
from orgc.model import Organization
from orgc.render.evaluate import StackEvaluator
from orgc.render.memo import UNREADABLE, Memo
from orgc.render.model import (
    RenderContext,
    RenderedStack,
    RenderedTemplate,
    StackKey,
    _Deferred,
    _Placed,
    _Rendered,
    _RenderedResource,
    _Target,
    known_after_apply,
    markers,
)
from orgc.tasks import StacksTask
from orgc.templates import Template

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


_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
_NAME_LIMIT = 255  # CloudFormation's limit on logical ids of parameters and outputs
_STACK_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9]{0,127}$")  # CloudFormation's stack names
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
    *,
    memoise: bool = True,
) -> tuple[RenderedStack, ...]:
    """One RenderedStack per (task, account, region) target, sorted by StackKey.

    Every mistake goes to `diagnostics`; the stacks are still returned, with an expression that
    could not be resolved left as written. `memoise=False` renders every target afresh, which
    gives the same stacks more slowly (the tests compare the two).
    """
    run = _Run(organization, context, diagnostics, memoise=memoise)
    jobs = [_Job(run, task, template, bound) for task, template, bound in tasks]
    for job in jobs:
        job.check_parameters()
        for target in job.targets.values():
            job.name_stack(target)
            job.evaluate_parameters(target)
            job.target_attributes(target)
    # Exports first: a !CopyValue anywhere in the project may read any of them.
    for job in jobs:
        for target in job.targets.values():
            job.collect_exports(target)
    for job in jobs:
        for target in job.targets.values():
            job.copy_parameters(target)
            job.render(target)
    stacks = [job.finish(target) for job in jobs for target in job.targets.values()]
    for job in jobs:
        job.release()
    _check_stack_names(stacks, jobs, diagnostics)
    return tuple(sorted(stacks, key=lambda stack: stack.key))


def _check_stack_names(
    stacks: Sequence[RenderedStack], jobs: Sequence[_Job], diagnostics: Diagnostics
) -> None:
    """Two stacks of one name in one account and region (E470): a StackName finished per
    target can give the name another task gives its stack there (the targets of one task are
    distinct accounts and regions)."""
    tasks = {job.task.name: job.task for job in jobs}
    seen: dict[tuple[str, str, str], StackKey] = {}
    for stack in sorted(stacks, key=lambda stack: stack.key):
        where = (stack.key.account, stack.key.region, stack.stack_name)
        first = seen.setdefault(where, stack.key)
        if first == stack.key:
            continue
        task = tasks[stack.key.task]
        if isinstance(task.stack_name, str) and isinstance(tasks[first.task].stack_name, str):
            continue  # two tasks of one written name: E329 says so
        diagnostics.add(
            "E470",
            f"StackName of task {task.name} names its stack in account {stack.key.account} "
            f"{stack.key.region} {stack.stack_name!r}, as task {first.task} names its stack "
            "there; give the tasks StackNames that differ for every target",
            task.span,
        )


class _Run:
    """What every task of one render shares: the organization, known ids, exports."""

    def __init__(
        self,
        organization: Organization,
        context: RenderContext,
        diagnostics: Diagnostics,
        *,
        memoise: bool,
    ) -> None:
        self.memoise = memoise
        self._physical_ids: dict[tuple[str, str], str] = {}
        self.organization_values = {
            "ORG::PrincipalOrgID": context.organization_id or known_after_apply("organization-id"),
            "ORG::StateBucketName": context.state_bucket or known_after_apply("state-bucket"),
        }
        self.organization = organization
        self.context = context
        self.diagnostics = diagnostics
        # export name → the stacks that export it, with their Output key
        self.exports: dict[str, list[tuple[_Target, str]]] = {}

    def physical_id(self, kind: str, logical_id: str) -> str:
        found = self._physical_ids.get((kind, logical_id))
        if found is None:
            found = self._physical_ids[(kind, logical_id)] = self._physical_id(kind, logical_id)
        return found

    def _physical_id(self, kind: str, logical_id: str) -> str:
        known = self.context.ids.get(kind, {}).get(logical_id)
        if known:
            return known
        if kind == "accounts":
            account = self.organization.accounts.get(logical_id)
            if account is not None and account.account_id:
                return account.account_id
        return known_after_apply(_ID_KINDS[kind], logical_id)

    def id_of(self, table: str, logical_id: str) -> str:
        """A physical id by id table, "root" included, or a known-after-apply marker."""
        if table == "root":
            return self.context.root_id or known_after_apply("root")
        return self.physical_id(table, logical_id)


_NOT_READ = object()


def _no_reads(target: _Target, read: Read) -> object:
    raise AssertionError("a released job renders nothing")


def _is_copy_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "Fn::CopyValue" in value


def _holds_copy_value(value: Any) -> bool:
    """Whether a !CopyValue sits anywhere in `value` (inside a !Join, a !Sub, ...)."""
    if isinstance(value, dict):
        return "Fn::CopyValue" in value or any(_holds_copy_value(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_copy_value(v) for v in value)
    return False


_EXPORT_KEYS = ("ExportName", "ExportAccountId", "ExportRegion")


def _declared_parameters(
    declared: dict[str, Any], given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The template's parameter declarations as CloudFormation takes them, and the values the
    stack takes: the task's, then what OrgFormation's declarations say themselves. A Default
    that is an expression (`Default: !Ref SharedAccount`) is evaluated as a task parameter
    would be; `ExportName` (with `ExportAccountId`, `ExportRegion`) fills the parameter from
    that export, as `!CopyValue [ExportName, ExportAccountId, ExportRegion]` does."""
    declarations: dict[str, Any] = {}
    values = dict(given)
    for name, declaration in declared.items():
        if not isinstance(declaration, dict):
            declarations[name] = declaration
            continue
        kept = {k: v for k, v in declaration.items() if k not in _EXPORT_KEYS}
        export = declaration.get("ExportName")
        default = declaration.get("Default")
        if export is not None:
            account = declaration.get("ExportAccountId")
            region = declaration.get("ExportRegion")
            arguments = [export, account, region]
            while arguments[-1] is None:
                arguments.pop()
            values.setdefault(name, {"Fn::CopyValue": arguments})
        elif is_expression(default):
            kept.pop("Default")
            values.setdefault(name, default)
        declarations[name] = kept
    return declarations, values


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
        self.declared, self.parameters = _declared_parameters(
            declared if isinstance(declared, dict) else {}, task.parameters
        )
        outputs = template.sections.get("Outputs")
        self.outputs: dict[str, Any] = outputs if isinstance(outputs, dict) else {}
        # The names each Output refers to, the Export names written, the task parameters
        # whose whole value is a !CopyValue: the same for every target.
        self.output_names = {
            name: names_used(output)
            for name, output in self.outputs.items()
            if isinstance(output, dict)
        }
        self.exported = [
            (name, output["Export"]["Name"])
            for name, output in self.outputs.items()
            if isinstance(output, dict)
            and isinstance(output.get("Export"), dict)
            and "Name" in output["Export"]
        ]
        self.copied = [
            (name, raw)
            for name, raw in self.parameters.items()
            if name in self.declared and _holds_copy_value(raw)
        ]
        self.copied_names = [name for name, _ in self.copied]
        # The task's parameter texts when every one is plain text, a number or a !CopyValue
        # (shared by every target, never changed), else None: evaluated per target.
        self.plain: dict[str, str] | None = {}
        for name, raw in self.parameters.items():
            if name not in self.declared or raw is None or _holds_copy_value(raw):
                continue
            if isinstance(raw, (int, float, bool)) or (
                isinstance(raw, str) and not raw.startswith("Fn:")
            ):
                self.plain[name] = parameter_text(raw, {}) or ""
            else:
                self.plain = None
                break
        self.sorted_plain = dict(sorted(self.plain.items())) if self.plain is not None else None
        # Names a generated parameter or output must not take.
        self.reserved = {*self.declared, *self.outputs, *template.resources}
        # The Defaults of the template's parameters that are known text.
        self.defaults: dict[str, str] = {}
        for name, declaration in self.declared.items():
            default = (
                static(declaration.get("Default"), {}) if isinstance(declaration, dict) else None
            )
            if default is not None:
                self.defaults[name] = default
        self.bindings: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.targets: dict[StackKey, _Target] = {}
        # template id or copy id → every (stack, id in that stack) holding it
        self.holders: dict[str, list[tuple[StackKey, str]]] = {}
        # placement → (what a render read, the values read → the render), see `render`
        self.memo: Memo[_Rendered] = Memo(self.read_value)  # by placement
        # the same, per placed resource, for the resources of templates rendered afresh
        self.resource_memo: Memo[_RenderedResource] = Memo(self.read_value)
        # (render, references) → the finished template of the stacks that share both
        self.templates: dict[tuple[int, tuple[str, ...], str | None], dict[str, Any]] = {}
        self.parameter_sections: dict[tuple[str, ...], dict[str, Any]] = {}
        self.waits: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.reader: StackEvaluator | None = None  # see read_value
        self.account_reads: dict[tuple[str, str], object] = {}  # see read_value
        self._place()

    # --- targets ------------------------------------------------------------------------------

    def _place(self) -> None:
        accounts = self.run.organization.accounts
        # Targets bound to the same resources share one placement: the resources, the copies
        # and, in `finish`, what they wait for. Placements are never changed once made.
        placements: dict[tuple[str, ...], tuple[dict[str, _Placed], dict[str, dict[str, str]]]]
        placements = {}
        for (account_id, region), resource_ids in sorted(self.bound.targets.items()):
            account = accounts.get(account_id)
            if account is None:
                continue  # bind reported the unknown account
            key = StackKey(self.task.name, account_id, region)
            wanted = tuple(resource_ids)
            if wanted not in placements:
                placements[wanted] = self._placement(set(wanted))
            placed, copies = placements[wanted]
            self.targets[key] = _Target(
                key=key,
                account=account,
                account_id=self.run.physical_id("accounts", account_id),
                placed=placed,
                copies=copies,
            )
            for rendered_id, item in placed.items():
                self.holders.setdefault(rendered_id, []).append((key, rendered_id))
                if item.loop_account is not None:
                    logical_id = item.resource.logical_id
                    self.holders.setdefault(logical_id, []).append((key, rendered_id))

    def _placement(self, wanted: set[str]) -> tuple[dict[str, _Placed], dict[str, dict[str, str]]]:
        """The resources a target bound to `wanted` holds (by rendered id, in template order)
        and its ForeachAccount copies (template id → loop account → copy id)."""
        placed: dict[str, _Placed] = {}
        copies: dict[str, dict[str, str]] = {}
        for logical_id, resource in self.template.resources.items():
            if logical_id not in wanted:
                continue
            loop = self.bound.loops.get(logical_id)
            if loop is None:
                placed[logical_id] = _Placed(logical_id, resource)
                continue
            copies[logical_id] = {}
            for loop_account in loop:
                copy_id = logical_id + self.run.physical_id("accounts", loop_account)
                placed[copy_id] = _Placed(copy_id, resource, loop_account)
                copies[logical_id][loop_account] = copy_id
        return placed, copies

    def release(self) -> None:
        """Drop what only the render needed. The memos and the probe refer back to the job, so
        without this the job and its targets would wait for the cycle collector, which then
        walks them at every full collection of the stages after render."""
        self.memo = Memo(_no_reads)
        self.resource_memo = Memo(_no_reads)
        self.reader = None
        self.account_reads = {}

    def read_value(self, target: _Target, read: Read) -> object:
        """What `target` gives for one read a render recorded."""
        kind, argument, _ = read
        if kind == "region":
            return target.key.region
        if kind == "stack":
            return str(target.key) == argument
        # An attribute of the target account (a render that read one in a way that reports a
        # mistake, or named other accounts' resources through it, is never kept).
        if argument is None:
            return self.run.physical_id("accounts", target.key.account)
        # The targets of one account (one per region) read the same: read once per account.
        found = self.account_reads.get((target.key.account, argument), _NOT_READ)
        if found is _NOT_READ:
            if self.reader is None:
                # One probe reads for every target of the task: what it reports is thrown away.
                self.reader = StackEvaluator(self, target, Diagnostics(), probe=True)
            self.reader.failed = False
            account = self.run.organization.accounts[target.key.account]
            value = self.reader.account_attribute(account, argument, "", None)
            found = UNREADABLE if self.reader.failed or value is UNRESOLVED else value
            self.account_reads[(target.key.account, argument)] = found
        return found

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
            given = self.parameters.get(name) is not None
            if not given and not (isinstance(declaration, dict) and "Default" in declaration):
                self.run.diagnostics.add(
                    "E429",
                    f"parameter {name} has no Default and task {self.task.name} gives it no "
                    f"value; add {name} to the task's Parameters or give it a Default",
                    self.template.file.source_map.key_span(("Parameters", name)),
                )

    def name_stack(self, target: _Target) -> None:
        """The target's stack name: the task's StackName, finished for the target when it is an
        expression (`!Sub '${CurrentAccount.AccountName}-baseline'`), checked to be one."""
        written = self.task.stack_name
        if isinstance(written, str):
            target.stack_name = written
            return
        target.known = pseudo_parameters(target.key.region, target.account_id, None)
        evaluator = StackEvaluator(self, target, self.run.diagnostics, parameter="StackName")
        text = parameter_text(evaluator.value(written, None), target.known)
        # Left as written when it cannot be known: the diagnostic says why, and the plan stops.
        target.stack_name = describe(written) if text is None else text
        if text is None:
            if not evaluator.failed:
                self.run.diagnostics.add(
                    "E427",
                    f"StackName of task {self.task.name} is {describe(written)}, which is known "
                    "only inside CloudFormation; give a name orgc can compute before deploy",
                    self.task.span,
                )
            return
        where = f"account {target.key.account} {target.key.region}"
        if markers(text):
            self.run.diagnostics.add(
                "E471",
                f"StackName of task {self.task.name} for {where} needs a value known only after "
                f"apply ({describe(written)}: the account is created by this run); name the "
                "stack by what the files know (${CurrentAccount.AccountName}), or apply the "
                "organization first",
                self.task.span,
            )
        elif not _STACK_NAME.match(text):
            self.run.diagnostics.add(
                "E472",
                f"StackName of task {self.task.name} gives {text!r} for {where}, which is not a "
                "stack name (a letter, then letters, digits and hyphens, 128 at most)",
                self.task.span,
            )

    def evaluate_parameters(self, target: _Target) -> None:
        """The task's parameter values for one target, and the static values export names use."""
        target.known = pseudo_parameters(target.key.region, target.account_id, target.stack_name)
        target.known.update(self.defaults)
        if self.plain is not None:
            # Every parameter is plain text or a !CopyValue: the same for every target.
            for name in self.copied_names:
                target.known.pop(name, None)  # read at apply time: see copy_parameters
            target.known.update(self.plain)
            target.parameters = self.plain
            return
        for name, raw in self.parameters.items():
            if name not in self.declared or raw is None:
                continue
            if _holds_copy_value(raw):
                target.known.pop(name, None)  # read at apply time: see copy_parameters
                continue
            if isinstance(raw, (int, float, bool)) or (
                isinstance(raw, str) and not raw.startswith("Fn:")
            ):
                # Plain text or a number: nothing to evaluate.
                target.parameters[name] = target.known[name] = parameter_text(raw, {}) or ""
                continue
            evaluator = StackEvaluator(self, target, self.run.diagnostics, parameter=name)
            text = parameter_text(evaluator.value(raw, None), target.known)
            if text is None and not evaluator.failed:
                self.run.diagnostics.add(
                    "E427",
                    f"parameter {name} of task {self.task.name} is {describe(raw)}, which is "
                    "known only inside CloudFormation; give a value orgc can compute, or move the "
                    "expression into the template",
                    self.task.span,
                )
            if text is not None:
                target.parameters[name] = text
                target.known[name] = text

    def target_attributes(self, target: _Target) -> None:
        """The task's text attributes OrgFormation evaluates per target (StackDescription,
        TaskRoleName, TaskViaRoleArn, CloudFormationRoleName, Tags), checked for this target;
        the description is kept for the template. The plan finishes the others itself
        (orgc.expressions.target_text), with the same result."""
        task = self.task
        written: dict[str, TargetText | None] = {
            "StackDescription": task.stack_description,
            "TaskRoleName": task.task_role_name,
            "TaskViaRoleArn": task.task_via_role_arn,
            "CloudFormationRoleName": task.cloudformation_role_name,
            **{f"tag {key}": value for key, value in task.tags.items()},
        }
        for name, raw in written.items():
            if raw is None or isinstance(raw, str):
                continue
            if _holds_copy_value(raw):
                self.run.diagnostics.add(
                    "E426",
                    f"{name} of task {task.name} holds a !CopyValue, which orgc reads at apply "
                    "for stack parameters only; give the value to a template parameter instead",
                    task.span,
                )
                continue
            evaluator = StackEvaluator(self, target, self.run.diagnostics, parameter=name)
            text = parameter_text(evaluator.value(raw, None), target.known)
            if text is None and not evaluator.failed:
                self.run.diagnostics.add(
                    "E427",
                    f"{name} of task {task.name} is {describe(raw)}, which is known only inside "
                    "CloudFormation; give a value orgc can compute before deploy",
                    task.span,
                )
            if name == "StackDescription":
                target.description = text

    def copy_parameters(self, target: _Target) -> None:
        """Task parameters whose whole value is a !CopyValue, once every export is known."""
        for name, raw in self.copied:
            evaluator = StackEvaluator(self, target, self.run.diagnostics, parameter=name)
            if _is_copy_value(raw):
                evaluator.whole_parameter = True
                value = evaluator.copy_value(raw["Fn::CopyValue"], None)
                if isinstance(value, _Deferred):
                    target.references[name] = value.reference
                continue
            # A !CopyValue inside the value (`!Join ['', [!CopyValue X, -suffix]]`): each one is
            # a reference marker in the text, filled at apply time.
            text = parameter_text(evaluator.value(raw, None), target.known)
            if text is not None:
                target.parameters[name] = text
            elif not evaluator.failed:
                self.run.diagnostics.add(
                    "E427",
                    f"parameter {name} of task {self.task.name} is {describe(raw)}, which is "
                    "known only inside CloudFormation; give a value orgc can compute, or move the "
                    "expression into the template",
                    self.task.span,
                )

    # --- exports ------------------------------------------------------------------------------

    def collect_exports(self, target: _Target) -> None:
        """Export names of the outputs this target keeps, where they can be known now."""
        if not self.exported:
            return
        probe = StackEvaluator(self, target, Diagnostics(), probe=True)
        for output_key, written in self.exported:
            if self._refers_elsewhere(output_key, target):
                continue
            path: DataPath = ("Outputs", output_key, "Export", "Name")
            name = static(probe.value(written, path), target.known)
            if name is not None:
                target.exports[name] = output_key
                self.run.exports.setdefault(name, []).append((target, output_key))

    # --- templates ----------------------------------------------------------------------------

    def render(self, target: _Target) -> None:
        """The target's template, apart from outputs other targets still add to it.

        Rendered once per distinct evaluation context (see orgc.render.memo): a target with the
        same resources placed whose reads give the same values takes the render another target
        made, with the references and stack order it brought.
        """
        if not self.run.memoise:
            self._render(StackEvaluator(self, target, self.run.diagnostics), target)
            return
        # Placements are shared by the targets bound to the same resources: see _place.
        found, lookup = self.memo.find(id(target.placed), target)
        if found is not None:
            found.replay(target)
            return
        before = len(self.run.diagnostics)
        known_references = set(target.references)
        known_after = set(target.after_stacks)
        evaluator = StackEvaluator(self, target, self.run.diagnostics)
        evaluator.reads = []
        self._render(evaluator, target)
        if not evaluator.memoisable or evaluator.failed or len(self.run.diagnostics) != before:
            return  # one of a kind, or it reported a mistake: rendered for this target only
        rendered = _Rendered(
            sections=target.template,
            references={
                name: reference
                for name, reference in target.references.items()
                if name not in known_references
            },
            after_stacks=frozenset(target.after_stacks - known_after),
        )
        target.rendered = rendered
        self.memo.keep(lookup, evaluator.reads, rendered)

    def _render(self, evaluator: StackEvaluator, target: _Target) -> None:
        sections = self.template.sections
        rendered: dict[str, Any] = {}
        for section in _VERBATIM_SECTIONS:
            if section in sections:
                rendered[section] = copy_data(sections[section])
        conditions = sections.get("Conditions")
        if isinstance(conditions, dict):
            rendered["Conditions"] = {
                name: evaluator.value(body, ("Conditions", name))
                for name, body in conditions.items()
            }
        resources: dict[str, Any] = {}
        for placed in target.placed.values():
            evaluator.placed = placed
            resources[placed.rendered_id] = self._memoised_resource(evaluator, target, placed)
        evaluator.placed = None
        rendered["Resources"] = resources
        outputs: dict[str, Any] = {}
        for name, output in self.outputs.items():
            if self._refers_elsewhere(name, target):
                continue
            outputs[name] = evaluator.value(output, ("Outputs", name))
        rendered["Outputs"] = outputs
        target.template = rendered

    def _memoised_resource(
        self, evaluator: StackEvaluator, target: _Target, placed: _Placed
    ) -> Any:
        """One resource of a template being rendered afresh, itself memoised as the template
        is (see `render`): a resource whose reads give the same values takes the body another
        target rendered. Its reads still count for the template."""
        reads = evaluator.reads
        if reads is None:
            return self._resource(evaluator, target, placed)
        found, lookup = self.resource_memo.find(id(placed), target)
        if found is not None:
            reads.extend(lookup.signature)
            found.replay_into(target)
            return found.body
        start = len(reads)
        memoisable, failed = evaluator.memoisable, evaluator.failed
        evaluator.memoisable, evaluator.failed = True, False
        before = len(self.run.diagnostics)
        known_references = set(target.references)
        known_after = set(target.after_stacks)
        body = self._resource(evaluator, target, placed)
        kept = evaluator.memoisable and not evaluator.failed and len(self.run.diagnostics) == before
        evaluator.memoisable = memoisable and evaluator.memoisable
        evaluator.failed = failed or evaluator.failed
        if not kept:
            return body
        rendered = _RenderedResource(
            body=body,
            references={
                name: reference
                for name, reference in target.references.items()
                if name not in known_references
            },
            after_stacks=frozenset(target.after_stacks - known_after),
        )
        self.resource_memo.keep(lookup, reads[start:], rendered)
        return body

    def _resource(self, evaluator: StackEvaluator, target: _Target, placed: _Placed) -> Any:
        path: DataPath = ("Resources", placed.resource.logical_id)
        body: dict[str, Any] = {}
        for key, value in placed.resource.body.items():
            if key in ("Type", "Condition"):
                body[key] = copy_data(value)
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

    def _refers_elsewhere(self, output: str, target: _Target) -> bool:
        """Whether an output names a resource of this template that this target does not
        hold."""
        return any(
            name in self.holders or name in self.template.resources
            for name in self.output_names.get(output, ())
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

    def _template(self, target: _Target, references: tuple[str, ...]) -> dict[str, Any]:
        # The sections may be a render other targets share: add to copies only.
        sections = dict(target.template)
        template: dict[str, Any] = {"AWSTemplateFormatVersion": TEMPLATE_FORMAT_VERSION}
        description = (
            target.description
            if isinstance(self.task.stack_description, dict)
            else self.task.stack_description
        ) or self.template.sections.get("Description")
        if description is not None:
            template["Description"] = description
        parameters = self._parameters(references)
        if parameters:
            sections["Parameters"] = parameters
        outputs = dict(sections.get("Outputs", {}))
        sections["Outputs"] = outputs
        for name in sorted(target.generated_outputs):
            outputs[name] = target.generated_outputs[name]
        if not outputs:
            sections.pop("Outputs", None)
        for section in _SECTIONS:
            if section in sections:
                template[section] = sections[section]
        return RenderedTemplate(template)

    def _parameters(self, references: tuple[str, ...]) -> dict[str, Any]:
        """The Parameters section of a stack taking `references`: the template's declarations
        and a String per generated parameter. One mapping per set of references, shared by the
        stacks that take it; like the rest of a rendered template, it is never changed."""
        found = self.parameter_sections.get(references)
        if found is None:
            found = dict(self.declared)
            for name in references:
                # A name with a dot is a !CopyValue inside a task parameter's text, not a
                # parameter of its own (see StackEvaluator.copy_value).
                if name not in self.declared and "." not in name:
                    found[name] = {"Type": "String"}
            self.parameter_sections[references] = found
        return found

    def _waits(self, placed: dict[str, _Placed]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """DependsOnAccount and DependsOnRegion of the resources of one placement."""
        found = self.waits.get(id(placed))
        if found is None:
            accounts = {a for p in placed.values() for a in p.resource.depends_on_accounts}
            regions = {r for p in placed.values() for r in p.resource.depends_on_regions}
            found = (tuple(sorted(accounts)), tuple(sorted(regions)))
            # Keyed by identity: placements are shared and live as long as the job.
            self.waits[id(placed)] = found
        return found

    def finish(self, target: _Target) -> RenderedStack:
        references = tuple(sorted(target.references))
        shared = None
        if target.rendered is not None and not target.generated_outputs:
            # The same render taking the same references: the same template, made once.
            shared = (id(target.rendered), references, target.description)
        template = self.templates.get(shared) if shared is not None else None
        if template is None:
            template = self._template(target, references)
            if shared is not None:
                self.templates[shared] = template
        after_accounts, after_regions = self._waits(target.placed)
        return RenderedStack(
            key=target.key,
            stack_name=target.stack_name,
            account_id=target.account_id,
            template=template,
            parameters=self.sorted_plain
            if target.parameters is self.plain and self.sorted_plain is not None
            else dict(sorted(target.parameters.items())),
            # Most stacks take no reference, follow no stack and export nothing.
            references=tuple([target.references[name] for name in references]),
            after_accounts=after_accounts,
            after_regions=after_regions,
            after_stacks=tuple(sorted(target.after_stacks)) if target.after_stacks else (),
            exports=dict(sorted(target.exports.items())) if target.exports else {},
            span=self.task.span,
        )
