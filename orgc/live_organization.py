"""The organization read from AWS, for task files that do not manage it: an
annotate-organization task, or a skipped update-organization task whose file does not exist.

No organization change is ever planned from it. At plan time the live organization is read
through the provider and written as an organization file (`orgc init`'s adoption) under the
project's `.orgc/live-organization/`; the tasks then bind against it as against
--organization-file. Accounts get their logical ids from the task's AccountMapping, else from
the state (the ids the last applied organization gave them), else from their names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from orgc.adopt import adopt
from orgc.diagnostics import Diagnostic, StageError
from orgc.live_source import LiveOrganizationNeeded, LiveSource
from orgc.load import display_path, project_root
from orgc.model import DEFAULT_ACCESS_ROLE
from orgc.pipeline import Inputs, StalePlan, compile_organization
from orgc.plan import Plan, digest
from orgc.provider import Provider
from orgc.remote import RemoteTemplates
from orgc.state import State


def live_organization_file(
    source: LiveSource, provider: Provider, state: State, directory: Path
) -> tuple[Path, str]:
    """Read the organization, write it as `directory/organization.yml` (and its long policy
    documents), and return the path and the digest of what was written. StageError when the
    AccountMapping names an account the organization does not have."""
    annotate = source.annotate
    mapping: dict[str, str] = (
        dict(annotate.attributes.get("AccountMapping") or {}) if annotate else {}
    )
    excluded = set(annotate.attributes.get("ExcludeAccounts") or ()) if annotate else set()
    role = (annotate.attributes.get("DefaultOrganizationAccessRoleName") if annotate else None) or (
        DEFAULT_ACCESS_ROLE
    )
    live = provider.read_organization(account_roles={}, read_account_details=False)
    errors: list[Diagnostic] = []
    spans = annotate.spans if annotate else {}
    for logical_id, account_id in sorted(mapping.items()):
        if account_id not in live.accounts:
            errors.append(
                Diagnostic(
                    "E467",
                    f"AccountMapping of task {source.task} maps {logical_id!r} to account "
                    f"{account_id}, which is not an account of the organization (read from "
                    "AWS); check the id",
                    spans.get(f"AccountMapping.{logical_id}"),
                )
            )
        elif account_id in excluded:
            errors.append(
                Diagnostic(
                    "E467",
                    f"AccountMapping of task {source.task} maps {logical_id!r} to account "
                    f"{account_id}, which its ExcludeAccounts leaves out; drop one of them",
                    spans.get(f"AccountMapping.{logical_id}"),
                )
            )
    if errors:
        raise StageError(errors)
    if excluded:
        kept = {k: v for k, v in live.accounts.items() if k not in excluded}
        live = replace(live, accounts=kept)
    names = {account_id: logical_id for logical_id, account_id in mapping.items()}
    if annotate is None:
        # A skipped update-organization task: the ids the state gives the accounts.
        for logical_id, account_id in sorted(state.accounts.items()):
            if account_id in live.accounts and account_id not in names:
                names[account_id] = logical_id
    adoption = adopt(live, access_role=role, names=names)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in adoption.files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return directory / "organization.yml", digest(adoption.files)


def compile_live(
    path: Path,
    provider: Provider,
    state: Callable[[], State],
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
    parameters: Mapping[str, str] | None = None,
    organization_file: Path | str | None = None,
    remote: RemoteTemplates | None = None,
    saved: Plan | None = None,
) -> Inputs:
    """compile_organization, and when the files do not manage the organization (an
    annotate-organization task, a skipped update-organization task whose file does not exist),
    the organization read from AWS once the files are valid offline. With `saved` (a saved
    plan about to be applied), StalePlan (E720) when that organization is not the one the plan
    was made against."""
    try:
        return compile_organization(
            path,
            root=root,
            allow_cmd=allow_cmd,
            parameters=parameters,
            organization_file=organization_file,
            remote=remote,
        )
    except LiveOrganizationNeeded as needed:
        return bind_live(
            needed,
            path,
            provider,
            state,
            root=root,
            allow_cmd=allow_cmd,
            parameters=parameters,
            organization_file=organization_file,
            remote=remote,
            saved=saved,
        )


def bind_live(
    needed: LiveOrganizationNeeded,
    path: Path,
    provider: Provider,
    state: Callable[[], State],
    *,
    root: Path | None = None,
    allow_cmd: bool = False,
    parameters: Mapping[str, str] | None = None,
    organization_file: Path | str | None = None,
    remote: RemoteTemplates | None = None,
    saved: Plan | None = None,
) -> Inputs:
    """The files compile_organization found valid offline (`needed`), bound against the
    organization read from AWS: compile_live once the offline compile is done."""
    directory = project_root(path, root) / ".orgc" / "live-organization"
    written, read = live_organization_file(needed.source, provider, state(), directory)
    source = needed.source
    inputs = compile_organization(
        path,
        root=root,
        allow_cmd=allow_cmd,
        parameters=parameters,
        organization_file=written,
        remote=remote,
    )
    # The file written is orgc's own: the plan records the digest of what it holds, not its
    # path, and --organization-file stays as given (none).
    inputs = replace(
        inputs,
        organization_file=str(organization_file) if organization_file is not None else None,
        live_organization=read,
    )
    if saved is not None and saved.live_organization != read:
        raise StalePlan([_changed_since(saved, inputs, source)])
    project = inputs.project
    if project is None or project.organization is None:
        return inputs
    if source.annotate is not None:
        reason = f"annotate-organization task {source.task}"
    else:
        missing = display_path(source.template) if source.template else "?"
        reason = f"Skip: true, and its file {missing} does not exist"
    name = project.organization.name
    return replace(
        inputs,
        project=replace(project, live=reason, skipped={**project.skipped, name: reason}),
    )


def _changed_since(saved: Plan, inputs: Inputs, source: LiveSource) -> Diagnostic:
    """E720: the organization the tasks bind against is not the one the saved plan was made
    against; which accounts came and went when that is what changed."""
    why = (
        f"annotate-organization task {source.task}"
        if source.annotate is not None
        else f"skipped update-organization task {source.task}"
    )
    before = {a for a in saved.ids.accounts.values() if a is not None}
    now = {a.account_id: a.name for a in inputs.organization.accounts.values() if a.account_id}
    what = [
        *(f"account {now[a]} ({a}) joined" for a in sorted(now.keys() - before)),
        *(f"account {a} left" for a in sorted(before - now.keys())),
    ]
    if saved.live_organization is None:
        what.append("the plan was made from an organization file")
    detail = ", ".join(what) if what else "its OUs, account names, emails or tags changed"
    span = source.annotate.span if source.annotate is not None else None
    return Diagnostic(
        "E720",
        f"organization {saved.organization_id} as read from AWS for the {why} is not the one "
        f"{saved.source} was planned against ({detail}); the saved plan would deploy to the "
        "targets of the old organization: run orgc plan again and apply the new plan",
        span,
    )
