"""Stage 4, bind: the bindings of a template → the (account, region) targets of its stacks.

A binding names accounts and OUs by logical id; binding resolves those names against the
organization model (FORMAT.md §2): the accounts of `Account`, of `OrganizationalUnit` and every
OU nested in them, the management account when `IncludeMasterAccount`, and every account with
the `AccountsWithTag` key; then less the accounts of `ExcludeOrganizationalUnit` (nested OUs
too) and those of `ExcludeAccount`; times `Region`. `Account: '*'` is every account but the
management account; `OrganizationalUnit: '*'` every OU. A pure function of the template and the
organization.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.model import Organization
from orgc.region_denials import Denial, denies_regions, region_denials
from orgc.tasks import StacksTask
from orgc.templates import Binding, Template


@dataclass(frozen=True, slots=True, kw_only=True)
class BoundTemplate:
    """Where each resource of one task's template goes."""

    task: str
    # (account logical id, region) → logical ids of the resources deployed there, sorted;
    # ordered by account logical id then region. Targets that hold no resource are left out.
    targets: dict[tuple[str, str], tuple[str, ...]]
    # ForeachAccount: resource logical id → the account logical ids it loops over (sorted; empty
    # when the loop selects no account, so the resource is repeated zero times).
    loops: dict[str, tuple[str, ...]]


def bind_template(
    task: StacksTask,
    template: Template,
    organization: Organization,
    diagnostics: Diagnostics,
    *,
    denials: RegionDenials | None = None,
) -> BoundTemplate:
    """The targets of `task`'s template; every reference to a missing account or OU reported.
    `denials`, shared by the tasks of one organization, works out each target's SCP region
    denials once for them all."""
    placed: dict[tuple[str, str], list[str]] = {}
    loops: dict[str, tuple[str, ...]] = {}
    denials = denials or RegionDenials(organization)
    denied = _DeniedRegions(task.name, denials)
    for logical_id, resource in sorted(template.resources.items()):
        binding = resource.binding if resource.binding is not None else template.default_binding
        if binding is not None:
            accounts, regions = resolve_binding(binding, organization, diagnostics)
            for account in accounts:
                for region in regions:
                    placed.setdefault((account, region), []).append(logical_id)
                    if denials.any:
                        denied.check(binding, account, region)
        if resource.foreach is not None:
            loops[logical_id] = _accounts(resource.foreach, organization, diagnostics)
        for account in resource.depends_on_accounts:
            _check_ref(
                account,
                "DependsOnAccount",
                organization,
                diagnostics,
                resource.depends_on_spans,
            )
    # Named bindings that no resource uses may still serve Fn::EnumTargetAccounts; their
    # references are checked here so that a misspelt one is reported whatever uses it.
    for binding in template.bindings.values():
        _accounts(binding, organization, diagnostics)
    denied.report(diagnostics)
    return BoundTemplate(
        task=task.name,
        targets={target: tuple(sorted(placed[target])) for target in sorted(placed)},
        loops=loops,
    )


