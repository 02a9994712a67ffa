"""Rendered templates through cfn-lint (orgc/lint.py): real findings at the task's line, no
finding for orgc's own known-after-apply markers, and a cache that makes a second run free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_a_deprecated_lambda_runtime_is_a_warning_and_plan_goes_on_to_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "organization.yml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09-OC'\nOrganization:\n  Management:\n"
        "    Type: OC::ORG::MasterAccount\n"
        "    Properties: {AccountName: master, AccountId: '123456789012'}\n",
        encoding="utf-8",
    )
    (tmp_path / "function.yml").write_text(
        "Resources:\n  Old:\n    Type: AWS::Lambda::Function\n    Properties:\n"
        "      Runtime: python3.6\n      Handler: index.handler\n"
        "      Role: arn:aws:iam::123456789012:role/runner\n"
        "      Code: {ZipFile: 'def handler(event, context): return 1'}\n",
        encoding="utf-8",
    )
    (tmp_path / "tasks.yml").write_text(
        "Organization:\n  Type: update-organization\n  Template: ./organization.yml\n"
        "Old:\n  Type: update-stacks\n  Template: ./function.yml\n  StackName: old\n"
        "  DefaultOrganizationBindingRegion: us-east-1\n"
        "  DefaultOrganizationBinding: {IncludeMasterAccount: true}\n",
        encoding="utf-8",
    )
    tasks = str(tmp_path / "tasks.yml")
    found = validate(tmp_path / "tasks.yml", root=tmp_path, lint=True)
    assert [(d.code, d.message.split(" (cfn-lint ")[0]) for d in found] == [
        (
            "W631",
            "task Old: the template of stack old for Management/us-east-1 gives "
            "Resources/Old/Properties/Runtime the Lambda runtime 'python3.6', which AWS "
            "deprecated",
        )
    ]
    assert "AWS may refuse creating or updating a function with it" in found[0].message
    # Past lint: the plan reaches AWS (port 9 answers nothing).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-used")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-used")
    code = main(["plan", tasks, "--root", str(tmp_path), "--endpoint-url", "http://127.0.0.1:9"])
    assert code == 1
    err = capsys.readouterr().err
    assert "error[E701]" in err
    assert "E435" not in err


def test_findings_of_a_template_that_gives_a_runtime_are_kept_one_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime

    from orgc import lint

    class Day(datetime.date):
        today_is = datetime.date(2026, 1, 1)

        @classmethod
        def today(cls) -> Day:
            return cls.fromordinal(cls.today_is.toordinal())

    monkeypatch.setattr(lint, "date", Day)
    body = '{"Resources": {"F": {"Properties": {"Runtime": "nodejs12.x"}}}}'
    first = lint._digest(body, ["us-east-1"], dated=lint._names_a_runtime(body))
    plain = lint._digest("{}", ["us-east-1"], dated=lint._names_a_runtime("{}"))
    Day.today_is = datetime.date(2026, 1, 2)
    assert lint._digest(body, ["us-east-1"], dated=True) != first
    assert lint._digest("{}", ["us-east-1"], dated=False) == plain


def test_the_create_block_of_a_runtime_is_the_same_warning_as_its_update_block() -> None:
    # Which of the two rules fires depends on the day: both are W631, and nothing else is.
    from orgc import lint
    from orgc.render import RenderedStack, StackKey

    function = {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "python3.9"}}
    template: dict[str, Any] = {"Resources": {"Fn": function}}
    stack = RenderedStack(
        key=StackKey("Fns", "Tools", "eu-west-1"),
        stack_name="fns",
        account_id="111111111111",
        template=template,
        parameters={},
    )
    findings = [
        lint.Finding(rule, "Resources/Fn/Properties/Runtime", "Runtime 'python3.9' was ...")
        for rule in ("E2531", "E2533", "E3012")
    ]
    found = lint._diagnostics(findings, [stack], template)
    assert [(d.code, d.message.split(", which ")[0]) for d in found] == [
        (
            "W631",
            "task Fns: the template of stack fns for Tools/eu-west-1 gives "
            "Resources/Fn/Properties/Runtime the Lambda runtime 'python3.9'",
        ),
        (
            "W631",
            "task Fns: the template of stack fns for Tools/eu-west-1 gives "
            "Resources/Fn/Properties/Runtime the Lambda runtime 'python3.9'",
        ),
        (
            "E435",
            "task Fns: the template of stack fns for Tools/eu-west-1 fails cfn-lint E3012 "
            "at Resources/Fn/Properties/Runtime: Runtime 'python3.9' was ...",
        ),
    ]
