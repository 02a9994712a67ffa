"""Stage 3, model: validated organization data → a frozen, typed, checked `Organization`.

This is the one place that turns OrgFormation's PascalCase into Python names. It expands orgc's
account matrix into accounts, resolves every `!Ref`, and runs the checks that need the whole
organization at once: duplicates, OU cycles and depth, policy sizes and counts against the limits
in `orgc/data/limits.json`. Problems are collected; a model is returned only when there are none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orgc.diagnostics import CodeId, Diagnostics, Span, did_you_mean
from orgc.limits import limit, limits
from orgc.load import DataPath, LoadedFile, parse_json
from orgc.observed import SERVICE_CONTROL_POLICY, PasswordPolicySettings
from orgc.policy_grammar import check_policy

DEFAULT_ACCESS_ROLE = "OrganizationAccountAccessRole"

MASTER_ACCOUNT = "OC::ORG::MasterAccount"
ACCOUNT = "OC::ORG::Account"
ROOT = "OC::ORG::OrganizationRoot"
ORGANIZATIONAL_UNIT = "OC::ORG::OrganizationalUnit"
SERVICE_CONTROL_POLICY_TYPE = "OC::ORG::ServiceControlPolicy"
PASSWORD_POLICY = "OC::ORG::PasswordPolicy"
POLICY = "Orgc::ORG::Policy"
ACCOUNT_MATRIX = "Orgc::ORG::AccountMatrix"

# What each kind of reference may point at, by resource type.
_ACCOUNT_TYPES = (MASTER_ACCOUNT, ACCOUNT)
_POLICY_TYPES = (SERVICE_CONTROL_POLICY_TYPE, POLICY)
_TARGET_TYPES = (MASTER_ACCOUNT, ACCOUNT, ORGANIZATIONAL_UNIT, ROOT)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    logical_id: str
    policy_type: str  # SERVICE_CONTROL_POLICY, TAG_POLICY, ...
    name: str
    description: str
    document: str  # minified JSON, as sent to AWS
    tags: dict[str, str] = field(default_factory=dict)
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicy:
    logical_id: str
    settings: PasswordPolicySettings
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    logical_id: str
    name: str
    account_id: str | None
    email: str | None
    alias: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    policies: tuple[str, ...] = ()  # logical ids of directly attached policies, every type
    password_policy: str | None = None  # logical id
    access_role_name: str = DEFAULT_ACCESS_ROLE
    build_role_name: str | None = None
    support_level: str | None = None
    management: bool = False
    parent: str | None = None  # logical id of its OU; None: the root
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationalUnit:
    logical_id: str
    name: str
    parent: str | None = None  # logical id of the parent OU; None: the root
    policies: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Root:
    logical_id: str | None = None
    policies: tuple[str, ...] = ()
    default_access_role_name: str = DEFAULT_ACCESS_ROLE
    default_build_role_name: str | None = None
    close_accounts_on_removal: bool = False
    span: Span | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Organization:
    root: Root
    accounts: dict[str, Account]  # by logical id; the management account included
    organizational_units: dict[str, OrganizationalUnit]
    policies: dict[str, Policy]
    password_policies: dict[str, PasswordPolicy]

    @property
    def management_account(self) -> Account:
        return next(a for a in self.accounts.values() if a.management)

    def ou_depth(self, logical_id: str) -> int:
        """1 for an OU directly under the root."""
        depth, current = 0, self.organizational_units.get(logical_id)
        while current is not None:
            depth += 1
            current = self.organizational_units.get(current.parent or "")
        return depth

    def ous_top_down(self) -> list[OrganizationalUnit]:
        """Every OU, parents before children, siblings by logical id."""
        return sorted(
            self.organizational_units.values(),
            key=lambda ou: (self.ou_depth(ou.logical_id), ou.logical_id),
        )


# --- limits ---------------------------------------------------------------------------------


def minify_policy(document: Any) -> str:
    """A policy document as AWS stores and counts it: compact JSON, key order kept."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


# --- building -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    path: DataPath  # of the resource in the file


