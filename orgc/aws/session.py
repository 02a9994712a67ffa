"""The provider's core: one shared boto3 Session, cached clients, credentials, retries, waiting.

Every verb module of the package builds on `ProviderCore`; nothing here knows a domain verb.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    InfiniteLoopConfigError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    RefreshWithMFAUnsupportedError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from botocore.parsers import ResponseParserError

from orgc.aws.errors import AwsError, NoCredentials
from orgc.provider import split_role

if TYPE_CHECKING:
    from botocore.loaders import Loader
    from botocore.model import OperationModel
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_s3 import S3Client
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
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})

# Credentials that a provider of the chain could not give: the user's to fix (log in again, fix
# the profile), reported as NoCredentials rather than as a failed call or a crash.
_CREDENTIAL_ERRORS = (
    CredentialRetrievalError,
    PartialCredentialsError,
    InfiniteLoopConfigError,
    RefreshWithMFAUnsupportedError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
_BACKOFF_BASE = 0.5  # seconds: the ceiling of the first retry's delay
_BACKOFF_CAP = 20.0  # seconds: no single retry waits longer than this

# Assumed-role credentials last an hour; refresh them this long before they expire so that a call
# started with them never carries expired ones.
_CREDENTIAL_REFRESH_MARGIN = timedelta(minutes=5)

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


# Calls in flight into one member account at once, whatever the service: an account's own API
# limits (IAM, CloudFormation) are per account, and a wide read must not spend them all.
_PER_ACCOUNT_CALLS = 4


class _AdaptiveLimit:
    """How many calls of one service may be in flight: `ceiling` to start with, halved on every
    throttling answer (never below one), grown back by one after as many calls in a row went
    through unthrottled as the limit stands at (additive increase, multiplicative decrease)."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self.in_flight = 0
        self.clear_run = 0
        self.lowest = ceiling  # for reports and tests: how far throttling pushed it down
        self._condition = threading.Condition()

    def acquire(self) -> None:
        with self._condition:
            while self.in_flight >= self.limit:
                self._condition.wait()
            self.in_flight += 1

    def release(self, *, throttled: bool) -> None:
        with self._condition:
            self.in_flight -= 1
            if throttled:
                self.limit = max(1, self.limit // 2)
                self.lowest = min(self.lowest, self.limit)
                self.clear_run = 0
            else:
                self.clear_run += 1
                if self.clear_run >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self.clear_run = 0
            self._condition.notify_all()


_THROTTLING_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})


@dataclass(frozen=True, slots=True)
class _AssumedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime


