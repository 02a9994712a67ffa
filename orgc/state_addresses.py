"""Addresses of what the state records, for `orgc state list|show|rm|mv`.

An address is `KIND:KEY`, the id of a plan's change without its action: the plan's
`stack.create:Logs/Shop/eu-west-1` acts on `stack:Logs/Shop/eu-west-1`. The kinds and their keys:

    organization                                     the organization, its root and management
    account:<LogicalId>                              an account's id
    organizational-unit:<LogicalId>                  an OU's id
    policy:<LogicalId>                               a policy's id
    retired-organizational-unit:<ou-id>              an OU a re-parent replaced, still to delete
    stack:<Task>/<Account>/<region>                  a stack target (its account's logical id,
                                                     or its account id when it has none)
    stack-set:<Task>                                 a StackSet-mode task's StackSet
    s3-object:s3://<bucket>/<key>                    an object a copy-to-s3 task put
    service-access:<service principal>               trusted access orgc enabled
    delegated-administrator:<principal>/<Account>    an administrator orgc registered
    alternate-contact:<Account>/<TYPE>               a contact orgc set (BILLING, OPERATIONS,
                                                     SECURITY)
    closed-account:<account id>                      a close counted against AWS's close quota
    permission-set:<LogicalId>                       an IAM Identity Center permission set (rm
                                                     forgets the assignments of it too)
    account-assignment:<PermissionSet>/<group|user>:<name>/<Account>
                                                     an assignment orgc made

`<Account>` is the logical id when the state records one for that account id, else the account
id; both are accepted. A stack is also found by `stack:<StackName>/<account id>/<region>`, the
key of the plan's stack deletes. Attachments, tags, aliases and password policies have no
address (a plan compares them with AWS; the aliases and password policies orgc set are noted
per account id, not by address).

Removing a record makes orgc forget the thing, never delete it in AWS. Moving one renames the
logical id it is recorded under (after the files renamed it), so that the next plan sees the same
thing under its new name instead of a delete and a create. Both are pure functions of a State;
orgc.cli holds the lock and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from orgc.diagnostics import Diagnostic, StageError, did_you_mean
from orgc.state import AssignmentRecord, StackRecord, State

ORGANIZATION = "organization"

# Every kind, in the order `orgc state list` prints them; the kinds of the plan's change ids.
KINDS = (
    ORGANIZATION,
    "account",
    "organizational-unit",
    "policy",
    "retired-organizational-unit",
    "stack",
    "stack-set",
    "s3-object",
    "service-access",
    "delegated-administrator",
    "alternate-contact",
    "closed-account",
    "permission-set",
    "account-assignment",
)
# What `mv` renames: the kinds keyed by a logical id of the files. The others are keyed by what
# AWS names them, which a rename in the files does not change.
MOVABLE = frozenset({"account", "organizational-unit", "policy", "stack", "stack-set"})
# Kinds whose records the organization digest vouches for: changing one makes the next plan
# read the organization again instead of trusting the state.
_ORGANIZATION_KINDS = frozenset({"account", "organizational-unit", "policy"})


class AddressError(StageError):
    """An address that is not one, or names nothing the state records, or a move refused."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One thing the state records: its address, the AWS id it stands for (None where it has
    none of its own), and what `show` prints of it."""

    address: str
    kind: str
    physical_id: str | None
    fields: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return f"{self.address} ({self.physical_id})" if self.physical_id else self.address


def _names(state: State) -> Callable[[str], str]:
    by_id = {account_id: logical for logical, account_id in state.accounts.items()}
    return lambda account_id: by_id.get(account_id, account_id)


def stack_address(record: StackRecord) -> str:
    return f"stack:{record.task}/{record.account or record.account_id}/{record.region}"


def entries(state: State) -> tuple[Entry, ...]:
    """Everything `state` records, one entry an address, in `KINDS` order then by address."""
    name = _names(state)
    found: list[Entry] = []
    if state.organization_id or state.management_account_id or state.root_id:
        found.append(
            Entry(
                address=ORGANIZATION,
                kind=ORGANIZATION,
                physical_id=state.organization_id,
                fields=(
                    ("organization id", state.organization_id or "-"),
                    ("management account id", state.management_account_id or "-"),
                    ("root id", state.root_id or "-"),
                    (
                        "files as last applied",
                        state.organization_digest or "- (the next plan reads the organization)",
                    ),
                ),
            )
        )
    tables = (
        ("account", state.accounts, "account id"),
        ("organizational-unit", state.organizational_units, "OU id"),
        ("policy", state.policies, "policy id"),
    )
    for kind, table, label in tables:
        for logical_id, physical_id in sorted(table.items()):
            found.append(
                Entry(
                    address=f"{kind}:{logical_id}",
                    kind=kind,
                    physical_id=physical_id,
                    fields=(("logical id", logical_id), (label, physical_id)),
                )
            )
    for ou_id in sorted(state.retired_organizational_units):
        found.append(
            Entry(
                address=f"retired-organizational-unit:{ou_id}",
                kind="retired-organizational-unit",
                physical_id=ou_id,
                fields=(("OU id", ou_id), ("to do", "emptied and deleted by a later apply")),
            )
        )
    for record in sorted(state.stacks, key=stack_address):
        found.append(
            Entry(
                address=stack_address(record),
                kind="stack",
                physical_id=record.stack_id or record.stack_name,
                fields=_stack_fields(record),
            )
        )
    for stack_set in sorted(state.stack_sets, key=lambda r: r.task):
        found.append(
            Entry(
                address=f"stack-set:{stack_set.task}",
                kind="stack-set",
                physical_id=stack_set.stack_set_id or stack_set.name,
                fields=(
                    ("task", stack_set.task),
                    ("StackSet name", stack_set.name),
                    ("StackSet id", stack_set.stack_set_id or "-"),
                    ("ARN", stack_set.arn or "-"),
                    ("deployed hash", stack_set.hash or "- (imported, never deployed)"),
                    ("parameters", _pairs(stack_set.parameters)),
                    ("organizational units", ", ".join(stack_set.organizational_units) or "-"),
                    ("account filter", stack_set.account_filter),
                    ("accounts", ", ".join(stack_set.accounts) or "-"),
                    ("regions", ", ".join(stack_set.regions) or "-"),
                ),
            )
        )
    for url, put in sorted(state.objects.items()):
        found.append(
            Entry(
                address=f"s3-object:{url}",
                kind="s3-object",
                physical_id=None,
                fields=(("URL", url), *sorted(put.items())),
            )
        )
    for principal, administrators in sorted(state.services.items()):
        found.append(
            Entry(
                address=f"service-access:{principal}",
                kind="service-access",
                physical_id=None,
                fields=(
                    ("service principal", principal),
                    (
                        "delegated administrators",
                        ", ".join(_account(name, a) for a in administrators) or "-",
                    ),
                ),
            )
        )
        for account_id in sorted(administrators, key=name):
            found.append(
                Entry(
                    address=f"delegated-administrator:{principal}/{name(account_id)}",
                    kind="delegated-administrator",
                    physical_id=account_id,
                    fields=(("service principal", principal), ("account id", account_id)),
                )
            )
    for account_id, types in sorted(state.contacts.items(), key=lambda item: name(item[0])):
        for contact_type in sorted(types):
            found.append(
                Entry(
                    address=f"alternate-contact:{name(account_id)}/{contact_type}",
                    kind="alternate-contact",
                    physical_id=account_id,
                    fields=(("account id", account_id), ("contact type", contact_type)),
                )
            )
    for account_id, day in sorted(state.closed_accounts.items()):
        found.append(
            Entry(
                address=f"closed-account:{account_id}",
                kind="closed-account",
                physical_id=account_id,
                fields=(("account id", account_id), ("closed on", day)),
            )
        )
    for logical_id, arn in sorted(state.permission_sets.items()):
        found.append(
            Entry(
                address=f"permission-set:{logical_id}",
                kind="permission-set",
                physical_id=arn,
                fields=(("logical id", logical_id), ("ARN", arn)),
            )
        )
    for assignment in sorted(state.assignments):
        who = f"{assignment.principal_type.lower()}:{assignment.principal}"
        found.append(
            Entry(
                address=f"account-assignment:{assignment_key(assignment, name)}",
                kind="account-assignment",
                physical_id=assignment.account_id,
                fields=(
                    ("permission set", assignment.permission_set),
                    ("permission set ARN", assignment.permission_set_arn),
                    ("principal", who.replace(":", " ", 1)),
                    ("principal id", assignment.principal_id),
                    ("account id", assignment.account_id),
                ),
            )
        )
    return tuple(found)


def assignment_key(record: AssignmentRecord, name: Callable[[str], str]) -> str:
    who = f"{record.principal_type.lower()}:{record.principal}"
    return f"{record.permission_set}/{who}/{name(record.account_id)}"


def _account(name: Callable[[str], str], account_id: str) -> str:
    logical = name(account_id)
    return f"{logical} ({account_id})" if logical != account_id else account_id


def _pairs(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "-"


def _stack_fields(record: StackRecord) -> tuple[tuple[str, str], ...]:
    return (
        ("task", record.task),
        ("stack name", record.stack_name),
        ("account", record.account or "-"),
        ("account id", record.account_id),
        ("region", record.region),
        ("stack id", record.stack_id or "-"),
        ("last changed", record.last_changed or "-"),
        ("deployed hash", record.hash or "- (imported, never deployed)"),
        ("parameters", _pairs(record.parameters)),
        ("outputs", _pairs(record.outputs)),
        ("exports", _pairs(record.exports)),
    )


def show_lines(entry: Entry) -> list[str]:
    width = max(len(label) for label, _ in entry.fields)
    return [entry.address, *(f"  {label:<{width}}  {value}" for label, value in entry.fields)]


# --- finding an address ---------------------------------------------------------------------


def _kind_of(address: str) -> str:
    """The kind of `address`, or AddressError (E711) when it has none orgc knows."""
    kind, colon, key = address.partition(":")
    if address == ORGANIZATION:
        return ORGANIZATION
    if kind in KINDS and kind != ORGANIZATION and colon and key:
        return kind
    if kind in KINDS and kind != ORGANIZATION:
        message = f"{address!r} is not a state address: {kind} needs a key after the colon"
    else:
        message = (
            f"{address!r} is not a state address{did_you_mean(kind, KINDS)}: an address is "
            f"KIND:KEY, with KIND one of {', '.join(k for k in KINDS if k != ORGANIZATION)} "
            "(or the address organization); `orgc state list` lists them"
        )
    raise AddressError([Diagnostic("E711", message)])


def find(state: State, address: str) -> Entry:
    """The entry `address` names: by its address, or a stack by StackName/account id/region;
    AddressError (E711 not an address, E712 not in the state, with the closest address)."""
    kind = _kind_of(address)
    known = entries(state)
    for entry in known:
        if entry.address == address:
            return entry
    if kind == "stack":
        alias = _stack_by_key(state, address.partition(":")[2])
        if alias is not None:
            return next(e for e in known if e.address == stack_address(alias))
    if kind in ("delegated-administrator", "alternate-contact"):
        # The account given by its id where the state knows its logical id.
        name = _names(state)
        first, slash, second = address.partition(":")[2].partition("/")
        if kind == "delegated-administrator":
            spelled = f"{kind}:{first}/{name(second)}"
        else:
            spelled = f"{kind}:{name(first)}/{second}"
        for entry in known:
            if slash and entry.address == spelled:
                return entry
    same_kind = [e.address for e in known if e.kind == kind]
    hint = did_you_mean(address, same_kind) or did_you_mean(address, [e.address for e in known])
    where = f"no {kind} is recorded" if not same_kind else "the state records no such thing"
    raise AddressError(
        [
            Diagnostic(
                "E712",
                f"{address} is not in the state{hint}: {where}; `orgc state list` lists what it "
                "records",
            )
        ]
    )


def _stack_by_key(state: State, key: str) -> StackRecord | None:
    parts = key.split("/")
    if len(parts) != 3:
        return None
    return state.stack_records().get((parts[0], parts[1], parts[2]))


# --- rm and mv --------------------------------------------------------------------------------


def _table(state: State, kind: str) -> dict[str, str]:
    if kind == "account":
        return state.accounts
    if kind == "organizational-unit":
        return state.organizational_units
    return state.policies


def _with_table(state: State, kind: str, table: dict[str, str]) -> State:
    """`state` with the id table of `kind` replaced, and no longer vouching that the
    organization is as the files say (the next plan reads it)."""
    if kind == "account":
        return replace(state, accounts=table, organization_digest=None)
    if kind == "organizational-unit":
        return replace(state, organizational_units=table, organization_digest=None)
    return replace(state, policies=table, organization_digest=None)


def remove(state: State, address: str) -> tuple[State, Entry]:
    """`state` without the record `address` names (AddressError E712 when there is none,
    E715 for the organization itself)."""
    entry = find(state, address)
    kind = entry.kind
    if kind == ORGANIZATION:
        raise AddressError(
            [
                Diagnostic(
                    "E715",
                    "the organization cannot be removed from the state: it is what every other "
                    "record belongs to; to start over, keep the state elsewhere (--state, "
                    "--state-bucket), or restore an earlier version (`orgc state history`)",
                )
            ]
        )
    key = entry.address.partition(":")[2]
    if kind in _ORGANIZATION_KINDS:
        kept = {k: v for k, v in _table(state, kind).items() if k != key}
        new = _with_table(state, kind, kept)
    elif kind == "retired-organizational-unit":
        new = replace(
            state,
            retired_organizational_units=tuple(
                i for i in state.retired_organizational_units if i != key
            ),
        )
    elif kind == "stack":
        record = next(r for r in state.stacks if stack_address(r) == entry.address)
        new = state.without_stack(record.key)
    elif kind == "stack-set":
        record_set = next(r for r in state.stack_sets if r.task == key)
        new = state.without_stack_set(record_set.name)
    elif kind == "s3-object":
        new = replace(state, objects={u: r for u, r in state.objects.items() if u != key})
    elif kind == "service-access":
        new = replace(state, services={p: a for p, a in state.services.items() if p != key})
    elif kind == "delegated-administrator":
        principal = key.rpartition("/")[0]
        services = dict(state.services)
        services[principal] = tuple(a for a in services[principal] if a != entry.physical_id)
        new = replace(state, services=services)
    elif kind == "alternate-contact":
        contact_type = key.rpartition("/")[2]
        account_id = entry.physical_id or ""
        contacts = dict(state.contacts)
        left = tuple(t for t in contacts[account_id] if t != contact_type)
        if left:
            contacts[account_id] = left
        else:
            del contacts[account_id]
        new = replace(state, contacts=contacts)
    elif kind == "permission-set":
        arn = entry.physical_id
        new = replace(
            state,
            permission_sets={k: v for k, v in state.permission_sets.items() if k != key},
            assignments=tuple(a for a in state.assignments if a.permission_set_arn != arn),
        )
    elif kind == "account-assignment":
        name = _names(state)
        new = replace(
            state,
            assignments=tuple(a for a in state.assignments if assignment_key(a, name) != key),
        )
    else:  # closed-account
        new = replace(
            state, closed_accounts={a: d for a, d in state.closed_accounts.items() if a != key}
        )
    return new, entry


def remove_all(state: State, addresses: list[str]) -> tuple[State, tuple[Entry, ...]]:
    """`state` without every record `addresses` name, each found in `state` as given (all of
    them, or AddressError with a diagnostic for each address that is not found)."""
    found: dict[str, Entry] = {}
    errors: list[Diagnostic] = []
    for address in addresses:
        try:
            entry = find(state, address)
        except AddressError as error:
            errors.extend(error.diagnostics)
            continue
        found.setdefault(entry.address, entry)
    if errors:
        raise AddressError(errors)
    # Accounts last: an account's logical id is part of the addresses of its other records.
    order = sorted(found.values(), key=lambda e: -KINDS.index(e.kind))
    for entry in order:
        state, _ = remove(state, entry.address)
    return state, tuple(found.values())


def move(state: State, source: str, target: str) -> tuple[State, Entry, str]:
    """`state` with the record at `source` recorded at `target` instead; returns the new state,
    the entry moved and the target address as recorded. Refused (AddressError): a source that is
    not in the state (E712), a target that is (E713), kinds that differ or a stack that would
    change account or region (E714), a kind keyed by AWS's names (E715)."""
    entry = find(state, source)
    kind = entry.kind
    if kind not in MOVABLE:
        raise AddressError(
            [
                Diagnostic(
                    "E715",
                    f"{entry.address} cannot be moved: a {kind} record is keyed by what AWS "
                    "names it, which renaming the files does not change; only accounts, "
                    "organizational units, policies, stacks and StackSets are recorded under "
                    "logical ids",
                )
            ]
        )
    target_kind = _kind_of(target)
    if target_kind != kind:
        raise AddressError(
            [
                Diagnostic(
                    "E714",
                    f"cannot move {entry.address} to {target}: a record moves only to an "
                    f"address of its own kind ({kind}:...), and {target} is of kind "
                    f"{target_kind}",
                )
            ]
        )
    key = entry.address.partition(":")[2]
    new_key = target.partition(":")[2]
    record = next((r for r in state.stacks if stack_address(r) == entry.address), None)
    moved = _moved_stack(state, record, target) if record is not None else None
    recorded_as = stack_address(moved) if moved is not None else target
    if recorded_as in {e.address for e in entries(state)}:
        raise AddressError(
            [
                Diagnostic(
                    "E713",
                    f"cannot move {entry.address} to {target}: the state already records "
                    f"{recorded_as}; remove that record first (`orgc state rm {recorded_as}`) "
                    "if it is stale",
                )
            ]
        )
    if moved is not None and record is not None:
        return state.without_stack(record.key).with_stack(moved), entry, recorded_as
    if "/" in new_key or not new_key.strip():
        raise AddressError(
            [
                Diagnostic(
                    "E714",
                    f"cannot move {entry.address} to {target}: {new_key!r} is not a logical id "
                    "(a logical id has no '/')",
                )
            ]
        )
    if kind in _ORGANIZATION_KINDS:
        table = dict(_table(state, kind))
        table[new_key] = table.pop(key)
        new = _with_table(state, kind, dict(sorted(table.items())))
        if kind == "account":
            # The stacks of that account name it by its logical id too.
            new = replace(
                new,
                stacks=tuple(
                    replace(r, account=new_key) if r.account == key else r for r in new.stacks
                ),
            )
        return new, entry, target
    stack_set = next(r for r in state.stack_sets if r.task == key)
    return state.with_stack_set(replace(stack_set, task=new_key)), entry, target


