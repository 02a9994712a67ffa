"""Render's data: the known-after-apply markers, the stacks it returns and what it reads.

Public shapes (`StackKey`, `Reference`, `RenderedStack`, `RenderContext`) are frozen and cross
stage boundaries; `markers` and `fill_markers` are how later stages find and replace the values
render could not know. The mutable `_Placed` and `_Target`, the memo's `_Rendered` and the
evaluator's `_Deferred` live only while one render runs. No logic beyond markers; no AWS calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from orgc.diagnostics import Span
from orgc.model import Account
from orgc.templates import Resource

_MARKER = re.compile(r"\{\{orgc:([a-z-]+):([A-Za-z0-9_.:-]*)\}\}")
_MARKER_START = "{{orgc:"


# Every kind of known-after-apply marker; apply fills each (orgc.apply.run.Run.marker_value).
MARKER_KINDS = (
    "account",  # an account's id, by logical id
    "organizational-unit",  # an OU's id, by logical id
    "policy",  # a policy's id, by logical id
    "root",  # the organization root's id (no name)
    "organization-id",  # the organization's id, ORG::PrincipalOrgID (no name)
    "state-bucket",  # the state bucket, ORG::StateBucketName (no name)
    "reference",  # a stack parameter read from an output or export, by parameter name
)


def known_after_apply(kind: str, name: str = "") -> str:
    """A marker for a value known only after apply, by kind (one of MARKER_KINDS)."""
    if kind not in MARKER_KINDS:
        raise ValueError(f"unknown marker kind {kind!r}")
    return f"{{{{orgc:{kind}:{name}}}}}"


class RenderedTemplate(dict[str, Any]):
    """A stack's rendered template: a plain JSON-able mapping that also knows its markers.

    Stacks rendered alike share one template, and the plan asks for the markers of every
    stack's template: a template shared by a thousand stacks is scanned once. Like every
    rendered template, it is never changed after render.
    """

    __slots__ = ("_markers",)
    _markers: frozenset[tuple[str, str]]

    def markers(self) -> set[tuple[str, str]]:
        try:
            return set(self._markers)
        except AttributeError:
            self._markers = frozenset(_scan(self))
            return set(self._markers)


def markers(value: Any) -> set[tuple[str, str]]:
    """Every (kind, name) marker in a JSON-able value, mapping keys included."""
    if isinstance(value, RenderedTemplate):
        return value.markers()
    return _scan(value)


def _scan(value: Any) -> set[tuple[str, str]]:
    # One pass of the C JSON encoder and one regex scan beat walking the value in Python; JSON
    # escapes no character a marker can hold.
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if _MARKER_START not in text:
        return set()
    return set(_MARKER.findall(text))


def fill_markers(value: Any, values: dict[tuple[str, str], str]) -> Any:
    """`value` with every marker replaced from `values` ((kind, name) → text), mapping keys
    included: a ForeachAccount copy of an account created in this run is named by a marker."""
    if isinstance(value, str):
        return _MARKER.sub(lambda m: values[(m.group(1), m.group(2))], value)
    if isinstance(value, dict):
        return {fill_markers(k, values): fill_markers(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_markers(v, values) for v in value]
    return value


class StackKey(NamedTuple):
    """One stack target: a task's stack in one account (logical id) and region.

    A named tuple rather than a dataclass: keys are hashed and compared hundreds of thousands of
    times in a large plan, and a tuple does both in C.
    """

    task: str
    account: str
    region: str

    def __str__(self) -> str:
        return f"{self.task}/{self.account}/{self.region}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A value a stack takes from another stack, passed in as a generated parameter.

    Either `producer` is a stack orgc deploys and `output` the Output key it reads there (a
    cross-account `!Ref`/`!GetAtt`, or a `!CopyValue` of an export orgc's stacks produce), or
    `producer` is None and `export` names an export read at apply time in `account_id`/`region`.
    """

    parameter: str  # the consumer's generated parameter
    producer: StackKey | None
    output: str | None
    export: str | None = None
    account_id: str | None = None
    region: str | None = None
    expression: str  # as written, for the plan: "!GetAtt LogArchive.Resources.Bucket.Arn"
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedStack:
    key: StackKey
    stack_name: str
    account_id: str  # may be a known_after_apply marker
    template: dict[str, Any]  # JSON-able CloudFormation template
    parameters: dict[str, str]  # template parameter values known at render time
    references: tuple[Reference, ...] = ()
    # DependsOnAccount / DependsOnRegion: this task's stacks in these accounts (logical ids) /
    # regions finish first.
    after_accounts: tuple[str, ...] = ()
    after_regions: tuple[str, ...] = ()
    # Stacks of other targets this one must follow without taking a value from them (a
    # resource's DependsOn on a resource deployed elsewhere).
    after_stacks: tuple[StackKey, ...] = ()
    exports: dict[str, str] = field(default_factory=dict)  # export name → Output key
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderContext:
    """What the render stage knows of the live organization.

    `ids` maps "accounts" / "organizationalUnits" / "policies" to logical id → physical id, or
    None when the thing is created by this run (its references become markers). An account
    missing from `ids["accounts"]` takes the AccountId of the organization file.
    """

    ids: Mapping[str, Mapping[str, str | None]]
    organization_id: str | None  # None: ("organization-id", "") marker
    state_bucket: str | None  # None: ("state-bucket", "") marker
    root_id: str | None = None  # None: ("root", "") marker