class ProviderCore:
    """How the provider talks to AWS, shared by every verb; safe to use from many threads.

    The constructor's arguments are described on `AwsProvider`, the one class callers use.
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
        # `_lock` guards the caches and the counter and is only ever held briefly; building a
        # client on the shared session (not thread-safe, a few milliseconds) holds
        # `_session_lock` instead, so calls on other clients go on meanwhile.
        self._lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._identity_lock = threading.Lock()
        self._clients: dict[tuple[str, str | None, str | None, str], tuple[Any, object]] = {}
        self._credentials: dict[tuple[str, str], _AssumedCredentials] = {}
        self._credential_locks: dict[tuple[str, str], threading.Lock] = {}
        self._event_hooks: list[tuple[str, Callable[..., Any]]] = []
        self._calls: Counter[str] = Counter()
        # Calls in flight, bounded per service (adaptively) and per member account.
        self._service_limits: dict[str, _AdaptiveLimit] = {}
        self._account_slots: dict[str, threading.BoundedSemaphore] = {}
        self._held = threading.local()  # the services this thread holds a slot of
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
        with self._session_lock:
            with self._lock:
                cached = self._clients.get(key)
            if cached is not None and cached[1] is credentials:
                return cached[0]
            client = self._new_client(service, region, credentials)
            with self._lock:
                for event_name, handler in self._event_hooks:
                    client.meta.events.register(event_name, handler)
                self._clients[key] = (client, credentials)
            return client

    def _new_client(self, service: str, region: str, credentials: object) -> Any:
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
        except _CREDENTIAL_ERRORS as error:
            # A client resolves its credentials when it is made: a credential_process, SSO
            # login or assume-role profile that fails is the user's to fix, not a crash.
            raise NoCredentials(
                code=type(error).__name__, operation="Session", message=str(error)
            ) from error
        client.meta.events.register("before-call.*.*", self._count_call)
        return client

    def _organizations(self) -> OrganizationsClient:
        return cast("OrganizationsClient", self._client("organizations", self._region, None, None))

    def _sts(self) -> STSClient:
        return cast("STSClient", self._client("sts", self._region, None, None))

    def _s3(self, region: str) -> S3Client:
        return cast("S3Client", self._client("s3", region, None, None))

    def _in_account(self, service: str, region: str, account_id: str, role_name: str) -> Any:
        """A client for `service` inside `account_id`: the base credentials in their own account
        (there is no role to assume there), the account's `role_name` in every other. A role
        reached through another (TaskViaRoleArn) is assumed in every account, the management
        account too."""
        if account_id == self.management_account_id() and split_role(role_name)[0] is None:
            return self._client(service, region, None, None)
        return self._client(service, region, account_id, role_name)

    def _iam(self, account_id: str, role_name: str) -> IAMClient:
        """IAM inside `account_id` (IAM is global: the provider's own region serves)."""
        return cast("IAMClient", self._in_account("iam", self._region, account_id, role_name))

    def _assumed_credentials(self, account_id: str, role_name: str) -> _AssumedCredentials:
        """Credentials of `role_name` in `account_id`; a chained role (TaskViaRoleArn) is
        assumed from the credentials of the role it goes through, assumed first."""
        via, name = split_role(role_name)
        sts = self._sts()
        if via is not None:
            sts = cast("STSClient", self._new_client("sts", self._region, self._assume(via, sts)))
        with self._lock:
            fresh_account = account_id in self._fresh_accounts
        return self._assume(
            f"arn:aws:iam::{account_id}:role/{name}",
            sts,
            key=(account_id, role_name),
            retry_access_denied=fresh_account,
        )

    def _assume(
        self,
        role_arn: str,
        sts: STSClient,
        *,
        key: tuple[str, str] | None = None,
        retry_access_denied: bool = False,
    ) -> _AssumedCredentials:
        """The credentials of `role_arn` through `sts`, cached under `key` (the ARN itself when
        not given) until shortly before they expire."""
        key = key or ("", role_arn)
        with self._lock:
            key_lock = self._credential_locks.setdefault(key, threading.Lock())
        # One assume-role per (account, role) at a time: concurrent workers for the same account
        # wait for the first one's credentials instead of each assuming the role.
        with key_lock:
            with self._lock:
                cached = self._credentials.get(key)
            if cached is not None and cached.expiration - _utcnow() > _CREDENTIAL_REFRESH_MARGIN:
                return cached
            response = self._call(
                "STS.AssumeRole",
                lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="orgc"),
                retry_access_denied=retry_access_denied,
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

    def service_limits(self) -> dict[str, tuple[int, int]]:
        """Service → (calls allowed in flight now, the lowest throttling pushed that to)."""
        with self._lock:
            return {
                name: (found.limit, found.lowest)
                for name, found in sorted(self._service_limits.items())
            }

    def _slots(
        self, operation: str, account_id: str | None
    ) -> tuple[_AdaptiveLimit | None, threading.BoundedSemaphore | None]:
        """The service's limit (None: this thread holds it already, in a nested call) and the
        account's slots (None: not a call into a member account)."""
        service = operation.split(".", 1)[0]
        held: set[str] = self._held.__dict__.setdefault("services", set())
        with self._lock:
            limit = self._service_limits.setdefault(service, _AdaptiveLimit(self._max_workers))
            slots = (
                self._account_slots.setdefault(
                    account_id, threading.BoundedSemaphore(_PER_ACCOUNT_CALLS)
                )
                if account_id is not None
                else None
            )
        return (None if service in held else limit), slots

    def _attempt(self, operation: str, request: Callable[[], T], account_id: str | None) -> T:
        """One try of `request`, in a slot of its service and of its account."""
        limit, slots = self._slots(operation, account_id)
        if slots is not None:
            slots.acquire()
        throttled = False
        service = operation.split(".", 1)[0]
        held: set[str] = self._held.__dict__.setdefault("services", set())
        try:
            if limit is None:
                return request()
            limit.acquire()
            held.add(service)
            try:
                return request()
            except ClientError as error:
                throttled = _error_code_and_message(error)[0] in _THROTTLING_CODES
                raise
            finally:
                held.discard(service)
                limit.release(throttled=throttled)
        finally:
            if slots is not None:
                slots.release()

    def _call(
        self,
        operation: str,
        request: Callable[[], T],
        *,
        retry_access_denied: bool = False,
        account_id: str | None = None,
    ) -> T:
        """Run `request`, retrying throttling and concurrent-modification errors with backoff.

        `retry_access_denied` also retries AccessDenied: only for assuming the role of an account
        created moments ago, where it means "not yet", not "no". `account_id` names the member
        account the call goes into, whose calls in flight are bounded. A throttling answer
        halves the calls of its service allowed in flight (see `_AdaptiveLimit`).
        """
        attempt = 0
        while True:
            try:
                return self._attempt(operation, request, account_id)
            except ClientError as error:
                code, message = _error_code_and_message(error)
                retryable = code in _RETRYABLE_CODES or (
                    retry_access_denied and code in ACCESS_DENIED_CODES
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
            except _CREDENTIAL_ERRORS as error:
                raise NoCredentials(
                    code=type(error).__name__, operation=operation, message=str(error)
                ) from error
            except BotoCoreError as error:
                raise AwsError(
                    code=type(error).__name__, operation=operation, message=str(error)
                ) from error
            except ResponseParserError as error:
                # Not a BotoCoreError: an answer that is not the service's format at all (an
                # HTML error page from a proxy or an emulator that lacks the operation). Its
                # first line says so; the rest is the page itself.
                raise AwsError(
                    code="UnreadableResponse",
                    operation=operation,
                    message=str(error).split("\n", 1)[0].rstrip(":"),
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
        with self._identity_lock:  # one read, however many workers ask at once
            if self._management_account_id is None:
                sts = self._sts()
                identity = self._call("STS.GetCallerIdentity", sts.get_caller_identity)
                self._management_account_id = identity["Account"]
            return self._management_account_id


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _error_code_and_message(error: ClientError) -> tuple[str, str]:
    details = error.response.get("Error", {})
    code = str(details.get("Code") or "Unknown")
    message = str(details.get("Message") or details.get("message") or error)
    return code, message
