"""The diagnostics registry: the typed codes, the explanations file and the collector."""

from __future__ import annotations

import json
import pickle
from importlib import resources
from typing import get_args

import pytest
from emitted_codes import PLUGIN_NAME, EmittedCodes

from orgc.cli import main
from orgc.diagnostics import CODES, CodeId, Diagnostic, Diagnostics, Span, StageError, code_id
from orgc.emulator import EmulatorUnavailable
from orgc.pipeline import StalePlan
from orgc.plan import PlanError
from orgc.state import StateConflict, StateError, StateLocked


def _data_file() -> dict[str, dict[str, str]]:
    text = (resources.files("orgc") / "data" / "codes.json").read_text(encoding="utf-8")
    loaded: dict[str, dict[str, str]] = json.loads(text)
    return loaded


def test_the_typed_codes_and_the_data_file_hold_the_same_codes() -> None:
    typed = get_args(CodeId)
    assert len(typed) == len(set(typed)), "CodeId lists a code twice"
    assert set(typed) == set(_data_file())
    assert set(CODES) == set(typed)


def test_every_code_has_a_title_and_an_explanation() -> None:
    for code, entry in _data_file().items():
        assert set(entry) == {"title", "explanation"}, code
        assert entry["title"].strip(), code
        assert entry["explanation"].strip(), code
        assert len(code) == 4, code
        assert code[0] in "EW", code
        assert code[1:].isdigit(), code


def test_an_unregistered_code_is_refused_at_run_time() -> None:
    # mypy refuses such a literal where it is written; a code read from a file (a saved plan)
    # is checked when it becomes a Diagnostic.
    unregistered = "E999"
    with pytest.raises(ValueError, match="E999 is not registered"):
        Diagnostic(unregistered, "no such code")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="E999 is not registered"):
        Diagnostics().add(unregistered, "no such code")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="W302 is not registered"):
        code_id("W302")
    assert code_id("E305") == "E305"


def test_explain_reads_the_data_file(capsys: pytest.CaptureFixture[str]) -> None:
    entry = _data_file()["E443"]
    assert main(["explain", "E443"]) == 0
    assert capsys.readouterr().out == f"E443: {entry['title']}\n\n{entry['explanation']}\n"


def test_one_exception_type_carries_diagnostics() -> None:
    """Every exception that crosses a stage boundary with diagnostics is a StageError holding
    them in `diagnostics`, sorted, and nothing else."""
    late = Diagnostic("E301", "unknown reference", Span("b.yml", 3, 1))
    early = Diagnostic("E202", "unknown property", Span("a.yml", 9, 5))
    carriers: list[StageError] = [
        StageError([late, early]),
        PlanError([late, early]),
        StalePlan([late, early]),
    ]
    for error in carriers:
        assert error.diagnostics == (early, late)
        assert str(error) == f"{early}\n{late}"
    single: list[tuple[StageError, Diagnostic]] = [
        (StateError("state x is damaged"), Diagnostic("E707", "state x is damaged")),
        (StateLocked("held by bob"), Diagnostic("E702", "held by bob")),
        (StateConflict("changed", code="E703"), Diagnostic("E703", "changed")),
    ]
    unavailable = EmulatorUnavailable("module moto is missing")
    (diagnostic,) = unavailable.diagnostics
    assert diagnostic.code == "E706"
    assert diagnostic.message.startswith(
        "the embedded AWS emulator is not installed (module moto is missing); install it with"
    )
    single.append((unavailable, diagnostic))
    for error, diagnostic in single:
        assert error.diagnostics == (diagnostic,)
        # their text is the message alone: apply reports a failed change with str(error)
        assert str(error) == diagnostic.message
    for error in [*carriers, *(error for error, _ in single)]:
        assert isinstance(error, StageError)
        assert set(vars(error)) == {"diagnostics"}, type(error).__name__


def test_a_state_error_survives_pickling() -> None:
    locked = pickle.loads(pickle.dumps(StateLocked("held by bob")))
    assert type(locked) is StateLocked
    assert locked.diagnostics == (Diagnostic("E702", "held by bob"),)


def test_every_registered_code_is_emitted_and_every_emitted_code_is_registered(
    request: pytest.FixtureRequest,
) -> None:
    """Runs last (tests/emitted_codes.py moves it there) over what the whole suite emitted."""
    recorder = request.config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(recorder, EmittedCodes)
    if recorder.incomplete:
        pytest.skip(f"needs the whole suite ({'; '.join(recorder.incomplete)})")
    if recorder.failed:
        pytest.skip(f"{recorder.failed} other tests failed, so some codes may not have been made")
    registered = set(get_args(CodeId))
    unregistered = sorted(recorder.codes - registered)
    assert not unregistered, f"emitted but not registered: {', '.join(unregistered)}"
    never_emitted = sorted(registered - recorder.codes)
    assert not never_emitted, f"registered but emitted by no test: {', '.join(never_emitted)}"
