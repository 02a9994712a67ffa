"""How a run shows itself: colour, timestamped progress lines, the live view, JSON events."""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from support.scenarios import PLAN_SCENARIOS
from support.scenarios import plan_organization_scenario as plan_scenario

from orgc.plan import Plan
from orgc.terminal import (
    JsonEvents,
    JsonStream,
    PlainProgress,
    ProgressIntervalError,
    colour_plan_text,
    progress_for,
    progress_interval,
    use_colour,
)


class TickingClock:
    """Each reading of the clock is one second after the last."""

    def __init__(self) -> None:
        self.ticks = 0

    def now(self) -> datetime:
        return datetime(2026, 5, 15, 12, 0, tzinfo=timezone.utc) + timedelta(seconds=self.ticks)

    def monotonic(self) -> float:
        self.ticks += 1
        return float(self.ticks)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def drift(monkeypatch: pytest.MonkeyPatch) -> Plan:
    return plan_scenario(PLAN_SCENARIOS / "drift", monkeypatch)


def run_events(plan: Plan, listener: PlainProgress | JsonEvents) -> None:
    """Three changes start; one finishes, one fails, one is skipped; two never start."""
    policy, move, attach, *_ = plan.changes
    listener("start", policy, "")
    listener("start", move, "")
    listener("done", policy, "p-1234")
    listener("failed", move, "AccessDenied: no")
    listener("skipped", attach, f"waits on {move.id}, which failed")


def test_without_a_terminal_progress_is_timestamped_lines(drift: Plan) -> None:
    out = io.StringIO()
    progress = progress_for(drift, out, colour=False, live=False, clock=TickingClock())
    assert isinstance(progress, PlainProgress)
    run_events(drift, progress)
    assert out.getvalue().splitlines() == [
        "2026-05-15T12:00:02Z started update SERVICE_CONTROL_POLICY DenyLeave: document",
        "2026-05-15T12:00:03Z started move account Shop from the root to ProdOU",
        "2026-05-15T12:00:04Z done    update SERVICE_CONTROL_POLICY DenyLeave: document (2.0s) "
        "→ p-1234",
        "2026-05-15T12:00:05Z failed  move account Shop from the root to ProdOU (2.0s): "
        "AccessDenied: no",
        "2026-05-15T12:00:06Z skipped attach DenyRoot to OU ProdOU: waits on account.move:Shop, "
        "which failed",
    ]
    assert progress.waiting == 2


def test_an_interrupted_run_says_what_finished_and_was_recorded(drift: Plan) -> None:
    progress = PlainProgress(drift, io.StringIO(), clock=TickingClock())
    policy, move, *_ = drift.changes
    progress("start", policy, "")
    progress("start", move, "")
    progress("done", policy, "")
    assert progress.interrupted_lines() == [
        "1 change(s) finished and are recorded in the state:",
        "  update SERVICE_CONTROL_POLICY DenyLeave: document",
        "1 change(s) were running and were let finish (recorded when they did; orgc plan shows "
        "where they stand):",
        "  move account Shop from the root to ProdOU",
        "3 change(s) did not start; orgc plan shows them again.",
    ]


def test_colour_only_on_a_terminal_and_never_with_no_color(drift: Plan) -> None:
    assert use_colour("auto", Terminal(), {})
    assert not use_colour("auto", Terminal(), {"NO_COLOR": "1"})
    assert use_colour("auto", Terminal(), {"NO_COLOR": ""})  # set but empty: no-color.org
    assert not use_colour("auto", io.StringIO(), {})
    assert use_colour("always", io.StringIO(), {"NO_COLOR": "1"})
    assert not use_colour("never", Terminal(), {})

    out = io.StringIO()
    progress = PlainProgress(drift, out, colour=True, clock=TickingClock())
    run_events(drift, progress)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("2026-05-15T12:00:02Z \x1b[36mstarted\x1b[0m update")
    assert "\x1b[32mdone   \x1b[0m" in lines[2]
    assert "\x1b[31mfailed \x1b[0m" in lines[3]
    assert "\x1b[33mskipped\x1b[0m" in lines[4]

    text = "Accounts:\n  → move account Shop\n  + create x\n      detail - kept\nPlan: 1 to move.\n"
    assert colour_plan_text(text, False) == text
    assert colour_plan_text(text, True) == (
        "Accounts:\n\x1b[36m  → move account Shop\x1b[0m\n\x1b[32m  + create x\x1b[0m\n"
        "      detail - kept\n\x1b[1mPlan: 1 to move.\x1b[0m\n"
    )


