"""What every handler of apply works with: the provider, the run's ids, and the state it writes.

`Run` is the typed context a handler gets: it looks up physical ids (those this run created
included), fills the known-after-apply markers of a value, keeps what stacks output for the
changes that read it, and records edits of the state, written behind. It calls AWS through
orgc.provider.Provider; `StateWriter` is where it records what it did.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from orgc.limits import limit
from orgc.plan import ROOT, Change, Plan
from orgc.plan.specs import Spec, StackAddress, StackDeploy, StackRemoval
from orgc.plan.stacks import UNKNOWN_ACCOUNT_ID
from orgc.provider import Provider
from orgc.render import fill_markers, markers
from orgc.state import State, default_state_bucket

S = TypeVar("S", bound=Spec)

# The run's id tables, as the plan names them.
ACCOUNTS = "accounts"
ORGANIZATIONAL_UNITS = "organizationalUnits"
POLICIES = "policies"

_MARKER_TABLES = {
    "account": ACCOUNTS,
    "organizational-unit": ORGANIZATIONAL_UNITS,
    "policy": POLICIES,
}


class EmulatorRefusal(Exception):
    """The embedded emulator refused a change it cannot carry out as AWS would (a resource type
    it lacks, or a failure of its own): the message is the E630 diagnostic's."""


class WaitsOnRefusal(Exception):
    """A change needs what a change the emulator refused earlier in the run would have made
    (found only once it runs): it is skipped as if it waited on that change."""


def refused_detail(error: Exception) -> str:
    """What the emulator said, without the stack or StackSet it starts by naming (E630 names
    it with more)."""
    detail = str(getattr(error, "message", error))
    for prefix in ("stack ", "StackSet "):
        if detail.startswith(prefix) and ": " in detail:
            return detail.split(": ", 1)[1]
    return detail


class StateWriter(Protocol):
    """Where apply records what it did (orgc.state.LockedState)."""

    @property
    def state(self) -> State: ...
    def write(self, new: State) -> State: ...
    def check_held(self) -> None: ...  # raises once the state lock is not this run's any more


