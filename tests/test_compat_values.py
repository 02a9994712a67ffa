"""Values where OrgFormation accepts them, replayed step by step on the emulator.

Each scenario under tests/scenarios/compat/values-* is applied with `orgc` as an OrgFormation
user would run it (`main(argv)` over HTTP against the emulator), what AWS then holds is read
with boto3 directly, and the last step is a re-plan that must change nothing. The unit tests
below the scenarios pin the single rules: every known-after-apply marker kind is filled at
apply, numbers keep the text they were written with, and what orgc does not support is a
diagnostic naming it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.compat import account_ids, described_stack, orgc
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.apply.run import Run
from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.diagnostics import Diagnostics, StageError
from orgc.emulator import Emulator
from orgc.load import LoadOptions, load_file
from orgc.pipeline import compile_organization, compile_stacks
from orgc.plan import Plan
from orgc.plan.specs import ROOT, IdTable
from orgc.recorded import wanted_ids
from orgc.render import RenderContext, markers, render_project
from orgc.render.model import MARKER_KINDS
from orgc.state import State
from orgc.tasks import StacksTask

COMPAT = Path(__file__).parent / "scenarios" / "compat"


def _project(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(COMPAT / name, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _apply_then_replan(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], tasks: str = "tasks.yml"
) -> str:
    """Validate, apply, and plan again: the re-plan must be a no-op (exit 0 with
    --detailed-exitcode). Returns what validate printed."""
    capsys.readouterr()
    assert main(["validate", tasks]) == 0
    validated = capsys.readouterr().out
    assert orgc(emulator, "apply", tasks, "--auto-approve") == 0
    capsys.readouterr()
    assert orgc(emulator, "plan", tasks, "--detailed-exitcode") == 0
    assert "No changes" in capsys.readouterr().out
    return validated


def _parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def _template(account_id: str, name: str, region: str = "eu-west-1") -> dict[str, Any]:
    client = in_account(account_id, "cloudformation", region)
    body: dict[str, Any] = client.get_template(StackName=name)["TemplateBody"]
    return body


# --- task attributes and parameters per target --------------------------------------------


def test_attributes_and_parameters_are_evaluated_for_each_target_account(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _project("values-parameters", tmp_path, monkeypatch)
    assert _apply_then_replan(emulator, capsys) == "0 errors, 0 warnings\n"
    shop = account_ids()["shop"]
    organizations = boto3.client("organizations", region_name="us-east-1")
    root_id = organizations.list_roots()["Roots"][0]["Id"]
    organization_id = organizations.describe_organization()["Organization"]["Id"]
    exported = described_stack(MANAGEMENT_ACCOUNT_ID, "acme-exporter")["Outputs"][0]["OutputValue"]
    shared = {
        "partition": "aws",
        "region": "eu-west-1",
        "accessRole": "OrganizationAccountAccessRole",
        "buildRole": "BuildRole",
        "managementName": "master",
        "managementId": MANAGEMENT_ACCOUNT_ID,
        "queuePattern": f"{exported}/*",
        "root": root_id,
        "principalOrg": organization_id,
        "stateBucket": f"orgc-state-{MANAGEMENT_ACCOUNT_ID}",
    }
    expected = {
        MANAGEMENT_ACCOUNT_ID: {
            **shared,
            "accountName": "master",
            "accountId": MANAGEMENT_ACCOUNT_ID,
            "threshold": "200",
            "prefixed": "acme-master",
        },
        shop: {
            **shared,
            "accountName": "shop",
            "accountId": shop,
            "threshold": "1.50",  # the text as written, not the number 1.5
            "prefixed": "acme-shop",
        },
    }
    for account_id, parameters in expected.items():
        stack = described_stack(account_id, "acme-consumer")
        assert _parameters(stack) == parameters
        assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {
            "owner": "platform" if account_id == MANAGEMENT_ACCOUNT_ID else "web",
            "cost-limit": "300",
            "account-id": account_id,  # known only after apply for the account it creates
        }
        name = "master" if account_id == MANAGEMENT_ACCOUNT_ID else "shop"
        assert _template(account_id, "acme-consumer")["Description"] == (
            f"{name} in eu-west-1, managed from master"
        )
    # !FindInMap keyed by !Ref CurrentAccount.
    by_account = described_stack(MANAGEMENT_ACCOUNT_ID, "acme-by-account")
    assert _parameters(by_account) == {"label": "the management account"}


# --- bindings -------------------------------------------------------------------------------


def test_bindings_through_template_parameters_exports_and_empty_bindings(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _project("values-bindings", tmp_path, monkeypatch)
    assert _apply_then_replan(emulator, capsys).splitlines() == [
        "templates/topics.yml:26:23: warning[W397]: ExcludeAccount !Ref Archive names no "
        "account in the organization, so it excludes nothing",
        "0 errors, 1 warning",
    ]
    users = account_ids()["users"]
    queue = described_stack(MANAGEMENT_ACCOUNT_ID, "shared")["Outputs"][0]["OutputValue"]
    management = described_stack(MANAGEMENT_ACCOUNT_ID, "topics")
    member = described_stack(users, "topics")
    # The parameter Default `!Ref Users` is the account's id; `ExportName` fills queueArn.
    for stack in (management, member):
        assert _parameters(stack) == {
            "usersAccount": users,
            "managementAccount": MANAGEMENT_ACCOUNT_ID,
            "queueArn": queue,
        }
    # `Account: !Ref usersAccount` binds the account the parameter names, `!Ref Nowhere` (a
    # named binding with no value) binds nothing.
    assert set(_template(MANAGEMENT_ACCOUNT_ID, "topics")["Resources"]) == {"ManagementTopic"}
    assert set(_template(users, "topics")["Resources"]) == {"UsersTopic"}
    declared = _template(users, "topics")["Parameters"]
    assert declared["queueArn"] == {"Type": "String"}  # ExportName and the rest left out
    assert declared["usersAccount"] == {"Type": "String"}  # the Default became the value


# --- files of included fragments ------------------------------------------------------------


def test_included_fragments_read_files_where_orgformation_reads_them(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import hashlib

    project = _project("values-includes", tmp_path, monkeypatch)
    assert _apply_then_replan(emulator, capsys) == "0 errors, 0 warnings\n"
    ssm = in_account(MANAGEMENT_ACCOUNT_ID, "ssm", "eu-west-1")

    def value(name: str) -> str:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])

    notes = (project / "notes.txt").read_text(encoding="utf-8")
    assert value("/compat/notes") == notes  # read beside template.yml, not the fragment
    assert value("/compat/json-notes") == notes  # the long form a JSON template writes
    directory, file = value("/compat/digests").split(" ")
    assert file == hashlib.md5((project / "notes.txt").read_bytes()).hexdigest()
    # OrgFormation's digest of a directory: the MD5 of its files' MD5s, in the order of names.
    code = sorted((project / "code").iterdir(), key=lambda p: p.name.encode())
    contents = "".join(hashlib.md5(p.read_bytes()).hexdigest() for p in code)
    assert directory == hashlib.md5(contents.encode()).hexdigest()
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in described_stack(MANAGEMENT_ACCOUNT_ID, "included")["Outputs"]
    }
    assert outputs == {"Owner": "platform", "Tier": "gold"}
    # The resource whose Condition is never true is in the template, left to CloudFormation.
    assert "Unused" in _template(MANAGEMENT_ACCOUNT_ID, "included")["Resources"]
    # !MD5Dir changes with any file of the directory.
    (project / "code" / "helpers.py").write_text("helpers = 2\n", encoding="utf-8")
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 2
    assert "update stack included" in capsys.readouterr().out


def test_a_path_only_beside_the_fragment_is_read_from_there_with_a_warning(
    tmp_path: Path,
) -> None:
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "beside.txt").write_text("beside the fragment", encoding="utf-8")
    (tmp_path / "parts" / "fragment.yml").write_text(
        "Text: !ReadFile ./beside.txt\n", encoding="utf-8"
    )
    (tmp_path / "main.yml").write_text("Part: !Include ./parts/fragment.yml\n", encoding="utf-8")
    diagnostics = Diagnostics()
    loaded = load_file(tmp_path / "main.yml", LoadOptions(root=tmp_path), diagnostics)
    assert loaded is not None
    assert loaded.data == {"Part": {"Text": "beside the fragment"}}
    assert [str(d) for d in diagnostics] == [
        f"{_shown(tmp_path / 'parts' / 'fragment.yml')}:1:7: warning[W396]: !ReadFile "
        f"'./beside.txt' in the included {_shown(tmp_path / 'parts' / 'fragment.yml')} is read "
        f"beside that file; OrgFormation reads it relative to {_shown(tmp_path / 'main.yml')}, "
        "where there is no such file: write the path relative to "
        f"{_shown(tmp_path / 'main.yml')}"
    ]


def _shown(path: Path) -> str:
    from orgc.load import display_path

    return display_path(path)


# --- every marker resolves at apply ------------------------------------------------------------

_MARKER_ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties:
      ServiceControlPolicies: !Ref Guard
  MasterAccount:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: master, AccountId: '123456789012'}
  Fresh:
    Type: OC::ORG::Account
    Properties: {AccountName: fresh, RootEmail: fresh@example.com}
  FreshOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {OrganizationalUnitName: fresh, Accounts: !Ref Fresh}
  Guard:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: guard
      PolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Deny, Action: 'x:Y', Resource: '*'}]
"""

