"""The driver: runs the stages in order and stops at the first stage that reports an error.

It holds no logic of its own beyond the order of stages and what each needs from the last.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from orgc.apply import ApplyResult, Listener, apply
from orgc.diagnostics import Diagnostic, Diagnostics, StageError
from orgc.load import LoadOptions, load_organization
from orgc.model import Organization, build_organization
from orgc.observed import LiveOrganization
from orgc.plan import Plan, digest, observed_digest, plan
from orgc.state import State, StateStore
from orgc.validate import validate_organization

if TYPE_CHECKING:
    from orgc.aws import AwsProvider


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    organization: Organization
    source: str  # the organization file, as diagnostics name it
    warnings: tuple[Diagnostic, ...]


def project_root(path: Path, root: Path | None) -> Path:
    """The directory that !Include and !ReadFile may not leave."""
    if root is not None:
        return root.resolve()
    path = path.resolve()
    cwd = Path.cwd().resolve()
    if path.is_relative_to(cwd):
        return cwd
    return path if path.is_dir() else path.parent


def compile_organization(
    path: Path, *, root: Path | None = None, allow_cmd: bool = False
) -> Inputs:
    """load → validate → model. Raises StageError with every diagnostic when any is an error."""
    diagnostics = Diagnostics()
    options = LoadOptions(root=project_root(path, root), allow_cmd=allow_cmd)
    file = load_organization(path, options, diagnostics)
    organization = None
    if file is not None:
        validate_organization(file, diagnostics)
        organization = build_organization(file, diagnostics)
    if organization is None or diagnostics.has_errors or file is None:
        raise StageError(diagnostics.sorted())
    return Inputs(organization=organization, source=file.display, warnings=diagnostics.sorted())


def validate(
    path: Path, *, root: Path | None = None, allow_cmd: bool = False
) -> tuple[Diagnostic, ...]:
    """Every diagnostic for `path`, errors and warnings, sorted."""
    try:
        return compile_organization(path, root=root, allow_cmd=allow_cmd).warnings
    except StageError as error:
        return error.diagnostics


def observe(provider: AwsProvider, organization: Organization, state: State) -> LiveOrganization:
    """Read the live organization, reaching each known account through its own access role."""
    roles: dict[str, str] = {}
    for account in organization.accounts.values():
        account_id = account.account_id or state.accounts.get(account.logical_id)
        if account_id:
            roles[account_id] = account.access_role_name
    return provider.read_organization(account_roles=roles, read_account_details=True)


def make_plan(inputs: Inputs, provider: AwsProvider, state: State) -> Plan:
    live = observe(provider, inputs.organization, state)
    result = plan(inputs.organization, live, state, source=inputs.source)
    if inputs.warnings:
        result = _with_warnings(result, inputs.warnings)
    return result


def _with_warnings(result: Plan, warnings: tuple[Diagnostic, ...]) -> Plan:
    merged = tuple(sorted({*result.warnings, *warnings}, key=Diagnostic.sort_key))
    return replace(result, warnings=merged)


class StalePlan(Exception):
    """A saved plan no longer matches its inputs or the live organization."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__(str(diagnostic))


def load_saved_plan(path: Path) -> Plan:
    """Raises StalePlan (E606) when the file is not a saved plan."""
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StalePlan(
            Diagnostic("E606", f"{path} is not a plan saved by `orgc plan --out` ({error})")
        ) from None


def check_saved_plan(
    saved: Plan,
    provider: AwsProvider,
    state: State,
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
) -> None:
    """Refuse a saved plan whose inputs or observed organization changed since it was made."""
    inputs = compile_organization(Path(saved.source), root=root, allow_cmd=allow_cmd)
    if digest(inputs.organization) != saved.inputs_digest:
        raise StalePlan(
            Diagnostic(
                "E605",
                f"{saved.source} changed since the plan was made; run orgc plan again",
            )
        )
    live = observe(provider, inputs.organization, state)
    if observed_digest(live, state) != saved.observed_digest:
        raise StalePlan(
            Diagnostic(
                "E604",
                f"organization {live.organization_id} or the state changed since the plan was "
                "made; run orgc plan again",
            )
        )


def lock_owner() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def run_apply(
    saved: Plan,
    provider: AwsProvider,
    store: StateStore,
    *,
    listener: Listener | None = None,
    verify: bool = True,
    root: Path | None = None,
    allow_cmd: bool = False,
) -> ApplyResult:
    """Take the state lock, check the plan still holds, and carry it out."""
    with store.lock(lock_owner()) as locked:
        if verify:
            check_saved_plan(saved, provider, locked.state, root=root, allow_cmd=allow_cmd)
        return apply(saved, provider, locked, listener=listener)


def plan_and_apply(
    inputs: Inputs,
    provider: AwsProvider,
    store: StateStore,
    *,
    confirm: Callable[[Plan], bool],
    listener: Listener | None = None,
) -> tuple[Plan, ApplyResult | None]:
    """Plan under the state lock, ask `confirm`, apply. None as result: nothing was applied."""
    with store.lock(lock_owner()) as locked:
        fresh = make_plan(inputs, provider, locked.state)
        if not fresh.has_changes or not confirm(fresh):
            return fresh, None
        return fresh, apply(fresh, provider, locked, listener=listener)