def _moved_stack(state: State, record: StackRecord, target: str) -> StackRecord:
    parts = target.partition(":")[2].split("/")
    if len(parts) != 3 or not all(parts):
        raise AddressError(
            [
                Diagnostic(
                    "E714",
                    f"{target} is not a stack address: a stack is stack:<Task>/<Account>/<region>",
                )
            ]
        )
    task, account, region = parts
    if region != record.region:
        raise AddressError(
            [
                Diagnostic(
                    "E714",
                    f"cannot move {stack_address(record)} to {target}: the stack is in "
                    f"{record.region}, and a move cannot take it to another region (it renames "
                    "what orgc records, it moves nothing in AWS)",
                )
            ]
        )
    if account == record.account_id:
        logical = record.account
    elif state.accounts.get(account) == record.account_id or account == record.account:
        logical = account
    else:
        recorded = state.accounts.get(account)
        what = f"account {recorded}" if recorded else "an account the state does not record"
        raise AddressError(
            [
                Diagnostic(
                    "E714",
                    f"cannot move {stack_address(record)} to {target}: the stack is in account "
                    f"{record.account_id}, and {account} is {what}; a move cannot take a stack "
                    "to another account (move the account's record first if it was renamed: "
                    f"`orgc state mv account:{record.account} account:NEW`)",
                )
            ]
        )
    return replace(record, task=task, account=logical)
