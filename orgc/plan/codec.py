"""The plan's JSON form, written and read here only.

`dumps` gives the document `orgc plan --format json` and `--out` write: camelCase keys, sorted,
2-space indent. `loads` reads one back into typed data, and refuses a document that is not an
orgc plan, or one of another version, with `PlanFormatError`. Each spec has one writer and one
reader below, side by side; the details of a change are read as the spec its (kind, action)
takes (`orgc.plan.specs.SPECS`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from orgc.diagnostics import Diagnostic
from orgc.observed import (
    Boundary,
    ContactDetails,
    CustomerPolicy,
    InstanceTargets,
    PasswordPolicySettings,
    PermissionSetSettings,
    Preferences,
)
from orgc.plan.access import access_json
from orgc.plan.document import PLAN_FORMAT, PLAN_VERSION, Change, Plan, parse_span
from orgc.plan.specs import (
    SPECS,
    AccountClose,
    AccountCreate,
    AccountMove,
    AccountRename,
    Action,
    AliasDelete,
    AliasSet,
    AlternateContactSet,
    AssignmentChange,
    Attach,
    AutoDeployment,
    ChangeKind,
    DelegatedAdministratorSet,
    Detach,
    Difference,
    Group,
    IdTable,
    InstanceDeletion,
    InstancesCreate,
    InstancesDelete,
    ObjectPut,
    ObjectRemoval,
    OrganizationalUnitCreate,
    OrganizationalUnitDelete,
    OrganizationalUnitReplace,
    Orphan,
    ParameterChange,
    PasswordPolicyDelete,
    PasswordPolicySet,
    PermissionSetChange,
    PlanOptions,
    PolicyCreate,
    PolicyDelete,
    PolicyTypeEnable,
    PolicyUpdate,
    Rename,
    ResourceChange,
    ServiceAccessSet,
    Spec,
    StackAddress,
    StackDeploy,
    StackReference,
    StackRemoval,
    StackSetAddress,
    StackSetCreate,
    StackSetDelete,
    StackSetSettings,
    StackSettings,
    StackSetUpdate,
    StateOnly,
    TagsUpdate,
    TargetKind,
    TemplateChanges,
)
from orgc.render import known_after_apply

_Doc = dict[str, Any]
S = TypeVar("S", bound=Spec)


class PlanFormatError(ValueError):
    """The document is an orgc plan of a format version this orgc does not read."""


# --- the plan -------------------------------------------------------------------------------


def dumps(plan: Plan) -> str:
    return json.dumps(plan_json(plan), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def loads(text: str) -> Plan:
    """Raises PlanFormatError for a plan of another version; KeyError, TypeError or ValueError
    for a document that is not a plan."""
    return plan_from_json(json.loads(text))


def plan_json(plan: Plan) -> _Doc:
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "source": plan.source,
        "managementAccountId": plan.management_account_id,
        "organizationId": plan.organization_id,
        "inputsDigest": plan.inputs_digest,
        "observedDigest": plan.observed_digest,
        "summary": plan.counts(),
        "ids": ids_json(plan.ids),
        "changes": [change_json(c) for c in plan.changes],
        "groups": {name: _group_json(group) for name, group in plan.groups.items()},
        "unchanged": list(plan.unchanged),
        "orphans": [_orphan_json(o) for o in plan.orphans],
        "options": _options_json(plan.options),
        # Only a plan made against AWS says what it compared: pure plans leave them out.
        **({"compared": list(plan.compared)} if plan.compared else {}),
        **({"notCompared": list(plan.not_compared)} if plan.not_compared else {}),
        **({"skipped": list(plan.skipped)} if plan.skipped else {}),
        **(
            {"liveOrganizationDigest": plan.live_organization}
            if plan.live_organization is not None
            else {}
        ),
        # Derived from the changes, as `summary` is, for readers of the JSON: never read back.
        **({"access": access} if (access := access_json(plan)) else {}),
        "warnings": [
            {"code": w.code, "message": w.message, "where": str(w.span) if w.span else None}
            for w in plan.warnings
        ],
    }


def plan_from_json(data: Any) -> Plan:
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise ValueError("not an orgc plan")
    version = data.get("version")
    if version != PLAN_VERSION:
        raise PlanFormatError(
            f"a plan of format version {version}, and this orgc reads version {PLAN_VERSION} "
            "only; run orgc plan again"
        )
    return Plan(
        source=data["source"],
        management_account_id=data["managementAccountId"],
        organization_id=data["organizationId"],
        inputs_digest=data["inputsDigest"],
        observed_digest=data["observedDigest"],
        ids=ids_from_json(data["ids"]),
        changes=tuple(change_from_json(c) for c in data["changes"]),
        groups={name: _group(group) for name, group in data.get("groups", {}).items()},
        unchanged=tuple(data.get("unchanged", ())),
        orphans=tuple(_orphan(o) for o in data.get("orphans", ())),
        options=_options(data.get("options") or {}),
        compared=tuple(data.get("compared", ())),
        not_compared=tuple(data.get("notCompared", ())),
        skipped=tuple(data.get("skipped", ())),
        live_organization=data.get("liveOrganizationDigest"),
        warnings=tuple(
            Diagnostic(w["code"], w["message"], parse_span(w.get("where")))
            for w in data.get("warnings", ())
        ),
    )


def ids_json(ids: IdTable) -> dict[str, dict[str, str | None]]:
    return {table: dict(ids[table]) for table in ids}


def ids_from_json(data: Mapping[str, Mapping[str, str | None]]) -> IdTable:
    return IdTable(
        accounts=dict(data.get("accounts", {})),
        organizational_units=dict(data.get("organizationalUnits", {})),
        policies=dict(data.get("policies", {})),
    )


def _group_json(group: Group) -> _Doc:
    found: _Doc = {
        "maxConcurrent": group.max_concurrent,
        "failureTolerance": group.failure_tolerance,
    }
    if group.where is not None:
        found["where"] = group.where
    return found


def _group(data: Mapping[str, Any]) -> Group:
    return Group(
        max_concurrent=data.get("maxConcurrent"),
        failure_tolerance=int(data.get("failureTolerance") or 0),
        where=data.get("where"),
    )


def _orphan_json(orphan: Orphan) -> _Doc:
    return {
        "task": orphan.task,
        "stackName": orphan.stack_name,
        "accountId": orphan.account_id,
        "region": orphan.region,
    }


def _orphan(data: Mapping[str, Any]) -> Orphan:
    return Orphan(
        task=data["task"],
        stack_name=data["stackName"],
        account_id=data["accountId"],
        region=data["region"],
    )


def _options_json(options: PlanOptions | None) -> _Doc:
    if options is None:
        return {}
    return {
        "parameters": dict(options.parameters),
        "performCleanup": options.perform_cleanup,
        "refresh": options.refresh,
        **(
            {"organizationFile": options.organization_file}
            if options.organization_file is not None
            else {}
        ),
        # Written only when given, so a plan made without it reads as it always did.
        **({"allowScpLockout": True} if options.allow_scp_lockout else {}),
        **({"forceDeploy": True} if options.force_deploy else {}),
    }


def _options(data: Mapping[str, Any]) -> PlanOptions | None:
    if not data:
        return None
    return PlanOptions(
        parameters=dict(data.get("parameters") or {}),
        perform_cleanup=bool(data.get("performCleanup")),
        refresh=bool(data.get("refresh", True)),
        allow_scp_lockout=bool(data.get("allowScpLockout")),
        organization_file=data.get("organizationFile"),
        force_deploy=bool(data.get("forceDeploy")),
    )


# --- changes --------------------------------------------------------------------------------


def change_json(change: Change) -> _Doc:
    return {
        "group": change.group,
        "id": change.id,
        "kind": change.kind.value,
        "action": change.action.value,
        "logicalId": change.logical_id,
        "physicalId": change.physical_id,
        "summary": change.summary,
        "details": details_json(change.spec),
        "after": list(change.after),
    }


def change_from_json(data: Mapping[str, Any]) -> Change:
    kind, action = ChangeKind(data["kind"]), Action(data["action"])
    spec_type = SPECS.get((kind, action))
    if spec_type is None:
        raise ValueError(f"no change {kind} {action}")
    return Change(
        id=data["id"],
        kind=kind,
        action=action,
        logical_id=data["logicalId"],
        physical_id=data["physicalId"],
        summary=data["summary"],
        spec=_FORMS[spec_type].read(data["details"]),
        after=tuple(data["after"]),
        group=data.get("group"),
    )


def details_json(spec: Spec) -> _Doc:
    """A change's details as the plan's JSON shows them."""
    return _FORMS[type(spec)].write(spec)


# --- organization ---------------------------------------------------------------------------


def _password_settings_json(settings: PasswordPolicySettings | None) -> _Doc | None:
    if settings is None:
        return None
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def _password_settings(data: Mapping[str, Any] | None) -> PasswordPolicySettings | None:
    return None if data is None else PasswordPolicySettings(**data)


def _contact_json(details: ContactDetails | None) -> _Doc | None:
    if details is None:
        return None
    return {
        "name": details.name,
        "title": details.title,
        "emailAddress": details.email_address,
        "phoneNumber": details.phone_number,
    }


def _contact(d: Mapping[str, Any] | None) -> ContactDetails | None:
    if d is None:
        return None
    return ContactDetails(
        name=d["name"],
        title=d["title"],
        email_address=d["emailAddress"],
        phone_number=d["phoneNumber"],
    )


def _customer_json(policy: CustomerPolicy) -> _Doc:
    return {"name": policy.name, "path": policy.path}


def _customer(d: Mapping[str, Any]) -> CustomerPolicy:
    return CustomerPolicy(name=d["name"], path=d["path"])


def _settings_json(settings: PermissionSetSettings | None) -> _Doc | None:
    if settings is None:
        return None
    boundary = settings.boundary
    return {
        "name": settings.name,
        "description": settings.description,
        "sessionDuration": settings.session_duration,
        "relayState": settings.relay_state,
        "managedPolicies": list(settings.managed_policies),
        "customerManagedPolicies": [_customer_json(p) for p in settings.customer_policies],
        "inlinePolicy": settings.inline_policy,
        "permissionsBoundary": None
        if boundary is None
        else {
            "managedPolicyArn": boundary.managed_policy_arn,
            "customerManagedPolicy": None
            if boundary.customer_policy is None
            else _customer_json(boundary.customer_policy),
        },
        "tags": dict(settings.tags),
    }


def _settings(d: Mapping[str, Any] | None) -> PermissionSetSettings | None:
    if d is None:
        return None
    boundary = d["permissionsBoundary"]
    return PermissionSetSettings(
        name=d["name"],
        description=d["description"],
        session_duration=d["sessionDuration"],
        relay_state=d["relayState"],
        managed_policies=tuple(d["managedPolicies"]),
        customer_policies=tuple(_customer(p) for p in d["customerManagedPolicies"]),
        inline_policy=d["inlinePolicy"],
        boundary=None
        if boundary is None
        else Boundary(
            managed_policy_arn=boundary["managedPolicyArn"],
            customer_policy=None
            if boundary["customerManagedPolicy"] is None
            else _customer(boundary["customerManagedPolicy"]),
        ),
        tags=dict(d["tags"]),
    )


def _write_policy_update(spec: PolicyUpdate) -> _Doc:
    return {
        "changes": {
            name: {"before": d.before, "after": d.after} for name, d in spec.changes.items()
        },
        "name": spec.name,
        "description": spec.description,
        "document": spec.document,
        "size": spec.size,
        "limit": spec.limit,
    }


def _read_policy_update(d: _Doc) -> PolicyUpdate:
    return PolicyUpdate(
        changes={
            name: Difference(before=c["before"], after=c["after"])
            for name, c in d["changes"].items()
        },
        name=d["name"],
        description=d["description"],
        document=d["document"],
        size=d["size"],
        limit=d["limit"],
    )


def _read_password_policy_delete(d: _Doc) -> PasswordPolicyDelete:
    before = _password_settings(d["before"])
    if before is None:
        raise ValueError("a password policy delete without the policy")
    return PasswordPolicyDelete(role_name=d["roleName"], before=before)


def _read_password_policy(d: _Doc) -> PasswordPolicySet:
    after = _password_settings(d["after"])
    if after is None:
        raise ValueError("a password policy change without the policy")
    return PasswordPolicySet(
        role_name=d["roleName"],
        policy=d["policy"],
        before=_password_settings(d["before"]),
        after=after,
    )


# --- stacks ---------------------------------------------------------------------------------


def _account_id_json(address: StackAddress) -> str:
    return address.account_id or known_after_apply("account", address.account or "")


def _account_id(value: str, account: str | None) -> str | None:
    """An account id as a spec holds it: None for the marker of an account made by the run."""
    return None if value == known_after_apply("account", account or "") else value


def _address_json(address: StackAddress) -> _Doc:
    return {
        "task": address.task,
        "stackName": address.stack_name,
        "account": address.account,
        "accountId": _account_id_json(address),
        "region": address.region,
        "roleName": address.role_name,
    }


def _address(d: Mapping[str, Any]) -> StackAddress:
    return StackAddress(
        task=d["task"],
        account=d["account"],
        account_id=_account_id(d["accountId"], d["account"]),
        region=d["region"],
        stack_name=d["stackName"],
        role_name=d["roleName"],
    )


def stack_settings_json(settings: StackSettings) -> _Doc:
    """The settings as the plan shows them and as a stack's content hash covers them."""
    return {
        "tags": dict(settings.tags),
        "terminationProtection": settings.termination_protection,
        "stackPolicy": settings.stack_policy,
        "roleArn": settings.role_arn,
        "disableRollback": settings.disable_rollback,
    }


