"""`orgc init`: an organization that already exists, written as files and a state.

The core, `adopt`, is pure: a live organization as the provider read it in, the text of the
files and the ids of the state out. `organization.yml` describes what is there (the management
account, the root, the OU tree, the active accounts with their names, emails, ids, tags, aliases
and password policies, and every customer-managed policy with its document and attachments);
the state records the physical id behind every logical id, so that a plan of these files right
after is a no-op. AWS-managed policies (FullAWSAccess and the like) are AWS's: AWS attaches
them and orgc never detaches them, so they are not written.

The shell, `init_organization`, reads the organization through the provider, refuses to
overwrite files or a state that exist (unless forced), writes both, and proves the result by
planning the written files against the same read.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, TaggedScalar
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from orgc.diagnostics import Diagnostic, StageError
from orgc.model import DEFAULT_ACCESS_ROLE
from orgc.observed import (
    SERVICE_CONTROL_POLICY,
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    PasswordPolicySettings,
)
from orgc.pipeline import compile_organization
from orgc.plan import PlanError, plan
from orgc.provider import Provider
from orgc.state import State, StateStore, lock_owner

ORGANIZATION_FILE = "organization.yml"
POLICY_FOLDER = "policies"
# A document longer than this many lines (as indented JSON) goes to a file of its own under
# policies/, read with !ReadFile: the organization file stays readable, and a policy reviewed
# as a diff of its own file.
LONG_DOCUMENT_LINES = 20

ROOT_LOGICAL_ID = "Root"
# Names a template gives a meaning of its own (`!Ref CurrentAccount`): never a logical id.
_RESERVED = frozenset({"CurrentAccount", "AWSAccount", "ORG"})

# The suffix a policy's logical id gets, by policy type.
_POLICY_SUFFIXES = {
    "SERVICE_CONTROL_POLICY": "Scp",
    "RESOURCE_CONTROL_POLICY": "Rcp",
    "TAG_POLICY": "TagPolicy",
    "BACKUP_POLICY": "BackupPolicy",
    "AISERVICES_OPT_OUT_POLICY": "AiOptOutPolicy",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Adoption:
    """What `orgc init` writes: `files` by path relative to the directory (organization.yml
    first, then policy documents), `state` with every physical id, and what was left out."""

    files: dict[str, str]
    state: State
    warnings: tuple[Diagnostic, ...] = ()


# --- logical ids ----------------------------------------------------------------------------


def pascal_case(name: str) -> str:
    """`shop-prod` → `ShopProd`: ASCII letters and digits of `name`, each word capitalised."""
    words = re.split(r"[^A-Za-z0-9]+", name)
    return "".join(word[:1].upper() + word[1:] for word in words if word)


class _LogicalIds:
    """Hands out logical ids that are valid (letters and digits), unique and stable: the same
    organization gives the same ids, claimed in a fixed order."""

    def __init__(self) -> None:
        self.taken: set[str] = set(_RESERVED)

    def claim(self, name: str, suffix: str, fallback: str) -> str:
        base = pascal_case(name)
        if not base:
            base = fallback  # a name with no ASCII letter or digit: named after its id
        elif base[0].isdigit():
            base = suffix + base  # `0123` → Account0123: an id reads better led by a letter
        elif not base.lower().endswith(suffix.lower()):
            base += suffix
        candidate, number = base, 1
        while candidate in self.taken:
            number += 1
            candidate = f"{base}{number}"
        self.taken.add(candidate)
        return candidate


# --- the pure core --------------------------------------------------------------------------


def _ref(logical_id: str) -> TaggedScalar:
    return TaggedScalar(logical_id, tag="!Ref")


def _refs(logical_ids: Sequence[str]) -> Any:
    """One `!Ref`, or a list of them."""
    if len(logical_ids) == 1:
        return _ref(logical_ids[0])
    return [_ref(i) for i in logical_ids]


# Strings that other YAML readers (YAML 1.1: yes, no, on, off; numbers) take for something
# else are quoted, so the file means the same to OrgFormation's reader as to orgc's.
_AMBIGUOUS = re.compile(
    r"(?i:y|n|yes|no|on|off|true|false|null|~)|[-+]?[0-9][0-9_.:eE+-]*|[-+]?\.(?i:inf|nan)"
)


def _text(value: str) -> str:
    if _AMBIGUOUS.fullmatch(value):
        quoted: str = SingleQuotedScalarString(value)
        return quoted
    return value


def _tags(tags: Mapping[str, str]) -> CommentedMap:
    result = CommentedMap()
    for key, value in sorted(tags.items()):
        result[_text(key)] = _text(value)
    return result


def _yaml_value(value: Any) -> Any:
    """A policy document (JSON data) as YAML data, strings quoted where YAML would misread."""
    if isinstance(value, dict):
        result = CommentedMap()
        for key, item in value.items():
            result[_text(str(key))] = _yaml_value(item)
        return result
    if isinstance(value, list):
        return [_yaml_value(item) for item in value]
    if isinstance(value, str):
        return _text(value)
    return value


def _settings_properties(settings: PasswordPolicySettings) -> CommentedMap:
    properties = CommentedMap()
    properties["MinimumPasswordLength"] = settings.minimum_password_length
    properties["RequireSymbols"] = settings.require_symbols
    properties["RequireNumbers"] = settings.require_numbers
    properties["RequireUppercaseCharacters"] = settings.require_uppercase_characters
    properties["RequireLowercaseCharacters"] = settings.require_lowercase_characters
    properties["AllowUsersToChangePassword"] = settings.allow_users_to_change_password
    if settings.max_password_age is not None:
        properties["MaxPasswordAge"] = settings.max_password_age
    if settings.password_reuse_prevention is not None:
        properties["PasswordReusePrevention"] = settings.password_reuse_prevention
    if settings.hard_expiry:
        properties["HardExpiry"] = True
    return properties


def _settings_key(settings: PasswordPolicySettings) -> tuple[Any, ...]:
    return (
        settings.minimum_password_length,
        settings.require_symbols,
        settings.require_numbers,
        settings.require_uppercase_characters,
        settings.require_lowercase_characters,
        settings.allow_users_to_change_password,
        settings.max_password_age or 0,
        settings.password_reuse_prevention or 0,
        settings.hard_expiry,
    )


def _resource(resource_type: str, properties: CommentedMap) -> CommentedMap:
    resource = CommentedMap()
    resource["Type"] = resource_type
    resource["Properties"] = properties
    return resource


def _ous_top_down(live: LiveOrganization) -> list[LiveOrganizationalUnit]:
    """Every OU, parents first, siblings by (name, id)."""

    def depth(ou: LiveOrganizationalUnit) -> int:
        level, current = 0, ou
        while current is not None:
            level += 1
            current = live.organizational_units.get(current.parent_id)  # type: ignore[assignment]
        return level

    return sorted(live.organizational_units.values(), key=lambda o: (depth(o), o.name, o.ou_id))


def _left_out(live: LiveOrganization, access_role: str) -> list[Diagnostic]:
    """A warning for each account left out of the files, or whose details are."""
    warnings = []
    for account in sorted(live.accounts.values(), key=lambda a: a.account_id):
        if account.status != "ACTIVE":
            warnings.append(
                Diagnostic(
                    "W801",
                    f"account {account.name} ({account.account_id}) is {account.status}; it is "
                    "left out of the files",
                )
            )
        elif not account.details_read:
            warnings.append(
                Diagnostic(
                    "W802",
                    f"the IAM alias and password policy of account {account.name} "
                    f"({account.account_id}) could not be read through {access_role}; they are "
                    "left out of the files",
                )
            )
    return warnings


def adopt(
    live: LiveOrganization,
    *,
    access_role: str = DEFAULT_ACCESS_ROLE,
    names: Mapping[str, str] | None = None,
) -> Adoption:
    """The files and the state that describe `live` exactly, so that a plan of them is a no-op.

    Accounts that are not ACTIVE (suspended, closing) are left out with a warning, as are the
    alias and password policy of an account whose details could not be read through
    `access_role` (those the plan leaves alone either way). `names` gives accounts their
    logical ids (account id → logical id, as written, spaces and all); the others are named
    after their names.
    """
    ids = _LogicalIds()
    given = dict(names or {})
    ids.taken.update(given.values())
    warnings = _left_out(live, access_role)
    root_id = ids.claim(ROOT_LOGICAL_ID, "", "Root")
    management = live.accounts.get(live.management_account_id)
    active = [a for a in live.accounts.values() if a.status == "ACTIVE"]
    account_ids: dict[str, str] = {}  # account id → logical id
    if management is not None:
        account_ids[management.account_id] = given.get(management.account_id) or ids.claim(
            management.name, "Account", "Management"
        )
    for account in sorted(active, key=lambda a: (a.name, a.account_id)):
        if account.account_id in given:
            account_ids[account.account_id] = given[account.account_id]
        elif account.account_id not in account_ids:
            account_ids[account.account_id] = ids.claim(
                account.name, "Account", f"Account{account.account_id}"
            )
    ous = _ous_top_down(live)
    # OUs of one name under several parents (prod under workloads and under sandbox) are told
    # apart by their parent's name: WorkloadsProdOU, SandboxProdOU.
    name_count: dict[str, int] = {}
    for ou in ous:
        name_count[pascal_case(ou.name).lower()] = (
            name_count.get(pascal_case(ou.name).lower(), 0) + 1
        )
    ou_ids: dict[str, str] = {}
    for ou in ous:
        name = ou.name
        parent = live.organizational_units.get(ou.parent_id)
        if name_count[pascal_case(name).lower()] > 1 and parent is not None:
            name = f"{parent.name} {name}"
        ou_ids[ou.ou_id] = ids.claim(name, "OU", f"OU{pascal_case(ou.ou_id)}")
    managed = sorted(
        (p for p in live.policies.values() if not p.aws_managed),
        key=lambda p: (p.policy_type != SERVICE_CONTROL_POLICY, p.policy_type, p.name, p.policy_id),
    )
    policy_ids = {
        p.policy_id: ids.claim(
            p.name, _POLICY_SUFFIXES.get(p.policy_type, "Policy"), pascal_case(p.policy_id)
        )
        for p in managed
    }
    password_ids: dict[tuple[Any, ...], str] = {}
    settings_of: dict[tuple[Any, ...], PasswordPolicySettings] = {}
    for account in sorted(
        active, key=lambda a: (a.account_id != live.management_account_id, a.account_id)
    ):
        if account.password_policy is None or not account.details_read:
            continue
        key = _settings_key(account.password_policy)
        if key not in password_ids:
            password_ids[key] = ids.claim("Password", "Policy", "PasswordPolicy")
            settings_of[key] = account.password_policy

    def attached(policy_ids_of_target: Iterable[str], scps: bool) -> list[str]:
        return [
            policy_ids[p]
            for p in sorted(policy_ids_of_target, key=lambda p: policy_ids.get(p, ""))
            if p in policy_ids and (live.policies[p].policy_type == SERVICE_CONTROL_POLICY) == scps
        ]

    files: dict[str, str] = {}
    organization = CommentedMap()

    def account_properties(account: LiveAccount) -> CommentedMap:
        properties = CommentedMap()
        properties["AccountName"] = _text(account.name)
        properties["AccountId"] = SingleQuotedScalarString(account.account_id)
        if account.email:
            properties["RootEmail"] = _text(account.email)
        if account.alias and account.details_read:
            properties["Alias"] = _text(account.alias)
        scps = attached(account.policy_ids, scps=True)
        if scps:
            properties["ServiceControlPolicies"] = _refs(scps)
        if account.password_policy is not None and account.details_read:
            properties["PasswordPolicy"] = _ref(
                password_ids[_settings_key(account.password_policy)]
            )
        if account.tags:
            properties["Tags"] = _tags(account.tags)
        return properties

    if management is not None:
        organization[account_ids[management.account_id]] = _resource(
            "OC::ORG::MasterAccount", account_properties(management)
        )
    root = CommentedMap()
    root_scps = attached(live.root.policy_ids, scps=True)
    if root_scps:
        root["ServiceControlPolicies"] = _refs(root_scps)
    if access_role != DEFAULT_ACCESS_ROLE:
        root["DefaultOrganizationAccessRoleName"] = access_role
    organization[root_id] = _resource("OC::ORG::OrganizationRoot", root)

    for ou in ous:
        properties = CommentedMap()
        properties["OrganizationalUnitName"] = _text(ou.name)
        children = sorted(
            ou_ids[child.ou_id]
            for child in live.organizational_units.values()
            if child.parent_id == ou.ou_id
        )
        if children:
            properties["OrganizationalUnits"] = [_ref(c) for c in children]
        members = sorted(
            account_ids[a.account_id]
            for a in live.accounts.values()
            if a.parent_id == ou.ou_id and a.account_id in account_ids
        )
        if members:
            properties["Accounts"] = [_ref(m) for m in members]
        scps = attached(ou.policy_ids, scps=True)
        if scps:
            properties["ServiceControlPolicies"] = _refs(scps)
        if ou.tags:
            properties["Tags"] = _tags(ou.tags)
        organization[ou_ids[ou.ou_id]] = _resource("OC::ORG::OrganizationalUnit", properties)

    for account in sorted(active, key=lambda a: account_ids[a.account_id]):
        if account.account_id == live.management_account_id:
            continue
        organization[account_ids[account.account_id]] = _resource(
            "OC::ORG::Account", account_properties(account)
        )

    targets: dict[str, list[str]] = {}  # policy id → logical ids it is attached to
    target_sources: list[tuple[str, tuple[str, ...]]] = [(root_id, live.root.policy_ids)]
    target_sources += [(ou_ids[o.ou_id], o.policy_ids) for o in ous]
    target_sources += [
        (account_ids[a.account_id], a.policy_ids)
        for a in sorted(active, key=lambda a: account_ids[a.account_id])
    ]
    for logical_id, attached_ids in target_sources:
        for policy_id in attached_ids:
            targets.setdefault(policy_id, []).append(logical_id)

    for policy in managed:
        logical_id = policy_ids[policy.policy_id]
        properties = CommentedMap()
        scp = policy.policy_type == SERVICE_CONTROL_POLICY
        if not scp:
            properties["PolicyType"] = policy.policy_type
        properties["PolicyName"] = _text(policy.name)
        if policy.description:
            properties["Description"] = _text(policy.description)
        properties["PolicyDocument"] = _document(policy, logical_id, files)
        if not scp and policy.policy_id in targets:
            properties["Targets"] = [_ref(t) for t in targets[policy.policy_id]]
        if policy.tags:
            properties["Tags"] = _tags(policy.tags)
        organization[logical_id] = _resource(
            "OC::ORG::ServiceControlPolicy" if scp else "Orgc::ORG::Policy", properties
        )

    for key, logical_id in password_ids.items():
        organization[logical_id] = _resource(
            "OC::ORG::PasswordPolicy", _settings_properties(settings_of[key])
        )

    document = CommentedMap()
    document["AWSTemplateFormatVersion"] = SingleQuotedScalarString("2010-09-09-OC")
    document["Organization"] = organization
    header = (
        f"# Organization {live.organization_id} of management account "
        f"{live.management_account_id}, as `orgc init` read it.\n"
        "# The state records the AWS id behind each logical id. AWS-managed policies "
        "(FullAWSAccess\n# and the like) stay attached by AWS and are not listed.\n"
    )
    text = header + _dump(document)
    state = State(
        management_account_id=live.management_account_id,
        organization_id=live.organization_id,
        root_id=live.root.root_id,
        accounts={logical: physical for physical, logical in sorted(account_ids.items())},
        organizational_units={logical: physical for physical, logical in sorted(ou_ids.items())},
        policies={logical: physical for physical, logical in sorted(policy_ids.items())},
    )
    return Adoption(
        files={ORGANIZATION_FILE: text, **dict(sorted(files.items()))},
        state=replace(
            state,
            accounts=dict(sorted(state.accounts.items())),
            organizational_units=dict(sorted(state.organizational_units.items())),
            policies=dict(sorted(state.policies.items())),
        ),
        warnings=tuple(sorted(warnings, key=Diagnostic.sort_key)),
    )


def _document(policy: LivePolicy, logical_id: str, files: dict[str, str]) -> Any:
    """The policy document inline as YAML, or, when long, a `!ReadFile` of a file in
    `files`. A document that is not JSON (AWS stores only JSON) is written as it is."""
    try:
        data = json.loads(policy.content)
    except ValueError:
        return policy.content
    pretty = json.dumps(data, indent=2, ensure_ascii=False)
    if pretty.count("\n") + 1 <= LONG_DOCUMENT_LINES:
        return _yaml_value(data)
    path = f"{POLICY_FOLDER}/{logical_id}.json"
    files[path] = pretty + "\n"
    return TaggedScalar(path, tag="!ReadFile")


def _dump(document: CommentedMap) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    # A blank line between resources, which sit alone at two spaces' indent.
    return re.sub(r"\n(  [A-Za-z0-9]+:\n)", r"\n\n\1", buffer.getvalue()).replace(
        "Organization:\n\n", "Organization:\n"
    )


# --- the shell ------------------------------------------------------------------------------


class InitError(Exception):
    """`orgc init` cannot go on; the diagnostics say why."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(str(d) for d in diagnostics))


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    written: tuple[Path, ...]
    state: State
    warnings: tuple[Diagnostic, ...] = ()
    accounts: int = 0
    organizational_units: int = 0
    policies: int = 0
    pending: tuple[str, ...] = field(default=())  # summaries of changes a plan would still make


