"""Creates that must not run twice: CreateAccount, CreateOrganizationalUnit, CreatePolicy,
CreateStack, CreateStackSet.

When the connection drops after a request reached AWS, or AWS answers with a server error, the
request may or may not have been carried out. botocore would send it again by itself, and a
second CreateAccount makes a second account. So these operations are never resent by botocore
(`no_blind_retry`); the verb that sent one looks for what it meant to create (the account by
email, the OU by name under its parent, the policy by name, the stack by name) and sends it
again only when nothing is there.
"""

from __future__ import annotations

from typing import Any

from orgc.aws.errors import AwsError

# How often a create is sent in all, lost responses included.
CREATE_ATTEMPTS = 4

# botocore's names for a connection that failed, dropped or answered nothing readable, and the
# services' names for their own failures (HTTP 5xx): either way AWS may have acted.
_OUTCOME_UNKNOWN = frozenset(
    {
        "ConnectionClosedError",
        "ConnectionError",
        "EndpointConnectionError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "HTTPClientError",
        "ProxyConnectionError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "UnreadableResponse",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServiceError",
        "ServiceException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)


def outcome_unknown(error: AwsError) -> bool:
    """Whether AWS may have carried out the request that failed with `error`."""
    # botocore names an unreadable error answer by its HTTP status.
    return error.code in _OUTCOME_UNKNOWN or (error.code.isdigit() and error.code.startswith("5"))


def gave_up(error: AwsError, looked_for: str) -> AwsError:
    """The error to give up with after the last attempt: what failed and what was checked."""
    return type(error)(
        code=error.code,
        operation=error.operation,
        message=f"{error.message} (sent {CREATE_ATTEMPTS} times; each time the answer was lost "
        f"or a server error, orgc looked for {looked_for} and found none, so nothing was "
        "created twice; run orgc apply again)",
    )


def _refuse(**_: Any) -> bool:
    # A non-None answer to needs-retry ends botocore's handling; False means "do not retry".
    return False


def no_blind_retry(client: Any, operation: str) -> None:
    """Keep botocore from resending `operation` on `client` by itself. Throttling is refused by
    AWS before it acts, and the provider's own backoff waits it out."""
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(
        f"needs-retry.{service}.{operation}",
        _refuse,
        unique_id=f"orgc-no-blind-retry-{service}-{operation}",
    )