_MARKER_TASKS = """\
OrganizationUpdate:
  Type: update-organization
  Template: ./organization.yml
Everything:
  Type: update-stacks
  Template: ./template.yml
  StackName: everything
  DefaultOrganizationBindingRegion: eu-west-1
  DefaultOrganizationBinding:
    Account: !Ref Fresh
  Parameters:
    account: !Ref Fresh
    ou: !Ref FreshOU
    policy: !Ref Guard
    root: !Ref Root
    organization: !Ref ORG::PrincipalOrgID
    bucket: !Ref ORG::StateBucketName
    copied: !Join ['', [!CopyValue [made-elsewhere, '111111111111', eu-west-1], '-x']]
    whole: !CopyValue made-elsewhere
"""

_MARKER_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Parameters:
  account: {Type: String}
  ou: {Type: String}
  policy: {Type: String}
  root: {Type: String}
  organization: {Type: String}
  bucket: {Type: String}
  copied: {Type: String}
  whole: {Type: String}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Sub '${AWS::AccountId}'
"""


class _Provider:
    """What apply asks of the provider to fill markers."""

    def management_account_id(self) -> str:
        return MANAGEMENT_ACCOUNT_ID

    def organization_identity(self) -> tuple[str, str]:
        return ("o-made0by0run", MANAGEMENT_ACCOUNT_ID)


class _Writer:
    state = State()

    def write(self, new: State) -> State:
        return new

    def check_held(self) -> None:
        return None


def test_every_marker_kind_render_makes_is_filled_at_apply(tmp_path: Path) -> None:
    """A render that knows nothing yet (every id, the organization, the state bucket) writes
    a marker of every kind orgc has; apply fills each one. A kind added later must be made
    here too, and filled, or this test fails."""
    (tmp_path / "organization.yml").write_text(_MARKER_ORGANIZATION, encoding="utf-8")
    (tmp_path / "template.yml").write_text(_MARKER_TEMPLATE, encoding="utf-8")
    (tmp_path / "tasks.yml").write_text(_MARKER_TASKS, encoding="utf-8")
    inputs = compile_organization(tmp_path / "tasks.yml", root=tmp_path)
    task = inputs.stack_tasks["Everything"]
    assert isinstance(task, StacksTask)
    unknown = {"accounts": {"MasterAccount": MANAGEMENT_ACCOUNT_ID, "Fresh": None}}
    context = RenderContext(ids=unknown, organization_id=None, state_bucket=None, root_id=None)
    diagnostics = Diagnostics()
    stacks = render_project(
        [(task, inputs.templates["Everything"], inputs.bound["Everything"])],
        inputs.organization,
        context,
        diagnostics,
    )
    assert list(diagnostics) == []
    (stack,) = stacks
    found = markers(stack.parameters) | markers(stack.template) | markers(stack.account_id)
    assert {kind for kind, _ in found} == set(MARKER_KINDS)
    # A reference marker names a reference of the stack, which apply reads (an output or an
    # export) before it deploys; the whole-parameter !CopyValue is one too.
    references = {r.parameter for r in stack.references}
    assert references == {"copied.0", "whole"}
    assert {name for kind, name in found if kind == "reference"} == {"copied.0"}
    assert stack.parameters["copied"] == "{{orgc:reference:copied.0}}-x"
    # Apply fills every other kind from what the run knows.
    plan = Plan(
        source="tasks.yml",
        management_account_id=MANAGEMENT_ACCOUNT_ID,
        organization_id="",
        inputs_digest="",
        observed_digest="",
        ids=IdTable(
            accounts={"MasterAccount": MANAGEMENT_ACCOUNT_ID, "Fresh": "222222222222"},
            organizational_units={ROOT: "r-abcd", "FreshOU": "ou-abcd-11111111"},
            policies={"Guard": "p-11111111"},
        ),
        changes=(),
    )
    run = Run(plan, _Provider(), _Writer())  # type: ignore[arg-type]
    filled = {
        (kind, name): run.marker_value(kind, name) for kind, name in found if kind != "reference"
    }
    assert filled == {
        ("account", "Fresh"): "222222222222",
        ("organizational-unit", "FreshOU"): "ou-abcd-11111111",
        ("policy", "Guard"): "p-11111111",
        ("root", ""): "r-abcd",
        ("organization-id", ""): "o-made0by0run",
        ("state-bucket", ""): f"orgc-state-{MANAGEMENT_ACCOUNT_ID}",
    }
    assert not markers(run.fill({k: v for k, v in stack.parameters.items() if k != "copied"}))


def test_a_plan_knows_the_state_bucket_and_the_root_without_markers(tmp_path: Path) -> None:
    (tmp_path / "organization.yml").write_text(_MARKER_ORGANIZATION, encoding="utf-8")
    (tmp_path / "template.yml").write_text(_MARKER_TEMPLATE, encoding="utf-8")
    (tmp_path / "tasks.yml").write_text(_MARKER_TASKS, encoding="utf-8")
    inputs = compile_organization(tmp_path / "tasks.yml", root=tmp_path)
    ids = wanted_ids(inputs.organization)
    known = IdTable(
        accounts={**ids["accounts"], "Fresh": "222222222222"},
        organizational_units={ROOT: "r-abcd", "FreshOU": "ou-abcd-11111111"},
        policies={"Guard": "p-11111111"},
    )
    stacks, _, _, _ = compile_stacks(inputs, known, "o-abcdef1234")
    (stack,) = stacks
    assert stack.parameters["root"] == "r-abcd"
    assert stack.parameters["bucket"] == f"orgc-state-{MANAGEMENT_ACCOUNT_ID}"
    assert stack.parameters["organization"] == "o-abcdef1234"
    assert {kind for kind, _ in markers(stack.parameters)} == {"reference"}


# --- numbers where text is meant -------------------------------------------------------------


def test_an_account_id_read_as_a_number_in_copy_value_keeps_its_twelve_digits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "organization.yml").write_text(_MARKER_ORGANIZATION, encoding="utf-8")
    (tmp_path / "template.yml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09-OC'\n"
        "Parameters: {a: {Type: String}, b: {Type: String}}\n"
        "Resources: {Topic: {Type: AWS::SNS::Topic}}\n",
        encoding="utf-8",
    )
    (tmp_path / "tasks.yml").write_text(
        "OrganizationUpdate: {Type: update-organization, Template: ./organization.yml}\n"
        "Numbers:\n"
        "  Type: update-stacks\n"
        "  Template: ./template.yml\n"
        "  StackName: numbers\n"
        "  DefaultOrganizationBinding: {IncludeMasterAccount: true, Region: eu-west-1}\n"
        "  Parameters:\n"
        "    a: !CopyValue [elsewhere, 111111111111]\n"
        "    b: !CopyValue [elsewhere, 012345678901]\n",
        encoding="utf-8",
    )
    inputs = compile_organization(tmp_path / "tasks.yml", root=tmp_path)
    stacks, _, _, warnings = compile_stacks(inputs, wanted_ids(inputs.organization), None)
    (stack,) = stacks
    assert {r.parameter: r.account_id for r in stack.references} == {
        "a": "111111111111",
        "b": "012345678901",
    }
    assert [str(d) for d in warnings] == [
        "tasks.yml:2:1: warning[W395]: !CopyValue [elsewhere, 12345678901]: the account id "
        "was read as the number 12345678901, which lost its leading zeros; orgc takes it as "
        "012345678901: quote it: '012345678901'"
    ]


# --- what orgc does not support ----------------------------------------------------------------


def test_a_file_function_of_a_url_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "main.yml").write_text(
        "Text: !ReadFile https://example.com/policy.json\n", encoding="utf-8"
    )
    diagnostics = Diagnostics()
    load_file(tmp_path / "main.yml", LoadOptions(root=tmp_path), diagnostics)
    assert [str(d) for d in diagnostics] == [
        f"{_shown(tmp_path / 'main.yml')}:1:7: error[E395]: !ReadFile "
        "'https://example.com/policy.json': orgc reads !ReadFile from the project only, not "
        "from a URL (OrgFormation fetches it); download it into the project and give its path"
    ]


def test_an_unknown_tag_is_named_with_the_tags_orgc_knows(tmp_path: Path) -> None:
    (tmp_path / "main.yml").write_text("Value: !GetParameter x\n", encoding="utf-8")
    diagnostics = Diagnostics()
    load_file(tmp_path / "main.yml", LoadOptions(root=tmp_path), diagnostics)
    (found,) = diagnostics
    assert found.code == "E103"
    assert found.message.startswith("unknown tag !GetParameter; orgc knows ")
    for tag in ("!CopyValue", "!MD5Dir", "!MD5File", "!Include", "!ReadFile", "!JsonString"):
        assert tag in found.message


def test_a_binding_of_an_account_the_organization_lacks_binds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "organization.yml").write_text(_MARKER_ORGANIZATION, encoding="utf-8")
    (tmp_path / "template.yml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09-OC'\nResources: {Topic: {Type: AWS::SNS::Topic}}\n",
        encoding="utf-8",
    )
    (tmp_path / "tasks.yml").write_text(
        "OrganizationUpdate: {Type: update-organization, Template: ./organization.yml}\n"
        "Later:\n"
        "  Type: update-stacks\n"
        "  Template: ./template.yml\n"
        "  StackName: later\n"
        "  DefaultOrganizationBinding:\n"
        "    {Account: [!Ref Fresh, !Ref AddedLater], Region: eu-west-1}\n",
        encoding="utf-8",
    )
    inputs = compile_organization(tmp_path / "tasks.yml", root=tmp_path)
    assert [str(d) for d in inputs.warnings] == [
        "tasks.yml:7:28: warning[W397]: Account !Ref AddedLater names no account in the "
        "organization, so it binds nothing"
    ]
    assert sorted(inputs.bound["Later"].targets) == [("Fresh", "eu-west-1")]
    # Naming what the organization holds, but of the wrong kind, stays a mistake.
    (tmp_path / "tasks.yml").write_text(
        "OrganizationUpdate: {Type: update-organization, Template: ./organization.yml}\n"
        "Later:\n"
        "  Type: update-stacks\n"
        "  Template: ./template.yml\n"
        "  StackName: later\n"
        "  DefaultOrganizationBinding: {Account: !Ref Guard, Region: eu-west-1}\n",
        encoding="utf-8",
    )
    with pytest.raises(StageError) as raised:
        compile_organization(tmp_path / "tasks.yml", root=tmp_path)
    assert [d.code for d in raised.value.diagnostics] == ["E402"]


def test_a_copy_value_in_a_task_attribute_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "organization.yml").write_text(_MARKER_ORGANIZATION, encoding="utf-8")
    (tmp_path / "template.yml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09-OC'\nResources: {Topic: {Type: AWS::SNS::Topic}}\n",
        encoding="utf-8",
    )
    (tmp_path / "tasks.yml").write_text(
        "OrganizationUpdate: {Type: update-organization, Template: ./organization.yml}\n"
        "Described:\n"
        "  Type: update-stacks\n"
        "  Template: ./template.yml\n"
        "  StackName: described\n"
        "  StackDescription: !Join [' ', [made by, !CopyValue elsewhere]]\n"
        "  DefaultOrganizationBinding: {IncludeMasterAccount: true, Region: eu-west-1}\n",
        encoding="utf-8",
    )
    inputs = compile_organization(tmp_path / "tasks.yml", root=tmp_path)
    with pytest.raises(StageError) as raised:
        compile_stacks(inputs, wanted_ids(inputs.organization), None)
    assert [str(d) for d in raised.value.diagnostics] == [
        "tasks.yml:2:1: error[E426]: StackDescription of task Described holds a !CopyValue, "
        "which orgc reads at apply for stack parameters only; give the value to a template "
        "parameter instead"
    ]
