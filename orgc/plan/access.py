"""Who gains and who loses access where: a plan's IAM Identity Center changes read as access,
per permission set and per account, for the text, JSON and Markdown forms of the plan."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass

from orgc.limits import limit
from orgc.observed import PermissionSetSettings
from orgc.plan.document import Plan
from orgc.plan.specs import Action, AssignmentChange, PermissionSetChange


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AccessChange:
    permission_set: str
    principal: str  # "group Platform", "user alice"
    account: str  # "shop (111111111111)"
    gains: bool


def _account(spec: AssignmentChange) -> str:
    return f"{spec.account_name} ({spec.account_id or 'known after apply'})"


def access_changes(plan: Plan) -> list[AccessChange]:
    found = [
        AccessChange(
            permission_set=c.spec.permission_set_name,
            principal=f"{c.spec.principal_type.lower()} {c.spec.principal}",
            account=_account(c.spec),
            gains=c.action is Action.CREATE,
        )
        for c in plan.changes
        if isinstance(c.spec, AssignmentChange)
    ]
    return sorted(found, key=lambda a: (a.permission_set, not a.gains, a.principal, a.account))


def changed_permissions(plan: Plan) -> list[str]:
    """Permission sets whose update changes what everyone who has them may do."""
    return sorted(
        c.spec.name
        for c in plan.changes
        if isinstance(c.spec, PermissionSetChange) and c.spec.provision
    )


def _by_permission_set(changes: list[AccessChange]) -> dict[str, dict[tuple[bool, str], list[str]]]:
    grouped: dict[str, dict[tuple[bool, str], list[str]]] = {}
    for change in changes:
        key = (change.gains, change.principal)
        grouped.setdefault(change.permission_set, {}).setdefault(key, []).append(change.account)
    return grouped


def _by_account(changes: list[AccessChange]) -> dict[str, list[AccessChange]]:
    grouped: dict[str, list[AccessChange]] = {}
    for change in sorted(changes, key=lambda c: (c.account, not c.gains, c.principal)):
        grouped.setdefault(change.account, []).append(change)
    return grouped


def access_lines(plan: Plan) -> list[str]:
    """The plan's "who gains / loses access where" section; [] when no access changes."""
    changes = access_changes(plan)
    changed = changed_permissions(plan)
    if not changes and not changed:
        return []
    out = ["Who gains or loses access where:", "  by permission set:"]
    grouped = _by_permission_set(changes)
    for name in sorted({*grouped, *changed}):
        out.append(f"    {name}")
        if name in changed:
            out.append("      ~ what it allows changes for everyone who has it, in every account")
        for (gains, principal), accounts in sorted(
            grouped.get(name, {}).items(), key=lambda i: (not i[0][0], i[0][1])
        ):
            out.append(f"      {'+' if gains else '-'} {principal}: {', '.join(accounts)}")
    if changes:
        out.append("  by account:")
        for account, held in _by_account(changes).items():
            out.append(f"    {account}")
            out.extend(
                f"      {'+' if c.gains else '-'} {c.principal}: {c.permission_set}" for c in held
            )
    return out


def access_json(plan: Plan) -> dict[str, object] | None:
    changes = access_changes(plan)
    changed = changed_permissions(plan)
    if not changes and not changed:
        return None
    grouped = _by_permission_set(changes)
    return {
        "byPermissionSet": {
            name: {
                "gain": [
                    {"principal": p, "accounts": a}
                    for (g, p), a in sorted(grouped.get(name, {}).items())
                    if g
                ],
                "lose": [
                    {"principal": p, "accounts": a}
                    for (g, p), a in sorted(grouped.get(name, {}).items())
                    if not g
                ],
                "permissionsChange": name in changed,
            }
            for name in sorted({*grouped, *changed})
        },
        "byAccount": {
            account: {
                "gain": [
                    {"principal": c.principal, "permissionSet": c.permission_set}
                    for c in held
                    if c.gains
                ],
                "lose": [
                    {"principal": c.principal, "permissionSet": c.permission_set}
                    for c in held
                    if not c.gains
                ],
            }
            for account, held in _by_account(changes).items()
        },
    }


