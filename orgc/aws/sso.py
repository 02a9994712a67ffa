"""IAM Identity Center verbs over sso-admin and identitystore, through the management account.

Assignments and provisioning are asynchronous in AWS: CreateAccountAssignment,
DeleteAccountAssignment and ProvisionPermissionSet answer with a request id whose status is
polled (DescribeAccountAssignmentCreationStatus, ...DeletionStatus,
DescribePermissionSetProvisioningStatus) until it succeeds or fails. AWS throttles assignment
creation hard and answers ConflictException while another operation holds the permission set:
both are retried with jittered backoff (`_call` for throttling, `_retrying_conflicts` for
conflicts), and a wait between polls keeps the status calls themselves under the limits.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from orgc.aws.errors import AwsError
from orgc.aws.session import ProviderCore
from orgc.observed import (
    AccountAssignment,
    Boundary,
    CustomerPolicy,
    PermissionSetSettings,
    SsoInstance,
    is_guid,
    normal_duration,
)

_STATUS_TIMEOUT = 600.0  # seconds an assignment or a provisioning may take
_CONFLICT_ATTEMPTS = 8


def _reference(policy: CustomerPolicy) -> dict[str, str]:
    return {"Name": policy.name, "Path": policy.path}


def _boundary(boundary: Boundary) -> dict[str, Any]:
    if boundary.managed_policy_arn is not None:
        return {"ManagedPolicyArn": boundary.managed_policy_arn}
    assert boundary.customer_policy is not None
    return {"CustomerManagedPolicyReference": _reference(boundary.customer_policy)}


def _minified(text: str) -> str:
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return text


class SsoVerbs(ProviderCore):
    def _sso(self) -> Any:
        return self._client("sso-admin", self._region, None, None)

    def _identity_store(self) -> Any:
        return self._client("identitystore", self._region, None, None)

    def _retrying_conflicts(self, operation: str, request: Any) -> Any:
        """`request` through `_call`, with ConflictException (another operation holds the
        permission set, or provisioning is running) retried with backoff as well."""
        attempt = 0
        while True:
            try:
                return self._call(operation, request)
            except AwsError as error:
                if error.code != "ConflictException" or attempt >= _CONFLICT_ATTEMPTS:
                    raise
                self._sleep(self._backoff(attempt))
                attempt += 1

    # --- reading ----------------------------------------------------------------------------

    def sso_instance(self) -> SsoInstance | None:
        sso = self._sso()
        instances = self._call(
            "SSOAdmin.ListInstances",
            lambda: [
                i
                for page in sso.get_paginator("list_instances").paginate()
                for i in page["Instances"]
            ],
        )
        active = [i for i in instances if i.get("Status", "ACTIVE") == "ACTIVE"]
        if not active:
            return None
        first = min(active, key=lambda i: i["InstanceArn"])
        return SsoInstance(
            instance_arn=first["InstanceArn"], identity_store_id=first["IdentityStoreId"]
        )

    def permission_set_names(self, instance_arn: str) -> dict[str, str]:
        sso = self._sso()
        arns = self._call(
            "SSOAdmin.ListPermissionSets",
            lambda: [
                arn
                for page in sso.get_paginator("list_permission_sets").paginate(
                    InstanceArn=instance_arn
                )
                for arn in page["PermissionSets"]
            ],
        )
        names: dict[str, str] = {}
        for arn in arns:
            names[self._permission_set_name(sso, instance_arn, arn)] = arn
        return dict(sorted(names.items()))

    def _permission_set_name(self, sso: Any, instance_arn: str, arn: str) -> str:
        described = self._call(
            "SSOAdmin.DescribePermissionSet",
            lambda: sso.describe_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn),
        )
        name: str = described["PermissionSet"]["Name"]
        return name

    def read_permission_set(self, instance_arn: str, arn: str) -> PermissionSetSettings:
        sso = self._sso()
        where = {"InstanceArn": instance_arn, "PermissionSetArn": arn}
        described = self._call(
            "SSOAdmin.DescribePermissionSet", lambda: sso.describe_permission_set(**where)
        )["PermissionSet"]
        managed = self._call(
            "SSOAdmin.ListManagedPoliciesInPermissionSet",
            lambda: [
                p["Arn"]
                for page in sso.get_paginator("list_managed_policies_in_permission_set").paginate(
                    **where
                )
                for p in page["AttachedManagedPolicies"]
            ],
        )
        customer = self._call(
            "SSOAdmin.ListCustomerManagedPolicyReferencesInPermissionSet",
            lambda: [
                CustomerPolicy(name=p["Name"], path=p.get("Path") or "/")
                for page in sso.get_paginator(
                    "list_customer_managed_policy_references_in_permission_set"
                ).paginate(**where)
                for p in page["CustomerManagedPolicyReferences"]
            ],
        )
        inline = self._call(
            "SSOAdmin.GetInlinePolicyForPermissionSet",
            lambda: sso.get_inline_policy_for_permission_set(**where),
        ).get("InlinePolicy", "")
        boundary: Boundary | None = None
        try:
            found = self._call(
                "SSOAdmin.GetPermissionsBoundaryForPermissionSet",
                lambda: sso.get_permissions_boundary_for_permission_set(**where),
            )["PermissionsBoundary"]
        except AwsError as error:
            if error.code != "ResourceNotFoundException":
                raise
        else:
            reference = found.get("CustomerManagedPolicyReference")
            boundary = Boundary(
                managed_policy_arn=found.get("ManagedPolicyArn"),
                customer_policy=CustomerPolicy(
                    name=reference["Name"], path=reference.get("Path") or "/"
                )
                if reference
                else None,
            )
        tags = self._call(
            "SSOAdmin.ListTagsForResource",
            lambda: {
                t["Key"]: t["Value"]
                for page in sso.get_paginator("list_tags_for_resource").paginate(
                    InstanceArn=instance_arn, ResourceArn=arn
                )
                for t in page["Tags"]
            },
        )
        duration = described.get("SessionDuration") or "PT1H"
        return PermissionSetSettings(
            name=described["Name"],
            description=described.get("Description") or "",
            session_duration=normal_duration(duration) or duration,
            relay_state=described.get("RelayState") or "",
            managed_policies=tuple(sorted(set(managed))),
            customer_policies=tuple(sorted(set(customer))),
            inline_policy=_minified(inline or ""),
            boundary=boundary,
            tags=dict(sorted(tags.items())),
        )

    def find_principal(self, identity_store_id: str, kind: str, name: str) -> str | None:
        """The id of the group (by display name) or user (by user name), or of the one with
        that id; None when the identity store has none."""
        store = self._identity_store()
        try:
            if is_guid(name):
                if kind == "GROUP":
                    self._call(
                        "IdentityStore.DescribeGroup",
                        lambda: store.describe_group(
                            IdentityStoreId=identity_store_id, GroupId=name
                        ),
                    )
                else:
                    self._call(
                        "IdentityStore.DescribeUser",
                        lambda: store.describe_user(IdentityStoreId=identity_store_id, UserId=name),
                    )
                return name
            attribute = "DisplayName" if kind == "GROUP" else "UserName"
            identifier = {"UniqueAttribute": {"AttributePath": attribute, "AttributeValue": name}}
            if kind == "GROUP":
                found: str = self._call(
                    "IdentityStore.GetGroupId",
                    lambda: store.get_group_id(
                        IdentityStoreId=identity_store_id, AlternateIdentifier=identifier
                    ),
                )["GroupId"]
            else:
                found = self._call(
                    "IdentityStore.GetUserId",
                    lambda: store.get_user_id(
                        IdentityStoreId=identity_store_id, AlternateIdentifier=identifier
                    ),
                )["UserId"]
            return found
        except AwsError as error:
            if error.code in ("ResourceNotFoundException", "ValidationException"):
                return None
            raise

    def list_account_assignments(
        self, instance_arn: str, permission_set_arn: str, account_id: str
    ) -> tuple[AccountAssignment, ...]:
        sso = self._sso()
        found = self._call(
            "SSOAdmin.ListAccountAssignments",
            lambda: [
                a
                for page in sso.get_paginator("list_account_assignments").paginate(
                    InstanceArn=instance_arn,
                    AccountId=account_id,
                    PermissionSetArn=permission_set_arn,
                )
                for a in page["AccountAssignments"]
            ],
        )
        return tuple(
            sorted(
                {
                    AccountAssignment(
                        permission_set_arn=permission_set_arn,
                        principal_type=a["PrincipalType"],
                        principal_id=a["PrincipalId"],
                        account_id=account_id,
                    )
                    for a in found
                }
            )
        )

    # --- permission sets --------------------------------------------------------------------

    def create_permission_set(self, instance_arn: str, settings: PermissionSetSettings) -> str:
        sso = self._sso()
        optional = {
            key: value
            for key, value in (
                ("Description", settings.description),
                ("RelayState", settings.relay_state),
            )
            if value
        }
        tags = [{"Key": k, "Value": v} for k, v in settings.tags.items()]
        created = self._call(
            "SSOAdmin.CreatePermissionSet",
            lambda: sso.create_permission_set(
                InstanceArn=instance_arn,
                Name=settings.name,
                SessionDuration=settings.session_duration,
                **optional,
                **({"Tags": tags} if tags else {}),
            ),
        )
        arn: str = created["PermissionSet"]["PermissionSetArn"]
        empty = PermissionSetSettings(
            name=settings.name,
            description=settings.description,
            session_duration=settings.session_duration,
            relay_state=settings.relay_state,
            tags=settings.tags,
        )
        self.update_permission_set(instance_arn, arn, empty, settings)
        return arn

    def update_permission_set(
        self,
        instance_arn: str,
        arn: str,
        before: PermissionSetSettings,
        after: PermissionSetSettings,
    ) -> None:
        """Make the permission set `after` from `before`: only what differs is called."""
        sso = self._sso()
        where = {"InstanceArn": instance_arn, "PermissionSetArn": arn}

        def call(operation: str, method: str, **more: Any) -> None:
            self._retrying_conflicts(
                f"SSOAdmin.{operation}", lambda: getattr(sso, method)(**where, **more)
            )

        if (before.description, before.session_duration, before.relay_state) != (
            after.description,
            after.session_duration,
            after.relay_state,
        ):
            fields = {"SessionDuration": after.session_duration}
            if after.description:
                fields["Description"] = after.description
            fields["RelayState"] = after.relay_state
            call("UpdatePermissionSet", "update_permission_set", **fields)
        for policy in sorted(set(before.managed_policies) - set(after.managed_policies)):
            call(
                "DetachManagedPolicyFromPermissionSet",
                "detach_managed_policy_from_permission_set",
                ManagedPolicyArn=policy,
            )
        for policy in sorted(set(after.managed_policies) - set(before.managed_policies)):
            call(
                "AttachManagedPolicyToPermissionSet",
                "attach_managed_policy_to_permission_set",
                ManagedPolicyArn=policy,
            )
        for reference in sorted(set(before.customer_policies) - set(after.customer_policies)):
            call(
                "DetachCustomerManagedPolicyReferenceFromPermissionSet",
                "detach_customer_managed_policy_reference_from_permission_set",
                CustomerManagedPolicyReference=_reference(reference),
            )
        for reference in sorted(set(after.customer_policies) - set(before.customer_policies)):
            call(
                "AttachCustomerManagedPolicyReferenceToPermissionSet",
                "attach_customer_managed_policy_reference_to_permission_set",
                CustomerManagedPolicyReference=_reference(reference),
            )
        if before.inline_policy != after.inline_policy:
            if after.inline_policy:
                call(
                    "PutInlinePolicyToPermissionSet",
                    "put_inline_policy_to_permission_set",
                    InlinePolicy=after.inline_policy,
                )
            else:
                call(
                    "DeleteInlinePolicyFromPermissionSet",
                    "delete_inline_policy_from_permission_set",
                )
        if before.boundary != after.boundary:
            if after.boundary is not None:
                call(
                    "PutPermissionsBoundaryToPermissionSet",
                    "put_permissions_boundary_to_permission_set",
                    PermissionsBoundary=_boundary(after.boundary),
                )
            else:
                call(
                    "DeletePermissionsBoundaryFromPermissionSet",
                    "delete_permissions_boundary_from_permission_set",
                )
        removed = sorted(set(before.tags) - set(after.tags))
        if removed:
            self._call(
                "SSOAdmin.UntagResource",
                lambda: sso.untag_resource(
                    InstanceArn=instance_arn, ResourceArn=arn, TagKeys=removed
                ),
            )
        changed = {k: v for k, v in after.tags.items() if before.tags.get(k) != v}
        if changed:
            self._call(
                "SSOAdmin.TagResource",
                lambda: sso.tag_resource(
                    InstanceArn=instance_arn,
                    ResourceArn=arn,
                    Tags=[{"Key": k, "Value": v} for k, v in changed.items()],
                ),
            )

    def provision_permission_set(self, instance_arn: str, arn: str) -> None:
        """Provision to every account the permission set is provisioned to, and wait."""
        sso = self._sso()
        status = self._retrying_conflicts(
            "SSOAdmin.ProvisionPermissionSet",
            lambda: sso.provision_permission_set(
                InstanceArn=instance_arn,
                PermissionSetArn=arn,
                TargetType="ALL_PROVISIONED_ACCOUNTS",
            ),
        )["PermissionSetProvisioningStatus"]
        self._await(
            "SSOAdmin.DescribePermissionSetProvisioningStatus",
            status,
            lambda request_id: sso.describe_permission_set_provisioning_status(
                InstanceArn=instance_arn, ProvisionPermissionSetRequestId=request_id
            )["PermissionSetProvisioningStatus"],
        )

    def delete_permission_set(self, instance_arn: str, arn: str) -> None:
        """Delete; one gone already (an earlier answer was lost) is success."""
        sso = self._sso()
        try:
            self._retrying_conflicts(
                "SSOAdmin.DeletePermissionSet",
                lambda: sso.delete_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn),
            )
        except AwsError as error:
            if error.code != "ResourceNotFoundException":
                raise

    # --- assignments ------------------------------------------------------------------------

    def create_account_assignment(self, instance_arn: str, assignment: AccountAssignment) -> None:
        sso = self._sso()
        status = self._retrying_conflicts(
            "SSOAdmin.CreateAccountAssignment",
            lambda: sso.create_account_assignment(
                InstanceArn=instance_arn, **_assignment_params(assignment)
            ),
        )["AccountAssignmentCreationStatus"]
        self._await(
            "SSOAdmin.DescribeAccountAssignmentCreationStatus",
            status,
            lambda request_id: sso.describe_account_assignment_creation_status(
                InstanceArn=instance_arn, AccountAssignmentCreationRequestId=request_id
            )["AccountAssignmentCreationStatus"],
        )

    def delete_account_assignment(self, instance_arn: str, assignment: AccountAssignment) -> None:
        """Delete; one gone already (an earlier answer was lost) is success."""
        sso = self._sso()
        try:
            status = self._retrying_conflicts(
                "SSOAdmin.DeleteAccountAssignment",
                lambda: sso.delete_account_assignment(
                    InstanceArn=instance_arn, **_assignment_params(assignment)
                ),
            )["AccountAssignmentDeletionStatus"]
        except AwsError as error:
            if error.code != "ResourceNotFoundException":
                raise
            return
        self._await(
            "SSOAdmin.DescribeAccountAssignmentDeletionStatus",
            status,
            lambda request_id: sso.describe_account_assignment_deletion_status(
                InstanceArn=instance_arn, AccountAssignmentDeletionRequestId=request_id
            )["AccountAssignmentDeletionStatus"],
        )

    def _await(self, operation: str, status: dict[str, Any], describe: Any) -> None:
        """Poll an asynchronous status until it leaves IN_PROGRESS; a FAILED one raises with
        AWS's reason."""
        elapsed = 0.0
        ask = functools.partial(describe, status.get("RequestId", ""))
        while status.get("Status") == "IN_PROGRESS":
            elapsed = self._wait(operation, _STATUS_TIMEOUT, elapsed)
            status = self._call(operation, ask)
        if status.get("Status") == "FAILED":
            raise AwsError(
                code="AssignmentFailed" if "Assignment" in operation else "ProvisioningFailed",
                operation=operation,
                message=str(status.get("FailureReason") or "failed without a reason"),
            )


def _assignment_params(assignment: AccountAssignment) -> dict[str, str]:
    return {
        "TargetId": assignment.account_id,
        "TargetType": "AWS_ACCOUNT",
        "PermissionSetArn": assignment.permission_set_arn,
        "PrincipalType": assignment.principal_type,
        "PrincipalId": assignment.principal_id,
    }
