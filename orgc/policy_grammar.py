"""The grammar of organization policy documents, checked before any AWS call.

AWS Organizations accepts a policy only if its document follows the policy language of its type;
orgc checks that offline so a misspelt key or a condition key that does not exist is a diagnostic
at its line, not an API error halfway through an apply — or, worse, a policy AWS accepts that
guards nothing (`aws:RequestRegion` instead of `aws:RequestedRegion` never matches, so a
region-deny statement with it denies everything or nothing).

The rules (keys, effects, condition operators, global condition keys) live in
`orgc/data/policy_grammar.json`, each with its source. `check_policy` returns findings with the
data path (relative to the document) of each mistake; the model stage turns them into
diagnostics at file:line:col.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from orgc.diagnostics import CodeId, did_you_mean

Path = tuple[str | int, ...]

# `service:Action` with IAM's wildcards; the service prefix is lower case.
_ACTION = re.compile(r"^[a-z0-9][a-z0-9-]*:[A-Za-z0-9*?]+$")
# arn:partition:service:region:account:resource, any part may hold wildcards.
_ARN = re.compile(r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:.+$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One mistake: `key` says whether it is about the key at `path` (else about its value)."""

    code: CodeId
    message: str
    path: Path
    key: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class _Grammar:
    versions: tuple[str, ...]
    permission_types: Mapping[str, Mapping[str, Any]]
    management_types: Mapping[str, Mapping[str, Any]]
    management_operators: tuple[str, ...]
    operators: frozenset[str]
    qualifiers: tuple[str, ...]
    if_exists: str
    global_keys: Mapping[str, str]  # lower case → as AWS spells it
    key_prefixes: tuple[str, ...]


@functools.cache
def _grammar() -> _Grammar:
    text = resources.files("orgc").joinpath("data/policy_grammar.json").read_text("utf-8")
    data = json.loads(text)
    management = dict(data["managementPolicies"])
    operators = management.pop("operators")
    return _Grammar(
        versions=tuple(data["versions"]["value"]),
        permission_types=data["policyTypes"],
        management_types=management,
        management_operators=tuple(operators["value"]),
        operators=frozenset(data["conditionOperators"]["value"]),
        qualifiers=tuple(data["conditionOperators"]["qualifiers"]),
        if_exists=data["conditionOperators"]["ifExistsSuffix"],
        global_keys={k.lower(): k for k in data["globalConditionKeys"]["value"]},
        key_prefixes=tuple(data["globalConditionKeys"]["prefixes"]),
    )


def check_policy(policy_type: str, document: Mapping[str, Any]) -> list[Finding]:
    """Every grammar mistake in `document`, a policy of `policy_type`, in document order."""
    grammar = _grammar()
    if policy_type in grammar.permission_types:
        return list(_permission_policy(grammar, policy_type, document))
    if policy_type in grammar.management_types:
        return list(_management_policy(grammar, policy_type, document))
    return []


# --- SCPs and RCPs: the IAM policy language ------------------------------------------------


def _permission_policy(
    grammar: _Grammar, policy_type: str, document: Mapping[str, Any]
) -> Iterator[Finding]:
    rules = grammar.permission_types[policy_type]
    yield from _unknown_keys(document, rules["topLevel"], (), "a policy document")
    versions = tuple(rules.get("versions", grammar.versions))
    version = document.get("Version")
    if version is None:
        yield Finding("E370", f"the policy has no Version; write Version: '{versions[0]}'", ())
    elif version not in versions:
        yield Finding(
            "E371",
            f"Version {version!r} is not a policy language version; "
            f"write {_either(versions)}{did_you_mean(str(version), versions)}",
            ("Version",),
        )
    statements = document.get("Statement")
    if statements is None:
        yield Finding("E370", "the policy has no Statement", ())
        return
    if isinstance(statements, Mapping):
        yield from _statement(grammar, policy_type, rules, statements, ("Statement",))
    elif isinstance(statements, list):
        for index, statement in enumerate(statements):
            path: Path = ("Statement", index)
            if isinstance(statement, Mapping):
                yield from _statement(grammar, policy_type, rules, statement, path)
            else:
                yield Finding("E371", "a statement is a mapping of Effect, Action, ...", path)
    else:
        yield Finding("E371", "Statement is a statement or a list of statements", ("Statement",))


def _statement(
    grammar: _Grammar,
    policy_type: str,
    rules: Mapping[str, Any],
    statement: Mapping[str, Any],
    path: Path,
) -> Iterator[Finding]:
    kind = "an SCP" if policy_type == "SERVICE_CONTROL_POLICY" else "an RCP"
    yield from _unknown_keys(statement, rules["statement"], path, f"a statement of {kind}")
    effects: Sequence[str] = rules["effects"]
    effect = statement.get("Effect")
    if effect is None:
        yield Finding("E370", f"the statement has no Effect; write {_either(effects)}", path)
    elif effect not in effects:
        hint = did_you_mean(str(effect), ("Allow", "Deny"))
        if effect in ("Allow", "Deny"):
            hint = " (AWS allows Allow only in its own RCPFullAWSAccess)"
        yield Finding(
            "E371",
            f"Effect {effect!r} is not allowed in {kind}; write {_either(effects)}{hint}",
            (*path, "Effect"),
        )
    actions = [key for key in ("Action", "NotAction") if key in statement]
    if not actions:
        allowed = [k for k in ("Action", "NotAction") if k in rules["statement"]]
        yield Finding("E370", f"the statement has no {_either(allowed)}", path)
    elif len(actions) > 1:
        yield Finding("E371", "a statement has Action or NotAction, not both", (*path, "NotAction"))
    for key in actions:
        yield from _each_string(statement[key], (*path, key), _action)
    resources_given = [key for key in ("Resource", "NotResource") if key in statement]
    if len(resources_given) > 1:
        yield Finding(
            "E371", "a statement has Resource or NotResource, not both", (*path, "NotResource")
        )
    for key in resources_given:
        yield from _each_string(statement[key], (*path, key), _resource)
    if policy_type == "RESOURCE_CONTROL_POLICY" and statement.get("Principal") != "*":
        yield Finding(
            "E371",
            "an RCP statement applies to every principal: write Principal: '*' and narrow it "
            "with a Condition",
            (*path, "Principal") if "Principal" in statement else path,
        )
    if "Condition" in statement:
        yield from _condition(grammar, statement["Condition"], (*path, "Condition"))