class _Builder:
    def __init__(self, file: LoadedFile, diagnostics: Diagnostics) -> None:
        self.file = file
        self.diagnostics = diagnostics
        self.resources: dict[str, _Resource] = {}
        self.generated_accounts: dict[str, Account] = {}  # from account matrices
        self.generated_from: dict[str, DataPath] = {}  # generated account -> its matrix

    # positions and messages

    def span(self, path: DataPath) -> Span | None:
        return self.file.source_map.span(path)

    def error(self, code: CodeId, message: str, path: DataPath) -> None:
        """Report at the key that holds `path` (its value for list items and references)."""
        self.diagnostics.add(code, message, self.file.source_map.key_span(path))

    # references

    def type_of(self, logical_id: str) -> str | None:
        if logical_id in self.generated_accounts:
            return ACCOUNT
        resource = self.resources.get(logical_id)
        return resource.type if resource else None

    def refs(
        self, value: Any, path: DataPath, kinds: tuple[str, ...], what: str
    ) -> Iterator[tuple[str, DataPath]]:
        """Logical ids a RefList names, checked to exist and be of `kinds`.

        Plain strings were reported by the schema stage; they are skipped here.
        """
        if value is None:
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from self.refs(item, (*path, index), kinds, what)
            return
        if value == "*":
            for logical_id in self.all_of(kinds):
                yield logical_id, path
            return
        if not (isinstance(value, dict) and isinstance(value.get("Ref"), str)):
            return
        target = value["Ref"]
        ref_path = (*path, "Ref")
        found = self.type_of(target)
        if found is None:
            candidates = [*self.all_of(kinds)]
            self.error(
                "E301",
                f"!Ref {target} names no resource in the organization"
                f"{did_you_mean(target, candidates)}",
                ref_path,
            )
            return
        if found not in kinds:
            self.error(
                "E311",
                f"!Ref {target} is of type {found}, but {what} takes {' or '.join(kinds)}",
                ref_path,
            )
            return
        yield target, ref_path

    def all_of(self, kinds: tuple[str, ...]) -> list[str]:
        ids = [r.logical_id for r in self.resources.values() if r.type in kinds]
        if ACCOUNT in kinds:
            ids.extend(self.generated_accounts)
        return sorted(ids)

    def ref_ids(
        self, value: Any, path: DataPath, kinds: tuple[str, ...], what: str
    ) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for logical_id, _ in self.refs(value, path, kinds, what):
            seen.setdefault(logical_id)
        return tuple(seen)

    def one_ref(self, value: Any, path: DataPath, kinds: tuple[str, ...], what: str) -> str | None:
        found = self.ref_ids(value, path, kinds, what)
        return found[0] if found else None


def build_organization(file: LoadedFile, diagnostics: Diagnostics) -> Organization | None:
    """Build the checked organization model from a schema-validated organization file.

    Every problem goes to `diagnostics`; None is returned when any of them is an error.
    Tolerates values the schema stage already reported (they are skipped, not reported twice).
    """
    builder = _Builder(file, diagnostics)
    section = file.data.get("Organization") if isinstance(file.data, dict) else None
    if not isinstance(section, dict):
        return None
    for logical_id, resource in section.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            continue
        properties = resource.get("Properties")
        builder.resources[logical_id] = _Resource(
            logical_id,
            resource["Type"],
            properties if isinstance(properties, dict) else {},
            ("Organization", logical_id),
        )
    errors_before = diagnostics.error_count
    singletons = _check_singletons(builder)
    _expand_matrices(builder)
    password_policies = _password_policies(builder)
    policies = _policies(builder)
    attachments = _policy_targets(builder)
    root = _root(builder, singletons.get(ROOT), attachments)
    ous, ou_parent_paths = _organizational_units(builder, attachments)
    accounts = _accounts(builder, root, ous, attachments)
    organization = Organization(
        root=root,
        accounts=accounts,
        organizational_units=ous,
        policies=policies,
        password_policies=password_policies,
    )
    _check_ou_tree(builder, organization, ou_parent_paths)
    _check_uniqueness(builder, organization)
    _check_policy_limits(builder, organization)
    if singletons.get(MASTER_ACCOUNT) is None and diagnostics.error_count == errors_before:
        diagnostics.add(
            "E310",
            "the organization has no OC::ORG::MasterAccount; declare the management account "
            "with its AccountId",
            builder.span(("Organization",)),
        )
    if diagnostics.has_errors:
        return None
    return organization


