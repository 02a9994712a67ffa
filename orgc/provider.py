"""`Provider`: every verb orgc asks of AWS, in one protocol.

orgc.aws.AwsProvider implements it; tests stand in for it with doubles. Whatever reads AWS
(orgc.observe), trusts the state instead of reading it (orgc.recorded) or carries out a plan
(orgc.apply and its StackSet handlers) is typed against this protocol, never against the AWS
package, so that no stage depends on how AWS is reached and
the provider depends on no stage: this module, like the provider itself, imports only the data
types of orgc.observed.

The verbs are domain verbs and make no decisions. A verb that fails raises the provider's own
error (orgc.aws.AwsError or a subclass, with AWS's error code); verbs that change something
asynchronous (accounts, stacks, StackSet operations) return once the change has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from orgc.observed import (
    AccountAssignment,
    BucketFacts,
    ContactDetails,
    InstanceTargets,
    LiveOrganization,
    LiveServiceAccess,
    LiveStack,
    LiveStackSet,
    ObjectVersion,
    PasswordPolicySettings,
    PermissionSetSettings,
    Preferences,
    SsoInstance,
    StackDeployment,
    StackResult,
    StackSetDefinition,
)

# A role reached through another (TaskViaRoleArn): the role ARN assumed first and the role name
# then assumed in the target account, joined by a character no IAM role name or ARN holds.
ROLE_CHAIN = "|"


def chained_role(via_role_arn: str | None, role_name: str) -> str:
    """The role orgc assumes in an account, `role_name`, reached through `via_role_arn` first
    when one is given."""
    return f"{via_role_arn}{ROLE_CHAIN}{role_name}" if via_role_arn else role_name


def split_role(role: str) -> tuple[str | None, str]:
    """(the role ARN to assume first or None, the role name to assume in the account)."""
    via, chained, name = role.rpartition(ROLE_CHAIN)
    return (via or None, name) if chained else (None, role)


class Provider(Protocol):
    """The verbs over Organizations, IAM inside accounts, CloudFormation stacks and StackSets,
    and S3; safe to call from many threads at once."""

    # --- the organization: who we are, and what it holds ------------------------------------

    def management_account_id(self) -> str:
        """The account the credentials belong to (read once)."""
        ...

    def organization_identity(self) -> tuple[str, str]:
        """(organization id, management account id) of the organization the caller is in."""
        ...

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str],
        read_account_details: bool,
        read_account_tags: bool = True,
    ) -> LiveOrganization:
        """The whole organization; with `read_account_details` every account's alias and
        password policy too, read through the account's role in `account_roles`; without
        `read_account_tags`, no account's tags (each costs a call: `tags_read` is False)."""
        ...

    # --- the organization: changes ----------------------------------------------------------

    def enable_policy_type(self, root_id: str, policy_type: str) -> None: ...
    def create_policy(
        self,
        *,
        policy_type: str,
        name: str,
        description: str,
        content: str,
        tags: Mapping[str, str],
    ) -> str:
        """Returns the new policy's id."""
        ...

    def update_policy(
        self, policy_id: str, *, name: str, description: str, content: str
    ) -> None: ...
    def delete_policy(self, policy_id: str) -> None: ...
    def attach_policy(self, policy_id: str, target_id: str) -> None: ...
    def detach_policy(self, policy_id: str, target_id: str) -> None: ...
    def create_organizational_unit(self, parent_id: str, name: str, tags: Mapping[str, str]) -> str:
        """Returns the new OU's id."""
        ...

    def rename_organizational_unit(self, ou_id: str, name: str) -> None: ...
    def delete_organizational_unit(self, ou_id: str) -> None: ...
    def create_account(
        self, *, name: str, email: str, role_name: str, tags: Mapping[str, str]
    ) -> str:
        """Create an account in the root and wait until it exists; returns its id."""
        ...

    def move_account(
        self, account_id: str, source_parent_id: str, destination_parent_id: str
    ) -> None: ...
    def close_account(self, account_id: str) -> None: ...
    def tag_resource(self, resource_id: str, tags: Mapping[str, str]) -> None: ...
    def untag_resource(self, resource_id: str, keys: list[str]) -> None: ...

    # --- the organization: trusted service access and delegated administrators ------------

    def list_service_access(self) -> LiveServiceAccess:
        """The principals with trusted access, and every delegated administrator by principal:
        calls per page and per administrator account, none per member account."""
        ...

    def enable_service_access(self, service_principal: str) -> None: ...
    def disable_service_access(self, service_principal: str) -> None: ...
    def register_delegated_administrator(self, account_id: str, service_principal: str) -> None: ...

    def deregister_delegated_administrator(
        self, account_id: str, service_principal: str
    ) -> None: ...

    # --- account settings, through the management account (Account Management API) ---------

    def get_alternate_contacts(self, account_id: str | None) -> dict[str, ContactDetails]:
        """The account's alternate contacts by type (one call per type); None: the caller's own
        account (the management account, which AWS addresses without an AccountId)."""
        ...

    def put_alternate_contact(
        self, account_id: str | None, contact_type: str, details: ContactDetails
    ) -> None: ...
    def delete_alternate_contact(self, account_id: str | None, contact_type: str) -> None: ...
    def rename_account(self, account_id: str | None, name: str) -> None:
        """PutAccountName; None: the caller's own account."""
        ...

    # --- IAM Identity Center, through the management account (sso-admin, identitystore) ---

    def sso_instance(self) -> SsoInstance | None:
        """The organization's Identity Center instance (ListInstances); None: there is none."""
        ...

    def permission_set_names(self, instance_arn: str) -> dict[str, str]:
        """Every permission set of the instance, name → ARN: a call per page and one per set."""
        ...

    def read_permission_set(self, instance_arn: str, arn: str) -> PermissionSetSettings: ...
    def find_principal(self, identity_store_id: str, kind: str, name: str) -> str | None:
        """The id of a GROUP by display name or a USER by user name (or by its id); None when
        the identity store holds none."""
        ...

    def list_account_assignments(
        self, instance_arn: str, permission_set_arn: str, account_id: str
    ) -> tuple[AccountAssignment, ...]: ...
    def create_permission_set(self, instance_arn: str, settings: PermissionSetSettings) -> str:
        """Create it with everything `settings` holds; its ARN."""
        ...

    def update_permission_set(
        self,
        instance_arn: str,
        arn: str,
        before: PermissionSetSettings,
        after: PermissionSetSettings,
    ) -> None: ...
    def provision_permission_set(self, instance_arn: str, arn: str) -> None:
        """ProvisionPermissionSet to ALL_PROVISIONED_ACCOUNTS, waited for."""
        ...

    def delete_permission_set(self, instance_arn: str, arn: str) -> None: ...
    def create_account_assignment(self, instance_arn: str, assignment: AccountAssignment) -> None:
        """CreateAccountAssignment, its status polled until it succeeds (or raises)."""
        ...

    def delete_account_assignment(
        self, instance_arn: str, assignment: AccountAssignment
    ) -> None: ...

    # --- inside an account, through its role ------------------------------------------------

    def set_password_policy(
        self, account_id: str, role_name: str, settings: PasswordPolicySettings | None
    ) -> None:
        """None removes the policy."""
        ...

    def set_account_alias(self, account_id: str, role_name: str, alias: str | None) -> None:
        """None removes the alias."""
        ...

    # --- stacks, in one account and region --------------------------------------------------

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        """Every stack that is not deleted, by name."""
        ...

    def deploy_stack(self, deployment: StackDeployment) -> StackResult:
        """Create or update the stack and wait until it has settled."""
        ...

    def delete_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> None:
        """Delete the stack and wait; a stack that is gone already is success."""
        ...

    def describe_stack(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> StackResult | None:
        """The stack's outputs and exports now, or None when there is no such stack."""
        ...

    def get_template(
        self, *, account_id: str, role_name: str, region: str, stack_name: str
    ) -> str | None:
        """The template body the stack was last deployed with, or None when there is no such
        stack; read only for stacks a plan updates (for their template diff)."""
        ...

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        """The value of a CloudFormation export, or None."""
        ...

    # --- StackSets of the management account ------------------------------------------------

    def describe_stack_set(self, name: str) -> LiveStackSet | None:
        """The StackSet and its instances, or None when there is none."""
        ...

    def create_stack_set(self, definition: StackSetDefinition) -> tuple[str, str]:
        """Create a service-managed StackSet with no instances yet; returns (id, ARN)."""
        ...

    def update_stack_set(
        self,
        definition: StackSetDefinition,
        *,
        targets: InstanceTargets | None,
        preferences: Preferences,
    ) -> None:
        """Update the StackSet and the instances of `targets` (None: every instance)."""
        ...

    def create_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None: ...
    def delete_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None: ...
    def delete_stack_set(self, name: str) -> None:
        """Delete a StackSet that holds no instances; one that is gone already is success."""
        ...

    # --- S3: the objects of copy-to-s3 tasks ------------------------------------------------

    def head_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> str | None:
        """The object's ETag, or None when it does not exist; read in `account_id` through
        `role_name` when given, else with the management account's own credentials."""
        ...

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
        """Put the object, as `account_id` through `role_name` when given (with the ACL
        bucket-owner-full-control, as OrgFormation puts it), with `server_side_encryption`
        (AES256 or aws:kms) when given; returns the new object's ETag."""
        ...

    def delete_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> None:
        """Delete the object (a missing one is success, as in S3), as `account_id` through
        `role_name` when given, else with the management account's own credentials."""
        ...

    def ensure_template_bucket(self) -> str:
        """The name of the bucket, in the management account, that templates too large to pass
        inline go through; made on first use, private, readable by the organization's accounts
        only."""
        ...

    # --- EventBridge ---------------------------------------------------------------------------

    def put_event(self, *, source: str, detail_type: str, detail: str, region: str) -> None:
        """Put one event on the default event bus of the management account in `region`;
        an entry the bus refuses raises like a failed call."""
        ...

    # --- S3: the state document and its lock ------------------------------------------------

    def ensure_bucket(self, bucket: str, region: str) -> None:
        """Make sure the bucket exists, versioned and not public."""
        ...

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """(body, ETag), or None when the key does not exist."""
        ...

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write only over the version `if_match`, or only where there is none
        (`if_none_match`); returns the new ETag."""
        ...

    def delete_object(self, bucket: str, key: str) -> None: ...

    def create_bucket(self, bucket: str, region: str) -> None:
        """Create the bucket versioned, encrypted by default and with all public access
        blocked."""
        ...

    def describe_bucket(
        self, bucket: str, region: str, *, setup: bool = True
    ) -> BucketFacts | None:
        """How the bucket is set up (owner, public access, policy; with `setup` versioning and
        encryption too), or None when no bucket of that name exists."""
        ...

    def enable_bucket_versioning(self, bucket: str, region: str) -> None: ...
    def block_bucket_public_access(self, bucket: str, region: str) -> None: ...
    def enable_bucket_encryption(self, bucket: str, region: str) -> None: ...

    def list_object_versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        """The stored versions of an object, newest first."""
        ...

    def get_object_version(self, bucket: str, key: str, version_id: str) -> bytes | None:
        """One stored version's body, or None when there is no such version."""
        ...
