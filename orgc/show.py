"""A plan shown to people: text for the terminal, Markdown for a pull request, JSON for tools.

Rendering only: every fact shown comes from the `Plan`; nothing is looked up here.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterator, Mapping

from orgc.guardrails import destructive_counts
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
    StackRemoval,
    StackSetCreate,
    StackSetDelete,
    StackSetUpdate,
    TemplateChanges,
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
    lines.extend(_template_lines(spec.template_changes))
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
        elif markers(value) and source is not None and source.producer_change and name in previous:
            # The producer changes in this plan: the value deployed now, which may change.
            lines.append(
                f"{name} = {previous[name]!r}{origin}; may change: {source.producer} changes "
                "in this plan"
            )
        elif previous.get(name) != value:
            before = repr(previous[name]) if name in previous else "(none)"
            lines.append(f"{name}: {before} → {_shown(value)}{origin}")
        elif source:
            lines.append(f"{name} = {_shown(value)}{origin}")
    return lines


def _template_lines(changes: TemplateChanges | None) -> list[str]:
    """An update's template changes: resources by logical id, then the bounded diff."""
    if changes is None:
        return []
    lines = [
        f"{_RESOURCE_SYMBOLS[r.change]} resource {r.logical_id} ({r.resource_type}) {r.change}"
        for r in changes.resources
    ]
    if changes.sections:
        lines.append(f"~ template sections changed: {', '.join(changes.sections)}")
    lines.extend(changes.diff)
    if changes.lines_cut:
        lines.append(f"… {changes.lines_cut} more line(s) of template diff not shown")
    return lines


_RESOURCE_SYMBOLS = {"added": "+", "removed": "-", "modified": "~"}


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
            f"  ! {o.stack_name} in {o.account_id} {o.region} (task {o.task})" for o in plan.orphans
        )
        out.append("")
    if plan.skipped:
        out.append("Skipped:")
        out.extend(f"  ~ {sentence}" for sentence in plan.skipped)
        out.append("")
    for warning in plan.warnings:
        out.append(str(warning))
    if plan.has_changes:
        out.append("Plan: " + _counts_sentence(plan) + ".")
        destructive = destructive_counts(plan)
        if destructive:
            out.append("Destructive:")
            out.extend(f"  - {count} {label}" for label, count in destructive)
    deletes = _deletes(plan)
    if deletes:
        out.append(f"DELETES: {deletes}.")
    if plan.not_compared:
        out.append(_not_compared(plan))
    return "\n".join(out).rstrip() + "\n"


# What a change removes for good from AWS: a reviewer must not miss one among many changes.
_REMOVES = frozenset({Action.DELETE, Action.CLOSE})


def _deletes(plan: Plan) -> str:
    """The changes that delete something, counted by kind and named: "" when there are none."""
    by_kind: dict[ChangeKind, list[str]] = {}
    for change in plan.changes:
        if change.action in _REMOVES:
            name = change.logical_id or change.physical_id or change.id
            by_kind.setdefault(change.kind, []).append(name)
    return "; ".join(
        f"{len(names)} {kind}(s) ({', '.join(names)})" for kind, names in by_kind.items()
    )


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


def _closes(plan: Plan, quote: str = "") -> str:
    return ", ".join(
        f"{quote}{c.physical_id}{quote} ({c.logical_id})"
        for c in plan.changes
        if c.kind is ChangeKind.ACCOUNT and c.action is Action.CLOSE
    )


# GitHub refuses a comment over 65,536 characters; the default leaves room for a pipeline's own
# header and footer around the plan.
MARKDOWN_MAX_BYTES = 60_000

# Changes a reviewer must read one by one: what removes, unhooks, moves or closes, and what
# changes a policy's content (a guardrail changes meaning).
_RISKY_ACTIONS = frozenset(
    {
        Action.DELETE,
        Action.DETACH,
        Action.MOVE,
        Action.CLOSE,
        Action.REPLACE,
        Action.FORGET,
    }
)