def _check_singletons(builder: _Builder) -> dict[str, str]:
    first: dict[str, str] = {}
    for resource in builder.resources.values():
        if resource.type not in (MASTER_ACCOUNT, ROOT):
            continue
        if resource.type in first:
            builder.error(
                "E310",
                f"{resource.logical_id} is a second {resource.type} (the first is "
                f"{first[resource.type]}); an organization has only one",
                resource.path,
            )
            continue
        first[resource.type] = resource.logical_id
    return first


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float, bool))}


# --- account matrix -------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_ ]+", name) if part)


def _expand_matrices(builder: _Builder) -> None:
    for matrix in [r for r in builder.resources.values() if r.type == ACCOUNT_MATRIX]:
        _expand_matrix(builder, matrix)


def _expand_matrix(builder: _Builder, matrix: _Resource) -> None:
    props, path = matrix.properties, (*matrix.path, "Properties")
    environments = props.get("Environments")
    teams = props.get("Teams")
    if not isinstance(environments, dict) or not isinstance(teams, (list, dict)):
        return
    team_specs: dict[str, dict[str, Any]] = (
        {str(t): {} for t in teams}
        if isinstance(teams, list)
        else {str(k): (v if isinstance(v, dict) else {}) for k, v in teams.items()}
    )
    most = limit("orgc.accountMatrix.accounts")
    count = sum(
        len(wanted) if isinstance(wanted := spec.get("Environments"), list) else len(environments)
        for spec in team_specs.values()
    )
    if count > most:
        builder.error(
            "E319",
            f"the matrix makes {count:,} accounts ({len(team_specs):,} teams x "
            f"{len(environments):,} environments), more than the {most:,} orgc expands; split "
            "it or write fewer teams or environments",
            matrix.path,
        )
        return

    def substitute(template: str, variables: Mapping[str, str], where: DataPath) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in variables:
                builder.error(
                    "E317",
                    f"${{{name}}} is not a matrix variable; use "
                    f"{', '.join('${' + v + '}' for v in variables)}",
                    where,
                )
                return match.group(0)
            return variables[name]

        return _VARIABLE.sub(replace, template)

    common_policies = builder.ref_ids(
        props.get("ServiceControlPolicies"),
        (*path, "ServiceControlPolicies"),
        _POLICY_TYPES,
        "ServiceControlPolicies",
    )
    common_password = builder.one_ref(
        props.get("PasswordPolicy"), (*path, "PasswordPolicy"), (PASSWORD_POLICY,), "PasswordPolicy"
    )
    role = props.get("OrganizationAccessRoleName")
    for team, team_spec in team_specs.items():
        wanted = team_spec.get("Environments")
        for environment, env_value in environments.items():
            if isinstance(wanted, list) and environment not in wanted:
                continue
            env_spec: dict[str, Any] = env_value if isinstance(env_value, dict) else {}
            env_path = (*path, "Environments", environment)
            variables = {
                "team": team,
                "environment": environment,
                "Team": _pascal(team),
                "Environment": _pascal(environment),
            }
            logical_template = props.get("LogicalId", "${Team}${Environment}Account")
            logical_id = substitute(str(logical_template), variables, (*path, "LogicalId"))
            if not re.fullmatch(r"[A-Za-z0-9]+", logical_id):
                builder.error(
                    "E317",
                    f"the matrix makes the logical id {logical_id!r}, which is not alphanumeric",
                    (*path, "LogicalId"),
                )
                continue
            if logical_id in builder.resources or logical_id in builder.generated_accounts:
                builder.error(
                    "E317",
                    f"the matrix makes the logical id {logical_id}, which already exists; "
                    "change the matrix LogicalId pattern",
                    matrix.path,
                )
                continue
            tags = {
                k: substitute(v, variables, (*path, "Tags", k))
                for k, v in _string_map(props.get("Tags")).items()
            }
            tags.update(_string_map(env_spec.get("Tags")))
            tags.update(_string_map(team_spec.get("Tags")))
            env_policies = builder.ref_ids(
                env_spec.get("ServiceControlPolicies"),
                (*env_path, "ServiceControlPolicies"),
                _POLICY_TYPES,
                "ServiceControlPolicies",
            )
            password = (
                builder.one_ref(
                    env_spec.get("PasswordPolicy"),
                    (*env_path, "PasswordPolicy"),
                    (PASSWORD_POLICY,),
                    "PasswordPolicy",
                )
                or common_password
            )
            parent = builder.one_ref(
                env_spec.get("OrganizationalUnit"),
                (*env_path, "OrganizationalUnit"),
                (ORGANIZATIONAL_UNIT,),
                "OrganizationalUnit",
            )
            alias = props.get("Alias")
            builder.generated_from[logical_id] = matrix.path
            builder.generated_accounts[logical_id] = Account(
                logical_id=logical_id,
                name=substitute(
                    str(props.get("AccountName", "")), variables, (*path, "AccountName")
                ),
                account_id=None,
                email=substitute(str(props.get("RootEmail", "")), variables, (*path, "RootEmail")),
                alias=substitute(alias, variables, (*path, "Alias"))
                if isinstance(alias, str)
                else None,
                tags=tags,
                policies=tuple(dict.fromkeys((*common_policies, *env_policies))),
                password_policy=password,
                access_role_name=role if isinstance(role, str) else "",
                parent=parent,
                span=builder.span(matrix.path),
            )