@dataclass(slots=True)
class _Placed:
    """A resource as one stack holds it; a ForeachAccount copy names its iterated account."""

    rendered_id: str
    resource: Resource
    loop_account: str | None = None


@dataclass(slots=True)
class _Target:
    key: StackKey
    account: Account
    account_id: str
    placed: dict[str, _Placed]  # by rendered id, in template order
    copies: dict[str, dict[str, str]]  # ForeachAccount: template id → loop account → copy id
    parameters: dict[str, str] = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)  # static values, for export names
    references: dict[str, Reference] = field(default_factory=dict)  # by parameter
    generated_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    after_stacks: set[StackKey] = field(default_factory=set)
    exports: dict[str, str] = field(default_factory=dict)
    copy_names: dict[str, str] = field(default_factory=dict)  # generated name → what it reads
    template: dict[str, Any] = field(default_factory=dict)  # its sections; never changed
    description: str | None = None  # the task's StackDescription for this target
    stack_name: str = ""  # the task's StackName for this target
    rendered: _Rendered | None = None  # the render memo's entry this target took, if any

    def is_local(self, name: str) -> bool:
        return name in self.placed or name in self.copies


@dataclass(frozen=True, slots=True, kw_only=True)
class _Rendered:
    """One render of a task's template, kept for the targets that read the same values."""

    sections: dict[str, Any]
    references: dict[str, Reference]  # the ones the template's expressions added
    after_stacks: frozenset[StackKey]

    def replay(self, target: _Target) -> None:
        """Give `target` this render. The sections are shared between targets: `finish` makes
        its own mappings of them before it adds to them."""
        target.template = self.sections
        for name, reference in self.references.items():
            target.references.setdefault(name, reference)
        target.after_stacks.update(self.after_stacks)
        target.rendered = self


@dataclass(frozen=True, slots=True, kw_only=True)
class _RenderedResource:
    """One resource body as a render made it, kept for the targets that read the same values."""

    body: Any  # shared between targets, never changed
    references: dict[str, Reference]  # the ones its expressions added
    after_stacks: frozenset[StackKey]

    def replay_into(self, target: _Target) -> None:
        for name, reference in self.references.items():
            target.references.setdefault(name, reference)
        target.after_stacks.update(self.after_stacks)


@dataclass(frozen=True, slots=True)
class _Deferred:
    """A task parameter whose value is read at apply time (!CopyValue)."""

    reference: Reference
