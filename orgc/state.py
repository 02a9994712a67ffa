"""The state document and the stores that keep it.

State is what orgc remembers between runs: which AWS object each logical id of the organization
file became. It is a small versioned JSON document, kept in S3 (the management account's
`orgc-state-<account id>` bucket) for real use or in a local file for local use.

A store is read freely and written only under its lock. Every write is guarded against a writer
that slipped in anyway (a forced unlock, a second machine): the S3 store writes with S3 conditional
writes, the local store compares the serial on disk. Writes are atomic: a crash leaves either the
old or the new document, never a torn one.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeGuard

from orgc.diagnostics import CodeId, Diagnostic, StageError
from orgc.lease import (
    HeldLock,
    LockBusy,
    LockLost,
    LockOptions,
    LockRecord,
    LockSlot,
    acquire,
    break_lock,
    exclusive,
    read_record,
)

if TYPE_CHECKING:
    from orgc.aws import AwsProvider
    from orgc.observed import BucketFacts

STATE_FORMAT = "orgc-state"
STATE_VERSION = 1

_STATE_KEYS = frozenset(
    {
        "format",
        "version",
        "serial",
        "lineage",
        "managementAccountId",
        "organizationId",
        "organizationDigest",
        "rootId",
        "organization",
        "stacks",
        "objects",
        "stackSets",
        "services",
        "contacts",
        "accountSettings",
        "closedAccounts",
        "identityCenter",
    }
)
_ORGANIZATION_KEYS = {
    "accounts": "accounts",
    "organizationalUnits": "organizational_units",
    "policies": "policies",
}
_RETIRED_KEY = "retiredOrganizationalUnits"


class StateError(StageError):
    """The state cannot be read or written: one diagnostic, E707 unless a subclass says
    otherwise. `str()` is the message alone, as apply reports a failed change with it."""

    default_code: ClassVar[CodeId] = "E707"

    def __init__(self, message: str, *, code: CodeId | None = None) -> None:
        super().__init__([Diagnostic(code or self.default_code, message)])

    @property
    def code(self) -> CodeId:
        return self.diagnostics[0].code

    @property
    def message(self) -> str:
        return self.diagnostics[0].message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_state_error, (type(self), self.message, self.code))


class StateLocked(StateError):
    """Another run holds the lock; the message says who, since when, and how to unlock."""

    default_code = "E702"


class StateConflict(StateError):
    """The stored state changed underneath this run (or belongs to another lineage)."""

    default_code = "E703"


def _rebuild_state_error(cls: type[StateError], message: str, code: CodeId) -> StateError:
    return cls(message, code=code)


@dataclass(frozen=True, slots=True, kw_only=True)
class StackRecord:
    """One stack orgc deployed, as the last apply left it.

    `hash` is the content hash of what was deployed (template, parameters, settings); `stack_id`
    and `last_changed` are how AWS reported the stack then, so a stack deleted, re-created or
    updated outside orgc shows up as different. `outputs` feed references of later runs.
    """

    stack_name: str
    account_id: str
    region: str
    task: str
    account: str | None = None  # the account's logical id
    hash: str | None = None  # None: imported, never deployed by orgc
    stack_id: str | None = None
    last_changed: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    termination_protection: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.stack_name, self.account_id, self.region)

    def to_json(self) -> dict[str, Any]:
        # Written only when on, so that records of unprotected stacks read as they always did.
        protected = {"terminationProtection": True} if self.termination_protection else {}
        return {
            "stackName": self.stack_name,
            "accountId": self.account_id,
            "region": self.region,
            "task": self.task,
            "account": self.account,
            "hash": self.hash,
            "stackId": self.stack_id,
            "lastChanged": self.last_changed,
            "parameters": self.parameters,
            "outputs": self.outputs,
            "exports": self.exports,
            **protected,
        }

    @classmethod
    def from_json(cls, data: Any, *, origin: str) -> StackRecord:
        if not isinstance(data, dict):
            raise StateError(f"state {origin}: a stack record is not an object")
        try:
            record = cls(
                stack_name=data["stackName"],
                account_id=data["accountId"],
                region=data["region"],
                task=data["task"],
                account=data.get("account"),
                hash=data.get("hash"),
                stack_id=data.get("stackId"),
                last_changed=data.get("lastChanged"),
                parameters=dict(data.get("parameters", {})),
                outputs=dict(data.get("outputs", {})),
                exports=dict(data.get("exports", {})),
                termination_protection=data.get("terminationProtection", False),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(f"state {origin}: a stack record lacks {error}") from None
        texts = [record.stack_name, record.account_id, record.region, record.task]
        maps = [record.parameters, record.outputs, record.exports]
        if not all(isinstance(t, str) for t in texts) or not all(
            isinstance(k, str) and isinstance(v, str) for m in maps for k, v in m.items()
        ):
            raise StateError(
                f"state {origin}: stack record {record.stack_name!r} has a value that is not a "
                "string"
            )
        if not isinstance(record.termination_protection, bool):
            raise StateError(
                f"state {origin}: stack record {record.stack_name!r} has a terminationProtection "
                "that is neither true nor false"
            )
        return record


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetRecord:
    """One StackSet orgc deployed (DeploymentMode: StackSet), as the last apply left it.

    `hash` is the content hash of what it was last created or updated with (template,
    parameters, settings); `organizational_units`, `account_filter`, `accounts` and `regions`
    are the targets (physical ids) its instances were last created for.
    """

    name: str
    task: str
    stack_set_id: str | None = None
    arn: str | None = None
    hash: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    organizational_units: tuple[str, ...] = ()
    account_filter: str = "NONE"
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "stackSetId": self.stack_set_id,
            "arn": self.arn,
            "hash": self.hash,
            "parameters": self.parameters,
            "organizationalUnits": list(self.organizational_units),
            "accountFilter": self.account_filter,
            "accounts": list(self.accounts),
            "regions": list(self.regions),
        }

    @classmethod
    def from_json(cls, data: Any, *, origin: str) -> StackSetRecord:
        if not isinstance(data, dict):
            raise StateError(f"state {origin}: a StackSet record is not an object")
        try:
            record = cls(
                name=data["name"],
                task=data["task"],
                stack_set_id=data.get("stackSetId"),
                arn=data.get("arn"),
                hash=data.get("hash"),
                parameters=dict(data.get("parameters", {})),
                organizational_units=tuple(data.get("organizationalUnits", ())),
                account_filter=data.get("accountFilter", "NONE"),
                accounts=tuple(data.get("accounts", ())),
                regions=tuple(data.get("regions", ())),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateError(f"state {origin}: a StackSet record lacks {error}") from None
        texts = [
            record.name,
            record.task,
            record.account_filter,
            *record.organizational_units,
            *record.accounts,
            *record.regions,
            *record.parameters,
            *record.parameters.values(),
        ]
        optional = [record.stack_set_id, record.arn, record.hash]
        if not all(isinstance(t, str) for t in texts) or not all(
            o is None or isinstance(o, str) for o in optional
        ):
            raise StateError(
                f"state {origin}: StackSet record {record.name!r} has a value that is not a string"
            )
        return record


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSettingsRecord:
    """What orgc set inside one account: the IAM alias, and whether a password policy. Only
    these are deleted once the files no longer give them; one set by hand is left alone."""

    alias: str | None = None
    password_policy: bool = False

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {}
        if self.alias is not None:
            document["alias"] = self.alias
        if self.password_policy:
            document["passwordPolicy"] = True
        return document

    @classmethod
    def from_json(cls, data: object, *, where: str) -> AccountSettingsRecord:
        if not isinstance(data, dict) or set(data) - {"alias", "passwordPolicy"}:
            raise StateError(f"{where} must be an object with alias and passwordPolicy only")
        alias, password_policy = data.get("alias"), data.get("passwordPolicy", False)
        if alias is not None and not isinstance(alias, str):
            raise StateError(f"{where}: alias must be a string")
        if not isinstance(password_policy, bool):
            raise StateError(f"{where}: passwordPolicy must be true or false")
        return cls(alias=alias, password_policy=password_policy)


def with_alias(
    settings: dict[str, AccountSettingsRecord], account_id: str, alias: str | None
) -> dict[str, AccountSettingsRecord]:
    """`settings` with the alias orgc set in the account replaced (None: it set none)."""
    current = settings.get(account_id, AccountSettingsRecord())
    return _with_settings(settings, account_id, replace(current, alias=alias))


def with_password_policy(
    settings: dict[str, AccountSettingsRecord], account_id: str, present: bool
) -> dict[str, AccountSettingsRecord]:
    """`settings` noting whether orgc set the account's password policy."""
    current = settings.get(account_id, AccountSettingsRecord())
    return _with_settings(settings, account_id, replace(current, password_policy=present))


