"""The plan's vocabulary: kinds, actions, and one frozen spec per shape of change.

Every change carries a spec that says, in typed fields, everything apply needs and a reviewer
reads. The specs know nothing of JSON: orgc.plan.codec is the one place that writes them in the
plan's camelCase form and reads them back. Ids of things this plan creates are None ("known
after apply") where a spec names them by logical id; apply looks them up in the run's id table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeAlias

from orgc.observed import (
    ContactDetails,
    InstanceTargets,
    PasswordPolicySettings,
    PermissionSetSettings,
    Preferences,
)

# A JSON value as the plan holds it (templates, stack policies).
Json: TypeAlias = "bool | int | float | str | Sequence[Json] | Mapping[str, Json] | None"


class _Named(str, Enum):
    """A str-valued enum that prints, formats and serialises as its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class ChangeKind(_Named):
    """What a change acts on, in the order a reader wants to see them."""

    POLICY_TYPE = "policy-type"
    POLICY = "policy"
    ORGANIZATIONAL_UNIT = "organizational-unit"
    ACCOUNT = "account"
    ATTACHMENT = "attachment"
    TAGS = "tags"
    ALIAS = "alias"
    PASSWORD_POLICY = "password-policy"
    SERVICE_ACCESS = "service-access"
    DELEGATED_ADMINISTRATOR = "delegated-administrator"
    ALTERNATE_CONTACT = "alternate-contact"
    PERMISSION_SET = "permission-set"
    ACCOUNT_ASSIGNMENT = "account-assignment"
    STACK = "stack"
    STACK_SET = "stack-set"
    STACK_SET_INSTANCES = "stack-set-instances"
    S3_OBJECT = "s3-object"


class Action(_Named):
    CREATE = "create"
    ADOPT = "adopt"
    ENABLE = "enable"
    REGISTER = "register"
    ATTACH = "attach"
    UPDATE = "update"
    RENAME = "rename"
    MOVE = "move"
    REPLACE = "replace"
    DETACH = "detach"
    DEREGISTER = "deregister"
    DISABLE = "disable"
    DELETE = "delete"
    CLOSE = "close"
    FORGET = "forget"


class TargetKind(_Named):
    """What a tag or policy attachment change is made on; TARGET: the physical id given."""

    ROOT = "root"
    ORGANIZATIONAL_UNIT = "organizational-unit"
    ACCOUNT = "account"
    POLICY = "policy"
    TARGET = "target"


ROOT = "root"  # the logical name of the organization root in `IdTable.organizational_units`


# --- the plan's tables ----------------------------------------------------------------------