def _action(value: str, path: Path) -> Iterator[Finding]:
    if value != "*" and not _ACTION.match(value):
        yield Finding(
            "E372",
            f"action {value!r} is not service:Action (for example s3:GetObject, or '*')",
            path,
        )


def _resource(value: str, path: Path) -> Iterator[Finding]:
    if value != "*" and not _ARN.match(value):
        yield Finding(
            "E372",
            f"resource {value!r} is not an ARN (arn:partition:service:region:account:resource) "
            "or '*'",
            path,
        )


def _condition(grammar: _Grammar, condition: Any, path: Path) -> Iterator[Finding]:
    if not isinstance(condition, Mapping):
        yield Finding("E371", "Condition maps operators to {condition key: values}", path)
        return
    for operator, keys in condition.items():
        where = (*path, operator)
        if not _known_operator(grammar, str(operator)):
            known = sorted(grammar.operators)
            base = _base_operator(grammar, str(operator))
            yield Finding(
                "E373",
                f"{operator!r} is not a condition operator{did_you_mean(base, known)}",
                where,
                key=True,
            )
        if not isinstance(keys, Mapping):
            yield Finding("E371", f"{operator} maps condition keys to values", where)
            continue
        for key in keys:
            yield from _condition_key(grammar, str(key), (*where, key))


def _condition_key(grammar: _Grammar, key: str, path: Path) -> Iterator[Finding]:
    if not key.lower().startswith("aws:"):
        return  # a service's own key (s3:prefix, ec2:Region, ...): not in the global list
    if key.lower() in grammar.global_keys:
        return
    prefixed = any(key.lower().startswith(prefix.lower()) for prefix in grammar.key_prefixes)
    if prefixed and key.split("/", 1)[1]:
        return
    known = list(grammar.global_keys.values()) + [p + "…" for p in grammar.key_prefixes]
    yield Finding(
        "E374",
        f"{key!r} is not a global condition key, so the condition never matches"
        f"{did_you_mean(key, known)}",
        path,
        key=True,
    )


def _base_operator(grammar: _Grammar, operator: str) -> str:
    for qualifier in grammar.qualifiers:
        if operator.startswith(qualifier):
            operator = operator[len(qualifier) :]
    if operator.endswith(grammar.if_exists) and operator != grammar.if_exists:
        operator = operator[: -len(grammar.if_exists)]
    return operator


def _known_operator(grammar: _Grammar, operator: str) -> bool:
    base = _base_operator(grammar, operator)
    if base not in grammar.operators:
        return False
    # Null tests presence itself: it has no IfExists form.
    return not (base == "Null" and operator.endswith(grammar.if_exists))


# --- tag, backup and AI opt-out policies: management policy syntax -------------------------


def _management_policy(
    grammar: _Grammar, policy_type: str, document: Mapping[str, Any]
) -> Iterator[Finding]:
    top_level = grammar.management_types[policy_type]["topLevel"]
    yield from _unknown_keys(document, top_level, (), f"a {_readable(policy_type)}")
    yield from _operators(grammar, document, ())


def _operators(grammar: _Grammar, value: Any, path: Path) -> Iterator[Finding]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = (*path, key)
            operator = isinstance(key, str) and key.startswith("@@")
            if operator and key not in grammar.management_operators:
                yield Finding(
                    "E373",
                    f"{key!r} is not an inheritance operator"
                    f"{did_you_mean(key, grammar.management_operators)}",
                    where,
                    key=True,
                )
            yield from _operators(grammar, item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _operators(grammar, item, (*path, index))


# --- shared --------------------------------------------------------------------------------


def _unknown_keys(
    value: Mapping[str, Any], known: Sequence[str], path: Path, what: str
) -> Iterator[Finding]:
    for key in value:
        if key not in known:
            yield Finding(
                "E371",
                f"{key!r} is not a key of {what}{did_you_mean(str(key), known)}",
                (*path, key),
                key=True,
            )


def _each_string(
    value: Any, path: Path, check: Callable[[str, Path], Iterator[Finding]]
) -> Iterator[Finding]:
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        where = (*path, index) if isinstance(value, list) else path
        if isinstance(item, str):
            yield from check(item, where)
        elif not isinstance(item, Mapping):  # a mapping is an expression the model resolves
            yield Finding("E371", f"{path[-1]} holds strings", where)


def _either(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _readable(policy_type: str) -> str:
    return policy_type.lower().replace("_", " ").replace("aiservices", "AI services")
