"""`orgc` as a user meets it: output shapes and exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support.emulated import EXAMPLE_GROUPS, create_groups

from orgc import cli
from orgc.aws import AwsProvider
from orgc.cli import EXIT_CODES, main
from orgc.emulator import Emulator
from orgc.plan import Change
from orgc.state import LocalStateStore
from orgc.terminal import PlainProgress

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
        "organization.yml:6:18: warning[W395]: 012345678901 is an unquoted number with a "
        "leading zero; orgc takes the text as written, but YAML reads it as the number "
        "12345678901 (OrgFormation may too): quote it: '012345678901'",
        "organization.yml:10:7: error[E202]: unknown property 'AcountName' for OC::ORG::Account "
        "(did you mean AccountName?)",
        "organization.yml:16:18: error[E302]: 'Shop' is a plain string; write !Ref Shop",
        "2 errors, 1 warning",
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
    assert main(["explain", "E999"]) == 64


def test_usage_errors_exit_64_never_2_which_means_changes_present(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (["plan"], ["plan", "x", "--format", "html"], ["frobnicate"], []):
        assert main(argv) == 64, argv
        err = capsys.readouterr().err
        assert err.startswith("usage: orgc"), argv
        assert "error: " in err
    assert main(["plan", "x", "--parameter", "novalue"]) == 64
    assert capsys.readouterr().err == "orgc: --parameter takes KEY=VALUE, not 'novalue'\n"
    assert main(["--version"]) == 0


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    epilog = capsys.readouterr().out.split("exit codes:\n", 1)[1]
    listed = [int(line.split()[0]) for line in epilog.splitlines() if line[:5].strip()]
    assert listed == list(EXIT_CODES)
    assert EXIT_CODES[2] == "plan --detailed-exitcode: there are changes"
    readme = (TOP / "README.md").read_text(encoding="utf-8")
    table = readme.split("| exit code | meaning |", 1)[1].split("\n\n", 1)[0]
    assert [int(row.split("|")[1]) for row in table.strip().splitlines()[1:]] == list(EXIT_CODES)


def test_a_path_that_cannot_be_read_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nonexistent.json"
    argv = ["state", "import", str(missing), "--state", str(tmp_path / "state.json")]
    assert main([*argv, "--endpoint-url", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err == (
        f"orgc: error[E100]: cannot read {missing}: No such file or directory\n"
    )


def test_a_failing_credential_provider_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[profile broken]\ncredential_process = /bin/false\nregion = us-east-1\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    argv = ["plan", str(TOP / "organization"), "--root", str(TOP), "--profile", "broken"]
    assert main([*argv, "--endpoint-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "orgc: error[E705]: no usable AWS credentials: Session: CredentialRetrievalError: "
        "Error when retrieving credentials from custom-process"
    )
    assert "bug in orgc" not in err


def test_a_lock_held_by_another_run_exits_5(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(TOP)
    state = tmp_path / "state.json"
    argv = ["apply", "organization/organization.yml", "--auto-approve", "--state", str(state)]
    with LocalStateStore(state).lock("another run"):
        assert main([*argv, "--endpoint-url", emulator.endpoint]) == 5
    err = capsys.readouterr().err
    assert err.startswith("orgc: error[E702]: ")
    assert "bug in orgc" not in err


def test_a_bug_exits_4_and_an_interrupt_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("an invariant does not hold")

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli._COMMANDS, "explain", broken)
    assert main(["explain", "E100"]) == 4
    err = capsys.readouterr().err
    assert "RuntimeError: an invariant does not hold" in err
    assert err.endswith("orgc: this is a bug in orgc; please report it with the trace above\n")
    monkeypatch.setitem(cli._COMMANDS, "explain", interrupted)
    assert main(["explain", "E100"]) == 130
    assert capsys.readouterr().err == "orgc: interrupted\n"


def test_apply_without_a_terminal_needs_auto_approve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["apply", str(TOP / "organization"), "--endpoint-url", "http://127.0.0.1:9"]) == 64
    assert "--auto-approve" in capsys.readouterr().err


def test_detailed_exitcode_and_formats(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(TOP)
    create_groups(*EXAMPLE_GROUPS)
    state = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]
    assert main(["plan", "organization", "--detailed-exitcode", *state]) == 2
    capsys.readouterr()
    assert main(["plan", "organization", "--format", "markdown", *state]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("### orgc plan for `o-")
    assert "\n- `+` create account example-payments-prod &lt;" in markdown
    assert main(["plan", "organization", "--format", "json", *state]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"] == {
        "adopt": 1,
        "attach": 5,
        # 39 in the organization, 13 alternate contacts, 2 permission sets and their 34
        # assignments, 57 stacks
        "create": 145,
        "enable": 5,  # 2 policy types, 3 trusted services
        "move": 10,
        "register": 2,  # GuardDuty's and Security Hub's delegated administrator
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
    create_groups(*EXAMPLE_GROUPS)
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
    assert main(["show", str(saved), "--format", "markdown", "--max-bytes", "1500"]) == 0
    cut = capsys.readouterr().out
    assert len(cut.encode()) <= 1500
    assert f"changes shown.** The whole plan: `orgc show {saved}`" in cut
    assert main(["show", str(saved), "--max-bytes", "0"]) == 64
    assert "--max-bytes: invalid _positive_int value" not in capsys.readouterr().err

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


SMALL = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: master, AccountId: '123456789012'}
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {OrganizationalUnitName: prod, Accounts: [!Ref Shop, !Ref Search]}
  Shop:
    Type: OC::ORG::Account
    Properties: {AccountName: shop, RootEmail: aws-shop@example.com}
  Search:
    Type: OC::ORG::Account
    Properties: {AccountName: search, RootEmail: aws-search@example.com}
"""


