"""How the provider fails: every AWS failure leaves the package as an `AwsError`."""

from __future__ import annotations

from typing import Any


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


class StackFailed(AwsError):
    """A CloudFormation stack operation ended in a failed or rolled-back state.

    `code` is always `StackFailed`; `message` names the stack, its final status and the first
    resource failure of the operation as the stack events report it.
    """


def _rebuild_error(cls: type[AwsError], code: str, operation: str, message: str) -> AwsError:
    return cls(code=code, operation=operation, message=message)