def _risky(change: Change) -> bool:
    if change.action in _RISKY_ACTIONS:
        return True
    spec = change.spec
    return isinstance(spec, PolicyUpdate) and "document" in spec.changes


# Markdown punctuation that could turn text into markup, and the characters HTML eats: an email
# written `<aws+x@example.com>` is an unknown tag to GitHub and vanishes.
_MARKDOWN_SPECIALS = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
    }
)


def markdown_text(text: str) -> str:
    """`text` shown as itself in Markdown (a table cell included): HTML's and Markdown's special
    characters escaped."""
    return text.translate(_MARKDOWN_SPECIALS)


def _fenced(lines: list[str]) -> list[str]:
    """`lines` as a code block, fenced with more backticks than any run of them in `lines`."""
    ticks = 3
    for line in lines:
        run = 0
        for character in line:
            run = run + 1 if character == "`" else 0
            ticks = max(ticks, run + 1)
    fence = "`" * ticks
    language = "diff" if any(line.startswith(("+", "-")) for line in lines) else ""
    return [f"{fence}{language}", *lines, fence]


def _change_block(change: Change) -> str:
    symbol = _SYMBOLS.get(change.action, "?")
    lines = [f"- `{symbol}` {markdown_text(change.summary)}"]
    details = _detail_lines(change)
    if details:
        lines.append("")
        lines.extend(f"  {line}" if line else "" for line in _fenced(details))
    return "\n".join(lines)


def _summary_table(plan: Plan) -> list[str]:
    actions = sorted({c.action.value for c in plan.changes})
    counts: dict[tuple[ChangeKind, str], int] = {}
    for change in plan.changes:
        key = (change.kind, change.action.value)
        counts[key] = counts.get(key, 0) + 1
    out = [
        "| Kind | " + " | ".join(actions) + " |",
        "|---|" + "---:|" * len(actions),
    ]
    for kind, _ in _grouped(plan):
        cells = [str(counts.get((kind, a), "")) for a in actions]
        out.append(f"| {_HEADINGS[kind]} | " + " | ".join(cells) + " |")
    return out


def _stack_account(change: Change) -> str | None:
    spec = change.spec
    if isinstance(spec, (StackDeploy, StackRemoval)):
        address = spec.address
        return address.account or address.account_id or "?"
    return None


def _accounts_table(plan: Plan) -> list[str]:
    """Stack changes per account, for a landing zone that touches many."""
    per_account: dict[str, dict[str, int]] = {}
    for change in plan.changes:
        account = _stack_account(change)
        if account is not None:
            row = per_account.setdefault(account, {})
            row[change.action.value] = row.get(change.action.value, 0) + 1
    if not per_account:
        return []
    actions = sorted({a for row in per_account.values() for a in row})
    out = [
        "| Stacks in account | " + " | ".join(actions) + " |",
        "|---|" + "---:|" * len(actions),
    ]
    for account, row in sorted(per_account.items()):
        cells = [str(row.get(a, "")) for a in actions]
        out.append(f"| {markdown_text(account)} | " + " | ".join(cells) + " |")
    if len(per_account) > _OPEN_ACCOUNT_ROWS:
        summary = f"Stack changes in {len(per_account)} accounts"
        return [f"<details><summary>{summary}</summary>", "", *out, "", "</details>"]
    return out


# A table of stack changes per account longer than this is collapsed.
_OPEN_ACCOUNT_ROWS = 20


