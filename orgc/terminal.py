"""How a run shows itself: colour, progress of an apply, and JSON event streams for CI tools.

Presentation only, for orgc.cli: every fact shown comes from the plan and from apply's events
(orgc.apply.Listener); nothing here decides anything.

- `use_colour`: `--color auto|always|never`; auto is colour on a terminal unless `NO_COLOR` is
  set (https://no-color.org).
- `PlainProgress`: one timestamped line per event, "started" as well as "done", for CI logs;
  every `ORGC_PROGRESS_INTERVAL` seconds (default 30) a "still running" line for each change
  that has run that long already (an account creation, a stack create), so that a quiet log is
  not taken for a hung one.
- `LiveProgress`: on a terminal, a live view (rich) of how many changes wait, run, are done or
  failed, the elapsed time, and the changes still running, longest first (an account creation
  takes minutes on AWS).
- `JsonEvents`: one JSON object a line on stdout (`--json`), for CI tools.
Every progress keeps what finished, so an interrupted apply can say what it recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import IO, Any, Protocol

from orgc.diagnostics import Diagnostic
from orgc.plan import Change, Plan

COLOURS = ("auto", "always", "never")

_ANSI = {
    "green": "\x1b[32m",
    "red": "\x1b[31m",
    "yellow": "\x1b[33m",
    "cyan": "\x1b[36m",
    "dim": "\x1b[2m",
    "bold": "\x1b[1m",
}
_RESET = "\x1b[0m"

_EVENT_COLOURS = {"started": "cyan", "done": "green", "failed": "red", "skipped": "yellow"}
# Apply's listener says "start"; people and tools read "started".
_EVENT_NAMES = {"start": "started", "done": "done", "failed": "failed", "skipped": "skipped"}


def use_colour(choice: str, stream: IO[str], environ: Mapping[str, str]) -> bool:
    """Whether to colour what goes to `stream`: `always`, `never`, or (auto) on a terminal
    when NO_COLOR is unset or empty."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{_ANSI[colour]}{text}{_RESET}" if enabled else text


# The first character of a plan line (after its indent) → its colour.
_PLAN_SYMBOL_COLOURS = {
    "+": "green",
    "~": "yellow",
    "→": "cyan",
    "±": "yellow",
    "-": "red",
    "!": "red",
}


def colour_plan_text(text: str, enabled: bool) -> str:
    """orgc.show's text plan with its change lines and diagnostics coloured."""
    if not enabled:
        return text
    return "\n".join(_coloured_line(line) for line in text.split("\n"))


def _coloured_line(line: str) -> str:
    stripped = line.lstrip(" ")
    colour = _PLAN_SYMBOL_COLOURS.get(stripped[:1]) if len(line) - len(stripped) == 2 else None
    if colour is not None and stripped[1:2] == " ":
        return paint(line, colour, enabled=True)
    if ": error[" in line:
        return paint(line, "red", enabled=True)
    if ": warning[" in line:
        return paint(line, "yellow", enabled=True)
    if line.startswith("Plan: "):
        return paint(line, "bold", enabled=True)
    return line


class Clock(Protocol):
    """Where a progress reads the time: wall time for what it prints, monotonic for spans."""

    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


