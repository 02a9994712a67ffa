"""Organizations verbs: reading the whole organization, and changing accounts, OUs, policies
and tags."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

from orgc.aws.accounts import AccountVerbs
from orgc.aws.errors import AwsError
from orgc.aws.idempotent import CREATE_ATTEMPTS, gave_up, no_blind_retry, outcome_unknown
from orgc.aws.session import DEFAULT_ACCESS_ROLE
from orgc.observed import (
    SERVICE_CONTROL_POLICY,
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    LiveRoot,
    LiveServiceAccess,
    PasswordPolicySettings,
)

if TYPE_CHECKING:
    from mypy_boto3_organizations.literals import PolicyTypeType
    from mypy_boto3_organizations.type_defs import (
        AccountTypeDef,
        CreateAccountStatusTypeDef,
        OrganizationalUnitTypeDef,
        PolicySummaryTypeDef,
        TagTypeDef,
    )

# Creating an account usually takes a minute or two; AWS documents no upper bound, so wait long
# enough to cover a slow day but never forever.
_CREATE_ACCOUNT_TIMEOUT = 1800.0
# Enabling a policy type is asynchronous (PENDING_ENABLE) and normally takes seconds.
_ENABLE_POLICY_TYPE_TIMEOUT = 300.0

_NO_TAGS: Mapping[str, str] = MappingProxyType({})


class OrganizationVerbs(AccountVerbs):
    """The organization through the Organizations API, with the management account's own
    credentials (account details are read inside each account, see `AccountVerbs`)."""

    # --- reading the organization -----------------------------------------------------------

    def organization_identity(self) -> tuple[str, str]:
        """(organization id, management account id) of the organization the caller is in."""
        description = self._call(
            "Organizations.DescribeOrganization", self._organizations().describe_organization
        )["Organization"]
        return description["Id"], description["MasterAccountId"]

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str] | None = None,
        read_account_details: bool = True,
        read_account_tags: bool = True,
    ) -> LiveOrganization:
        """Read the whole organization: root, OUs, accounts, policies, attachments and tags.

        The structure costs calls per OU and per policy, and per page of accounts; what costs a
        call per account is optional: the accounts' tags (`read_account_tags`; unread, they are
        reported with `tags_read=False`) and what is read inside each account.

        With `read_account_details`, every ACTIVE account's IAM alias and password policy are
        read too, inside the account through `account_roles.get(account_id,
        DEFAULT_ACCESS_ROLE)` (the management account directly). An account whose role cannot be
        assumed or read (AccessDenied) is reported with `details_read=False`; any other failure
        raises `AwsError`. Independent reads run on `max_workers` threads.
        """
        roles = account_roles or {}
        org = self._organizations()
        description = self._call("Organizations.DescribeOrganization", org.describe_organization)[
            "Organization"
        ]
        roots = self._call(
            "Organizations.ListRoots",
            lambda: [
                r for page in org.get_paginator("list_roots").paginate() for r in page["Roots"]
            ],
        )
        if not roots:
            raise AwsError(
                code="NoRoot",
                operation="Organizations.ListRoots",
                message="the organization has no root",
            )
        root = roots[0]
        root_id = root["Id"]
        enabled_types = tuple(
            policy_type["Type"]
            for policy_type in root.get("PolicyTypes", [])
            if policy_type.get("Status") == "ENABLED"
        )
        # SCPs are listed even when the type is not enabled: FullAWSAccess exists regardless and
        # the planner needs to see SCPs it may have to enable the type for.
        listed_types = tuple(dict.fromkeys((SERVICE_CONTROL_POLICY, *enabled_types)))

        with ThreadPoolExecutor(max_workers=self._max_workers) as pool:
            ou_records, account_records = self._read_tree(pool, root_id)
            summaries = [
                summary
                for summaries_of_type in pool.map(self._list_policies, listed_types)
                for summary in summaries_of_type
            ]
            # Attachments are read per policy (ListTargetsForPolicy), not per target and type
            # (ListPoliciesForTarget): an organization has far fewer policies than accounts and
            # OUs, and the per-target way costs targets x enabled types calls.
            policy_reads = list(pool.map(self._read_policy, summaries))
            taggable = [root_id, *ou_records, *(account_records if read_account_tags else ())]
            taggable += [s["Id"] for s in summaries if not s.get("AwsManaged", False)]
            tags = dict(zip(taggable, pool.map(self._list_tags, taggable), strict=True))
            details: dict[str, tuple[str | None, PasswordPolicySettings | None, bool]] = {}
            if read_account_details:
                active = [
                    account_id
                    for account_id, (account, _) in account_records.items()
                    if _account_status(account) == "ACTIVE"
                ]
                management_id = self.management_account_id()
                read = pool.map(
                    lambda account_id: self._read_account_details(
                        account_id,
                        roles.get(account_id, DEFAULT_ACCESS_ROLE),
                        management_id,
                    ),
                    active,
                )
                details = dict(zip(active, read, strict=True))

        attached: dict[str, list[str]] = {}
        policies: dict[str, LivePolicy] = {}
        for summary, (content, target_ids) in zip(summaries, policy_reads, strict=True):
            policy_id = summary["Id"]
            for target_id in target_ids:
                attached.setdefault(target_id, []).append(policy_id)
            policies[policy_id] = LivePolicy(
                policy_id=policy_id,
                policy_type=summary["Type"],
                name=summary["Name"],
                description=summary.get("Description", ""),
                content=content,
                aws_managed=summary.get("AwsManaged", False),
                tags=tags.get(policy_id, {}),
            )

        def policy_ids(target_id: str) -> tuple[str, ...]:
            return tuple(sorted(attached.get(target_id, ())))

        organizational_units = {
            ou_id: LiveOrganizationalUnit(
                ou_id=ou_id,
                name=ou["Name"],
                parent_id=parent_id,
                tags=tags[ou_id],
                policy_ids=policy_ids(ou_id),
            )
            for ou_id, (ou, parent_id) in ou_records.items()
        }
        accounts: dict[str, LiveAccount] = {}
        for account_id, (account, parent_id) in account_records.items():
            alias, password_policy, details_read = details.get(account_id, (None, None, False))
            accounts[account_id] = LiveAccount(
                account_id=account_id,
                name=account.get("Name", ""),
                email=account.get("Email", ""),
                status=_account_status(account),
                parent_id=parent_id,
                tags=tags.get(account_id, {}),
                tags_read=read_account_tags,
                policy_ids=policy_ids(account_id),
                alias=alias,
                password_policy=password_policy,
                details_read=details_read,
            )
        return LiveOrganization(
            organization_id=description["Id"],
            management_account_id=description["MasterAccountId"],
            root=LiveRoot(
                root_id=root_id,
                enabled_policy_types=enabled_types,
                tags=tags[root_id],
                policy_ids=policy_ids(root_id),
            ),
            accounts=accounts,
            organizational_units=organizational_units,
            policies=policies,
        )

    def _read_tree(
        self, pool: ThreadPoolExecutor, root_id: str
    ) -> tuple[
        dict[str, tuple[OrganizationalUnitTypeDef, str]], dict[str, tuple[AccountTypeDef, str]]
    ]:
        """Every OU and account with its parent, breadth first from the root.

        The accounts come from ListAccountsForParent, which returns the same records as
        ListAccounts plus the parent, so no ListParents call per account is needed.
        """
        ou_records: dict[str, tuple[OrganizationalUnitTypeDef, str]] = {}
        account_records: dict[str, tuple[AccountTypeDef, str]] = {}
        level = deque([root_id])
        while level:
            parents = list(level)
            level.clear()
            for parent_id, (child_ous, child_accounts) in zip(
                parents, pool.map(self._list_children, parents), strict=True
            ):
                for ou in child_ous:
                    ou_records[ou["Id"]] = (ou, parent_id)
                    level.append(ou["Id"])
                for account in child_accounts:
                    account_records[account["Id"]] = (account, parent_id)
        return ou_records, account_records

    def _list_children(
        self, parent_id: str
    ) -> tuple[list[OrganizationalUnitTypeDef], list[AccountTypeDef]]:
        org = self._organizations()
        ous = self._call(
            "Organizations.ListOrganizationalUnitsForParent",
            lambda: [
                ou
                for page in org.get_paginator("list_organizational_units_for_parent").paginate(
                    ParentId=parent_id
                )
                for ou in page["OrganizationalUnits"]
            ],
        )
        accounts = self._call(
            "Organizations.ListAccountsForParent",
            lambda: [
                account
                for page in org.get_paginator("list_accounts_for_parent").paginate(
                    ParentId=parent_id
                )
                for account in page["Accounts"]
            ],
        )
        return ous, accounts

    def _list_policies(self, policy_type: str) -> list[PolicySummaryTypeDef]:
        org = self._organizations()
        return self._call(
            "Organizations.ListPolicies",
            lambda: [
                policy
                for page in org.get_paginator("list_policies").paginate(
                    Filter=cast("PolicyTypeType", policy_type)
                )
                for policy in page["Policies"]
            ],
        )

    def _read_policy(self, summary: PolicySummaryTypeDef) -> tuple[str, list[str]]:
        """A policy's document and the ids of the targets it is attached to."""
        org = self._organizations()
        policy_id = summary["Id"]
        described = self._call(
            "Organizations.DescribePolicy", lambda: org.describe_policy(PolicyId=policy_id)
        )
        targets = self._call(
            "Organizations.ListTargetsForPolicy",
            lambda: [
                target["TargetId"]
                for page in org.get_paginator("list_targets_for_policy").paginate(
                    PolicyId=policy_id
                )
                for target in page["Targets"]
            ],
        )
        return described["Policy"].get("Content", ""), targets

    def _list_tags(self, resource_id: str) -> dict[str, str]:
        org = self._organizations()
        return self._call(
            "Organizations.ListTagsForResource",
            lambda: {
                tag["Key"]: tag["Value"]
                for page in org.get_paginator("list_tags_for_resource").paginate(
                    ResourceId=resource_id
                )
                for tag in page["Tags"]
            },
        )

    # --- changing the organization ----------------------------------------------------------

    def enable_policy_type(self, root_id: str, policy_type: str) -> None:
        """Enable a policy type on the root and wait until AWS reports it ENABLED. A type
        already enabled (by a request whose answer was lost and was sent again) is success."""
        org = self._organizations()
        operation = "Organizations.EnablePolicyType"
        try:
            response = self._call(
                operation,
                lambda: org.enable_policy_type(
                    RootId=root_id, PolicyType=cast("PolicyTypeType", policy_type)
                ),
            )
        except AwsError as error:
            if error.code != "PolicyTypeAlreadyEnabledException":
                raise
            status = None
        else:
            status = _policy_type_status(response["Root"].get("PolicyTypes", []), policy_type)
        elapsed = 0.0
        # Attaching a policy of a type still PENDING_ENABLE fails, so the verb returns only once
        # the type is usable.
        while status != "ENABLED":
            elapsed = self._wait(operation, _ENABLE_POLICY_TYPE_TIMEOUT, elapsed)
            roots = self._call("Organizations.ListRoots", org.list_roots)["Roots"]
            root = next((r for r in roots if r["Id"] == root_id), None)
            status = _policy_type_status(root.get("PolicyTypes", []) if root else [], policy_type)

    def create_account(
        self,
        *,
        name: str,
        email: str,
        role_name: str = DEFAULT_ACCESS_ROLE,
        tags: Mapping[str, str] = _NO_TAGS,
    ) -> str:
        """Create an account in the root and wait for it; return its id.

        AWS's failure (`FailureReason`, e.g. EMAIL_ALREADY_EXISTS) raises `AwsError` with code
        `CreateAccountFailed`. After a lost answer the account is looked for by email, and an
        in-flight creation by name (ListCreateAccountStatus), before the request is sent again.
        """
        org = self._organizations()
        operation = "Organizations.CreateAccount"
        no_blind_retry(org, "CreateAccount")
        status: CreateAccountStatusTypeDef | None = None
        for attempt in range(CREATE_ATTEMPTS):
            try:
                status = self._call(
                    operation,
                    lambda: org.create_account(
                        AccountName=name, Email=email, RoleName=role_name, Tags=_tag_list(tags)
                    ),
                )["CreateAccountStatus"]
                break
            except AwsError as error:
                if not outcome_unknown(error):
                    raise
                lost = error
            found = self._account_with_email(email)
            if found is not None:
                with self._lock:
                    self._fresh_accounts.add(found)
                return found
            status = self._creation_in_flight(name)
            if status is not None:
                break
            if attempt + 1 == CREATE_ATTEMPTS:
                raise gave_up(lost, f"an account with email {email}")
            self._sleep(self._backoff(attempt))
        assert status is not None
        request_id = status["Id"]
        elapsed = 0.0
        while status.get("State") == "IN_PROGRESS":
            elapsed = self._wait(operation, _CREATE_ACCOUNT_TIMEOUT, elapsed)
            status = self._call(
                "Organizations.DescribeCreateAccountStatus",
                lambda: org.describe_create_account_status(CreateAccountRequestId=request_id),
            )["CreateAccountStatus"]
        state = status.get("State")
        if state == "SUCCEEDED" and status.get("AccountId"):
            account_id = status["AccountId"]
            with self._lock:
                self._fresh_accounts.add(account_id)
            return account_id
        if state == "FAILED" and status.get("FailureReason") == "EMAIL_ALREADY_EXISTS":
            # An earlier attempt whose answer was lost made it after all.
            found = self._account_with_email(email)
            if found is not None:
                return found
        if state == "FAILED":
            raise AwsError(
                code="CreateAccountFailed",
                operation=operation,
                message=status.get("FailureReason", "no reason given"),
            )
        raise AwsError(
            code="CreateAccountFailed",
            operation=operation,
            message=f"unexpected creation status {state!r} for request {request_id}",
        )

    def _account_with_email(self, email: str) -> str | None:
        org = self._organizations()
        accounts = self._call(
            "Organizations.ListAccounts",
            lambda: [
                a
                for page in org.get_paginator("list_accounts").paginate()
                for a in page["Accounts"]
            ],
        )
        for account in accounts:
            if account.get("Email", "").lower() == email.lower():
                return account["Id"]
        return None

    def _creation_in_flight(self, name: str) -> CreateAccountStatusTypeDef | None:
        """The status of an account creation for `name` still IN_PROGRESS, if any."""
        org = self._organizations()
        statuses = self._call(
            "Organizations.ListCreateAccountStatus",
            lambda: [
                status
                for page in org.get_paginator("list_create_account_status").paginate(
                    States=["IN_PROGRESS"]
                )
                for status in page["CreateAccountStatuses"]
            ],
        )
        return next((s for s in statuses if s.get("AccountName") == name), None)

    def move_account(
        self, account_id: str, source_parent_id: str, destination_parent_id: str
    ) -> None:
        """Move the account; one already in the destination (an earlier answer was lost and
        the request sent again) is success."""
        org = self._organizations()
        try:
            self._call(
                "Organizations.MoveAccount",
                lambda: org.move_account(
                    AccountId=account_id,
                    SourceParentId=source_parent_id,
                    DestinationParentId=destination_parent_id,
                ),
            )
        except AwsError as error:
            if error.code != "DuplicateAccountException":
                raise

    def close_account(self, account_id: str) -> None:
        """Ask AWS to close the account (it goes PENDING_CLOSURE, then SUSPENDED); one
        already closed (an earlier answer was lost) is success."""
        org = self._organizations()
        try:
            self._call(
                "Organizations.CloseAccount", lambda: org.close_account(AccountId=account_id)
            )
        except AwsError as error:
            if error.code != "AccountAlreadyClosedException":
                raise

    def tag_resource(self, resource_id: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags on a root, OU, account or policy; no call when `tags` is empty."""
        if not tags:
            return
        org = self._organizations()
        self._call(
            "Organizations.TagResource",
            lambda: org.tag_resource(ResourceId=resource_id, Tags=_tag_list(tags)),
        )

    def untag_resource(self, resource_id: str, keys: Iterable[str]) -> None:
        """Remove tags by key; no call when `keys` is empty."""
        tag_keys = sorted(set(keys))
        if not tag_keys:
            return
        org = self._organizations()
        self._call(
            "Organizations.UntagResource",
            lambda: org.untag_resource(ResourceId=resource_id, TagKeys=tag_keys),
        )

    def create_organizational_unit(
        self, parent_id: str, name: str, tags: Mapping[str, str] = _NO_TAGS
    ) -> str:
        """Create an OU under `parent_id` (the root or an OU); return its id. After a lost
        answer (or AWS's DuplicateOrganizationalUnitException for it) the OU is looked for by
        name under its parent before the request is sent again."""
        org = self._organizations()
        operation = "Organizations.CreateOrganizationalUnit"
        no_blind_retry(org, "CreateOrganizationalUnit")
        for attempt in range(CREATE_ATTEMPTS):
            try:
                response = self._call(
                    operation,
                    lambda: org.create_organizational_unit(
                        ParentId=parent_id, Name=name, Tags=_tag_list(tags)
                    ),
                )
                return response["OrganizationalUnit"]["Id"]
            except AwsError as error:
                duplicate = error.code == "DuplicateOrganizationalUnitException"
                if not duplicate and not outcome_unknown(error):
                    raise
                lost = error
            found = next(
                (ou["Id"] for ou in self._list_children(parent_id)[0] if ou["Name"] == name), None
            )
            if found is not None:
                return str(found)
            if duplicate or attempt + 1 == CREATE_ATTEMPTS:
                raise gave_up(lost, f"OU {name} under {parent_id}")
            self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def rename_organizational_unit(self, ou_id: str, name: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.UpdateOrganizationalUnit",
            lambda: org.update_organizational_unit(OrganizationalUnitId=ou_id, Name=name),
        )

    def delete_organizational_unit(self, ou_id: str) -> None:
        """Delete an OU; AWS refuses one that still holds accounts or OUs. One that is gone
        already (an earlier answer was lost and the request sent again) is success."""
        org = self._organizations()
        try:
            self._call(
                "Organizations.DeleteOrganizationalUnit",
                lambda: org.delete_organizational_unit(OrganizationalUnitId=ou_id),
            )
        except AwsError as error:
            if error.code != "OrganizationalUnitNotFoundException":
                raise

    def create_policy(
        self,
        *,
        policy_type: str,
        name: str,
        description: str,
        content: str,
        tags: Mapping[str, str] = _NO_TAGS,
    ) -> str:
        """Create a policy of `policy_type` (an Organizations policy type name); return its id.
        After a lost answer (or AWS's DuplicatePolicyException for it) the policy is looked for
        by type and name before the request is sent again."""
        org = self._organizations()
        operation = "Organizations.CreatePolicy"
        no_blind_retry(org, "CreatePolicy")
        for attempt in range(CREATE_ATTEMPTS):
            try:
                response = self._call(
                    operation,
                    lambda: org.create_policy(
                        Type=cast("PolicyTypeType", policy_type),
                        Name=name,
                        Description=description,
                        Content=content,
                        Tags=_tag_list(tags),
                    ),
                )
                return response["Policy"]["PolicySummary"]["Id"]
            except AwsError as error:
                duplicate = error.code == "DuplicatePolicyException"
                if not duplicate and not outcome_unknown(error):
                    raise
                lost = error
            found = next(
                (
                    p["Id"]
                    for p in self._list_policies(policy_type)
                    if p["Name"] == name and not p.get("AwsManaged", False)
                ),
                None,
            )
            if found is not None:
                return str(found)
            if duplicate or attempt + 1 == CREATE_ATTEMPTS:
                raise gave_up(lost, f"a {policy_type} named {name}")
            self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    def update_policy(self, policy_id: str, *, name: str, description: str, content: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.UpdatePolicy",
            lambda: org.update_policy(
                PolicyId=policy_id, Name=name, Description=description, Content=content
            ),
        )

    def delete_policy(self, policy_id: str) -> None:
        """Delete a policy; AWS refuses one that is still attached. One that is gone already
        (an earlier answer was lost and the request sent again) is success."""
        org = self._organizations()
        try:
            self._call("Organizations.DeletePolicy", lambda: org.delete_policy(PolicyId=policy_id))
        except AwsError as error:
            if error.code != "PolicyNotFoundException":
                raise

    def attach_policy(self, policy_id: str, target_id: str) -> None:
        """Attach; a policy attached there already (an earlier answer was lost and the
        request sent again) is success."""
        org = self._organizations()
        try:
            self._call(
                "Organizations.AttachPolicy",
                lambda: org.attach_policy(PolicyId=policy_id, TargetId=target_id),
            )
        except AwsError as error:
            if error.code != "DuplicatePolicyAttachmentException":
                raise

    def detach_policy(self, policy_id: str, target_id: str) -> None:
        """Detach; a policy no longer attached there (an earlier answer was lost) is success."""
        org = self._organizations()
        try:
            self._call(
                "Organizations.DetachPolicy",
                lambda: org.detach_policy(PolicyId=policy_id, TargetId=target_id),
            )
        except AwsError as error:
            if error.code != "PolicyNotAttachedException":
                raise

    # --- trusted service access and delegated administrators --------------------------------

    def list_service_access(self) -> LiveServiceAccess:
        org = self._organizations()
        enabled = self._call(
            "Organizations.ListAWSServiceAccessForOrganization",
            lambda: [
                entry["ServicePrincipal"]
                for page in org.get_paginator("list_aws_service_access_for_organization").paginate()
                for entry in page["EnabledServicePrincipals"]
            ],
        )
        administrators = self._call(
            "Organizations.ListDelegatedAdministrators",
            lambda: [
                admin["Id"]
                for page in org.get_paginator("list_delegated_administrators").paginate()
                for admin in page["DelegatedAdministrators"]
            ],
        )
        by_principal: dict[str, list[str]] = {}
        for account_id in sorted(set(administrators)):
            for principal in self._delegated_services(account_id):
                by_principal.setdefault(principal, []).append(account_id)
        return LiveServiceAccess(
            enabled=tuple(sorted(set(enabled))),
            administrators={p: tuple(sorted(a)) for p, a in sorted(by_principal.items())},
        )

    def _delegated_services(self, account_id: str) -> list[str]:
        org = self._organizations()
        return self._call(
            "Organizations.ListDelegatedServicesForAccount",
            lambda: [
                service["ServicePrincipal"]
                for page in org.get_paginator("list_delegated_services_for_account").paginate(
                    AccountId=account_id
                )
                for service in page["DelegatedServices"]
            ],
        )

    def enable_service_access(self, service_principal: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.EnableAWSServiceAccess",
            lambda: org.enable_aws_service_access(ServicePrincipal=service_principal),
        )

    def disable_service_access(self, service_principal: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.DisableAWSServiceAccess",
            lambda: org.disable_aws_service_access(ServicePrincipal=service_principal),
        )

    def register_delegated_administrator(self, account_id: str, service_principal: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.RegisterDelegatedAdministrator",
            lambda: org.register_delegated_administrator(
                AccountId=account_id, ServicePrincipal=service_principal
            ),
        )

    def deregister_delegated_administrator(self, account_id: str, service_principal: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.DeregisterDelegatedAdministrator",
            lambda: org.deregister_delegated_administrator(
                AccountId=account_id, ServicePrincipal=service_principal
            ),
        )


def _tag_list(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def _account_status(account: AccountTypeDef) -> str:
    # `Status` is the long-standing field (ACTIVE | SUSPENDED | PENDING_CLOSURE); `State` is its
    # newer, finer-grained successor, used when `Status` is absent.
    return str(account.get("Status") or account.get("State") or "ACTIVE")


def _policy_type_status(policy_types: Iterable[Mapping[str, Any]], policy_type: str) -> str | None:
    for entry in policy_types:
        if entry.get("Type") == policy_type:
            return str(entry.get("Status"))
    return None
