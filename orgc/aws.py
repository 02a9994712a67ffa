"""The AWS provider: the one module that talks to AWS.

It offers domain verbs (`create_account`, `attach_policy`, `put_object`, ...) and makes no
decisions: what to change and in which order is the planner's and the applier's business. It owns
everything that is about *how* to talk to AWS: one shared boto3 Session, clients cached per service,
account, role and region, assumed-role credentials, pagination, waiting for asynchronous
operations, and retries.

Every failure leaves this module as an `AwsError` (or one of its subclasses) carrying the service's
own error code and message, so callers never see botocore exceptions.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from orgc.observed import (
    SERVICE_CONTROL_POLICY,
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    LiveRoot,
    PasswordPolicySettings,
)

if TYPE_CHECKING:
    from botocore.loaders import Loader
    from botocore.model import OperationModel
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import PasswordPolicyTypeDef
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_organizations.literals import PolicyTypeType
    from mypy_boto3_organizations.type_defs import (
        AccountTypeDef,
        OrganizationalUnitTypeDef,
        PolicySummaryTypeDef,
        TagTypeDef,
    )
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import PutObjectOutputTypeDef
    from mypy_boto3_sts import STSClient

T = TypeVar("T")

DEFAULT_ACCESS_ROLE = "OrganizationAccountAccessRole"
"""The role AWS Organizations creates in every account it creates, trusted by the management
account; used to reach into an account unless the organization file names another."""

# Organizations throttles hard (a few requests per second per account) and refuses concurrent
# changes to the same object; both clear up on their own, so they are waited out.
_RETRYABLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ConcurrentModificationException",
        "ThrottlingException",
        "Throttling",
    }
)
_ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})
# S3 answers a lost conditional write with 412, or 409 when another conditional write to the same
# key is in flight at that moment.
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})

_BACKOFF_BASE = 0.5  # seconds: the ceiling of the first retry's delay
_BACKOFF_CAP = 20.0  # seconds: no single retry waits longer than this

# Creating an account usually takes a minute or two; AWS documents no upper bound, so wait long
# enough to cover a slow day but never forever.
_CREATE_ACCOUNT_TIMEOUT = 1800.0
# Enabling a policy type is asynchronous (PENDING_ENABLE) and normally takes seconds.
_ENABLE_POLICY_TYPE_TIMEOUT = 300.0

# Assumed-role credentials last an hour; refresh them this long before they expire so that a call
# started with them never carries expired ones.
_CREDENTIAL_REFRESH_MARGIN = timedelta(minutes=5)

_NO_TAGS: Mapping[str, str] = MappingProxyType({})

# The botocore data loader shared by every provider in the process (see `_new_session`).
_shared_loader: dict[str, Loader] = {}
_shared_loader_lock = threading.Lock()


def _new_session(profile: str | None) -> boto3.Session:
    """A boto3 Session whose botocore data loader (parsed service models) is process-wide.

    Parsing a service's model files costs tens of milliseconds per service and Session; a
    process that makes several providers (tests, benchmarks, a long-lived tool) parses them once.
    The loader only reads and caches files, so sharing it between sessions is safe.
    """
    core = botocore.session.Session()
    with _shared_loader_lock:
        loader = _shared_loader.get("loader")
        if loader is None:
            _shared_loader["loader"] = core.get_component("data_loader")
        else:
            core.register_component("data_loader", loader)
        session = boto3.Session(botocore_session=core, profile_name=profile)
        # boto3 appends its own data directory to the loader for every Session: keep it once.
        paths = _shared_loader["loader"].search_paths
        paths[:] = list(dict.fromkeys(paths))
    return session


class AwsError(Exception):
    """An AWS call failed for good (after any retries).

    `code` is the service's error code (`AccessDeniedException`, `CreateAccountFailed`, ...),
    `operation` is `Service.Operation` (`Organizations.CreateAccount`), `message` is the service's
    own explanation.
    """

    def __init__(self, *, code: str, operation: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.code = code
        self.operation = operation
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive pickling by default (concurrent.futures in a
        # process pool, pytest-xdist); rebuild from the three fields instead.
        return (_rebuild_error, (type(self), self.code, self.operation, self.message))


class PreconditionFailed(AwsError):
    """An S3 conditional write lost: the object changed (or appeared) since it was last seen."""


class NoCredentials(AwsError):
    """boto3 found no credentials (or the named profile does not exist)."""


def _rebuild_error(cls: type[AwsError], code: str, operation: str, message: str) -> AwsError:
    return cls(code=code, operation=operation, message=message)


@dataclass(frozen=True, slots=True)
class _AssumedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


class AwsProvider:
    """Domain verbs over Organizations, IAM, STS and S3; safe to use from many threads.

    `profile` selects a named profile; without it boto3's standard credential chain applies.
    `endpoint_url` overrides every service's endpoint (the embedded emulator); without it boto3's
    own `AWS_ENDPOINT_URL` handling applies. `sleep` and `poll_interval` are how the provider waits
    (injectable so tests do not wait). `max_retry_attempts` is how many times a throttled or
    conflicting call is retried after its first attempt, with capped exponential backoff and full
    jitter, on top of botocore's own HTTP-level retries.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        max_workers: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 2.0,
        max_retry_attempts: int = 8,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if max_retry_attempts < 0:
            raise ValueError("max_retry_attempts must not be negative")
        try:
            self._session = _new_session(profile)
        except ProfileNotFound as error:
            raise NoCredentials(
                code="ProfileNotFound", operation="Session", message=str(error)
            ) from error
        # botocore reads the profile lazily; a misspelt --profile is better reported right here.
        if profile is not None and profile not in self._session.available_profiles:
            raise NoCredentials(
                code="ProfileNotFound",
                operation="Session",
                message=f"the config profile ({profile}) could not be found",
            )
        self._endpoint_url = endpoint_url
        self._region = region
        self._max_workers = max_workers
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._max_retry_attempts = max_retry_attempts
        self._config = Config(
            retries={"mode": "standard", "max_attempts": 3},
            # One pooled connection per worker thread, so workers never queue for a socket.
            max_pool_connections=max(10, max_workers),
            user_agent_extra="orgc",
        )
        self._random = random.Random()
        # Guards the session (not thread-safe), the caches and the counter.
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str | None, str | None, str], tuple[Any, object]] = {}
        self._credentials: dict[tuple[str, str], _AssumedCredentials] = {}
        self._credential_locks: dict[tuple[str, str], threading.Lock] = {}
        self._event_hooks: list[tuple[str, Callable[..., Any]]] = []
        self._calls: Counter[str] = Counter()
        self._management_account_id: str | None = None
        # Accounts created by this provider: their access role may not be assumable for a short
        # while (IAM is eventually consistent), so AccessDenied on assuming it is retried.
        self._fresh_accounts: set[str] = set()

    # --- plumbing ---------------------------------------------------------------------------

    def call_counts(self) -> dict[str, int]:
        """How many API calls were made so far, by `Service.Operation` (each page counts)."""
        with self._lock:
            return dict(self._calls)

    def register_event_hook(self, event_name: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler on every client, present and future.

        This is a seam for tests and benchmarks (injecting responses, observing calls); the
        handler receives botocore's event arguments.
        """
        with self._lock:
            self._event_hooks.append((event_name, handler))
            for client, _ in self._clients.values():
                client.meta.events.register(event_name, handler)

    def _count_call(self, model: OperationModel, **_: Any) -> None:
        key = f"{model.service_model.service_id}.{model.name}"
        with self._lock:
            self._calls[key] += 1

    def _client(
        self, service: str, region: str, account_id: str | None, role_name: str | None
    ) -> Any:
        """A cached client for `service` with base credentials, or inside `account_id` via
        `role_name` when both are given."""
        credentials: object = None
        if account_id is not None and role_name is not None:
            # Assuming the role may wait (retries), so it happens outside the cache lock.
            credentials = self._assumed_credentials(account_id, role_name)
        key = (service, account_id, role_name, region)
        with self._lock:
            cached = self._clients.get(key)
            if cached is not None and cached[1] is credentials:
                return cached[0]
            keys: dict[str, str] = {}
            if isinstance(credentials, _AssumedCredentials):
                keys = {
                    "aws_access_key_id": credentials.access_key_id,
                    "aws_secret_access_key": credentials.secret_access_key,
                    "aws_session_token": credentials.session_token,
                }
            # Assumed credentials go to session.client on the one shared Session: a Session per
            # client costs a full botocore load each time (several times slower overall).
            try:
                client = self._session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                    **keys,
                )
            except ProfileNotFound as error:
                raise NoCredentials(
                    code="ProfileNotFound", operation="Session", message=str(error)
                ) from error
            client.meta.events.register("before-call.*.*", self._count_call)
            for event_name, handler in self._event_hooks:
                client.meta.events.register(event_name, handler)
            self._clients[key] = (client, credentials)
            return client

    def _organizations(self) -> OrganizationsClient:
        return cast("OrganizationsClient", self._client("organizations", self._region, None, None))

    def _sts(self) -> STSClient:
        return cast("STSClient", self._client("sts", self._region, None, None))

    def _s3(self, region: str) -> S3Client:
        return cast("S3Client", self._client("s3", region, None, None))

    def _iam(self, account_id: str, role_name: str) -> IAMClient:
        """IAM inside `account_id`: directly in the credentials' own account, else via the role."""
        if account_id == self.management_account_id():
            return cast("IAMClient", self._client("iam", self._region, None, None))
        return cast("IAMClient", self._client("iam", self._region, account_id, role_name))

    def _assumed_credentials(self, account_id: str, role_name: str) -> _AssumedCredentials:
        key = (account_id, role_name)
        with self._lock:
            key_lock = self._credential_locks.setdefault(key, threading.Lock())
        # One assume-role per (account, role) at a time: concurrent workers for the same account
        # wait for the first one's credentials instead of each assuming the role.
        with key_lock:
            with self._lock:
                cached = self._credentials.get(key)
            if cached is not None and cached.expiration - _utcnow() > _CREDENTIAL_REFRESH_MARGIN:
                return cached
            sts = self._sts()
            with self._lock:
                fresh_account = account_id in self._fresh_accounts
            response = self._call(
                "STS.AssumeRole",
                lambda: sts.assume_role(
                    RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}",
                    RoleSessionName="orgc",
                ),
                retry_access_denied=fresh_account,
            )
            raw = response["Credentials"]
            expiration = raw["Expiration"]
            if expiration.tzinfo is None:
                # STS speaks UTC; a naive timestamp (some STS-compatible endpoints) is UTC too.
                expiration = expiration.replace(tzinfo=timezone.utc)
            assumed = _AssumedCredentials(
                access_key_id=raw["AccessKeyId"],
                secret_access_key=raw["SecretAccessKey"],
                session_token=raw["SessionToken"],
                expiration=expiration,
            )
            with self._lock:
                self._credentials[key] = assumed
            return assumed

    def _call(
        self, operation: str, request: Callable[[], T], *, retry_access_denied: bool = False
    ) -> T:
        """Run `request`, retrying throttling and concurrent-modification errors with backoff.

        `retry_access_denied` also retries AccessDenied: only for assuming the role of an account
        created moments ago, where it means "not yet", not "no".
        """
        attempt = 0
        while True:
            try:
                return request()
            except ClientError as error:
                code, message = _error_code_and_message(error)
                retryable = code in _RETRYABLE_CODES or (
                    retry_access_denied and code in _ACCESS_DENIED_CODES
                )
                if retryable and attempt < self._max_retry_attempts:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise AwsError(code=code, operation=operation, message=message) from error
            except NoCredentialsError as error:
                raise NoCredentials(
                    code="NoCredentials", operation=operation, message=str(error)
                ) from error
            except BotoCoreError as error:
                raise AwsError(
                    code=type(error).__name__, operation=operation, message=str(error)
                ) from error

    def _backoff(self, attempt: int) -> float:
        # Full jitter: many workers throttled at once spread their retries instead of retrying
        # in lockstep.
        ceiling = min(_BACKOFF_CAP, _BACKOFF_BASE * (2**attempt))
        return self._random.uniform(0.0, ceiling)

    def _wait(self, operation: str, timeout: float, elapsed: float) -> float:
        """Sleep one poll interval; return the new elapsed time, or fail past `timeout`."""
        if elapsed >= timeout:
            raise AwsError(
                code="Timeout",
                operation=operation,
                message=f"gave up waiting after {timeout:.0f} seconds",
            )
        self._sleep(self._poll_interval)
        # Count at least a little per poll so that a zero poll interval still ends.
        return elapsed + max(self._poll_interval, 0.01)

    # --- identity ---------------------------------------------------------------------------

    def management_account_id(self) -> str:
        """The account the base credentials belong to (orgc runs as the management account).

        Calls in this account use the base credentials; every other account is reached through
        its access role. Read once and cached.
        """
        with self._lock:
            if self._management_account_id is not None:
                return self._management_account_id
        sts = self._sts()
        identity = self._call("STS.GetCallerIdentity", sts.get_caller_identity)
        account_id = identity["Account"]
        with self._lock:
            self._management_account_id = account_id
        return account_id

    # --- reading the organization -----------------------------------------------------------

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str] | None = None,
        read_account_details: bool = True,
    ) -> LiveOrganization:
        """Read the whole organization: root, OUs, accounts, policies, attachments and tags.

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
            taggable = [root_id, *ou_records, *account_records]
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
                tags=tags[account_id],
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

    def _read_account_details(
        self, account_id: str, role_name: str, management_id: str
    ) -> tuple[str | None, PasswordPolicySettings | None, bool]:
        """(alias, password policy, details_read) read inside the account."""
        try:
            iam = self._iam(account_id, role_name)
            aliases = self._list_aliases(iam)
            policy = self._get_password_policy(iam)
        except AwsError as error:
            # An account orgc cannot reach (an invited account without the role, a role that
            # denies IAM reads) is reported as unread rather than failing the whole read; the
            # management account is always reachable, so a denial there is a real error.
            if error.code in _ACCESS_DENIED_CODES and account_id != management_id:
                return None, None, False
            raise
        return (aliases[0] if aliases else None), policy, True

    def _list_aliases(self, iam: IAMClient) -> list[str]:
        return self._call(
            "IAM.ListAccountAliases",
            lambda: [
                alias
                for page in iam.get_paginator("list_account_aliases").paginate()
                for alias in page["AccountAliases"]
            ],
        )

    def _get_password_policy(self, iam: IAMClient) -> PasswordPolicySettings | None:
        try:
            response = self._call("IAM.GetAccountPasswordPolicy", iam.get_account_password_policy)
        except AwsError as error:
            if error.code == "NoSuchEntity":
                return None
            raise
        return _password_policy_settings(response["PasswordPolicy"])

    # --- Organizations verbs ----------------------------------------------------------------

    def enable_policy_type(self, root_id: str, policy_type: str) -> None:
        """Enable a policy type on the root and wait until AWS reports it ENABLED."""
        org = self._organizations()
        operation = "Organizations.EnablePolicyType"
        response = self._call(
            operation,
            lambda: org.enable_policy_type(
                RootId=root_id, PolicyType=cast("PolicyTypeType", policy_type)
            ),
        )
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
        `CreateAccountFailed`.
        """
        org = self._organizations()
        operation = "Organizations.CreateAccount"
        status = self._call(
            operation,
            lambda: org.create_account(
                AccountName=name, Email=email, RoleName=role_name, Tags=_tag_list(tags)
            ),
        )["CreateAccountStatus"]
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

    def move_account(
        self, account_id: str, source_parent_id: str, destination_parent_id: str
    ) -> None:
        org = self._organizations()
        self._call(
            "Organizations.MoveAccount",
            lambda: org.move_account(
                AccountId=account_id,
                SourceParentId=source_parent_id,
                DestinationParentId=destination_parent_id,
            ),
        )

    def close_account(self, account_id: str) -> None:
        """Ask AWS to close the account (it goes PENDING_CLOSURE, then SUSPENDED)."""
        org = self._organizations()
        self._call("Organizations.CloseAccount", lambda: org.close_account(AccountId=account_id))

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
        """Create an OU under `parent_id` (the root or an OU); return its id."""
        org = self._organizations()
        response = self._call(
            "Organizations.CreateOrganizationalUnit",
            lambda: org.create_organizational_unit(
                ParentId=parent_id, Name=name, Tags=_tag_list(tags)
            ),
        )
        return response["OrganizationalUnit"]["Id"]

    def rename_organizational_unit(self, ou_id: str, name: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.UpdateOrganizationalUnit",
            lambda: org.update_organizational_unit(OrganizationalUnitId=ou_id, Name=name),
        )

    def delete_organizational_unit(self, ou_id: str) -> None:
        """Delete an OU; AWS refuses one that still holds accounts or OUs."""
        org = self._organizations()
        self._call(
            "Organizations.DeleteOrganizationalUnit",
            lambda: org.delete_organizational_unit(OrganizationalUnitId=ou_id),
        )

    def create_policy(
        self,
        *,
        policy_type: str,
        name: str,
        description: str,
        content: str,
        tags: Mapping[str, str] = _NO_TAGS,
    ) -> str:
        """Create a policy of `policy_type` (an Organizations policy type name); return its id."""
        org = self._organizations()
        response = self._call(
            "Organizations.CreatePolicy",
            lambda: org.create_policy(
                Type=cast("PolicyTypeType", policy_type),
                Name=name,
                Description=description,
                Content=content,
                Tags=_tag_list(tags),
            ),
        )
        return response["Policy"]["PolicySummary"]["Id"]

    def update_policy(self, policy_id: str, *, name: str, description: str, content: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.UpdatePolicy",
            lambda: org.update_policy(
                PolicyId=policy_id, Name=name, Description=description, Content=content
            ),
        )

    def delete_policy(self, policy_id: str) -> None:
        """Delete a policy; AWS refuses one that is still attached."""
        org = self._organizations()
        self._call("Organizations.DeletePolicy", lambda: org.delete_policy(PolicyId=policy_id))

    def attach_policy(self, policy_id: str, target_id: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.AttachPolicy",
            lambda: org.attach_policy(PolicyId=policy_id, TargetId=target_id),
        )

    def detach_policy(self, policy_id: str, target_id: str) -> None:
        org = self._organizations()
        self._call(
            "Organizations.DetachPolicy",
            lambda: org.detach_policy(PolicyId=policy_id, TargetId=target_id),
        )

    # --- in-account verbs -------------------------------------------------------------------

    def set_password_policy(
        self, account_id: str, role_name: str, settings: PasswordPolicySettings | None
    ) -> None:
        """Make the account's IAM password policy `settings`; None removes it (idempotent).

        IAM resets every setting left out of an update to its default, so the whole policy is
        sent each time.
        """
        iam = self._iam(account_id, role_name)
        if settings is None:
            try:
                self._call("IAM.DeleteAccountPasswordPolicy", iam.delete_account_password_policy)
            except AwsError as error:
                if error.code != "NoSuchEntity":
                    raise
            return
        optional: dict[str, int] = {}
        if settings.max_password_age is not None:
            optional["MaxPasswordAge"] = settings.max_password_age
        if settings.password_reuse_prevention is not None:
            optional["PasswordReusePrevention"] = settings.password_reuse_prevention
        self._call(
            "IAM.UpdateAccountPasswordPolicy",
            lambda: iam.update_account_password_policy(
                MinimumPasswordLength=settings.minimum_password_length,
                RequireSymbols=settings.require_symbols,
                RequireNumbers=settings.require_numbers,
                RequireUppercaseCharacters=settings.require_uppercase_characters,
                RequireLowercaseCharacters=settings.require_lowercase_characters,
                AllowUsersToChangePassword=settings.allow_users_to_change_password,
                HardExpiry=settings.hard_expiry,
                **optional,
            ),
        )

    def set_account_alias(self, account_id: str, role_name: str, alias: str | None) -> None:
        """Make the account's IAM alias `alias` (None: no alias).

        An account has at most one alias: the old one is deleted before the new one is created.
        Nothing is called beyond the read when the alias is already right.
        """
        iam = self._iam(account_id, role_name)
        current = self._list_aliases(iam)
        if current == ([alias] if alias is not None else []):
            return
        for old in current:
            self._delete_alias(iam, old)
        if alias is not None:
            self._call(
                "IAM.CreateAccountAlias", lambda: iam.create_account_alias(AccountAlias=alias)
            )

    def _delete_alias(self, iam: IAMClient, alias: str) -> None:
        try:
            self._call(
                "IAM.DeleteAccountAlias", lambda: iam.delete_account_alias(AccountAlias=alias)
            )
        except AwsError as error:
            if error.code != "NoSuchEntity":
                raise

    # --- S3 verbs for the state store -------------------------------------------------------

    def ensure_bucket(self, bucket: str, region: str) -> None:
        """Make sure `bucket` exists in the credentials' account, versioned and not public.

        Idempotent: an existing bucket is left as it is.
        """
        s3 = self._s3(region)
        try:
            self._call("S3.HeadBucket", lambda: s3.head_bucket(Bucket=bucket))
        except AwsError as error:
            if error.code not in _MISSING_BUCKET_CODES:
                raise
        else:
            return
        try:
            if region == "us-east-1":
                # us-east-1 is S3's default location and refuses it as an explicit constraint.
                self._call("S3.CreateBucket", lambda: s3.create_bucket(Bucket=bucket))
            else:
                constraint = cast("BucketLocationConstraintType", region)
                self._call(
                    "S3.CreateBucket",
                    lambda: s3.create_bucket(
                        Bucket=bucket,
                        CreateBucketConfiguration={"LocationConstraint": constraint},
                    ),
                )
        except AwsError as error:
            # Another orgc run created it between our check and our create: configure it anyway,
            # the settings below are idempotent.
            if error.code != "BucketAlreadyOwnedByYou":
                raise
        self._call(
            "S3.PutBucketVersioning",
            lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
        )
        self._call(
            "S3.PutPublicAccessBlock",
            lambda: s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            ),
        )

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """(body, ETag) of an object, or None when the key does not exist.

        A missing bucket raises `AwsError` with code `NoSuchBucket`.
        """
        s3 = self._s3(self._region)

        def read() -> tuple[bytes, str]:
            response = s3.get_object(Bucket=bucket, Key=key)
            return response["Body"].read(), response["ETag"]

        try:
            return self._call("S3.GetObject", read)
        except AwsError as error:
            if error.code == "NoSuchKey":
                return None
            raise

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write an object; return its new ETag.

        `if_match` writes only over that exact version (ETag); `if_none_match` writes only when
        the key does not exist. A lost condition raises `PreconditionFailed`.
        """
        if if_match is not None and if_none_match:
            raise ValueError("if_match and if_none_match are exclusive")
        s3 = self._s3(self._region)
        operation = "S3.PutObject"

        def request() -> PutObjectOutputTypeDef:
            if if_match is not None:
                return s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=if_match)
            if if_none_match:
                return s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return s3.put_object(Bucket=bucket, Key=key, Body=body)

        try:
            response = self._call(operation, request)
        except AwsError as error:
            # With IfMatch, a key that vanished is a lost condition too (S3 says NoSuchKey).
            lost = error.code in _PRECONDITION_CODES or (
                if_match is not None and error.code == "NoSuchKey"
            )
            if lost:
                raise PreconditionFailed(
                    code=error.code, operation=operation, message=error.message
                ) from error
            raise
        return response["ETag"]

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a no-op for a missing key, as in S3)."""
        s3 = self._s3(self._region)
        self._call("S3.DeleteObject", lambda: s3.delete_object(Bucket=bucket, Key=key))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _error_code_and_message(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    code = str(details.get("Code") or "Unknown")
    message = str(details.get("Message") or details.get("message") or error)
    return code, message


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


def _password_policy_settings(policy: PasswordPolicyTypeDef) -> PasswordPolicySettings:
    defaults = PasswordPolicySettings()
    return PasswordPolicySettings(
        minimum_password_length=policy.get(
            "MinimumPasswordLength", defaults.minimum_password_length
        ),
        require_symbols=policy.get("RequireSymbols", False),
        require_numbers=policy.get("RequireNumbers", False),
        require_uppercase_characters=policy.get("RequireUppercaseCharacters", False),
        require_lowercase_characters=policy.get("RequireLowercaseCharacters", False),
        allow_users_to_change_password=policy.get("AllowUsersToChangePassword", False),
        # IAM reports 0 (or leaves the field out) for "never expires" / "no reuse check".
        max_password_age=policy.get("MaxPasswordAge") or None,
        password_reuse_prevention=policy.get("PasswordReusePrevention") or None,
        hard_expiry=policy.get("HardExpiry", False),
    )
