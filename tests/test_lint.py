"""Rendered templates through cfn-lint (orgc/lint.py): real findings at the task's line, no
finding for orgc's own known-after-apply markers, and a cache that makes a second run free."""

from __future__ import annotations

from pathlib import Path

import pytest

from orgc.cli import main
from orgc.diagnostics import Diagnostic
from orgc.load import display_path
from orgc.pipeline import validate

CASE = Path(__file__).parent / "cases" / "lint"
TOP = Path(__file__).parent.parent

pytest.importorskip("cfnlint", reason="cfn-lint is part of the dev extra")


def test_unknown_types_and_properties_are_errors_at_the_task_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(CASE / "tasks.yml"), "--root", str(CASE)]) == 1
    task_file = display_path(CASE / "tasks.yml")
    assert capsys.readouterr().out.splitlines() == [
        f"{task_file}:4:1: error[E435]: task Params: the template of stack params for "
        "Shop/eu-west-1 fails "
        "cfn-lint E3002 at Resources/Prop/Properties/Nme: Additional properties are not allowed "
        "('Nme' was unexpected. Did you mean 'Name'?)",
        f"{task_file}:4:1: error[E435]: task Params: the template of stack params for "
        "Shop/eu-west-1 fails "
        "cfn-lint E3006 at Resources/Typo/Type: Resource type 'AWS::SSM::Parametr' does not "
        "exist in 'eu-west-1'",
        "2 errors, 0 warnings",
    ]
    assert main(["validate", str(CASE / "tasks.yml"), "--root", str(CASE), "--no-lint"]) == 0


def test_plan_refuses_before_any_aws_call(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 9 answers nothing: the plan must stop at the findings, before it reaches AWS.
    code = main(
        [
            "plan",
            str(CASE / "tasks.yml"),
            "--root",
            str(CASE),
            "--endpoint-url",
            "http://127.0.0.1:9",
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("error[E435]") == 2
    assert "E701" not in err


def test_markers_and_the_example_landing_zone_lint_clean() -> None:
    # The example's templates hold cross-account references, ForeachAccount copies named by
    # account ids known only after apply, and organization ids: none of them is a finding.
    found = validate(TOP / "organization", root=TOP, lint=True)
    assert [d for d in found if d.code == "E435"] == []


def test_findings_are_cached_by_content(monkeypatch: pytest.MonkeyPatch) -> None:
    first = validate(CASE / "tasks.yml", root=CASE, lint=True)

    def no_linting(*args: object) -> None:
        raise AssertionError("cfn-lint ran although the template was linted before")

    monkeypatch.setattr("orgc.lint._lint", no_linting)
    again = validate(CASE / "tasks.yml", root=CASE, lint=True)
    assert again == first
    assert sum(1 for d in again if isinstance(d, Diagnostic) and d.code == "E435") == 2
