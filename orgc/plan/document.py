"""The plan as data: `Change`, `Plan`, their JSON form, and the content digests they carry.

A plan is deterministic: sorted keys, no timestamps, no absolute paths. Values known only after
apply (the id of an account this plan creates) are None in `Plan.ids` until apply fills them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from orgc.diagnostics import Diagnostic, Span, StageError
from orgc.observed import LiveOrganization
from orgc.state import State

PLAN_FORMAT = "orgc-plan"
PLAN_VERSION = 1

# Kinds of things a change acts on, in the order a reader wants to see them.
KINDS = (
    "policy-type",
    "policy",
    "organizational-unit",
    "account",
    "attachment",
    "tags",
    "alias",
    "password-policy",
    "stack",
    "stack-set",
    "stack-set-instances",
    "s3-object",
)

ROOT = "root"  # the logical name of the organization root in `ids`


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One step. `details` is plain JSON-able data that apply needs and reviewers read."""

    id: str  # unique and stable, e.g. "account.create:Payments"
    kind: str  # one of KINDS
    action: str  # create, adopt, update, rename, move, replace, delete, attach, detach, ...
    logical_id: str | None
    physical_id: str | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    # ids of changes that must finish first; "task:<name>" waits for every change of that group
    after: tuple[str, ...] = ()
    group: str | None = None  # the task this change belongs to (see `Plan.groups`)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "id": self.id,
            "kind": self.kind,
            "action": self.action,
            "logicalId": self.logical_id,
            "physicalId": self.physical_id,
            "summary": self.summary,
            "details": self.details,
            "after": list(self.after),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            id=data["id"],
            kind=data["kind"],
            action=data["action"],
            logical_id=data["logicalId"],
            physical_id=data["physicalId"],
            summary=data["summary"],
            details=dict(data["details"]),
            after=tuple(data["after"]),
            group=data.get("group"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    source: str  # the path the plan was made from, as given
    management_account_id: str
    organization_id: str
    inputs_digest: str  # of the desired model
    observed_digest: str  # of the live organization and the state it was compared with
    # logical ids → physical ids, by table ("accounts", "organizationalUnits", "policies");
    # None where the thing is created by this plan. `ROOT` is in "organizationalUnits".
    ids: dict[str, dict[str, str | None]]
    changes: tuple[Change, ...]
    warnings: tuple[Diagnostic, ...] = ()
    # Task name → how apply runs its changes: {"maxConcurrent": int | None, "failureTolerance":
    # int, "where": "file:line:col"}. A group fails when more of its changes fail than tolerated.
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()  # stack targets ("task/account/region") already as wanted
    # Stacks of tasks no longer in the files, left alone unless cleanup was asked for.
    orphans: tuple[dict[str, str], ...] = ()
    # How the plan was asked for, so a saved plan can be checked against fresh inputs:
    # {"parameters": {...}, "performCleanup": bool}.
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for change in self.changes:
            result[change.action] = result.get(change.action, 0) + 1
        return dict(sorted(result.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "source": self.source,
            "managementAccountId": self.management_account_id,
            "organizationId": self.organization_id,
            "inputsDigest": self.inputs_digest,
            "observedDigest": self.observed_digest,
            "summary": self.counts(),
            "ids": self.ids,
            "changes": [c.to_json() for c in self.changes],
            "groups": self.groups,
            "unchanged": list(self.unchanged),
            "orphans": list(self.orphans),
            "options": self.options,
            "warnings": [
                {
                    "code": w.code,
                    "message": w.message,
                    "where": str(w.span) if w.span else None,
                }
                for w in self.warnings
            ],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """Raises KeyError, TypeError or ValueError on a document that is not a plan."""
        if data.get("format") != PLAN_FORMAT or data.get("version") != PLAN_VERSION:
            raise ValueError("not an orgc plan of this version")
        return cls(
            source=data["source"],
            management_account_id=data["managementAccountId"],
            organization_id=data["organizationId"],
            inputs_digest=data["inputsDigest"],
            observed_digest=data["observedDigest"],
            ids={table: dict(values) for table, values in data["ids"].items()},
            changes=tuple(Change.from_json(c) for c in data["changes"]),
            groups={name: dict(group) for name, group in data.get("groups", {}).items()},
            unchanged=tuple(data.get("unchanged", ())),
            orphans=tuple(dict(o) for o in data.get("orphans", ())),
            options=dict(data.get("options", {})),
            warnings=tuple(
                Diagnostic(w["code"], w["message"], parse_span(w.get("where")))
                for w in data.get("warnings", ())
            ),
        )


def label(kind: str, logical_id: str) -> str:
    if kind == "root":
        return "the root"
    if kind == "organizational-unit":
        return f"OU {logical_id}"
    return f"{kind} {logical_id}"


def parse_span(text: str | None) -> Span | None:
    if not text:
        return None
    file, line, col = text.rsplit(":", 2)
    return Span(file, int(line), int(col))


class PlanError(StageError):
    """The organization cannot be planned (diagnostics say why)."""


# --- digests --------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _canonical(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.compare
        }
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, PurePath):
        # Relative to the working directory, so a checkout's location never changes a digest.
        return os.path.relpath(value) if value.is_absolute() else value.as_posix()
    return value


def digest(value: Any) -> str:
    """A content hash of frozen data: positions excluded, keys sorted."""
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def observed_digest(live: LiveOrganization, state: State) -> str:
    return digest({"live": live, "state": state.to_json().decode()})


# --- planning -------------------------------------------------------------------------------