def _with_settings(
    settings: dict[str, AccountSettingsRecord], account_id: str, record: AccountSettingsRecord
) -> dict[str, AccountSettingsRecord]:
    kept = {a: r for a, r in settings.items() if a != account_id}
    if record.alias is not None or record.password_policy:  # an empty record is no record
        kept[account_id] = record
    return dict(sorted(kept.items()))


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """What orgc remembers: logical ids of the organization file mapped to AWS ids.

    `serial` grows by one on every write; `lineage` is set once, when the document is first
    written, and a store refuses a write from another lineage. `stacks` holds one record per
    deployed stack target.
    """

    serial: int = 0
    lineage: str = ""
    management_account_id: str | None = None
    organization_id: str | None = None
    # Digest of the organization model as last applied in full: while the files still give
    # this digest, a plan trusts the recorded ids instead of reading the organization again.
    organization_digest: str | None = None
    root_id: str | None = None
    accounts: dict[str, str] = field(default_factory=dict)  # logical id -> account id
    organizational_units: dict[str, str] = field(default_factory=dict)  # logical id -> OU id
    policies: dict[str, str] = field(default_factory=dict)  # logical id -> policy id
    # OUs replaced by a re-parent (AWS cannot move an OU): emptied and deleted by a later step.
    retired_organizational_units: tuple[str, ...] = ()
    stacks: tuple[StackRecord, ...] = ()  # sorted by key
    # Objects copy-to-s3 tasks put: "s3://bucket/key" → {"task", "hash", "etag"}.
    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    stack_sets: tuple[StackSetRecord, ...] = ()  # one per StackSet-mode task, sorted by name
    # Service principals whose trusted access orgc enabled → the account ids it registered as
    # their delegated administrators (orgc disables and deregisters only what it did itself).
    services: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Account id → the alternate contact types orgc set there (it deletes only those).
    contacts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Account id → the alias and password policy orgc set there (it deletes only those).
    account_settings: dict[str, AccountSettingsRecord] = field(default_factory=dict)
    # Account id → the day (YYYY-MM-DD, UTC) orgc closed it: what counts against AWS's close
    # quota of a rolling 30 days.
    closed_accounts: dict[str, str] = field(default_factory=dict)
    # IAM Identity Center: permission set logical id → ARN, and the assignments orgc made (it
    # deletes only those).
    permission_sets: dict[str, str] = field(default_factory=dict)
    assignments: tuple[AssignmentRecord, ...] = ()  # sorted

    def stack_set_records(self) -> dict[str, StackSetRecord]:
        return {record.name: record for record in self.stack_sets}

    def with_stack_set(self, record: StackSetRecord) -> State:
        kept = [r for r in self.stack_sets if r.name != record.name]
        return replace(self, stack_sets=tuple(sorted([*kept, record], key=lambda r: r.name)))

    def without_stack_set(self, name: str) -> State:
        return replace(self, stack_sets=tuple(r for r in self.stack_sets if r.name != name))

    def stack_records(self) -> dict[tuple[str, str, str], StackRecord]:
        return {record.key: record for record in self.stacks}

    def with_stack(self, record: StackRecord) -> State:
        """This state with `record` added or replacing the record of the same stack."""
        kept = [r for r in self.stacks if r.key != record.key]
        return replace(self, stacks=tuple(sorted([*kept, record], key=lambda r: r.key)))

    def without_stack(self, key: tuple[str, str, str]) -> State:
        return replace(self, stacks=tuple(r for r in self.stacks if r.key != key))

    def to_json(self) -> bytes:
        """The document as stored: sorted keys, 2-space indent, trailing newline, UTF-8."""
        document = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "serial": self.serial,
            "lineage": self.lineage,
            "managementAccountId": self.management_account_id,
            "organizationId": self.organization_id,
            "organizationDigest": self.organization_digest,
            "rootId": self.root_id,
            "organization": {
                "accounts": self.accounts,
                "organizationalUnits": self.organizational_units,
                "policies": self.policies,
                _RETIRED_KEY: list(self.retired_organizational_units),
            },
            "stacks": [record.to_json() for record in self.stacks],
            "objects": self.objects,
        }
        if self.stack_sets:
            # Written only when there are any, so that a state without StackSets stays readable
            # by an orgc that predates them.
            document["stackSets"] = [record.to_json() for record in self.stack_sets]
        if self.services:
            document["services"] = {p: list(a) for p, a in sorted(self.services.items())}
        if self.contacts:
            document["contacts"] = {a: list(t) for a, t in sorted(self.contacts.items())}
        if self.account_settings:
            document["accountSettings"] = {
                a: r.to_json() for a, r in sorted(self.account_settings.items())
            }
        if self.closed_accounts:
            document["closedAccounts"] = dict(sorted(self.closed_accounts.items()))
        if self.permission_sets or self.assignments:
            document["identityCenter"] = {
                "permissionSets": dict(sorted(self.permission_sets.items())),
                "assignments": [record.to_json() for record in sorted(self.assignments)],
            }
        text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False)
        return (text + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, *, origin: str) -> State:
        """Parse a stored document; `origin` names where it came from, for messages.

        Raises `StateError` (E707) for anything that is not a well-formed orgc state document of
        this version or an older one. Keys left out take their defaults.
        """
        try:
            document = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise StateError(f"state {origin} is not UTF-8 text: {error}") from error
        except json.JSONDecodeError as error:
            raise StateError(
                f"state {origin} is not valid JSON (line {error.lineno}, column {error.colno}: "
                f"{error.msg})"
            ) from error
        if not isinstance(document, dict):
            raise StateError(f"state {origin} is not a JSON object")
        if document.get("format") != STATE_FORMAT:
            raise StateError(
                f"state {origin} is not an orgc state document (format is "
                f"{document.get('format')!r}, expected {STATE_FORMAT!r}); an OrgFormation state "
                "file is imported with `orgc state import`"
            )
        version = document.get("version")
        if not _is_int(version) or version < 1:
            raise StateError(f"state {origin} has an invalid version {version!r}")
        if version > STATE_VERSION:
            raise StateError(
                f"state {origin} was written by a newer orgc (state version {version}; this orgc "
                f"reads up to {STATE_VERSION}); upgrade orgc"
            )
        unknown = sorted(set(document) - _STATE_KEYS)
        if unknown:
            raise StateError(f"state {origin} has unknown keys: {', '.join(unknown)}")

        serial = document.get("serial", 0)
        if not _is_int(serial) or serial < 0:
            raise StateError(f"state {origin}: serial must be a non-negative integer")
        lineage = document.get("lineage", "")
        if not isinstance(lineage, str):
            raise StateError(f"state {origin}: lineage must be a string")
        management_account_id = document.get("managementAccountId")
        if management_account_id is not None and not isinstance(management_account_id, str):
            raise StateError(f"state {origin}: managementAccountId must be a string or null")
        synced = {
            key: document.get(key) for key in ("organizationId", "organizationDigest", "rootId")
        }
        for key, value in synced.items():
            if value is not None and not isinstance(value, str):
                raise StateError(f"state {origin}: {key} must be a string or null")
        stacks = document.get("stacks", [])
        if not isinstance(stacks, list):
            raise StateError(f"state {origin}: stacks must be a list of stack records")
        objects = document.get("objects", {})
        if not isinstance(objects, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
            for v in objects.values()
        ):
            raise StateError(f"state {origin}: objects must map S3 URLs to records of strings")
        services = document.get("services", {})
        if not isinstance(services, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in services.values()
        ):
            raise StateError(
                f"state {origin}: services must map service principals to lists of account ids"
            )
        contacts = document.get("contacts", {})
        if not isinstance(contacts, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in contacts.values()
        ):
            raise StateError(f"state {origin}: contacts must map account ids to contact types")
        settings = document.get("accountSettings", {})
        if not isinstance(settings, dict):
            raise StateError(f"state {origin}: accountSettings must map account ids to records")
        account_settings = {
            account_id: AccountSettingsRecord.from_json(
                record, where=f"state {origin}: accountSettings.{account_id}"
            )
            for account_id, record in sorted(settings.items())
        }
        closed_accounts = _string_map(document.get("closedAccounts", {}), "closedAccounts", origin)
        identity_center = document.get("identityCenter", {})
        if not isinstance(identity_center, dict):
            raise StateError(f"state {origin}: identityCenter must be a mapping")
        permission_sets = _string_map(
            identity_center.get("permissionSets", {}), "identityCenter.permissionSets", origin
        )
        assignments = identity_center.get("assignments", [])
        if not isinstance(assignments, list):
            raise StateError(f"state {origin}: identityCenter.assignments must be a list")
        stack_sets = document.get("stackSets", [])
        if not isinstance(stack_sets, list):
            raise StateError(f"state {origin}: stackSets must be a list of StackSet records")

        organization = document.get("organization", {})
        if not isinstance(organization, dict):
            raise StateError(f"state {origin}: organization must be an object")
        unknown = sorted(set(organization) - {*_ORGANIZATION_KEYS, _RETIRED_KEY})
        if unknown:
            raise StateError(f"state {origin}: organization has unknown keys: {', '.join(unknown)}")
        mappings = {
            attribute: _string_map(organization.get(key, {}), f"organization.{key}", origin)
            for key, attribute in _ORGANIZATION_KEYS.items()
        }
        retired = organization.get(_RETIRED_KEY, [])
        if not isinstance(retired, list) or not all(isinstance(i, str) for i in retired):
            raise StateError(f"state {origin}: organization.{_RETIRED_KEY} must be a list of ids")

        return cls(
            serial=serial,
            lineage=lineage,
            management_account_id=management_account_id,
            organization_id=synced["organizationId"],
            organization_digest=synced["organizationDigest"],
            root_id=synced["rootId"],
            accounts=mappings["accounts"],
            organizational_units=mappings["organizational_units"],
            policies=mappings["policies"],
            retired_organizational_units=tuple(retired),
            stacks=tuple(
                sorted(
                    (StackRecord.from_json(r, origin=origin) for r in stacks), key=lambda r: r.key
                )
            ),
            objects={url: dict(record) for url, record in objects.items()},
            services={p: tuple(a) for p, a in services.items()},
            contacts={a: tuple(t) for a, t in contacts.items()},
            account_settings=account_settings,
            closed_accounts=closed_accounts,
            permission_sets=permission_sets,
            assignments=tuple(
                sorted(AssignmentRecord.from_json(r, origin=origin) for r in assignments)
            ),
            stack_sets=tuple(
                sorted(
                    (StackSetRecord.from_json(r, origin=origin) for r in stack_sets),
                    key=lambda r: r.name,
                )
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AssignmentRecord:
    """An account assignment orgc made, with the names it was made under (for the plan that
    deletes it once the files no longer give it)."""

    permission_set_arn: str
    principal_type: str  # GROUP | USER
    principal_id: str
    account_id: str
    permission_set: str  # logical id
    principal: str  # the name the files gave

    def to_json(self) -> dict[str, str]:
        return {
            "permissionSetArn": self.permission_set_arn,
            "principalType": self.principal_type,
            "principalId": self.principal_id,
            "accountId": self.account_id,
            "permissionSet": self.permission_set,
            "principal": self.principal,
        }

    @classmethod
    def from_json(cls, data: Any, *, origin: str) -> AssignmentRecord:
        keys = ("permissionSetArn", "principalType", "principalId", "accountId")
        names = ("permissionSet", "principal")
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in (*keys, *names)
        ):
            raise StateError(
                f"state {origin}: an identityCenter assignment has {', '.join(keys + names)}"
            )
        return cls(
            permission_set_arn=data["permissionSetArn"],
            principal_type=data["principalType"],
            principal_id=data["principalId"],
            account_id=data["accountId"],
            permission_set=data["permissionSet"],
            principal=data["principal"],
        )


def _is_int(value: object) -> TypeGuard[int]:
    # JSON true/false load as bool, a subclass of int; they are not serials or versions.
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map(value: object, where: str, origin: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise StateError(
            f"state {origin}: {where} must map logical ids to AWS ids, all strings "
            "(quote account ids)"
        )
    return dict(value)


def is_aws_managed_policy_id(policy_id: str) -> bool:
    """Whether `policy_id` names a policy AWS manages (p-FullAWSAccess, p-RCPFullAWSAccess):
    the ids AWS gives customer policies are `p-` and lowercase letters and digits only."""
    return policy_id.startswith("p-") and policy_id[2:].lower() != policy_id[2:]


# OrgFormation's binding types and where orgc keeps them.
_ORGFORMATION_BINDINGS = {
    "OC::ORG::MasterAccount": "accounts",
    "OC::ORG::Account": "accounts",
    "OC::ORG::OrganizationalUnit": "organizational_units",
    "OC::ORG::ServiceControlPolicy": "policies",
}


def import_orgformation_state(
    data: bytes, *, origin: str, notices: list[str] | None = None
) -> State:
    """Turn OrgFormation's `state.json` into an orgc State (serial 0, no lineage yet).

    OrgFormation keeps `bindings[type][logicalId].physicalId`; accounts (the master account
    included), OUs and SCPs are taken from there, `masterAccountId` becomes the management account,
    and each of OrgFormation's `stacks[name][account][region]` becomes a stack record with no
    hash (so the first plan updates it to what the files say; CloudFormation keeps an identical
    template as it is) and the task that `trackedTasks` names for it (an entry's `logicalName`).
    The aliases and password policies of `previousTemplate` (the organization file it last
    applied) are recorded as set by orgc, so that one removed from the files is deleted.
    Bindings that never got a physical id (a resource OrgFormation did not finish creating) are
    skipped, and so are policies AWS manages (FullAWSAccess): orgc must never act on those as
    its own, so each is dropped with a sentence appended to `notices`. Raises `StateError`
    (E707) for a document that is not OrgFormation state.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StateError(f"OrgFormation state {origin} is not UTF-8 text: {error}") from error
    if not text.strip():
        # OrgFormation itself reads an empty state file as an empty state.
        return State()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise StateError(
            f"OrgFormation state {origin} is not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg})"
        ) from error
    if not isinstance(document, dict):
        raise StateError(f"OrgFormation state {origin} is not a JSON object")
    if document.get("format") == STATE_FORMAT:
        raise StateError(f"{origin} is already an orgc state document; it needs no import")
    bindings = document.get("bindings", {})
    if not isinstance(bindings, dict):
        raise StateError(f"OrgFormation state {origin}: bindings must be an object")
    master = document.get("masterAccountId")
    if master is not None and not isinstance(master, str):
        raise StateError(f"OrgFormation state {origin}: masterAccountId must be a string")
    stacks = document.get("stacks", {})
    if not isinstance(stacks, dict):
        raise StateError(f"OrgFormation state {origin}: stacks must be an object")

    imported: dict[str, dict[str, str]] = {
        "accounts": {},
        "organizational_units": {},
        "policies": {},
    }
    for binding_type, attribute in _ORGFORMATION_BINDINGS.items():
        of_type = bindings.get(binding_type, {})
        if not isinstance(of_type, dict):
            raise StateError(
                f"OrgFormation state {origin}: bindings.{binding_type} is not an object"
            )
        for logical_id, binding in sorted(of_type.items()):
            if not isinstance(binding, dict):
                raise StateError(
                    f"OrgFormation state {origin}: binding {binding_type}/{logical_id} is not "
                    "an object"
                )
            physical_id = binding.get("physicalId")
            if physical_id is None:
                continue
            if not isinstance(physical_id, str):
                raise StateError(
                    f"OrgFormation state {origin}: binding {binding_type}/{logical_id} has a "
                    f"physicalId that is not a string ({physical_id!r})"
                )
            if attribute == "policies" and is_aws_managed_policy_id(physical_id):
                if notices is not None:
                    notices.append(
                        f"dropped {binding_type} {logical_id}: {physical_id} is managed by AWS, "
                        "and orgc never detaches or deletes it"
                    )
                continue
            imported[attribute][logical_id] = physical_id

    return State(
        management_account_id=master,
        accounts=imported["accounts"],
        organizational_units=imported["organizational_units"],
        policies=imported["policies"],
        stacks=_import_stacks(stacks, document.get("trackedTasks", {}), origin),
        account_settings=_import_account_settings(
            document.get("previousTemplate"), imported["accounts"], origin
        ),
    )


_ORGFORMATION_ACCOUNT_TYPES = ("OC::ORG::MasterAccount", "OC::ORG::Account")


def _import_account_settings(
    previous: object, accounts: Mapping[str, str], origin: str
) -> dict[str, AccountSettingsRecord]:
    """The aliases and password policies OrgFormation set, from `previousTemplate`: the
    organization file it last applied, kept as JSON text. An account is found by the
    template's `AccountId`, else by the id its binding recorded; one with neither (never
    created) is left out."""
    if previous is None or previous == "":
        return {}
    if not isinstance(previous, str):
        raise StateError(f"OrgFormation state {origin}: previousTemplate must be JSON text")
    try:
        template = json.loads(previous)
    except json.JSONDecodeError as error:
        raise StateError(
            f"OrgFormation state {origin}: previousTemplate is not valid JSON ({error.msg})"
        ) from error
    resources = template.get("Organization") if isinstance(template, dict) else None
    if not isinstance(resources, dict):
        return {}
    settings: dict[str, AccountSettingsRecord] = {}
    for logical_id, resource in sorted(resources.items()):
        if not isinstance(resource, dict):
            continue
        if resource.get("Type") not in _ORGFORMATION_ACCOUNT_TYPES:
            continue
        properties = resource.get("Properties")
        if not isinstance(properties, dict):
            continue
        given = properties.get("AccountId")
        account_id = given if isinstance(given, str) else accounts.get(logical_id)
        if account_id is None:
            continue
        alias = properties.get("Alias")
        if isinstance(alias, str) and alias:
            settings = with_alias(settings, account_id, alias)
        if properties.get("PasswordPolicy") is not None:
            settings = with_password_policy(settings, account_id, True)
    return settings


def _import_stacks(stacks: dict[str, Any], tracked: Any, origin: str) -> tuple[StackRecord, ...]:
    # trackedTasks: a list of {logicalName, physicalIdForCleanup, type} per tracking group (the
    # task file); an entry's logicalName is the task, the group only where it has none.
    task_of: dict[str, str] = {}
    if isinstance(tracked, dict):
        for group, entries in tracked.items():
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, dict) and isinstance(entry.get("physicalIdForCleanup"), str):
                    name = entry.get("logicalName")
                    task = name if isinstance(name, str) and name else group
                    task_of.setdefault(entry["physicalIdForCleanup"], task)
    records: list[StackRecord] = []
    for stack_name, accounts in sorted(stacks.items()):
        if not isinstance(accounts, dict):
            raise StateError(f"OrgFormation state {origin}: stacks.{stack_name} is not an object")
        for account_id, regions in sorted(accounts.items()):
            for region, entry in sorted(regions.items() if isinstance(regions, dict) else ()):
                logical = entry.get("logicalAccountId") if isinstance(entry, dict) else None
                protected = isinstance(entry, dict) and entry.get("terminationProtection") is True
                records.append(
                    StackRecord(
                        stack_name=stack_name,
                        account_id=account_id,
                        region=region,
                        task=task_of.get(stack_name, stack_name),
                        account=logical if isinstance(logical, str) else None,
                        termination_protection=protected,
                    )
                )
    return tuple(records)


# --- stores --------------------------------------------------------------------------------

BACKUPS_KEPT = 20
"""How many previous versions a local state file keeps beside it (`.orgc/backups/`)."""

_HISTORY_LISTED = 50  # S3 versions `orgc state history` reads, newest first


class StateLockLost(StateError):
    """This run no longer holds the state lock (unlocked, taken over, or its lease ran out)."""

    default_code = "E709"


class StateBucketRefused(StateError):
    """The state bucket belongs to another account, is public, or lets others in."""

    default_code = "E710"


@dataclass(frozen=True, slots=True, kw_only=True)
class StateVersion:
    """One stored version of the state: an S3 object version, or a local backup.

    `version` is what `orgc state restore` takes (the S3 version id; the serial of a local
    backup); `serial` is None for a version that is not readable state.
    """

    version: str
    serial: int | None
    time: str
    size: int
    current: bool


class LockedState:
    """The state as held under a store's lock, and the only way to write it.

    `state` is the document as read when the lock was taken, then as last written. `write`
    stores a new document with a serial one above both the previous document's and the highest
    serial the lock has seen written (so a serial never goes backwards, even over a document
    replaced by an older one) and the store's lineage (a new one for a first write), and returns
    exactly what was written. Every write is fenced by the lock: it is refused once the lock
    is not this run's any more.
    """

    def __init__(
        self,
        state: State,
        commit: Callable[[State, State], None],
        *,
        held: HeldLock | None = None,
        floor: int = 0,
    ) -> None:
        self._state = state
        self._commit = commit
        self._held = held
        self._floor = floor
        self._released = False

    @property
    def state(self) -> State:
        return self._state

    def check_held(self) -> None:
        """Raise `StateLockLost` unless this run still holds the lock; called before every
        change apply makes in AWS, so a run whose lock was taken over changes nothing more."""
        if self._held is None:
            return
        try:
            self._held.check()
        except LockLost as error:
            raise StateLockLost(str(error)) from None

    def write(self, new: State) -> State:
        if self._released:
            raise RuntimeError("the state lock was released; take it again to write")
        previous = self._state
        if previous.lineage and new.lineage and new.lineage != previous.lineage:
            raise StateConflict(
                f"refusing to write state of lineage {new.lineage} over state of lineage "
                f"{previous.lineage}: they are different histories"
            )
        written = replace(
            new,
            serial=max(previous.serial, self._floor) + 1,
            lineage=previous.lineage or new.lineage or uuid.uuid4().hex,
        )
        if self._held is not None:
            try:
                self._held.check_state_write()
            except LockLost as error:
                raise StateLockLost(str(error)) from None
        self._commit(previous, written)
        if self._held is not None:
            self._held.note_serial(written.serial)
        self._state = written
        return written

    def _release(self) -> None:
        self._released = True


class StateStore(Protocol):
    """Where the state lives. Reads need no lock; writes happen only through `lock`."""

    def describe(self) -> str:
        """Where the state is, for messages (`s3://bucket/key`, a path)."""
        ...

    def read(self) -> State:
        """The stored state, or an empty State when there is none yet."""
        ...

    def lock(self, owner: str) -> contextlib.AbstractContextManager[LockedState]:
        """Hold the lock for the `with` block (taking over a stale one, waiting for a live one
        as the store's lock options say); `StateLocked` if another run keeps it."""
        ...

    def lock_holder(self) -> LockRecord | None:
        """The lock record as it is now (None: no lock record, or an unreadable one)."""
        ...

    def force_unlock(self, by: str) -> str:
        """`orgc state unlock`: "none", "released" (free now) or "broken" (the holder was asked
        to stop; free once it has, or its lease ran out); see `orgc.lease.break_lock`."""
        ...

    def history(self) -> tuple[StateVersion, ...]:
        """The stored versions of the state, newest first."""
        ...

    def restore(self, version: str, owner: str) -> State:
        """Write the content of `version` as a new version (under the lock); return it."""
        ...


@contextlib.contextmanager
def _held_state(
    slot: LockSlot,
    owner: str,
    options: LockOptions,
    *,
    read: Callable[[], State],
    commit: Callable[[State, State], None],
    floor: Callable[[], int],
    release_errors: tuple[type[Exception], ...],
    older_ok: bool = False,
) -> Iterator[LockedState]:
    """The lock protocol both stores share: take, check the serial, renew, release."""
    try:
        held = acquire(slot, owner, options)
    except LockBusy as error:
        raise StateLocked(str(error)) from None
    locked: LockedState | None = None
    try:
        state = read()
        lowest = max(held.record.serial, floor())
        if state.serial < lowest and not older_ok:
            raise StateConflict(
                f"state {slot.where()} has serial {state.serial}, but serial {lowest} was "
                "written before: the document was replaced by an older one; `orgc state "
                "history` lists the versions and `orgc state restore VERSION` brings one back"
            )
        held.start_renewing()
        locked = LockedState(state, commit, held=held, floor=lowest)
        yield locked
    finally:
        if locked is not None:
            locked._release()
        # A failure to release must not hide the error that ended the block; an unreleased
        # lock runs out with its lease.
        with contextlib.suppress(*release_errors):
            held.release()


class _LocalLockSlot:
    """A lock file, swapped under a short OS lock on its directory."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self._where = where

    def where(self) -> str:
        return self._where

    def read(self) -> tuple[bytes | None, object]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None, None
        return data, data

    def swap(self, token: object, data: bytes) -> object | None:
        with exclusive(str(self.path.parent)):
            current, _ = self.read()
            if current != token:
                return None
            _write_atomically(self.path, data)
        return data


class LocalStateStore:
    """State in a local file; the lock is a sibling `<name>.lock` file; every version written
    is also kept in `.orgc/backups/` beside it (the last `BACKUPS_KEPT`)."""

    def __init__(self, path: Path, *, lock_options: LockOptions | None = None) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.backup_dir = path.parent / ".orgc" / "backups"
        self.lock_options = lock_options or LockOptions()
        self._slot = _LocalLockSlot(self.lock_path, str(path))

    def describe(self) -> str:
        return str(self.path)

    def read(self) -> State:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return State()
        except OSError as error:
            raise StateError(f"state {self.path} cannot be read: {error.strerror}") from error
        return State.from_json(data, origin=str(self.path))

    def lock(self, owner: str) -> contextlib.AbstractContextManager[LockedState]:
        return self._lock(owner, older_ok=False)

    def _lock(
        self, owner: str, *, older_ok: bool
    ) -> contextlib.AbstractContextManager[LockedState]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return _held_state(
            self._slot,
            owner,
            self.lock_options,
            read=self.read,
            commit=self._commit,
            floor=lambda: max((serial for serial, _ in self._backups()), default=0),
            release_errors=(OSError,),
            older_ok=older_ok,
        )

    def lock_holder(self) -> LockRecord | None:
        return read_record(self._slot)

    def force_unlock(self, by: str) -> str:
        if not self.path.parent.is_dir():
            return "none"
        return break_lock(self._slot, by, clock=self.lock_options.clock)

    def history(self) -> tuple[StateVersion, ...]:
        current = self.read().serial
        versions = []
        for serial, path in sorted(self._backups(), reverse=True):
            stat = path.stat()
            versions.append(
                StateVersion(
                    version=str(serial),
                    serial=serial,
                    time=datetime.fromtimestamp(stat.st_mtime, timezone.utc).isoformat(
                        timespec="seconds"
                    ),
                    size=stat.st_size,
                    current=serial == current,
                )
            )
        return tuple(versions)

    def restore(self, version: str, owner: str) -> State:
        found = dict(self._backups()).get(int(version)) if version.isdigit() else None
        if found is None:
            raise StateError(
                f"state {self.path} has no backup {version!r}; `orgc state history` lists them"
            )
        old = State.from_json(found.read_bytes(), origin=str(found))
        with self._lock(owner, older_ok=True) as locked:
            return locked.write(old)

    def _backups(self) -> list[tuple[int, Path]]:
        prefix = f"{self.path.name}."
        try:
            entries = list(self.backup_dir.iterdir())
        except OSError:
            return []
        found = []
        for entry in entries:
            suffix = entry.name[len(prefix) :]
            if entry.name.startswith(prefix) and suffix.isdigit():
                found.append((int(suffix), entry))
        return found

    def _commit(self, previous: State, new: State) -> None:
        # Under the lock nobody else writes; a different serial on disk means someone wrote
        # without the lock meanwhile.
        on_disk = self.read()
        if on_disk.serial != previous.serial or on_disk.lineage != previous.lineage:
            raise StateConflict(
                f"state {self.path} changed underneath this run (serial {on_disk.serial} on disk, "
                f"{previous.serial} expected); run plan again"
            )
        data = new.to_json()
        _write_atomically(self.path, data)
        # The backup comes second: a crash between the two leaves a version without a backup,
        # never a backup newer than the state (which would read as a serial gone backwards).
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(self.backup_dir / f"{self.path.name}.{new.serial:08d}", data)
        for _, old in sorted(self._backups())[:-BACKUPS_KEPT]:
            old.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is; Windows cannot open a directory
    # and makes renames durable itself.
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_owner() -> str:
    """Who takes a lock, as its record names them: `user@host pid N`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def default_state_bucket(account_id: str) -> str:
    """The S3 bucket orgc keeps state in unless told otherwise."""
    return f"orgc-state-{account_id}"


# --- the state bucket ----------------------------------------------------------------------


def bucket_refusals(
    facts: BucketFacts,
    *,
    bucket: str,
    management_account_id: str,
    organization_id: Callable[[], str],
) -> list[str]:
    """Why orgc must not keep state in this bucket (empty: it may).

    The state names every account of the organization and its access roles: it stays in a
    bucket of the management account that nobody outside the organization can read.
    `organization_id` is asked only when the bucket has a policy.
    """
    if not facts.owned:
        return [
            f"bucket {bucket} belongs to another AWS account, not to the management account "
            f"{management_account_id}; keep the state elsewhere with --state-bucket"
        ]
    refusals = []
    if facts.public_grants:
        refusals.append(
            f"bucket {bucket} grants {', '.join(facts.public_grants)} to everyone in its ACL; "
            "remove those grants (and check who read the bucket) or keep the state elsewhere "
            "with --state-bucket"
        )
    if facts.policy_public:
        refusals.append(
            f"bucket {bucket} has a bucket policy that makes it public; remove that policy (and "
            "check who read the bucket) or keep the state elsewhere with --state-bucket"
        )
    elif facts.policy is not None:
        outside = _statements_beyond_organization(
            facts.policy, management_account_id, organization_id()
        )
        if outside:
            refusals.append(
                f"bucket {bucket}'s policy allows principals outside the organization "
                f"(statement {', '.join(outside)}); limit every Allow to the management account "
                "or to aws:PrincipalOrgID, or remove the policy"
            )
    return refusals


def _statements_beyond_organization(
    policy: Mapping[str, Any], management_account_id: str, organization_id: str
) -> list[str]:
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return ["(unreadable)"]
    own = {
        management_account_id,
        f"arn:aws:iam::{management_account_id}:root",
    }
    outside = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            outside.append(f"#{index + 1}")
            continue
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        aws = principal.get("AWS") if isinstance(principal, dict) else None
        names = [aws] if isinstance(aws, str) else aws if isinstance(aws, list) else None
        if (
            isinstance(principal, dict)
            and set(principal) == {"AWS"}
            and names is not None
            and set(names) <= own
        ):
            continue
        if _limited_to(statement.get("Condition"), organization_id):
            continue
        outside.append(str(statement.get("Sid") or f"#{index + 1}"))
    return outside


def _limited_to(condition: object, organization_id: str) -> bool:
    if not isinstance(condition, dict):
        return False
    for operator, tests in condition.items():
        if operator not in {"StringEquals", "ForAnyValue:StringEquals"}:
            continue
        if not isinstance(tests, dict):
            continue
        for key, value in tests.items():
            values = value if isinstance(value, list) else [value]
            if key.lower() == "aws:principalorgid" and values == [organization_id]:
                return True
    return False


def missing_bucket_settings(facts: BucketFacts) -> list[str]:
    """The settings of an owned bucket that orgc's setup makes and that it lacks."""
    missing = []
    if facts.versioning != "Enabled":
        missing.append("versioning")
    if not facts.encrypted:
        missing.append("default encryption")
    block = facts.public_access_block or {}
    if len(block) < 4 or not all(block.values()):
        missing.append("public access block")
    return missing


class _S3LockSlot:
    """A lock object, swapped with S3 conditional writes."""

    def __init__(self, store: S3StateStore) -> None:
        self._store = store

    def where(self) -> str:
        return self._store.describe()

    def read(self) -> tuple[bytes | None, object]:
        from orgc.aws import AwsError

        store = self._store
        try:
            found = store.provider.get_object(store.bucket, store.lock_key)
        except AwsError as error:
            if error.code == "NoSuchBucket":
                return None, None
            raise
        return (None, None) if found is None else found

    def swap(self, token: object, data: bytes) -> object | None:
        from orgc.aws import PreconditionFailed

        store = self._store
        try:
            return store.provider.put_object(
                store.bucket,
                store.lock_key,
                data,
                if_match=token if isinstance(token, str) else None,
                if_none_match=token is None,
            )
        except PreconditionFailed:
            # The write may have landed and only its answer been lost, so that the retry found
            # our own record in place: read it back before concluding that someone moved first.
            current, etag = self.read()
            return etag if current == data else None


class S3StateStore:
    """State in an S3 object; the lock is a `<key>.lock` object changed by conditional writes.

    The bucket is checked on every use (owned by the management account, not public, a policy
    limited to the organization) and finished on the first lock (created if missing; versioning,
    default encryption and the public access block added where an interrupted setup left them
    out). Writes carry the ETag of the version last read or written (or "must not exist" for the
    first write), so a writer that slipped in meanwhile makes this run's write fail with
    `StateConflict` instead of being lost.
    """

    def __init__(
        self,
        provider: AwsProvider,
        bucket: str,
        key: str = "state.json",
        *,
        region: str,
        lock_options: LockOptions | None = None,
    ) -> None:
        self.provider = provider
        self.bucket = bucket
        self.key = key
        self.lock_key = f"{key}.lock"
        self.region = region
        self.lock_options = lock_options or LockOptions()
        self._slot = _S3LockSlot(self)
        self._bucket_checked = False  # checked, may still lack settings
        self._bucket_ready = False  # checked and finished

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def read(self) -> State:
        state, _ = self._read_with_etag()
        return state

    def lock(self, owner: str) -> contextlib.AbstractContextManager[LockedState]:
        return self._lock(owner, older_ok=False)

    def _lock(
        self, owner: str, *, older_ok: bool
    ) -> contextlib.AbstractContextManager[LockedState]:
        from orgc.aws import AwsError

        self._prepare_bucket(finish=True)
        current: dict[str, str | None] = {}

        def read() -> State:
            state, current["etag"] = self._read_with_etag()
            return state

        return _held_state(
            self._slot,
            owner,
            self.lock_options,
            read=read,
            commit=lambda previous, new: self._commit(current, previous, new),
            floor=lambda: 0,
            release_errors=(AwsError,),
            older_ok=older_ok,
        )

    def _commit(self, current: dict[str, str | None], previous: State, new: State) -> None:
        from orgc.aws import PreconditionFailed

        data = new.to_json()
        try:
            current["etag"] = self.provider.put_object(
                self.bucket,
                self.key,
                data,
                if_match=current["etag"],
                if_none_match=current["etag"] is None,
            )
        except PreconditionFailed as error:
            # A write that landed with its answer lost meets its own document on the retry.
            found = self.provider.get_object(self.bucket, self.key)
            if found is not None and found[0] == data:
                current["etag"] = found[1]
                return
            raise StateConflict(
                f"state {self.describe()} changed underneath this run (serial "
                f"{previous.serial} expected); run plan again"
            ) from error

    def lock_holder(self) -> LockRecord | None:
        self._prepare_bucket(finish=False)
        return read_record(self._slot)

    def force_unlock(self, by: str) -> str:
        if not self._prepare_bucket(finish=False):
            return "none"
        return break_lock(self._slot, by, clock=self.lock_options.clock)

    def history(self) -> tuple[StateVersion, ...]:
        if not self._prepare_bucket(finish=False):
            return ()
        versions = []
        for version in self.provider.list_object_versions(self.bucket, self.key)[:_HISTORY_LISTED]:
            data = self.provider.get_object_version(self.bucket, self.key, version.version_id)
            serial: int | None = None
            if data is not None:
                with contextlib.suppress(StateError):
                    serial = State.from_json(data, origin=self.describe()).serial
            versions.append(
                StateVersion(
                    version=version.version_id,
                    serial=serial,
                    time=version.last_modified,
                    size=version.size,
                    current=version.latest,
                )
            )
        return tuple(versions)

    def restore(self, version: str, owner: str) -> State:
        data = None
        if self._prepare_bucket(finish=False):
            data = self.provider.get_object_version(self.bucket, self.key, version)
        if data is None:
            raise StateError(
                f"state {self.describe()} has no version {version!r}; `orgc state history` "
                "lists them"
            )
        old = State.from_json(data, origin=f"{self.describe()} version {version}")
        with self._lock(owner, older_ok=True) as locked:
            return locked.write(old)

    def _prepare_bucket(self, *, finish: bool) -> bool:
        """Check the bucket (and with `finish`, create or finish its setup); False when there
        is no bucket yet (nothing to read). Raises `StateBucketRefused`."""
        if self._bucket_ready or (self._bucket_checked and not finish):
            return True
        facts = self.provider.describe_bucket(self.bucket, self.region, setup=finish)
        if facts is None:
            if not finish:
                return False
            self.provider.create_bucket(self.bucket, self.region)
            self._bucket_checked = self._bucket_ready = True
            return True
        refusals = bucket_refusals(
            facts,
            bucket=self.bucket,
            management_account_id=self.provider.management_account_id(),
            organization_id=lambda: self.provider.organization_identity()[0],
        )
        if refusals:
            raise StateBucketRefused(
                f"state {self.describe()} is not kept in this bucket: " + "; ".join(refusals)
            )
        self._bucket_checked = True
        missing = missing_bucket_settings(facts) if finish else []
        if missing:
            fixes = {
                "versioning": self.provider.enable_bucket_versioning,
                "default encryption": self.provider.enable_bucket_encryption,
                "public access block": self.provider.block_bucket_public_access,
            }
            for setting in missing:
                fixes[setting](self.bucket, self.region)
            self.lock_options.notify(
                Diagnostic(
                    "W702",
                    f"finished the setup of state bucket {self.bucket}: {', '.join(missing)} added",
                )
            )
        self._bucket_ready = finish
        return True

    def _read_with_etag(self) -> tuple[State, str | None]:
        if not self._prepare_bucket(finish=False):
            return State(), None
        found = self.provider.get_object(self.bucket, self.key)
        if found is None:
            return State(), None
        data, etag = found
        return State.from_json(data, origin=self.describe()), etag
