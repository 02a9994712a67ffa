"""Values one stack takes from another: resources of other targets and !CopyValue.

Methods of `_Evaluator` (bound there by name; `self` is the evaluator). A `!Ref`/`!GetAtt` of a
resource this stack does not hold resolves to the single stack that does: the producer gets a
generated Output, the consumer a generated Parameter and a `Reference`. A `!CopyValue` reads an
export made by a stack of this project (a `Reference` to it) or, failing that, one read at apply
time. An ambiguous or missing producer is reported (E423, E424, E430, E431) and the expression is
left as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orgc.load import DataPath
from orgc.render.model import Reference, StackKey, _Deferred, _Ref, _Resolved
from orgc.render.values import _describe, _extend, _static

if TYPE_CHECKING:
    from orgc.render.evaluate import _Evaluator


def resource(
    self: _Evaluator, name: str, attribute: str | None, expression: str, path: DataPath | None
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
    self: _Evaluator, account: str, rest: str, expression: str, path: DataPath | None
) -> _Resolved:
    """`Account.Resources.Res[.Attribute]`: a resource in a chosen account."""
    name, _, attribute = rest.partition(".")
    if name not in self.job.template.resources and name not in self.job.holders:
        self.unknown(name, expression, path)
        return None
    return self.across(name, account, attribute or None, expression, path)


# A method of _Evaluator, where `self` is no positional argument.
def across(  # noqa: PLR0917
    self: _Evaluator,
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
            message = f"{name} is deployed to no stack: its binding selects no account or region"
        else:
            message = (
                f"{name} is not deployed to account {account}; it is deployed to "
                f"{_where(holders, name)}"
            )
        self.error("E424", f"{expression}: {message}", path)
        return None
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
            hint = f"; name the account, as in {_explicit_form(expression, candidates[0], name)}"
        elif len(regions) > 1:
            hint = (
                f", none of them in this stack's region {region}; bind {name} to one region "
                f"of {next(iter(accounts))}"
            )
        else:
            hint = "; name one of the copies"
        self.error(
            "E423",
            f"{expression} is ambiguous: {name} is deployed to {_where(candidates, name)}{hint}",
            path,
        )
        return None
    producer, rendered_id = candidates[0]
    self.read("stack", str(producer))
    if producer == self.target.key:
        return _Ref(rendered_id, attribute)
    if self.probe:
        return None
    output = self.job.output_name(producer, rendered_id, attribute)
    producer_target = self.job.targets[producer]
    if output not in producer_target.generated_outputs:
        value: Any = (
            {"Ref": rendered_id} if attribute is None else {"Fn::GetAtt": [rendered_id, attribute]}
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


def copy_value(self: _Evaluator, argument: Any, path: DataPath | None) -> Any:
    items = argument if isinstance(argument, list) else [argument]
    if not 1 <= len(items) <= 3:
        self.error(
            "E426",
            "!CopyValue takes an export name, or [export name, account id, region]",
            path,
        )
        return {"Fn::CopyValue": argument}
    expression = f"!CopyValue {_describe(argument)}"
    # Which export it reads depends on the stack's account, region and parameters.
    self.memoisable = False
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


# A method of _Evaluator, where `self` is no positional argument.
def find_export(  # noqa: PLR0917
    self: _Evaluator,
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
