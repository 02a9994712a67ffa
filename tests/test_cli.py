"""`orgc` as a user meets it: output shapes and exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator

TOP = Path(__file__).parent.parent

BROKEN = """\
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties:
      AccountName: management
      AccountId: 012345678901
  Shop:
    Type: OC::ORG::Account
    Properties:
      AcountName: shop
      RootEmail: shop@example.com
  Prod:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: prod
      Accounts: [Shop]
"""


def test_validate_reports_every_mistake_sorted_with_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text(BROKEN, encoding="utf-8")
    assert main(["validate", "organization.yml"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "organization.yml:6:18: error[E305]: account id 012345678901 was read as the number "
        "12345678901; quote it: '012345678901'",
        "organization.yml:10:7: error[E202]: unknown property 'AcountName' for OC::ORG::Account "
        "(did you mean AccountName?)",
        "organization.yml:16:18: error[E302]: 'Shop' is a plain string; write !Ref Shop",
        "3 errors, 0 warnings",
    ]


def test_validate_accepts_the_example_as_a_directory_a_task_file_or_the_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for path in (
        "organization",
        "organization/organization-tasks.yml",
        "organization/organization.yml",
    ):
        assert main(["validate", str(TOP / path), "--root", str(TOP)]) == 0
        assert capsys.readouterr().out == "0 errors, 0 warnings\n"


def test_yaml_syntax_error_is_a_diagnostic_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text("Organization:\n  A: [unclosed\n", encoding="utf-8")
    assert main(["validate", "organization.yml"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("organization.yml:3:1: error[E101]: YAML syntax error")
    assert "Traceback" not in out


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "e305"]) == 0
    assert capsys.readouterr().out.startswith("E305: account id read as a number\n")
    assert main(["explain", "E999"]) == 2


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["plan"])
    assert raised.value.code == 2


def test_apply_without_a_terminal_needs_auto_approve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["apply", str(TOP / "organization"), "--endpoint-url", "http://127.0.0.1:9"]) == 2
    assert "--auto-approve" in capsys.readouterr().err


def test_detailed_exitcode_and_formats(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(TOP)
    state = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]
    assert main(["plan", "organization", "--detailed-exitcode", *state]) == 2
    capsys.readouterr()
    assert main(["plan", "organization", "--format", "markdown", *state]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("### orgc plan for `o-")
    assert "| + | account | create account example-payments-prod" in markdown
    assert main(["plan", "organization", "--format", "json", *state]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"] == {
        "adopt": 1,
        "attach": 5,
        "create": 96,  # 39 in the organization, 57 stacks
        "enable": 2,
        "move": 10,
        "update": 1,
    }
    assert main(["apply", "organization", "--auto-approve", *state]) == 0
    assert main(["plan", "organization", "--detailed-exitcode", *state]) == 0
    replanned = capsys.readouterr().out
    assert "No changes." in replanned
    assert "Unchanged: 57 target(s)" in replanned


@pytest.mark.parametrize("name", ["saved.plan", "plan.json", "tfplan", "review.yml"])
def test_a_saved_plan_is_known_by_its_content_whatever_its_name(  # noqa: PLR0917
    name: str,
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(TOP)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    state = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]
    saved = tmp_path / name
    assert main(["plan", "organization/organization.yml", "--out", str(saved), *state]) == 0
    planned = capsys.readouterr()
    assert f"apply it with: orgc apply {saved}" in planned.err

    assert main(["show", str(saved)]) == 0
    assert capsys.readouterr().out == planned.out
    assert main(["show", str(saved), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == json.loads(saved.read_text(encoding="utf-8"))
    assert main(["show", str(saved), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("### orgc plan for `o-")

    # Reviewed when it was made: applied without a terminal and without --auto-approve.
    assert main(["apply", str(saved), *state]) == 0
    applied = capsys.readouterr().out
    assert "Apply complete:" in applied
    assert main(["plan", "organization/organization.yml", "--detailed-exitcode", *state]) == 0
    assert "No changes." in capsys.readouterr().out


def test_task_and_organization_files_are_never_taken_for_saved_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (
        TOP / "organization" / "organization-tasks.yml",
        TOP / "organization" / "organization.yml",
    ):
        assert main(["show", str(path)]) == 1
        assert capsys.readouterr().err == (
            f"orgc: error[E606]: {path} is not a plan saved by `orgc plan --out` "
            '(a saved plan is a JSON document with "format": "orgc-plan")\n'
        )
    # JSON that is not a plan, and a flow-style YAML organization, are not plans either.
    other = tmp_path / "organization.json"
    other.write_text('{"Organization": {}, "format": "yaml"}', encoding="utf-8")
    assert main(["show", str(other)]) == 1
    assert "is not a plan saved by `orgc plan --out`" in capsys.readouterr().err


def test_a_file_that_is_not_a_saved_plan_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    saved = json.loads(
        (TOP / "tests/scenarios/plan/suspended-account/plan.golden.json").read_text("utf-8")
    )
    other_version = {**saved, "version": 0}
    unknown_code = {**saved, "warnings": [{**saved["warnings"][0], "code": "W999"}]}
    for document, message in [
        (
            other_version,
            "plan.json is a plan of format version 0, and this orgc reads version 2 only; run "
            "orgc plan again",
        ),
        (
            unknown_code,
            "plan.json is not a plan saved by `orgc plan --out` (diagnostic code W999 is not "
            "registered)",
        ),
    ]:
        Path("plan.json").write_text(json.dumps(document), encoding="utf-8")
        # Refused before any AWS call: nothing listens on port 9.
        argv = ["apply", "plan.json", "--auto-approve", "--endpoint-url", "http://127.0.0.1:9"]
        assert main(argv) == 1
        assert capsys.readouterr().err == f"orgc: error[E606]: {message}\n"


def test_missing_credentials_are_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config").write_text("", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "config"))
    argv = ["plan", str(TOP / "organization"), "--root", str(TOP), "--profile", "nobody"]
    assert main([*argv, "--endpoint-url", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err == (
        "orgc: error[E705]: no usable AWS credentials: Session: ProfileNotFound: the config "
        "profile (nobody) could not be found\n"
    )


def test_render_never_writes_outside_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "organization.yml").write_text(
        "Organization:\n  Management:\n    Type: OC::ORG::MasterAccount\n    Properties:\n"
        "      AccountName: management\n      AccountId: '111111111111'\n",
        encoding="utf-8",
    )
    (project / "t.yml").write_text(
        "Resources:\n  T:\n    Type: AWS::SNS::Topic\n", encoding="utf-8"
    )
    (project / "tasks.yml").write_text(
        "OrganizationUpdate:\n  Type: update-organization\n  Template: ./organization.yml\n"
        "../../escaped:\n  Type: update-stacks\n  Template: t.yml\n  StackName: s\n"
        "  DefaultOrganizationBinding: {IncludeMasterAccount: true}\n"
        "  DefaultOrganizationBindingRegion: eu-west-1\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(project)
    assert main(["render", "tasks.yml", "--out", "out"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "tasks.yml:4:1: error[E118]: '../../escaped' (of task ../../escaped) is not a single "
        "path segment, so its stacks would be written outside out; rename it"
    ]
    assert not (tmp_path / "escaped").exists()
    assert not (project / "out").exists()


def test_copy_to_s3_zip_with_a_symlink_out_of_the_project_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret.txt").write_text("s3cr3t", encoding="utf-8")
    project = tmp_path / "project"
    (project / "site").mkdir(parents=True)
    (project / "site" / "index.html").write_text("<p>hi</p>", encoding="utf-8")
    (project / "site" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (project / "organization.yml").write_text(
        "Organization:\n  Management:\n    Type: OC::ORG::MasterAccount\n    Properties:\n"
        "      AccountName: management\n      AccountId: '111111111111'\n",
        encoding="utf-8",
    )
    (project / "tasks.yml").write_text(
        "OrganizationUpdate:\n  Type: update-organization\n  Template: ./organization.yml\n"
        "Site:\n  Type: copy-to-s3\n  LocalPath: ./site\n  ZipBeforePut: true\n"
        "  RemotePath: s3://acme-site/site.zip\n"
        "  OrganizationBinding: {IncludeMasterAccount: true, Region: eu-west-1}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(project)
    assert main(["validate", "tasks.yml"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "tasks.yml:4:1: error[E344]: cannot read site: site/leak.txt is a symlink to "
        f"{tmp_path / 'secret.txt'}, outside the directory being zipped; copy the file in "
        "instead",
        "1 error, 0 warnings",
    ]


def test_render_into_a_file_is_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").write_text("a file, not a directory", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    top = str(TOP / "organization")
    assert main(["render", top, "--root", str(TOP), "--out", "out"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "orgc: error[E118]: cannot write out/FindingsPublisherRole-Role/AuditAccount/eu-west-1 "
        "under --out: Not a directory"
    ]
