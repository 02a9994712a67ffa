"""Model for orgc's `Orgc::ORG::ServiceAccess`: trusted service access and delegated
administrators, read from a checked organization.

One resource per service principal holds both halves of what AWS ties together: the service's
trusted access to the organization (EnableAWSServiceAccess) and the member accounts registered as
its delegated administrators (RegisterDelegatedAdministrator). AWS refuses an administrator for a
service whose access is not enabled, so declaring them together makes that mistake unwritable.
Principals are checked against orgc/data/service_principals.json, dated with its source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.load import DataPath, LoadedFile
from orgc.model import MASTER_ACCOUNT, Organization

SERVICE_ACCESS = "Orgc::ORG::ServiceAccess"


@dataclass(frozen=True, slots=True, kw_only=True)
class KnownPrincipal:
    principal: str
    service: str
    delegated_administration: bool
    as_of: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAccess:
    """Trusted access of one service, and its delegated administrators by account logical id."""

    logical_id: str
    service_principal: str
    delegated_administrators: tuple[str, ...] = ()
    span: Span | None = field(default=None, compare=False, repr=False)


@cache
def known_principals() -> dict[str, KnownPrincipal]:
    """The service principals of orgc/data/service_principals.json, by principal."""
    text = (resources.files("orgc") / "data" / "service_principals.json").read_text("utf-8")
    raw = json.loads(text)["servicePrincipals"]
    return {
        name: KnownPrincipal(
            principal=name,
            service=entry["service"],
            delegated_administration=entry["delegatedAdministration"],
            as_of=entry["asOf"],
        )
        for name, entry in raw.items()
    }


def build_services(
    file: LoadedFile, organization: Organization, diagnostics: Diagnostics
) -> tuple[ServiceAccess, ...]:
    """Every `Orgc::ORG::ServiceAccess` of the organization file, checked, sorted by principal.

    Problems go to `diagnostics`: a principal orgc does not know (E375, with a did-you-mean),
    one declared twice (E376), an administrator AWS would refuse (E377), a reference to no
    account (E301/E311). Values the schema stage reported already are skipped.
    """
    section = file.data.get("Organization") if isinstance(file.data, dict) else None
    if not isinstance(section, dict):
        return ()
    known = known_principals()
    first: dict[str, str] = {}
    found: list[ServiceAccess] = []
    for logical_id, resource in section.items():
        if not isinstance(resource, dict) or resource.get("Type") != SERVICE_ACCESS:
            continue
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        path: DataPath = ("Organization", logical_id, "Properties")
        principal = properties.get("ServicePrincipal")
        if not isinstance(principal, str):
            continue
        principal_path = (*path, "ServicePrincipal")
        if principal not in known:
            diagnostics.add(
                "E375",
                f"service principal {principal} is not one orgc knows (orgc/data/"
                f"service_principals.json){did_you_mean(principal, known)}",
                file.source_map.span(principal_path),
            )
            continue
        if principal in first:
            diagnostics.add(
                "E376",
                f"{principal} is declared already by {first[principal]}; declare each service "
                "principal once, with all its DelegatedAdministrators",
                file.source_map.span(principal_path),
            )
            continue
        first[principal] = logical_id
        administrators = _administrators(
            file, organization, properties.get("DelegatedAdministrators"), path, diagnostics
        )
        if administrators and not known[principal].delegated_administration:
            diagnostics.add(
                "E377",
                f"{known[principal].service} ({principal}) has no delegated administrator in "
                f"AWS (as of {known[principal].as_of}); remove DelegatedAdministrators",
                file.source_map.key_span((*path, "DelegatedAdministrators")),
            )
            continue
        found.append(
            ServiceAccess(
                logical_id=logical_id,
                service_principal=principal,
                delegated_administrators=administrators,
                span=file.source_map.span(("Organization", logical_id)),
            )
        )
    return tuple(sorted(found, key=lambda s: s.service_principal))


def _administrators(
    file: LoadedFile,
    organization: Organization,
    value: Any,
    path: DataPath,
    diagnostics: Diagnostics,
) -> tuple[str, ...]:
    """Account logical ids a DelegatedAdministrators RefList names (plain strings were reported
    by the schema stage)."""
    items: list[tuple[Any, DataPath]]
    key_path = (*path, "DelegatedAdministrators")
    if isinstance(value, list):
        items = [(item, (*key_path, index)) for index, item in enumerate(value)]
    else:
        items = [(value, key_path)] if value is not None else []
    chosen: dict[str, None] = {}
    for item, item_path in items:
        if not (isinstance(item, dict) and isinstance(item.get("Ref"), str)):
            continue
        target = item["Ref"]
        span = file.source_map.span((*item_path, "Ref"))
        account = organization.accounts.get(target)
        if account is None:
            kind = _type_of(file, target)
            if kind is None:
                diagnostics.add(
                    "E301",
                    f"!Ref {target} names no resource in the organization"
                    f"{did_you_mean(target, organization.accounts)}",
                    span,
                )
            else:
                diagnostics.add(
                    "E311",
                    f"!Ref {target} is of type {kind}, but DelegatedAdministrators takes "
                    "OC::ORG::Account",
                    span,
                )
            continue
        if account.management:
            diagnostics.add(
                "E377",
                f"{target} is the management account ({MASTER_ACCOUNT}), which AWS never "
                "registers as a delegated administrator; name a member account",
                span,
            )
            continue
        chosen.setdefault(target)
    return tuple(chosen)


def _type_of(file: LoadedFile, logical_id: str) -> str | None:
    section = file.data.get("Organization") if isinstance(file.data, dict) else None
    resource = section.get(logical_id) if isinstance(section, dict) else None
    found = resource.get("Type") if isinstance(resource, dict) else None
    return found if isinstance(found, str) else None
