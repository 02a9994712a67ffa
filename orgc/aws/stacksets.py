"""CloudFormation StackSet verbs: service-managed StackSets, administered from the management
account.

Every call is made with the base credentials (the management account), `CallAs=SELF`, in the
provider's region, where the StackSets live. StackSet operations are asynchronous: each verb that
starts one (create or delete instances, update) returns once the operation has ended, polling
DescribeStackSetOperation at a growing interval; an operation that ends FAILED or STOPPED raises
`StackFailed` with the operation's status reason and the first account and region that failed.
A StackSet busy with another operation (AWS's own automatic deployment, say) is waited for.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from orgc.aws.cloudformation import StackVerbs
from orgc.aws.errors import AwsError, StackFailed
from orgc.aws.idempotent import CREATE_ATTEMPTS, gave_up, no_blind_retry, outcome_unknown
from orgc.observed import (
    PERMISSION_MODEL,
    InstanceTargets,
    LiveStackInstance,
    LiveStackSet,
    Preferences,
    StackSetDefinition,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.type_defs import (
        StackInstanceSummaryTypeDef,
        StackSetOperationTypeDef,
        StackSetTypeDef,
    )

_CALL_AS: Literal["SELF"] = "SELF"  # the management account administers its own
_CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_SUCCEEDED = "SUCCEEDED"
_ENDED_BADLY = frozenset({"FAILED", "STOPPED"})
# An operation over thousands of accounts takes hours; this bound only keeps one that never ends
# from holding a run forever.
_OPERATION_TIMEOUT = 12 * 3600.0
_POLL_GROWTH = 1.5  # each poll of a running operation waits this much longer than the last
_POLL_CAP = 30.0  # seconds: the longest wait between two polls
_BUSY_ATTEMPTS = 40  # how often an operation is tried again while another one runs


class StackSetVerbs(StackVerbs):
    """StackSets of the management account (see the module's docstring)."""

    def describe_stack_set(self, name: str) -> LiveStackSet | None:
        """The StackSet and its instances (DescribeStackSet, then ListStackInstances paginated),
        or None when there is no such StackSet (or it is DELETED)."""
        cloudformation = self._stack_sets()
        try:
            found = self._call(
                "CloudFormation.DescribeStackSet",
                lambda: cloudformation.describe_stack_set(StackSetName=name, CallAs=_CALL_AS)[
                    "StackSet"
                ],
            )
        except AwsError as error:
            if error.code == "StackSetNotFoundException":
                return None
            raise
        if found.get("Status") == "DELETED":
            return None
        summaries = self._call(
            "CloudFormation.ListStackInstances",
            lambda: [
                summary
                for page in cloudformation.get_paginator("list_stack_instances").paginate(
                    StackSetName=name, CallAs=_CALL_AS
                )
                for summary in page["Summaries"]
            ],
        )
        return _live_stack_set(name, found, summaries)

    def create_stack_set(self, definition: StackSetDefinition) -> tuple[str, str]:
        """Create a service-managed StackSet with automatic deployment on (stacks removed from
        accounts that leave its OUs) and no instances yet; its automatic deployments follow the
        StackSets of `definition.depends_on` (ARNs). Returns (StackSet id, ARN)."""
        cloudformation = self._stack_sets()
        operation = "CloudFormation.CreateStackSet"
        request = {
            **self._definition(operation, definition),
            "ClientRequestToken": str(uuid.uuid4()),
        }
        # After a lost answer (or NameAlreadyExistsException for it) the StackSet is looked for
        # by name before it is created again.
        no_blind_retry(cloudformation, "CreateStackSet")
        for attempt in range(CREATE_ATTEMPTS):
            try:
                self._call(operation, lambda: cloudformation.create_stack_set(**request))
                break
            except AwsError as error:
                duplicate = error.code == "NameAlreadyExistsException"
                if not duplicate and not outcome_unknown(error):
                    raise
                lost = error
            if self.describe_stack_set(definition.name) is not None:
                break
            if duplicate or attempt + 1 == CREATE_ATTEMPTS:
                raise gave_up(lost, f"StackSet {definition.name}")
            self._sleep(self._backoff(attempt))
        created = self.describe_stack_set(definition.name)
        if created is None:
            raise AwsError(
                code="StackSetNotFoundException",
                operation=operation,
                message=f"StackSet {definition.name} was created but cannot be found",
            )
        return created.stack_set_id, created.arn

    def update_stack_set(
        self,
        definition: StackSetDefinition,
        *,
        targets: InstanceTargets | None,
        preferences: Preferences,
    ) -> None:
        """Update the StackSet and the instances of `targets` (None: every instance), and wait
        for the operation to end."""
        cloudformation = self._stack_sets()
        operation = "CloudFormation.UpdateStackSet"
        request = {
            **self._definition(operation, definition),
            "OperationPreferences": _preferences(preferences),
        }
        if targets is not None:
            request.update(_targets(targets))
        self._run_operation(
            operation,
            definition.name,
            lambda operation_id: cloudformation.update_stack_set(
                **request, OperationId=operation_id
            ),
        )

    def create_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None:
        """Create the instances of `targets` (those that exist already are left as they are) and
        wait for the operation to end."""
        cloudformation = self._stack_sets()
        request = {
            "StackSetName": name,
            "OperationPreferences": _preferences(preferences),
            "CallAs": _CALL_AS,
            **_targets(targets),
        }
        self._run_operation(
            "CloudFormation.CreateStackInstances",
            name,
            lambda operation_id: cloudformation.create_stack_instances(
                **request, OperationId=operation_id
            ),
        )

    def delete_stack_instances(
        self, *, name: str, targets: InstanceTargets, preferences: Preferences
    ) -> None:
        """Delete the instances of `targets`, and their stacks, and wait for the operation."""
        cloudformation = self._stack_sets()
        request = {
            "StackSetName": name,
            "OperationPreferences": _preferences(preferences),
            "RetainStacks": False,
            "CallAs": _CALL_AS,
            **_targets(targets),
        }
        self._run_operation(
            "CloudFormation.DeleteStackInstances",
            name,
            lambda operation_id: cloudformation.delete_stack_instances(
                **request, OperationId=operation_id
            ),
        )

    def delete_stack_set(self, name: str) -> None:
        """Delete a StackSet that holds no instances; one that is gone already is success."""
        cloudformation = self._stack_sets()
        try:
            self._busy_retry(
                "CloudFormation.DeleteStackSet",
                lambda: cloudformation.delete_stack_set(StackSetName=name, CallAs=_CALL_AS),
            )
        except AwsError as error:
            if error.code != "StackSetNotFoundException":
                raise

    # --- plumbing ---------------------------------------------------------------------------

    def _stack_sets(self) -> CloudFormationClient:
        return cast(
            "CloudFormationClient", self._client("cloudformation", self._region, None, None)
        )

    def _definition(self, operation: str, definition: StackSetDefinition) -> dict[str, Any]:
        """What CreateStackSet and UpdateStackSet share."""
        request = {
            **self._template_source(
                operation, definition.template_body, definition.template_bucket
            ),
            "StackSetName": definition.name,
            "Parameters": [
                {"ParameterKey": key, "ParameterValue": value}
                for key, value in sorted(definition.parameters.items())
            ],
            # On update, an empty list removes every tag, as a task without tags should.
            "Tags": [
                {"Key": key, "Value": value} for key, value in sorted(definition.tags.items())
            ],
            "Capabilities": _CAPABILITIES,
            "PermissionModel": PERMISSION_MODEL,
            "AutoDeployment": _auto_deployment(definition.depends_on),
            "CallAs": _CALL_AS,
        }
        if definition.description is not None:
            request["Description"] = definition.description
        return request

    def _run_operation(self, operation: str, name: str, start: Callable[[str], Any]) -> None:
        """Start an operation under an id of its own (a request botocore sends twice starts it
        once) and wait for it to end."""
        operation_id = str(uuid.uuid4())
        try:
            started = self._busy_retry(operation, lambda: start(operation_id))
        except AwsError as error:
            # The first attempt started it after all; the retry found it.
            if error.code != "OperationIdAlreadyExistsException":
                raise
        else:
            # The id AWS answers with is the one to follow (some endpoints pick their own).
            operation_id = started.get("OperationId") or operation_id
        self._wait_for_operation(operation, name, operation_id)

    def _busy_retry(self, operation: str, request: Callable[[], Any]) -> Any:
        """`request`, tried again while another operation of the StackSet runs."""
        attempt = 0
        while True:
            try:
                return self._call(operation, request)
            except AwsError as error:
                if error.code != "OperationInProgressException" or attempt >= _BUSY_ATTEMPTS:
                    raise
            self._sleep(self._poll_delay(attempt))
            attempt += 1

    def _poll_delay(self, attempt: int) -> float:
        return min(_POLL_CAP, self._poll_interval * _POLL_GROWTH**attempt)

    def _wait_for_operation(self, operation: str, name: str, operation_id: str) -> None:
        cloudformation = self._stack_sets()
        elapsed, attempt = 0.0, 0
        while True:
            found = self._call(
                "CloudFormation.DescribeStackSetOperation",
                lambda: cloudformation.describe_stack_set_operation(
                    StackSetName=name, OperationId=operation_id, CallAs=_CALL_AS
                )["StackSetOperation"],
            )
            status = found.get("Status", "")
            if status == _SUCCEEDED:
                return
            if status in _ENDED_BADLY:
                raise self._operation_failed(operation, name, found)
            if elapsed >= _OPERATION_TIMEOUT:
                raise AwsError(
                    code="Timeout",
                    operation=operation,
                    message=f"StackSet {name}: operation {operation_id} still {status} after "
                    f"{_OPERATION_TIMEOUT:.0f} seconds",
                )
            delay = self._poll_delay(attempt)
            self._sleep(delay)
            # Count at least a little per poll so that a zero poll interval still ends.
            elapsed += max(delay, 0.01)
            attempt += 1

    def _operation_failed(
        self, operation: str, name: str, found: StackSetOperationTypeDef
    ) -> StackFailed:
        operation_id = found.get("OperationId", "?")
        reason = found.get("StatusReason") or "AWS gave no reason"
        failure = self._first_failed_instance(name, operation_id)
        return StackFailed(
            code="StackFailed",
            operation=operation,
            message=f"StackSet {name}: operation {operation_id} ended {found.get('Status')}: "
            f"{reason}" + (f"; first failure: {failure}" if failure else ""),
        )

    def _first_failed_instance(self, name: str, operation_id: str) -> str | None:
        """ "account <id> <region>: <reason>" of the operation's first failed instance."""
        cloudformation = self._stack_sets()

        def first() -> str | None:
            pages = cloudformation.get_paginator("list_stack_set_operation_results").paginate(
                StackSetName=name, OperationId=operation_id, CallAs=_CALL_AS
            )
            for page in pages:
                for result in page["Summaries"]:
                    if result.get("Status") == "FAILED":
                        return (
                            f"account {result.get('Account', '?')} {result.get('Region', '?')}: "
                            f"{result.get('StatusReason') or 'no reason given'}"
                        )
            return None

        try:
            return self._call("CloudFormation.ListStackSetOperationResults", first)
        except AwsError:
            # The operation's own status reason is what matters; a detail that cannot be read
            # must not hide it behind a second error.
            return None


def _auto_deployment(depends_on: Sequence[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    if depends_on:
        settings["DependsOn"] = list(depends_on)
    return settings


def _preferences(preferences: Preferences) -> dict[str, Any]:
    # SOFT_FAILURE_TOLERANCE: MaxConcurrentCount holds whatever the failure tolerance (STRICT
    # caps concurrency at the tolerance plus one, so a tolerance of 0 would mean one at a time).
    return {
        "MaxConcurrentCount": preferences.max_concurrent,
        "FailureToleranceCount": preferences.failure_tolerance,
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
        "RegionConcurrencyType": "PARALLEL",
    }


def _targets(targets: InstanceTargets) -> dict[str, Any]:
    deployment: dict[str, Any] = {
        "OrganizationalUnitIds": list(targets.organizational_units),
        "AccountFilterType": targets.account_filter,
    }
    if targets.accounts:
        deployment["Accounts"] = list(targets.accounts)
    return {"DeploymentTargets": deployment, "Regions": list(targets.regions)}


def _live_stack_set(
    name: str, found: StackSetTypeDef, summaries: Sequence[StackInstanceSummaryTypeDef]
) -> LiveStackSet:
    auto = found.get("AutoDeployment")
    return LiveStackSet(
        name=name,
        stack_set_id=found.get("StackSetId", ""),
        arn=found.get("StackSetARN", ""),
        template_body=found.get("TemplateBody", ""),
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "")
            for p in found.get("Parameters", [])
            if "ParameterKey" in p
        },
        settings={
            "description": found.get("Description"),
            "tags": dict(sorted((t["Key"], t["Value"]) for t in found.get("Tags", []))),
            "permissionModel": found.get("PermissionModel"),
            "autoDeployment": {
                "enabled": bool(auto.get("Enabled")),
                "retainStacksOnAccountRemoval": bool(auto.get("RetainStacksOnAccountRemoval")),
                "dependsOn": sorted(_name_of(arn) for arn in auto.get("DependsOn", [])),
            }
            if auto is not None
            else None,
        },
        organizational_unit_ids=tuple(sorted(found.get("OrganizationalUnitIds", []))),
        instances=tuple(
            sorted(
                (
                    LiveStackInstance(
                        account_id=s.get("Account", ""),
                        region=s.get("Region", ""),
                        status=s.get("Status", ""),
                        organizational_unit_id=s.get("OrganizationalUnitId"),
                        status_reason=s.get("StatusReason"),
                    )
                    for s in summaries
                ),
                key=lambda i: (i.account_id, i.region),
            )
        ),
    )


def _name_of(arn: str) -> str:
    """A StackSet's name from its ARN (`arn:...:stackset/<name>:<uuid>`)."""
    _, found, rest = arn.partition(":stackset/")
    if not found:
        return arn
    return rest.rpartition(":")[0] or rest
