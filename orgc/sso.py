"""Model for IAM Identity Center as code: `Orgc::SSO::PermissionSet` and `Orgc::SSO::Assignment`,
read from a checked organization file.

A permission set is what AWS keeps under that name in the Identity Center instance. An
assignment gives groups and users (by display name or user name, resolved through identitystore
when planning; an identity store GUID is taken as it is) one permission set in every account of
an organization binding, written as tasks write theirs: `Account`, `OrganizationalUnit` (nested
OUs included), `ExcludeAccount`, `ExcludeOrganizationalUnit`, `AccountsWithTag`, and the
management account only with `IncludeMasterAccount: true` or `Account: !Ref` of it. The binding
is resolved against the files each time, so an account moved into an OU gets its assignments in
the next plan. Limits (sizes, counts, durations) come from orgc/data/limits.json, dated with
their source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from orgc.bind import binding_accounts
from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.limits import limit
from orgc.load import DataPath, LoadedFile
from orgc.model import Organization, minify_policy
from orgc.observed import (
    Boundary,
    CustomerPolicy,
    PermissionSetSettings,
    duration_seconds,
    normal_duration,
)
from orgc.templates import parse_binding

PERMISSION_SET = "Orgc::SSO::PermissionSet"
ASSIGNMENT = "Orgc::SSO::Assignment"

GROUP = "GROUP"
USER = "USER"

_NAME = re.compile(r"[\w+=,.@-]+")
_MANAGED_ARN = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*[\w+=,.@-]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionSet:
    logical_id: str
    settings: PermissionSetSettings
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Principal:
    kind: str  # GROUP | USER
    name: str  # display name / user name as written, or an identity store id

    def __str__(self) -> str:
        return f"{self.kind.lower()} {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """`principals` given `permission_set` (a logical id) in each of `accounts` (logical ids)."""

    logical_id: str
    permission_set: str
    principals: tuple[Principal, ...]
    accounts: tuple[str, ...]
    span: Span | None = field(default=None, compare=False, repr=False)
    principal_spans: dict[Principal, Span] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityCenter:
    permission_sets: tuple[PermissionSet, ...] = ()  # by logical id
    assignments: tuple[Assignment, ...] = ()  # by logical id

    def __bool__(self) -> bool:
        return bool(self.permission_sets or self.assignments)

    def principals(self) -> tuple[Principal, ...]:
        return tuple(sorted({p for a in self.assignments for p in a.principals}))


def build_identity_center(
    file: LoadedFile, organization: Organization, diagnostics: Diagnostics
) -> IdentityCenter:
    """The permission sets and assignments of the organization file, checked; what the schema
    stage reported already is skipped."""
    section = file.data.get("Organization") if isinstance(file.data, dict) else None
    if not isinstance(section, dict):
        return IdentityCenter()
    resources = {
        logical_id: resource
        for logical_id, resource in section.items()
        if isinstance(resource, dict) and isinstance(resource.get("Properties"), dict)
    }
    sets: list[PermissionSet] = []
    names: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == PERMISSION_SET:
            found = _permission_set(file, logical_id, resource["Properties"], names, diagnostics)
            if found is not None:
                sets.append(found)
    declared = {s.logical_id for s in sets}
    types = {k: r.get("Type") for k, r in section.items() if isinstance(r, dict)}
    assignments: list[Assignment] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") == ASSIGNMENT:
            found_assignment = _assignment(
                file, organization, logical_id, resource["Properties"], types, diagnostics
            )
            if found_assignment is not None and found_assignment.permission_set in declared:
                assignments.append(found_assignment)
    _check_duplicates(assignments, organization, {s.logical_id: s for s in sets}, diagnostics)
    return IdentityCenter(
        permission_sets=tuple(sorted(sets, key=lambda s: s.logical_id)),
        assignments=tuple(sorted(assignments, key=lambda a: a.logical_id)),
    )


def _permission_set(
    file: LoadedFile,
    logical_id: str,
    properties: dict[str, Any],
    names: dict[str, str],
    diagnostics: Diagnostics,
) -> PermissionSet | None:
    path: DataPath = ("Organization", logical_id, "Properties")
    spans = file.source_map
    ok = True
    name = properties.get("Name")
    if not isinstance(name, str):
        return None
    most = limit("sso.permissionSetNameLength")
    if not (1 <= len(name) <= most and _NAME.fullmatch(name)):
        diagnostics.add(
            "E380",
            f"permission set name {name!r} is not one AWS takes: 1 to {most} letters, digits "
            "and +=,.@_-",
            spans.span((*path, "Name")),
        )
        ok = False
    elif name.lower() in names:
        diagnostics.add(
            "E381",
            f"permission set name {name} is taken by {names[name.lower()]} already (AWS compares "
            "names without case); give each permission set its own name",
            spans.span((*path, "Name")),
        )
        ok = False
    else:
        names[name.lower()] = logical_id
    duration = "PT1H"
    written = properties.get("SessionDuration")
    if isinstance(written, str):
        normal = normal_duration(written)
        low, high = (
            limit("sso.sessionDurationMinimumHours"),
            limit("sso.sessionDurationMaximumHours"),
        )
        if normal is None or not low * 3600 <= duration_seconds(written) <= high * 3600:
            diagnostics.add(
                "E382",
                f"session duration {written!r} is not an ISO-8601 duration from PT{low}H to "
                f"PT{high}H; write e.g. PT4H or PT1H30M",
                spans.span((*path, "SessionDuration")),
            )
            ok = False
        else:
            duration = normal
    inline = _inline_policy(
        file, properties.get("InlinePolicy"), (*path, "InlinePolicy"), diagnostics
    )
    managed = _managed_policies(file, properties, path, diagnostics)
    customer = _customer_policies(properties.get("CustomerManagedPolicies"))
    boundary = _boundary(file, properties.get("PermissionsBoundary"), path, diagnostics)
    count, most_policies = (
        len(managed or ()) + len(customer),
        limit("sso.managedPoliciesPerPermissionSet"),
    )
    if count > most_policies:
        diagnostics.add(
            "E388",
            f"{count} managed policies are attached to permission set {name}; AWS attaches at "
            f"most {most_policies} (AWS managed and customer managed together)",
            spans.key_span((*path, "ManagedPolicies")),
        )
        ok = False
    if not ok or inline is None or managed is None or isinstance(boundary, bool):
        return None
    tags = properties.get("Tags")
    return PermissionSet(
        logical_id=logical_id,
        settings=PermissionSetSettings(
            name=name,
            description=str(properties.get("Description") or ""),
            session_duration=duration,
            relay_state=str(properties.get("RelayState") or ""),
            managed_policies=managed,
            customer_policies=customer,
            inline_policy=inline,
            boundary=boundary,
            tags={str(k): str(v) for k, v in sorted(tags.items())}
            if isinstance(tags, dict)
            else {},
        ),
        span=spans.span(("Organization", logical_id)),
    )


def _inline_policy(
    file: LoadedFile, value: Any, path: DataPath, diagnostics: Diagnostics
) -> str | None:
    """The inline policy minified ("" for none); None when AWS would refuse it."""
    if value is None:
        return ""
    document = value
    if isinstance(value, str):
        try:
            document = json.loads(value)
        except json.JSONDecodeError as error:
            diagnostics.add(
                "E383",
                f"the inline policy is not JSON ({error.msg} at line {error.lineno}); give a "
                "mapping, or !ReadFile of a JSON policy document",
                file.source_map.span(path),
            )
            return None
    if not isinstance(document, dict):
        diagnostics.add(
            "E383",
            "the inline policy is a policy document: a mapping with Version and Statement",
            file.source_map.span(path),
        )
        return None
    text = minify_policy(document)
    most = limit("sso.inlinePolicySize")
    if len(text) > most:
        diagnostics.add(
            "E383",
            f"the inline policy is {len(text):,} characters minified; AWS takes at most "
            f"{most:,} (orgc/data/limits.json): move statements into a customer managed policy",
            file.source_map.span(path),
        )
        return None
    return text


def _managed_policies(
    file: LoadedFile, properties: dict[str, Any], path: DataPath, diagnostics: Diagnostics
) -> tuple[str, ...] | None:
    value = properties.get("ManagedPolicies")
    if not isinstance(value, list):
        return ()
    ok = True
    for index, arn in enumerate(value):
        if isinstance(arn, str) and not _MANAGED_ARN.fullmatch(arn):
            diagnostics.add(
                "E388",
                f"{arn} is not the ARN of an AWS managed policy (arn:aws:iam::aws:policy/NAME); "
                "a policy of your own goes under CustomerManagedPolicies by name",
                file.source_map.span((*path, "ManagedPolicies", index)),
            )
            ok = False
    return tuple(sorted({a for a in value if isinstance(a, str)})) if ok else None


def _customer_policy(value: Any) -> CustomerPolicy | None:
    if isinstance(value, str):
        head, _, name = value.rpartition("/")
        return CustomerPolicy(path=f"{head}/" if head else "/", name=name)
    if isinstance(value, dict) and isinstance(value.get("Name"), str):
        written = str(value.get("Path") or "/")
        return CustomerPolicy(path=written, name=value["Name"])
    return None


def _customer_policies(value: Any) -> tuple[CustomerPolicy, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(sorted({p for p in map(_customer_policy, value) if p is not None}))


def _boundary(
    file: LoadedFile, value: Any, path: DataPath, diagnostics: Diagnostics
) -> Boundary | bool | None:
    """The boundary, None for none, False when AWS would refuse it."""
    if not isinstance(value, dict):
        return None
    arn = value.get("ManagedPolicyArn")
    if isinstance(arn, str):
        if not _MANAGED_ARN.fullmatch(arn):
            diagnostics.add(
                "E388",
                f"{arn} is not the ARN of an AWS managed policy; a boundary of your own is a "
                "CustomerManagedPolicyReference",
                file.source_map.span((*path, "PermissionsBoundary", "ManagedPolicyArn")),
            )
            return False
        return Boundary(managed_policy_arn=arn)
    customer = _customer_policy(value.get("CustomerManagedPolicyReference"))
    return Boundary(customer_policy=customer) if customer is not None else None


def _names(value: Any) -> list[tuple[str, int | None]]:
    if isinstance(value, str):
        return [(value, None)]
    if isinstance(value, list):
        return [(v, i) for i, v in enumerate(value) if isinstance(v, str)]
    return []


def _assignment(  # noqa: PLR0917
    file: LoadedFile,
    organization: Organization,
    logical_id: str,
    properties: dict[str, Any],
    types: dict[str, Any],
    diagnostics: Diagnostics,
) -> Assignment | None:
    path: DataPath = ("Organization", logical_id, "Properties")
    spans = file.source_map
    reference = properties.get("PermissionSet")
    if not (isinstance(reference, dict) and isinstance(reference.get("Ref"), str)):
        return None
    target = reference["Ref"]
    ref_span = spans.span((*path, "PermissionSet", "Ref"))
    sets = [k for k, t in types.items() if t == PERMISSION_SET]
    if target not in types:
        diagnostics.add(
            "E301",
            f"!Ref {target} names no resource in the organization{did_you_mean(target, sets)}",
            ref_span,
        )
        return None
    if types[target] != PERMISSION_SET:
        diagnostics.add(
            "E311",
            f"!Ref {target} is of type {types[target]}, but PermissionSet takes {PERMISSION_SET}",
            ref_span,
        )
        return None
    principals: dict[Principal, Span] = {}
    for key, kind in (("Groups", GROUP), ("Users", USER)):
        for name, index in _names(properties.get(key)):
            where = (*path, key) if index is None else (*path, key, index)
            span = spans.span(where) or Span(file.display, 1, 1)
            principal = Principal(kind=kind, name=name)
            if principal in principals:
                diagnostics.add(
                    "E385", f"{principal} is named twice in this assignment; name it once", span
                )
                continue
            principals[principal] = span
    if not principals:
        diagnostics.add(
            "E384",
            "an assignment gives its permission set to someone: add Groups (group names) or "
            "Users (user names)",
            spans.key_span(path),
        )
        return None
    binding_path = (*path, "OrganizationBinding")
    binding = parse_binding(properties.get("OrganizationBinding"), binding_path, file, diagnostics)
    if binding is None:
        return None
    if binding.regions_given:
        diagnostics.add(
            "E389",
            "an assignment is made per account, in no region: remove Region from its "
            "OrganizationBinding",
            spans.key_span((*binding_path, "Region")),
        )
        return None
    accounts = binding_accounts(binding, organization, diagnostics)
    management = organization.management_account.logical_id
    explicit = binding.include_master_account or management in binding.accounts
    if management in accounts and not explicit:
        diagnostics.add(
            "W381",
            f"this binding reaches the management account ({management}) through "
            f"{'AccountsWithTag' if binding.accounts_with_tag else 'an OrganizationalUnit'}; "
            "access there reaches the whole organization, so it is left out: add "
            f"IncludeMasterAccount: true to give it there, or ExcludeAccount: !Ref {management} "
            "to say it is meant",
            binding.span,
        )
        accounts = tuple(a for a in accounts if a != management)
    if not accounts:
        diagnostics.add(
            "W380",
            f"assignment {logical_id} selects no account, so it gives no access; check its "
            "OrganizationBinding",
            binding.span,
        )
    return Assignment(
        logical_id=logical_id,
        permission_set=target,
        principals=tuple(sorted(principals)),
        accounts=accounts,
        span=spans.span(("Organization", logical_id)),
        principal_spans=principals,
    )


def _check_duplicates(
    assignments: list[Assignment],
    organization: Organization,
    sets: dict[str, PermissionSet],
    diagnostics: Diagnostics,
) -> None:
    """One (permission set, principal, account) given by two assignments is reported at the
    second, once per principal, naming an account it overlaps in."""
    first: dict[tuple[str, Principal, str], str] = {}
    for assignment in assignments:
        for principal in assignment.principals:
            overlap: list[str] = []
            other = ""
            for account in assignment.accounts:
                key = (assignment.permission_set, principal, account)
                if key in first:
                    overlap.append(account)
                    other = first[key]
                else:
                    first[key] = assignment.logical_id
            if overlap:
                name = sets[assignment.permission_set].settings.name
                more = f" and {len(overlap) - 1} more" if len(overlap) > 1 else ""
                diagnostics.add(
                    "E385",
                    f"{principal} has {name} in {organization.accounts[overlap[0]].name}{more} "
                    f"through {other} already; narrow one of the two bindings",
                    assignment.principal_spans.get(principal, assignment.span),
                )