def existing_files(directory: Path, names: Iterable[str]) -> list[Diagnostic]:
    """An E801 for each of `names` that already exists under `directory`."""
    return [
        Diagnostic(
            "E801",
            f"{directory / name} exists; orgc init does not overwrite it (pass --force to "
            "replace it)",
        )
        for name in names
        if (directory / name).exists()
    ]


def write_files(directory: Path, files: Mapping[str, str]) -> tuple[Path, ...]:
    """Write each file atomically (a temporary file renamed into place); InitError (E803)
    when one cannot be written."""
    written = []
    for name, text in files.items():
        path = directory / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.tmp")
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as error:
            raise InitError(
                [Diagnostic("E803", f"cannot write {path}: {error.strerror or error}")]
            ) from None
        written.append(path)
    return tuple(written)


def _holds_organization(state: State) -> bool:
    return bool(state.accounts or state.organizational_units or state.policies or state.stacks)


def init_organization(
    provider: Provider,
    directory: Path,
    store: StateStore,
    *,
    force: bool = False,
    access_role: str = DEFAULT_ACCESS_ROLE,
    organization_file: str = ORGANIZATION_FILE,
) -> InitResult:
    """Read the organization, write `directory/organization.yml` (or `organization_file`, the
    name OrgFormation's `init FILE` gives it; and long policy documents) and the state, and
    plan the written files against the same read.

    Raises InitError when a file or the state would be overwritten without `force`, or when
    the written files do not compile (a bug). With `force`, the organization's ids in the
    state are replaced and its stack records kept.
    """
    roles: dict[str, str] = {}
    if access_role != DEFAULT_ACCESS_ROLE:
        # The accounts' ids are known only after a first read without their details.
        bare = provider.read_organization(account_roles={}, read_account_details=False)
        roles = dict.fromkeys(bare.accounts, access_role)
    live = provider.read_organization(account_roles=roles, read_account_details=True)
    adoption = adopt(live, access_role=access_role)
    if organization_file != ORGANIZATION_FILE:
        files = dict(adoption.files)
        files = {organization_file: files.pop(ORGANIZATION_FILE), **files}
        adoption = replace(adoption, files=files)
    if not force:
        refusals = existing_files(directory, adoption.files)
        if refusals:
            raise InitError(refusals)
    # Under the lock from the first look at the state to the write, so that no other run
    # writes in between.
    with store.lock(lock_owner()) as locked:
        if not force and _holds_organization(locked.state):
            raise InitError(
                [
                    Diagnostic(
                        "E802",
                        f"{store.describe()} already holds the state of an organization; orgc "
                        "init does not overwrite it (pass --force to replace its organization "
                        "ids)",
                    )
                ]
            )
        written = write_files(directory, adoption.files)
        try:
            inputs = compile_organization(directory / organization_file)
        except StageError as error:
            raise InitError(error.diagnostics) from None
        adopted = replace(
            locked.state,
            management_account_id=adoption.state.management_account_id,
            organization_id=adoption.state.organization_id,
            root_id=adoption.state.root_id,
            accounts=adoption.state.accounts,
            organizational_units=adoption.state.organizational_units,
            policies=adoption.state.policies,
            retired_organizational_units=(),
            organization_digest=None,
        )
        try:
            check = plan(inputs.organization, live, adopted, source=inputs.source)
        except PlanError as error:
            raise InitError(error.diagnostics) from None
        pending = tuple(change.summary for change in check.changes)
        if not pending:
            # The files describe the organization as it is: later plans may trust the state
            # until the files change, as after a complete apply.
            adopted = replace(adopted, organization_digest=inputs.organization_digest)
        stored = locked.write(adopted)
    return InitResult(
        written=written,
        state=stored,
        warnings=tuple(sorted({*adoption.warnings, *inputs.warnings}, key=Diagnostic.sort_key)),
        accounts=len(adoption.state.accounts),
        organizational_units=len(adoption.state.organizational_units),
        policies=len(adoption.state.policies),
        pending=pending,
    )
