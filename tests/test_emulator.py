"""The embedded emulator: loopback only, the detached daemon, the environment it needs."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
from botocore.exceptions import ClientError

from orgc import emulator as emulator_module
from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import (
    Emulator,
    EmulatorError,
    EmulatorUnavailable,
    apply_emulator_environment,
    daemon_endpoint,
    emulator_environment,
    emulator_unset_variables,
    find_state_dir,
    serve,
    start_daemon,
    stop_daemon,
)
from orgc.emulator_stacksets import MOTO_VERSION


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", "localhost"])
def test_serve_refuses_anything_but_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host, 0)


def test_the_command_line_refuses_a_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert emulator_module.main(["serve", "--host", "0.0.0.0", "--port", "5000"]) == 2
    assert "loopback" in capsys.readouterr().err


def organization_of(endpoint: str) -> str:
    client = boto3.client(
        "organizations",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client.describe_organization()["Organization"]["MasterAccountId"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / ".orgc"
    yield directory
    stop_daemon(directory)


def test_daemon_starts_once_is_reused_and_stops(state_dir: Path) -> None:
    endpoint = start_daemon(state_dir)
    assert endpoint.startswith("http://127.0.0.1:")
    record = json.loads((state_dir / "emulator.json").read_text())
    assert record["endpoint"] == endpoint
    assert endpoint.endswith(f":{record['port']}")
    assert organization_of(endpoint) == "123456789012"

    assert start_daemon(state_dir) == endpoint
    assert json.loads((state_dir / "emulator.json").read_text())["pid"] == record["pid"]
    assert daemon_endpoint(state_dir) == endpoint

    assert stop_daemon(state_dir)
    assert daemon_endpoint(state_dir) is None
    assert not (state_dir / "emulator.json").exists()
    assert not stop_daemon(state_dir)


def test_a_dead_daemon_record_is_not_trusted(state_dir: Path) -> None:
    state_dir.mkdir()
    dead = {"pid": 2**22 + 12345, "endpoint": "http://127.0.0.1:9", "port": 9}
    (state_dir / "emulator.json").write_text(json.dumps(dead))
    assert daemon_endpoint(state_dir) is None
    assert not stop_daemon(state_dir)
    assert not (state_dir / "emulator.json").exists()


def test_the_project_state_dir_is_found_from_any_subdirectory(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    (project / "organization" / "deep").mkdir(parents=True)
    (project / "organization" / "organization.yml").write_text("{}", encoding="utf-8")
    deep = project / "organization" / "deep"
    # No .orgc yet: beside the nearest project files.
    assert find_state_dir(deep) == project / "organization" / ".orgc"
    # An .orgc above wins over project files nearer (the README runs from the repository).
    (project / ".orgc").mkdir()
    assert find_state_dir(deep) == project / ".orgc"
    assert find_state_dir(project) == project / ".orgc"
    # Outside any project: the directory itself.
    assert find_state_dir(tmp_path) == tmp_path / ".orgc"


def _orgc(*argv: str, cwd: Path) -> subprocess.Popen[str]:
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    return subprocess.Popen(
        [sys.executable, "-m", "orgc", *argv],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: master, AccountId: '123456789012'}
"""


def test_two_emulator_commands_at_once_share_one_emulator(tmp_path: Path) -> None:
    # A project without .orgc yet, found by its organization file from two subdirectories.
    project = tmp_path / "repo"
    (project / "a").mkdir(parents=True)
    (project / "b" / "c").mkdir(parents=True)
    organization = project / "organization.yml"
    organization.write_text(ORGANIZATION, encoding="utf-8")
    try:
        started = [
            _orgc("plan", str(organization), "--emulator", "--state", "s.json", cwd=cwd)
            for cwd in (project / "a", project / "b" / "c")
        ]
        outputs = [process.communicate(timeout=180) for process in started]
        assert [process.returncode for process in started] == [0, 0], outputs
        # Both planned the same emulated organization: one emulator, not two.
        headings = {out.splitlines()[0] for out, _ in outputs}
        assert len(headings) == 1, outputs
        assert headings.pop().startswith("orgc plan for organization o-")
        assert (project / ".orgc" / "emulator.json").is_file()
        assert not (project / "a" / ".orgc").exists()
        assert not (project / "b" / "c" / ".orgc").exists()
        endpoint = daemon_endpoint(project / ".orgc")
        assert endpoint is not None
        assert organization_of(endpoint) == "123456789012"
    finally:
        stopper = _orgc("emulator", "stop", cwd=project / "b")
        out, _ = stopper.communicate(timeout=60)
    assert out == "emulator stopped\n"
    assert daemon_endpoint(project / ".orgc") is None


