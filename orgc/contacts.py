"""Model for orgc's `Orgc::ORG::AlternateContacts`: each account's billing, operations and
security contacts, read from a checked organization.

A contact is given to the root, OUs or accounts its resource `Targets`; an account gets, per
contact type, the contact of the nearest target on its path: itself, then its OU, the OUs above,
then the root. Two resources setting the same type on one target are an error (E378).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orgc.diagnostics import Diagnostics, did_you_mean
from orgc.load import DataPath, LoadedFile
from orgc.model import (
    ACCOUNT,
    MASTER_ACCOUNT,
    ORGANIZATIONAL_UNIT,
    ROOT,
    Organization,
)
from orgc.observed import CONTACT_TYPES, ContactDetails

ALTERNATE_CONTACTS = "Orgc::ORG::AlternateContacts"
_TARGET_TYPES = (MASTER_ACCOUNT, ACCOUNT, ORGANIZATIONAL_UNIT, ROOT)
_ROOT_KEY = ""  # the root, among the targets


def build_contacts(
    file: LoadedFile, organization: Organization, diagnostics: Diagnostics
) -> dict[str, dict[str, ContactDetails]]:
    """Account logical id → contact type (BILLING, OPERATIONS, SECURITY) → the contact, for
    every account that gets one, sorted. Problems go to `diagnostics`."""
    section = file.data.get("Organization") if isinstance(file.data, dict) else None
    if not isinstance(section, dict):
        return {}
    types = {
        logical_id: resource.get("Type")
        for logical_id, resource in section.items()
        if isinstance(resource, dict)
    }
    for generated in organization.accounts:  # accounts of a matrix are in no resource
        types.setdefault(generated, ACCOUNT)
    given: dict[str, dict[str, tuple[ContactDetails, str]]] = {}  # target → type → (contact, by)
    for logical_id, resource in section.items():
        if not isinstance(resource, dict) or resource.get("Type") != ALTERNATE_CONTACTS:
            continue
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        path: DataPath = ("Organization", logical_id, "Properties")
        contacts = {
            kind: details
            for kind in CONTACT_TYPES
            if (details := _details(properties.get(kind.title()))) is not None
        }
        for target, ref_path in _targets(file, types, properties.get("Targets"), path, diagnostics):
            key = _ROOT_KEY if types.get(target) == ROOT else target
            for kind, details in contacts.items():
                first = given.setdefault(key, {}).get(kind)
                if first is not None:
                    diagnostics.add(
                        "E378",
                        f"{target} gets a {kind.title()} contact from {first[1]} already; set "
                        "each contact type once per target",
                        file.source_map.span(ref_path),
                    )
                    continue
                given[key][kind] = (details, logical_id)
    result: dict[str, dict[str, ContactDetails]] = {}
    for account in sorted(organization.accounts.values(), key=lambda a: a.logical_id):
        path_up = [account.logical_id]
        parent = account.parent
        while parent is not None:
            path_up.append(parent)
            parent = organization.organizational_units[parent].parent
        path_up.append(_ROOT_KEY)
        chosen: dict[str, ContactDetails] = {}
        for key in path_up:
            for kind, (details, _) in given.get(key, {}).items():
                chosen.setdefault(kind, details)
        if chosen:
            result[account.logical_id] = dict(sorted(chosen.items()))
    return result


def _details(value: Any) -> ContactDetails | None:
    """The contact of a schema-checked value (None: not given, or reported by the schema)."""
    if not isinstance(value, dict):
        return None
    fields = ("Name", "Title", "EmailAddress", "PhoneNumber")
    if not all(isinstance(value.get(f), str) for f in fields):
        return None
    return ContactDetails(
        name=value["Name"],
        title=value["Title"],
        email_address=value["EmailAddress"],
        phone_number=value["PhoneNumber"],
    )


def _targets(
    file: LoadedFile,
    types: Mapping[str, Any],
    value: Any,
    path: DataPath,
    diagnostics: Diagnostics,
) -> list[tuple[str, DataPath]]:
    key_path = (*path, "Targets")
    items: list[tuple[Any, DataPath]]
    if isinstance(value, list):
        items = [(item, (*key_path, index)) for index, item in enumerate(value)]
    else:
        items = [(value, key_path)] if value is not None else []
    found: list[tuple[str, DataPath]] = []
    for item, item_path in items:
        if not (isinstance(item, dict) and isinstance(item.get("Ref"), str)):
            continue
        target, ref_path = item["Ref"], (*item_path, "Ref")
        kind = types.get(target)
        if kind is None:
            candidates = [t for t, k in types.items() if k in _TARGET_TYPES]
            diagnostics.add(
                "E301",
                f"!Ref {target} names no resource in the organization"
                f"{did_you_mean(target, candidates)}",
                file.source_map.span(ref_path),
            )
        elif kind not in _TARGET_TYPES:
            diagnostics.add(
                "E311",
                f"!Ref {target} is of type {kind}, but Targets takes {' or '.join(_TARGET_TYPES)}",
                file.source_map.span(ref_path),
            )
        else:
            found.append((target, ref_path))
    return found