# --- resources ------------------------------------------------------------------------------


def _password_policies(builder: _Builder) -> dict[str, PasswordPolicy]:
    result = {}
    for resource in builder.resources.values():
        if resource.type != PASSWORD_POLICY:
            continue
        p = resource.properties

        def flag(name: str, props: dict[str, Any] = p) -> bool:
            return props.get(name) is True

        def number(name: str, props: dict[str, Any] = p) -> int | None:
            value = props.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        result[resource.logical_id] = PasswordPolicy(
            logical_id=resource.logical_id,
            settings=PasswordPolicySettings(
                minimum_password_length=number("MinimumPasswordLength") or 8,
                require_symbols=flag("RequireSymbols"),
                require_numbers=flag("RequireNumbers"),
                require_uppercase_characters=flag("RequireUppercaseCharacters"),
                require_lowercase_characters=flag("RequireLowercaseCharacters"),
                allow_users_to_change_password=flag("AllowUsersToChangePassword"),
                max_password_age=number("MaxPasswordAge"),
                password_reuse_prevention=number("PasswordReusePrevention"),
                hard_expiry=flag("HardExpiry"),
            ),
            span=builder.span(resource.path),
        )
    return result


def _policies(builder: _Builder) -> dict[str, Policy]:
    result = {}
    for resource in builder.resources.values():
        if resource.type not in _POLICY_TYPES:
            continue
        p, path = resource.properties, (*resource.path, "Properties")
        document = p.get("PolicyDocument")
        if isinstance(document, str):
            try:
                document = parse_json(document)
            except ValueError as error:
                builder.error(
                    "E316",
                    f"PolicyDocument is a string but not JSON ({error.args[0]}); write it as YAML "
                    "or as valid JSON",
                    (*path, "PolicyDocument"),
                )
                continue
        if not isinstance(document, dict):
            if document is not None:
                builder.error("E316", "PolicyDocument must be an object", (*path, "PolicyDocument"))
            continue
        policy_type = (
            SERVICE_CONTROL_POLICY
            if resource.type == SERVICE_CONTROL_POLICY_TYPE
            else str(p.get("PolicyType", SERVICE_CONTROL_POLICY))
        )
        _check_grammar(builder, policy_type, document, (*path, "PolicyDocument"))
        result[resource.logical_id] = Policy(
            logical_id=resource.logical_id,
            policy_type=policy_type,
            name=str(p.get("PolicyName", resource.logical_id)),
            description=str(p.get("Description", "")),
            document=minify_policy(document),
            tags=_string_map(p.get("Tags")),
            span=builder.span(resource.path),
        )
    return result


def _check_grammar(
    builder: _Builder, policy_type: str, document: dict[str, Any], path: DataPath
) -> None:
    for finding in check_policy(policy_type, document):
        where = (*path, *finding.path)
        span = builder.file.source_map.key_span(where) if finding.key else builder.span(where)
        builder.diagnostics.add(finding.code, finding.message, span)


