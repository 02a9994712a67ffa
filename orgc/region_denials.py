"""Which SCPs deny a region to an account: the region-deny guardrail every landing zone has.

A stack bound to a region that an SCP on the account's path denies cannot be created there:
CloudFormation's calls are refused, and the apply fails target by target. The bind stage asks
`region_denials` for each target and warns at the binding's line, naming the policy and the
statement, before anything is planned.

A statement denies a region when it is a Deny that covers CloudFormation's calls (`Action`
matching `cloudformation:CreateStack`, or a `NotAction` that does not exempt it) on every
resource, with a condition on `aws:RequestedRegion` that the region falls under
(`StringNotEquals`/`StringNotLike` over the allowed regions, or `StringEquals`/`StringLike`
over the denied ones). Other conditions in the statement (an exempted role, a tag) may let
orgc's calls through; the denial then says "unless" and names them.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orgc.model import Organization

_REGION_KEY = "aws:requestedregion"
# The call that every stack target needs to succeed in its region.
_STACK_ACTION = "cloudformation:createstack"
_NOT_IN = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike")
_IN = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")


@dataclass(frozen=True, slots=True, kw_only=True)
class Denial:
    policy: str  # the policy's logical id
    policy_name: str
    statement: str  # its Sid, or its position (1-based)
    attached_to: str  # "the root", "OU ProdOU", "account Shop"
    unless: tuple[str, ...] = ()  # other conditions of the statement ("ArnNotLike aws:Pri...")


@dataclass(frozen=True, slots=True)
class _RegionStatement:
    label: str
    operator_denies_listed: bool  # StringEquals-style: the listed regions are denied
    patterns: tuple[str, ...]
    unless: tuple[str, ...]

    def denies(self, region: str) -> bool:
        listed = any(fnmatch.fnmatchcase(region.lower(), p.lower()) for p in self.patterns)
        return listed if self.operator_denies_listed else not listed


def region_denials(organization: Organization, account: str, region: str) -> tuple[Denial, ...]:
    """The SCP statements on `account`'s path (root, its OUs, itself) that deny `region`;
    none for the management account, which no SCP restricts."""
    member = organization.accounts.get(account)
    if member is not None and member.management:
        return ()
    found = []
    for attached_to, policy_id in _policies_on_path(organization, account):
        policy = organization.policies.get(policy_id)
        if policy is None or policy.policy_type != "SERVICE_CONTROL_POLICY":
            continue
        for statement in _region_statements(policy.document):
            if statement.denies(region):
                found.append(
                    Denial(
                        policy=policy_id,
                        policy_name=policy.name,
                        statement=statement.label,
                        attached_to=attached_to,
                        unless=statement.unless,
                    )
                )
    return tuple(found)


def denies_regions(organization: Organization) -> bool:
    """Whether any SCP of the organization has a statement that denies regions: when none
    has, region_denials finds nothing for any account or region."""
    return any(
        policy.policy_type == "SERVICE_CONTROL_POLICY" and _region_statements(policy.document)
        for policy in organization.policies.values()
    )


def _policies_on_path(organization: Organization, account: str) -> list[tuple[str, str]]:
    path = [("the root", p) for p in organization.root.policies]
    found = organization.accounts.get(account)
    if found is None:
        return path
    chain = []
    ou = organization.organizational_units.get(found.parent or "")
    while ou is not None:
        chain.append(ou)
        ou = organization.organizational_units.get(ou.parent or "")
    for unit in reversed(chain):
        path.extend((f"OU {unit.logical_id}", p) for p in unit.policies)
    path.extend((f"account {account}", p) for p in found.policies)
    return path


@functools.cache
def _region_statements(document: str) -> tuple[_RegionStatement, ...]:
    """The region-deny statements of a minified SCP document (parsed once per document)."""
    try:
        parsed = json.loads(document)
    except ValueError:
        return ()
    statements = parsed.get("Statement") if isinstance(parsed, Mapping) else None
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        return ()
    result = []
    for index, statement in enumerate(statements, start=1):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        if not _covers_stack_calls(statement) or not _on_every_resource(statement):
            continue
        found = _region_condition(statement.get("Condition"))
        if found is None:
            continue
        denies_listed, patterns, unless = found
        label = str(statement.get("Sid") or index)
        result.append(_RegionStatement(label, denies_listed, patterns, unless))
    return tuple(result)


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _matches(patterns: Sequence[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action, p.lower()) for p in patterns)


def _covers_stack_calls(statement: Mapping[str, Any]) -> bool:
    if "Action" in statement:
        return _matches(_strings(statement["Action"]), _STACK_ACTION)
    if "NotAction" in statement:
        return not _matches(_strings(statement["NotAction"]), _STACK_ACTION)
    return False


def _on_every_resource(statement: Mapping[str, Any]) -> bool:
    if "Resource" in statement:
        return "*" in _strings(statement["Resource"])
    return "NotResource" not in statement


def _region_condition(condition: Any) -> tuple[bool, tuple[str, ...], tuple[str, ...]] | None:
    if not isinstance(condition, Mapping):
        return None
    region: tuple[bool, tuple[str, ...]] | None = None
    unless = []
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            continue
        base = str(operator).removesuffix("IfExists")
        for key, values in keys.items():
            if str(key).lower() == _REGION_KEY and region is None and base in _NOT_IN + _IN:
                region = (base in _IN, tuple(_strings(values)))
            else:
                unless.append(f"{operator} {key}")
    if region is None:
        return None
    return region[0], region[1], tuple(unless)
