"""The provider's data: what the live organization holds, as read through the AWS provider, and
what the provider's verbs are asked to do.

These are plain frozen values with no behaviour: the provider fills the `Live*` ones, `plan`
compares them with the desired model, apply fills the requests (`StackDeployment`,
`StackSetDefinition`, `InstanceTargets`, `Preferences`). Physical ids only; logical ids live in
the model and in the state. This module imports no other part of orgc: the provider
(`orgc.provider`, `orgc.aws`) is a leaf, and these are the types it shares with everyone else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Policy types as the Organizations API names them.
SERVICE_CONTROL_POLICY = "SERVICE_CONTROL_POLICY"
RESOURCE_CONTROL_POLICY = "RESOURCE_CONTROL_POLICY"
TAG_POLICY = "TAG_POLICY"
BACKUP_POLICY = "BACKUP_POLICY"
AISERVICES_OPT_OUT_POLICY = "AISERVICES_OPT_OUT_POLICY"
POLICY_TYPES = (
    SERVICE_CONTROL_POLICY,
    RESOURCE_CONTROL_POLICY,
    TAG_POLICY,
    BACKUP_POLICY,
    AISERVICES_OPT_OUT_POLICY,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicySettings:
    """An IAM account password policy, in IAM's own terms (all fields as IAM reports them)."""

    minimum_password_length: int = 8
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase_characters: bool = False
    require_lowercase_characters: bool = False
    allow_users_to_change_password: bool = False
    max_password_age: int | None = None
    password_reuse_prevention: int | None = None
    hard_expiry: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveAccount:
    account_id: str
    name: str
    email: str
    status: str  # ACTIVE | SUSPENDED | PENDING_CLOSURE
    parent_id: str
    tags: dict[str, str] = field(default_factory=dict)
    tags_read: bool = True  # False: tags were not read (each account's cost a call)
    policy_ids: tuple[str, ...] = ()  # directly attached, every type
    # Read inside the account through its access role; None when not read (or not readable).
    alias: str | None = None
    password_policy: PasswordPolicySettings | None = None
    details_read: bool = False  # False: alias / password policy were not read


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOrganizationalUnit:
    ou_id: str
    name: str
    parent_id: str
    tags: dict[str, str] = field(default_factory=dict)
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LivePolicy:
    policy_id: str
    policy_type: str
    name: str
    description: str
    content: str  # the document exactly as AWS returns it
    aws_managed: bool
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveRoot:
    root_id: str
    enabled_policy_types: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveOrganization:
    organization_id: str
    management_account_id: str
    root: LiveRoot
    accounts: dict[str, LiveAccount]  # by account id
    organizational_units: dict[str, LiveOrganizationalUnit]  # by OU id
    policies: dict[str, LivePolicy]  # by policy id, AWS-managed included


# Alternate contact types, as the Account Management API names them.
CONTACT_TYPES = ("BILLING", "OPERATIONS", "SECURITY")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactDetails:
    """One alternate contact of an account, as PutAlternateContact takes it."""

    name: str
    title: str
    email_address: str
    phone_number: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveServiceAccess:
    """The organization's trusted service access and delegated administrators, as
    ListAWSServiceAccessForOrganization and ListDelegatedAdministrators (with
    ListDelegatedServicesForAccount per administrator) report them."""

    enabled: tuple[str, ...]  # service principals with trusted access, sorted
    # service principal → account ids registered as its delegated administrators, sorted
    administrators: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStack:
    """A CloudFormation stack as ListStacks / DescribeStacks report it."""

    stack_name: str
    account_id: str
    region: str
    stack_id: str
    status: str  # CREATE_COMPLETE, UPDATE_ROLLBACK_FAILED, ...
    last_changed: str  # ISO 8601 of LastUpdatedTime, or CreationTime when never updated
    status_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StackResult:
    """What a finished create or update left: the stack and its outputs."""

    stack_id: str
    status: str
    last_changed: str
    outputs: dict[str, str] = field(default_factory=dict)  # OutputKey → OutputValue
    exports: dict[str, str] = field(default_factory=dict)  # ExportName → OutputValue


@dataclass(frozen=True, slots=True, kw_only=True)
class StackDeployment:
    """One create (`create=True`) or update of a stack in `account_id` and `region`, reached
    through the account's `role_name`; what CloudFormation's CreateStack and UpdateStack take.

    `stack_policy` is the policy document as JSON text, `stack_policy_during_update` the one
    that judges this update in place of the policy the stack holds (CloudFormation's
    StackPolicyDuringUpdateBody), `role_arn` the role CloudFormation acts as, and
    `template_bucket` where a template too large to pass inline is uploaded.
    """

    account_id: str
    role_name: str
    region: str
    stack_name: str
    template_body: str
    parameters: Mapping[str, str]
    tags: Mapping[str, str]
    create: bool
    termination_protection: bool = False
    stack_policy: str | None = None
    stack_policy_during_update: str | None = None
    role_arn: str | None = None
    disable_rollback: bool = False
    template_bucket: str | None = None


# --- StackSets ------------------------------------------------------------------------------