def test_the_daemon_stops_itself_when_idle(state_dir: Path) -> None:
    endpoint = start_daemon(state_dir, idle_timeout=1.0)
    pid = json.loads((state_dir / "emulator.json").read_text())["pid"]
    assert json.loads((state_dir / "emulator.json").read_text())["idleTimeout"] == 1.0
    process = emulator_module._spawned[pid]
    # It answers while asked, then stops by itself once nobody asks.
    assert organization_of(endpoint) == "123456789012"
    assert process.wait(timeout=30) == 0
    assert daemon_endpoint(state_dir) is None
    assert "no request for 1 seconds; stopping" in (state_dir / "emulator.log").read_text()


def test_a_malformed_idle_timeout_is_a_diagnostic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORGC_EMULATOR_IDLE_TIMEOUT", "soon")
    assert main(["emulator", "start"]) == 1
    assert capsys.readouterr().err == (
        "orgc: error[E706]: ORGC_EMULATOR_IDLE_TIMEOUT='soon' is not a number of seconds "
        "(0: never stop)\n"
    )


def test_seed_makes_ids_repeatable(emulator: Emulator) -> None:
    def first_account_id() -> str:
        emulator.reset()
        emulator.seed(7)
        emulator.bootstrap()
        client = boto3.client(
            "organizations",
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        status = client.create_account(AccountName="a", Email="a@example.com")
        return status["CreateAccountStatus"]["AccountId"]

    assert first_account_id() == first_account_id()


def test_endpoint_before_start_is_an_error() -> None:
    with pytest.raises(EmulatorError, match="not running"):
        _ = Emulator().endpoint


def test_missing_moto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "moto" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(EmulatorUnavailable, match=r"pip install 'orgc\[emulator\]'"):
        Emulator().start()


def test_emulator_environment_points_everything_at_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    os.environ.update(
        {
            "AWS_PROFILE": "production",
            "MOTO_ACCOUNT_ID": "999999999999",
            "AWS_ENDPOINT_URL_S3": "https://s3.example.com",
            "NO_PROXY": "internal.example.com",
        }
    )
    variables = emulator_environment("http://127.0.0.1:5555")
    assert variables["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5555"
    assert variables["AWS_ACCESS_KEY_ID"] == "testing"
    assert variables["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert variables["AWS_SESSION_TOKEN"] == "testing"
    assert variables["AWS_DEFAULT_REGION"] == "us-east-1"
    assert variables["AWS_EC2_METADATA_DISABLED"] == "true"
    assert variables["AWS_CONFIG_FILE"] == os.devnull
    assert variables["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert variables["NO_PROXY"] == "internal.example.com,127.0.0.1"
    assert {"AWS_PROFILE", "MOTO_ACCOUNT_ID", "AWS_ENDPOINT_URL_S3"} <= set(
        emulator_unset_variables()
    )

    apply_emulator_environment("http://127.0.0.1:5555")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5555"
    for gone in ("AWS_PROFILE", "MOTO_ACCOUNT_ID", "AWS_ENDPOINT_URL_S3"):
        assert gone not in os.environ


# --- StackSets in the shipped emulator -----------------------------------------------------


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


STACK_SET_TEMPLATE = json.dumps(
    {
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/probe", "Type": "String", "Value": "probe"},
            }
        }
    }
)


def test_the_daemon_deploys_stack_sets_to_nested_ous_as_aws_does(state_dir: Path) -> None:
    # Started as `--emulator` starts it: a detached `python -m orgc.emulator serve` process.
    endpoint = start_daemon(state_dir)
    organizations = _client(endpoint, "organizations")
    root = organizations.list_roots()["Roots"][0]["Id"]

    def ou(parent: str, name: str) -> str:
        made = organizations.create_organizational_unit(ParentId=parent, Name=name)
        return str(made["OrganizationalUnit"]["Id"])

    def account(name: str, parent: str) -> str:
        status = organizations.create_account(AccountName=name, Email=f"{name}@example.com")
        account_id = str(status["CreateAccountStatus"]["AccountId"])
        organizations.move_account(
            AccountId=account_id, SourceParentId=root, DestinationParentId=parent
        )
        return account_id

    workloads = ou(root, "workloads")
    prod = ou(workloads, "prod")
    team = ou(prod, "team")  # two levels below the targeted OU: moto alone stops at one
    shop, deep, lab = account("shop", prod), account("deep", team), account("lab", workloads)
    loose = account("loose", root)

    cloudformation = _client(endpoint, "cloudformation")
    auto = {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    cloudformation.create_stack_set(
        StackSetName="probe",
        TemplateBody=STACK_SET_TEMPLATE,
        PermissionModel="SERVICE_MANAGED",
        AutoDeployment=auto,
    )
    started = cloudformation.create_stack_instances(
        StackSetName="probe",
        DeploymentTargets={
            "OrganizationalUnitIds": [workloads],
            "AccountFilterType": "DIFFERENCE",
            "Accounts": [lab],
        },
        Regions=["eu-west-1", "us-east-1"],
        OperationId="orgc-probe-1",
    )
    assert started["OperationId"] == "orgc-probe-1"
    operation = cloudformation.describe_stack_set_operation(
        StackSetName="probe", OperationId="orgc-probe-1"
    )["StackSetOperation"]
    assert operation["Status"] == "SUCCEEDED"

    def instances() -> list[tuple[str, str, str | None]]:
        summaries = cloudformation.list_stack_instances(StackSetName="probe")["Summaries"]
        return sorted((s["Account"], s["Region"], s.get("OrganizationalUnitId")) for s in summaries)

    # Every account of the OU and the OUs nested in it, less the filtered one; never the
    # management account or an account outside the OU.
    assert instances() == sorted(
        (account_id, region, workloads)
        for account_id in (shop, deep)
        for region in ("eu-west-1", "us-east-1")
    )
    described = cloudformation.describe_stack_set(StackSetName="probe")["StackSet"]
    assert described["AutoDeployment"] == auto
    assert described["OrganizationalUnitIds"] == [workloads]

    # Deleting through OU targets with an account filter removes exactly that account.
    cloudformation.delete_stack_instances(
        StackSetName="probe",
        DeploymentTargets={
            "OrganizationalUnitIds": [workloads],
            "AccountFilterType": "INTERSECTION",
            "Accounts": [deep],
        },
        Regions=["eu-west-1", "us-east-1"],
        RetainStacks=False,
        OperationId="orgc-probe-2",
    )
    assert instances() == [(shop, "eu-west-1", workloads), (shop, "us-east-1", workloads)]

    # A self-managed StackSet still deploys to the accounts it names, with no OU.
    cloudformation.create_stack_set(StackSetName="listed", TemplateBody=STACK_SET_TEMPLATE)
    cloudformation.create_stack_instances(
        StackSetName="listed", Accounts=[loose], Regions=["eu-west-1"]
    )
    listed = cloudformation.list_stack_instances(StackSetName="listed")["Summaries"]
    assert [(s["Account"], s["Region"], s.get("OrganizationalUnitId")) for s in listed] == [
        (loose, "eu-west-1", None)
    ]


STACK_SET_PROJECT = Path(__file__).parent / "cases" / "stacksets" / "project"


def test_orgc_apply_with_emulator_deploys_stack_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--emulator` starts the daemon under .orgc/ and points this process at it; the variables
    # it sets and unsets are put back after the test.
    shutil.copytree(STACK_SET_PROJECT, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    for name in (*emulator_unset_variables(), *emulator_environment("http://127.0.0.1:1")):
        monkeypatch.delenv(name, raising=False)
    state = ["--state", "state.json", "--emulator"]
    try:
        assert main(["apply", "tasks.yml", "--auto-approve", *state]) == 0
        endpoint = daemon_endpoint(Path(".orgc"))
        assert endpoint is not None
        organizations = _client(endpoint, "organizations")
        ids = {a["Name"]: a["Id"] for a in organizations.list_accounts()["Accounts"]}
        cloudformation = _client(endpoint, "cloudformation")
        summaries = cloudformation.list_stack_instances(StackSetName="acme-baseline")["Summaries"]
        # WorkloadsOU holds ProdOU (shop) and DevOU (sandbox, lab); the lab is excluded.
        assert sorted((s["Account"], s["Region"]) for s in summaries) == sorted(
            (ids[name], region)
            for name in ("shop", "sandbox")
            for region in ("eu-west-1", "us-east-1")
        )
        capsys.readouterr()
        assert main(["plan", "tasks.yml", "--detailed-exitcode", *state]) == 0
        assert "No changes." in capsys.readouterr().out
    finally:
        stop_daemon(Path(".orgc"))


def test_another_moto_version_is_refused_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return "5.9.0" if name == "moto" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(EmulatorUnavailable) as raised:
        Emulator().start()
    assert str(raised.value) == (
        "the embedded AWS emulator needs another moto version (moto 5.9.0 is installed, but orgc's "
        f"emulator is written for moto {MOTO_VERSION}); install it with: pip install "
        "'orgc[emulator]'"
    )


def test_update_stack_takes_tags_as_cloudformation_does(aws: object) -> None:
    # UpdateStack's Tags (AWS's API reference): left out, the tags stay; given, they replace
    # the stack's; empty, they are all removed. A change of the tags alone is an update.
    client = boto3.client("cloudformation", region_name="eu-west-1")
    body = json.dumps(
        {
            "Parameters": {"Label": {"Type": "String"}},
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        }
    )
    same: dict[str, Any] = {
        "StackName": "tagged",
        "TemplateBody": body,
        "Parameters": [{"ParameterKey": "Label", "ParameterValue": "x"}],
    }

    def tags() -> dict[str, str]:
        stack = client.describe_stacks(StackName="tagged")["Stacks"][0]
        return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}

    def nothing_to_update(**extra: Any) -> None:
        with pytest.raises(client.exceptions.ClientError, match="No updates are to be performed"):
            client.update_stack(**same, **extra)

    client.create_stack(**same, Tags=[{"Key": "tier", "Value": "gold"}])
    client.update_stack(**same, Tags=[{"Key": "tier", "Value": "silver"}])
    assert tags() == {"tier": "silver"}
    nothing_to_update()  # no Tags: they stay
    nothing_to_update(Tags=[{"Key": "tier", "Value": "silver"}])
    assert tags() == {"tier": "silver"}
    client.update_stack(**same, Tags=[])
    assert tags() == {}
    nothing_to_update(Tags=[])


# --- stack policies ---------------------------------------------------------------------------


def _topics(*names: str, display: str = "one") -> str:
    return json.dumps(
        {
            "Resources": {
                name: {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": display}}
                for name in names
            }
        }
    )


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Statement": list(statements)})


def _statement(effect: str, action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Principal": "*", "Resource": resource, **more}


def _status(client: Any, name: str) -> str:
    return str(client.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])


def _failures(client: Any, name: str) -> list[tuple[str, str, str]]:
    """The failed resources of the stack's latest update (events come newest first)."""
    found = []
    for event in client.describe_stack_events(StackName=name)["StackEvents"]:
        if event["LogicalResourceId"] == name and event["ResourceStatus"] == "UPDATE_IN_PROGRESS":
            break
        if event["ResourceStatus"] == "UPDATE_FAILED":
            found.append(
                (event["LogicalResourceId"], event["ResourceType"], event["ResourceStatusReason"])
            )
    return found


def _resources(client: Any, name: str) -> list[str]:
    found = client.describe_stack_resources(StackName=name)["StackResources"]
    return sorted(r["LogicalResourceId"] for r in found)


def test_a_stack_policy_allows_the_updates_it_names(aws: object) -> None:
    client = boto3.client("cloudformation", region_name="eu-west-1")
    allow_modify = _policy(_statement("Allow", "Update:Modify"))
    client.create_stack(
        StackName="kept", TemplateBody=_topics("A", "B"), StackPolicyBody=allow_modify
    )
    client.update_stack(StackName="kept", TemplateBody=_topics("A", "B", display="two"))
    assert _status(client, "kept") == "UPDATE_COMPLETE"
    assert _failures(client, "kept") == []
    # Update:Modify is allowed; removing B is an Update:Delete nothing allows (implicit deny).
    client.update_stack(StackName="kept", TemplateBody=_topics("A", display="two"))
    assert _status(client, "kept") == "UPDATE_ROLLBACK_COMPLETE"
    assert _failures(client, "kept") == [
        (
            "B",
            "AWS::SNS::Topic",
            "Action denied by stack policy: no statement allows [Update:Delete] on resource "
            "[LogicalResourceId/B]",
        )
    ]
    assert _resources(client, "kept") == ["A", "B"]


def test_a_stack_policy_denying_a_delete_fails_the_update_and_rolls_it_back(aws: object) -> None:
    client = boto3.client("cloudformation", region_name="eu-west-1")
    policy = _policy(
        _statement("Allow", "Update:*"),
        _statement("Deny", ["Update:Delete", "Update:Replace"], "LogicalResourceId/Keep*"),
    )
    client.create_stack(
        StackName="guarded",
        TemplateBody=_topics("KeepMe", "Other"),
        StackPolicyBody=policy,
        Tags=[{"Key": "tier", "Value": "gold"}],
    )
    answer = client.update_stack(
        StackName="guarded",
        TemplateBody=_topics("Other", "New"),
        Tags=[{"Key": "tier", "Value": "silver"}],
    )
    # The call is accepted; the update then fails and rolls back to what the stack held.
    stack = client.describe_stacks(StackName="guarded")["Stacks"][0]
    assert answer["StackId"] == stack["StackId"]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert stack["Tags"] == [{"Key": "tier", "Value": "gold"}]
    assert _failures(client, "guarded") == [
        (
            "KeepMe",
            "AWS::SNS::Topic",
            "Action denied by stack policy: Statement [#2] denies [Update:Delete] on resource "
            "[LogicalResourceId/KeepMe]",
        )
    ]
    assert _resources(client, "guarded") == ["KeepMe", "Other"]
    assert client.get_template(StackName="guarded")["TemplateBody"] == json.loads(
        _topics("KeepMe", "Other")
    )
    # A changed Type is a replacement, denied the same way.
    retyped = json.loads(_topics("KeepMe", "Other"))
    retyped["Resources"]["KeepMe"] = {"Type": "AWS::SQS::Queue"}
    client.update_stack(StackName="guarded", TemplateBody=json.dumps(retyped))
    assert _failures(client, "guarded")[0][2].startswith(
        "Action denied by stack policy: Statement [#2] denies [Update:Replace]"
    )
    # NotResource: the delete of Other alone is allowed, and a new policy given with the
    # update is the stack's policy once it succeeded.
    client.update_stack(
        StackName="guarded",
        TemplateBody=_topics("KeepMe"),
        StackPolicyBody=_policy(
            _statement("Deny", "Update:*", NotResource="LogicalResourceId/Other")
        ),
    )
    assert _status(client, "guarded") == "UPDATE_COMPLETE"
    assert _resources(client, "guarded") == ["KeepMe"]
    assert "NotResource" in client.get_stack_policy(StackName="guarded")["StackPolicyBody"]
    # A stack a denied update left can be allowed, updated and deleted.
    client.update_stack(StackName="guarded", TemplateBody=_topics("Other"))
    assert _status(client, "guarded") == "UPDATE_ROLLBACK_COMPLETE"
    client.set_stack_policy(
        StackName="guarded", StackPolicyBody=_policy(_statement("Allow", "Update:*"))
    )
    client.update_stack(StackName="guarded", TemplateBody=_topics("Other"))
    assert _status(client, "guarded") == "UPDATE_COMPLETE"
    assert _resources(client, "guarded") == ["Other"]
    client.delete_stack(StackName="guarded")
    assert [s["StackName"] for s in client.describe_stacks()["Stacks"]] == []


def test_a_policy_during_the_update_overrides_the_stacks_for_that_update_only(
    aws: object,
) -> None:
    client = boto3.client("cloudformation", region_name="eu-west-1")
    deny_all = _policy(_statement("Deny", "Update:*"))
    client.create_stack(
        StackName="locked", TemplateBody=_topics("A", "B"), StackPolicyBody=deny_all
    )
    client.update_stack(StackName="locked", TemplateBody=_topics("A", "B", display="two"))
    assert _status(client, "locked") == "UPDATE_ROLLBACK_COMPLETE"
    client.update_stack(
        StackName="locked",
        TemplateBody=_topics("A", display="two"),
        StackPolicyDuringUpdateBody=_policy(_statement("Allow", "Update:*")),
    )
    assert _status(client, "locked") == "UPDATE_COMPLETE"
    assert _resources(client, "locked") == ["A"]
    assert json.loads(client.get_stack_policy(StackName="locked")["StackPolicyBody"]) == json.loads(
        deny_all
    )
    client.update_stack(StackName="locked", TemplateBody=_topics("A", display="three"))
    assert _status(client, "locked") == "UPDATE_ROLLBACK_COMPLETE"
    assert [f[2] for f in _failures(client, "locked")] == [
        "Action denied by stack policy: Statement [#1] denies [Update:Modify] on resource "
        "[LogicalResourceId/A]"
    ]


def test_a_stack_policy_condition_narrows_it_to_resource_types(aws: object) -> None:
    client = boto3.client("cloudformation", region_name="eu-west-1")
    body = json.loads(_topics("Topic"))
    body["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 1}}
    policy = _policy(
        _statement("Allow", "Update:*"),
        _statement(
            "Deny",
            "Update:*",
            Condition={"StringEquals": {"ResourceType": ["AWS::SQS::Queue"]}},
        ),
        _statement(
            "Deny", "Update:Delete", Condition={"StringLike": {"ResourceType": "AWS::SNS::*"}}
        ),
    )
    client.create_stack(StackName="typed", TemplateBody=json.dumps(body), StackPolicyBody=policy)
    body["Resources"]["Topic"]["Properties"]["DisplayName"] = "two"  # an SNS topic: allowed
    client.update_stack(StackName="typed", TemplateBody=json.dumps(body))
    assert _status(client, "typed") == "UPDATE_COMPLETE"
    body["Resources"]["Queue"]["Properties"]["DelaySeconds"] = 2  # a queue: denied
    client.update_stack(StackName="typed", TemplateBody=json.dumps(body))
    assert _status(client, "typed") == "UPDATE_ROLLBACK_COMPLETE"
    assert [f[:2] for f in _failures(client, "typed")] == [("Queue", "AWS::SQS::Queue")]
    del body["Resources"]["Topic"]  # an SNS type's delete: the StringLike statement denies it
    body["Resources"]["Queue"]["Properties"]["DelaySeconds"] = 1
    client.update_stack(StackName="typed", TemplateBody=json.dumps(body))
    assert _failures(client, "typed")[0][2] == (
        "Action denied by stack policy: Statement [#3] denies [Update:Delete] on resource "
        "[LogicalResourceId/Topic]"
    )


# --- templates the emulator cannot build ----------------------------------------------------

_REPOSITORY = {"Type": "AWS::CodeCommit::Repository", "Properties": {"RepositoryName": "repo"}}


def _parameter(name: str, value: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::SSM::Parameter",
        "Properties": {"Name": name, "Type": "String", "Value": value},
    }


def _post(endpoint: str, fields: dict[str, str]) -> tuple[int, str]:
    """A CloudFormation Query request as the wire carries it: (HTTP status, body)."""
    scope = "testing/20260101/eu-west-1/cloudformation/aws4_request"
    request = urllib.request.Request(
        endpoint + "/",
        data=urllib.parse.urlencode({**fields, "Version": "2010-05-15"}).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, "
            "Signature=0",
        },
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_stack_reading_a_type_the_emulator_lacks_is_refused_with_an_aws_error(
    aws: AwsProvider, emulator: Emulator
) -> None:
    template = {
        "Resources": {
            "Repo": _REPOSITORY,
            "CloneUrl": _parameter("/repo/url", {"Fn::GetAtt": ["Repo", "CloneUrlHttp"]}),
        },
        "Outputs": {"Name": {"Value": {"Ref": "Repo"}}},
    }
    status, body = _post(
        emulator.endpoint,
        {"Action": "CreateStack", "StackName": "build", "TemplateBody": json.dumps(template)},
    )
    assert status == 400
    error = ElementTree.fromstring(body).find("{*}Error")
    assert error is not None
    assert error.findtext("{*}Code") == "EmulatorRefused"
    assert error.findtext("{*}Message") == (
        "stack build: the emulator does not implement AWS::CodeCommit::Repository (resource "
        "Repo), which Fn::GetAtt Repo.CloneUrlHttp in resource CloneUrl, Ref Repo in output "
        "Name read(s); AWS would create it"
    )
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    assert cloudformation.list_stacks()["StackSummaries"] == []


def test_a_type_the_emulator_lacks_is_refused_only_where_something_created_reads_it(
    aws: AwsProvider,
) -> None:
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    # read only in the branch the condition does not take, and by a resource never created
    template = {
        "Parameters": {"WithRepo": {"Type": "String", "Default": "no"}},
        "Conditions": {"HasRepo": {"Fn::Equals": [{"Ref": "WithRepo"}, "yes"]}},
        "Resources": {
            "Repo": {**_REPOSITORY, "Condition": "HasRepo"},
            "Marker": _parameter(
                "/repo/marker", {"Fn::If": ["HasRepo", {"Fn::Sub": "${Repo.Arn}"}, "none"]}
            ),
            "Copy": {**_parameter("/repo/copy", {"Ref": "Repo"}), "Condition": "HasRepo"},
            "Lone": _REPOSITORY,
        },
    }
    body = json.dumps(template)
    cloudformation.create_stack(StackName="quiet", TemplateBody=body)
    ssm = boto3.client("ssm", region_name="eu-west-1")
    assert ssm.get_parameter(Name="/repo/marker")["Parameter"]["Value"] == "none"

    # the same template with the condition true reads it twice: refused, the stack unchanged
    with pytest.raises(ClientError) as raised:
        cloudformation.update_stack(
            StackName="quiet",
            TemplateBody=body,
            Parameters=[{"ParameterKey": "WithRepo", "ParameterValue": "yes"}],
        )
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"] == {
        "Code": "EmulatorRefused",
        "Message": "stack quiet: the emulator does not implement AWS::CodeCommit::Repository "
        "(resource Repo), which Fn::Sub ${Repo.Arn} (Fn::GetAtt) in resource Marker, Ref Repo in "
        "resource Copy read(s); AWS would create it",
        "Type": "Sender",
    }
    [stack] = cloudformation.describe_stacks(StackName="quiet")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert ssm.get_parameter(Name="/repo/marker")["Parameter"]["Value"] == "none"

    with pytest.raises(ClientError) as raised:
        cloudformation.create_change_set(
            StackName="quiet",
            ChangeSetName="with-repo",
            TemplateBody=body,
            Parameters=[{"ParameterKey": "WithRepo", "ParameterValue": "yes"}],
        )
    assert raised.value.response["Error"]["Code"] == "EmulatorRefused"


def test_a_crash_of_the_emulator_is_an_aws_error_and_leaves_no_stack_behind(
    aws: AwsProvider, emulator: Emulator
) -> None:
    # moto 5.2.5 fails on an SSM parameter without a Name after it made the topic and export
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Nameless": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Type": "String", "Value": "v"},
            },
        },
        "Outputs": {"Shared": {"Value": "x", "Export": {"Name": "shared"}}},
    }
    status, body = _post(
        emulator.endpoint,
        {"Action": "CreateStack", "StackName": "broken", "TemplateBody": json.dumps(template)},
    )
    assert status == 400
    error = ElementTree.fromstring(body).find("{*}Error")
    assert error is not None
    assert error.findtext("{*}Code") == "EmulatorRefused"
    assert error.findtext("{*}Message") == (
        "stack broken: the emulator failed on this request (AttributeError: 'NoneType' object "
        "has no attribute 'lower'); AWS would carry it out or say why not"
    )
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    assert cloudformation.list_stacks()["StackSummaries"] == []
    assert cloudformation.list_exports()["Exports"] == []
    assert boto3.client("sns", region_name="eu-west-1").list_topics()["Topics"] == []