@pytest.fixture
def small(
    aws: AwsProvider, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """A small organization file in the working directory, and the options to plan it."""
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text(SMALL, encoding="utf-8")
    return ["--state", "state.json", "--endpoint-url", emulator.endpoint]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_plan_and_apply_json_are_event_streams(
    small: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "organization.yml", "--json", *small]) == 0
    events = json_lines(capsys.readouterr().out)
    assert events[0]["event"] == "started"
    assert events[0]["command"] == "plan"
    planned = [e for e in events if e["event"] == "planned"]
    assert {e["id"] for e in planned} == {
        "organizational-unit.create:ProdOU",
        "account.adopt:Management",
        "account.create:Shop",
        "account.create:Search",
        "account.move:Shop",
        "account.move:Search",
    }
    assert events[-1]["event"] == "done"
    assert events[-1]["changes"] == 6
    assert events[-1]["exitCode"] == 0

    assert main(["apply", "organization.yml", "--json", "--auto-approve", *small]) == 0
    shown = capsys.readouterr()
    events = json_lines(shown.out)  # stdout holds the events alone
    assert "Apply complete: 6 changes" in shown.err
    assert events[0] == {**events[0], "event": "started", "command": "apply"}
    changes = [e for e in events if "id" in e]
    for change_id in {e["id"] for e in changes}:
        assert [e["event"] for e in changes if e["id"] == change_id] == ["started", "done"]
    created = next(e for e in changes if e["id"] == "account.create:Shop" and e["event"] == "done")
    assert created["kind"] == "account"
    assert created["action"] == "create"
    assert len(created["physicalId"]) == 12  # the id of the account this run created
    assert isinstance(created["seconds"], float)
    assert events[-1] == {**events[-1], "event": "done", "done": 6, "failed": 0, "exitCode": 0}

    # A plan that cannot be made ends with a failed event that carries the diagnostics.
    Path("organization.yml").write_text(SMALL.replace("AccountName: shop", "AcountName: shop"))
    assert main(["plan", "organization.yml", "--json", *small]) == 1
    failed = json_lines(capsys.readouterr().out)[-1]
    assert failed["event"] == "failed"
    assert failed["exitCode"] == 1
    assert [(d["code"], d["line"]) for d in failed["diagnostics"]][:1] == [("E202", 11)]


def test_ctrl_c_says_what_finished_and_was_recorded(
    small: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[str] = []
    original = PlainProgress.show

    def interrupt_after_two(
        self: PlainProgress, event: str, change: Change, message: str, seconds: float | None
    ) -> None:
        original(self, event, change, message, seconds)
        if event == "done":
            shown.append(change.id)
            if len(shown) == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(PlainProgress, "show", interrupt_after_two)
    assert main(["apply", "organization.yml", "--auto-approve", *small]) == 130
    err = capsys.readouterr().err
    lines = err.splitlines()
    at = lines.index("2 change(s) finished and are recorded in the state:")
    assert err.endswith("orgc: interrupted\n")
    summaries = lines[at + 1 : at + 3]
    assert all(line.startswith("  ") for line in summaries)
    # What was said to be recorded is in the state.
    state = LocalStateStore(Path("state.json")).read()
    done_accounts = [s for s in summaries if "account" in s and "create" in s]
    assert len(state.accounts) >= 1 + len(done_accounts)


def test_colour_follows_the_switch_and_no_color(
    small: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "organization.yml", *small]) == 0
    assert "\x1b[" not in capsys.readouterr().out  # not a terminal
    assert main(["plan", "organization.yml", "--color", "always", *small]) == 0
    assert "\x1b[32m  + create OU prod under the root\x1b[0m" in capsys.readouterr().out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["plan", "organization.yml", *small]) == 0
    assert "\x1b[" not in capsys.readouterr().out
    monkeypatch.delenv("NO_COLOR")
    assert main(["plan", "organization.yml", "--color", "never", *small]) == 0
    assert "\x1b[" not in capsys.readouterr().out
    assert main(["plan", "organization.yml", *small]) == 0
    assert "\x1b[36m  → move account Shop" in capsys.readouterr().out


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
