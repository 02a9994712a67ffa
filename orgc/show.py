"""A plan shown to people: text for the terminal, Markdown for a pull request, JSON for tools.

Rendering only: every fact shown comes from the `Plan`; nothing is looked up here.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from typing import Any

from orgc.guardrails import destructive_counts
from orgc.plan import KINDS, Change, Plan
from orgc.render import markers

_SYMBOLS = {
    "create": "+",
    "adopt": "+",
    "enable": "+",
    "attach": "+",
    "update": "~",
    "rename": "~",
    "move": "→",
    "replace": "±",
    "detach": "-",
    "delete": "-",
    "close": "-",
    "forget": "!",
}

_HEADINGS = {
    "policy-type": "Policy types",
    "policy": "Policies",
    "organizational-unit": "Organizational units",
    "account": "Accounts",
    "attachment": "Policy attachments",
    "tags": "Tags",
    "alias": "IAM aliases",
    "password-policy": "Password policies",
    "stack": "Stacks",
    "s3-object": "S3 objects",
    "stack-set": "StackSets",
    "stack-set-instances": "StackSet instances",
}


def _grouped(plan: Plan) -> Iterator[tuple[str, list[Change]]]:
    for kind in KINDS:
        changes = [c for c in plan.changes if c.kind == kind]
        if changes:
            yield kind, changes


def _headroom(details: dict[str, Any]) -> str | None:
    size, limit = details.get("size"), details.get("limit")
    if not isinstance(size, int) or not isinstance(limit, int):
        return None
    return f"{size:,} of {limit:,} characters, {limit - size:,} left"


def _pretty_policy(document: str) -> list[str]:
    try:
        return json.dumps(json.loads(document), indent=2, sort_keys=False).splitlines()
    except ValueError:
        return document.splitlines()


def _detail_lines(change: Change) -> list[str]:
    """What a reviewer needs beyond the summary line."""
    d = change.details
    lines: list[str] = []
    if change.kind == "policy" and change.action in ("create", "update"):
        headroom = _headroom(d)
        if headroom:
            lines.append(f"size: {headroom}")
        document_change = d.get("changes", {}).get("document")
        if document_change:
            lines.extend(
                difflib.unified_diff(
                    _pretty_policy(document_change["before"]),
                    _pretty_policy(document_change["after"]),
                    "in AWS",
                    "in the files",
                    lineterm="",
                )
            )
        for key in ("name", "description"):
            field_change = d.get("changes", {}).get(key)
            if field_change:
                lines.append(f"{key}: {field_change['before']!r} → {field_change['after']!r}")
    elif change.kind == "password-policy":
        before, after = d.get("before"), d.get("after") or {}
        if before is None:
            lines.append(_password_policy_sentence(after))
        else:
            lines.extend(
                f"{key}: {before.get(key)} → {after[key]}"
                for key in sorted(after)
                if before.get(key) != after[key]
            )
    elif change.kind == "account" and change.action == "create":
        lines.append("account id: known after apply")
    elif change.kind == "stack" and change.action in ("create", "update", "replace"):
        lines.extend(_stack_lines(d))
    elif change.kind in ("stack-set", "stack-set-instances"):
        lines.extend(_stack_set_lines(change))
    return lines


def _stack_set_lines(change: Change) -> list[str]:
    """Where a StackSet deploys, and for an update the diff of its template and parameters."""
    d = change.details
    if change.action in ("delete", "forget"):
        if not d.get("instances"):
            return []
        where = ", ".join(d["organizationalUnits"]) or "no OU"
        return [f"{d['instances']} instance(s) in {where}; {', '.join(d['regions'])}"]
    labels: dict[str, str] = d["labels"]
    lines = [f"task {d['task']} ({d['where']})"]
    if change.kind == "stack-set-instances":
        requests = [d["create"]] if change.action == "create" else d["delete"]
        lines.extend(f"{change.action}: {_targets_text(r, labels)}" for r in requests)
        return lines
    lines.append(f"targets: {_targets_text(d['targets'], labels)}")
    preferences = d["preferences"]
    lines.append(
        f"operations: {preferences['maxConcurrent']} account(s) at once per region, "
        f"{preferences['failureTolerance']} failure(s) tolerated per region"
    )
    if change.action == "create":
        lines.append(f"resources: {', '.join(sorted(d['template'].get('Resources', {})))}")
        lines.extend(f"{k} = {_shown(v)}" for k, v in sorted(d["parameters"].items()))
        return lines
    lines.extend(d.get("templateDiff", ()))
    lines.extend(
        f"{c['name']}: {_shown(c['before']) if c['before'] is not None else '(none)'} → "
        f"{_shown(c['after']) if c['after'] is not None else 'removed'}"
        for c in d.get("parameterChanges", ())
    )
    return lines


def _targets_text(targets: dict[str, Any], labels: dict[str, str]) -> str:
    def named(physical: str, kind: str = "") -> str:
        name = labels.get(physical)
        shown = "known after apply" if markers(physical) else physical
        if name == "root":
            return f"the root ({shown})"
        return f"{kind}{name} ({shown})" if name else f"{kind}{shown}"

    text = ", ".join(named(ou, "OU ") for ou in targets["organizationalUnits"])
    accounts = ", ".join(named(a) for a in targets["accounts"])
    if targets["accountFilter"] == "DIFFERENCE":
        text += f" except {accounts}"
    elif targets["accountFilter"] == "INTERSECTION":
        text += f", only {accounts}"
    return f"{text}; regions {', '.join(targets['regions'])}"


def _shown(value: str) -> str:
    return "(known after apply)" if markers(value) else repr(value)


def _stack_lines(d: dict[str, Any]) -> list[str]:
    lines = [f"task {d['task']} ({d['where']})"]
    if d.get("previousHash") is None:
        resources = sorted(d["template"].get("Resources", {}))
        shown = [
            name.replace("{{orgc:account:", "<id of ").replace("}}", ">") for name in resources
        ]
        lines.append(f"resources: {', '.join(shown)}")
    previous = d.get("previousParameters")
    parameters: dict[str, str] = d["parameters"]
    references = {r["parameter"]: r for r in d.get("references", ())}
    for name in sorted({*parameters, *(previous or {})}):
        value = parameters.get(name)
        source = references.get(name)
        origin = f" from {source['from']} ({source['expression']})" if source else ""
        if previous is None:
            lines.append(f"{name} = {_shown(value or '')}{origin}")
        elif value is None:
            lines.append(f"{name}: removed")
        elif previous.get(name) != value:
            before = repr(previous[name]) if name in previous else "(none)"
            lines.append(f"{name}: {before} → {_shown(value)}{origin}")
        elif source:
            lines.append(f"{name} = {_shown(value)}{origin}")
    return lines


def _password_policy_sentence(settings: dict[str, Any]) -> str:
    required = [
        label
        for label, key in (
            ("lowercase", "require_lowercase_characters"),
            ("uppercase", "require_uppercase_characters"),
            ("numbers", "require_numbers"),
            ("symbols", "require_symbols"),
        )
        if settings.get(key)
    ]
    parts = [f"minimum length {settings.get('minimum_password_length')}"]
    if required:
        parts.append("requires " + ", ".join(required))
    if settings.get("max_password_age"):
        parts.append(f"expires after {settings['max_password_age']} days")
    if settings.get("password_reuse_prevention"):
        parts.append(f"remembers {settings['password_reuse_prevention']} passwords")
    if settings.get("allow_users_to_change_password"):
        parts.append("users may change their own")
    if settings.get("hard_expiry"):
        parts.append("hard expiry")
    return "; ".join(parts)


def render_text(plan: Plan) -> str:
    out = [
        f"orgc plan for organization {plan.organization_id} "
        f"(management account {plan.management_account_id}), from {plan.source}",
        "",
    ]
    if not plan.has_changes:
        out.append("No changes. The organization matches the files.")
    closes = _closes(plan)
    if closes:
        out.extend([f"Accounts to close: {closes}. A closed account cannot be used again.", ""])
    for kind, changes in _grouped(plan):
        out.append(f"{_HEADINGS[kind]}:")
        for change in changes:
            out.append(f"  {_SYMBOLS.get(change.action, '?')} {change.summary}")
            out.extend(f"      {line}" for line in _detail_lines(change))
        out.append("")
    if plan.unchanged:
        out.append(f"Unchanged: {len(plan.unchanged)} target(s) already as the files say.")
        out.append("")
    if plan.orphans:
        out.append("Orphaned stacks (their task left the files; --perform-cleanup deletes them):")
        out.extend(
            f"  ! {o['stackName']} in {o['accountId']} {o['region']} (task {o['task']})"
            for o in plan.orphans
        )
        out.append("")
    for warning in plan.warnings:
        out.append(str(warning))
    if plan.has_changes:
        out.append("Plan: " + _counts_sentence(plan) + ".")
        destructive = destructive_counts(plan)
        if destructive:
            out.append("Destructive:")
            out.extend(f"  - {count} {label}" for label, count in destructive)
    return "\n".join(out).rstrip() + "\n"


def _counts_sentence(plan: Plan) -> str:
    return ", ".join(f"{count} to {action}" for action, count in plan.counts().items())


def _closes(plan: Plan, quote: str = "") -> str:
    return ", ".join(
        f"{quote}{c.physical_id}{quote} ({c.logical_id})"
        for c in plan.changes
        if c.kind == "account" and c.action == "close"
    )


def render_markdown(plan: Plan) -> str:
    out = [
        f"### orgc plan for `{plan.organization_id}`",
        "",
        f"Management account `{plan.management_account_id}`, from `{plan.source}`.",
        "",
    ]
    if not plan.has_changes:
        out.append("**No changes.** The organization matches the files.")
    else:
        out.append(f"**Plan:** {_counts_sentence(plan)}.")
        out.append("")
        closes = _closes(plan, "`")
        if closes:
            out.extend([f"**Accounts to close:** {closes}.", ""])
        destructive = destructive_counts(plan)
        if destructive:
            out.append("**Destructive:**")
            out.append("")
            out.extend(f"- **{count}** {label}" for label, count in destructive)
            out.append("")
        out.append("| | Kind | Change |")
        out.append("|---|---|---|")
        for kind, changes in _grouped(plan):
            for change in changes:
                summary = change.summary.replace("|", "\\|")
                out.append(f"| {_SYMBOLS.get(change.action, '?')} | {kind} | {summary} |")
        details = [(c, _detail_lines(c)) for c in plan.changes]
        details = [(c, lines) for c, lines in details if lines]
        if details:
            out.append("")
            for change, lines in details:
                out.append(f"<details><summary>{change.summary}</summary>")
                out.append("")
                out.append("```diff" if any(ln.startswith(("+", "-")) for ln in lines) else "```")
                out.extend(lines)
                out.append("```")
                out.append("</details>")
    if plan.unchanged:
        out.append("")
        out.append(f"{len(plan.unchanged)} target(s) unchanged.")
    if plan.orphans:
        out.append("")
        out.append(
            "**Orphaned stacks** (their task left the files; `--perform-cleanup` deletes them)"
        )
        out.append("")
        out.extend(
            f"- `{o['stackName']}` in `{o['accountId']}` {o['region']} (task `{o['task']}`)"
            for o in plan.orphans
        )
    if plan.warnings:
        out.append("")
        out.append("**Warnings**")
        out.append("")
        out.extend(f"- `{w.code}` {w.message}" for w in plan.warnings)
    return "\n".join(out).rstrip() + "\n"


def render_json(plan: Plan) -> str:
    return plan.dumps()


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
