"""Guardrails: what no file, state or plan may do, checked after planning and before any write.

`check(plan, organization, live)` is pure. It reads the plan through a few accessors (which
change attaches or detaches what, which account is closed or moved), builds the service control
policies every target holds before and after the plan, and refuses:

- deleting, updating or detaching a policy AWS manages, and detaching FullAWSAccess where no
  other Allow-everything SCP stays attached (E620, E621);
- closing or removing the management account, or moving it under SCPs that lock it out (E624);
- closing an account whose id or email the files still declare (E625), deleting a policy they
  still declare (E626);
- leaving a level of any target's path (root → OUs → account) with no Allow statement (E622),
  or putting a Deny-everything statement on the root or on the path of a member account orgc
  reaches through its access role (E623). Only these two yield to `allow_lockout`, as W621
  warnings: a human can mean to fence accounts off; nobody means the others.

A lockout the live organization already has and the plan leaves as it is is a warning (W622):
refusing every plan for it would also refuse the plan that repairs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orgc.diagnostics import CodeId, Diagnostic, Span
from orgc.model import Organization
from orgc.observed import SERVICE_CONTROL_POLICY, LiveOrganization
from orgc.plan import ROOT, Action, Change, ChangeKind, Plan, PlanError
from orgc.plan.specs import AccountClose, AccountMove, Attach, Detach, PolicyTypeEnable
from orgc.state import is_aws_managed_policy_id

FULL_AWS_ACCESS = "p-FullAWSAccess"  # AWS attaches it to every new root, OU and account
OVERRIDE_FLAG = "--allow-scp-lockout"

# --- reading SCP documents ------------------------------------------------------------------


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _statements(document: str) -> list[Mapping[str, Any]]:
    try:
        parsed = json.loads(document)
    except ValueError:
        return []
    found = parsed.get("Statement") if isinstance(parsed, dict) else None
    if isinstance(found, dict):
        found = [found]
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def _every_action(actions: tuple[str, ...]) -> bool:
    return any(a in ("*", "*:*") for a in actions)


def _every_resource(statement: Mapping[str, Any]) -> bool:
    if "NotResource" in statement:
        return False
    return "Resource" not in statement or "*" in _strings(statement["Resource"])


def denies_everything(statement: Mapping[str, Any]) -> bool:
    """Deny, every action (`*`, or any NotAction), every resource, no Condition."""
    return (
        statement.get("Effect") == "Deny"
        and "Condition" not in statement
        and ("NotAction" in statement or _every_action(_strings(statement.get("Action"))))
        and _every_resource(statement)
    )


def allows_everything(statement: Mapping[str, Any]) -> bool:
    """Allow, action `*`, every resource, no Condition: what FullAWSAccess says."""
    return (
        statement.get("Effect") == "Allow"
        and "Condition" not in statement
        and "NotAction" not in statement
        and _every_action(_strings(statement.get("Action")))
        and _every_resource(statement)
    )


def allows_something(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow" and bool(
        _strings(statement.get("Action")) or "NotAction" in statement
    )


# --- the organization's SCPs before and after the plan ----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Target:
    key: str  # the physical id, or "new:<kind>:<logical id>" for one the plan creates
    label: str
    parent: str | None  # key of the parent; None for the root
    scps: frozenset[str]  # keys of the attached SCPs
    member: bool = False  # an account of the files: orgc reaches it (its access role, stacks)
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Scps:
    enabled: bool
    targets: dict[str, _Target]
    documents: dict[str, str]  # SCP key → document
    names: dict[str, str]  # SCP key → name
    spans: dict[str, Span | None]  # SCP key → where the files declare it


def _target_key(kind: str, logical_id: str | None, physical_id: str | None) -> str:
    return physical_id or f"new:{kind}:{logical_id}"


# The plan's changes as this module reads them (the few lines that know the specs).
def _attachment(change: Change) -> tuple[str, str]:
    """(policy, target key) of an attach (policy: logical id) or a detach (policy: its id)."""
    spec = change.spec
    if isinstance(spec, Attach):
        policy = spec.policy
    elif isinstance(spec, Detach):
        policy = spec.policy_id
    else:
        raise TypeError(f"{change.id} is not a policy attachment")
    return policy, _target_key(str(spec.target), change.logical_id, change.physical_id)


def _destination(change: Change) -> str:
    """Logical id of the OU (or ROOT) an account move puts the account in."""
    if not isinstance(change.spec, AccountMove):
        raise TypeError(f"{change.id} is not an account move")
    return change.spec.destination


def _closed_email(change: Change) -> str:
    return change.spec.email if isinstance(change.spec, AccountClose) else ""


def _enables_scps(change: Change) -> bool:
    spec = change.spec
    return isinstance(spec, PolicyTypeEnable) and spec.policy_type == SERVICE_CONTROL_POLICY


def _changes(plan: Plan, kind: ChangeKind, *actions: Action) -> Iterator[Change]:
    return (c for c in plan.changes if c.kind is kind and c.action in actions)


def _live_scps(live: LiveOrganization) -> _Scps:
    scp_ids = {
        p for p, policy in live.policies.items() if policy.policy_type == SERVICE_CONTROL_POLICY
    }

    def scps(policy_ids: Iterable[str]) -> frozenset[str]:
        return frozenset(p for p in policy_ids if p in scp_ids)

    targets = {
        live.root.root_id: _Target(
            key=live.root.root_id, label="the root", parent=None, scps=scps(live.root.policy_ids)
        )
    }
    for ou in live.organizational_units.values():
        targets[ou.ou_id] = _Target(
            key=ou.ou_id,
            label=f"OU {ou.name} ({ou.ou_id})",
            parent=ou.parent_id,
            scps=scps(ou.policy_ids),
        )
    for account in live.accounts.values():
        if account.status != "ACTIVE":
            continue
        targets[account.account_id] = _Target(
            key=account.account_id,
            label=f"account {account.name} ({account.account_id})",
            parent=account.parent_id,
            scps=scps(account.policy_ids),
        )
    return _Scps(
        enabled=SERVICE_CONTROL_POLICY in live.root.enabled_policy_types,
        targets=targets,
        documents={p: live.policies[p].content for p in scp_ids},
        names={p: live.policies[p].name for p in scp_ids},
        spans=dict.fromkeys(scp_ids),
    )


def _planned_scps(plan: Plan, organization: Organization, live: LiveOrganization) -> _Scps:
    """The SCPs of every target once the plan is applied."""
    before = _live_scps(live)
    ids = plan.ids
    policy_keys = {
        logical_id: _target_key("policy", logical_id, ids.policies.get(logical_id))
        for logical_id in organization.policies
    }
    documents, names, spans = dict(before.documents), dict(before.names), dict(before.spans)
    for logical_id, policy in organization.policies.items():
        if policy.policy_type == SERVICE_CONTROL_POLICY:
            key = policy_keys[logical_id]
            documents[key], names[key], spans[key] = policy.document, policy.name, policy.span
    ou_ids = ids.organizational_units
    account_ids = ids.accounts

    def ou_key(logical_id: str | None) -> str:
        if logical_id is None or logical_id == ROOT:
            return live.root.root_id
        return _target_key("organizational-unit", logical_id, ou_ids.get(logical_id))

    deleted = {c.physical_id for c in _changes(plan, ChangeKind.ORGANIZATIONAL_UNIT, Action.DELETE)}
    closed = {c.physical_id for c in _changes(plan, ChangeKind.ACCOUNT, Action.CLOSE)}
    targets: dict[str, _Target] = {
        k: t for k, t in before.targets.items() if k not in deleted and k not in closed
    }
    for ou in organization.organizational_units.values():
        key = ou_key(ou.logical_id)
        targets[key] = _Target(
            key=key,
            label=f"OU {ou.name} ({ou.logical_id})",
            parent=ou_key(ou.parent),
            scps=targets[key].scps if key in targets else frozenset({FULL_AWS_ACCESS}),
            span=ou.span,
        )
    for account in organization.accounts.values():
        key = _target_key("account", account.logical_id, account_ids.get(account.logical_id))
        existing = live.accounts.get(key)
        if existing is not None and existing.status != "ACTIVE":
            continue
        targets[key] = _Target(
            key=key,
            label=f"account {account.name} ({account.logical_id})",
            parent=ou_key(account.parent),
            scps=targets[key].scps if key in targets else frozenset({FULL_AWS_ACCESS}),
            member=True,
            span=account.span,
        )
    for change in _changes(plan, ChangeKind.ACCOUNT, Action.MOVE):
        if change.logical_id is None and change.physical_id in targets:  # unmanaged, with its OU
            moved = targets[change.physical_id]
            targets[moved.key] = replace(moved, parent=ou_key(_destination(change)))
    if organization.root.span is not None:
        targets[live.root.root_id] = replace(
            targets[live.root.root_id], span=organization.root.span
        )
    for change in _changes(plan, ChangeKind.ATTACHMENT, Action.DETACH):
        policy_id, key = _attachment(change)
        if key in targets:
            targets[key] = replace(targets[key], scps=targets[key].scps - {policy_id})
    for change in _changes(plan, ChangeKind.ATTACHMENT, Action.ATTACH):
        logical_id, key = _attachment(change)
        wanted = organization.policies.get(logical_id)
        if key in targets and wanted is not None and wanted.policy_type == SERVICE_CONTROL_POLICY:
            targets[key] = replace(targets[key], scps=targets[key].scps | {policy_keys[logical_id]})
    enabled = before.enabled or any(
        _enables_scps(c) for c in _changes(plan, ChangeKind.POLICY_TYPE, Action.ENABLE)
    )
    if enabled and not before.enabled:
        # Enabling SCPs attaches FullAWSAccess everywhere before anything else is attached.
        targets = {k: replace(t, scps=t.scps | {FULL_AWS_ACCESS}) for k, t in targets.items()}
    documents.setdefault(
        FULL_AWS_ACCESS, '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    )
    names.setdefault(FULL_AWS_ACCESS, "FullAWSAccess")
    return _Scps(enabled=enabled, targets=targets, documents=documents, names=names, spans=spans)


# --- lockouts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class _Lockout:
    code: CodeId  # E622 (no Allow path) or E623 (deny everything)
    level: str  # key of the target whose SCPs cause it
    policy: str = ""  # key of the deny-everything SCP (E623)


def _path(scps: _Scps, target: _Target) -> list[_Target]:
    """The target and its ancestors up to the root, nearest first."""
    path, seen = [target], {target.key}
    while path[-1].parent is not None and path[-1].parent in scps.targets:
        parent = scps.targets[path[-1].parent]
        if parent.key in seen:
            break
        path.append(parent)
        seen.add(parent.key)
    return path


def _lockouts(scps: _Scps, root_key: str) -> dict[_Lockout, list[_Target]]:
    """Each lockout, with the targets it shuts out."""
    found: dict[_Lockout, list[_Target]] = {}
    if not scps.enabled:
        return found
    statements = {key: _statements(document) for key, document in scps.documents.items()}
    for target in sorted(scps.targets.values(), key=lambda t: t.key):
        for level in _path(scps, target):
            held = [statements.get(p, []) for p in sorted(level.scps)]
            if not any(allows_something(s) for policy in held for s in policy):
                found.setdefault(_Lockout(code="E622", level=level.key), []).append(target)
            if level.key != root_key and not target.member:
                continue
            for policy in sorted(level.scps):
                if any(denies_everything(s) for s in statements.get(policy, [])):
                    lockout = _Lockout(code="E623", level=level.key, policy=policy)
                    found.setdefault(lockout, []).append(target)
    return found


def _shut_out(targets: list[_Target]) -> str:
    accounts = [t.label.removeprefix("account ") for t in targets if t.label.startswith("account")]
    if not accounts:
        return "nothing can be allowed under it"
    shown = ", ".join(accounts[:3]) + (
        f" and {len(accounts) - 3} more" if len(accounts) > 3 else ""
    )
    return f"every action would be denied to {len(accounts)} account(s) under it ({shown})"


def _lockout_message(lockout: _Lockout, scps: _Scps, targets: list[_Target]) -> str:
    level = scps.targets[lockout.level]
    if lockout.code == "E622":
        return (
            f"{level.label} would have no SCP that allows anything: {_shut_out(targets)}, "
            "orgc's access role included; attach an Allow SCP there"
        )
    return (
        f"SCP {scps.names.get(lockout.policy, lockout.policy)} on {level.label} denies every "
        f"action on every resource with no Condition: {_shut_out(targets)}, orgc's access "
        "role included; exempt the role with a Condition or narrow its actions"
    )


# --- the checks -----------------------------------------------------------------------------


def _aws_managed(live: LiveOrganization | None, policy_id: str | None) -> bool:
    if not policy_id:
        return False
    if live is not None and policy_id in live.policies:
        return live.policies[policy_id].aws_managed
    return is_aws_managed_policy_id(policy_id)


def check(
    plan: Plan,
    organization: Organization,
    live: LiveOrganization | None,
    *,
    allow_lockout: bool = False,
) -> tuple[Diagnostic, ...]:
    """Every refusal (errors) and notice (warnings) for `plan`. `live` is the organization the
    plan was made against; None when it was not read (a plan with no organization changes), and
    then only what the plan alone shows is checked."""
    found: list[Diagnostic] = []
    management_id = plan.management_account_id
    management = organization.management_account

    declared_policies = {v: k for k, v in plan.ids.policies.items() if v}
    for change in _changes(plan, ChangeKind.POLICY, Action.DELETE, Action.UPDATE):
        if _aws_managed(live, change.physical_id):
            found.append(
                Diagnostic(
                    "E620",
                    f"refusing to {change.action} {change.physical_id}: it is managed by AWS "
                    "and orgc never changes it; if the state names it, import the state again",
                )
            )
        elif change.action is Action.DELETE and change.physical_id in declared_policies:
            owner = declared_policies[change.physical_id]
            found.append(
                Diagnostic(
                    "E626",
                    f"refusing to delete policy {change.physical_id}: the files still declare "
                    f"it as {owner}",
                    organization.policies[owner].span if owner in organization.policies else None,
                )
            )
    after = _planned_scps(plan, organization, live) if live is not None else None
    for change in _changes(plan, ChangeKind.ATTACHMENT, Action.DETACH):
        policy_id, key = _attachment(change)
        if not _aws_managed(live, policy_id):
            continue
        if policy_id == FULL_AWS_ACCESS and after is not None:
            target = after.targets.get(key)
            if target is None:
                continue  # the target itself goes (a deleted OU, a closed account)
            replaced = any(
                allows_everything(s)
                for other in target.scps - {policy_id}
                for s in _statements(after.documents.get(other, ""))
            )
            if replaced:
                continue
            found.append(
                Diagnostic(
                    "E621",
                    f"refusing to detach FullAWSAccess from {target.label}: no other SCP that "
                    "allows every action stays attached there; attach one in the same plan",
                    target.span,
                )
            )
            continue
        found.append(
            Diagnostic(
                "E620",
                f"refusing to detach AWS-managed policy {policy_id} from {change.physical_id}: "
                "orgc never detaches policies AWS manages",
            )
        )

    declared_emails = {
        a.email.lower(): a.logical_id for a in organization.accounts.values() if a.email
    }
    declared_ids = {v: k for k, v in plan.ids.accounts.items() if v}
    for change in _changes(plan, ChangeKind.ACCOUNT, Action.CLOSE):
        account_id = change.physical_id or ""
        if account_id == management_id:
            found.append(
                Diagnostic(
                    "E624",
                    f"refusing to {change.action} the management account {account_id}: orgc "
                    "never closes or removes it",
                    management.span,
                )
            )
            continue
        live_account = live.accounts.get(account_id) if live is not None else None
        email = _closed_email(change) or (live_account.email if live_account else "")
        still = declared_ids.get(account_id) or declared_emails.get(email.lower())
        if still:
            found.append(
                Diagnostic(
                    "E625",
                    f"refusing to close account {account_id}: the files still declare it as "
                    f"{still}; accounts are closed only when the files drop them",
                    organization.accounts[still].span,
                )
            )

    if after is None or live is None:
        return tuple(sorted(found, key=Diagnostic.sort_key))
    before = _live_scps(live)
    root_key = live.root.root_id
    known = _lockouts(before, root_key)
    management_key = management.account_id or management_id
    for lockout, targets in sorted(_lockouts(after, root_key).items()):
        span = after.spans.get(lockout.policy) or after.targets[lockout.level].span
        message = _lockout_message(lockout, after, targets)
        if any(t.key == management_key for t in targets) and any(
            c.logical_id == management.logical_id
            for c in _changes(plan, ChangeKind.ACCOUNT, Action.MOVE)
        ):
            found.append(
                Diagnostic(
                    "E624",
                    f"refusing to move the management account under "
                    f"{after.targets[lockout.level].label}: {message}",
                    management.span,
                )
            )
        previously = known.get(lockout)
        if previously is not None and {t.key for t in targets} <= {t.key for t in previously}:
            found.append(Diagnostic("W622", f"{message} (already so; this plan leaves it)", span))
        elif allow_lockout:
            found.append(Diagnostic("W621", f"{message} ({OVERRIDE_FLAG} lets it through)", span))
        else:
            found.append(
                Diagnostic(
                    lockout.code,
                    f"{message}, or pass {OVERRIDE_FLAG} if the lockout is what you mean",
                    span,
                )
            )
    return tuple(sorted(set(found), key=Diagnostic.sort_key))


def enforce(
    plan: Plan,
    organization: Organization,
    live: LiveOrganization | None,
    *,
    allow_lockout: bool = False,
) -> Plan:
    """`plan` with the guardrails' warnings added; PlanError when any guardrail refuses it."""
    found = check(plan, organization, live, allow_lockout=allow_lockout)
    errors = [d for d in found if not d.code.startswith("W")]
    if errors:
        raise PlanError(errors)
    if not found:
        return plan
    warnings = tuple(sorted({*plan.warnings, *found}, key=Diagnostic.sort_key))
    return replace(plan, warnings=warnings)