_TABLES = ("accounts", "organizationalUnits", "policies")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdTable(Mapping[str, Mapping[str, "str | None"]]):
    """Logical id → physical id, by kind of thing; None where this plan creates the thing.
    `ROOT` is in `organizational_units`.

    Also a read-only mapping by table name ("accounts", "organizationalUnits", "policies"),
    the shape render and the StackSet builder look ids up in.
    """

    accounts: Mapping[str, str | None] = field(default_factory=dict)
    organizational_units: Mapping[str, str | None] = field(default_factory=dict)
    policies: Mapping[str, str | None] = field(default_factory=dict)

    def __getitem__(self, table: str) -> Mapping[str, str | None]:
        if table == "accounts":
            return self.accounts
        if table == "organizationalUnits":
            return self.organizational_units
        if table == "policies":
            return self.policies
        raise KeyError(table)

    def __iter__(self) -> Iterator[str]:
        return iter(_TABLES)

    def __len__(self) -> int:
        return len(_TABLES)

    @property
    def root_id(self) -> str | None:
        return self.organizational_units.get(ROOT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """How apply runs the changes of one task (or of the organization): at most
    `max_concurrent` at once (None: no limit); the group fails when more than
    `failure_tolerance` of them fail, and what waits on it is skipped."""

    max_concurrent: int | None = None
    failure_tolerance: int = 0
    where: str | None = None  # the task, as file:line:col


@dataclass(frozen=True, slots=True, kw_only=True)
class Orphan:
    """A stack of a task no longer in the files, left alone unless cleanup is asked for."""

    task: str
    stack_name: str
    account_id: str
    region: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOptions:
    """How the plan was asked for, so a saved plan can be checked against fresh inputs."""

    parameters: Mapping[str, str] = field(default_factory=dict)
    perform_cleanup: bool = False
    refresh: bool = True
    allow_scp_lockout: bool = False  # --allow-scp-lockout: E622/E623 are warnings (W621)
    organization_file: str | None = None  # --organization-file, as given
    force_deploy: bool = False  # --force-deploy: every task deployed again


# --- organization ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StateOnly:
    """A change that only edits the state: adopt a thing found in AWS, or forget one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyTypeEnable:
    policy_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    before: str
    after: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyCreate:
    policy_type: str
    name: str
    description: str
    document: str
    tags: Mapping[str, str]
    size: int  # characters of the document
    limit: int | None  # AWS's limit for the policy type, when orgc knows it


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyUpdate:
    # Field ("name", "description", "document") → how it changes.
    changes: Mapping[str, Difference]
    name: str
    description: str
    document: str
    size: int
    limit: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyDelete:
    policy_type: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationalUnitCreate:
    name: str
    parent: str  # logical id of the parent OU, or ROOT
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationalUnitReplace:
    """An OU re-created under another parent (AWS cannot move one)."""

    name: str
    parent: str
    tags: Mapping[str, str]
    replaces: str  # the live OU emptied and deleted afterwards
    from_parent: str  # its parent's id


@dataclass(frozen=True, slots=True, kw_only=True)
class Rename:
    before: str
    after: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationalUnitDelete:
    name: str
    retired: bool  # replaced by a re-parent, rather than removed from the files


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountCreate:
    name: str
    email: str | None
    role_name: str
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountMove:
    source: str | None  # the live parent id; None: the root
    destination: str  # logical id of the OU, or ROOT


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountClose:
    name: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TagsUpdate:
    target: TargetKind
    add: Mapping[str, str]
    remove: tuple[str, ...]
    before: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Attach:
    policy: str  # logical id
    target: TargetKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Detach:
    policy_id: str
    target: TargetKind


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicySet:
    role_name: str | None  # None: the management account, reached without a role
    policy: str  # logical id of the password policy
    before: PasswordPolicySettings | None
    after: PasswordPolicySettings


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasSet:
    role_name: str | None
    before: str | None
    after: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordPolicyDelete:
    """The password policy orgc set in an account, gone from the files."""

    role_name: str | None
    before: PasswordPolicySettings


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasDelete:
    """The IAM alias orgc set in an account, gone from the files."""

    role_name: str | None
    alias: str


# --- stacks ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StackAddress:
    """One stack target, from render to apply: the task's stack in one account and region,
    and the role orgc assumes there. `account_id` is None while the account is created by this
    run (apply takes it from the run's id table)."""

    task: str
    account: str | None  # logical id; None in a record that never had one
    account_id: str | None
    region: str
    stack_name: str
    role_name: str

    def __str__(self) -> str:
        """The target as people and change ids name it: task/account/region."""
        return f"{self.task}/{self.account or self.account_id}/{self.region}"

    @property
    def record_key(self) -> tuple[str, str, str] | None:
        """The state's key of the stack, once its account id is known."""
        if self.account_id is None:
            return None
        return (self.stack_name, self.account_id, self.region)


@dataclass(frozen=True, slots=True, kw_only=True)
class StackReference:
    """A parameter whose value comes from another stack's output or from an export."""

    parameter: str
    expression: str  # as written
    source: str  # where it comes from, in words
    known: bool  # the value is in the parameters already
    producer: StackAddress | None = None  # a stack orgc deploys, whose `output` it reads
    producer_change: str | None = None  # the change of this plan that deploys the producer
    output: str | None = None
    export: str | None = None  # else: an export read at apply time
    export_account_id: str | None = None
    export_region: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSettings:
    tags: Mapping[str, str]
    termination_protection: bool
    stack_policy: Json
    role_arn: str | None
    disable_rollback: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceChange:
    logical_id: str
    resource_type: str
    change: str  # "added", "removed" or "modified"


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateChanges:
    """How an update changes the template deployed: resources by logical id, the other
    sections that change, and a unified diff of both, cut after a bound (`lines_cut` more)."""

    resources: tuple[ResourceChange, ...]
    sections: tuple[str, ...]
    diff: tuple[str, ...]
    lines_cut: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StackDeploy:
    """Create, update or replace one stack."""

    address: StackAddress
    where: str  # the task, as file:line:col
    template: Mapping[str, Json]
    parameters: Mapping[str, str]
    references: tuple[StackReference, ...]
    settings: StackSettings
    hash: str | None  # None: values known only after apply may change it
    previous_hash: str | None
    previous_parameters: Mapping[str, str] | None  # on an update: what was deployed
    force_deploy: bool
    # On an update whose deployed template was read: how the template changes (None: it does
    # not, or it could not be read).
    template_changes: TemplateChanges | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StackRemoval:
    """Delete one stack, or forget one already deleted."""

    address: StackAddress


# --- StackSets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoDeployment:
    enabled: bool
    retain_stacks_on_account_removal: bool
    depends_on: tuple[str, ...]  # names of the StackSets whose deployments come first


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetSettings:
    description: str | None
    tags: Mapping[str, str]
    permission_model: str
    auto_deployment: AutoDeployment


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetAddress:
    """The StackSet of one task, what every change to it shares."""

    task: str
    where: str
    name: str
    stack_set_id: str | None
    arn: str | None
    preferences: Preferences
    targets: InstanceTargets  # all of the task's targets
    labels: Mapping[str, str]  # physical id → logical id, for people


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterChange:
    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetCreate:
    stack_set: StackSetAddress
    template: Mapping[str, Json]
    parameters: Mapping[str, str]
    settings: StackSetSettings
    hash: str | None
    previous_hash: str | None
    force_deploy: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetUpdate:
    stack_set: StackSetAddress
    template: Mapping[str, Json]
    parameters: Mapping[str, str]
    settings: StackSetSettings
    hash: str | None
    previous_hash: str | None
    force_deploy: bool
    template_diff: tuple[str, ...]  # unified diff, AWS's template against the files'
    parameter_changes: tuple[ParameterChange, ...]
    update_targets: InstanceTargets | None  # None: every instance


@dataclass(frozen=True, slots=True, kw_only=True)
class InstancesCreate:
    stack_set: StackSetAddress
    create: InstanceTargets


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceDeletion:
    targets: InstanceTargets
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstancesDelete:
    stack_set: StackSetAddress
    delete: tuple[InstanceDeletion, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSetDelete:
    """Delete a StackSet (its instances first), or forget one already deleted."""

    task: str
    name: str
    organizational_units: tuple[str, ...]
    regions: tuple[str, ...]
    instances: int


# --- copy-to-s3 -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectPut:
    task: str
    where: str
    bucket: str
    key: str
    region: str
    local_path: str
    zipped: bool
    hash: str
    # Put with the target account's credentials (None: the management account's own).
    account_id: str | None = None
    role_name: str | None = None
    server_side_encryption: str | None = None
    templating_context: dict[str, Any] | None = None  # the body is the file rendered with it

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRemoval:
    """An object orgc put that no task puts any more: deleted (cleanup asked for) with the
    credentials it was put with, or forgotten when it is gone already."""

    task: str  # the task that put it
    bucket: str
    key: str
    region: str
    account_id: str | None = None
    role_name: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


# --- trusted service access and delegated administrators -----------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAccessSet:
    """Trusted access of one service enabled or disabled."""

    service_principal: str
    service: str  # its name, for readers


@dataclass(frozen=True, slots=True, kw_only=True)
class DelegatedAdministratorSet:
    """An account registered as, or deregistered from, a service's delegated administrators."""

    service_principal: str
    account: str | None  # logical id; None: an account the files do not name
    account_id: str | None  # None: created by this plan (apply looks `account` up)


# --- account settings -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRename:
    """An account renamed with the Account Management API's PutAccountName."""

    before: str
    after: str
    management: bool  # the management account: addressed without an AccountId


@dataclass(frozen=True, slots=True, kw_only=True)
class AlternateContactSet:
    """One alternate contact of an account put (`after`) or deleted (`after` None)."""

    account: str | None  # logical id; None: an account the files no longer name
    account_id: str | None  # None: created by this plan (apply looks `account` up)
    management: bool  # the management account: addressed without an AccountId
    contact_type: str  # BILLING | OPERATIONS | SECURITY
    before: ContactDetails | None
    after: ContactDetails | None


# --- IAM Identity Center -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PermissionSetChange:
    """A permission set created (`before` None), updated or adopted, or deleted (`after` None).
    An update of what users get is followed by ProvisionPermissionSet to every account the set
    is provisioned to (`provision`)."""

    instance_arn: str
    arn: str | None  # None: created by this change
    name: str
    before: PermissionSetSettings | None
    after: PermissionSetSettings | None
    provision: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentChange:
    """One principal given (create) or no longer given (delete) a permission set in an account."""

    instance_arn: str
    permission_set: str | None  # logical id; None: a permission set the files no longer hold
    permission_set_name: str
    permission_set_arn: str | None  # None: created by this plan (apply looks it up)
    principal_type: str  # GROUP | USER
    principal: str  # the name the files give (or gave), or the identity store id
    principal_id: str
    account: str | None  # logical id; None: an account the files no longer name
    account_name: str
    account_id: str | None  # None: created by this plan (apply looks `account` up)


Spec: TypeAlias = (
    StateOnly
    | PolicyTypeEnable
    | PolicyCreate
    | PolicyUpdate
    | PolicyDelete
    | OrganizationalUnitCreate
    | OrganizationalUnitReplace
    | Rename
    | OrganizationalUnitDelete
    | AccountCreate
    | AccountMove
    | AccountClose
    | TagsUpdate
    | Attach
    | Detach
    | PasswordPolicySet
    | PasswordPolicyDelete
    | AliasSet
    | AliasDelete
    | StackDeploy
    | StackRemoval
    | StackSetCreate
    | StackSetUpdate
    | InstancesCreate
    | InstancesDelete
    | StackSetDelete
    | ObjectPut
    | ObjectRemoval
    | ServiceAccessSet
    | DelegatedAdministratorSet
    | AlternateContactSet
    | AccountRename
    | PermissionSetChange
    | AssignmentChange
)

# The spec of each (kind, action) a plan holds: what the codec reads a change's details as, and
# what apply's handler of that change takes.
SPECS: dict[tuple[ChangeKind, Action], type[Spec]] = {
    (ChangeKind.POLICY_TYPE, Action.ENABLE): PolicyTypeEnable,
    (ChangeKind.POLICY, Action.ADOPT): StateOnly,
    (ChangeKind.POLICY, Action.CREATE): PolicyCreate,
    (ChangeKind.POLICY, Action.UPDATE): PolicyUpdate,
    (ChangeKind.POLICY, Action.DELETE): PolicyDelete,
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.ADOPT): StateOnly,
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.CREATE): OrganizationalUnitCreate,
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.REPLACE): OrganizationalUnitReplace,
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.RENAME): Rename,
    (ChangeKind.ORGANIZATIONAL_UNIT, Action.DELETE): OrganizationalUnitDelete,
    (ChangeKind.ACCOUNT, Action.ADOPT): StateOnly,
    (ChangeKind.ACCOUNT, Action.CREATE): AccountCreate,
    (ChangeKind.ACCOUNT, Action.MOVE): AccountMove,
    (ChangeKind.ACCOUNT, Action.CLOSE): AccountClose,
    (ChangeKind.ACCOUNT, Action.RENAME): AccountRename,
    (ChangeKind.ACCOUNT, Action.FORGET): StateOnly,
    (ChangeKind.TAGS, Action.UPDATE): TagsUpdate,
    (ChangeKind.ATTACHMENT, Action.ATTACH): Attach,
    (ChangeKind.ATTACHMENT, Action.DETACH): Detach,
    (ChangeKind.PASSWORD_POLICY, Action.CREATE): PasswordPolicySet,
    (ChangeKind.PASSWORD_POLICY, Action.UPDATE): PasswordPolicySet,
    (ChangeKind.ALIAS, Action.CREATE): AliasSet,
    (ChangeKind.PASSWORD_POLICY, Action.DELETE): PasswordPolicyDelete,
    (ChangeKind.ALIAS, Action.UPDATE): AliasSet,
    (ChangeKind.ALIAS, Action.DELETE): AliasDelete,
    (ChangeKind.STACK, Action.CREATE): StackDeploy,
    (ChangeKind.STACK, Action.UPDATE): StackDeploy,
    (ChangeKind.STACK, Action.REPLACE): StackDeploy,
    (ChangeKind.STACK, Action.DELETE): StackRemoval,
    (ChangeKind.STACK, Action.FORGET): StackRemoval,
    (ChangeKind.STACK_SET, Action.CREATE): StackSetCreate,
    (ChangeKind.STACK_SET, Action.UPDATE): StackSetUpdate,
    (ChangeKind.STACK_SET, Action.DELETE): StackSetDelete,
    (ChangeKind.STACK_SET, Action.FORGET): StackSetDelete,
    (ChangeKind.STACK_SET_INSTANCES, Action.CREATE): InstancesCreate,
    (ChangeKind.STACK_SET_INSTANCES, Action.DELETE): InstancesDelete,
    (ChangeKind.S3_OBJECT, Action.CREATE): ObjectPut,
    (ChangeKind.S3_OBJECT, Action.UPDATE): ObjectPut,
    (ChangeKind.S3_OBJECT, Action.DELETE): ObjectRemoval,
    (ChangeKind.S3_OBJECT, Action.FORGET): ObjectRemoval,
    (ChangeKind.SERVICE_ACCESS, Action.ENABLE): ServiceAccessSet,
    (ChangeKind.SERVICE_ACCESS, Action.DISABLE): ServiceAccessSet,
    (ChangeKind.DELEGATED_ADMINISTRATOR, Action.REGISTER): DelegatedAdministratorSet,
    (ChangeKind.DELEGATED_ADMINISTRATOR, Action.DEREGISTER): DelegatedAdministratorSet,
    (ChangeKind.ALTERNATE_CONTACT, Action.CREATE): AlternateContactSet,
    (ChangeKind.ALTERNATE_CONTACT, Action.UPDATE): AlternateContactSet,
    (ChangeKind.ALTERNATE_CONTACT, Action.DELETE): AlternateContactSet,
    (ChangeKind.PERMISSION_SET, Action.CREATE): PermissionSetChange,
    (ChangeKind.PERMISSION_SET, Action.ADOPT): PermissionSetChange,
    (ChangeKind.PERMISSION_SET, Action.UPDATE): PermissionSetChange,
    (ChangeKind.PERMISSION_SET, Action.DELETE): PermissionSetChange,
    (ChangeKind.ACCOUNT_ASSIGNMENT, Action.CREATE): AssignmentChange,
    (ChangeKind.ACCOUNT_ASSIGNMENT, Action.DELETE): AssignmentChange,
}
