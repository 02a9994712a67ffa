"""Observation: the reads of AWS a plan compares the files with.

Each function asks the provider for one kind of thing and returns the provider's own types
(orgc.observed); none decides anything. Reads that do not depend on each other run on a small
pool of threads, so a plan over many accounts and regions waits for the slowest read, not for
their sum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from orgc.model import DEFAULT_ACCESS_ROLE, Organization
from orgc.observed import (
    ContactDetails,
    LiveIdentityCenter,
    LiveOrganization,
    LiveServiceAccess,
    LiveStack,
    LiveStackSet,
    SsoInstance,
)
from orgc.plan.objects import DesiredObject
from orgc.plan.specs import ObjectRemoval, StackAddress
from orgc.plan.stacks import LiveStacks, access_role
from orgc.provider import Provider
from orgc.recorded import recorded_stacks
from orgc.render import RenderedStack, markers
from orgc.sso import IdentityCenter
from orgc.state import State
from orgc.tasks import StacksTask

# Threads of one observation: enough to hide the latency of AWS's API, few enough to stay clear
# of its throttling.
_READ_WORKERS = 8


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_READ_WORKERS, thread_name_prefix="orgc-observe")


def observe_organization(
    provider: Provider, organization: Organization, state: State, *, per_account: bool = True
) -> LiveOrganization:
    """The live organization, each known account read through its own access role; without
    `per_account`, only what does not cost a call per account (no account tags, nothing read
    inside the accounts)."""
    roles: dict[str, str] = {}
    for account in organization.accounts.values():
        account_id = account.account_id or state.accounts.get(account.logical_id)
        if account_id:
            roles[account_id] = account.access_role_name
    return provider.read_organization(
        account_roles=roles, read_account_details=per_account, read_account_tags=per_account
    )


def observe_services(provider: Provider) -> LiveServiceAccess:
    """Trusted service access and delegated administrators: organization-level reads (a call
    per page and one per administrator account), never one per member account."""
    return provider.list_service_access()


def observe_contacts(
    provider: Provider, account_ids: Iterable[str], management_account_id: str
) -> dict[str, dict[str, ContactDetails]]:
    """The alternate contacts of each account, by account id: a call per contact type per
    account, through the management account (which reads its own without an AccountId)."""
    wanted = sorted(set(account_ids))

    def read(account_id: str) -> dict[str, ContactDetails]:
        own = account_id == management_account_id
        return provider.get_alternate_contacts(None if own else account_id)

    with _pool() as pool:
        return dict(zip(wanted, pool.map(read, wanted), strict=True))


def observe_objects(provider: Provider, objects: Sequence[DesiredObject]) -> dict[str, str | None]:
    """The ETag of each object copy-to-s3 tasks put, by URL (None: there is no such object).
    An object whose place names an account this plan creates is not there yet: not read."""
    readable = [o for o in objects if not markers(o.url) and not markers(o.account_id or "")]
    found: dict[str, str | None] = {o.url: None for o in objects}
    with _pool() as pool:
        found.update(
            zip(
                [o.url for o in readable],
                pool.map(
                    lambda o: provider.head_s3_object(
                        bucket=o.bucket,
                        key=o.key,
                        region=o.region,
                        account_id=o.account_id,
                        role_name=o.role_name,
                    ),
                    readable,
                ),
                strict=True,
            )
        )
    return found


def observe_removed_objects(
    provider: Provider, removed: Sequence[ObjectRemoval]
) -> dict[str, str | None]:
    """The ETag of each object orgc put that no task puts any more, by URL (None: gone), read
    with the credentials it was put with."""
    with _pool() as pool:
        return dict(
            zip(
                [o.url for o in removed],
                pool.map(
                    lambda o: provider.head_s3_object(
                        bucket=o.bucket,
                        key=o.key,
                        region=o.region,
                        account_id=o.account_id,
                        role_name=o.role_name,
                    ),
                    removed,
                ),
                strict=True,
            )
        )


def observe_stacks(
    provider: Provider,
    *,
    tasks: Mapping[str, StacksTask],
    organization: Organization,
    state: State,
    stacks: Sequence[RenderedStack],
    refresh: bool = True,
) -> LiveStacks:
    """List the stacks of every (account, region) the plan deploys to or deployed to before
    (with `refresh`; else take them as the state recorded them), and read the exports that
    references take from stacks orgc does not deploy."""
    roles: dict[str, str] = {}
    pairs: set[tuple[str, str]] = set()
    for stack in stacks:
        account_id = None if markers(stack.account_id) else stack.account_id  # as rendered
        if account_id:
            pairs.add((account_id, stack.key.region))
            role = access_role(
                tasks.get(stack.key.task), organization, stack.key.account, stack.key.region
            )
            roles.setdefault(account_id, role)
    for record in state.stacks:
        pairs.add((record.account_id, record.region))
        roles.setdefault(
            record.account_id,
            access_role(tasks.get(record.task), organization, record.account, record.region),
        )
    wanted_exports: set[tuple[str, str, str]] = set()
    for stack in stacks:
        for reference in stack.references:
            account_id = reference.account_id or stack.account_id
            if reference.producer is None and account_id and not markers(account_id):
                wanted_exports.add(
                    (account_id, reference.region or stack.key.region, reference.export or "")
                )
                roles.setdefault(account_id, DEFAULT_ACCESS_ROLE)

    def list_pair(pair: tuple[str, str]) -> tuple[tuple[str, str], dict[str, LiveStack]]:
        return pair, provider.list_stacks(pair[0], roles[pair[0]], pair[1])

    def read_export(key: tuple[str, str, str]) -> tuple[tuple[str, str, str], str | None]:
        account_id, region, name = key
        value = provider.read_export(
            account_id=account_id, role_name=roles[account_id], region=region, name=name
        )
        return key, value

    with _pool() as pool:
        listed = dict(pool.map(list_pair, sorted(pairs))) if refresh else recorded_stacks(state)
        exports = {k: v for k, v in pool.map(read_export, sorted(wanted_exports)) if v is not None}
    return LiveStacks(stacks=listed, exports=exports)


def observe_templates(
    provider: Provider, addresses: Sequence[StackAddress]
) -> dict[tuple[str, str, str], str | None]:
    """The deployed template of each stack (by record key), one GetTemplate per stack: asked
    only for the stacks a plan updates, so a plan that changes nothing reads none."""
    wanted = sorted(
        {a.record_key: a for a in addresses if a.record_key is not None}.items(),
        key=lambda item: item[0],
    )

    def read(address: StackAddress) -> str | None:
        assert address.account_id is not None
        return provider.get_template(
            account_id=address.account_id,
            role_name=address.role_name,
            region=address.region,
            stack_name=address.stack_name,
        )

    with _pool() as pool:
        return dict(
            zip([k for k, _ in wanted], pool.map(read, [a for _, a in wanted]), strict=True)
        )


def observe_stack_sets(provider: Provider, names: Iterable[str]) -> dict[str, LiveStackSet | None]:
    """Each named StackSet as AWS holds it now (None: there is none): one DescribeStackSet and
    one ListStackInstances per StackSet, nothing per account."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    with _pool() as pool:
        return dict(zip(wanted, pool.map(provider.describe_stack_set, wanted), strict=True))