def resolve_binding(
    binding: Binding, organization: Organization, diagnostics: Diagnostics
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(account logical ids sorted, regions in the order written).

    A reference to something the organization does not hold, or to the wrong kind of thing, is
    reported at the reference and left out; a binding with accounts but no region warns, as it
    deploys nothing.
    """
    accounts = _accounts(binding, organization, diagnostics)
    if accounts and not binding.regions:
        count = f"{len(accounts)} account{'s' if len(accounts) != 1 else ''}"
        diagnostics.add(
            "W401",
            f"this binding selects {count} but no region, so it deploys nothing; add Region, "
            "or a DefaultOrganizationBindingRegion to the template or the task",
            binding.span,
        )
    return accounts, binding.regions


def binding_accounts(
    binding: Binding, organization: Organization, diagnostics: Diagnostics
) -> tuple[str, ...]:
    """The account logical ids a binding selects, sorted, regions aside (IAM Identity Center
    assignments bind accounts alone); references to nothing are reported."""
    return _accounts(binding, organization, diagnostics)


# The attributes of a binding, with the kind of thing each takes and the attribute that takes
# the other kind, for "wrong kind" messages.
_ACCOUNT_ATTRIBUTES = {
    "Account": "OrganizationalUnit",
    "ExcludeAccount": "ExcludeOrganizationalUnit",
}
_OU_ATTRIBUTES = {"OrganizationalUnit": "Account", "ExcludeOrganizationalUnit": "ExcludeAccount"}
_BINDING_ATTRIBUTES = (
    "Account",
    "OrganizationalUnit",
    "ExcludeAccount",
    "ExcludeOrganizationalUnit",
)


def _accounts(
    binding: Binding, organization: Organization, diagnostics: Diagnostics
) -> tuple[str, ...]:
    """The account logical ids a binding selects, sorted; its regions play no part."""
    members = _ou_members(organization)
    selected: set[str] = set()
    if binding.all_accounts:
        selected.update(a.logical_id for a in organization.accounts.values() if not a.management)
    selected.update(_valid(binding.accounts, "Account", binding, organization, diagnostics))
    ous = _valid(
        binding.organizational_units, "OrganizationalUnit", binding, organization, diagnostics
    )
    if binding.all_organizational_units:
        ous = [*organization.organizational_units]
    selected.update(_in_ous(ous, members, organization))
    if binding.include_master_account:
        selected.update(a.logical_id for a in organization.accounts.values() if a.management)
    if binding.accounts_with_tag is not None:
        tag = binding.accounts_with_tag
        selected.update(a.logical_id for a in organization.accounts.values() if tag in a.tags)
    excluded_ous = _valid(
        binding.exclude_organizational_units,
        "ExcludeOrganizationalUnit",
        binding,
        organization,
        diagnostics,
    )
    selected.difference_update(_in_ous(excluded_ous, members, organization))
    selected.difference_update(
        _valid(binding.exclude_accounts, "ExcludeAccount", binding, organization, diagnostics)
    )
    return tuple(sorted(selected))


def _ou_members(organization: Organization) -> dict[str | None, tuple[list[str], list[str]]]:
    """Parent OU (None: the root) → (its child OUs, its accounts)."""
    members: dict[str | None, tuple[list[str], list[str]]] = {}
    for ou in organization.organizational_units.values():
        members.setdefault(ou.parent, ([], []))[0].append(ou.logical_id)
    for account in organization.accounts.values():
        members.setdefault(account.parent, ([], []))[1].append(account.logical_id)
    return members


def _in_ous(
    ous: Iterable[str],
    members: dict[str | None, tuple[list[str], list[str]]],
    organization: Organization,
) -> set[str]:
    """Every account in `ous` and in the OUs nested in them, at any depth."""
    found: set[str] = set()
    seen: set[str] = set()
    pending = [ou for ou in ous if ou in organization.organizational_units]
    while pending:
        ou = pending.pop()
        if ou in seen:
            continue  # the model refuses OU cycles; this keeps a broken model from looping
        seen.add(ou)
        children, accounts = members.get(ou, ([], []))
        found.update(accounts)
        pending.extend(children)
    return found


def _valid(
    refs: tuple[str, ...],
    attribute: str,
    binding: Binding,
    organization: Organization,
    diagnostics: Diagnostics,
) -> list[str]:
    """The refs of `attribute` that name the kind of thing it takes; the others reported."""
    return [
        ref
        for ref in refs
        if _check_ref(ref, attribute, organization, diagnostics, binding.ref_spans)
    ]


def _kind(logical_id: str, organization: Organization) -> str | None:
    """What a logical id names in the organization, in words, or None."""
    if logical_id in organization.accounts:
        return "an account"
    if logical_id in organization.organizational_units:
        return "an organizational unit"
    if logical_id in organization.policies:
        return "a policy"
    if logical_id in organization.password_policies:
        return "a password policy"
    if logical_id == organization.root.logical_id:
        return "the organization root"
    return None


def _check_ref(
    ref: str,
    attribute: str,
    organization: Organization,
    diagnostics: Diagnostics,
    spans: Mapping[str, Span],
) -> bool:
    """Whether `ref` names what `attribute` takes; when not, the mistake is reported."""
    takes_ous = attribute in _OU_ATTRIBUTES
    wanted: Mapping[str, object] = (
        organization.organizational_units if takes_ous else organization.accounts
    )
    one, many = (
        ("organizational unit", "organizational units") if takes_ous else ("account", "accounts")
    )
    kind = _kind(ref, organization)
    if kind is None and attribute in _BINDING_ATTRIBUTES:
        # As in OrgFormation, a binding that names what the organization does not hold binds
        # (or excludes) nothing for it: its scenarios name accounts a later organization file
        # adds. Warned about, as a misspelt name would be.
        effect = "excludes" if attribute.startswith("Exclude") else "binds"
        diagnostics.add(
            "W397",
            f"{attribute} !Ref {ref} names no {one} in the organization"
            f"{did_you_mean(ref, wanted)}, so it {effect} nothing",
            spans.get(ref),
        )
        return False
    if kind is None:
        diagnostics.add(
            "E401",
            f"!Ref {ref} names no {one} in the organization{did_you_mean(ref, wanted)}",
            spans.get(ref),
        )
        return False
    if kind in ("an account", "an organizational unit"):
        other = _OU_ATTRIBUTES.get(attribute) or _ACCOUNT_ATTRIBUTES.get(attribute)
        instead = f"; list it under {other}" if other else ""
    else:
        instead = ""
    if ref in wanted:
        return True
    diagnostics.add(
        "E402", f"{ref} is {kind}, but {attribute} takes {many}{instead}", spans.get(ref)
    )
    return False


class RegionDenials:
    """The SCP statements that deny a region to an account (region_denials), asked once per
    account and region of one organization, whichever tasks deploy there."""

    def __init__(self, organization: Organization) -> None:
        self._organization = organization
        self._known: dict[tuple[str, str], tuple[Denial, ...]] = {}
        # False when no SCP of the organization denies a region: then none is ever found.
        self.any = denies_regions(organization)

    def of(self, account: str, region: str) -> tuple[Denial, ...]:
        denials = self._known.get((account, region))
        if denials is None:
            denials = region_denials(self._organization, account, region)
            self._known[(account, region)] = denials
        return denials


class _DeniedRegions:
    """W353 where a binding sends stacks to a region an SCP on the account's path denies: one
    warning per binding, policy statement and region, naming the accounts."""

    def __init__(self, task: str, denials: RegionDenials) -> None:
        self._task = task
        self._denials = denials
        self._found: dict[tuple[Span | None, Denial, str], list[str]] = {}

    def check(self, binding: Binding, account: str, region: str) -> None:
        for denial in self._denials.of(account, region):
            self._found.setdefault((binding.span, denial, region), []).append(account)

    def report(self, diagnostics: Diagnostics) -> None:
        for (span, denial, region), accounts in self._found.items():
            names = sorted(set(accounts))
            shown = _listing(names)
            conditions = ", ".join(denial.unless)
            unless = (
                f" unless its other conditions ({conditions}) exempt orgc" if conditions else ""
            )
            diagnostics.add(
                "W353",
                f"task {self._task} deploys to {region} in {shown}, but SCP {denial.policy_name} "
                f"(statement {denial.statement}, attached to {denial.attached_to}) denies "
                f"{region} there{unless}, so those stacks would fail; remove the region from the "
                "binding or allow it in the SCP",
                span,
            )


def _listing(names: list[str], shown: int = 3) -> str:
    """`A`, `A and B`, `A, B and C`, `A, B, C and 4 more`."""
    if len(names) > shown:
        return f"{', '.join(names[:shown])} and {len(names) - shown} more"
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
