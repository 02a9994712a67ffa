"""annotate-organization tasks: the organization is not managed by the files but read from
AWS at plan time (orgc.live_organization); the task gives the accounts their logical ids.

What needs no AWS is checked here, offline: AccountMapping maps logical ids to account ids,
ExcludeAccounts lists account ids, DefaultOrganizationAccessRoleName is a role name. Whether
the mapped accounts exist is checked once the organization is read.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from orgc.diagnostics import Span

if TYPE_CHECKING:
    from orgc.tasks.attributes import TaskReader

ACCOUNT_ID = re.compile(r"\d{12}")
ROLE_NAME = re.compile(r"[\w+=,.@/-]{1,64}")


def _account_id(value: Any) -> str | None:
    """The account id as written (an unquoted number too), or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if ACCOUNT_ID.fullmatch(text) else None


def annotate_attributes(reader: TaskReader, attributes: dict[str, Any]) -> dict[str, Span | None]:
    """Normalise the attributes of an annotate-organization task in place (account ids as
    text); every shape mistake is reported. Returns where each mapping entry was written
    (key `AccountMapping.<logical id>`, `ExcludeAccounts.<account id>`)."""
    spans: dict[str, Span | None] = {}
    mapping = attributes.get("AccountMapping")
    if mapping is not None:
        if not isinstance(mapping, dict):
            reader.diagnostics.add(
                "E465",
                f"AccountMapping of task {reader.name} maps logical ids to account ids "
                f"(Security Account: '111111111111'), not {type(mapping).__name__}",
                reader.span("AccountMapping"),
            )
            attributes.pop("AccountMapping")
        else:
            normalised: dict[str, str] = {}
            for logical_id, value in mapping.items():
                span = reader.span("AccountMapping", str(logical_id))
                account_id = _account_id(value)
                if account_id is None:
                    reader.diagnostics.add(
                        "E465",
                        f"AccountMapping of task {reader.name} maps {logical_id!r} to "
                        f"{value!r}, which is not an account id; give the 12 digits of the "
                        "account",
                        span,
                    )
                    continue
                if account_id in normalised.values():
                    other = next(k for k, v in normalised.items() if v == account_id)
                    reader.diagnostics.add(
                        "E466",
                        f"AccountMapping of task {reader.name} maps both {other!r} and "
                        f"{logical_id!r} to account {account_id}; an account has one logical id",
                        span,
                    )
                    continue
                normalised[str(logical_id)] = account_id
                spans[f"AccountMapping.{logical_id}"] = span
            attributes["AccountMapping"] = normalised
    excluded = attributes.get("ExcludeAccounts")
    if excluded is not None:
        items = excluded if isinstance(excluded, list) else [excluded]
        ids: list[str] = []
        for index, value in enumerate(items):
            account_id = _account_id(value)
            where = (
                reader.file.span((reader.name, "ExcludeAccounts", index))
                if isinstance(excluded, list)
                else None
            )
            if account_id is None:
                reader.diagnostics.add(
                    "E465",
                    f"ExcludeAccounts of task {reader.name} lists {value!r}, which is not an "
                    "account id; give the 12 digits of each account to leave out",
                    where or reader.span("ExcludeAccounts"),
                )
                continue
            ids.append(account_id)
            spans[f"ExcludeAccounts.{account_id}"] = where or reader.span("ExcludeAccounts")
        attributes["ExcludeAccounts"] = ids
    role = attributes.get("DefaultOrganizationAccessRoleName")
    if role is not None and not (isinstance(role, str) and ROLE_NAME.fullmatch(role)):
        reader.diagnostics.add(
            "E465",
            f"DefaultOrganizationAccessRoleName of task {reader.name} is {role!r}; give the "
            "name of the role orgc assumes in the accounts (OrganizationAccountAccessRole)",
            reader.span("DefaultOrganizationAccessRoleName"),
        )
        attributes.pop("DefaultOrganizationAccessRoleName")
    if "OrganizationalUnitMapping" in attributes:
        reader.diagnostics.add(
            "W465",
            f"OrganizationalUnitMapping of task {reader.name} is not used: orgc names the OUs "
            "of the organization it reads after their names; bindings by OU work on "
            "those names' logical ids",
            reader.span("OrganizationalUnitMapping"),
        )
    return spans