def test_json_events_one_object_a_line(drift: Plan) -> None:
    out = io.StringIO()
    clock = TickingClock()
    stream = JsonStream(out, clock=clock)
    stream.command_started("apply", "organization.yml")
    run_events(drift, JsonEvents(drift, stream))
    stream.command_done("apply", {"exitCode": 3})
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == [
        "started",
        "started",
        "started",
        "done",
        "failed",
        "skipped",
        "done",
    ]
    assert events[0] == {
        "event": "started",
        "command": "apply",
        "source": "organization.yml",
        "time": "2026-05-15T12:00:01Z",
    }
    assert events[3] == {
        "event": "done",
        "id": "policy.update:DenyLeave",
        "kind": "policy",
        "action": "update",
        "logicalId": "DenyLeave",
        "physicalId": "p-1234",
        "summary": "update SERVICE_CONTROL_POLICY DenyLeave: document",
        "seconds": 2.0,
        "time": "2026-05-15T12:00:05Z",
    }
    assert events[4]["error"] == "AccessDenied: no"
    assert events[5]["reason"] == "waits on account.move:Shop, which failed"
    assert events[6] == {
        "event": "done",
        "command": "apply",
        "exitCode": 3,
        "seconds": 7.0,
        "time": "2026-05-15T12:00:08Z",
    }


def test_on_a_terminal_a_live_view_counts_and_shows_what_runs(drift: Plan) -> None:
    pytest.importorskip("rich")
    from orgc.terminal import LiveProgress

    out = Terminal()
    progress = progress_for(drift, out, colour=False, live=True, clock=TickingClock())
    assert isinstance(progress, LiveProgress)
    policy, move, *_ = drift.changes
    progress("start", policy, "")
    progress("start", move, "")
    progress("done", policy, "p-1234")
    with progress.console.capture() as captured:
        progress.console.print(progress.view())
    shown = captured.get()
    assert "Applying: 3 waiting · 1 running · 1 done · 0 failed" in shown
    assert "running" in shown
    assert "move account Shop from the root to ProdOU" in shown
    progress.close()
    assert "done    update SERVICE_CONTROL_POLICY DenyLeave: document (2.0s) → p-1234" in (
        out.getvalue()
    )


class ManualClock:
    """A clock that stands still until the test moves it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return datetime(2026, 5, 15, 12, 0, tzinfo=timezone.utc) + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds


def test_slow_changes_are_said_to_be_still_running(drift: Plan) -> None:
    out = io.StringIO()
    clock = ManualClock()
    progress = PlainProgress(drift, out, clock=clock)
    progress.interval = 30.0  # as the thread would use it; ticked by hand here
    policy, move, attach, *_ = drift.changes
    progress("start", policy, "")
    clock.seconds = 20.0
    progress("start", move, "")
    clock.seconds = 25.0
    progress.tick()  # nothing has run 30s yet
    clock.seconds = 40.0
    progress("start", attach, "")
    progress.tick()
    clock.seconds = 130.0
    progress("done", policy, "p-1234")
    progress.tick()
    assert out.getvalue().splitlines() == [
        "2026-05-15T12:00:00Z started update SERVICE_CONTROL_POLICY DenyLeave: document",
        "2026-05-15T12:00:20Z started move account Shop from the root to ProdOU",
        "2026-05-15T12:00:40Z started attach DenyRoot to OU ProdOU",
        "2026-05-15T12:00:40Z running still running: update SERVICE_CONTROL_POLICY DenyLeave: "
        "document (elapsed 40s)",
        "2026-05-15T12:02:10Z done    update SERVICE_CONTROL_POLICY DenyLeave: document "
        "(2m10s) → p-1234",
        "2026-05-15T12:02:10Z running still running: move account Shop from the root to ProdOU "
        "(elapsed 1m50s)",
        "2026-05-15T12:02:10Z running still running: attach DenyRoot to OU ProdOU (elapsed 1m30s)",
    ]


class Signalling(io.StringIO):
    """A stream that tells when something was written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, text: str) -> int:
        count = super().write(text)
        self.written.set()
        return count


def test_the_interval_thread_writes_still_running_lines_until_closed(drift: Plan) -> None:
    clock = ManualClock()
    out = Signalling()
    progress = progress_for(drift, out, colour=False, live=False, clock=clock, interval=0.01)
    assert isinstance(progress, PlainProgress)
    progress("start", drift.changes[0], "")
    out.written.clear()
    clock.seconds = 3725.0
    assert out.written.wait(timeout=30)
    progress.close()
    assert progress._ticker is not None
    assert not progress._ticker.is_alive()
    assert out.getvalue().splitlines()[1] == (
        "2026-05-15T13:02:05Z running still running: update SERVICE_CONTROL_POLICY DenyLeave: "
        "document (elapsed 1h02m05s)"
    )


@pytest.mark.parametrize(
    ("value", "seconds"), [("", 30.0), ("5", 5.0), ("0.5s", 0.5), ("2m", 120.0), ("0", 0.0)]
)
def test_the_progress_interval_comes_from_the_environment(value: str, seconds: float) -> None:
    assert progress_interval({"ORGC_PROGRESS_INTERVAL": value}) == seconds
    assert progress_interval({}) == 30.0


def test_a_wrong_progress_interval_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orgc.cli import main

    monkeypatch.setenv("ORGC_PROGRESS_INTERVAL", "soon")
    assert main(["apply", "organization.yml", "--auto-approve"]) == 64
    assert capsys.readouterr().err == (
        "orgc: ORGC_PROGRESS_INTERVAL='soon' is not a number of seconds (like 30, 30s or 2m; 0 "
        "for no still-running lines)\n"
    )
    with pytest.raises(ProgressIntervalError):
        progress_interval({"ORGC_PROGRESS_INTERVAL": "-5"})
