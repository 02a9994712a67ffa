"""Task files that do not manage the organization, replayed on the emulator: an
annotate-organization task (the organization read from AWS, logical ids from its
AccountMapping), a skipped update-organization task whose file does not exist, and a task that
loses both of its stacks to a parameter (below the mass-delete guard's floor). Each scenario
ends with a plan that has no change; what the accounts hold is read with boto3.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.compat import account_id, orgc, plan, scenario, stacks
from support.emulated import ACCESS_ROLE, MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator


def create_account(name: str) -> str:
    client = boto3.client("organizations", region_name="us-east-1")
    status = client.create_account(AccountName=name, Email=f"{name}@example.com")
    return str(status["CreateAccountStatus"]["AccountId"])


def recorded_stacks() -> list[dict[str, Any]]:
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    return list(state.get("stacks") or [])


def test_annotate_organization_binds_against_the_live_organization_by_its_mapping(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = scenario("annotate", tmp_path, monkeypatch)
    audit, sandbox = create_account("audit"), create_account("sandbox")
    tasks = root / "1-deploy.yml"
    text = tasks.read_text(encoding="utf-8")
    tasks.write_text(text.replace("__AUDIT__", audit).replace("__SANDBOX__", sandbox))

    capsys.readouterr()
    assert orgc(emulator, "validate", "1-deploy.yml") == 0
    assert capsys.readouterr().out.splitlines() == ["0 errors, 0 warnings"]
    first = plan(emulator, capsys, "1-deploy.yml")
    assert sorted(c["logicalId"] for c in first["changes"]) == [
        "AuditBucket/Audit Account/eu-west-1",
        "EveryAccount/Audit Account/eu-west-1",
    ]
    assert first["skipped"] == [
        "organization (annotate-organization task Annotate): not changed; the tasks bind "
        "against the organization as read from AWS, written to "
        ".orgc/live-organization/organization.yml"
    ]
    assert orgc(emulator, "apply", "1-deploy.yml", "--auto-approve") == 0
    assert stacks(audit, "eu-west-1") == {"compat-audit-bucket", "compat-every-account"}
    # ExcludeAccounts leaves the sandbox out of the organization the tasks see.
    assert stacks(sandbox, "eu-west-1") == set()
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()
    # The organization is never changed from it: no OU, no policy was created.
    client = boto3.client("organizations", region_name="us-east-1")
    root_id = client.list_roots()["Roots"][0]["Id"]
    assert (
        client.list_organizational_units_for_parent(ParentId=root_id)["OrganizationalUnits"] == []
    )
    assert orgc(emulator, "plan", "1-deploy.yml", "--detailed-exitcode") == 0

    # A mapped account the organization does not hold: a plan-time diagnostic at the mapping.
    capsys.readouterr()
    assert orgc(emulator, "plan", "2-unknown-account.yml") == 1
    assert capsys.readouterr().err.splitlines() == [
        "2-unknown-account.yml:4:22: error[E467]: AccountMapping of task Annotate maps "
        "'Audit Account' to account 999999999999, which is not an account of the organization "
        "(read from AWS); check the id"
    ]


def test_annotate_organization_shapes_are_checked_offline_before_any_aws_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario("annotate", tmp_path, monkeypatch)
    # No endpoint and no credentials: the files are refused before AWS is asked anything.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-used")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-used")
    capsys.readouterr()
    assert main(["plan", "3-shapes.yml", "--endpoint-url", "http://127.0.0.1:9"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "3-shapes.yml:4:12: error[E465]: AccountMapping of task Annotate maps 'Audit' to 1234, "
        "which is not an account id; give the 12 digits of the account",
        "3-shapes.yml:6:14: error[E466]: AccountMapping of task Annotate maps both 'Logs' and "
        "'Archive' to account 111111111111; an account has one logical id",
        "3-shapes.yml:7:21: error[E465]: ExcludeAccounts of task Annotate lists 'sandbox', "
        "which is not an account id; give the 12 digits of each account to leave out",
        "3-shapes.yml:9:5: warning[W465]: OrganizationalUnitMapping of task Annotate is not "
        "used: orgc names the OUs of the organization it reads after their names; bindings by "
        "OU work on those names' logical ids",
    ]


def test_a_skipped_organization_task_whose_file_is_missing_needs_it_only_when_a_task_runs(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = scenario("skip-without-organization", tmp_path, monkeypatch)
    assert not (root / "organization.yml").exists()

    # Every task skipped: the skipped tasks' !Ref AccountA is no error, nothing is deployed,
    # and no W320 notice for the skipped CDK task.
    capsys.readouterr()
    assert orgc(emulator, "validate", "1-all-skipped.yml") == 0
    assert capsys.readouterr().out.splitlines() == ["0 errors, 0 warnings"]
    first = plan(emulator, capsys, "1-all-skipped.yml")
    assert first["changes"] == []
    assert first["skipped"] == [
        "update-stacks task AfterUnwritten (it depends on skipped task Unwritten): not run",
        "organization (Skip: true, and its file organization.yml does not exist): not changed; "
        "the tasks bind against the organization as read from AWS, written to "
        ".orgc/live-organization/organization.yml",
        "update-stacks task Unwritten (Skip: true): not run",
        "copy-to-s3 task Upload (Skip: true): not run",
        "update-cdk task Workload (Skip: true): not run",
    ]
    assert orgc(emulator, "apply", "1-all-skipped.yml", "--auto-approve") == 0
    assert recorded_stacks() == []
    assert orgc(emulator, "plan", "1-all-skipped.yml", "--detailed-exitcode") == 0

    # A task runs: it binds against the organization read from AWS.
    assert orgc(emulator, "validate", "2-one-runs.yml") == 0
    assert orgc(emulator, "apply", "2-one-runs.yml", "--auto-approve") == 0
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"compat-settings"}
    assert [r["stackName"] for r in recorded_stacks()] == ["compat-settings"]
    assert orgc(emulator, "plan", "2-one-runs.yml", "--detailed-exitcode") == 0


def test_a_parameter_dropping_the_management_account_deletes_both_stacks_without_asking(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("drop-management", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"compat-drop-management"}
    assert stacks(MANAGEMENT_ACCOUNT_ID, "us-east-1") == {"compat-drop-management"}
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0

    # 2 of 2 stacks leave the binding: below the floor of 5, no refusal, but named.
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--parameter", "withManagement=false") == 0
    text = capsys.readouterr().out
    assert "DELETES:" in text
    assert text.count("delete stack compat-drop-management in MasterAccount") == 2
    assert (
        orgc(
            emulator, "apply", "tasks.yml", "--auto-approve", "--parameter", "withManagement=false"
        )
        == 0
    )
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()
    assert stacks(MANAGEMENT_ACCOUNT_ID, "us-east-1") == set()
    assert recorded_stacks() == []
    assert (
        orgc(
            emulator,
            "plan",
            "tasks.yml",
            "--detailed-exitcode",
            "--parameter",
            "withManagement=false",
        )
        == 0
    )


def rendered(out: Path) -> list[tuple[str, str, str, str, str]]:
    """What render wrote: (task, stack, account, account id, region) of each stack."""
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    return sorted(
        (e["task"], e["stackName"], e["account"], e["accountId"], e["region"]) for e in index
    )


def template(out: Path, task: str, account: str, region: str) -> dict[str, Any]:
    path = out / task / account / region / "template.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_render_and_graph_read_the_annotated_organization_from_aws(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = scenario("annotate", tmp_path, monkeypatch)
    audit, sandbox = create_account("audit"), create_account("sandbox")
    tasks = root / "1-deploy.yml"
    text = tasks.read_text(encoding="utf-8")
    tasks.write_text(text.replace("__AUDIT__", audit).replace("__SANDBOX__", sandbox))

    capsys.readouterr()
    assert orgc(emulator, "render", "1-deploy.yml", "--out", "out") == 0
    printed = capsys.readouterr()
    assert (printed.out, printed.err) == ("Wrote 2 stack template(s) under out\n", "")
    # Bound by the mapping; the sandbox account is excluded, the management account unbound.
    assert rendered(root / "out") == [
        ("AuditBucket", "compat-audit-bucket", "Audit Account", audit, "eu-west-1"),
        ("EveryAccount", "compat-every-account", "Audit Account", audit, "eu-west-1"),
    ]
    body = template(root / "out", "AuditBucket", "Audit Account", "eu-west-1")
    assert body["Resources"] == {"Bucket": {"Type": "AWS::S3::Bucket"}}
    assert body["Outputs"] == {"Account": {"Value": {"Ref": "AWS::AccountId"}}}

    assert orgc(emulator, "graph", "1-deploy.yml", "--format", "mermaid") == 0
    # Each task's stacks in the organization read from AWS (the sandbox account excluded).
    assert capsys.readouterr().out.splitlines() == [
        "flowchart LR",
        '  subgraph task_AuditBucket_cd036c["update-stacks AuditBucket"]',
        '    stack_AuditBucket_Audit_Account_eu_west_1_91453e["Audit Account eu-west-1"]',
        "  end",
        '  subgraph task_EveryAccount_050821["update-stacks EveryAccount"]',
        '    stack_EveryAccount_Audit_Account_eu_west_1_c964bb["Audit Account eu-west-1"]',
        "  end",
        '  task_Annotate_64783c["annotate-organization Annotate"]',
    ]

    # Read only: nothing deployed, no state written, the organization unchanged.
    assert stacks(audit, "eu-west-1") == set()
    assert not (root / "state.json").exists()
    client = boto3.client("organizations", region_name="us-east-1")
    assert len(client.list_accounts()["Accounts"]) == 3


@pytest.mark.parametrize("command", ["render", "graph"])
def test_render_and_graph_check_the_files_before_reading_the_organization(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    project = scenario("annotate", tmp_path, monkeypatch)
    # No endpoint answers: invalid files are refused before AWS is asked anything.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-used")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-used")
    unreachable = ["--endpoint-url", "http://127.0.0.1:9"]
    out = ["--out", str(tmp_path / "out")] if command == "render" else []
    capsys.readouterr()
    assert main([command, "3-shapes.yml", *out, *unreachable]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert [line.split(": ")[1] for line in printed.err.splitlines()] == [
        "error[E465]",
        "error[E466]",
        "error[E465]",
        "warning[W465]",
    ]
    # Valid files: the organization is read, and an endpoint that does not answer is a
    # diagnostic, not a trace.
    deploy = project / "1-deploy.yml"
    text = deploy.read_text(encoding="utf-8")
    deploy.write_text(
        text.replace("__AUDIT__", "111111111111").replace("__SANDBOX__", "222222222222"),
        encoding="utf-8",
    )
    assert main([command, "1-deploy.yml", *out, *unreachable]) == 1
    printed = capsys.readouterr()
    assert (printed.out, printed.err.splitlines()) == (
        "",
        [
            "orgc: error[E701]: STS.GetCallerIdentity: EndpointConnectionError: Could not "
            'connect to the endpoint URL: "http://127.0.0.1:9/"'
        ],
    )
    # A profile that does not exist: credentials that cannot be had.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert main([command, "1-deploy.yml", *out, "--profile", "nowhere"]) == 1
    printed = capsys.readouterr()
    assert (printed.out, printed.err.splitlines()) == (
        "",
        [
            "orgc: error[E705]: no usable AWS credentials: Session: ProfileNotFound: the "
            "config profile (nowhere) could not be found"
        ],
    )
    assert not (tmp_path / "out").exists()


def test_render_of_a_skipped_organization_task_whose_file_is_missing_reads_it_from_aws(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = scenario("render-live", tmp_path, monkeypatch)
    assert not (root / "organization.yml").exists()
    builds = create_account("builds")
    assert orgc(emulator, "validate", "tasks.yml") == 0
    capsys.readouterr()
    assert orgc(emulator, "render", "tasks.yml", "--out", "out") == 0
    assert capsys.readouterr().out == "Wrote 2 stack template(s) under out\n"
    # The accounts are named after their names, as orgc init names them (the state has none).
    management = "MasterAccount"
    assert rendered(root / "out") == sorted(
        [
            ("Roles", "compat-render-roles", "BuildsAccount", builds, "eu-west-1"),
            ("Roles", "compat-render-roles", management, MANAGEMENT_ACCOUNT_ID, "eu-west-1"),
        ]
    )
    body = template(root / "out", "Roles", "BuildsAccount", "eu-west-1")
    assert sorted(body["Resources"]) == ["AuditorParameter", "ReaderParameter"]
    assert body["Resources"]["ReaderParameter"]["Properties"]["Name"] == {
        "Fn::Sub": "/${prefix}/roles/reader"
    }
    parameters = json.loads(
        (root / "out" / "Roles" / "BuildsAccount" / "eu-west-1" / "parameters.json").read_text()
    )
    assert parameters == [{"ParameterKey": "prefix", "ParameterValue": "acme"}]

    # What render printed is what apply deploys; then nothing is left to do.
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    for account in (builds, MANAGEMENT_ACCOUNT_ID):
        assert stacks(account, "eu-west-1") == {"compat-render-roles"}
        ssm = in_account(account, "ssm", "eu-west-1")
        assert ssm.get_parameter(Name="/acme/roles/auditor")["Parameter"]["Value"] == account
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0


def aliases(account: str) -> list[str]:
    return list(in_account(account, "iam").list_account_aliases()["AccountAliases"])


def password_policy(account: str) -> dict[str, Any] | None:
    iam = in_account(account, "iam")
    try:
        return dict(iam.get_account_password_policy()["PasswordPolicy"])
    except iam.exceptions.NoSuchEntityException:
        return None


def recorded_settings() -> dict[str, Any]:
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    return dict(state.get("accountSettings") or {})


def test_an_alias_and_a_password_policy_gone_from_the_files_are_deleted_where_orgc_set_them(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("account-settings", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "1-set.yml", "--auto-approve") == 0
    builds, plain = account_id("builds"), account_id("plain")
    assert aliases(MANAGEMENT_ACCOUNT_ID) == ["compat-management"]
    assert aliases(builds) == ["compat-builds"]
    for account in (MANAGEMENT_ACCOUNT_ID, builds):
        assert (password_policy(account) or {})["MinimumPasswordLength"] == 20
    assert password_policy(plain) is None
    assert recorded_settings() == {
        MANAGEMENT_ACCOUNT_ID: {"alias": "compat-management", "passwordPolicy": True},
        builds: {"alias": "compat-builds", "passwordPolicy": True},
    }
    assert orgc(emulator, "plan", "1-set.yml", "--detailed-exitcode") == 0

    # An alias and a password policy made by hand in the account the files leave bare: not
    # orgc's, never deleted.
    in_account(plain, "iam").create_account_alias(AccountAlias="by-hand")
    in_account(plain, "iam").update_account_password_policy(MinimumPasswordLength=12)

    second = plan(emulator, capsys, "2-unset.yml")
    assert sorted((c["id"], c["physicalId"]) for c in second["changes"]) == [
        ("alias.delete:Builds", builds),
        ("alias.delete:Management", MANAGEMENT_ACCOUNT_ID),
        ("password-policy.delete:Builds", builds),
        ("password-policy.delete:Management", MANAGEMENT_ACCOUNT_ID),
    ]
    capsys.readouterr()
    assert orgc(emulator, "plan", "2-unset.yml") == 0
    text = capsys.readouterr().out
    assert "  - delete IAM alias compat-builds of account Builds (no Alias in the files)" in text
    assert (
        "  - delete the password policy orgc set in account Management (no PasswordPolicy in "
        "the files)" in text
    )
    assert (
        "Destructive:\n  - 2 account alias(es) to delete\n  - 2 password policy(ies) to delete"
        in (text)
    )

    # Saved, read back and applied as saved.
    assert orgc(emulator, "plan", "2-unset.yml", "--out", "unset.plan.json") == 0
    saved = json.loads(Path("unset.plan.json").read_text(encoding="utf-8"))
    deletes = {c["id"]: c["details"] for c in saved["changes"] if c["id"].startswith("alias.")}
    assert deletes["alias.delete:Builds"] == {"alias": "compat-builds", "roleName": ACCESS_ROLE}
    assert deletes["alias.delete:Management"] == {"alias": "compat-management", "roleName": None}
    assert orgc(emulator, "apply", "unset.plan.json", "--auto-approve") == 0
    for account in (MANAGEMENT_ACCOUNT_ID, builds):
        assert aliases(account) == []
        assert password_policy(account) is None
    assert aliases(plain) == ["by-hand"]
    assert (password_policy(plain) or {})["MinimumPasswordLength"] == 12
    assert recorded_settings() == {}
    assert orgc(emulator, "plan", "2-unset.yml", "--detailed-exitcode") == 0


def test_an_alias_changed_by_hand_is_not_orgcs_to_delete(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("account-settings", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "1-set.yml", "--auto-approve") == 0
    builds = account_id("builds")
    iam = in_account(builds, "iam")
    iam.delete_account_alias(AccountAlias="compat-builds")
    iam.create_account_alias(AccountAlias="renamed-by-hand")

    second = plan(emulator, capsys, "2-unset.yml")
    assert sorted(c["id"] for c in second["changes"]) == [
        "alias.delete:Management",
        "password-policy.delete:Builds",
        "password-policy.delete:Management",
    ]
    assert orgc(emulator, "apply", "2-unset.yml", "--auto-approve") == 0
    assert aliases(builds) == ["renamed-by-hand"]
    # The record keeps the alias orgc set; the one AWS has instead is left alone.
    assert recorded_settings() == {builds: {"alias": "compat-builds"}}
    assert orgc(emulator, "plan", "2-unset.yml", "--detailed-exitcode") == 0


def test_an_orgformation_state_import_takes_the_settings_of_its_previous_template(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = scenario("account-settings", tmp_path, monkeypatch)
    builds, plain = create_account("builds"), create_account("plain")
    # What OrgFormation left: the aliases and the management account's password policy its
    # last organization file gave, and a password policy in builds that it never set.
    in_account(MANAGEMENT_ACCOUNT_ID, "iam").create_account_alias(AccountAlias="compat-management")
    in_account(MANAGEMENT_ACCOUNT_ID, "iam").update_account_password_policy(
        MinimumPasswordLength=20
    )
    in_account(builds, "iam").create_account_alias(AccountAlias="compat-builds")
    in_account(builds, "iam").update_account_password_policy(MinimumPasswordLength=14)
    state_file = root / "orgformation-state.json"
    text = state_file.read_text(encoding="utf-8")
    state_file.write_text(text.replace("__BUILDS__", builds).replace("__PLAIN__", plain))

    assert orgc(emulator, "state", "import", "orgformation-state.json") == 0
    assert recorded_settings() == {
        MANAGEMENT_ACCOUNT_ID: {"alias": "compat-management", "passwordPolicy": True},
        builds: {"alias": "compat-builds"},
    }

    second = plan(emulator, capsys, "2-unset.yml")
    assert sorted(c["id"] for c in second["changes"]) == [
        "alias.delete:Builds",
        "alias.delete:Management",
        "password-policy.delete:Management",
    ]
    assert orgc(emulator, "apply", "2-unset.yml", "--auto-approve") == 0
    assert aliases(MANAGEMENT_ACCOUNT_ID) == aliases(builds) == []
    assert password_policy(MANAGEMENT_ACCOUNT_ID) is None
    assert (password_policy(builds) or {})["MinimumPasswordLength"] == 14
    assert recorded_settings() == {}
    assert orgc(emulator, "plan", "2-unset.yml", "--detailed-exitcode") == 0


def test_an_alias_found_as_the_files_give_it_is_noted_as_orgcs_and_deleted_once_removed(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("account-settings", tmp_path, monkeypatch)
    # The accounts exist already, with the aliases and policies the files give them: the
    # first apply adopts them and changes nothing inside them.
    builds, plain = create_account("builds"), create_account("plain")
    in_account(MANAGEMENT_ACCOUNT_ID, "iam").create_account_alias(AccountAlias="compat-management")
    in_account(builds, "iam").create_account_alias(AccountAlias="compat-builds")
    strict = {
        "MinimumPasswordLength": 20,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "MaxPasswordAge": 60,
        "PasswordReusePrevention": 5,
        "AllowUsersToChangePassword": True,
    }
    for account in (MANAGEMENT_ACCOUNT_ID, builds):
        in_account(account, "iam").update_account_password_policy(**strict)

    first = plan(emulator, capsys, "1-set.yml")
    assert sorted(c["id"] for c in first["changes"]) == [
        "account.adopt:Builds",
        "account.adopt:Management",
        "account.adopt:Plain",
    ]
    assert orgc(emulator, "apply", "1-set.yml", "--auto-approve") == 0
    assert recorded_settings() == {
        MANAGEMENT_ACCOUNT_ID: {"alias": "compat-management", "passwordPolicy": True},
        builds: {"alias": "compat-builds", "passwordPolicy": True},
    }
    assert orgc(emulator, "plan", "1-set.yml", "--detailed-exitcode") == 0

    assert orgc(emulator, "apply", "2-unset.yml", "--auto-approve") == 0
    for account in (MANAGEMENT_ACCOUNT_ID, builds, plain):
        assert aliases(account) == []
        assert password_policy(account) is None
    assert recorded_settings() == {}
    assert orgc(emulator, "plan", "2-unset.yml", "--detailed-exitcode") == 0


def _saved_plan_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    root = scenario("annotate-saved", tmp_path, monkeypatch)
    workload, ignored = create_account("workload"), create_account("ignored")
    tasks = root / "tasks.yml"
    text = tasks.read_text(encoding="utf-8")
    tasks.write_text(text.replace("__WORKLOAD__", workload).replace("__IGNORED__", ignored))
    return workload, ignored


def tag(account_id: str, key: str, value: str) -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    client.tag_resource(ResourceId=account_id, Tags=[{"Key": key, "Value": value}])


def test_a_saved_plan_of_annotate_organization_is_applied_while_the_organization_holds(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workload, ignored = _saved_plan_project(tmp_path, monkeypatch)
    assert orgc(emulator, "plan", "tasks.yml", "--out", "saved.plan") == 0
    saved = json.loads(Path("saved.plan").read_text(encoding="utf-8"))
    # The plan carries what it read, not where orgc wrote it down.
    assert saved["liveOrganizationDigest"].startswith("sha256:")
    assert "organizationFile" not in saved["options"]
    # Applied elsewhere (a CI job with a fresh checkout): the organization is read again.
    shutil.rmtree(".orgc")
    capsys.readouterr()
    assert orgc(emulator, "apply", "saved.plan") == 0
    assert stacks(workload, "eu-west-1") == {"compat-saved-marker"}
    # '*' leaves out the management account, and ExcludeAccounts the other one.
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()
    assert stacks(ignored, "eu-west-1") == set()
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("change", ["account joined", "tag changed"])
def test_a_saved_plan_of_annotate_organization_is_refused_once_the_organization_changed(
    tmp_path: Path,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
) -> None:
    workload, _ = _saved_plan_project(tmp_path, monkeypatch)
    assert orgc(emulator, "plan", "tasks.yml", "--out", "saved.plan") == 0
    organization_id = json.loads(Path("saved.plan").read_text(encoding="utf-8"))["organizationId"]
    if change == "account joined":
        newcomer = create_account("newcomer")
        what = f"account newcomer ({newcomer}) joined"
    else:
        tag(workload, "cost-center", "1234")
        what = "its OUs, account names, emails or tags changed"
    capsys.readouterr()
    assert orgc(emulator, "apply", "saved.plan") == 1
    assert capsys.readouterr().err.splitlines() == [
        f"tasks.yml:3:1: error[E720]: organization {organization_id} as read from AWS for the "
        f"annotate-organization task Organization is not the one tasks.yml was planned against "
        f"({what}); the saved plan would deploy to the targets of the old organization: run "
        "orgc plan again and apply the new plan"
    ]
    # Nothing was deployed; a new plan takes the organization as it is now.
    assert stacks(workload, "eu-west-1") == set()
    assert orgc(emulator, "plan", "tasks.yml", "--out", "again.plan") == 0
    assert orgc(emulator, "apply", "again.plan") == 0
    assert stacks(workload, "eu-west-1") == {"compat-saved-marker"}
    if change == "account joined":
        assert stacks(newcomer, "eu-west-1") == {"compat-saved-marker"}


def test_logical_ids_with_dashes_and_underscores_as_older_orgformation_init_wrote_them(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("generated-ids", tmp_path, monkeypatch)
    capsys.readouterr()
    assert orgc(emulator, "validate", "tasks.yml") == 0
    assert capsys.readouterr().out.splitlines() == ["0 errors, 0 warnings"]
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0

    client = boto3.client("organizations", region_name="us-east-1")
    root_id = client.list_roots()["Roots"][0]["Id"]
    [outer] = client.list_organizational_units_for_parent(ParentId=root_id)["OrganizationalUnits"]
    [inner] = client.list_organizational_units_for_parent(ParentId=outer["Id"])[
        "OrganizationalUnits"
    ]
    assert (outer["Name"], inner["Name"]) == ("eu-west-1", "dev_test")
    shared = account_id("shared-services")
    assert [a["Id"] for a in client.list_accounts_for_parent(ParentId=inner["Id"])["Accounts"]] == [
        shared
    ]
    attached = client.list_policies_for_target(TargetId=root_id, Filter="SERVICE_CONTROL_POLICY")
    assert sorted(p["Name"] for p in attached["Policies"]) == ["FullAWSAccess", "deny-leave"]
    assert stacks(shared, "eu-west-1") == {"compat-generated-ids"}
    marker = in_account(shared, "ssm", "eu-west-1").get_parameter(Name="/compat/generated-ids")
    assert marker["Parameter"]["Value"] == f"{shared} in {inner['Id']}"

    capsys.readouterr()
    assert orgc(emulator, "state", "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert "account:Shared-servicesAccount" in listed
    assert "organizational-unit:Dev_testOU" in listed
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0
    assert orgc(emulator, "plan", "tasks.yml", "--refresh", "--detailed-exitcode") == 0


def test_a_forgotten_account_keeps_what_orgc_set_there_and_the_state_forgets_it_too(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("account-settings", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "1-set.yml", "--auto-approve") == 0
    builds = account_id("builds")

    third = plan(emulator, capsys, "3-forget.yml")
    assert sorted(c["id"] for c in third["changes"]) == [
        "account.forget:Builds",
        "alias.delete:Management",
    ]
    assert orgc(emulator, "apply", "3-forget.yml", "--auto-approve") == 0
    assert aliases(builds) == ["compat-builds"]
    assert (password_policy(builds) or {})["MinimumPasswordLength"] == 20
    assert aliases(MANAGEMENT_ACCOUNT_ID) == []
    assert recorded_settings() == {MANAGEMENT_ACCOUNT_ID: {"passwordPolicy": True}}
    assert orgc(emulator, "plan", "3-forget.yml", "--detailed-exitcode") == 0


def attached_scps(target: str) -> list[str]:
    client = boto3.client("organizations", region_name="us-east-1")
    listed = client.list_policies_for_target(TargetId=target, Filter="SERVICE_CONTROL_POLICY")
    return sorted(p["Name"] for p in listed["Policies"])


def scp_documents() -> dict[str, Any]:
    client = boto3.client("organizations", region_name="us-east-1")
    listed = client.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    return {
        p["Name"]: json.loads(client.describe_policy(PolicyId=p["Id"])["Policy"]["Content"])
        for p in listed
        if not p["AwsManaged"]
    }


def test_service_control_policies_attached_changed_moved_and_removed(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("service-control-policies", tmp_path, monkeypatch)
    client = boto3.client("organizations", region_name="us-east-1")
    root_id = client.list_roots()["Roots"][0]["Id"]

    assert orgc(emulator, "apply", "1-update.yml", "--auto-approve") == 0
    app = account_id("app")
    [workloads] = client.list_organizational_units_for_parent(ParentId=root_id)[
        "OrganizationalUnits"
    ]
    assert attached_scps(root_id) == ["FullAWSAccess", "deny-leave"]
    assert attached_scps(workloads["Id"]) == ["FullAWSAccess", "deny-root-user", "restrict-regions"]
    assert attached_scps(app) == ["FullAWSAccess", "deny-root-user"]
    assert orgc(emulator, "plan", "1-update.yml", "--detailed-exitcode") == 0

    assert orgc(emulator, "apply", "2-update.yml", "--auto-approve") == 0
    assert attached_scps(workloads["Id"]) == ["FullAWSAccess", "deny-root-user"]
    assert attached_scps(app) == ["FullAWSAccess", "restrict-regions"]
    regions = scp_documents()["restrict-regions"]["Statement"][0]["Condition"]
    assert regions == {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}}
    assert orgc(emulator, "plan", "2-update.yml", "--detailed-exitcode") == 0

    third = plan(emulator, capsys, "3-update.yml")
    assert sorted(c["id"].split(":")[0] for c in third["changes"]) == [
        "attachment.detach",
        "attachment.detach",
        "policy.delete",
        "policy.delete",
    ]
    assert orgc(emulator, "apply", "3-update.yml", "--auto-approve") == 0
    assert sorted(scp_documents()) == ["deny-leave"]
    assert attached_scps(workloads["Id"]) == attached_scps(app) == ["FullAWSAccess"]
    assert attached_scps(root_id) == ["FullAWSAccess", "deny-leave"]
    assert orgc(emulator, "plan", "3-update.yml", "--detailed-exitcode") == 0
