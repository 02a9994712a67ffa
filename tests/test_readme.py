"""The README's promises: CI runs its test command, and its example files are real."""

from __future__ import annotations

import re
from pathlib import Path

TOP = Path(__file__).parent.parent


def _shell_blocks() -> list[str]:
    readme = (TOP / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", readme, re.S)]


def test_readme_gives_exactly_two_commands_for_a_fresh_machine() -> None:
    blocks = _shell_blocks()
    assert len(blocks) == 2
    assert all("\n" not in block for block in blocks)
    setup_and_run, setup_and_test = blocks
    assert "orgc apply organization/ --emulator" in setup_and_run
    assert "pytest" in setup_and_test


def test_ci_runs_the_readme_test_command() -> None:
    script = (TOP / ".ci" / "run").read_text(encoding="utf-8")
    assert _shell_blocks()[1] in script.splitlines()
