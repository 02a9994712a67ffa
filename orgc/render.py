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

import re
from dataclasses import dataclass, field
from typing import Any

from orgc.diagnostics import Span

_MARKER = re.compile(r"\{\{orgc:([a-z-]+):([A-Za-z0-9_.:-]*)\}\}")


def known_after_apply(kind: str, name: str = "") -> str:
    """A marker for a value known only after apply: kind "account" (an account id, by logical
    id) or "organization-id"."""
    return f"{{{{orgc:{kind}:{name}}}}}"


def markers(value: Any) -> set[tuple[str, str]]:
    """Every (kind, name) marker in a JSON-able value."""
    found: set[tuple[str, str]] = set()
    if isinstance(value, str):
        found.update(_MARKER.findall(value))
    elif isinstance(value, dict):
        for item in value.values():
            found |= markers(item)
    elif isinstance(value, list):
        for item in value:
            found |= markers(item)
    return found


def fill_markers(value: Any, values: dict[tuple[str, str], str]) -> Any:
    """`value` with every marker replaced from `values` ((kind, name) → text)."""
    if isinstance(value, str):
        return _MARKER.sub(lambda m: values[(m.group(1), m.group(2))], value)
    if isinstance(value, dict):
        return {k: fill_markers(v, values) for k, v in value.items()}
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
    exports: dict[str, str] = field(default_factory=dict)  # export name → Output key
    span: Span | None = field(default=None, compare=False, repr=False)
