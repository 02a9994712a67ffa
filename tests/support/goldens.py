"""Golden files: what the code produced when it was last known to be right.

A test compares what the code produces now with the file; `pytest --update-golden` writes the
file from what the code produces instead (and then the comparison holds by construction, so a
run with the option proves nothing but refreshes everything). Review the diff before committing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from orgc.diagnostics import Diagnostic, StageError
from orgc.plan import PlanError

T = TypeVar("T")

ERRORS_FILE = "errors.golden.txt"


@dataclass(frozen=True, slots=True, kw_only=True)
class Golden:
    """Compares with golden files, or rewrites them when `update` (from `--update-golden`)."""

    update: bool

    def text(self, path: Path, actual: str) -> None:
        """`actual` is the file's text, byte for byte."""
        if self.update:
            path.write_text(actual, encoding="utf-8")
        assert actual == path.read_text(encoding="utf-8")

    def json(self, path: Path, actual: str) -> None:
        """`actual` is JSON equal to the file's (layout and key order aside)."""
        if self.update:
            path.write_text(actual, encoding="utf-8")
        assert json.loads(actual) == json.loads(path.read_text(encoding="utf-8"))


def diagnostics_text(diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]) -> str:
    """Diagnostics as an errors golden holds them: one `file:line:col: ...` line each."""
    return "".join(f"{diagnostic}\n" for diagnostic in diagnostics)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendering(Generic[T]):
    """One golden file of a result: its name in the folder, how the result is written there,
    and whether it is compared as JSON or as text."""

    name: str
    render: Callable[[T], str]
    as_json: bool = False


def check_outcome(
    folder: Path,
    produce: Callable[[], T],
    golden: Golden,
    *,
    failures: tuple[type[PlanError] | type[StageError], ...],
    renderings: tuple[Rendering[T], ...],
) -> T | None:
    """Run `produce` for a scenario folder and compare what it gives with the folder's goldens.

    A folder with `errors.golden.txt` must fail with one of `failures`, whose diagnostics are
    the file's lines; any other folder must succeed, and each rendering of the result is its
    golden file. Returns the result (None when it failed as expected).
    """
    errors_file = folder / ERRORS_FILE
    try:
        result = produce()
    except failures as error:
        text = diagnostics_text(error.diagnostics)
        if golden.update:
            errors_file.write_text(text, encoding="utf-8")
        assert errors_file.exists(), f"{folder.name} failed unexpectedly:\n{text}"
        assert text == errors_file.read_text(encoding="utf-8")
        return None
    assert not errors_file.exists(), f"{folder.name} was expected to fail"
    for rendering in renderings:
        compare = golden.json if rendering.as_json else golden.text
        compare(folder / rendering.name, rendering.render(result))
    return result


def expects_failure(folder: Path) -> bool:
    """Whether the scenario in `folder` is one that must fail (it has an errors golden)."""
    return (folder / ERRORS_FILE).exists()


def folders(parent: Path) -> list[Path]:
    """The scenario folders under `parent`, by name."""
    return sorted(path for path in parent.iterdir() if path.is_dir())
