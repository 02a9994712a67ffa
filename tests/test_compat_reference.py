"""OrgFormation repositories replayed on the emulator, step by step, as OrgFormation users run
them: `update` of each organization file in turn, `perform-tasks` of a landing zone laid out as
OrgFormation's reference one is, and the switch from OrgFormation's state with `orgc state
import`. Every step ends with a plan that has nothing left to do.

The scenario files are under tests/scenarios/compat/. What the emulator holds is read with boto3
directly (tests/support/emulated.py), never through orgc's own reading.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.compat import account_ids, orgc, plan, scenario, stacks
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator
from orgc.lint import Finding, _lint, _registry_findings

SCENARIOS = Path(__file__).parent / "scenarios" / "compat"


def _step(emulator: Emulator, path: str, capsys: pytest.CaptureFixture[str]) -> str:
    """validate, apply and re-plan one file; the re-plan must find nothing to do."""
    assert main(["validate", path]) == 0
    assert orgc(emulator, "apply", path, "--auto-approve") == 0
    capsys.readouterr()
    assert orgc(emulator, "plan", path, "--detailed-exitcode") == 0
    return capsys.readouterr().err


def _tree() -> dict[str, Any]:
    """The OU tree as nested dicts {name: {child name: ...}} and the accounts of each OU, under
    the key "accounts" where an OU holds any."""
    client = boto3.client("organizations", region_name="us-east-1")
    root = client.list_roots()["Roots"][0]["Id"]

    def below(parent: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for unit in client.list_organizational_units_for_parent(ParentId=parent)[
            "OrganizationalUnits"
        ]:
            assert unit["Name"] not in found  # two OUs of one name under one parent
            found[unit["Name"]] = below(unit["Id"])
        accounts = sorted(
            a["Name"] for a in client.list_accounts_for_parent(ParentId=parent)["Accounts"]
        )
        if accounts and parent != root:
            found["accounts"] = accounts
        return found

    return below(root)


@pytest.fixture
def nested(tmp_path: Path, aws: AwsProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("nested-ous", "management-moves"):
        shutil.copytree(SCENARIOS / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_nested_ous_created_swapped_removed_and_cleaned_up(
    nested: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = "nested-ous/"
    _step(emulator, steps + "1-management-only.yml", capsys)
    assert _tree() == {}

    _step(emulator, steps + "2-outer-holds-inner.yml", capsys)
    assert _tree() == {"outer": {"inner": {}}}

    # the child becomes the parent: AWS cannot move an OU, so both are made again where the
    # file puts them, and the state follows the new ids
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    ids_before = dict(state["organization"]["organizationalUnits"])
    _step(emulator, steps + "3-inner-holds-outer.yml", capsys)
    assert _tree() == {"inner": {"outer": {}}}
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    ids_after = dict(state["organization"]["organizationalUnits"])
    assert sorted(ids_after) == ["InnerOU", "OuterOU"]
    client = boto3.client("organizations", region_name="us-east-1")
    inner = client.list_children(ParentId=ids_after["InnerOU"], ChildType="ORGANIZATIONAL_UNIT")
    assert [child["Id"] for child in inner["Children"]] == [ids_after["OuterOU"]]
    assert ids_after != ids_before

    # the OU that held the other is deleted; the one it held is kept, at the root
    _step(emulator, steps + "4-inner-removed.yml", capsys)
    assert _tree() == {"outer": {}}

    _step(emulator, steps + "1-management-only.yml", capsys)
    assert _tree() == {}

    _step(emulator, steps + "5-three-levels.yml", capsys)
    assert _tree() == {"region": {"country": {"north": {}, "south": {}}}}
    _step(emulator, steps + "1-management-only.yml", capsys)
    assert _tree() == {}

    # three OUs of one name in three places are three OUs
    _step(emulator, steps + "6-same-names.yml", capsys)
    assert _tree() == {
        "platform": {"team": {}},
        "product": {"team": {"team": {}}},
    }
    _step(emulator, steps + "1-management-only.yml", capsys)
    assert _tree() == {}


def test_management_account_moved_through_ous_after_an_orgformation_state_import(
    nested: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = "management-moves/"
    assert orgc(emulator, "state", "import", steps + "state.json") == 0
    imported = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert imported["managementAccountId"] == MANAGEMENT_ACCOUNT_ID
    assert imported["organization"]["accounts"] == {"Management": MANAGEMENT_ACCOUNT_ID}

    _step(emulator, steps + "1-at-the-root.yml", capsys)
    assert _tree() == {}
    _step(emulator, steps + "2-in-first.yml", capsys)
    assert _tree() == {"first": {"accounts": ["master"]}}
    _step(emulator, steps + "3-in-second.yml", capsys)
    assert _tree() == {"first": {}, "second": {"accounts": ["master"]}}
    _step(emulator, steps + "1-at-the-root.yml", capsys)
    assert _tree() == {}
    client = boto3.client("organizations", region_name="us-east-1")
    root = client.list_roots()["Roots"][0]["Id"]
    parents = client.list_parents(ChildId=MANAGEMENT_ACCOUNT_ID)["Parents"]
    assert parents == [{"Id": root, "Type": "ROOT"}]


def test_state_import_refuses_to_write_over_a_state_unless_forced(
    nested: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    source = "management-moves/state.json"
    assert orgc(emulator, "state", "import", source) == 0
    assert orgc(emulator, "apply", "management-moves/2-in-first.yml", "--auto-approve") == 0
    applied = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert "FirstOU" in applied["organization"]["organizationalUnits"]
    capsys.readouterr()

    assert orgc(emulator, "state", "import", source) == 1
    err = capsys.readouterr().err
    assert "error[E460]" in err
    assert f"state.json already holds state (serial {applied['serial']})" in err
    assert json.loads(Path("state.json").read_text(encoding="utf-8")) == applied

    assert orgc(emulator, "state", "import", source, "--force") == 0
    out = capsys.readouterr().out
    assert f"replacing serial {applied['serial']}" in out
    replaced = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert replaced["organization"]["organizationalUnits"] == {}
    assert replaced["serial"] > applied["serial"]
    # the OU applied before is in AWS but no longer in the state: the plan adopts it by name
    capsys.readouterr()
    assert orgc(emulator, "plan", "management-moves/2-in-first.yml") == 0
    assert "+ adopt existing organizational-unit first (ou-" in capsys.readouterr().out


# --- the landing zone -------------------------------------------------------------------


@pytest.fixture
def landing_zone(tmp_path: Path, aws: AwsProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(SCENARIOS / "landing-zone", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _ssm(account_id: str, name: str) -> str:
    return str(
        in_account(account_id, "ssm", "eu-west-1").get_parameter(Name=name)["Parameter"]["Value"]
    )


def test_landing_zone_in_orgformation_layout_applies_and_replans_to_nothing(
    landing_zone: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["validate", "src/_tasks.yml"]) == 0
    captured = capsys.readouterr()
    validated = captured.out + captured.err
    # the register-type task is the only thing orgc leaves alone; the registry type it
    # registers is no lint finding
    assert validated.splitlines() == [
        "src/templates/010-types/_tasks.yml:6:9: warning[W320]: orgc does not run register-type "
        "tasks and leaves QuotaTypeRegistration alone; register the type separately, e.g. with "
        "an AWS::CloudFormation::ResourceVersion resource",
        "0 errors, 1 warning",
    ]

    _step(emulator, "src/_tasks.yml", capsys)

    accounts = account_ids()
    tooling, logs = accounts["Tooling"], accounts["Logs"]
    assert _tree() == {
        "infrastructure": {"accounts": ["Logs", "Tooling"]},
        "quarantine": {},
        "workloads": {},
    }
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {
        "acme-build-role",
        "acme-bucket-quota",
        "acme-budget",
        "acme-trail",
    }
    assert stacks(tooling, "eu-west-1") == {
        "acme-member-build-role",
        "acme-artifacts",
        "acme-pipeline",
        "acme-bucket-quota",
        "acme-budget",
        "acme-trail",
    }
    # parameters from CurrentAccount and its tags, per target account
    assert _ssm(tooling, "/landing-zone/budget-limit") == "100 USD to tooling@example.com"
    assert _ssm(MANAGEMENT_ACCOUNT_ID, "/landing-zone/budget-limit") == (
        "300 USD to finance@example.com"
    )
    # ORG::PrincipalOrgID through a task-file parameter's default
    organization = boto3.client("organizations", region_name="us-east-1").describe_organization()
    assert _ssm(tooling, "/landing-zone/organization-id") == organization["Organization"]["Id"]
    # !CopyValue of the artifacts stack's export
    assert _ssm(tooling, "/landing-zone/pipeline/artifacts-bucket") == f"acme-artifacts-{tooling}"
    # the bucket and topic bound to the logs account alone, referenced from every account
    for account in (MANAGEMENT_ACCOUNT_ID, tooling, logs):
        assert _ssm(account, "/landing-zone/trail-bucket") == f"acme-trail-{logs}"
        assert _ssm(account, "/landing-zone/trail-topic").endswith(f":{logs}:acme-trail")
    assert _ssm(logs, "/landing-zone/bucket-quota") == "200"
    # the role names come from the organization root's defaults
    role = in_account(tooling, "iam").get_role(RoleName="LandingZoneBuildRole")["Role"]
    assert role["RoleName"] == "LandingZoneBuildRole"


# --- cfn-lint and registry types ---------------------------------------------------------


def _findings(kind: str, registered: frozenset[str]) -> list[Finding]:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Thing": {"Type": kind, "Properties": {"Size": 1}}},
    }
    return _registry_findings(_lint(template, ("eu-west-1",)), template, registered)


def test_lint_lets_a_registered_registry_type_through_and_names_an_unregistered_one() -> None:
    registered = frozenset({"Example::Quotas::Buckets"})
    assert _findings("Example::Quotas::Buckets", registered) == []
    assert _findings("XX::S3::Bucket", registered) == [
        Finding(
            "E3006",
            "Resources/Thing/Type",
            "Resource type 'XX::S3::Bucket' does not exist in 'eu-west-1'; XX::S3::Bucket is a "
            "registry type that no register-type task of these files registers (if it is "
            "registered in the accounts another way, --no-lint skips this check)",
        )
    ]
    # a type in AWS's own namespace that does not exist is a mistake, registered or not
    assert _findings("AWS::SNS::Topicc", frozenset({"AWS::SNS::Topicc"})) == [
        Finding(
            "E3006",
            "Resources/Thing/Type",
            "Resource type 'AWS::SNS::Topicc' does not exist in 'eu-west-1'",
        )
    ]


def test_a_task_file_deploying_an_unregistered_type_fails_validation_at_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(SCENARIOS / "landing-zone", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    # without the register-type task, the registry type the guardrails use is unknown
    Path("src/templates/010-types/_tasks.yml").write_text(
        "Parameters:\n  <<: !Include '../../_parameters.yml'\n", encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["validate", "src/_tasks.yml"]) == 1
    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    assert lines == [
        "src/templates/020-guardrails/_tasks.yml:4:1: error[E435]: task Guardrails-BucketQuota: "
        "the template of stack acme-bucket-quota for LogsAccount/eu-west-1 and 2 other target(s) "
        "fails cfn-lint E3006 at "
        "Resources/Quota/Type: Resource type 'Example::Quotas::Buckets' does not exist in "
        "'eu-west-1'; Example::Quotas::Buckets is a registry type that no register-type task of "
        "these files registers (if it is registered in the accounts another way, --no-lint "
        "skips this check)",
        "1 error, 0 warnings",
    ]


# --- OrgFormation's `init organization.yml` ---------------------------------------------


def test_init_writes_the_named_file_and_reading_it_back_changes_nothing(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copy(SCENARIOS / "default-template" / "organization.yml", tmp_path / "organization.yml")
    monkeypatch.chdir(tmp_path)
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    Path("written").mkdir()
    capsys.readouterr()

    endpoint = ["--endpoint-url", emulator.endpoint, "--state", "written/state.json"]
    assert main(["init", "written/from-aws.yml", *endpoint]) == 0
    out = capsys.readouterr().out
    assert "wrote written/from-aws.yml" in out
    assert "recorded 2 accounts, 2 OUs and 2 policies in written/state.json" in out
    written = {p.name for p in Path("written").iterdir()}
    assert {"from-aws.yml", "policies", "state.json"} <= written
    assert sorted(p.name for p in Path("written/policies").iterdir()) == ["RegionsScp.json"]
    assert not Path("written/organization.yml").exists()
    text = Path("written/from-aws.yml").read_text(encoding="utf-8")
    assert "ServiceControlPolicies: !Ref NoLeavingScp" in text
    assert "OrganizationalUnits:\n        - !Ref ExperimentsOU" in text

    # every binding the written file makes is one AWS already holds
    plan = ["plan", "written/from-aws.yml", *endpoint, "--refresh", "--detailed-exitcode"]
    assert main(plan) == 0


def test_the_first_form_of_resource_bindings_is_read_with_a_warning(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(SCENARIOS / "first-format", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["validate", "tasks.yml"]) == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).splitlines() == [
        "marker.yml:8:5: warning[W350]: OrganizationBindings (Accounts, OrganizationalUnits, "
        "Regions, ...) is the old form of OrganizationBinding (Account, OrganizationalUnit, "
        "Region, ...); rename it and its keys",
        "0 errors, 1 warning",
    ]
    _step(emulator, "tasks.yml", capsys)
    member = account_ids()["member"]
    for account in (MANAGEMENT_ACCOUNT_ID, member):
        assert _ssm(account, "/first-format/marker") == account


def test_an_unfilled_template_placeholder_is_named_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a repository made from a template whose placeholders were not filled in yet
    monkeypatch.chdir(tmp_path)
    Path("tasks.yml").write_text(
        "Parameters:\n  prefix:\n    Type: String\n    Default: {{organization-name}}\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["validate", "tasks.yml"]) == 1
    captured = capsys.readouterr()
    assert (
        "tasks.yml:4:15: error[E111]: {{organization-name}} is a template placeholder, which "
        "YAML reads as a mapping; fill it in, or quote the whole value if it is meant as text: "
        "'{{organization-name}}'"
    ) in (captured.out + captured.err).splitlines()


def test_switching_from_orgformation_takes_over_its_stacks(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(SCENARIOS / "switching", tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    # the stack as OrgFormation left it
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    body = {
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/switching/marker", "Type": "String", "Value": "old"},
            }
        }
    }
    stack_id = cloudformation.create_stack(StackName="marker", TemplateBody=json.dumps(body))[
        "StackId"
    ]
    capsys.readouterr()

    assert orgc(emulator, "state", "import", "orgformation-state.json") == 0
    captured = capsys.readouterr()
    assert captured.out == "imported orgformation-state.json into state.json\n"
    assert captured.err == (
        "orgc: dropped OC::ORG::ServiceControlPolicy FullAWSAccess: p-FullAWSAccess is managed by "
        "AWS, and orgc never detaches or deletes it\n"
    )
    imported = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert imported["organization"]["policies"] == {}
    assert [(s["stackName"], s["task"]) for s in imported["stacks"]] == [("marker", "Marker")]

    # the first plan brings the recorded stack to what the files say, in place
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 2
    planned = capsys.readouterr().out
    assert (
        "~ update stack marker in MasterAccount (123456789012) eu-west-1: imported from "
        "OrgFormation's state, not deployed by orgc yet, the template or the stack settings "
        "changed"
    ) in planned
    assert "Plan: 1 to update." in planned
    _step(emulator, "tasks.yml", capsys)
    stacks = cloudformation.describe_stacks(StackName="marker")["Stacks"]
    assert [s["StackId"] for s in stacks] == [stack_id]
    ssm = boto3.client("ssm", region_name="eu-west-1")
    assert ssm.get_parameter(Name="/switching/marker")["Parameter"]["Value"] == "deployed by orgc"


# --- a step the emulator cannot do ------------------------------------------------------


def test_a_stack_of_a_type_the_emulator_lacks_is_refused_there_and_left_to_create(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the build reads a CodeCommit repository's export, as the reference landing zone's
    # pull-request build reads its pipeline's
    scenario("emulator-refusal", tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["validate", "tasks.yml"]) == 0
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 3
    captured = capsys.readouterr()
    tools = account_ids()["tools"]
    refused = (
        f"orgc: error[E630]: stack tools-repository in ToolsAccount ({tools}) eu-west-1 (task "
        "Repository at tasks.yml:6:1): the embedded emulator refused it: the emulator does not "
        "implement AWS::CodeCommit::Repository (resource Source), which Fn::GetAtt Source.Name "
        "in resource SourceName, Fn::GetAtt Source.CloneUrlHttp in output CloneUrl read(s); AWS "
        "would create it. That is a limit of the emulator, not a mistake in the files: on AWS "
        "the stack would be created; what waits on it is skipped"
    )
    assert captured.err.splitlines()[-2:] == [
        refused,
        "orgc: error[E708]: 4 changes made, 0 failed, 1 refused by the emulator, 1 skipped; run "
        "orgc plan to see what is left",
    ]
    assert "E701" not in captured.err  # nothing failed in orgc
    skipped = [line for line in captured.err.splitlines() if " skipped " in line]
    assert [line.split("Z ", 1)[1] for line in skipped] == [
        f"skipped create stack tools-build in ToolsAccount ({tools}) eu-west-1: waits on "
        "stack.create:Repository/ToolsAccount/eu-west-1, which the emulator refused"
    ]
    # the emulator holds the stacks that need nothing it lacks, the one that only comes after
    # the refused and the skipped ones included, and no half-made one
    assert stacks(tools, "eu-west-1") == {"tools-logs", "tools-alarms"}
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert sorted(s["stackName"] for s in state["stacks"]) == ["tools-alarms", "tools-logs"]

    # the next plan has the refused stack and what waits on it still to create, nothing else
    changes = plan(emulator, capsys, "tasks.yml", "--refresh")["changes"]
    assert [(c["action"], c["id"]) for c in changes] == [
        ("create", "stack.create:Repository/ToolsAccount/eu-west-1"),
        ("create", "stack.create:Build/ToolsAccount/eu-west-1"),
    ]
    # and applying it again is refused again, the same way
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 3
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == [
        refused,
        "orgc: error[E708]: 0 changes made, 0 failed, 1 refused by the emulator, 1 skipped; run "
        "orgc plan to see what is left",
    ]
    assert stacks(tools, "eu-west-1") == {"tools-logs", "tools-alarms"}


# --- cfn-lint on empty values -------------------------------------------------------------


def test_an_empty_value_of_an_optional_property_is_a_warning_and_applies(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # CloudTrail without CloudWatch Logs, as the reference landing zone writes it: the role's
    # ARN left empty, written so and as the branch of an !If that turns delivery off
    scenario("empty-values", tmp_path, monkeypatch)
    capsys.readouterr()
    refuses = (
        "which cfn-lint E1156 refuses ('' is not a 'AWS::IAM::Role.Arn' with pattern "
        "'^arn:aws[a-zA-Z-]*:iam::\\\\d{12}:role/.+$'); CloudFormation takes an empty value of an "
        "optional property as leaving it unset, so it is left to AWS"
    )
    expected = [
        "tasks.yml:5:1: warning[W630]: task Trail: the template of stack audit-trail for "
        "AuditAccount/eu-west-1 and 1 "
        "other target(s) sets Resources/Trail/Properties/CloudWatchLogsRoleArn to an empty "
        f"value, {refuses}",
        "tasks.yml:15:1: warning[W630]: task SwitchedTrail: the template of stack "
        "audit-switched-trail for "
        "AuditAccount/eu-west-1 sets Resources/SwitchedTrail/Properties/CloudWatchLogsRoleArn/"
        f"Fn::If/2 to an empty value, {refuses}",
        "0 errors, 2 warnings",
    ]
    _step(emulator, "tasks.yml", capsys)
    audit = account_ids()["audit"]
    assert stacks(audit, "eu-west-1") == {"audit-trail", "audit-switched-trail"}
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {"audit-trail"}
    assert main(["validate", "tasks.yml"]) == 0
    captured = capsys.readouterr()
    assert (captured.out + captured.err).splitlines() == expected

    # an empty value where the property is required stays an error
    Path("subnet.yml").write_text(
        "Resources:\n  Subnet:\n    Type: AWS::EC2::Subnet\n    Properties:\n"
        "      VpcId: ''\n      CidrBlock: 10.0.0.0/24\n",
        encoding="utf-8",
    )
    with Path("tasks.yml").open("a", encoding="utf-8") as tasks:
        tasks.write(
            "\nSubnet:\n  Type: update-stacks\n  Template: ./subnet.yml\n  StackName: subnet\n"
            "  DefaultOrganizationBindingRegion: eu-west-1\n"
            "  DefaultOrganizationBinding:\n    Account: !Ref AuditAccount\n"
        )
    assert main(["validate", "tasks.yml"]) == 1
    captured = capsys.readouterr()
    assert (captured.out + captured.err).splitlines() == [
        *expected[:2],
        "tasks.yml:26:1: error[E435]: task Subnet: the template of stack subnet for "
        "AuditAccount/eu-west-1 fails "
        "cfn-lint E1151 at Resources/Subnet/Properties/VpcId: '' is not a 'AWS::EC2::VPC.Id' with "
        "pattern '^vpc-(([0-9A-Fa-f]{8})|([0-9A-Fa-f]{17}))$'",
        "1 error, 2 warnings",
    ]
