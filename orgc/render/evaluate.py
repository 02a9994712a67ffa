"""The expression evaluator as one stack target sees it: orgc.expressions plus what a stack has.

`StackEvaluator` is `orgc.expressions.Evaluator` in the scope of one target (its account is
`CurrentAccount`, its ids and values known before deploy), with what only a stack knows: the
template's parameters and resources (kept for CloudFormation, `Local`), resources held by other
stacks of the task (a generated Output on the producer and a generated Parameter and `Reference`
on the consumer), `!CopyValue` of an export made by a stack of this project or read at apply
time, and OrgFormation's functions over the template's bindings (`Fn::EnumTargetAccounts`,
`Fn::EnumTargetRegions`, `Fn::TargetCount`). Mistakes go to the render's `Diagnostics`
(E420-E431, W405) at the template's file:line:col, and an expression that cannot be resolved is
left as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orgc.diagnostics import CodeId, Diagnostics, Span, did_you_mean
from orgc.expressions import (
    ARGUMENT,
    CURRENT_ACCOUNT,
    MAPPING,
    NO_VALUE,
    NOT_AN_ATTRIBUTE,
    NOT_BEFORE_DEPLOY,
    UNKNOWN_NAME,
    UNRESOLVED,
    Evaluator,
    Local,
    Scope,
    Splice,
    describe,
    extend,
    static,
)
from orgc.load import DataPath
from orgc.render.model import (
    Reference,
    StackKey,
    _Deferred,
    _Placed,
    _Target,
    known_after_apply,
)

if TYPE_CHECKING:
    from orgc.render.stacks import _Job

# The diagnostic code of each kind of problem the evaluator finds in a template.
_CODES: dict[str, CodeId] = {
    UNKNOWN_NAME: "E420",
    NOT_AN_ATTRIBUTE: "E421",
    NO_VALUE: "E422",
    ARGUMENT: "E426",
    MAPPING: "E426",
    NOT_BEFORE_DEPLOY: "E427",
}
_ENUM_ACCOUNTS = "Fn::EnumTargetAccounts"
_ENUM_REGIONS = "Fn::EnumTargetRegions"
_TARGET_COUNT = "Fn::TargetCount"
_ENUM_EXAMPLES = {
    _ENUM_ACCOUNTS: "'arn:aws:iam::${account}:root'",
    _ENUM_REGIONS: "'logs.${region}.amazonaws.com'",
}
_ENUM_VARIABLE = re.compile(
    r"\$\{(account|AccountId|AccountName|LogicalId|RootEmail|Alias|Tags\.[^}]+)\}"
)


class StackEvaluator(Evaluator):
    """Evaluates the expressions of one stack's template or task parameters.

    In the template, CloudFormation's own functions are kept and their arguments evaluated. For a
    task parameter (`parameter` set) every value must be known before deploy. A probe (used for
    export names before every stack is rendered, and to read a target's values for the render
    memo) records nothing.
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
        self.diagnostics = diagnostics
        self.parameter = parameter
        self.probe = probe
        self.placed: _Placed | None = None  # the resource being rendered
        # A task parameter whose whole value is a !CopyValue is read at apply time.
        self.whole_parameter = False
        self.target = target
        super().__init__(self.scope_of(target))

    def scope_of(self, target: _Target) -> Scope:
        run = self.run
        return Scope(
            # A task parameter is computed before deploy; a template leaves CloudFormation's
            # functions to CloudFormation.
            fold=self.parameter is not None,
            organization=run.organization,
            account=target.key.account,
            region=target.key.region,
            ids=run.id_of,
            organization_values=run.organization_values,
            known=target.known,
            in_template=self.parameter is None,
        )

    def span(self, path: DataPath | None) -> Span | None:
        if path is None:
            return self.job.task.span
        return self.job.template.file.span(path)

    def error(self, code: CodeId, message: str, path: DataPath | None) -> None:
        self.failed = True
        self.diagnostics.add(code, message, self.span(path))

    def report(self, kind: str, message: str, path: DataPath | None) -> None:
        self.error(_CODES[kind], message, path)

    def current_account(self) -> str | None:
        """The account CurrentAccount means here: a ForeachAccount copy's, or the stack's."""
        if self.placed is not None and self.placed.loop_account is not None:
            return self.placed.loop_account
        return self.target.key.account

    # --- names --------------------------------------------------------------------------------

    def resolve(
        self, name: str, attribute: str | None, syntax: str, expression: str, path: DataPath | None
    ) -> Any:
        if self.parameter is None and not name.startswith(("AWS::", "ORG::")):
            if name in self.job.declared:
                return Local(name, attribute)
            if name in self.job.template.resources or name in self.job.holders:
                return self.resource(name, attribute, expression, path)
        if (
            self.parameter is not None
            and attribute is None
            and syntax == "Ref"
            and name in self.job.template.bindings
            and name not in self.run.organization.accounts
        ):
            return self.binding_accounts(name)
        return super().resolve(name, attribute, syntax, expression, path)

    def binding_accounts(self, name: str) -> str:
        """`!Ref Binding` in a task parameter, as OrgFormation gives it: the ids of the accounts
        the named binding selects, joined by commas (a marker for an account this run creates,
        filled at apply), in the binding's order of accounts, which their ids do not change."""
        found = self.job.binding(name)
        accounts = found[0] if found is not None else ()
        return ",".join(self.run.physical_id("accounts", account) for account in accounts)

    def unknown(self, name: str, expression: str, path: DataPath | None) -> Any:
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
        return UNRESOLVED

    # --- resources of this template, in this stack or another ----------------------------------

    def resource(
        self, name: str, attribute: str | None, expression: str, path: DataPath | None
    ) -> Any:
        """A resource of this template, in this stack or another."""
        target = self.target
        if name in target.placed:
            return Local(name, attribute)
        copies = target.copies.get(name)
        if copies:
            loop_account = self.placed.loop_account if self.placed is not None else None
            if loop_account in copies:
                return Local(copies[loop_account], attribute)
            if len(copies) == 1:
                return Local(next(iter(copies.values())), attribute)
            self.error(
                "E423",
                f"{expression} is ambiguous: ForeachAccount makes {len(copies)} copies of {name} "
                f"in this stack ({', '.join(copies.values())}); name one of them",
                path,
            )
            return UNRESOLVED
        return self.across(name, None, attribute, expression, path)

    def explicit(self, account: str, rest: str, expression: str, path: DataPath | None) -> Any:
        """`Account.Resources.Res[.Attribute]`: a resource in a chosen account."""
        name, _, attribute = rest.partition(".")
        if name not in self.job.template.resources and name not in self.job.holders:
            return self.unknown(name, expression, path)
        return self.across(name, account, attribute or None, expression, path)

    def across(
        self,
        name: str,
        account: str | None,
        attribute: str | None,
        expression: str,
        path: DataPath | None,
    ) -> Any:
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
            return UNRESOLVED
        region = self.target.key.region
        accounts = {key.account for key, _ in candidates}
        if len(candidates) > 1:
            self.read("region")
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
            return UNRESOLVED
        producer, rendered_id = candidates[0]
        self.read("stack", str(producer))
        if producer == self.target.key:
            return Local(rendered_id, attribute)
        if self.probe:
            return UNRESOLVED
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
        return Local(output)

    # --- exports -------------------------------------------------------------------------------

    def copy_value(self, argument: Any, path: DataPath | None) -> Any:
        path = extend(path, "Fn::CopyValue")
        items = argument if isinstance(argument, list) else [argument]
        if not 1 <= len(items) <= 3:
            self.error(
                "E426",
                "!CopyValue takes an export name, or [export name, account id, region]",
                path,
            )
            return {"Fn::CopyValue": argument}
        expression = f"!CopyValue {describe(argument)}"
        # Which export it reads depends on the stack's account, region and parameters.
        self.memoisable = False
        if self.probe:
            return {"Fn::CopyValue": argument}
        whole, self.whole_parameter = self.whole_parameter, False
        values: list[str | None] = []
        for index, item in enumerate(items):
            item_path = extend(path, index) if isinstance(argument, list) else path
            evaluated = self.value(item, item_path)
            if evaluated is None and index > 0:
                values.append(None)
                continue
            if isinstance(evaluated, int) and not isinstance(evaluated, bool) and index == 1:
                evaluated = self.account_number(evaluated, expression, item_path)
            found = static(evaluated, self.target.known)
            if found is None:
                self.error(
                    "E427",
                    f"{expression}: {describe(item)} is known only inside CloudFormation; "
                    "!CopyValue needs an export name, account and region orgc can compute",
                    item_path,
                )
                return {"Fn::CopyValue": argument}
            values.append(found)
        values += [None] * (3 - len(values))
        export, account_id, region = values
        assert export is not None
        embedded = None
        if self.parameter is not None and not whole:
            prefix = self.parameter + "."
            taken = sum(1 for name in self.target.references if name.startswith(prefix))
            embedded = f"{prefix}{taken}"
        reference = self.find_export(export, account_id, region, expression, path, embedded)
        if reference is None:
            return {"Fn::CopyValue": argument}
        if embedded is not None:
            # Inside a task parameter's text: a marker apply replaces with what it reads.
            self.target.references[embedded] = reference
            return known_after_apply("reference", embedded)
        if self.parameter is not None:
            return _Deferred(reference)
        self.target.references.setdefault(reference.parameter, reference)
        return {"Ref": reference.parameter}

    def account_number(self, number: int, expression: str, path: DataPath | None) -> str:
        """An account id YAML read as a number (`!CopyValue [Export, 111111111111]`): its
        twelve digits, as OrgFormation takes it; warned about when YAML dropped leading zeros."""
        text = str(number)
        if len(text) < 12 and number >= 0:
            text = text.zfill(12)
            if not self.probe:
                self.diagnostics.add(
                    "W395",
                    f"{expression}: the account id was read as the number {number}, which lost "
                    f"its leading zeros; orgc takes it as {text}: quote it: '{text}'",
                    self.span(path),
                )
        return text

    def find_export(  # noqa: PLR0917
        self,
        export: str,
        account_id: str | None,
        region: str | None,
        expression: str,
        path: DataPath | None,
        parameter: str | None = None,
    ) -> Reference | None:
        """The stack of this project that makes `export`, or an export read at apply time;
        `parameter` names the reference (else the task parameter, or a generated name)."""
        parameter = parameter or self.parameter
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
                parameter=parameter
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
            parameter=parameter
            or self.job.copy_name(self.target, export, f"{producer.key}|{output}"),
            producer=producer.key,
            output=output,
            export=export,
            expression=expression,
            span=span,
        )

    # --- the template's bindings ---------------------------------------------------------------

    def target_count_text(self, value: str, path: DataPath | None) -> Any:
        parts = value.split()
        return self.target_count(parts[1] if len(parts) == 2 else None, value, path)

    def target_count_function(self, argument: Any, path: DataPath | None) -> Any:
        path = extend(path, _TARGET_COUNT)
        return self.target_count(argument, f"{_TARGET_COUNT} {argument}", path)

    def target_count(self, argument: Any, written: str, path: DataPath | None) -> Any:
        if not isinstance(argument, str):
            self.error("E426", f"{written!r}: Fn::TargetCount takes one binding name", path)
            return written
        bound = self.named_binding(_TARGET_COUNT, argument, path)
        if bound is None:
            return written
        accounts, regions = bound
        return len(accounts) * len(regions)

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
        return Splice(items)

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
            return match.group(0) if found is UNRESOLVED else str(found)

        return _ENUM_VARIABLE.sub(replace, pattern)


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