# --- the summary ----------------------------------------------------------------------------

# What a reviewer must not miss, each counted on its own line: (kind, action) → label.
DESTRUCTIVE: dict[tuple[ChangeKind, Action], str] = {
    (ChangeKind.ACCOUNT, Action.CLOSE): "account(s) to close",
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.DELETE): "OU(s) to delete",
    (ChangeKind.POLICY, Action.DELETE): "policy(ies) to delete",
    (ChangeKind.ATTACHMENT, Action.DETACH): "policy attachment(s) to detach",
    (ChangeKind.ALIAS, Action.DELETE): "account alias(es) to delete",
    (ChangeKind.PASSWORD_POLICY, Action.DELETE): "password policy(ies) to delete",
    (ChangeKind.STACK, Action.DELETE): "stack(s) to delete",
    (ChangeKind.STACK, Action.REPLACE): "stack(s) to delete and create again",
    (ChangeKind.STACK_SET, Action.DELETE): "StackSet(s) to delete",
    (ChangeKind.STACK_SET_INSTANCES, Action.DELETE): "StackSet instance request(s) to delete",
    (ChangeKind.PERMISSION_SET, Action.DELETE): "permission set(s) to delete",
    (ChangeKind.ACCOUNT_ASSIGNMENT, Action.DELETE): "account assignment(s) to delete",
    (ChangeKind.S3_OBJECT, Action.DELETE): "S3 object(s) to delete",
}


def destructive_counts(plan: Plan) -> list[tuple[str, int]]:
    """(label, count) for every kind of destructive change the plan holds, in DESTRUCTIVE's
    order."""
    counts = dict.fromkeys(DESTRUCTIVE, 0)
    for change in plan.changes:
        if (change.kind, change.action) in counts:
            counts[(change.kind, change.action)] += 1
    return [(DESTRUCTIVE[key], count) for key, count in counts.items() if count]