def _stack_settings(d: Mapping[str, Any]) -> StackSettings:
    return StackSettings(
        tags=dict(d["tags"]),
        termination_protection=d["terminationProtection"],
        stack_policy=d["stackPolicy"],
        role_arn=d["roleArn"],
        disable_rollback=d["disableRollback"],
    )


def _reference_json(reference: StackReference) -> _Doc:
    producer = reference.producer
    return {
        "parameter": reference.parameter,
        "expression": reference.expression,
        "producer": str(producer) if producer else None,
        "producerChange": reference.producer_change,
        "producerStack": {
            "stackName": producer.stack_name,
            "accountId": _account_id_json(producer),
            "region": producer.region,
            "roleName": producer.role_name,
        }
        if producer
        else None,
        "output": reference.output,
        "export": reference.export,
        "exportAccountId": reference.export_account_id,
        "exportRegion": reference.export_region,
        "from": reference.source,
        "known": reference.known,
    }


def _reference(d: Mapping[str, Any]) -> StackReference:
    producer = None
    if d["producer"] is not None:
        task, account, region = str(d["producer"]).rsplit("/", 2)
        where = d["producerStack"]
        producer = StackAddress(
            task=task,
            account=account,
            account_id=_account_id(where["accountId"], account),
            region=region,
            stack_name=where["stackName"],
            role_name=where["roleName"],
        )
    return StackReference(
        parameter=d["parameter"],
        expression=d["expression"],
        source=d["from"],
        known=d["known"],
        producer=producer,
        producer_change=d["producerChange"],
        output=d["output"],
        export=d["export"],
        export_account_id=d["exportAccountId"],
        export_region=d["exportRegion"],
    )


