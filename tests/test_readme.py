"""The README's promises: CI runs its test command, and its example files are real (its
organization plans on the emulator without a warning)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator

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


def test_the_readme_organization_plans_without_warnings_on_the_emulator(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = (TOP / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```yaml\n(# organization\.yml\n.*?)```", readme, re.S)
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text(example, encoding="utf-8")
    argv = ["plan", "organization.yml", "--state", "state.json", "--endpoint-url"]
    assert main([*argv, emulator.endpoint, "--detailed-exitcode"]) == 2
    shown = capsys.readouterr()
    assert "create account shop <aws-shop@example.com>" in shown.out
    assert "warning[" not in shown.out + shown.err


def test_the_readme_task_file_and_template_validate_and_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (TOP / "README.md").read_text(encoding="utf-8")
    blocks = dict(re.findall(r"```yaml\n# ([\w.-]+)\n(.*?)```", readme, re.S))
    assert sorted(blocks) == ["audit-topic.yml", "organization-tasks.yml", "organization.yml"]
    monkeypatch.chdir(tmp_path)
    for name, text in blocks.items():
        Path(name).write_text(text, encoding="utf-8")
    assert main(["validate", "organization-tasks.yml", "--no-lint"]) == 0
    assert capsys.readouterr().out == "0 errors, 0 warnings\n"
    assert main(["render", "organization-tasks.yml", "--out", "rendered"]) == 0
    # The topic in the management account, its ARN in the prod OU's account, in two regions.
    assert capsys.readouterr().out == "Wrote 4 stack template(s) under rendered\n"
