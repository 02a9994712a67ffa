"""Stage 3 (model), annotated templates: a CloudFormation template with OrgFormation's bindings.

A binding selects accounts by regions (FORMAT.md §2). A template holds resources, each with the
binding that places it (its own, a named one, or the template's default), the bindings it loops
over (`ForeachAccount`), and the accounts and regions whose stacks must finish first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.load import DataPath, LoadedFile

# Binding attributes as written, with the Python field each becomes.
BINDING_ATTRIBUTES: dict[str, str] = {
    "Account": "accounts",
    "OrganizationalUnit": "organizational_units",
    "ExcludeAccount": "exclude_accounts",
    "ExcludeOrganizationalUnit": "exclude_organizational_units",
    "IncludeMasterAccount": "include_master_account",
    "AccountsWithTag": "accounts_with_tag",
    "Region": "regions",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """Accounts by regions, as written: logical ids, resolved against the organization by `bind`.

    `all_accounts` is `Account: '*'` (every account but the management account);
    `all_organizational_units` is `OrganizationalUnit: '*'`. `regions` empty with
    `regions_given` False means "take the default region" (DefaultOrganizationBindingRegion).
    """

    all_accounts: bool = False
    accounts: tuple[str, ...] = ()
    all_organizational_units: bool = False
    organizational_units: tuple[str, ...] = ()
    exclude_accounts: tuple[str, ...] = ()
    exclude_organizational_units: tuple[str, ...] = ()
    include_master_account: bool = False
    accounts_with_tag: str | None = None
    regions: tuple[str, ...] = ()
    regions_given: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)
    # Where each referenced logical id was written, for bind's "no such account" errors.
    ref_spans: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)

    def with_default_regions(self, regions: tuple[str, ...]) -> Binding:
        return self if self.regions_given else replace(self, regions=regions)


def parse_binding(
    value: Any, path: DataPath, file: LoadedFile, diagnostics: Diagnostics
) -> Binding | None:
    """A binding written as a mapping at `path` of `file`; every mistake reported.

    `!Ref Name` of a named binding is not a mapping: the caller resolves it.
    """
    if not isinstance(value, dict):
        diagnostics.add(
            "E352",
            "a binding is a mapping of Account, OrganizationalUnit, Region, ... or !Ref of a "
            "named binding",
            file.span(path),
        )
        return None
    fields: dict[str, Any] = {}
    ref_spans: dict[str, Span] = {}
    for key, item in value.items():
        where = path + (key,)
        name = BINDING_ATTRIBUTES.get(key)
        if name is None:
            diagnostics.add(
                "E350",
                f"{key} is not a binding attribute{did_you_mean(key, BINDING_ATTRIBUTES)}; "
                f"a binding takes {', '.join(BINDING_ATTRIBUTES)}",
                file.source_map.key_span(where),
            )
            continue
        if key in ("Account", "OrganizationalUnit", "ExcludeAccount", "ExcludeOrganizationalUnit"):
            refs, star = _binding_refs(key, item, where, file, diagnostics, ref_spans)
            fields[name] = refs
            if star and key == "Account":
                fields["all_accounts"] = True
            elif star and key == "OrganizationalUnit":
                fields["all_organizational_units"] = True
            elif star:
                diagnostics.add(
                    "E351", f"{key} does not take '*'; list the refs to exclude", file.span(where)
                )
        elif key == "IncludeMasterAccount":
            if not isinstance(item, bool):
                diagnostics.add(
                    "E352", f"IncludeMasterAccount is true or false, not {item!r}", file.span(where)
                )
            else:
                fields[name] = item
        elif key == "AccountsWithTag":
            if not isinstance(item, str) or not item:
                diagnostics.add("E352", "AccountsWithTag is a tag key (a string)", file.span(where))
            else:
                fields[name] = item
        else:  # Region
            regions = [item] if isinstance(item, str) else item
            if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
                diagnostics.add(
                    "E352", "Region is a region name or a list of them", file.span(where)
                )
            else:
                fields["regions"] = tuple(dict.fromkeys(regions))
                fields["regions_given"] = True
    return Binding(**fields, span=file.span(path), ref_spans=ref_spans)


def _binding_refs(  # noqa: PLR0917
    key: str,
    value: Any,
    path: DataPath,
    file: LoadedFile,
    diagnostics: Diagnostics,
    ref_spans: dict[str, Span],
) -> tuple[tuple[str, ...], bool]:
    """The logical ids of a ref or list of refs, and whether '*' was among them."""
    items = value if isinstance(value, list) else [value]
    found: dict[str, None] = {}
    star = False
    for index, item in enumerate(items):
        where = path + (index,) if isinstance(value, list) else path
        if item == "*":
            star = True
        elif isinstance(item, dict) and isinstance(item.get("Ref"), str) and len(item) == 1:
            found.setdefault(item["Ref"])
            span = file.span(where + ("Ref",))
            if span is not None:
                ref_spans.setdefault(item["Ref"], span)
        elif isinstance(item, (str, int)) and str(item).isdigit():
            diagnostics.add(
                "E351",
                f"{key} takes !Ref of a logical id, not the account id {item}; write !Ref and "
                "the account's logical id",
                file.span(where),
            )
        elif isinstance(item, str):
            diagnostics.add(
                "E351", f"{key} takes refs: write !Ref {item} (or '*')", file.span(where)
            )
        else:
            diagnostics.add("E351", f"{key} takes !Ref X, a list of them, or '*'", file.span(where))
    return tuple(found), star
