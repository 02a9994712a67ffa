"""The state lock: who holds it, for how long, and when another run may take it over.

A lock is a small JSON record kept beside the state (an S3 object, a local file) and changed only
by compare-and-swap: a write lands only over the exact record its writer read. A run that holds
the lock renews its lease on a background thread; a lock whose lease ran out, or whose process is
gone from this host, is taken over by the next run, with a notice. Releasing leaves a "released"
record rather than nothing, so every take of the lock has a generation one above the last.

Fencing: a holder checks `HeldLock.check()` before every change it makes in AWS. The check fails
once the holder has seen its lock broken (`orgc state unlock`) or taken over, or once its own
lease ran out unrenewed, so two runs never change AWS at the same time. Another run takes a lock
only when its lease has run out by the record's clock, or its process is gone, or its holder
released it; a holder's own reckoning of its lease ends no later than the record's, so the
holder has stopped before anyone else starts (clocks are assumed to agree within seconds, as NTP
keeps them).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

from orgc.diagnostics import Diagnostic

LEASE_SECONDS = 30.0
"""How long a lock stays valid unrenewed; its holder renews it every third of that."""

_WAIT_FIRST = 1.0  # seconds: the first wait for a live lock; each wait doubles, up to the cap
_WAIT_CAP = 10.0
_RACES = 10  # compare-and-swap writes lost in a row before giving up (someone keeps moving first)

HELD = "held"
BROKEN = "broken"  # `orgc state unlock` asked the holder to stop
RELEASED = "released"


class LockSlot(Protocol):
    """Where a lock record lives; `read` gives its bytes and a token for `swap`."""

    def where(self) -> str:
        """The state the lock guards, for messages."""
        ...

    def read(self) -> tuple[bytes | None, object]:
        """(record, token); (None, token) when there is no record."""
        ...

    def swap(self, token: object, data: bytes) -> object | None:
        """Write `data` only if the record is still the one `token` came from; the new token,
        or None when another writer moved first."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LockRecord:
    """One take of the lock.

    `process_start` tells a reused pid from the process that took the lock (Linux); `renewed`
    plus `lease_seconds` is when the lease runs out (`lease_seconds` None: a record of an orgc
    that had no leases, which never runs out by itself). `serial` is the highest state serial
    written under this lock or the ones before it: a state found below it was replaced by an
    older one.
    """

    id: str
    owner: str
    host: str
    pid: int
    process_start: str | None = None
    created: str
    renewed: str
    lease_seconds: float | None = LEASE_SECONDS
    generation: int = 0
    serial: int = 0
    status: str = HELD
    broken_by: str | None = None

    def to_json(self) -> bytes:
        document = {
            "id": self.id,
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "processStart": self.process_start,
            "created": self.created,
            "renewed": self.renewed,
            "leaseSeconds": self.lease_seconds,
            "generation": self.generation,
            "serial": self.serial,
            "status": self.status,
            "brokenBy": self.broken_by,
        }
        return json.dumps(document, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> LockRecord | None:
        """The record, or None when `data` is not a lock record."""
        try:
            document = json.loads(data.decode("utf-8"))
            if not isinstance(document, dict):
                return None
            created = str(document["created"])
            lease = document.get("leaseSeconds")
            return cls(
                id=str(document["id"]),
                owner=str(document.get("owner", "?")),
                host=str(document.get("host", "?")),
                pid=int(document.get("pid", 0)),
                process_start=_optional_text(document.get("processStart")),
                created=created,
                renewed=str(document.get("renewed", created)),
                lease_seconds=float(lease) if isinstance(lease, int | float) else None,
                generation=int(document.get("generation", 0)),
                serial=int(document.get("serial", 0)),
                status=str(document.get("status", HELD)),
                broken_by=_optional_text(document.get("brokenBy")),
            )
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None

    def holder(self) -> str:
        return f"{self.owner} (pid {self.pid} on {self.host}, generation {self.generation})"

    def expires(self) -> datetime | None:
        if self.lease_seconds is None:
            return None
        return _parse_time(self.renewed) + timedelta(seconds=self.lease_seconds)


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)  # unreadable: never runs out
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class LockLost(Exception):
    """This run no longer holds the state lock: it was broken or taken over, or its lease ran
    out unrenewed. The message says which and by whom."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LockOptions:
    """How a store takes its lock.

    `timeout` is how long to wait for a live lock (0: refuse at once); `notify` receives
    notices as diagnostics: a takeover (W701), a lost lock (E709), a finished
    bucket setup (W702); `sleep`, `clock` and `monotonic` are injectable so
    tests need not wait. `renew` False leaves renewal to the caller (tests call `renew()`).
    """

    timeout: float = 0.0
    lease_seconds: float = LEASE_SECONDS
    notify: Callable[[Diagnostic], None] = lambda diagnostic: None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], datetime] = _now
    monotonic: Callable[[], float] = time.monotonic
    renew: bool = True


# --- is a holder still there ---------------------------------------------------------------


def _proc_stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), where there is one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, from /proc), or None where unknown."""
    fields = _proc_stat(pid)
    # State is field 3 of the file, the start time field 22 (1-based, man 5 proc).
    return fields[19].decode() if fields is not None and len(fields) > 19 else None


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process `pid` on this host is the one that started at `started`, still running."""
    if sys.platform == "win32":
        return True  # no signal 0 there (it means CTRL_C_EVENT); the lease decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else
    fields = _proc_stat(pid)
    if not fields:
        return True
    if fields[0] == b"Z":
        return False  # killed, not yet reaped by its parent
    now_started = process_start(pid)
    return started is None or now_started is None or now_started == started


def stale_reason(
    record: LockRecord,
    *,
    now: datetime,
    host: str,
    alive: Callable[[int, str | None], bool] = process_alive,
) -> str | None:
    """Why `record` may be taken over, or None while its holder may still be working."""
    if record.status == RELEASED:
        return ""
    if record.host == host and not alive(record.pid, record.process_start):
        return f"its process {record.pid} on {host} is gone"
    expires = record.expires()
    if expires is not None and now >= expires:
        return f"its lease ran out at {_stamp(expires)}"
    return None


# --- taking, holding and giving back -------------------------------------------------------


def acquire(slot: LockSlot, owner: str, options: LockOptions) -> HeldLock:
    """Take the lock: at once when it is free or stale, else waiting up to `options.timeout`.

    Raises `LockBusy` (its message names the holder and when its lease runs out).
    """
    deadline = options.monotonic() + options.timeout
    waits = 0
    races = 0
    while True:
        data, token = slot.read()
        previous = LockRecord.from_json(data) if data is not None else None
        if data is None:
            reason: str | None = ""
        elif previous is None:
            reason = None  # unreadable: only `orgc state unlock` clears it
        else:
            reason = stale_reason(previous, now=options.clock(), host=socket.gethostname())
        if reason is not None:
            started = options.monotonic()
            record = _new_record(owner, previous, options)
            new_token = slot.swap(token, record.to_json())
            if new_token is not None:
                if reason and previous is not None:
                    options.notify(
                        Diagnostic(
                            "W701",
                            f"took over the lock on {slot.where()} from {previous.holder()}: "
                            f"{reason}",
                        )
                    )
                return HeldLock(slot, record, new_token, options, valid_from=started)
            races += 1
            if races < _RACES:
                continue  # another run moved first: look again
        remaining = deadline - options.monotonic()
        if remaining <= 0:
            raise LockBusy(_busy_message(slot.where(), previous, options.timeout))
        options.sleep(min(remaining, _WAIT_FIRST * 2**waits, _WAIT_CAP))
        waits += 1


class LockBusy(Exception):
    """Another run holds the lock (and kept it for as long as this run would wait)."""


def _new_record(owner: str, previous: LockRecord | None, options: LockOptions) -> LockRecord:
    now = _stamp(options.clock())
    pid = os.getpid()
    return LockRecord(
        id=uuid.uuid4().hex,
        owner=owner,
        host=socket.gethostname(),
        pid=pid,
        process_start=process_start(pid),
        created=now,
        renewed=now,
        lease_seconds=options.lease_seconds,
        generation=(previous.generation if previous else 0) + 1,
        serial=previous.serial if previous else 0,
    )


def _busy_message(where: str, holder: LockRecord | None, timeout: float) -> str:
    if holder is None:
        return (
            f"state {where} is locked by a lock record orgc cannot read; if no run holds it, "
            "remove it with `orgc state unlock`"
        )
    expires = holder.expires()
    until = (
        f"its lease runs out at {_stamp(expires)} unless renewed"
        if expires is not None
        else "it has no lease"
    )
    waited = f" after waiting {timeout:g}s" if timeout else ""
    state = "is being stopped (unlocked)" if holder.status == BROKEN else "holds it"
    return (
        f"state {where} is locked{waited}: {holder.holder()} since {holder.created} {state}; "
        f"{until}; wait with --lock-timeout, or stop that run with `orgc state unlock`"
    )


class HeldLock:
    """The lock as this run holds it: renewed in the background, checked before each write."""

    def __init__(
        self,
        slot: LockSlot,
        record: LockRecord,
        token: object,
        options: LockOptions,
        *,
        valid_from: float,
    ) -> None:
        self._slot = slot
        self._options = options
        self._mutex = threading.Lock()  # renewal, release and state writes one at a time
        self.record = record
        self._token = token
        self._lost: str | None = None
        self._valid_until = valid_from + options.lease_seconds
        self._serial = record.serial
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def holding(self) -> bool:
        """Whether this run may still change AWS."""
        return self._lost is None and self._options.monotonic() < self._valid_until

    def check(self) -> None:
        """Raise `LockLost` unless this run still holds the lock (fencing, before an AWS write)."""
        if self._lost is not None:
            raise LockLost(f"{self._lost}; this run stopped before its next change")
        if self._options.monotonic() >= self._valid_until:
            raise LockLost(
                f"the lease on {self._slot.where()} ran out unrenewed (generation "
                f"{self.record.generation}); this run stopped before its next change"
            )

    def note_serial(self, serial: int) -> None:
        """A state of `serial` was written: later holders must not find a lower one."""
        self._serial = max(self._serial, serial)

    def check_state_write(self) -> None:
        """Raise `LockLost` unless the record is still this run's (held, or broken by an unlock
        that nobody followed up yet) and the lease has not run out: a state write is fenced by
        what the record says now, not by what the last renewal saw."""
        with self._mutex:
            if self._options.monotonic() >= self._valid_until:
                raise LockLost(
                    f"the lease on {self._slot.where()} ran out unrenewed; the state was not "
                    "written"
                )
            data, _ = self._slot.read()
            current = LockRecord.from_json(data) if data is not None else None
            if current is None or current.id != self.record.id or current.status == RELEASED:
                raise LockLost(f"{self._taken_by(current)}; the state was not written")

    def renew(self) -> bool:
        """Extend the lease; False (and `holding()` False from now on) when the lock is not this
        run's any more."""
        with self._mutex:
            if self._lost is not None:
                return False
            started = self._options.monotonic()
            renewed = replace(
                self.record, renewed=_stamp(self._options.clock()), serial=self._serial
            )
            token = self._slot.swap(self._token, renewed.to_json())
            if token is not None:
                self.record, self._token = renewed, token
                self._valid_until = started + self._options.lease_seconds
                return True
            data, _ = self._slot.read()
            current = LockRecord.from_json(data) if data is not None else None
            if current is not None and current.id == self.record.id and current.status == BROKEN:
                self._lost = f"the lock on {self._slot.where()} was unlocked by {current.broken_by}"
            else:
                self._lost = self._taken_by(current)
            self._options.notify(Diagnostic("E709", self._lost))
            return False

    def _taken_by(self, current: LockRecord | None) -> str:
        if current is None or current.status == RELEASED:
            return f"the lock on {self._slot.where()} was removed"
        if current.id == self.record.id:
            return f"the lock on {self._slot.where()} was unlocked by {current.broken_by}"
        return f"the lock on {self._slot.where()} was taken over by {current.holder()}"

    def start_renewing(self) -> None:
        if not self._options.renew or self._renewer is not None:
            return
        interval = self._options.lease_seconds / 3

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    if not self.renew():
                        return
                except Exception:  # a failed renewal is tried again; the lease decides
                    continue

        self._renewer = threading.Thread(target=loop, name="orgc-lock-lease", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Give the lock back (a released record), unless another run holds it now."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._mutex:
            now = _stamp(self._options.clock())
            ours = replace(self.record, status=RELEASED, renewed=now, serial=self._serial)
            if self._slot.swap(self._token, ours.to_json()) is not None:
                return
            # The record changed since this run last wrote it: release it only if it is still
            # this run's (an unlock marked it broken), never a successor's.
            data, token = self._slot.read()
            current = LockRecord.from_json(data) if data is not None else None
            if current is None or current.id != self.record.id or current.status == RELEASED:
                return
            released = replace(
                current, status=RELEASED, renewed=now, serial=max(self._serial, current.serial)
            )
            self._slot.swap(token, released.to_json())


def break_lock(slot: LockSlot, by: str, *, clock: Callable[[], datetime] = _now) -> str:
    """`orgc state unlock`: free a stale lock at once, ask a live holder to stop.

    Returns what happened: "none" (there was no lock), "released" (the holder was gone, or the
    record unreadable or of an orgc without leases: the lock is free now), "broken" (the holder
    may be running: it stops before its next change, and the lock is free once it has released
    it or its lease has run out).
    """
    for _ in range(_RACES):
        data, token = slot.read()
        if data is None:
            return "none"
        record = LockRecord.from_json(data)
        if record is not None and record.status == RELEASED:
            return "none"
        if record is None:
            now = _stamp(clock())
            freed = LockRecord(
                id=uuid.uuid4().hex,
                owner=by,
                host=socket.gethostname(),
                pid=os.getpid(),
                created=now,
                renewed=now,
                status=RELEASED,
            )
            outcome, new = "released", freed.to_json()
        elif record.lease_seconds is None or stale_reason(
            record, now=clock(), host=socket.gethostname()
        ):
            outcome, new = "released", replace(record, status=RELEASED).to_json()
        else:
            outcome, new = "broken", replace(record, status=BROKEN, broken_by=by).to_json()
        if slot.swap(token, new) is not None:
            return outcome
    raise LockBusy(f"the lock on {slot.where()} kept changing; try `orgc state unlock` again")


def read_record(slot: LockSlot) -> LockRecord | None:
    """The lock record as it is now (None: no lock, or an unreadable one)."""
    data, _ = slot.read()
    return LockRecord.from_json(data) if data is not None else None


@contextlib.contextmanager
def exclusive(directory: str) -> Iterator[None]:
    """Hold an OS lock on `directory` for a moment: local compare-and-swap of a lock file.

    The kernel drops it when the process dies, so a kill -9 inside never leaves it behind.
    """
    if sys.platform == "win32":
        import msvcrt

        guard = os.path.join(directory, ".orgc-lock-guard")
        with open(guard, "a+b") as handle:
            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the flock