class Progress:
    """What every progress keeps: when each change started, and which finished how. Called
    with apply's events (orgc.apply.Listener) from one thread at a time."""

    def __init__(self, plan: Plan, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.total = len(plan.changes)
        self.began = self.clock.monotonic()
        self.started: dict[str, tuple[Change, float]] = {}  # running: id → (change, start)
        self.done: list[Change] = []
        self.failed: list[Change] = []
        self.skipped: list[Change] = []
        self.lock = threading.Lock()

    def __call__(self, event: str, change: Change, message: str) -> None:
        name = _EVENT_NAMES.get(event, event)
        with self.lock:
            now = self.clock.monotonic()
            seconds = None
            if name == "started":
                self.started[change.id] = (change, now)
            else:
                began = self.started.pop(change.id, None)
                seconds = None if began is None else now - began[1]
                {"done": self.done, "failed": self.failed, "skipped": self.skipped}.get(
                    name, []
                ).append(change)
        self.show(name, change, message, seconds)

    def show(self, event: str, change: Change, message: str, seconds: float | None) -> None:
        """Show one event; `seconds` is how long the change ran (None when it did not)."""

    @property
    def waiting(self) -> int:
        settled = len(self.done) + len(self.failed) + len(self.skipped)
        return self.total - settled - len(self.started)

    def close(self) -> None:
        """The run ended (or was interrupted): stop showing it live."""

    def interrupted_lines(self) -> list[str]:
        """What an interrupted apply tells: what finished (and so is in the state), and what
        was still running (let finish, recorded when it did; the next plan shows where it is)."""
        with self.lock:
            done = list(self.done)
            running = [change for change, _ in self.started.values()]
        lines = [f"{len(done)} change(s) finished and are recorded in the state:"]
        lines.extend(f"  {change.summary}" for change in done)
        if running:
            lines.append(
                f"{len(running)} change(s) were running and were let finish (recorded when they "
                "did; orgc plan shows where they stand):"
            )
            lines.extend(f"  {change.summary}" for change in running)
        not_started = self.waiting
        if not_started:
            lines.append(f"{not_started} change(s) did not start; orgc plan shows them again.")
        return lines


PROGRESS_INTERVAL = 30.0
"""Seconds between the "still running" lines of timestamped progress, unless
`ORGC_PROGRESS_INTERVAL` says otherwise (0: none)."""


class ProgressIntervalError(ValueError):
    """ORGC_PROGRESS_INTERVAL is not a number of seconds."""


def progress_interval(environ: Mapping[str, str]) -> float:
    """The interval `ORGC_PROGRESS_INTERVAL` gives (seconds, `30s`, `2m`), else the default."""
    text = environ.get("ORGC_PROGRESS_INTERVAL", "").strip()
    if not text:
        return PROGRESS_INTERVAL
    units = {"s": 1.0, "m": 60.0}
    scale = units.get(text[-1], 1.0)
    number = text[:-1] if text[-1] in units else text
    try:
        seconds = float(number) * scale
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise ProgressIntervalError(
            f"ORGC_PROGRESS_INTERVAL={text!r} is not a number of seconds (like 30, 30s or 2m; "
            "0 for no still-running lines)"
        )
    return seconds


class PlainProgress(Progress):
    """One line per event, with a UTC timestamp: what a CI log wants. With an `interval`, a
    thread writes a "still running" line every `interval` seconds for each change that has run
    at least that long (`tick` writes one round of them)."""

    def __init__(
        self,
        plan: Plan,
        stream: IO[str],
        *,
        colour: bool = False,
        clock: Clock | None = None,
        interval: float = 0.0,
    ) -> None:
        super().__init__(plan, clock)
        self.stream = stream
        self.colour = colour
        self.interval = interval
        self.write_lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None
        if interval > 0:
            self._ticker = threading.Thread(
                target=self._tick_every_interval, name="orgc-progress", daemon=True
            )
            self._ticker.start()

    def show(self, event: str, change: Change, message: str, seconds: float | None) -> None:
        self._write(_event_line(self.clock.now(), event, change, message, seconds, self.colour))

    def tick(self) -> None:
        """A "still running" line for each change running `interval` seconds or more, the
        longest running first."""
        with self.lock:
            now = self.clock.monotonic()
            running = sorted(self.started.values(), key=lambda entry: entry[1])
        moment = self.clock.now()
        word = paint("running", "bold", self.colour)
        lines = [
            f"{_timestamp(moment)} {word} still running: {change.summary} "
            f"(elapsed {_elapsed(now - began)})\n"
            for change, began in running
            if now - began >= self.interval
        ]
        if lines:
            self._write("".join(lines))

    def close(self) -> None:
        self._stopped.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()

    def _tick_every_interval(self) -> None:
        while not self._stopped.wait(self.interval):
            self.tick()

    def _write(self, text: str) -> None:
        with self.write_lock:
            self.stream.write(text)
            self.stream.flush()


def _elapsed(seconds: float) -> str:
    """Whole seconds, as a log line gives a long wait: 45s, 2m10s, 1h02m05s."""
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    minutes, rest = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s"


def _event_line(  # noqa: PLR0917
    moment: datetime,
    event: str,
    change: Change,
    message: str,
    seconds: float | None,
    colour: bool,
) -> str:
    word = paint(f"{event:<7}", _EVENT_COLOURS.get(event, "bold"), colour)
    line = f"{_timestamp(moment)} {word} {change.summary}"
    if seconds is not None:
        line += f" ({_duration(seconds)})"
    if event == "done" and message:
        line += f" → {message}"
    elif message:
        line += f": {message}"
    return line + "\n"


class LiveProgress(Progress):
    """A live view on a terminal (rich): counts, elapsed time and the running changes, longest
    first; each finished change is printed above it as a line."""

    def __init__(
        self,
        plan: Plan,
        stream: IO[str],
        *,
        colour: bool = True,
        clock: Clock | None = None,
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        super().__init__(plan, clock)
        self.colour = colour
        self.console = Console(file=stream, no_color=not colour, highlight=False)
        self.live = Live(
            console=self.console,
            get_renderable=self.view,
            refresh_per_second=4,
            transient=True,
        )
        self.live.start()

    def view(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            now = self.clock.monotonic()
            running = sorted(self.started.values(), key=lambda entry: entry[1])
            counts = (
                f"{self.waiting} waiting · {len(running)} running · {len(self.done)} done · "
                f"{len(self.failed)} failed"
            )
            if self.skipped:
                counts += f" · {len(self.skipped)} skipped"
            elapsed = now - self.began
        table = Table.grid(padding=(0, 1))
        table.add_row(Text(f"Applying: {counts} · {_duration(elapsed)}", style="bold"))
        shown = running[:_LIVE_RUNNING_ROWS]
        for change, began in shown:
            table.add_row(Text(f"  running {_duration(now - began):>7}  {change.summary}"))
        if len(running) > len(shown):
            table.add_row(Text(f"  ... and {len(running) - len(shown)} more running"))
        return table

    def show(self, event: str, change: Change, message: str, seconds: float | None) -> None:
        if event == "started":
            return  # the live view shows it as running
        line = _event_line(self.clock.now(), event, change, message, seconds, colour=False)
        style = _EVENT_COLOURS.get(event) if self.colour else None
        self.live.console.print(line.rstrip("\n"), style=style, markup=False, soft_wrap=True)

    def close(self) -> None:
        self.live.stop()


# Rows of running changes the live view shows; the rest are counted.
_LIVE_RUNNING_ROWS = 10


def progress_for(
    plan: Plan,
    stream: IO[str],
    *,
    colour: bool,
    live: bool,
    clock: Clock | None = None,
    interval: float = 0.0,
) -> Progress:
    """A live view when `live` (a terminal) and rich is installed, else timestamped lines
    (with "still running" lines every `interval` seconds; 0: none)."""
    if live:
        try:
            return LiveProgress(plan, stream, colour=colour, clock=clock)
        except ImportError:
            pass  # rich missing from this installation: lines still tell everything
    return PlainProgress(plan, stream, colour=colour, clock=clock, interval=interval)


# --- JSON events ------------------------------------------------------------------------------


def _change_fields(change: Change) -> dict[str, Any]:
    return {
        "id": change.id,
        "kind": change.kind.value,
        "action": change.action.value,
        "logicalId": change.logical_id,
        "physicalId": change.physical_id,
        "summary": change.summary,
    }


def diagnostic_fields(diagnostic: Diagnostic) -> dict[str, Any]:
    span = diagnostic.span
    return {
        "code": diagnostic.code,
        "severity": diagnostic.severity.value,
        "message": diagnostic.message,
        "file": None if span is None else str(span.file),
        "line": None if span is None else span.line,
        "column": None if span is None else span.col,
    }


class JsonStream:
    """One JSON object a line on `stream`. Every object has `event` and `time` (UTC, ISO 8601).

    The command: `started` (with `command`, `source`), then `done` or `failed` (with `seconds`
    since it started; `failed` with its `diagnostics`, each `code`, `severity`, `message`,
    `file`, `line`, `column`). A plan: one `planned` per change. An apply: each change's
    `started`, then `done`, `failed` or `skipped` (see `JsonEvents`). A change's fields are
    `id`, `kind`, `action`, `logicalId`, `physicalId`, `summary`.
    """

    def __init__(self, stream: IO[str], *, clock: Clock | None = None) -> None:
        self.stream = stream
        self.clock = clock or SystemClock()
        self.began = self.clock.monotonic()

    def emit(self, event: str, fields: Mapping[str, Any]) -> None:
        record = {"event": event, **fields, "time": _timestamp(self.clock.now())}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()

    def command_started(self, command: str, source: str) -> None:
        self.emit("started", {"command": command, "source": source})

    def planned(self, plan: Plan) -> None:
        for change in plan.changes:
            self.emit("planned", {**_change_fields(change), "after": list(change.after)})

    def command_done(self, command: str, fields: Mapping[str, Any]) -> None:
        self.emit("done", {"command": command, **fields, "seconds": self._seconds()})

    def command_failed(
        self, command: str, fields: Mapping[str, Any], diagnostics: Sequence[Diagnostic] = ()
    ) -> None:
        self.emit(
            "failed",
            {
                "command": command,
                **fields,
                "seconds": self._seconds(),
                "diagnostics": [diagnostic_fields(d) for d in diagnostics],
            },
        )

    def _seconds(self) -> float:
        return round(self.clock.monotonic() - self.began, 3)


class JsonEvents(Progress):
    """Apply's events on a JsonStream: a change's `started`; `done` with `seconds` it ran and
    the `physicalId` it made or acted on; `failed` with `seconds` and `error`; `skipped` with
    `reason`."""

    def __init__(self, plan: Plan, stream: JsonStream) -> None:
        super().__init__(plan, stream.clock)
        self.json = stream

    def show(self, event: str, change: Change, message: str, seconds: float | None) -> None:
        fields: dict[str, Any] = _change_fields(change)
        if seconds is not None:
            fields["seconds"] = round(seconds, 3)
        if event == "done" and message:
            fields["physicalId"] = message
        elif event == "failed":
            fields["error"] = message
        elif event == "skipped":
            fields["reason"] = message
        self.json.emit(event, fields)


def both(first: Progress, second: Progress) -> Callable[[str, Change, str], None]:
    """A listener of apply that shows its events two ways (the JSON stream and a progress)."""

    def listener(event: str, change: Change, message: str) -> None:
        first(event, change, message)
        second(event, change, message)

    return listener
