"""OrgFormation's functions over a binding's targets: Fn::EnumTargetAccounts,
Fn::EnumTargetRegions and Fn::TargetCount.

Methods of `_Evaluator` (bound there by name; `self` is the evaluator). A string starting
`Fn::EnumTarget*` becomes a `_Splice` of one item per account or region of the named binding,
spliced into the enclosing list; `Fn::TargetCount` becomes the number of (account, region)
targets. An unknown binding (E425) or a malformed call (E426) leaves the value as written; an
empty enumeration outside a resource with a Condition is an empty list and warning W405.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from orgc.diagnostics import did_you_mean
from orgc.load import DataPath
from orgc.render.model import _Splice

if TYPE_CHECKING:
    from orgc.render.evaluate import _Evaluator


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


def string(self: _Evaluator, value: str, path: DataPath | None) -> Any:
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


def target_count(self: _Evaluator, argument: Any, written: str, path: DataPath | None) -> Any:
    if not isinstance(argument, str):
        self.error("E426", f"{written!r}: Fn::TargetCount takes one binding name", path)
        return written
    bound = self.named_binding(_TARGET_COUNT, argument, path)
    if bound is None:
        return written
    accounts, regions = bound
    return len(accounts) * len(regions)


def target_count_function(self: _Evaluator, argument: Any, path: DataPath | None) -> Any:
    return self.target_count(argument, f"{_TARGET_COUNT} {argument}", path)


def named_binding(
    self: _Evaluator, function: str, name: str, path: DataPath | None
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


# Named as the method it becomes: it shadows the builtin here, which this module never calls.
def enumerate(self: _Evaluator, value: str, path: DataPath | None) -> Any:
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
    self: _Evaluator, pattern: str, logical_id: str, written: str, path: DataPath | None
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