def _write_stack_deploy(spec: StackDeploy) -> _Doc:
    return {
        **_address_json(spec.address),
        "where": spec.where,
        "template": spec.template,
        "parameters": dict(spec.parameters),
        "references": [_reference_json(r) for r in spec.references],
        "settings": stack_settings_json(spec.settings),
        "hash": spec.hash,
        "previousHash": spec.previous_hash,
        "previousParameters": None
        if spec.previous_parameters is None
        else dict(spec.previous_parameters),
        "forceDeploy": spec.force_deploy,
        # Only on an update that changes the template: plans without one read as before.
        **(
            {"templateChanges": _template_changes_json(spec.template_changes)}
            if spec.template_changes is not None
            else {}
        ),
    }


def _template_changes_json(changes: TemplateChanges) -> _Doc:
    return {
        "resources": [
            {"logicalId": r.logical_id, "type": r.resource_type, "change": r.change}
            for r in changes.resources
        ],
        "sections": list(changes.sections),
        "diff": list(changes.diff),
        "linesCut": changes.lines_cut,
    }


def _template_changes(d: _Doc | None) -> TemplateChanges | None:
    if d is None:
        return None
    return TemplateChanges(
        resources=tuple(
            ResourceChange(logical_id=r["logicalId"], resource_type=r["type"], change=r["change"])
            for r in d["resources"]
        ),
        sections=tuple(d["sections"]),
        diff=tuple(d["diff"]),
        lines_cut=d["linesCut"],
    )


