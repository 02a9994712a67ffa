"""IAM Identity Center in memory, for FakeAws and the recording provider: one instance, an
identity store the tests fill (`add_group`, `add_user`), permission sets and assignments.

It refuses what AWS refuses and moto does not: an assignment of a principal the identity store
does not hold, two permission sets of one name, deleting a permission set that still has
assignments (so the plan's order, assignments first, is proved here).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid

from orgc.aws.errors import AwsError
from orgc.observed import AccountAssignment, PermissionSetSettings, SsoInstance

INSTANCE = SsoInstance(
    instance_arn="arn:aws:sso:::instance/ssoins-0000000000000000",
    identity_store_id="d-0000000000",
)


@dataclasses.dataclass
class _IdentityCenter:
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)
    instance: SsoInstance | None = INSTANCE
    groups: dict[str, str] = dataclasses.field(default_factory=dict)  # name → id
    users: dict[str, str] = dataclasses.field(default_factory=dict)  # user name → id
    permission_sets: dict[str, PermissionSetSettings] = dataclasses.field(default_factory=dict)
    assignments: set[AccountAssignment] = dataclasses.field(default_factory=set)
    provisioned: list[str] = dataclasses.field(default_factory=list)  # ARNs, in order
    made: int = 0  # ids handed out, so that they are the same in every run

    def next_id(self) -> int:
        with self.lock:
            self.made += 1
            return self.made


class FakeIdentityCenter:
    """The Provider's Identity Center verbs over `identity_center`."""

    _sso_state: _IdentityCenter | None = None

    @property
    def identity_center(self) -> _IdentityCenter:
        if self._sso_state is None:
            self._sso_state = _IdentityCenter()
        return self._sso_state

    def add_group(self, name: str) -> str:
        group_id = str(uuid.UUID(int=self.identity_center.next_id()))
        self.identity_center.groups[name] = group_id
        return group_id

    def add_user(self, name: str) -> str:
        user_id = str(uuid.UUID(int=0x1000 + self.identity_center.next_id()))
        self.identity_center.users[name] = user_id
        return user_id

    def sso_instance(self) -> SsoInstance | None:
        return self.identity_center.instance

    def permission_set_names(self, instance_arn: str) -> dict[str, str]:
        with self.identity_center.lock:
            sets = self.identity_center.permission_sets
            return dict(sorted((s.name, arn) for arn, s in sets.items()))

    def read_permission_set(self, instance_arn: str, arn: str) -> PermissionSetSettings:
        return self.identity_center.permission_sets[arn]

    def find_principal(self, identity_store_id: str, kind: str, name: str) -> str | None:
        held = self.identity_center.groups if kind == "GROUP" else self.identity_center.users
        if name in held.values():
            return name
        return held.get(name)

    def list_account_assignments(
        self, instance_arn: str, permission_set_arn: str, account_id: str
    ) -> tuple[AccountAssignment, ...]:
        with self.identity_center.lock:
            return tuple(
                sorted(
                    a
                    for a in self.identity_center.assignments
                    if (a.permission_set_arn, a.account_id) == (permission_set_arn, account_id)
                )
            )

    def create_permission_set(self, instance_arn: str, settings: PermissionSetSettings) -> str:
        with self.identity_center.lock:
            if any(
                s.name.lower() == settings.name.lower()
                for s in self.identity_center.permission_sets.values()
            ):
                raise AwsError(
                    code="ConflictException",
                    operation="SSOAdmin.CreatePermissionSet",
                    message=f"{settings.name} exists",
                )
            arn = f"{instance_arn}/ps-{self.identity_center.next_id():016x}"
            self.identity_center.permission_sets[arn] = settings
            return arn

    def update_permission_set(
        self,
        instance_arn: str,
        arn: str,
        before: PermissionSetSettings,
        after: PermissionSetSettings,
    ) -> None:
        with self.identity_center.lock:
            self.identity_center.permission_sets[arn] = after

    def provision_permission_set(self, instance_arn: str, arn: str) -> None:
        with self.identity_center.lock:
            self.identity_center.provisioned.append(arn)

    def delete_permission_set(self, instance_arn: str, arn: str) -> None:
        with self.identity_center.lock:
            if any(a.permission_set_arn == arn for a in self.identity_center.assignments):
                raise AwsError(
                    code="ConflictException",
                    operation="SSOAdmin.DeletePermissionSet",
                    message="the permission set still has account assignments",
                )
            self.identity_center.permission_sets.pop(arn, None)

    def create_account_assignment(self, instance_arn: str, assignment: AccountAssignment) -> None:
        held = (
            self.identity_center.groups
            if assignment.principal_type == "GROUP"
            else self.identity_center.users
        )
        with self.identity_center.lock:
            if assignment.principal_id not in held.values():
                raise AwsError(
                    code="AssignmentFailed",
                    operation="SSOAdmin.DescribeAccountAssignmentCreationStatus",
                    message=f"{assignment.principal_id} is not in the identity store",
                )
            self.identity_center.assignments.add(assignment)

    def delete_account_assignment(self, instance_arn: str, assignment: AccountAssignment) -> None:
        with self.identity_center.lock:
            self.identity_center.assignments.discard(assignment)