def _policy_targets(builder: _Builder) -> dict[str, list[str]]:
    """Policies that Orgc::ORG::Policy `Targets` attach, by target logical id."""
    attached: dict[str, list[str]] = {}
    for resource in builder.resources.values():
        if resource.type != POLICY:
            continue
        path = (*resource.path, "Properties", "Targets")
        for target in builder.ref_ids(
            resource.properties.get("Targets"), path, _TARGET_TYPES, "Targets"
        ):
            attached.setdefault(target, []).append(resource.logical_id)
    return attached


def _attached(
    builder: _Builder, resource_id: str, value: Any, path: DataPath, extra: Mapping[str, list[str]]
) -> tuple[str, ...]:
    scps = builder.ref_ids(value, path, (SERVICE_CONTROL_POLICY_TYPE,), "ServiceControlPolicies")
    return tuple(dict.fromkeys((*scps, *extra.get(resource_id, ()))))


def _root(builder: _Builder, logical_id: str | None, attachments: Mapping[str, list[str]]) -> Root:
    if logical_id is None:
        return Root()
    resource = builder.resources[logical_id]
    p, path = resource.properties, (*resource.path, "Properties")
    role = p.get("DefaultOrganizationAccessRoleName")
    build_role = p.get("DefaultBuildAccessRoleName")
    return Root(
        logical_id=logical_id,
        policies=_attached(
            builder,
            logical_id,
            p.get("ServiceControlPolicies"),
            (*path, "ServiceControlPolicies"),
            attachments,
        ),
        default_access_role_name=role if isinstance(role, str) else DEFAULT_ACCESS_ROLE,
        default_build_role_name=build_role if isinstance(build_role, str) else None,
        close_accounts_on_removal=p.get("CloseAccountsOnRemoval") is True,
        span=builder.span(resource.path),
    )


def _organizational_units(
    builder: _Builder, attachments: Mapping[str, list[str]]
) -> tuple[dict[str, OrganizationalUnit], dict[str, DataPath]]:
    parents: dict[str, str] = {}
    parent_paths: dict[str, DataPath] = {}
    ou_resources = [r for r in builder.resources.values() if r.type == ORGANIZATIONAL_UNIT]
    for resource in ou_resources:
        path = (*resource.path, "Properties", "OrganizationalUnits")
        for child, ref_path in builder.refs(
            resource.properties.get("OrganizationalUnits"),
            path,
            (ORGANIZATIONAL_UNIT,),
            "OrganizationalUnits",
        ):
            if child in parents and parents[child] != resource.logical_id:
                builder.error(
                    "E314",
                    f"OU {child} is already a child of {parents[child]}; an OU has one parent",
                    ref_path,
                )
                continue
            parents[child] = resource.logical_id
            parent_paths[child] = ref_path
    result = {}
    for resource in ou_resources:
        p, path = resource.properties, (*resource.path, "Properties")
        result[resource.logical_id] = OrganizationalUnit(
            logical_id=resource.logical_id,
            name=str(p.get("OrganizationalUnitName", resource.logical_id)),
            parent=parents.get(resource.logical_id),
            policies=_attached(
                builder,
                resource.logical_id,
                p.get("ServiceControlPolicies"),
                (*path, "ServiceControlPolicies"),
                attachments,
            ),
            tags=_string_map(p.get("Tags")),
            span=builder.span(resource.path),
        )
    return result, parent_paths


