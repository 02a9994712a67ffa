"""Service-managed StackSets for the embedded emulator: moto taught to answer as AWS does.

moto 5.2.5 runs service-managed StackSets only in part (EMULATOR.md): it reaches one level of
child OUs and deploys to the management account, ignores account filters, the OU targets of
DeleteStackInstances and the OperationId of CreateStackInstances, and neither keeps
AutoDeployment nor reports the OUs a StackSet targets. `teach_stack_sets()` replaces the pieces
of moto's CloudFormation backend and responses that orgc's StackSet verbs reach, so that:

- OU targets reach every account of the OU and of every OU nested in it, never the management
  account, and each instance records the OU it was reached through (`OrganizationalUnitId`);
- `AccountFilterType` INTERSECTION / DIFFERENCE with `Accounts` narrows the OU targets, for
  creating and for deleting instances;
- the `OperationId` a caller gives is the id of the operation it can then describe;
- `AutoDeployment` given to CreateStackSet / UpdateStackSet is kept and described back, and the
  StackSet lists the OUs its instances were deployed through (`OrganizationalUnitIds`).

The server process applies it before it serves (`orgc.emulator.serve`), so `orgc emulator
start`, `--emulator` and the test suite's emulator all behave the same. The patches name moto's
internals, so they are written for one moto version and refuse any other; the `emulator` extra
pins that version.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

MOTO_VERSION = "5.2.5"
"""The moto version the patches are written for (and the `emulator` extra installs)."""


class UnsupportedMoto(Exception):
    """The installed moto is not the version the StackSet patches are written for."""

    def __init__(self, found: str) -> None:
        self.found = found
        super().__init__(
            f"moto {found} is installed, but orgc's emulator is written for moto {MOTO_VERSION}"
        )


def check_moto_version() -> None:
    """Raise UnsupportedMoto unless the installed moto is the one the patches are written for
    (read from the package metadata: importing moto takes seconds)."""
    found = importlib.metadata.version("moto")
    if found != MOTO_VERSION:
        raise UnsupportedMoto(found)


def patches_moto(teach: Callable[[], None]) -> Callable[[], None]:
    """`teach`, a patch of moto's classes, made to run once per process (moto's classes are
    process-wide; so is having patched them) and only on the moto version the patches are
    written for: UnsupportedMoto for any other."""
    taught = False

    @functools.wraps(teach)
    def once() -> None:
        nonlocal taught
        if taught:
            return
        import moto

        if moto.__version__ != MOTO_VERSION:
            raise UnsupportedMoto(moto.__version__)
        teach()
        taught = True

    return once


def member_accounts(organization: Any, ou_id: str) -> list[str]:
    """The accounts of an OU (or the root) and of every OU nested in it, the management account
    left out (AWS never deploys a service-managed StackSet there)."""
    parents = {ou.id: ou.parent_id for ou in organization.ou}
    found = []
    for account in organization.accounts:
        parent = account.parent_id
        while parent is not None and parent != ou_id:
            parent = parents.get(parent)
        if parent == ou_id and account.id != organization.org.master_account_id:
            found.append(account.id)
    return found


def selected_accounts(organization: Any, targets: Mapping[str, Any]) -> dict[str, str]:
    """account id → the OU it is reached through, for a DeploymentTargets request value."""
    found: dict[str, str] = {}
    for ou_id in targets.get("OrganizationalUnitIds", []):
        for account_id in member_accounts(organization, ou_id):
            found.setdefault(account_id, ou_id)
    listed = set(targets.get("Accounts", []))
    account_filter = targets.get("AccountFilterType", "NONE")
    if account_filter == "INTERSECTION":
        return {a: ou for a, ou in found.items() if a in listed}
    if account_filter == "DIFFERENCE":
        return {a: ou for a, ou in found.items() if a not in listed}
    return found


@patches_moto
def teach_stack_sets() -> None:
    """Patch moto, in this process, to run service-managed StackSets as AWS does (see above).

    Applying it twice is applying it once. Raises UnsupportedMoto for any other moto version.
    """
    from moto.cloudformation import models, responses
    from moto.core.responses import ActionResult

    response = responses.CloudFormationResponse
    original_to_dict = models.StackInstance.to_dict

    # Positional, as moto calls it.
    def create_instances(  # noqa: PLR0917
        self: Any,
        accounts: list[str],
        regions: list[str],
        parameters: Any,
        deployment_targets: dict[str, Any] | None,
        permission_model: str,
    ) -> list[dict[str, Any]]:
        # Accounts named one by one (self-managed) have no OU; OU targets reach their members.
        targets: dict[str, str | None] = dict.fromkeys(accounts)
        targets.update(selected_accounts(self.org_backend, deployment_targets or {}))
        made = []
        for region in regions:
            for account_id, ou_id in targets.items():
                if self.get_instance(account_id, region) is not None:
                    continue
                instance: Any = models.StackInstance(
                    account_id=account_id,
                    region_name=region,
                    stackset_id=self.stackset_id,
                    stack_name=self.stack_name,
                    name=self.stackset_name,
                    template=self.template,
                    parameters=parameters,
                    permission_model=permission_model,
                )
                instance.organizational_unit_id = ou_id
                made.append(instance)
        self.stack_instances += made
        return [instance.to_dict() for instance in made]

    def to_dict(self: Any) -> dict[str, Any]:
        found: dict[str, Any] = original_to_dict(self)
        if self.organizational_unit_id is not None:
            found["OrganizationalUnitId"] = self.organizational_unit_id
        return found

    def keeping_auto_deployment(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(self: Any) -> Any:
            result = original(self)
            given = self._get_params().get("AutoDeployment")
            if given is not None:
                stack_set = self.cloudformation_backend.describe_stack_set(
                    self._get_param("StackSetName")
                )
                stack_set.auto_deployment = given
                # Instances created from now on get the template the StackSet holds now.
                stack_set.instances.template = stack_set.template
            return result

        return call

    def keeping_operation_id(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def call(self: Any) -> Any:
            original(self)
            stack_set = self.cloudformation_backend.describe_stack_set(
                self._get_param("StackSetName")
            )
            wanted = self._get_param("OperationId") or stack_set.operations[-1]["OperationId"]
            stack_set.operations[-1]["OperationId"] = wanted
            return ActionResult({"OperationId": wanted})

        return call

    def delete_stack_instances(self: Any) -> Any:
        stack_set = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
        targets = self._get_params().get("DeploymentTargets") or {}
        accounts = list(self._get_param("Accounts", []))
        accounts += selected_accounts(stack_set.instances.org_backend, targets)
        stack_set.delete_stack_instances(accounts, self._get_param("Regions", []))
        return ActionResult({"OperationId": stack_set.operations[-1]["OperationId"]})

    # (owner, attribute, new value): every piece of moto replaced, in one place.
    patches: tuple[tuple[type[Any], str, object], ...] = (
        (models.StackInstance, "organizational_unit_id", None),
        (models.StackInstance, "to_dict", to_dict),
        (models.StackInstances, "create_instances", create_instances),
        (
            models.StackSet,
            "organizational_unit_ids",
            property(lambda s: sorted({i.organizational_unit_id for i in s.stack_instances})),
        ),
        (models.StackSet, "auto_deployment", None),
        (response, "create_stack_set", keeping_auto_deployment(response.create_stack_set)),
        (response, "update_stack_set", keeping_auto_deployment(response.update_stack_set)),
        (
            response,
            "create_stack_instances",
            keeping_operation_id(response.create_stack_instances),
        ),
        (response, "delete_stack_instances", keeping_operation_id(delete_stack_instances)),
    )
    for owner, attribute, value in patches:
        setattr(owner, attribute, value)