def _read_stack_deploy(d: _Doc) -> StackDeploy:
    previous = d["previousParameters"]
    return StackDeploy(
        address=_address(d),
        where=d["where"],
        template=d["template"],
        parameters=dict(d["parameters"]),
        references=tuple(_reference(r) for r in d["references"]),
        settings=_stack_settings(d["settings"]),
        hash=d["hash"],
        previous_hash=d["previousHash"],
        previous_parameters=None if previous is None else dict(previous),
        force_deploy=d["forceDeploy"],
        template_changes=_template_changes(d.get("templateChanges")),
    )


# --- StackSets ------------------------------------------------------------------------------


def targets_json(targets: InstanceTargets) -> _Doc:
    return {
        "organizationalUnits": list(targets.organizational_units),
        "accountFilter": targets.account_filter,
        "accounts": list(targets.accounts),
        "regions": list(targets.regions),
    }


def targets_from_json(d: Mapping[str, Any]) -> InstanceTargets:
    return InstanceTargets(
        organizational_units=tuple(d["organizationalUnits"]),
        account_filter=d["accountFilter"],
        accounts=tuple(d["accounts"]),
        regions=tuple(d["regions"]),
    )


def stack_set_settings_json(settings: StackSetSettings) -> _Doc:
    """The settings in the shape the plan shows, the state's hash covers and AWS's answer is
    read into (orgc.stacksets.stack_set_settings)."""
    auto = settings.auto_deployment
    return {
        "description": settings.description,
        "tags": dict(settings.tags),
        "permissionModel": settings.permission_model,
        "autoDeployment": {
            "enabled": auto.enabled,
            "retainStacksOnAccountRemoval": auto.retain_stacks_on_account_removal,
            "dependsOn": list(auto.depends_on),
        },
    }