PERMISSION_MODEL = "SERVICE_MANAGED"
# AWS deploys a StackSet to one account at a time unless told otherwise; without
# MaxConcurrentStacks orgc lets it work on this many at once (per region, regions in parallel).
DEFAULT_MAX_CONCURRENT = 10
# Account filters of a StackSet operation (UNION is refused by CreateStackInstances).
NO_FILTER = "NONE"
ALL_BUT = "DIFFERENCE"
ONLY = "INTERSECTION"


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetDefinition:
    """What a service-managed StackSet is created or updated with, besides where its
    instances go: `depends_on` are the ARNs of the StackSets its automatic deployments follow,
    `template_bucket` where a template too large to pass inline is uploaded."""

    name: str
    template_body: str
    parameters: Mapping[str, str]
    description: str | None
    tags: Mapping[str, str]
    depends_on: tuple[str, ...] = ()
    template_bucket: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceTargets:
    """The instances one StackSet operation acts on, by physical id: the accounts of
    `organizational_units` (and the OUs nested in them) narrowed by `account_filter` with
    `accounts`, in each of `regions`."""

    organizational_units: tuple[str, ...]
    account_filter: str = NO_FILTER
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Preferences:
    """How AWS runs a StackSet operation: on how many accounts at once (per region; regions
    run in parallel), and on how many it may fail per region before it stops there."""

    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    failure_tolerance: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStackInstance:
    """One stack instance as ListStackInstances reports it (its StackId is left out: AWS may
    give a new one without anything changing)."""

    account_id: str
    region: str
    status: str  # CURRENT, OUTDATED, INOPERABLE
    organizational_unit_id: str | None = None  # the target it was deployed through
    status_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStackSet:
    """A StackSet as DescribeStackSet and ListStackInstances report it."""

    name: str
    stack_set_id: str
    arn: str
    template_body: str
    parameters: dict[str, str]
    # In the shape of orgc.stacksets.stack_set_settings; autoDeployment None if off.
    settings: dict[str, Any]
    organizational_unit_ids: tuple[str, ...]  # the OU targets AWS keeps for the StackSet
    instances: tuple[LiveStackInstance, ...]


# --- the state bucket ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketFacts:
    """How a bucket is set up, as S3 reports it (no judgement: the state store decides).

    `owned` is whether the bucket is among the caller's own buckets; for a bucket of another
    account the other facts are not read (they are that account's business) and stay at their
    defaults. `versioning` is "Enabled", "Suspended" or "" (never enabled). `public_access_block`
    holds the four flags of the bucket's public access block, None when it has none.
    `public_grants` are the ACL permissions given to everyone or to any AWS user that S3 honours
    (none while the block ignores public ACLs); `policy` is the bucket policy document (None: no
    policy) and `policy_public` what S3 says of it (False while the block restricts public
    policies).
    """

    owned: bool
    versioning: str = ""
    encrypted: bool = False
    public_access_block: dict[str, bool] | None = None
    public_grants: tuple[str, ...] = ()
    policy: dict[str, Any] | None = None
    policy_public: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectVersion:
    """One stored version of an object in a versioned bucket."""

    version_id: str
    last_modified: str  # ISO 8601, UTC
    size: int
    latest: bool


# --- IAM Identity Center ----------------------------------------------------------------------


_DURATION = re.compile(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?")
# What identitystore gives as a group or user id: a UUID, with a store prefix in some stores.
_GUID = re.compile(
    r"(?:[0-9a-f]{10}-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I
)


def is_guid(name: str) -> bool:
    """Whether a principal is written as an identity store id rather than a name."""
    return _GUID.fullmatch(name) is not None


def normal_duration(text: str) -> str | None:
    """An ISO-8601 duration of hours, minutes and seconds in its shortest form (PT90M → PT1H30M),
    None when it is not one."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{unit}" for v, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if v]
    return "PT" + "".join(parts) if parts else "PT0S"


def duration_seconds(text: str) -> int:
    match = _DURATION.fullmatch(text)
    assert match is not None, text
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class CustomerPolicy:
    """A customer managed policy by path and name, as each account names its own."""

    path: str = "/"
    name: str

    def __str__(self) -> str:
        return f"{self.path}{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Boundary:
    """A permissions boundary: an AWS managed policy, or a customer managed one."""

    managed_policy_arn: str | None = None
    customer_policy: CustomerPolicy | None = None

    def __str__(self) -> str:
        return self.managed_policy_arn or str(self.customer_policy)


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionSetSettings:
    """Everything AWS keeps of a permission set, as orgc compares it."""

    name: str
    description: str = ""
    session_duration: str = "PT1H"  # normal_duration's form
    relay_state: str = ""
    managed_policies: tuple[str, ...] = ()  # ARNs, sorted
    customer_policies: tuple[CustomerPolicy, ...] = ()  # sorted
    inline_policy: str = ""  # minified JSON; "": none
    boundary: Boundary | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SsoInstance:
    """The organization's IAM Identity Center instance, as sso-admin ListInstances gives it."""

    instance_arn: str
    identity_store_id: str


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class AccountAssignment:
    """One principal given one permission set in one account."""

    permission_set_arn: str
    principal_type: str  # GROUP | USER
    principal_id: str
    account_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveIdentityCenter:
    """What a plan read of IAM Identity Center: the permission sets by name (every one, named
    through DescribePermissionSet), the settings of those orgc compares, the principals the
    files name, and the assignments of each (permission set, account) pair it compares."""

    instance: SsoInstance
    permission_sets: Mapping[str, str] = field(default_factory=dict)  # name → ARN
    settings: Mapping[str, PermissionSetSettings] = field(default_factory=dict)  # by ARN
    principals: Mapping[tuple[str, str], str | None] = field(default_factory=dict)
    assignments: tuple[AccountAssignment, ...] = ()  # sorted (the plan's digest holds them)
    pairs: tuple[tuple[str, str], ...] = ()  # (permission set ARN, account id) read, sorted