def observe_identity_center(
    provider: Provider,
    instance: SsoInstance,
    desired: IdentityCenter,
    state: State,
    account_ids: Mapping[str, str | None],
) -> LiveIdentityCenter:
    """What IAM Identity Center holds of what the files and the state name: every permission
    set's name (a call per set), the settings of those orgc compares (six calls each), each
    principal the files name (a call each), and the assignments of every (permission set,
    account) pair the files or the state give (a call per pair). Nothing per other account."""
    names = provider.permission_set_names(instance.instance_arn)
    arns = set(names.values())
    ours = {arn for arn in state.permission_sets.values() if arn in arns}
    ours |= {names[p.settings.name] for p in desired.permission_sets if p.settings.name in names}
    principals = desired.principals()
    with _pool() as pool:
        settings = dict(
            zip(
                sorted(ours),
                pool.map(
                    lambda arn: provider.read_permission_set(instance.instance_arn, arn),
                    sorted(ours),
                ),
                strict=True,
            )
        )
        found = list(
            pool.map(
                lambda p: provider.find_principal(instance.identity_store_id, p.kind, p.name),
                principals,
            )
        )
        by_logical = {
            p.logical_id: state.permission_sets.get(p.logical_id) or names.get(p.settings.name)
            for p in desired.permission_sets
        }
        pairs = {
            (arn, account_id)
            for assignment in desired.assignments
            for account in assignment.accounts
            if (arn := by_logical.get(assignment.permission_set)) in settings
            and (account_id := account_ids.get(account))
        }
        pairs |= {(r.permission_set_arn, r.account_id) for r in state.assignments}
        pairs = {(arn, account_id) for arn, account_id in pairs if arn in arns}
        held = pool.map(
            lambda pair: provider.list_account_assignments(instance.instance_arn, *pair),
            sorted(pairs),
        )
        assignments = tuple(sorted({a for found_pair in held for a in found_pair}))
    return LiveIdentityCenter(
        instance=instance,
        permission_sets=names,
        settings=settings,
        principals={
            (p.kind, p.name): principal_id
            for p, principal_id in zip(principals, found, strict=True)
        },
        assignments=assignments,
        pairs=tuple(sorted(pairs)),
    )
