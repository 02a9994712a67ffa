"""Task attributes evaluated for one target: OrgFormation evaluates `TaskRoleName`,
`StackDescription`, `RemotePath`, binding regions, `TemplatingContext`, ... per target account,
with `CurrentAccount` (and `AWS::AccountId`, `AWS::Region`, `AWS::Partition`) meaning that
target.

`evaluate_for_target` takes an attribute as the task file left it (its parameters substituted,
what needs a target kept as written) and finishes it for one account and region.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orgc.diagnostics import did_you_mean
from orgc.expressions.evaluator import Evaluator
from orgc.expressions.scope import (
    CURRENT_ACCOUNT,
    NOT_BEFORE_DEPLOY,
    UNKNOWN_NAME,
    UNRESOLVED,
    Problem,
    Scope,
    pseudo_parameters,
)
from orgc.expressions.syntax import describe, expressions, names_used, parameter_text, static
from orgc.load import DataPath
from orgc.model import Organization


def target_scope(  # one keyword per thing a target knows
    *,
    organization: Organization,
    account: str,
    region: str,
    ids: Callable[[str, str], str | None],
    values: Mapping[str, Any] | None = None,
    mappings: Mapping[str, Any] | None = None,
    organization_values: Mapping[str, str] | None = None,
    needed: str = "a task attribute",
) -> Scope:
    """The scope of a task attribute for the target `account` (a logical id) and `region`.

    `ids(table, logical_id)` gives a physical id ("accounts", "organizationalUnits",
    "policies", "root") or a known-after-apply marker, None when there is neither.
    """
    account_id = ids("accounts", account)
    known = pseudo_parameters(region, account_id, None) if account_id else {}
    return Scope(
        values=values or {},
        mappings=mappings or {},
        fold=True,
        organization=organization,
        account=account,
        region=region,
        ids=ids,
        organization_values=organization_values or {},
        known=known,
        needed=needed,
    )


# How a task attribute reads an export (`!CopyValue [name, account id, region]`, the target's
# account and region filled in): its value, or a known-after-apply marker apply fills.
ExportReader = Callable[[str, str, str], str]


class _TargetEvaluator(Evaluator):
    """The evaluator of task attributes for one target: the last stage that sees them, so a
    name that means nothing is a mistake, not a value left for later; `!CopyValue` is read
    with `exports` when the attribute may hold one."""

    def __init__(self, scope: Scope, exports: ExportReader | None = None) -> None:
        super().__init__(scope)
        self.exports = exports

    def copy_value(self, argument: Any, path: DataPath | None) -> Any:
        kept = super().copy_value(argument, path)
        items = kept["Fn::CopyValue"]
        items = items if isinstance(items, list) else [items]
        if self.exports is None or not 1 <= len(items) <= 3:
            return kept
        texts = [static(item, self.scope.known) if item is not None else None for item in items]
        texts += [None] * (3 - len(texts))
        name, account_id, region = texts
        account_id = account_id or self.scope.known.get("AWS::AccountId")
        region = region or self.scope.region
        if name is None or account_id is None or region is None:
            return kept
        return self.exports(name, account_id, region)

    def unknown(self, name: str, expression: str, path: DataPath | None) -> Any:
        organization = self.scope.organization
        names = [*CURRENT_ACCOUNT, *(organization.accounts if organization else ())]
        self.report(
            UNKNOWN_NAME,
            f"{expression}: {name} is not an account, OU or policy{did_you_mean(name, names)}",
            path,
        )
        return UNRESOLVED


def evaluate_for_target(
    value: Any, scope: Scope, path: DataPath = (), exports: ExportReader | None = None
) -> tuple[Any, tuple[Problem, ...]]:
    """`value` finished for the target of `scope` (see `target_scope`): every expression the
    target makes known is computed, a `!CopyValue` read with `exports` when given; the
    problems name the node they are about."""
    evaluator = _TargetEvaluator(scope, exports)
    result = evaluator.value(value, path)
    return result, tuple(evaluator.problems)


# The names that mean the target of a task attribute: its account and its region.
TARGET_NAMES = frozenset({*CURRENT_ACCOUNT, "AWS::AccountId", "AWS::Region"})


def naming_target(value: Any) -> Any | None:
    """The first expression in `value` (as a task file left it) that names the target
    (`CurrentAccount`, `AWS::AccountId`, `AWS::Region`), or None: for the attributes that are
    read before there is a target (bindings, their regions, a context rendered once)."""
    for expression in expressions(value):
        if names_used(expression) & TARGET_NAMES:
            return expression
    return None


# A task attribute that is text: as written when the task file knows it, else the expression
# the file left (`!Sub '${CurrentAccount.AccountName} ...'`), finished per target.
TargetText = str | dict[str, Any]


def organization_ids(organization: Organization) -> Callable[[str, str], str | None]:
    """`ids` for `target_scope` from the organization file alone: the account ids it gives."""

    def ids(table: str, logical_id: str) -> str | None:
        if table != "accounts":
            return None
        account = organization.accounts.get(logical_id)
        return account.account_id if account is not None else None

    return ids


def target_text(
    value: TargetText | None,
    *,
    organization: Organization,
    account: str,
    region: str,
    ids: Callable[[str, str], str | None] | None = None,
    organization_values: Mapping[str, str] | None = None,
    needed: str = "a task attribute",
    exports: ExportReader | None = None,
) -> tuple[str | None, tuple[Problem, ...]]:
    """A text attribute for the target `account` (a logical id) and `region`: None when it is
    not given, or when what it needs is not known before deploy (a problem says why)."""
    if value is None or isinstance(value, str):
        return value, ()
    scope = target_scope(
        organization=organization,
        account=account,
        region=region,
        ids=ids or organization_ids(organization),
        organization_values=organization_values,
        needed=needed,
    )
    result, problems = evaluate_for_target(value, scope, exports=exports)
    text = parameter_text(result, scope.known)
    if text is None and not problems:
        problems = (
            Problem(
                NOT_BEFORE_DEPLOY,
                f"{describe(value)} is known only inside CloudFormation; {needed} must be known "
                "before deploy",
                None,
            ),
        )
    return text, problems