def stack_set_settings_from_json(d: Mapping[str, Any]) -> StackSetSettings:
    auto = d["autoDeployment"]
    return StackSetSettings(
        description=d["description"],
        tags=dict(d["tags"]),
        permission_model=d["permissionModel"],
        auto_deployment=AutoDeployment(
            enabled=auto["enabled"],
            retain_stacks_on_account_removal=auto["retainStacksOnAccountRemoval"],
            depends_on=tuple(auto["dependsOn"]),
        ),
    )


def _stack_set_json(address: StackSetAddress) -> _Doc:
    preferences = address.preferences
    return {
        "task": address.task,
        "where": address.where,
        "stackSetName": address.name,
        "stackSetId": address.stack_set_id,
        "arn": address.arn,
        "preferences": {
            "maxConcurrent": preferences.max_concurrent,
            "failureTolerance": preferences.failure_tolerance,
        },
        "targets": targets_json(address.targets),
        "labels": dict(address.labels),
    }


def _stack_set(d: Mapping[str, Any]) -> StackSetAddress:
    preferences = d["preferences"]
    return StackSetAddress(
        task=d["task"],
        where=d["where"],
        name=d["stackSetName"],
        stack_set_id=d["stackSetId"],
        arn=d["arn"],
        preferences=Preferences(
            max_concurrent=preferences["maxConcurrent"],
            failure_tolerance=preferences["failureTolerance"],
        ),
        targets=targets_from_json(d["targets"]),
        labels=dict(d["labels"]),
    )


def _write_stack_set_create(spec: StackSetCreate | StackSetUpdate) -> _Doc:
    return {
        **_stack_set_json(spec.stack_set),
        "template": spec.template,
        "parameters": dict(spec.parameters),
        "settings": stack_set_settings_json(spec.settings),
        "hash": spec.hash,
        "previousHash": spec.previous_hash,
        "forceDeploy": spec.force_deploy,
    }


def _read_stack_set_create(d: _Doc) -> StackSetCreate:
    return StackSetCreate(
        stack_set=_stack_set(d),
        template=d["template"],
        parameters=dict(d["parameters"]),
        settings=stack_set_settings_from_json(d["settings"]),
        hash=d["hash"],
        previous_hash=d["previousHash"],
        force_deploy=d["forceDeploy"],
    )


def _write_stack_set_update(spec: StackSetUpdate) -> _Doc:
    return {
        **_write_stack_set_create(spec),
        "templateDiff": list(spec.template_diff),
        "parameterChanges": [
            {"name": c.name, "before": c.before, "after": c.after} for c in spec.parameter_changes
        ],
        "updateTargets": None if spec.update_targets is None else targets_json(spec.update_targets),
    }


