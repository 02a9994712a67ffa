"""An in-memory AWS for fast apply → observe → re-plan tests, with no emulator.

`FakeAws` implements orgc.provider.Provider, every verb orgc asks of AWS: the organization, IAM
inside accounts, stacks, StackSets, copy-to-s3 objects and the state document's conditional
writes. Everything lives in one file so that it follows the protocol in one place.

It keeps AWS's rules where orgc could break them, which the emulator does not (EMULATOR.md):
a non-empty OU or an attached policy cannot be deleted, a move names the account's real
parent, a policy is attached to a target once, an account is reached only through a role it
has, stack parameters must be declared (and given unless they have a default), an SSM-typed
parameter must name a parameter the account holds, an export name is unique per account and
region and cannot change or go while another stack imports it, a protected stack cannot be
deleted, a StackSet with instances cannot be deleted. Failures are `orgc.aws.AwsError`s with
AWS's codes, as the real provider raises them.

What it does not model: stacks are never in progress or failed, service-managed StackSet
instances are records (their stacks in the member accounts are not created; orgc never reads
them), and of a stack's resources only what outputs, exports and SSM parameters need is
evaluated (support.fake_templates says how).

Ids are deterministic: accounts `0440000000NN` (they start with 0, as real ones may), OUs
`ou-fake-000000NN`, policies `p-fake0000NN`, and a clock that ticks one second per change.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from orgc.aws import PreconditionFailed
from orgc.observed import (
    SERVICE_CONTROL_POLICY,
    BucketFacts,
    ContactDetails,
    InstanceTargets,
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    LiveRoot,
    LiveServiceAccess,
    LiveStack,
    LiveStackInstance,
    LiveStackSet,
    ObjectVersion,
    PasswordPolicySettings,
    Preferences,
    StackDeployment,
    StackResult,
    StackSetDefinition,
)
from orgc.stacksets import stack_set_settings
from support.fake_sso import FakeIdentityCenter
from support.fake_templates import DeployedTemplate, fake_error

MANAGEMENT_ACCOUNT_ID = "123456789012"
ORGANIZATION_ID = "o-fake000001"
ROOT_ID = "r-fake"
FULL_AWS_ACCESS = "p-FullAWSAccess"
ACCESS_ROLE = "OrganizationAccountAccessRole"
HOME_REGION = "us-east-1"  # where StackSets are administered
TEMPLATE_BODY_LIMIT = 51_200
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


_error = fake_error


# --- what the fake holds -------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class FakeAccount:
    account_id: str
    name: str
    email: str
    parent_id: str
    status: str = "ACTIVE"
    tags: dict[str, str] = field(default_factory=dict)
    roles: set[str] = field(default_factory=set)  # roles orgc may assume into it
    alias: str | None = None
    password_policy: PasswordPolicySettings | None = None


@dataclass(slots=True, kw_only=True)
class FakeOrganizationalUnit:
    ou_id: str
    name: str
    parent_id: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class FakePolicy:
    policy_id: str
    policy_type: str
    name: str
    description: str
    content: str
    aws_managed: bool = False
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class FakeStack:
    stack_name: str
    account_id: str
    region: str
    stack_id: str
    template: dict[str, Any]
    parameters: dict[str, str]  # as given
    tags: dict[str, str]
    termination_protection: bool
    last_changed: str
    outputs: dict[str, str] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)
    imports: frozenset[str] = frozenset()  # export names it reads
    ssm_parameters: dict[str, str] = field(default_factory=dict)  # the SSM parameters it made
    status: str = "CREATE_COMPLETE"
    deploys: int = 1


@dataclass(slots=True, kw_only=True)
class FakeStackSet:
    name: str
    stack_set_id: str
    arn: str
    template_body: str
    parameters: dict[str, str]
    description: str | None
    tags: dict[str, str]
    depends_on: tuple[str, ...]  # ARNs
    instances: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, region) → OU
    updates: int = 0


# --- the provider ----------------------------------------------------------------------------


class FakeAws(FakeIdentityCenter):
    """An organization (management account 123456789012, all features, no policy type enabled
    but SCPs' FullAWSAccess attached everywhere, as AWS does) and what its accounts hold.

    Safe to use from many threads (one lock). `calls` counts each verb called.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._counters: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.enabled_policy_types: list[str] = []
        self.root_tags: dict[str, str] = {}
        self.accounts: dict[str, FakeAccount] = {
            MANAGEMENT_ACCOUNT_ID: FakeAccount(
                account_id=MANAGEMENT_ACCOUNT_ID,
                name="master",
                email="master@example.com",
                parent_id=ROOT_ID,
            )
        }
        self.organizational_units: dict[str, FakeOrganizationalUnit] = {}
        self.policies: dict[str, FakePolicy] = {
            FULL_AWS_ACCESS: FakePolicy(
                policy_id=FULL_AWS_ACCESS,
                policy_type=SERVICE_CONTROL_POLICY,
                name="FullAWSAccess",
                description="Allows access to every operation",
                content=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    }
                ),
                aws_managed=True,
            )
        }
        self.attachments: dict[str, set[str]] = {
            ROOT_ID: {FULL_AWS_ACCESS},
            MANAGEMENT_ACCOUNT_ID: {FULL_AWS_ACCESS},
        }
        self.stacks: dict[tuple[str, str], dict[str, FakeStack]] = {}
        self.ssm: dict[tuple[str, str], dict[str, str]] = {}  # (account, region) → name → value
        self.buckets: dict[str, dict[str, bytes]] = {}
        self.versions: dict[tuple[str, str], list[bytes]] = {}  # every body put, oldest first
        self.stack_sets: dict[str, FakeStackSet] = {}
        self.service_access: set[str] = set()  # principals with trusted access
        self.delegated: dict[str, set[str]] = {}  # principal → administrator account ids
        # account id → contact type → alternate contact
        self.contacts: dict[str, dict[str, ContactDetails]] = {}
        # (region, source, detail type, detail) of every event put on the default bus
        self.events: list[tuple[str, str, str, str]] = []

    # --- plumbing -----------------------------------------------------------------------------

    def _next(self, kind: str) -> int:
        self._counters[kind] += 1
        return self._counters[kind]

    def _tick(self) -> str:
        return (_EPOCH + timedelta(seconds=self._next("clock"))).isoformat()

    def _count(self, verb: str) -> None:
        self.calls[verb] += 1

    def _account(self, operation: str, account_id: str) -> FakeAccount:
        found = self.accounts.get(account_id)
        if found is None:
            raise _error(
                operation, "AccountNotFoundException", f"account {account_id} does not exist"
            )
        return found

    def _reach(self, operation: str, account_id: str, role_name: str) -> FakeAccount:
        """The account, as reached through `role_name` (the management account directly)."""
        account = self._account(operation, account_id)
        if account_id != MANAGEMENT_ACCOUNT_ID and role_name not in account.roles:
            raise _error(
                operation,
                "AccessDenied",
                f"not authorized to perform sts:AssumeRole on "
                f"arn:aws:iam::{account_id}:role/{role_name}",
            )
        if account.status != "ACTIVE":
            raise _error(operation, "AccessDenied", f"account {account_id} is {account.status}")
        return account

    def _parent_exists(self, parent_id: str) -> bool:
        return parent_id == ROOT_ID or parent_id in self.organizational_units

    def _target_exists(self, target_id: str) -> bool:
        return self._parent_exists(target_id) or target_id in self.accounts

    def _tags_of(self, operation: str, resource_id: str) -> dict[str, str]:
        if resource_id == ROOT_ID:
            return self.root_tags
        if resource_id in self.organizational_units:
            return self.organizational_units[resource_id].tags
        if resource_id in self.accounts:
            return self.accounts[resource_id].tags
        policy = self.policies.get(resource_id)
        if policy is not None and not policy.aws_managed:
            return policy.tags
        raise _error(operation, "TargetNotFoundException", f"no resource {resource_id}")

    # --- reading the organization -------------------------------------------------------------

    def organization_identity(self) -> tuple[str, str]:
        with self._lock:
            self._count("organization_identity")
            return ORGANIZATION_ID, MANAGEMENT_ACCOUNT_ID

    def management_account_id(self) -> str:
        return MANAGEMENT_ACCOUNT_ID

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str] | None = None,
        read_account_details: bool = True,
        read_account_tags: bool = True,
    ) -> LiveOrganization:
        """The organization as AwsProvider.read_organization reports it."""
        roles = account_roles or {}
        with self._lock:
            self._count("read_organization")
            listed = {SERVICE_CONTROL_POLICY, *self.enabled_policy_types}
            accounts = {}
            for account_id, account in sorted(self.accounts.items()):
                alias, password_policy, details_read = None, None, False
                if read_account_details and account.status == "ACTIVE":
                    role = roles.get(account_id, ACCESS_ROLE)
                    if account_id == MANAGEMENT_ACCOUNT_ID or role in account.roles:
                        alias, password_policy, details_read = (
                            account.alias,
                            account.password_policy,
                            True,
                        )
                accounts[account_id] = LiveAccount(
                    account_id=account_id,
                    name=account.name,
                    email=account.email,
                    status=account.status,
                    parent_id=account.parent_id,
                    tags=dict(account.tags) if read_account_tags else {},
                    tags_read=read_account_tags,
                    policy_ids=self._attached(account_id, listed),
                    alias=alias,
                    password_policy=password_policy,
                    details_read=details_read,
                )
            return LiveOrganization(
                organization_id=ORGANIZATION_ID,
                management_account_id=MANAGEMENT_ACCOUNT_ID,
                root=LiveRoot(
                    root_id=ROOT_ID,
                    enabled_policy_types=tuple(self.enabled_policy_types),
                    tags=dict(self.root_tags),
                    policy_ids=self._attached(ROOT_ID, listed),
                ),
                accounts=accounts,
                organizational_units={
                    ou_id: LiveOrganizationalUnit(
                        ou_id=ou_id,
                        name=ou.name,
                        parent_id=ou.parent_id,
                        tags=dict(ou.tags),
                        policy_ids=self._attached(ou_id, listed),
                    )
                    for ou_id, ou in sorted(self.organizational_units.items())
                },
                policies={
                    policy_id: LivePolicy(
                        policy_id=policy_id,
                        policy_type=policy.policy_type,
                        name=policy.name,
                        description=policy.description,
                        content=policy.content,
                        aws_managed=policy.aws_managed,
                        tags=dict(policy.tags),
                    )
                    for policy_id, policy in sorted(self.policies.items())
                    if policy.policy_type in listed
                },
            )

    def _attached(self, target_id: str, listed: set[str]) -> tuple[str, ...]:
        return tuple(
            sorted(
                policy_id
                for policy_id in self.attachments.get(target_id, ())
                if self.policies[policy_id].policy_type in listed
            )
        )

    # --- changing the organization ------------------------------------------------------------

    def enable_policy_type(self, root_id: str, policy_type: str) -> None:
        operation = "Organizations.EnablePolicyType"
        with self._lock:
            self._count("enable_policy_type")
            if root_id != ROOT_ID:
                raise _error(operation, "RootNotFoundException", f"no root {root_id}")
            if policy_type in self.enabled_policy_types:
                raise _error(
                    operation, "PolicyTypeAlreadyEnabledException", f"{policy_type} is enabled"
                )
            self.enabled_policy_types.append(policy_type)

    def create_policy(
        self,
        *,
        policy_type: str,
        name: str,
        description: str,
        content: str,
        tags: Mapping[str, str],
    ) -> str:
        with self._lock:
            self._count("create_policy")
            # As AwsProvider: a policy of that type and name is the one an earlier, lost answer
            # made (AWS's DuplicatePolicyException, then the lookup by name).
            for existing in sorted(self.policies.values(), key=lambda p: p.policy_id):
                if existing.name == name and existing.policy_type == policy_type:
                    return existing.policy_id
            json.loads(content)  # AWS refuses a document that is not JSON
            policy_id = f"p-fake{self._next('policy'):06d}"
            self.policies[policy_id] = FakePolicy(
                policy_id=policy_id,
                policy_type=policy_type,
                name=name,
                description=description,
                content=content,
                tags=dict(tags),
            )
            return policy_id

    def update_policy(self, policy_id: str, *, name: str, description: str, content: str) -> None:
        operation = "Organizations.UpdatePolicy"
        with self._lock:
            self._count("update_policy")
            policy = self.policies.get(policy_id)
            if policy is None or policy.aws_managed:
                raise _error(operation, "PolicyNotFoundException", f"no policy {policy_id}")
            policy.name, policy.description, policy.content = name, description, content

    def delete_policy(self, policy_id: str) -> None:
        operation = "Organizations.DeletePolicy"
        with self._lock:
            self._count("delete_policy")
            policy = self.policies.get(policy_id)
            if policy is None:
                return  # gone already: AwsProvider takes PolicyNotFoundException as done
            if policy.aws_managed:
                raise _error(operation, "PolicyNotFoundException", f"no policy {policy_id}")
            if any(policy_id in attached for attached in self.attachments.values()):
                raise _error(operation, "PolicyInUseException", f"{policy_id} is attached")
            del self.policies[policy_id]

    def attach_policy(self, policy_id: str, target_id: str) -> None:
        operation = "Organizations.AttachPolicy"
        with self._lock:
            self._count("attach_policy")
            policy = self.policies.get(policy_id)
            if policy is None:
                raise _error(operation, "PolicyNotFoundException", f"no policy {policy_id}")
            if not self._target_exists(target_id):
                raise _error(operation, "TargetNotFoundException", f"no target {target_id}")
            if policy.policy_type not in self.enabled_policy_types:
                raise _error(
                    operation,
                    "PolicyTypeNotEnabledException",
                    f"{policy.policy_type} is not enabled on the root",
                )
            # Attached already is success, as AwsProvider takes DuplicatePolicyAttachmentException.
            self.attachments.setdefault(target_id, set()).add(policy_id)

    def detach_policy(self, policy_id: str, target_id: str) -> None:
        operation = "Organizations.DetachPolicy"
        with self._lock:
            self._count("detach_policy")
            attached = self.attachments.get(target_id, set())
            if policy_id not in attached:
                return  # not attached is success, as AwsProvider takes PolicyNotAttachedException
            policy = self.policies[policy_id]
            if policy.policy_type == SERVICE_CONTROL_POLICY and not any(
                self.policies[other].policy_type == SERVICE_CONTROL_POLICY
                for other in attached - {policy_id}
            ):
                raise _error(
                    operation,
                    "ConstraintViolationException",
                    f"{target_id} must keep at least one SCP",
                )
            attached.discard(policy_id)

    def create_organizational_unit(self, parent_id: str, name: str, tags: Mapping[str, str]) -> str:
        operation = "Organizations.CreateOrganizationalUnit"
        with self._lock:
            self._count("create_organizational_unit")
            if not self._parent_exists(parent_id):
                raise _error(operation, "ParentNotFoundException", f"no parent {parent_id}")
            # As AwsProvider: an OU of that name under the parent is the one an earlier, lost
            # answer made (DuplicateOrganizationalUnitException, then the lookup by name).
            for existing in sorted(self.organizational_units.values(), key=lambda o: o.ou_id):
                if existing.parent_id == parent_id and existing.name == name:
                    return existing.ou_id
            ou_id = f"ou-fake-{self._next('ou'):08d}"
            self.organizational_units[ou_id] = FakeOrganizationalUnit(
                ou_id=ou_id, name=name, parent_id=parent_id, tags=dict(tags)
            )
            self.attachments[ou_id] = {FULL_AWS_ACCESS}
            return ou_id

    def rename_organizational_unit(self, ou_id: str, name: str) -> None:
        operation = "Organizations.UpdateOrganizationalUnit"
        with self._lock:
            self._count("rename_organizational_unit")
            ou = self.organizational_units.get(ou_id)
            if ou is None:
                raise _error(operation, "OrganizationalUnitNotFoundException", f"no OU {ou_id}")
            ou.name = name

    def delete_organizational_unit(self, ou_id: str) -> None:
        operation = "Organizations.DeleteOrganizationalUnit"
        with self._lock:
            self._count("delete_organizational_unit")
            if ou_id not in self.organizational_units:
                # Gone already: AwsProvider takes OrganizationalUnitNotFoundException as done.
                return
            children = [a for a in self.accounts.values() if a.parent_id == ou_id]
            children_ous = [o for o in self.organizational_units.values() if o.parent_id == ou_id]
            if children or children_ous:
                raise _error(
                    operation,
                    "OrganizationalUnitNotEmptyException",
                    f"{ou_id} still holds accounts or OUs",
                )
            del self.organizational_units[ou_id]
            self.attachments.pop(ou_id, None)

    def create_account(
        self, *, name: str, email: str, role_name: str = ACCESS_ROLE, tags: Mapping[str, str]
    ) -> str:
        with self._lock:
            self._count("create_account")
            # As AwsProvider: EMAIL_ALREADY_EXISTS for an account of the organization is that
            # account (an earlier create whose answer was lost).
            for existing in sorted(self.accounts.values(), key=lambda a: a.account_id):
                if existing.email.lower() == email.lower():
                    return existing.account_id
            account_id = f"0{44_000_000_000 + self._next('account'):011d}"
            self.accounts[account_id] = FakeAccount(
                account_id=account_id,
                name=name,
                email=email,
                parent_id=ROOT_ID,
                tags=dict(tags),
                roles={role_name},
            )
            self.attachments[account_id] = {FULL_AWS_ACCESS}
            return account_id

    def move_account(
        self, account_id: str, source_parent_id: str, destination_parent_id: str
    ) -> None:
        operation = "Organizations.MoveAccount"
        with self._lock:
            self._count("move_account")
            account = self._account(operation, account_id)
            if account.parent_id == destination_parent_id:
                return  # there already: AwsProvider takes DuplicateAccountException as done
            if account.parent_id != source_parent_id:
                raise _error(
                    operation,
                    "SourceParentNotFoundException",
                    f"{account_id} is not in {source_parent_id}",
                )
            if not self._parent_exists(destination_parent_id):
                raise _error(
                    operation,
                    "DestinationParentNotFoundException",
                    f"no parent {destination_parent_id}",
                )
            account.parent_id = destination_parent_id

    def close_account(self, account_id: str) -> None:
        operation = "Organizations.CloseAccount"
        with self._lock:
            self._count("close_account")
            account = self._account(operation, account_id)
            if account_id != MANAGEMENT_ACCOUNT_ID and account.status != "ACTIVE":
                return  # closed already: AwsProvider takes AccountAlreadyClosedException as done
            if account_id == MANAGEMENT_ACCOUNT_ID:
                raise _error(
                    operation,
                    "ConstraintViolationException",
                    f"{account_id} is the management account and cannot be closed",
                )
            account.status = "SUSPENDED"

    # --- alternate contacts (through the management account) ----------------------------------

    def _addressed(self, operation: str, account_id: str | None) -> str:
        if account_id == MANAGEMENT_ACCOUNT_ID:
            # AWS refuses the caller's own id as AccountId: it is addressed without one.
            raise _error(operation, "ValidationException", "AccountId is the caller's own")
        if account_id is not None and "account.amazonaws.com" not in self.service_access:
            raise _error(
                operation,
                "AccessDeniedException",
                "trusted access for account.amazonaws.com is not enabled",
            )
        return self._account(operation, account_id or MANAGEMENT_ACCOUNT_ID).account_id

    def get_alternate_contacts(self, account_id: str | None) -> dict[str, ContactDetails]:
        with self._lock:
            self._count("get_alternate_contacts")
            found = self._addressed("Account.GetAlternateContact", account_id)
            return dict(self.contacts.get(found, {}))

    def put_alternate_contact(
        self, account_id: str | None, contact_type: str, details: ContactDetails
    ) -> None:
        with self._lock:
            self._count("put_alternate_contact")
            found = self._addressed("Account.PutAlternateContact", account_id)
            self.contacts.setdefault(found, {})[contact_type] = details

    def delete_alternate_contact(self, account_id: str | None, contact_type: str) -> None:
        with self._lock:
            self._count("delete_alternate_contact")
            found = self._addressed("Account.DeleteAlternateContact", account_id)
            self.contacts.get(found, {}).pop(contact_type, None)

    def rename_account(self, account_id: str | None, name: str) -> None:
        operation = "Account.PutAccountName"
        with self._lock:
            self._count("rename_account")
            found = self._addressed(operation, account_id)
            self.accounts[found].name = name

    # --- trusted service access and delegated administrators ----------------------------------

    def list_service_access(self) -> LiveServiceAccess:
        with self._lock:
            self._count("list_service_access")
            return LiveServiceAccess(
                enabled=tuple(sorted(self.service_access)),
                administrators={
                    p: tuple(sorted(a)) for p, a in sorted(self.delegated.items()) if a
                },
            )

    def enable_service_access(self, service_principal: str) -> None:
        with self._lock:
            self._count("enable_service_access")
            self.service_access.add(service_principal)

    def disable_service_access(self, service_principal: str) -> None:
        # Stricter than AWS, which disables access under a registered administrator and leaves
        # the service half set up: orgc deregisters first, and the fake holds it to that.
        operation = "Organizations.DisableAWSServiceAccess"
        with self._lock:
            self._count("disable_service_access")
            if self.delegated.get(service_principal):
                raise _error(
                    operation,
                    "ConstraintViolationException",
                    f"{service_principal} still has delegated administrators",
                )
            self.service_access.discard(service_principal)

    def register_delegated_administrator(self, account_id: str, service_principal: str) -> None:
        operation = "Organizations.RegisterDelegatedAdministrator"
        with self._lock:
            self._count("register_delegated_administrator")
            self._account(operation, account_id)
            if account_id == MANAGEMENT_ACCOUNT_ID:
                raise _error(
                    operation,
                    "ConstraintViolationException",
                    "the management account cannot be a delegated administrator",
                )
            if service_principal not in self.service_access:
                raise _error(
                    operation,
                    "ConstraintViolationException",
                    f"trusted access for {service_principal} is not enabled",
                )
            admins = self.delegated.setdefault(service_principal, set())
            if account_id in admins:
                raise _error(operation, "AccountAlreadyRegisteredException", account_id)
            admins.add(account_id)

    def deregister_delegated_administrator(self, account_id: str, service_principal: str) -> None:
        operation = "Organizations.DeregisterDelegatedAdministrator"
        with self._lock:
            self._count("deregister_delegated_administrator")
            admins = self.delegated.get(service_principal, set())
            if account_id not in admins:
                raise _error(operation, "AccountNotRegisteredException", account_id)
            admins.discard(account_id)

    def tag_resource(self, resource_id: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            self._count("tag_resource")
            self._tags_of("Organizations.TagResource", resource_id).update(tags)

    def untag_resource(self, resource_id: str, keys: Iterable[str]) -> None:
        with self._lock:
            self._count("untag_resource")
            found = self._tags_of("Organizations.UntagResource", resource_id)
            for key in keys:
                found.pop(key, None)

    # --- inside an account --------------------------------------------------------------------

    def set_password_policy(
        self, account_id: str, role_name: str, settings: PasswordPolicySettings | None
    ) -> None:
        with self._lock:
            self._count("set_password_policy")
            account = self._reach("IAM.UpdateAccountPasswordPolicy", account_id, role_name)
            account.password_policy = settings

    def set_account_alias(self, account_id: str, role_name: str, alias: str | None) -> None:
        operation = "IAM.CreateAccountAlias"
        with self._lock:
            self._count("set_account_alias")
            account = self._reach(operation, account_id, role_name)
            if alias is not None and any(
                other.alias == alias for other in self.accounts.values() if other is not account
            ):
                raise _error(operation, "EntityAlreadyExists", f"the alias {alias} is taken")
            account.alias = alias

    # --- stacks ---------------------------------------------------------------------------------

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        with self._lock:
            self._count("list_stacks")
            self._reach("CloudFormation.ListStacks", account_id, role_name)
            return {
                name: LiveStack(
                    stack_name=name,
                    account_id=account_id,
                    region=region,
                    stack_id=stack.stack_id,
                    status=stack.status,
                    last_changed=stack.last_changed,
                )
                for name, stack in sorted(self.stacks.get((account_id, region), {}).items())
            }

    def describe_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> StackResult | None:
        with self._lock:
            self._count("describe_stack")
            self._reach("CloudFormation.DescribeStacks", account_id, role_name)
            stack = self.stacks.get((account_id, region), {}).get(stack_name)
            return None if stack is None else _result(stack)

    def get_template(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> str | None:
        with self._lock:
            self._count("get_template")
            self._reach("CloudFormation.GetTemplate", account_id, role_name)
            stack = self.stacks.get((account_id, region), {}).get(stack_name)
            return None if stack is None else json.dumps(stack.template, separators=(",", ":"))

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        with self._lock:
            self._count("read_export")
            self._reach("CloudFormation.ListExports", account_id, role_name)
            return self._exports(account_id, region).get(name)

    def _exports(self, account_id: str, region: str) -> dict[str, str]:
        return {
            name: value
            for stack in self.stacks.get((account_id, region), {}).values()
            for name, value in stack.exports.items()
        }

    def deploy_stack(self, deployment: StackDeployment) -> StackResult:
        """Create or update the stack at once; an update that changes nothing leaves it as it
        is (AWS's "No updates are to be performed", which the real provider takes as done)."""
        account_id, region, stack_name = (
            deployment.account_id,
            deployment.region,
            deployment.stack_name,
        )
        template_body, parameters, tags = (
            deployment.template_body,
            deployment.parameters,
            deployment.tags,
        )
        create, termination_protection = deployment.create, deployment.termination_protection
        template_bucket = deployment.template_bucket
        operation = "CloudFormation.CreateStack" if create else "CloudFormation.UpdateStack"
        with self._lock:
            self._count("deploy_stack")
            self._reach(operation, account_id, deployment.role_name)
            if len(template_body.encode("utf-8")) > TEMPLATE_BODY_LIMIT:
                if template_bucket is None:
                    raise _error(
                        operation, "TemplateTooLarge", "the template is over the inline limit"
                    )
                key = f"templates/{hashlib.sha256(template_body.encode()).hexdigest()}.json"
                self._put(operation, template_bucket, key, template_body.encode("utf-8"))
            pair = (account_id, region)
            existing = self.stacks.get(pair, {}).get(stack_name)
            if create and existing is not None:
                raise _error(operation, "AlreadyExistsException", f"Stack [{stack_name}] exists")
            if not create and existing is None:
                raise _error(
                    operation, "ValidationError", f"Stack with id {stack_name} does not exist"
                )
            try:
                template = json.loads(template_body)
            except ValueError as error:
                raise _error(
                    operation, "ValidationError", f"Template format error: {error}"
                ) from None
            if not isinstance(template, dict):
                raise _error(operation, "ValidationError", "Template format error: not a map")
            given = dict(sorted(parameters.items()))
            if (
                existing is not None
                and existing.template == template
                and existing.parameters == given
                and existing.tags == dict(tags)
                and existing.termination_protection == termination_protection
            ):
                return _result(existing)
            stack_id = (
                existing.stack_id
                if existing is not None
                else f"arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/"
                f"fake-{self._next('stack'):06d}"
            )
            evaluated = DeployedTemplate(
                operation=operation,
                template=template,
                parameters=self._parameter_values(operation, template, given, pair),
                account_id=account_id,
                region=region,
                stack_name=stack_name,
                stack_id=stack_id,
                exports=self._exports(account_id, region),
            )
            outputs, exports = evaluated.outputs()
            self._check_exports(operation, pair, stack_name, existing, exports)
            ssm_parameters = evaluated.ssm_parameters()
            store = self.ssm.setdefault(pair, {})
            if existing is not None:
                for name in existing.ssm_parameters:
                    store.pop(name, None)
            taken = sorted(set(ssm_parameters) & set(store))
            if taken:
                raise _error(operation, "AlreadyExists", f"SSM parameter {taken[0]} exists")
            store.update(ssm_parameters)
            stack = FakeStack(
                stack_name=stack_name,
                account_id=account_id,
                region=region,
                stack_id=stack_id,
                template=template,
                parameters=given,
                tags=dict(tags),
                termination_protection=termination_protection,
                last_changed=self._tick(),
                outputs=outputs,
                exports=exports,
                imports=evaluated.imported,
                ssm_parameters=ssm_parameters,
                status="CREATE_COMPLETE" if existing is None else "UPDATE_COMPLETE",
                deploys=1 if existing is None else existing.deploys + 1,
            )
            self.stacks.setdefault(pair, {})[stack_name] = stack
            return _result(stack)

    def _parameter_values(
        self,
        operation: str,
        template: Mapping[str, Any],
        given: Mapping[str, str],
        pair: tuple[str, str],
    ) -> dict[str, Any]:
        declared: Mapping[str, Any] = template.get("Parameters") or {}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise _error(
                operation,
                "ValidationError",
                f"Parameters: [{', '.join(unknown)}] do not exist in the template",
            )
        missing = sorted(
            name for name, spec in declared.items() if name not in given and "Default" not in spec
        )
        if missing:
            raise _error(
                operation, "ValidationError", f"Parameters: [{', '.join(missing)}] must have values"
            )
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            written = given.get(name, spec.get("Default"))
            value = "" if written is None else str(written)
            kind = str(spec.get("Type", "String"))
            if kind.startswith("AWS::SSM::Parameter::Value<"):
                found = self.ssm.get(pair, {}).get(value)
                if found is None:
                    raise _error(
                        operation,
                        "ValidationError",
                        f"Unable to fetch parameters [{value}] from parameter store for this "
                        "account.",
                    )
                value = found
                kind = kind[len("AWS::SSM::Parameter::Value<") : -1]
            values[name] = (
                value.split(",")
                if kind == "CommaDelimitedList" or kind.startswith("List<")
                else value
            )
        return values

    def _check_exports(
        self,
        operation: str,
        pair: tuple[str, str],
        stack_name: str,
        existing: FakeStack | None,
        exports: Mapping[str, str],
    ) -> None:
        others = {
            name: stack
            for stack in self.stacks.get(pair, {}).values()
            if stack.stack_name != stack_name
            for name in stack.exports
        }
        for name in exports:
            if name in others:
                raise _error(
                    operation,
                    "ValidationError",
                    f"Export with name {name} is already exported by stack "
                    f"{others[name].stack_name}",
                )
        if existing is None:
            return
        for name, value in existing.exports.items():
            importers = self._importers(pair, name)
            if importers and exports.get(name) != value:
                raise _error(
                    operation,
                    "ValidationError",
                    f"Cannot update export {name} as it is in use by {', '.join(importers)}",
                )

    def _importers(self, pair: tuple[str, str], export: str) -> list[str]:
        return sorted(
            s.stack_name for s in self.stacks.get(pair, {}).values() if export in s.imports
        )

    def delete_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> None:
        operation = "CloudFormation.DeleteStack"
        with self._lock:
            self._count("delete_stack")
            self._reach(operation, account_id, role_name)
            pair = (account_id, region)
            stack = self.stacks.get(pair, {}).get(stack_name)
            if stack is None:
                return
            if stack.termination_protection:
                raise _error(
                    operation,
                    "ValidationError",
                    f"Stack [{stack_name}] cannot be deleted while TerminationProtection is "
                    "enabled",
                )
            for name in stack.exports:
                importers = [s for s in self._importers(pair, name) if s != stack_name]
                if importers:
                    raise _error(
                        operation,
                        "ValidationError",
                        f"Export {name} cannot be deleted as it is in use by "
                        f"{', '.join(importers)}",
                    )
            for name in stack.ssm_parameters:
                self.ssm.get(pair, {}).pop(name, None)
            del self.stacks[pair][stack_name]

    # --- S3 -------------------------------------------------------------------------------------

    def create_bucket(self, bucket: str, region: str = "us-east-1") -> None:
        """A bucket of the management account, versioned, encrypted and not public (as orgc's
        state bucket is made; a test's setup makes the buckets objects are copied to too)."""
        with self._lock:
            self._count("create_bucket")
            self.buckets.setdefault(bucket, {})

    def describe_bucket(
        self, bucket: str, region: str, *, setup: bool = True
    ) -> BucketFacts | None:
        with self._lock:
            self._count("describe_bucket")
            if bucket not in self.buckets:
                return None
            blocked = dict.fromkeys(
                (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                ),
                True,
            )
            return BucketFacts(
                owned=True, versioning="Enabled", encrypted=True, public_access_block=blocked
            )

    def enable_bucket_versioning(self, bucket: str, region: str) -> None:
        self._count("enable_bucket_versioning")  # every fake bucket keeps its versions

    def block_bucket_public_access(self, bucket: str, region: str) -> None:
        self._count("block_bucket_public_access")  # no fake bucket is public

    def enable_bucket_encryption(self, bucket: str, region: str) -> None:
        self._count("enable_bucket_encryption")  # every fake bucket is encrypted

    def list_object_versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        with self._lock:
            self._count("list_object_versions")
            stored = self.versions.get((bucket, key), [])
            return [
                ObjectVersion(
                    version_id=str(number),
                    last_modified=f"2026-01-01T00:00:{number % 60:02d}Z",
                    size=len(body),
                    latest=number == len(stored),
                )
                for number, body in reversed(list(enumerate(stored, start=1)))
            ]

    def get_object_version(self, bucket: str, key: str, version_id: str) -> bytes | None:
        with self._lock:
            self._count("get_object_version")
            stored = self.versions.get((bucket, key), [])
            number = int(version_id) if version_id.isdigit() else 0
            return stored[number - 1] if 1 <= number <= len(stored) else None

    def _put(self, operation: str, bucket: str, key: str, body: bytes) -> str:
        objects = self.buckets.get(bucket)
        if objects is None:
            raise _error(
                operation, "NoSuchBucket", f"The specified bucket does not exist: {bucket}"
            )
        objects[key] = body
        self.versions.setdefault((bucket, key), []).append(body)
        return _etag(body)

    def put_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        body: bytes,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
        server_side_encryption: str | None = None,
    ) -> str:
        with self._lock:
            self._count("put_s3_object")
            return self._put("S3.PutObject", bucket, key, body)

    def ensure_bucket(self, bucket: str, region: str) -> None:
        with self._lock:
            self._count("ensure_bucket")
            self.buckets.setdefault(bucket, {})

    def ensure_template_bucket(self) -> str:
        bucket = f"orgc-templates-{MANAGEMENT_ACCOUNT_ID}"
        self.ensure_bucket(bucket, "us-east-1")
        return bucket

    def put_event(self, *, source: str, detail_type: str, detail: str, region: str) -> None:
        with self._lock:
            self._count("put_event")
            self.events.append((region, source, detail_type, detail))

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            self._count("get_object")
            body = self.buckets.get(bucket, {}).get(key)
            return None if body is None else (body, _etag(body))

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """A conditional write, as S3 makes it: it loses (PreconditionFailed) when the object
        is not at `if_match`, or exists under `if_none_match`."""
        operation = "S3.PutObject"
        if if_match is not None and if_none_match:
            raise ValueError("if_match and if_none_match are exclusive")
        with self._lock:
            self._count("put_object")
            current = self.buckets.get(bucket, {}).get(key)
            lost = (if_none_match and current is not None) or (
                if_match is not None and (current is None or _etag(current) != if_match)
            )
            if lost:
                raise PreconditionFailed(
                    code="PreconditionFailed",
                    operation=operation,
                    message="At least one of the pre-conditions you specified did not hold",
                )
            return self._put(operation, bucket, key, body)

    def delete_object(self, bucket: str, key: str) -> None:
        with self._lock:
            self._count("delete_object")
            self.buckets.get(bucket, {}).pop(key, None)

    def head_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> str | None:
        with self._lock:
            self._count("head_s3_object")
            body = self.buckets.get(bucket, {}).get(key)
            return None if body is None else _etag(body)

    def delete_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> None:
        with self._lock:
            self._count("delete_s3_object")
            self.buckets.get(bucket, {}).pop(key, None)

    # --- StackSets ------------------------------------------------------------------------------

    def describe_stack_set(self, name: str) -> LiveStackSet | None:
        with self._lock:
            self._count("describe_stack_set")
            found = self.stack_sets.get(name)
            if found is None:
                return None
            return LiveStackSet(
                name=name,
                stack_set_id=found.stack_set_id,
                arn=found.arn,
                template_body=found.template_body,
                parameters=dict(found.parameters),
                settings=stack_set_settings(
                    description=found.description,
                    tags=found.tags,
                    depends_on=[_stack_set_name(arn) for arn in found.depends_on],
                ),
                organizational_unit_ids=tuple(sorted(set(found.instances.values()))),
                instances=tuple(
                    LiveStackInstance(
                        account_id=account_id,
                        region=region,
                        status="CURRENT",
                        organizational_unit_id=ou_id,
                    )
                    for (account_id, region), ou_id in sorted(found.instances.items())
                ),
            )

    def _definition(
        self, operation: str, template_body: str, parameters: Mapping[str, str]
    ) -> None:
        try:
            template = json.loads(template_body)
        except ValueError as error:
            raise _error(operation, "ValidationError", f"Template format error: {error}") from None
        declared = set((template.get("Parameters") or {}) if isinstance(template, dict) else ())
        unknown = sorted(set(parameters) - declared)
        if unknown:
            raise _error(
                operation,
                "ValidationError",
                f"Parameters: [{', '.join(unknown)}] do not exist in the template",
            )

    def create_stack_set(self, definition: StackSetDefinition) -> tuple[str, str]:
        name, template_body, parameters = (
            definition.name,
            definition.template_body,
            definition.parameters,
        )
        description, tags, depends_on = (
            definition.description,
            definition.tags,
            definition.depends_on,
        )
        operation = "CloudFormation.CreateStackSet"
        with self._lock:
            self._count("create_stack_set")
            if name in self.stack_sets:
                raise _error(operation, "NameAlreadyExistsException", f"StackSet {name} exists")
            self._definition(operation, template_body, parameters)
            self._check_depends_on(operation, depends_on)
            stack_set_id = f"{name}:fake-{self._next('stack-set'):06d}"
            arn = (
                f"arn:aws:cloudformation:{HOME_REGION}:{MANAGEMENT_ACCOUNT_ID}:stackset/"
                f"{stack_set_id}"
            )
            self.stack_sets[name] = FakeStackSet(
                name=name,
                stack_set_id=stack_set_id,
                arn=arn,
                template_body=template_body,
                parameters=dict(sorted(parameters.items())),
                description=description,
                tags=dict(sorted(tags.items())),
                depends_on=tuple(depends_on),
            )
            return stack_set_id, arn

    def _check_depends_on(self, operation: str, depends_on: Sequence[str]) -> None:
        arns = {stack_set.arn for stack_set in self.stack_sets.values()}
        missing = sorted(set(depends_on) - arns)
        if missing:
            raise _error(operation, "StackSetNotFoundException", f"no StackSet {missing[0]}")

    def _stack_set(self, operation: str, name: str) -> FakeStackSet:
        found = self.stack_sets.get(name)
        if found is None:
            raise _error(operation, "StackSetNotFoundException", f"StackSet {name} not found")
        return found

    def update_stack_set(
        self,
        definition: StackSetDefinition,
        *,
        targets: InstanceTargets | None,
        preferences: Preferences,
    ) -> None:
        name, template_body, parameters = (
            definition.name,
            definition.template_body,
            definition.parameters,
        )
        description, tags, depends_on = (
            definition.description,
            definition.tags,
            definition.depends_on,
        )
        operation = "CloudFormation.UpdateStackSet"
        with self._lock:
            self._count("update_stack_set")
            found = self._stack_set(operation, name)
            self._definition(operation, template_body, parameters)
            self._check_depends_on(operation, depends_on)
            if targets is not None:
                reached = self._reached(operation, targets)
                outside = sorted(set(reached) - set(found.instances))
                if outside:
                    account_id, region = outside[0]
                    raise _error(
                        operation,
                        "StackInstanceNotFoundException",
                        f"no instance of {name} in {account_id} {region} to update",
                    )
            found.template_body = template_body
            found.parameters = dict(sorted(parameters.items()))
            found.description = description
            found.tags = dict(sorted(tags.items()))
            found.depends_on = tuple(depends_on)
            found.updates += 1

    def _members(self, ou_id: str) -> list[str]:
        """The accounts of an OU (or the root) and of the OUs nested in it, management aside."""
        found = []
        for account in self.accounts.values():
            parent = account.parent_id
            while parent not in (ou_id, ROOT_ID) and parent in self.organizational_units:
                parent = self.organizational_units[parent].parent_id
            if (
                parent == ou_id
                and account.account_id != MANAGEMENT_ACCOUNT_ID
                and account.status == "ACTIVE"
            ):
                found.append(account.account_id)
        return sorted(found)

    def _reached(self, operation: str, targets: InstanceTargets) -> dict[tuple[str, str], str]:
        """(account, region) → the OU it is reached through, as AWS resolves the targets."""
        accounts: dict[str, str] = {}
        for ou_id in targets.organizational_units:
            if not self._parent_exists(ou_id):
                raise _error(
                    operation,
                    "ValidationError",
                    f"no OU {ou_id} in the organization",
                )
            for account_id in self._members(ou_id):
                accounts.setdefault(account_id, ou_id)
        listed = set(targets.accounts)
        if targets.account_filter == "INTERSECTION":
            accounts = {a: ou for a, ou in accounts.items() if a in listed}
        elif targets.account_filter == "DIFFERENCE":
            accounts = {a: ou for a, ou in accounts.items() if a not in listed}
        return {
            (account_id, region): ou_id
            for account_id, ou_id in accounts.items()
            for region in targets.regions
        }

    def create_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None:
        with self._lock:
            self._count("create_stack_instances")
            operation = "CloudFormation.CreateStackInstances"
            found = self._stack_set(operation, name)
            for key, ou_id in self._reached(operation, targets).items():
                found.instances.setdefault(key, ou_id)

    def delete_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None:
        with self._lock:
            self._count("delete_stack_instances")
            operation = "CloudFormation.DeleteStackInstances"
            found = self._stack_set(operation, name)
            for key in self._reached(operation, targets):
                found.instances.pop(key, None)

    def delete_stack_set(self, name: str) -> None:
        operation = "CloudFormation.DeleteStackSet"
        with self._lock:
            self._count("delete_stack_set")
            found = self.stack_sets.get(name)
            if found is None:
                return
            if found.instances:
                raise _error(
                    operation, "StackSetNotEmptyException", f"StackSet {name} has instances"
                )
            if any(found.arn in other.depends_on for other in self.stack_sets.values()):
                raise _error(operation, "ValidationError", f"another StackSet depends on {name}")
            del self.stack_sets[name]

    # --- for tests --------------------------------------------------------------------------------

    def stack(self, account_id: str, region: str, stack_name: str) -> FakeStack | None:
        with self._lock:
            return self.stacks.get((account_id, region), {}).get(stack_name)

    def account_named(self, name: str) -> FakeAccount:
        with self._lock:
            return next(a for a in self.accounts.values() if a.name == name)

    def ou_named(self, name: str) -> FakeOrganizationalUnit:
        with self._lock:
            return next(o for o in self.organizational_units.values() if o.name == name)

    def edit_stack_by_hand(
        self, account_id: str, region: str, stack_name: str, **changes: Any
    ) -> None:
        """Change a stack as someone in the console would (its last change moves on)."""
        with self._lock:
            stack = self.stacks[(account_id, region)][stack_name]
            self.stacks[(account_id, region)][stack_name] = replace(
                stack, last_changed=self._tick(), **changes
            )


def _etag(body: bytes) -> str:
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def _stack_set_name(arn: str) -> str:
    return arn.partition(":stackset/")[2].rpartition(":")[0]


def _result(stack: FakeStack) -> StackResult:
    return StackResult(
        stack_id=stack.stack_id,
        status=stack.status,
        last_changed=stack.last_changed,
        outputs=dict(stack.outputs),
        exports=dict(stack.exports),
    )
