"""A pytest plugin that records the code of every Diagnostic orgc makes during the test session.

tests/test_diagnostics.py compares the record with the registry: every registered code must be
emitted by some test, and every code emitted must be registered. Only diagnostics that orgc
itself makes count (the caller outside `orgc.diagnostics` is an `orgc` module), not the expected
ones a test writes down. The comparison means something only when the whole suite ran, so the
plugin also says whether it did: every test module runs, nothing deselected, no test
chosen by node id, and no other test failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from orgc.diagnostics import Diagnostic

PLUGIN_NAME = "orgc-emitted-codes"
CHECK_NAME = "test_every_registered_code_is_emitted_and_every_emitted_code_is_registered"
TESTS_DIR = Path(__file__).resolve().parent


def _made_by_orgc() -> bool:
    """Whether the Diagnostic being made comes from orgc's code rather than a test's."""
    frame: FrameType | None = sys._getframe(2)  # 0: this function, 1: the recording __init__
    while frame is not None and frame.f_globals.get("__name__") == "orgc.diagnostics":
        frame = frame.f_back  # Diagnostics.add and .extend make them for their callers
    if frame is None:
        return False
    module = str(frame.f_globals.get("__name__", ""))
    return module == "orgc" or module.startswith("orgc.")


class EmittedCodes:
    def __init__(self) -> None:
        self.codes: set[str] = set()
        self.incomplete: list[str] = []  # why the session is not the whole suite
        self.failed = 0
        self._original_init = Diagnostic.__init__

    def start(self) -> None:
        original = self._original_init
        codes = self.codes

        def recording_init(diagnostic: Diagnostic, *args: Any, **kwargs: Any) -> None:
            # A Diagnostic with an unregistered code raises here already, failing the test that
            # made it (a saved plan naming one is refused on purpose); only those made count.
            original(diagnostic, *args, **kwargs)
            if _made_by_orgc():
                codes.add(diagnostic.code)

        setattr(Diagnostic, "__init__", recording_init)  # noqa: B010 (mypy: no method assignment)

    def stop(self) -> None:
        setattr(Diagnostic, "__init__", self._original_init)  # noqa: B010

    # --- hooks ---------------------------------------------------------------------------

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if items:
            self.incomplete.append(f"{len(items)} tests deselected")

    @pytest.hookimpl(trylast=True)  # after -k, -m and --lf have deselected what they do
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if any("::" in arg for arg in config.args):
            self.incomplete.append("tests chosen by node id")
        running = {item.path for item in items}
        missing = [p for p in TESTS_DIR.glob("test_*.py") if p not in running]
        if missing:
            self.incomplete.append(f"nothing runs from {len(missing)} test modules")
        # The check runs last, when every other test has made its diagnostics.
        checks = [item for item in items if item.name == CHECK_NAME]
        items[:] = [item for item in items if item.name != CHECK_NAME] + checks

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed += 1