def _read_stack_set_update(d: _Doc) -> StackSetUpdate:
    created = _read_stack_set_create(d)
    update_targets = d["updateTargets"]
    return StackSetUpdate(
        stack_set=created.stack_set,
        template=created.template,
        parameters=created.parameters,
        settings=created.settings,
        hash=created.hash,
        previous_hash=created.previous_hash,
        force_deploy=created.force_deploy,
        template_diff=tuple(d["templateDiff"]),
        parameter_changes=tuple(
            ParameterChange(name=c["name"], before=c["before"], after=c["after"])
            for c in d["parameterChanges"]
        ),
        update_targets=None if update_targets is None else targets_from_json(update_targets),
    )


# --- registries -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Form(Generic[S]):
    """How one spec is written as a change's details, and read back. Made by `_form`, which
    types both by the spec, so mypy checks them against the spec's fields."""

    write: Callable[[S], _Doc]
    read: Callable[[_Doc], S]


def _form(
    spec_type: type[S], *, write: Callable[[S], _Doc], read: Callable[[_Doc], S]
) -> _Form[Any]:
    # Typed by `spec_type` alone (not by what the registry expects), so that the writer and
    # reader are checked against that spec.
    return _Form(write=write, read=read)


# Spec type → its form.
_FORMS: dict[type[Any], _Form[Any]] = {
    StateOnly: _form(
        StateOnly,
        write=lambda s: {},
        read=lambda d: StateOnly(),
    ),
    PolicyTypeEnable: _form(
        PolicyTypeEnable,
        write=lambda s: {"policyType": s.policy_type},
        read=lambda d: PolicyTypeEnable(policy_type=d["policyType"]),
    ),
    PolicyCreate: _form(
        PolicyCreate,
        write=lambda s: {
            "policyType": s.policy_type,
            "name": s.name,
            "description": s.description,
            "document": s.document,
            "tags": dict(s.tags),
            "size": s.size,
            "limit": s.limit,
        },
        read=lambda d: PolicyCreate(
            policy_type=d["policyType"],
            name=d["name"],
            description=d["description"],
            document=d["document"],
            tags=dict(d["tags"]),
            size=d["size"],
            limit=d["limit"],
        ),
    ),
    PolicyUpdate: _form(
        PolicyUpdate,
        write=_write_policy_update,
        read=_read_policy_update,
    ),
    PolicyDelete: _form(
        PolicyDelete,
        write=lambda s: {"policyType": s.policy_type, "name": s.name},
        read=lambda d: PolicyDelete(policy_type=d["policyType"], name=d["name"]),
    ),
    OrganizationalUnitCreate: _form(
        OrganizationalUnitCreate,
        write=lambda s: {"name": s.name, "parent": s.parent, "tags": dict(s.tags)},
        read=lambda d: OrganizationalUnitCreate(
            name=d["name"], parent=d["parent"], tags=dict(d["tags"])
        ),
    ),
    OrganizationalUnitReplace: _form(
        OrganizationalUnitReplace,
        write=lambda s: {
            "name": s.name,
            "parent": s.parent,
            "tags": dict(s.tags),
            "replaces": s.replaces,
            "fromParent": s.from_parent,
        },
        read=lambda d: OrganizationalUnitReplace(
            name=d["name"],
            parent=d["parent"],
            tags=dict(d["tags"]),
            replaces=d["replaces"],
            from_parent=d["fromParent"],
        ),
    ),
    Rename: _form(
        Rename,
        write=lambda s: {"before": s.before, "after": s.after},
        read=lambda d: Rename(before=d["before"], after=d["after"]),
    ),
    OrganizationalUnitDelete: _form(
        OrganizationalUnitDelete,
        write=lambda s: {"name": s.name, "retired": s.retired},
        read=lambda d: OrganizationalUnitDelete(name=d["name"], retired=d["retired"]),
    ),
    AccountCreate: _form(
        AccountCreate,
        write=lambda s: {
            "name": s.name,
            "email": s.email,
            "roleName": s.role_name,
            "tags": dict(s.tags),
        },
        read=lambda d: AccountCreate(
            name=d["name"], email=d["email"], role_name=d["roleName"], tags=dict(d["tags"])
        ),
    ),
    AccountMove: _form(
        AccountMove,
        write=lambda s: {"from": s.source, "to": s.destination},
        read=lambda d: AccountMove(source=d["from"], destination=d["to"]),
    ),
    AccountClose: _form(
        AccountClose,
        write=lambda s: {"name": s.name, "email": s.email},
        read=lambda d: AccountClose(name=d["name"], email=d["email"]),
    ),
    TagsUpdate: _form(
        TagsUpdate,
        write=lambda s: {
            "target": s.target.value,
            "add": dict(s.add),
            "remove": list(s.remove),
            "before": dict(s.before),
        },
        read=lambda d: TagsUpdate(
            target=TargetKind(d["target"]),
            add=dict(d["add"]),
            remove=tuple(d["remove"]),
            before=dict(d["before"]),
        ),
    ),
    Attach: _form(
        Attach,
        write=lambda s: {"policy": s.policy, "target": s.target.value},
        read=lambda d: Attach(policy=d["policy"], target=TargetKind(d["target"])),
    ),
    Detach: _form(
        Detach,
        write=lambda s: {"policyId": s.policy_id, "target": s.target.value},
        read=lambda d: Detach(policy_id=d["policyId"], target=TargetKind(d["target"])),
    ),
    PasswordPolicySet: _form(
        PasswordPolicySet,
        write=lambda s: {
            "roleName": s.role_name,
            "policy": s.policy,
            "before": _password_settings_json(s.before),
            "after": _password_settings_json(s.after),
        },
        read=_read_password_policy,
    ),
    PasswordPolicyDelete: _form(
        PasswordPolicyDelete,
        write=lambda s: {"roleName": s.role_name, "before": _password_settings_json(s.before)},
        read=_read_password_policy_delete,
    ),
    AliasSet: _form(
        AliasSet,
        write=lambda s: {"roleName": s.role_name, "before": s.before, "after": s.after},
        read=lambda d: AliasSet(role_name=d["roleName"], before=d["before"], after=d["after"]),
    ),
    AliasDelete: _form(
        AliasDelete,
        write=lambda s: {"roleName": s.role_name, "alias": s.alias},
        read=lambda d: AliasDelete(role_name=d["roleName"], alias=d["alias"]),
    ),
    StackDeploy: _form(
        StackDeploy,
        write=_write_stack_deploy,
        read=_read_stack_deploy,
    ),
    StackRemoval: _form(
        StackRemoval,
        write=lambda s: _address_json(s.address),
        read=lambda d: StackRemoval(address=_address(d)),
    ),
    StackSetCreate: _form(
        StackSetCreate,
        write=_write_stack_set_create,
        read=_read_stack_set_create,
    ),
    StackSetUpdate: _form(
        StackSetUpdate,
        write=_write_stack_set_update,
        read=_read_stack_set_update,
    ),
    InstancesCreate: _form(
        InstancesCreate,
        write=lambda s: {
            **_stack_set_json(s.stack_set),
            "create": targets_json(s.create),
        },
        read=lambda d: InstancesCreate(
            stack_set=_stack_set(d), create=targets_from_json(d["create"])
        ),
    ),
    InstancesDelete: _form(
        InstancesDelete,
        write=lambda s: {
            **_stack_set_json(s.stack_set),
            "delete": [{**targets_json(d.targets), "reason": d.reason} for d in s.delete],
        },
        read=lambda d: InstancesDelete(
            stack_set=_stack_set(d),
            delete=tuple(
                InstanceDeletion(targets=targets_from_json(r), reason=r["reason"])
                for r in d["delete"]
            ),
        ),
    ),
    StackSetDelete: _form(
        StackSetDelete,
        write=lambda s: {
            "task": s.task,
            "stackSetName": s.name,
            "organizationalUnits": list(s.organizational_units),
            "regions": list(s.regions),
            "instances": s.instances,
        },
        read=lambda d: StackSetDelete(
            task=d["task"],
            name=d["stackSetName"],
            organizational_units=tuple(d["organizationalUnits"]),
            regions=tuple(d["regions"]),
            instances=d["instances"],
        ),
    ),
    ObjectPut: _form(
        ObjectPut,
        write=lambda s: {
            "task": s.task,
            "where": s.where,
            "bucket": s.bucket,
            "key": s.key,
            "region": s.region,
            "localPath": s.local_path,
            "zipped": s.zipped,
            "hash": s.hash,
            **({"accountId": s.account_id} if s.account_id else {}),
            **({"roleName": s.role_name} if s.role_name else {}),
            **(
                {"serverSideEncryption": s.server_side_encryption}
                if s.server_side_encryption
                else {}
            ),
            **(
                {"templatingContext": s.templating_context}
                if s.templating_context is not None
                else {}
            ),
        },
        read=lambda d: ObjectPut(
            task=d["task"],
            where=d["where"],
            bucket=d["bucket"],
            key=d["key"],
            region=d["region"],
            local_path=d["localPath"],
            zipped=d["zipped"],
            hash=d["hash"],
            account_id=d.get("accountId"),
            role_name=d.get("roleName"),
            server_side_encryption=d.get("serverSideEncryption"),
            templating_context=d.get("templatingContext"),
        ),
    ),
    ObjectRemoval: _form(
        ObjectRemoval,
        write=lambda s: {
            "task": s.task,
            "bucket": s.bucket,
            "key": s.key,
            "region": s.region,
            **({"accountId": s.account_id} if s.account_id else {}),
            **({"roleName": s.role_name} if s.role_name else {}),
        },
        read=lambda d: ObjectRemoval(
            task=d["task"],
            bucket=d["bucket"],
            key=d["key"],
            region=d["region"],
            account_id=d.get("accountId"),
            role_name=d.get("roleName"),
        ),
    ),
    ServiceAccessSet: _form(
        ServiceAccessSet,
        write=lambda s: {"servicePrincipal": s.service_principal, "service": s.service},
        read=lambda d: ServiceAccessSet(
            service_principal=d["servicePrincipal"], service=d["service"]
        ),
    ),
    DelegatedAdministratorSet: _form(
        DelegatedAdministratorSet,
        write=lambda s: {
            "servicePrincipal": s.service_principal,
            "account": s.account,
            "accountId": s.account_id,
        },
        read=lambda d: DelegatedAdministratorSet(
            service_principal=d["servicePrincipal"],
            account=d["account"],
            account_id=d["accountId"],
        ),
    ),
    AccountRename: _form(
        AccountRename,
        write=lambda s: {"before": s.before, "after": s.after, "management": s.management},
        read=lambda d: AccountRename(
            before=d["before"], after=d["after"], management=d["management"]
        ),
    ),
    AlternateContactSet: _form(
        AlternateContactSet,
        write=lambda s: {
            "account": s.account,
            "accountId": s.account_id,
            "management": s.management,
            "contactType": s.contact_type,
            "before": _contact_json(s.before),
            "after": _contact_json(s.after),
        },
        read=lambda d: AlternateContactSet(
            account=d["account"],
            account_id=d["accountId"],
            management=d["management"],
            contact_type=d["contactType"],
            before=_contact(d["before"]),
            after=_contact(d["after"]),
        ),
    ),
    PermissionSetChange: _form(
        PermissionSetChange,
        write=lambda s: {
            "instanceArn": s.instance_arn,
            "arn": s.arn,
            "name": s.name,
            "before": _settings_json(s.before),
            "after": _settings_json(s.after),
            "provision": s.provision,
        },
        read=lambda d: PermissionSetChange(
            instance_arn=d["instanceArn"],
            arn=d["arn"],
            name=d["name"],
            before=_settings(d["before"]),
            after=_settings(d["after"]),
            provision=d["provision"],
        ),
    ),
    AssignmentChange: _form(
        AssignmentChange,
        write=lambda s: {
            "instanceArn": s.instance_arn,
            "permissionSet": s.permission_set,
            "permissionSetName": s.permission_set_name,
            "permissionSetArn": s.permission_set_arn,
            "principalType": s.principal_type,
            "principal": s.principal,
            "principalId": s.principal_id,
            "account": s.account,
            "accountName": s.account_name,
            "accountId": s.account_id,
        },
        read=lambda d: AssignmentChange(
            instance_arn=d["instanceArn"],
            permission_set=d["permissionSet"],
            permission_set_name=d["permissionSetName"],
            permission_set_arn=d["permissionSetArn"],
            principal_type=d["principalType"],
            principal=d["principal"],
            principal_id=d["principalId"],
            account=d["account"],
            account_name=d["accountName"],
            account_id=d["accountId"],
        ),
    ),
}
