"""A plan shown to people: text for the terminal, Markdown for a pull request, JSON for tools.

Rendering only: every fact shown comes from the `Plan`; nothing is looked up here.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterator, Mapping

from orgc.observed import ALL_BUT, ONLY, InstanceTargets, PasswordPolicySettings
from orgc.plan import KINDS, Action, Change, ChangeKind, Plan
from orgc.plan.codec import dumps
from orgc.plan.specs import (
    InstancesCreate,
    Json,
    PasswordPolicySet,
    PolicyCreate,
    PolicyUpdate,
    StackDeploy,
    StackSetCreate,
    StackSetDelete,
    StackSetUpdate,
)
from orgc.render import markers

_SYMBOLS: dict[Action, str] = {
    Action.CREATE: "+",
    Action.ADOPT: "+",
    Action.ENABLE: "+",
    Action.REGISTER: "+",
    Action.ATTACH: "+",
    Action.UPDATE: "~",
    Action.RENAME: "~",
    Action.MOVE: "→",
    Action.REPLACE: "±",
    Action.DETACH: "-",
    Action.DEREGISTER: "-",
    Action.DISABLE: "-",
    Action.DELETE: "-",
    Action.CLOSE: "-",
    Action.FORGET: "!",
}

_HEADINGS: dict[ChangeKind, str] = {
    ChangeKind.POLICY_TYPE: "Policy types",
    ChangeKind.POLICY: "Policies",
    ChangeKind.ORGANIZATIONAL_UNIT: "Organizational units",
    ChangeKind.ACCOUNT: "Accounts",
    ChangeKind.ATTACHMENT: "Policy attachments",
    ChangeKind.TAGS: "Tags",
    ChangeKind.ALIAS: "IAM aliases",
    ChangeKind.PASSWORD_POLICY: "Password policies",
    ChangeKind.SERVICE_ACCESS: "Trusted service access",
    ChangeKind.DELEGATED_ADMINISTRATOR: "Delegated administrators",
    ChangeKind.ALTERNATE_CONTACT: "Alternate contacts",
    ChangeKind.STACK: "Stacks",
    ChangeKind.S3_OBJECT: "S3 objects",
    ChangeKind.STACK_SET: "StackSets",
    ChangeKind.STACK_SET_INSTANCES: "StackSet instances",
}


def _grouped(plan: Plan) -> Iterator[tuple[ChangeKind, list[Change]]]:
    for kind in KINDS:
        changes = [c for c in plan.changes if c.kind is kind]
        if changes:
            yield kind, changes


def _headroom(spec: PolicyCreate | PolicyUpdate) -> str | None:
    size, limit = spec.size, spec.limit
    if limit is None:
        return None
    return f"{size:,} of {limit:,} characters, {limit - size:,} left"


def _pretty_policy(document: str) -> list[str]:
    try:
        return json.dumps(json.loads(document), indent=2, sort_keys=False).splitlines()
    except ValueError:
        return document.splitlines()


def _detail_lines(change: Change) -> list[str]:
    """What a reviewer needs beyond the summary line."""
    spec = change.spec
    lines: list[str] = []
    if isinstance(spec, (PolicyCreate, PolicyUpdate)):
        headroom = _headroom(spec)
        if headroom:
            lines.append(f"size: {headroom}")
        changes = spec.changes if isinstance(spec, PolicyUpdate) else {}
        document_change = changes.get("document")
        if document_change:
            lines.extend(
                difflib.unified_diff(
                    _pretty_policy(document_change.before),
                    _pretty_policy(document_change.after),
                    "in AWS",
                    "in the files",
                    lineterm="",
                )
            )
        for key in ("name", "description"):
            field_change = changes.get(key)
            if field_change:
                lines.append(f"{key}: {field_change.before!r} → {field_change.after!r}")
    elif isinstance(spec, PasswordPolicySet):
        before, after = spec.before, spec.after
        if before is None:
            lines.append(_password_policy_sentence(after))
        else:
            lines.extend(
                f"{f.name}: {getattr(before, f.name)} → {getattr(after, f.name)}"
                for f in sorted(dataclasses.fields(after), key=lambda f: f.name)
                if getattr(before, f.name) != getattr(after, f.name)
            )
    elif change.kind is ChangeKind.ACCOUNT and change.action is Action.CREATE:
        lines.append("account id: known after apply")
    elif isinstance(spec, StackDeploy):
        lines.extend(_stack_lines(spec))
    elif isinstance(spec, StackSetDelete):
        if spec.instances:
            where = ", ".join(spec.organizational_units) or "no OU"
            lines.append(f"{spec.instances} instance(s) in {where}; {', '.join(spec.regions)}")
    elif isinstance(spec, (StackSetCreate, StackSetUpdate, InstancesCreate)):
        lines.extend(_stack_set_lines(change.action, spec))
    return lines


def _stack_set_lines(
    action: Action, spec: StackSetCreate | StackSetUpdate | InstancesCreate
) -> list[str]:
    """Where a StackSet deploys, and for an update the diff of its template and parameters."""
    stack_set = spec.stack_set
    labels = stack_set.labels
    lines = [f"task {stack_set.task} ({stack_set.where})"]
    if isinstance(spec, InstancesCreate):
        lines.append(f"{action}: {_targets_text(spec.create, labels)}")
        return lines
    lines.append(f"targets: {_targets_text(stack_set.targets, labels)}")
    preferences = stack_set.preferences
    lines.append(
        f"operations: {preferences.max_concurrent} account(s) at once per region, "
        f"{preferences.failure_tolerance} failure(s) tolerated per region"
    )
    if isinstance(spec, StackSetCreate):
        lines.append(f"resources: {', '.join(_resources(spec.template))}")
        lines.extend(f"{k} = {_shown(v)}" for k, v in sorted(spec.parameters.items()))
        return lines
    lines.extend(spec.template_diff)
    lines.extend(
        f"{c.name}: {_shown(c.before) if c.before is not None else '(none)'} → "
        f"{_shown(c.after) if c.after is not None else 'removed'}"
        for c in spec.parameter_changes
    )
    return lines


def _resources(template: Mapping[str, Json]) -> list[str]:
    resources = template.get("Resources", {})
    return sorted(resources) if isinstance(resources, Mapping) else []


def _targets_text(targets: InstanceTargets, labels: Mapping[str, str]) -> str:
    def named(physical: str, kind: str = "") -> str:
        name = labels.get(physical)
        shown = "known after apply" if markers(physical) else physical
        if name == "root":
            return f"the root ({shown})"
        return f"{kind}{name} ({shown})" if name else f"{kind}{shown}"

    text = ", ".join(named(ou, "OU ") for ou in targets.organizational_units)
    accounts = ", ".join(named(a) for a in targets.accounts)
    if targets.account_filter == ALL_BUT:
        text += f" except {accounts}"
    elif targets.account_filter == ONLY:
        text += f", only {accounts}"
    return f"{text}; regions {', '.join(targets.regions)}"


def _shown(value: str) -> str:
    return "(known after apply)" if markers(value) else repr(value)


def _stack_lines(spec: StackDeploy) -> list[str]:
    lines = [f"task {spec.address.task} ({spec.where})"]
    if spec.previous_hash is None:
        shown = [
            name.replace("{{orgc:account:", "<id of ").replace("}}", ">")
            for name in _resources(spec.template)
        ]
        lines.append(f"resources: {', '.join(shown)}")
    previous = spec.previous_parameters
    parameters = spec.parameters
    references = {r.parameter: r for r in spec.references}
    for name in sorted({*parameters, *(previous or {})}):
        value = parameters.get(name)
        source = references.get(name)
        origin = f" from {source.source} ({source.expression})" if source else ""
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


def _password_policy_sentence(settings: PasswordPolicySettings) -> str:
    required = [
        label
        for label, wanted in (
            ("lowercase", settings.require_lowercase_characters),
            ("uppercase", settings.require_uppercase_characters),
            ("numbers", settings.require_numbers),
            ("symbols", settings.require_symbols),
        )
        if wanted
    ]
    parts = [f"minimum length {settings.minimum_password_length}"]
    if required:
        parts.append("requires " + ", ".join(required))
    if settings.max_password_age:
        parts.append(f"expires after {settings.max_password_age} days")
    if settings.password_reuse_prevention:
        parts.append(f"remembers {settings.password_reuse_prevention} passwords")
    if settings.allow_users_to_change_password:
        parts.append("users may change their own")
    if settings.hard_expiry:
        parts.append("hard expiry")
    return "; ".join(parts)


def render_text(plan: Plan) -> str:
    out = [
        f"orgc plan for organization {plan.organization_id} "
        f"(management account {plan.management_account_id}), from {plan.source}",
        "",
    ]
    if not plan.has_changes:
        out.append(f"No changes. {_compared(plan)}")
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
            f"  ! {o.stack_name} in {o.account_id} {o.region} (task {o.task})" for o in plan.orphans
        )
        out.append("")
    for warning in plan.warnings:
        out.append(str(warning))
    if plan.has_changes:
        out.append("Plan: " + _counts_sentence(plan) + ".")
    if plan.not_compared:
        out.append(_not_compared(plan))
    return "\n".join(out).rstrip() + "\n"


def _compared(plan: Plan) -> str:
    # A plan made from a full observation of the organization (what `plan` is given when it is
    # not told otherwise) compared everything.
    if not plan.compared:
        return "The organization matches the files."
    return f"Compared with AWS: {', '.join(plan.compared)}."


def _not_compared(plan: Plan) -> str:
    return f"Not compared with AWS: {', '.join(plan.not_compared)}; --refresh compares them."


def _counts_sentence(plan: Plan) -> str:
    return ", ".join(f"{count} to {action}" for action, count in plan.counts().items())


def render_markdown(plan: Plan) -> str:
    out = [
        f"### orgc plan for `{plan.organization_id}`",
        "",
        f"Management account `{plan.management_account_id}`, from `{plan.source}`.",
        "",
    ]
    if plan.not_compared:
        out.extend([f"_{_not_compared(plan)}_", ""])
    if not plan.has_changes:
        out.append(f"**No changes.** {_compared(plan)}")
    else:
        out.append(f"**Plan:** {_counts_sentence(plan)}.")
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
            f"- `{o.stack_name}` in `{o.account_id}` {o.region} (task `{o.task}`)"
            for o in plan.orphans
        )
    if plan.warnings:
        out.append("")
        out.append("**Warnings**")
        out.append("")
        out.extend(f"- `{w.code}` {w.message}" for w in plan.warnings)
    return "\n".join(out).rstrip() + "\n"


def render_json(plan: Plan) -> str:
    return dumps(plan)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