def render_markdown(
    plan: Plan, *, max_bytes: int = MARKDOWN_MAX_BYTES, artefact: str | None = None
) -> str:
    """The plan as a pull-request comment of at most `max_bytes` bytes (UTF-8).

    A summary first (changes per kind and action, stack changes per account), then the risky
    changes spelled out one by one (deletes, detaches, moves, closes, replacements, policy
    content changes), then the rest collapsed. When it does not fit, it is cut between two
    changes, with a line saying how many are shown and where the whole plan is: `orgc show` of
    the saved plan `artefact` (the file name the pipeline keeps it under).
    """
    head = [
        f"### orgc plan for `{plan.organization_id}`",
        "",
        f"Management account `{plan.management_account_id}`, from "
        f"`{plan.source.replace('`', chr(39))}`.",
        "",
    ]
    if plan.not_compared:
        head.extend([f"_{markdown_text(_not_compared(plan))}_", ""])
    if plan.skipped:
        head.extend([f"- Skipped: {markdown_text(sentence)}" for sentence in plan.skipped])
        head.append("")
    risky = [c for c in plan.changes if _risky(c)]
    rest = [c for c in plan.changes if not _risky(c)]
    if not plan.has_changes:
        head.append(f"**No changes.** {markdown_text(_compared(plan))}")
    else:
        head.extend([f"**Plan:** {_counts_sentence(plan)}.", ""])
        closes = _closes(plan, "`")
        if closes:
            head.extend([f"**Accounts to close:** {closes}.", ""])
        destructive = destructive_counts(plan)
        if destructive:
            head.extend(["**Destructive:**", ""])
            head.extend(f"- **{count}** {label}" for label, count in destructive)
            head.append("")
        deletes = _deletes(plan)
        if deletes:
            head.extend([f"> **Deletes:** {markdown_text(deletes)}.", ""])
        head.extend(_summary_table(plan))
        accounts = _accounts_table(plan)
        if accounts:
            head.extend(["", *accounts])
    tail: list[str] = []
    if plan.unchanged:
        tail.extend(["", f"{len(plan.unchanged)} target(s) unchanged."])
    if plan.orphans:
        tail.extend(
            [
                "",
                "**Orphaned stacks** (their task left the files; `--perform-cleanup` deletes them)",
                "",
            ]
        )
        tail.extend(
            f"- {markdown_text(o.stack_name)} in `{o.account_id}` {markdown_text(o.region)} "
            f"(task {markdown_text(o.task)})"
            for o in plan.orphans
        )
    if plan.warnings:
        tail.extend(["", "**Warnings**", ""])
        tail.extend(f"- `{w.code}` {markdown_text(w.message)}" for w in plan.warnings)
    return _fit(plan, head, risky, rest, tail, max_bytes=max_bytes, artefact=artefact)


def _fit(
    plan: Plan,
    head: list[str],
    risky: list[Change],
    rest: list[Change],
    tail: list[str],
    *,
    max_bytes: int,
    artefact: str | None,
) -> str:
    """Head, the changes and the tail, cut between changes so that the whole fits."""
    parts = ["\n".join(head)]
    size = len(parts[0].encode())
    total = len(plan.changes)
    tail_text = "\n".join(tail)
    reserve = len(tail_text.encode()) + len(_cut_note(total, total, artefact).encode()) + 64
    shown = 0
    cut = False

    def add(text: str) -> bool:
        nonlocal size
        cost = len(text.encode()) + 1
        if size + cost + reserve > max_bytes:
            return False
        parts.append(text)
        size += cost
        return True

    if risky:
        add("")
        add(f"#### Changes to review one by one ({len(risky)})")
        add("")
        for change in risky:
            if not add(_change_block(change)):
                cut = True
                break
            shown += 1
    if rest and not cut:
        add("")
        opened = add(
            f"<details><summary>{len(rest)} other change{'s' * (len(rest) != 1)}</summary>\n"
        )
        cut = not opened
        if opened:
            for change in rest:
                if not add(_change_block(change)):
                    cut = True
                    break
                shown += 1
            parts.append("\n</details>")
    if cut:
        parts.extend(["", _cut_note(shown, total, artefact)])
    return "\n".join(parts + tail).rstrip() + "\n"


def _cut_note(shown: int, total: int, artefact: str | None) -> str:
    where = f"`orgc show {artefact}`" if artefact else "`orgc show` of the saved plan"
    return (
        f"**Cut to fit a comment: {shown} of {total} changes shown.** The whole plan: {where} "
        "(the plan saved with `orgc plan --out`)."
    )


def render_json(plan: Plan) -> str:
    return dumps(plan)


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