def _accounts(
    builder: _Builder,
    root: Root,
    ous: Mapping[str, OrganizationalUnit],
    attachments: Mapping[str, list[str]],
) -> dict[str, Account]:
    default_role = root.default_access_role_name
    placed: dict[str, str] = {}  # account logical id -> OU logical id
    for generated in builder.generated_accounts.values():
        if generated.parent:
            placed[generated.logical_id] = generated.parent
    for ou_id in ous:
        resource = builder.resources[ou_id]
        path = (*resource.path, "Properties", "Accounts")
        for account, ref_path in builder.refs(
            resource.properties.get("Accounts"), path, _ACCOUNT_TYPES, "Accounts"
        ):
            if account in placed and placed[account] != ou_id:
                builder.error(
                    "E307",
                    f"account {account} is already in OU {placed[account]}; an account lives in "
                    "one OU",
                    ref_path,
                )
                continue
            placed[account] = ou_id
    result: dict[str, Account] = {}
    for resource in builder.resources.values():
        if resource.type not in _ACCOUNT_TYPES:
            continue
        p, path = resource.properties, (*resource.path, "Properties")
        account_id = p.get("AccountId")
        email = p.get("RootEmail")
        alias = p.get("Alias")
        role = p.get("OrganizationAccessRoleName")
        build_role = p.get("BuildAccessRoleName")
        support = p.get("SupportLevel")
        result[resource.logical_id] = Account(
            logical_id=resource.logical_id,
            name=str(p.get("AccountName", resource.logical_id)),
            account_id=account_id if isinstance(account_id, str) else None,
            email=email if isinstance(email, str) else None,
            alias=alias if isinstance(alias, str) else None,
            tags=_string_map(p.get("Tags")),
            policies=_attached(
                builder,
                resource.logical_id,
                p.get("ServiceControlPolicies"),
                (*path, "ServiceControlPolicies"),
                attachments,
            ),
            password_policy=builder.one_ref(
                p.get("PasswordPolicy"),
                (*path, "PasswordPolicy"),
                (PASSWORD_POLICY,),
                "PasswordPolicy",
            ),
            access_role_name=role if isinstance(role, str) else default_role,
            build_role_name=build_role if isinstance(build_role, str) else None,
            support_level=support if isinstance(support, str) else None,
            management=resource.type == MASTER_ACCOUNT,
            parent=placed.get(resource.logical_id),
            span=builder.span(resource.path),
        )
    for generated in builder.generated_accounts.values():
        result[generated.logical_id] = replace(
            generated,
            access_role_name=generated.access_role_name or default_role,
            policies=tuple(
                dict.fromkeys((*generated.policies, *attachments.get(generated.logical_id, ())))
            ),
        )
    return result


# --- whole-organization checks --------------------------------------------------------------


def _check_ou_tree(
    builder: _Builder, organization: Organization, parent_paths: Mapping[str, DataPath]
) -> None:
    ous = organization.organizational_units
    reported: set[str] = set()
    for start in sorted(ous):
        chain = [start]
        current = ous[start].parent
        while current is not None and current not in chain:
            chain.append(current)
            current = ous[current].parent if current in ous else None
        if current is None:
            continue
        cycle = chain[chain.index(current) :] + [current]
        key = min(cycle)
        if key in reported:
            continue
        reported.add(key)
        closing = cycle[-2]  # the OU whose parent closes the loop
        builder.error(
            "E308",
            f"OUs nest in a cycle: {' ⊃ '.join(reversed(cycle))}; remove one of these links",
            parent_paths.get(closing, ()),
        )
    if reported:
        return  # depths are meaningless in a cycle
    max_depth = limits()["organizationalUnit.depth"].value
    for ou in ous.values():
        depth = organization.ou_depth(ou.logical_id)
        if depth > max_depth:
            builder.error(
                "E309",
                f"OU {ou.logical_id} is nested {depth} levels below the root; AWS allows "
                f"{max_depth}",
                parent_paths.get(ou.logical_id, builder.resources[ou.logical_id].path),
            )
    max_count = limits()["organizationalUnit.count"].value
    if len(ous) > max_count:
        builder.error(
            "E318",
            f"the organization declares {len(ous)} OUs; AWS allows {max_count}",
            ("Organization",),
        )
    siblings: dict[tuple[str | None, str], str] = {}
    for ou in sorted(ous.values(), key=lambda o: o.logical_id):
        sibling_key = (ou.parent, ou.name)
        if sibling_key in siblings:
            where = f"under {ou.parent}" if ou.parent else "under the root"
            builder.error(
                "E315",
                f"OU {ou.logical_id} has the name {ou.name!r}, like {siblings[sibling_key]} "
                f"{where}; "
                "names under one parent must differ",
                (*builder.resources[ou.logical_id].path, "Properties", "OrganizationalUnitName"),
            )
        else:
            siblings[sibling_key] = ou.logical_id