def access_markdown(plan: Plan, escape: Callable[[str], str]) -> list[str]:
    """A table of who gains and loses access, by account, names passed through `escape`; []
    when no access changes."""
    changes = access_changes(plan)
    changed = changed_permissions(plan)
    if not changes and not changed:
        return []
    out = ["**Who gains / loses access**", ""]
    if changes:
        out.extend(["| Account | Gains | Loses |", "| --- | --- | --- |"])
        for account, held in _by_account(changes).items():
            gains = "<br>".join(
                escape(f"{c.principal}: {c.permission_set}") for c in held if c.gains
            )
            loses = "<br>".join(
                escape(f"{c.principal}: {c.permission_set}") for c in held if not c.gains
            )
            out.append(f"| {escape(account)} | {gains} | {loses} |")
    if changed:
        out.extend(
            [
                "",
                "What these permission sets allow changes for everyone who has them: "
                + ", ".join(escape(n) for n in changed)
                + ".",
            ]
        )
    return out


def _pretty(document: str) -> list[str]:
    if not document:
        return []
    try:
        return json.dumps(json.loads(document), indent=2).splitlines()
    except ValueError:
        return document.splitlines()


def _settings_lines(settings: PermissionSetSettings) -> list[str]:
    lines = [f"session duration: {settings.session_duration}"]
    if settings.description:
        lines.append(f"description: {settings.description!r}")
    if settings.relay_state:
        lines.append(f"relay state: {settings.relay_state}")
    lines.extend(f"AWS managed policy: {arn}" for arn in settings.managed_policies)
    lines.extend(f"customer managed policy: {p}" for p in settings.customer_policies)
    if settings.inline_policy:
        size, most = len(settings.inline_policy), limit("sso.inlinePolicySize")
        lines.append(f"inline policy: {size:,} of {most:,} characters")
    if settings.boundary is not None:
        lines.append(f"permissions boundary: {settings.boundary}")
    if settings.tags:
        lines.append("tags: " + ", ".join(f"{k}={v}" for k, v in settings.tags.items()))
    return lines


def permission_set_lines(spec: PermissionSetChange) -> list[str]:
    """What a permission set change makes of it: everything it holds when created, what
    changes (the inline policy as a diff) when updated."""
    before, after = spec.before, spec.after
    if after is None:
        return []
    if before is None:
        return _settings_lines(after)
    lines: list[str] = []
    for label, old, new in (
        ("description", before.description, after.description),
        ("session duration", before.session_duration, after.session_duration),
        ("relay state", before.relay_state, after.relay_state),
        ("permissions boundary", str(before.boundary or "none"), str(after.boundary or "none")),
    ):
        if old != new:
            lines.append(f"{label}: {old!r} → {new!r}")
    for sign, label, values in (
        (
            "-",
            "AWS managed policy",
            sorted(set(before.managed_policies) - set(after.managed_policies)),
        ),
        (
            "+",
            "AWS managed policy",
            sorted(set(after.managed_policies) - set(before.managed_policies)),
        ),
        (
            "-",
            "customer managed policy",
            [str(p) for p in sorted(set(before.customer_policies) - set(after.customer_policies))],
        ),
        (
            "+",
            "customer managed policy",
            [str(p) for p in sorted(set(after.customer_policies) - set(before.customer_policies))],
        ),
    ):
        lines.extend(f"{sign} {label}: {value}" for value in values)
    if before.inline_policy != after.inline_policy:
        lines.extend(
            difflib.unified_diff(
                _pretty(before.inline_policy),
                _pretty(after.inline_policy),
                "inline policy in AWS",
                "inline policy in the files",
                lineterm="",
            )
        )
    if before.tags != after.tags:
        old_tags = ", ".join(f"{k}={v}" for k, v in before.tags.items()) or "none"
        new_tags = ", ".join(f"{k}={v}" for k, v in after.tags.items()) or "none"
        lines.append(f"tags: {old_tags} → {new_tags}")
    return lines
