"""The plan as data: `Change`, `Plan`, and the content digests they carry.

A plan is deterministic: sorted keys, no timestamps, no absolute paths. Values known only after
apply (the id of an account this plan creates) are None in `Plan.ids` until apply fills them.
Its JSON form is orgc.plan.codec's.
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
from orgc.plan.specs import (
    SPECS,
    Action,
    ChangeKind,
    Group,
    IdTable,
    Orphan,
    PlanOptions,
    Spec,
)
from orgc.state import State

PLAN_FORMAT = "orgc-plan"
# 2: the change kinds' details as written by orgc.plan.codec from typed specs.
PLAN_VERSION = 2

# Kinds of things a change acts on, in the order a reader wants to see them.
KINDS: tuple[ChangeKind, ...] = tuple(ChangeKind)


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One step: what it acts on, and in `spec` everything apply needs and reviewers read."""

    id: str  # unique and stable, e.g. "account.create:Payments"
    kind: ChangeKind
    action: Action
    logical_id: str | None
    physical_id: str | None
    summary: str
    spec: Spec
    # ids of changes that must finish first; "task:<name>" waits for every change of that group
    after: tuple[str, ...] = ()
    group: str | None = None  # the task this change belongs to (see `Plan.groups`)

    def __post_init__(self) -> None:
        wanted = SPECS.get((self.kind, self.action))
        if wanted is None or type(self.spec) is not wanted:
            raise ValueError(
                f"{self.id}: a {self.kind} {self.action} change cannot hold a "
                f"{type(self.spec).__name__}"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A saved plan is written and read by orgc.plan.codec."""

    source: str  # the path the plan was made from, as given
    management_account_id: str
    organization_id: str
    inputs_digest: str  # of the desired model
    observed_digest: str  # of the live organization and the state it was compared with
    ids: IdTable
    changes: tuple[Change, ...]
    warnings: tuple[Diagnostic, ...] = ()
    # Task name → how apply runs its changes.
    groups: Mapping[str, Group] = field(default_factory=dict)
    unchanged: tuple[str, ...] = ()  # stack targets ("task/account/region") already as wanted
    # Stacks of tasks no longer in the files, left alone unless cleanup was asked for.
    orphans: tuple[Orphan, ...] = ()
    options: PlanOptions | None = None  # None: made without asking (the organization alone)
    # What the plan compared with AWS, and what it took from the state instead (a reviewer
    # must know which "no change" was checked): phrases such as "tags of 200 accounts".
    compared: tuple[str, ...] = ()
    not_compared: tuple[str, ...] = ()
    # What the files skip (Skip: true, a skipped include or dependency, the organization of a
    # skipped update-organization task), each a sentence saying what it means.
    skipped: tuple[str, ...] = ()
    # The digest of the organization read from AWS for the tasks to bind against (an
    # annotate-organization task): apply reads it again and refuses the plan when it changed.
    # None: the files give the organization.
    live_organization: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for change in self.changes:
            result[change.action.value] = result.get(change.action.value, 0) + 1
        return dict(sorted(result.items()))


def label(kind: str, logical_id: str) -> str:
    """How a summary names the target of a tag or attachment change."""
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


# How _canonical takes a value apart, decided once per type: the compared fields of a
# dataclass, or one of the kinds below (a digest walks hundreds of thousands of values).
_MAPPING, _SEQUENCE, _PATH, _SCALAR = "mapping", "sequence", "path", "scalar"
_SHAPES: dict[type, tuple[str, ...] | str] = {str: _SCALAR, dict: _MAPPING, list: _SEQUENCE}


def _shape(kind: type) -> tuple[str, ...] | str:
    found = _SHAPES.get(kind)
    if found is None:
        if dataclasses.is_dataclass(kind) and not issubclass(kind, type):
            found = tuple(f.name for f in dataclasses.fields(kind) if f.compare)
        elif issubclass(kind, Mapping):
            found = _MAPPING
        elif issubclass(kind, (list, tuple)):
            found = _SEQUENCE
        elif issubclass(kind, PurePath):
            found = _PATH
        else:
            found = _SCALAR
        _SHAPES[kind] = found
    return found


def _canonical(value: Any) -> Any:
    shape = _shape(type(value))
    if shape is _SCALAR:
        return value
    if shape is _MAPPING:
        return {str(k): _canonical(v) for k, v in value.items()}
    if shape is _SEQUENCE:
        return [_canonical(v) for v in value]
    if shape is _PATH:
        # Relative to the working directory, so a checkout's location never changes a digest.
        return os.path.relpath(value) if value.is_absolute() else value.as_posix()
    return {name: _canonical(getattr(value, name)) for name in shape}


def digest(value: Any) -> str:
    """A content hash of frozen data: positions excluded, keys sorted."""
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def observed_digest(live: LiveOrganization, state: State) -> str:
    return digest({"live": live, "state": state.to_json().decode()})


# --- planning -------------------------------------------------------------------------------
