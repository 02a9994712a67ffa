"""IAM Identity Center for the embedded emulator: moto's sso-admin taught to answer as AWS does.

moto 5.2.5 keeps permission sets, their managed and customer managed policies, inline policies
and account assignments, and its identitystore keeps groups and users (unique display names,
GetGroupId / GetUserId). But its sso-admin accepts what AWS refuses and lacks calls orgc makes:

- it takes assignments for principals the identity store does not hold, for accounts outside
  the organization, and the same assignment twice (listing it twice); AWS refuses the first
  two (the status call says FAILED, with a reason) and holds one assignment per principal,
  permission set and account;
- it takes two permission sets of one name (AWS: ConflictException);
- it has no TagResource / UntagResource / ListTagsForResource, no permissions boundary calls,
  no DescribePermissionSetProvisioningStatus, and answers every assignment SUCCEEDED at once;
- it reports a permission set provisioned to the caller's account alone, where AWS provisions
  it to every account it is assigned in.

`teach_identity_center()` refuses the first two as AWS does, adds the missing calls over moto's
own records (tags kept on the permission set, a boundary beside its policies, provisioning
requests by id, the accounts a set is provisioned to from its assignments), and answers a new
assignment or deletion IN_PROGRESS, SUCCEEDED on the first status call, so that the polling
orgc does is exercised. Like the StackSet patches
(orgc.emulator_stacksets) it names moto's internals and refuses any other moto version; the
server process applies it before it serves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from orgc.emulator_stacksets import patches_moto


@patches_moto
def teach_identity_center() -> None:
    """Patch moto's sso-admin in this process. Applying it twice is applying it once. Raises
    UnsupportedMoto for any other moto version."""
    _teach_backend()
    _teach_responses()


def _principal_known(backend: Any, instance_arn: str, kind: str, principal_id: str) -> bool:
    from moto.identitystore.models import identitystore_backends

    instance = next((i for i in backend.instances if i.instance_arn == instance_arn), None)
    if instance is None:
        return False
    stores = identitystore_backends[backend.account_id][backend.region_name].identity_stores
    store = stores.get(instance.identity_store_id)
    if store is None:
        return False
    return principal_id in (store.groups if kind == "GROUP" else store.users)


def _account_known(backend: Any, account_id: str) -> bool:
    from moto.organizations.models import organizations_backends

    organization = organizations_backends[backend.account_id][backend.partition]
    return any(a.id == account_id for a in organization.accounts)


def _teach_backend() -> None:
    from moto.ssoadmin import models
    from moto.ssoadmin.exceptions import ConflictException

    backend_class = models.SSOAdminBackend
    create_set = backend_class.create_permission_set
    create_assignment = backend_class.create_account_assignment

    def create_permission_set(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        instance_arn = kwargs.get("instance_arn", args[1] if len(args) > 1 else None)
        if any(
            p.name.lower() == name.lower() and p.instance_arn == instance_arn
            for p in self.permission_sets
        ):
            raise ConflictException(f"PermissionSet with name {name} already exists.")
        return create_set(self, name, *args, **kwargs)

    def create_account_assignment(self: Any, **kwargs: Any) -> Any:
        failure = None
        if not _principal_known(
            self, kwargs["instance_arn"], kwargs["principal_type"], kwargs["principal_id"]
        ):
            failure = (
                f"{kwargs['principal_type']} {kwargs['principal_id']} is not in the identity store"
            )
        elif not _account_known(self, kwargs["target_id"]):
            failure = f"account {kwargs['target_id']} is not in the organization"
        existing = next(
            (
                a
                for a in self.account_assignments
                if (a.instance_arn, a.target_id, a.permission_set_arn)
                == (kwargs["instance_arn"], kwargs["target_id"], kwargs["permission_set_arn"])
                and (a.principal_type, a.principal_id)
                == (kwargs["principal_type"], kwargs["principal_id"])
            ),
            None,
        )
        if failure is None and existing is not None:
            summary: dict[str, Any] = existing.to_json(
                include_creation_date=True, include_request_id=True
            )
        elif failure is None:
            summary = create_assignment(self, **kwargs)
        else:
            assignment = models.AccountAssignment(
                kwargs["instance_arn"],
                kwargs["target_id"],
                kwargs["target_type"],
                kwargs["permission_set_arn"],
                kwargs["principal_type"],
                kwargs["principal_id"],
            )
            summary = assignment.to_json(include_creation_date=True, include_request_id=True)
        _statuses(self)[summary["RequestId"]] = failure
        return summary

    backend_class.create_permission_set = create_permission_set  # type: ignore[method-assign]
    backend_class.create_account_assignment = create_account_assignment  # type: ignore[method-assign,assignment]


def _statuses(backend: Any) -> dict[str, str | None]:
    """Request id → None (succeeded) or why it failed, for the assignments asked for."""
    found: dict[str, str | None] | None = getattr(backend, "orgc_statuses", None)
    if found is None:
        found = {}
        backend.orgc_statuses = found
    return found


def _find_set(backend: Any, instance_arn: str, arn: str) -> Any:
    return backend._find_permission_set(instance_arn, arn)


def _teach_responses() -> None:
    from moto.ssoadmin import responses
    from moto.ssoadmin.exceptions import ResourceNotFoundException

    cls = responses.SSOAdminResponse

    def params(self: Any) -> dict[str, Any]:
        return json.loads(self.body or "{}")  # type: ignore[no-any-return]

    original_create = cls.create_account_assignment
    original_delete = cls.delete_account_assignment
    original_creation_status = cls.describe_account_assignment_creation_status

    def create_account_assignment(self: Any) -> str:
        answer = json.loads(original_create(self))
        answer["AccountAssignmentCreationStatus"]["Status"] = "IN_PROGRESS"
        return json.dumps(answer)

    def delete_account_assignment(self: Any) -> str:
        answer = json.loads(original_delete(self))
        answer["AccountAssignmentDeletionStatus"]["Status"] = "IN_PROGRESS"
        return json.dumps(answer)

    def describe_account_assignment_creation_status(self: Any) -> str:
        request_id = params(self)["AccountAssignmentCreationRequestId"]
        failure = _statuses(self.ssoadmin_backend).get(request_id)
        if failure is not None:
            return json.dumps(
                {
                    "AccountAssignmentCreationStatus": {
                        "RequestId": request_id,
                        "Status": "FAILED",
                        "FailureReason": failure,
                    }
                }
            )
        return original_creation_status(self)

    def tag_resource(self: Any) -> str:
        p = params(self)
        found = _find_set(self.ssoadmin_backend, p["InstanceArn"], p["ResourceArn"])
        tags = {t["Key"]: t["Value"] for t in found.tags or []}
        tags.update({t["Key"]: t["Value"] for t in p["Tags"]})
        found.tags = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        return "{}"

    def untag_resource(self: Any) -> str:
        p = params(self)
        found = _find_set(self.ssoadmin_backend, p["InstanceArn"], p["ResourceArn"])
        found.tags = [t for t in found.tags or [] if t["Key"] not in set(p["TagKeys"])]
        return "{}"

    def list_tags_for_resource(self: Any) -> str:
        p = params(self)
        found = _find_set(self.ssoadmin_backend, p["InstanceArn"], p["ResourceArn"])
        return json.dumps({"Tags": list(found.tags or [])})

    def put_permissions_boundary_to_permission_set(self: Any) -> str:
        p = params(self)
        found = _find_set(self.ssoadmin_backend, p["InstanceArn"], p["PermissionSetArn"])
        found.orgc_boundary = p["PermissionsBoundary"]
        return "{}"

    def get_permissions_boundary_for_permission_set(self: Any) -> str:
        p = params(self)
        found = _find_set(self.ssoadmin_backend, p["InstanceArn"], p["PermissionSetArn"])
        boundary = getattr(found, "orgc_boundary", None)
        if boundary is None:
            raise ResourceNotFoundException("The permission set has no permissions boundary")
        return json.dumps({"PermissionsBoundary": boundary})

    def delete_permissions_boundary_from_permission_set(self: Any) -> str:
        p = params(self)
        found = _find_set(self.ssoadmin_backend, p["InstanceArn"], p["PermissionSetArn"])
        if getattr(found, "orgc_boundary", None) is None:
            raise ResourceNotFoundException("The permission set has no permissions boundary")
        found.orgc_boundary = None
        return "{}"

    original_provision = cls.provision_permission_set

    def provision_permission_set(self: Any) -> str:
        answer = json.loads(original_provision(self))
        status = answer["PermissionSetProvisioningStatus"]
        status["Status"] = "IN_PROGRESS"
        requests = getattr(self.ssoadmin_backend, "orgc_provisioning", None)
        if requests is None:
            requests = {}
            self.ssoadmin_backend.orgc_provisioning = requests
        requests[status["RequestId"]] = {**status, "Status": "SUCCEEDED"}
        return json.dumps(answer)

    def describe_permission_set_provisioning_status(self: Any) -> str:
        request_id = params(self)["ProvisionPermissionSetRequestId"]
        requests = getattr(self.ssoadmin_backend, "orgc_provisioning", None) or {}
        if request_id not in requests:
            raise ResourceNotFoundException(f"no provisioning request {request_id}")
        return json.dumps({"PermissionSetProvisioningStatus": requests[request_id]})

    def provisioned(self: Any) -> set[tuple[str, str]]:
        """(permission set ARN, account id) for every assignment: AWS provisions a permission
        set to an account when it is first assigned there."""
        return {
            (a.permission_set_arn, a.target_id)
            for a in self.ssoadmin_backend.account_assignments
            if a.instance_arn == params(self)["InstanceArn"]
        }

    def list_accounts_for_provisioned_permission_set(self: Any) -> str:
        arn = params(self)["PermissionSetArn"]
        accounts = sorted({a for p, a in provisioned(self) if p == arn})
        return json.dumps({"AccountIds": accounts})

    def list_permission_sets_provisioned_to_account(self: Any) -> str:
        account_id = params(self)["AccountId"]
        sets = sorted({p for p, a in provisioned(self) if a == account_id})
        return json.dumps({"PermissionSets": sets})

    taught = {
        "list_accounts_for_provisioned_permission_set": (
            list_accounts_for_provisioned_permission_set
        ),
        "list_permission_sets_provisioned_to_account": list_permission_sets_provisioned_to_account,
        "create_account_assignment": create_account_assignment,
        "delete_account_assignment": delete_account_assignment,
        "describe_account_assignment_creation_status": describe_account_assignment_creation_status,
        "tag_resource": tag_resource,
        "untag_resource": untag_resource,
        "list_tags_for_resource": list_tags_for_resource,
        "put_permissions_boundary_to_permission_set": put_permissions_boundary_to_permission_set,
        "get_permissions_boundary_for_permission_set": get_permissions_boundary_for_permission_set,
        "delete_permissions_boundary_from_permission_set": (
            delete_permissions_boundary_from_permission_set
        ),
        "provision_permission_set": provision_permission_set,
        "describe_permission_set_provisioning_status": describe_permission_set_provisioning_status,
    }
    for name, method in taught.items():
        setattr(cls, name, method)  # moto looks each action up by name


def stand_in_for_identity_provider(principals: Iterable[tuple[str, str]], region: str) -> list[str]:
    """Create in the emulated identity store the groups and users (kind, name) it lacks, as an
    identity provider's sync would in AWS (orgc never creates principals there; the emulator
    has no identity provider to sync from). Identity store ids are taken as they are. What was
    created, as "group NAME" / "user NAME"; boto3 reaches the emulator through the environment
    `orgc.emulator.apply_emulator_environment` set."""
    import boto3

    from orgc.observed import is_guid

    sso = boto3.client("sso-admin", region_name=region)
    instances = sso.list_instances()["Instances"]
    if not instances:
        return []
    store_id = instances[0]["IdentityStoreId"]
    store = boto3.client("identitystore", region_name=region)
    created: list[str] = []
    for kind, name in sorted(set(principals)):
        if is_guid(name):
            continue
        if kind == "GROUP":
            existing = store.list_groups(
                IdentityStoreId=store_id,
                Filters=[{"AttributePath": "DisplayName", "AttributeValue": name}],
            )["Groups"]
            if not existing:
                store.create_group(IdentityStoreId=store_id, DisplayName=name)
                created.append(f"group {name}")
        else:
            existing = store.list_users(
                IdentityStoreId=store_id,
                Filters=[{"AttributePath": "UserName", "AttributeValue": name}],
            )["Users"]
            if not existing:
                store.create_user(
                    IdentityStoreId=store_id,
                    UserName=name,
                    DisplayName=name,
                    Name={"GivenName": name, "FamilyName": name},
                )
                created.append(f"user {name}")
    return created