def _account_path(builder: _Builder, account: Account, prop: str) -> DataPath:
    resource = builder.resources.get(account.logical_id)
    if resource is None:  # generated by a matrix: point at the matrix's pattern
        return (*builder.generated_from[account.logical_id], "Properties", prop)
    return (*resource.path, "Properties", prop)


def _check_uniqueness(builder: _Builder, organization: Organization) -> None:
    def duplicates(items: Iterable[tuple[str, str, DataPath]], code: CodeId, what: str) -> None:
        first: dict[str, str] = {}
        for key, logical_id, path in items:
            if key in first:
                builder.error(code, f"{what} {key} is also declared by {first[key]}", path)
            else:
                first[key] = logical_id

    accounts = sorted(
        organization.accounts.values(), key=lambda a: (a.span or Span("", 0, 0), a.logical_id)
    )
    duplicates(
        (
            (a.account_id, a.logical_id, _account_path(builder, a, "AccountId"))
            for a in accounts
            if a.account_id
        ),
        "E303",
        "AccountId",
    )
    duplicates(
        (
            (a.email.lower(), a.logical_id, _account_path(builder, a, "RootEmail"))
            for a in accounts
            if a.email
        ),
        "E304",
        "RootEmail",
    )
    policies = sorted(organization.policies.values(), key=lambda p: p.span or Span("", 0, 0))
    first_policy: dict[tuple[str, str], str] = {}
    for policy in policies:
        key = (policy.policy_type, policy.name)
        if key in first_policy:
            builder.error(
                "E306",
                f"policy name {policy.name!r} is also used by {first_policy[key]}; names of "
                f"{policy.policy_type} policies must be unique",
                (*builder.resources[policy.logical_id].path, "Properties", "PolicyName"),
            )
        else:
            first_policy[key] = policy.logical_id


def _check_policy_limits(builder: _Builder, organization: Organization) -> None:
    table = limits()
    for policy in organization.policies.values():
        limit = table.get(f"{policy.policy_type}.documentSize")
        if limit is None:
            continue
        size = len(policy.document)
        path = (*builder.resources[policy.logical_id].path, "Properties", "PolicyDocument")
        if size > limit.value:
            builder.error(
                "E312",
                f"{policy.policy_type} {policy.name} is {size:,} characters minified; AWS allows "
                f"{limit.value:,} (as of {limit.as_of}); split it into two policies",
                path,
            )
        elif size > 0.9 * limit.value:
            builder.diagnostics.add(
                "W301",
                f"{policy.policy_type} {policy.name} is {size:,} of {limit.value:,} characters "
                f"({size * 100 // limit.value}%)",
                builder.file.source_map.key_span(path),
            )
    targets: list[tuple[str, tuple[str, ...], DataPath]] = []
    if organization.root.logical_id:
        targets.append(
            (
                "the root",
                organization.root.policies,
                builder.resources[organization.root.logical_id].path,
            )
        )
    for ou in organization.organizational_units.values():
        targets.append((f"OU {ou.logical_id}", ou.policies, builder.resources[ou.logical_id].path))
    for account in organization.accounts.values():
        resource = builder.resources.get(account.logical_id)
        path = resource.path if resource else builder.generated_from[account.logical_id]
        targets.append((f"account {account.logical_id}", account.policies, path))
    for label, attached, path in targets:
        by_type: dict[str, int] = {}
        for policy_id in attached:
            found = organization.policies.get(policy_id)
            if found:
                by_type[found.policy_type] = by_type.get(found.policy_type, 0) + 1
        for policy_type, count in sorted(by_type.items()):
            limit = table.get(f"{policy_type}.perTarget")
            if limit is None:
                continue
            # AWS keeps its managed FullAWSAccess (and RCPFullAWSAccess) attached next to
            # orgc's policies, and it counts toward the limit.
            managed = 1 if policy_type in (SERVICE_CONTROL_POLICY, "RESOURCE_CONTROL_POLICY") else 0
            if count + managed > limit.value:
                extra = " plus the AWS-managed full-access policy" if managed else ""
                builder.error(
                    "E313",
                    f"{label} gets {count} {policy_type} policies{extra}; AWS allows "
                    f"{limit.value} per target (as of {limit.as_of})",
                    path,
                )