class Run:
    """One apply of a plan: shared by the workers, so every read and edit takes the lock."""

    def __init__(
        self,
        plan: Plan,
        provider: Provider,
        writer: StateWriter,
        template_bucket: str | None = None,
        flush_seconds: float = 2.0,
    ) -> None:
        self.plan = plan
        self.provider = provider
        self.writer = writer
        self.ids: dict[str, dict[str, str | None]] = {t: dict(v) for t, v in plan.ids.items()}
        self.lock = threading.Lock()
        self.outputs: dict[str, dict[str, str]] = {}  # stack change id → outputs it produced
        self.refused_stack_sets: set[str] = set()  # StackSets the emulator refused to create
        self._template_bucket = template_bucket
        self._bucket_lock = threading.Lock()
        self.current = writer.state  # every recorded edit, written or not
        self.version = 0  # edits recorded
        self.written_version = 0  # edits written
        self.write_lock = threading.Lock()
        self.flush_seconds = flush_seconds
        self.flushed_at = time.monotonic()

    def template_bucket(self, body: str) -> str | None:
        """Where a template body too large to pass inline goes: the bucket the apply was given,
        else orgc's template bucket, made the first time one is needed (None for a body that
        fits inline)."""
        if len(body.encode("utf-8")) <= limit("CLOUDFORMATION.templateBodyInline"):
            return self._template_bucket
        with self._bucket_lock:
            if self._template_bucket is None:
                self._template_bucket = self.provider.ensure_template_bucket()
            return self._template_bucket

    # --- ids ------------------------------------------------------------------------------

    def physical(self, table: str, logical_id: str) -> str:
        with self.lock:
            found = self.ids.get(table, {}).get(logical_id)
        if not found:
            raise RuntimeError(
                f"{logical_id} has no id yet; the change that creates it did not run"
            )
        return found

    def root_id(self) -> str:
        return self.physical(ORGANIZATIONAL_UNITS, ROOT)

    def remember_id(self, table: str, logical_id: str, physical_id: str) -> None:
        """Remember an id for later changes of this run, without recording it."""
        with self.lock:
            self.ids.setdefault(table, {})[logical_id] = physical_id

    def record(self, table: str, logical_id: str, physical_id: str | None) -> None:
        """Remember an id for later changes and write it to the state at once."""
        if physical_id is not None:
            self.remember_id(table, logical_id, physical_id)
        self.update_state(lambda state: _with_id(state, table, logical_id, physical_id))

    def account_id(self, address: StackAddress) -> str:
        """The physical id of a stack's account: the plan's, else the one this run created."""
        if address.account_id is not None:
            return address.account_id
        return self.physical(ACCOUNTS, address.account or "")

    def as_known_now(self, change: Change) -> Change:
        """The change as progress shows it: a stack in an account this run created names the
        account's id once the run has it, where the plan could say only "known after apply"."""
        spec = change.spec
        if not isinstance(spec, (StackDeploy, StackRemoval)) or spec.address.account_id:
            return change
        account = spec.address.account or ""
        with self.lock:
            found = self.ids.get(ACCOUNTS, {}).get(account)
        if not found:
            return change
        planned = f"{account} ({UNKNOWN_ACCOUNT_ID})"
        return dataclasses.replace(
            change, summary=change.summary.replace(planned, f"{account} ({found})", 1)
        )

    # --- markers --------------------------------------------------------------------------

    def marker_value(self, kind: str, name: str) -> str:
        """The value of a known-after-apply marker of any kind but "reference" (a stack's
        parameter, which the stack's change reads: orgc.apply.stacks)."""
        if kind == "organization-id":
            return self.plan.organization_id or self.provider.organization_identity()[0]
        if kind == "root":
            return self.root_id()
        if kind == "state-bucket":
            return default_state_bucket(self.provider.management_account_id())
        if kind in _MARKER_TABLES:
            return self.physical(_MARKER_TABLES[kind], name)
        raise RuntimeError(f"no value for the marker {kind}:{name}")

    def fill(self, value: Any) -> Any:
        """`value` with every known-after-apply marker replaced by what this run knows now."""
        return fill_markers(value, {m: self.marker_value(*m) for m in markers(value)})

    def fill_text(self, value: str) -> str:
        return str(self.fill(value))

    # --- outputs of the stacks of this run ------------------------------------------------

    def remember_outputs(self, change: Change, outputs: Mapping[str, str]) -> None:
        with self.lock:
            self.outputs[change.id] = dict(outputs)

    def outputs_of(self, change_id: str | None) -> dict[str, str] | None:
        with self.lock:
            return self.outputs.get(change_id or "")

    # --- state ----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The state with every recorded edit, written or still pending."""
        with self.lock:
            return self.current

    def update_state(self, edit: Callable[[State], State], *, now: bool = False) -> None:
        """Record `edit` of the current state, naming the management account on a first write.

        Records are written behind: at most every `flush_seconds`, and by `flush` at the end of
        the run (also when it is interrupted), so a run of hundreds of stacks costs a handful of
        state writes instead of one per stack. `now` writes at once (an OU replaced or deleted:
        records a crash must not lose). Workers do not wait for a write in progress.
        """
        with self.lock:
            updated = edit(self.current)
            if self.current.management_account_id is None:
                updated = dataclasses.replace(
                    updated, management_account_id=self.plan.management_account_id
                )
            self.current = updated
            self.version += 1
            due = now or time.monotonic() - self.flushed_at >= self.flush_seconds
            if due:
                self.flushed_at = time.monotonic()
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the latest state unless it is written already; writes happen one at a time
        and each takes the latest, so an older state never overwrites a newer one."""
        with self.write_lock:
            with self.lock:
                latest, version = self.current, self.version
            if version > self.written_version:
                self.writer.write(latest)
                self.written_version = version


def _with_id(state: State, table: str, logical_id: str, physical_id: str | None) -> State:
    def put(mapping: Mapping[str, str]) -> dict[str, str]:
        updated = {k: v for k, v in mapping.items() if k != logical_id}
        if physical_id is not None:
            updated[logical_id] = physical_id
        return updated

    if table == ACCOUNTS:
        return dataclasses.replace(state, accounts=put(state.accounts))
    if table == ORGANIZATIONAL_UNITS:
        return dataclasses.replace(state, organizational_units=put(state.organizational_units))
    return dataclasses.replace(state, policies=put(state.policies))


# A handler carries out one change.
Handler = Callable[[Run, Change], None]


def taking(spec_type: type[S], handler: Callable[[Run, Change, S], None]) -> Handler:
    """A handler of changes whose spec is a `spec_type`, given the spec as that type."""

    def handle(run: Run, change: Change) -> None:
        spec = change.spec
        if not isinstance(spec, spec_type):
            raise RuntimeError(
                f"{change.id}: a {change.kind} {change.action} change holds a "
                f"{type(spec).__name__}, not a {spec_type.__name__}"
            )
        handler(run, change, spec)

    return handle
