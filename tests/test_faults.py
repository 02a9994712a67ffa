"""Apply through a network and an AWS that fail: a fault-injecting proxy in front of the emulator.

The stacks first-run project (accounts created in the run, nested OUs, SCPs, stacks in several
accounts and regions) is applied with `orgc apply` through `tests/fault_proxy.py` at 5 % and
20 % of requests failing (lost answers, dropped connections, 500/503, throttling, concurrent
modification, latency). It must converge within two runs with nothing created twice, and every
error it gives up on must be a diagnostic naming the AWS operation, never a traceback.

No test here waits for real: the provider's and botocore's backoff sleeps are skipped.
"""

from __future__ import annotations

import functools
import re
import shutil
import types
from collections import Counter
from pathlib import Path

import boto3
import botocore.endpoint
import pytest
from fault_proxy import fault_proxy

from orgc import cli
from orgc.aws import AwsProvider
from orgc.emulator import Emulator

SCENARIO = Path(__file__).parent / "scenarios" / "stacks" / "first-run"
MANAGEMENT = "123456789012"
ACCESS_ROLE = "OrganizationAccountAccessRole"
# A nested OU and policies, so that every kind of create meets the faults.
ORGANIZATION_EXTRA = """\
  VaultOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {OrganizationalUnitName: vault}
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties: {ServiceControlPolicies: !Ref DenyLeave}
  DenyLeave:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: DenyLeave
      PolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Deny, Action: 'organizations:LeaveOrganization', Resource: '*'}]
  Teams:
    Type: Orgc::ORG::Policy
    Properties:
      PolicyType: TAG_POLICY
      PolicyName: Teams
      Targets: [!Ref WorkloadsOU]
      PolicyDocument: {tags: {team: {tag_key: {'@@assign': team}}}}
"""
# What a failure orgc gives up on looks like: a code, then the AWS operation and its error.
DIAGNOSTIC = re.compile(r"^orgc: error\[E7\d\d\]: \S.*$")


@pytest.fixture
def project(tmp_path: Path, aws: AwsProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(SCENARIO / "templates", tmp_path / "templates")
    shutil.copy(SCENARIO / "tasks.yml", tmp_path / "tasks.yml")
    organization = (SCENARIO / "organization.yml").read_text(encoding="utf-8")
    organization = organization.replace(
        "AccountName: management, AccountId: '111111111111'",
        f"AccountName: master, AccountId: '{MANAGEMENT}'",
    ).replace(
        "Accounts: [!Ref LogArchive]}",
        "Accounts: [!Ref LogArchive], OrganizationalUnits: [!Ref VaultOU]}",
    )
    (tmp_path / "organization.yml").write_text(organization + ORGANIZATION_EXTRA, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # No real waiting: the provider's backoff and botocore's own retry delays.
    monkeypatch.setattr(
        "orgc.aws.AwsProvider",
        functools.partial(AwsProvider, sleep=lambda _: None, poll_interval=0),
    )
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda _: None))
    return tmp_path


def _orgc(endpoint: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main([*args, "--state", "state.json", "--endpoint-url", endpoint])
    return code, capsys.readouterr().err


def _in_account(account_id: str, service: str, region: str) -> object:
    session = boto3.Session()
    if account_id == MANAGEMENT:
        return session.client(service, region_name=region)  # type: ignore[call-overload]
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}", RoleSessionName="check"
    )["Credentials"]
    return session.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _duplicates() -> dict[str, list[str]]:
    """Everything the emulator holds twice: accounts by email, OUs by name under one parent,
    policies by type and name, stacks by name in one account and region."""
    org = boto3.client("organizations", region_name="us-east-1")
    accounts = org.list_accounts()["Accounts"]
    found: dict[str, list[str]] = {}
    emails = Counter(a["Email"].lower() for a in accounts)
    found["accounts"] = sorted(e for e, n in emails.items() if n > 1)
    root = org.list_roots()["Roots"][0]["Id"]
    names: Counter[tuple[str, str]] = Counter()
    parents = [root]
    while parents:
        parent = parents.pop()
        for ou in org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]:
            names[(parent, ou["Name"])] += 1
            parents.append(ou["Id"])
    found["organizational units"] = sorted(f"{p}/{n}" for (p, n), c in names.items() if c > 1)
    policies: Counter[tuple[str, str]] = Counter()
    for policy_type in ("SERVICE_CONTROL_POLICY", "TAG_POLICY"):
        for policy in org.list_policies(Filter=policy_type)["Policies"]:
            policies[(policy_type, policy["Name"])] += 1
    found["policies"] = sorted(f"{t}/{n}" for (t, n), c in policies.items() if c > 1)
    stacks: Counter[tuple[str, str, str]] = Counter()
    for account in accounts:
        for region in ("eu-west-1", "us-east-1"):
            client = _in_account(account["Id"], "cloudformation", region)
            for summary in client.list_stacks()["StackSummaries"]:  # type: ignore[attr-defined]
                if summary["StackStatus"] != "DELETE_COMPLETE":
                    stacks[(account["Id"], region, summary["StackName"])] += 1
    found["stacks"] = sorted("/".join(k) for k, c in stacks.items() if c > 1)
    found["stacks created"] = [f"{len(stacks)} stacks"]
    return found


@pytest.mark.parametrize(("rate", "seed"), [(0.05, 5), (0.20, 20)], ids=["5%", "20%"])
def test_apply_converges_through_faults_with_nothing_created_twice(
    rate: float,
    seed: int,
    project: Path,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs: list[tuple[int, str]] = []
    with fault_proxy(emulator.endpoint, rate=rate, seed=seed) as proxy:
        for _ in range(2):
            code, errors = _orgc(proxy.endpoint, capsys, "apply", "tasks.yml", "--auto-approve")
            runs.append((code, errors))
            for line in errors.splitlines():
                if "error[" in line:
                    assert DIAGNOSTIC.match(line), line
            assert "Traceback" not in errors
            assert code in (0, 3), errors
            if code == 0:
                break
        injected = dict(proxy.injected)
    assert runs[-1][0] == 0, runs
    assert sum(injected.values()) >= 1, injected
    # Converged: a plan made with no faults finds nothing to do.
    code, errors = _orgc(emulator.endpoint, capsys, "plan", "tasks.yml", "--detailed-exitcode")
    assert code == 0, errors
    found = _duplicates()
    assert found.pop("stacks created") == ["9 stacks"]
    assert found == {"accounts": [], "organizational units": [], "policies": [], "stacks": []}


def test_lost_create_answers_make_one_of_each(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first creates are carried out and their answers lost; the rest goes through.
    with fault_proxy(emulator.endpoint, rate=0.0, seed=0) as proxy:
        losses = {
            "CreateAccount": 2,
            "CreateOrganizationalUnit": 2,
            "CreatePolicy": 2,
            "EnablePolicyType": 1,
            "CreateStack": 2,
        }
        choose = proxy.choose

        def lose_creates(operation: str) -> str | None:
            if losses.get(operation, 0) > 0:
                losses[operation] -= 1
                return "lost"
            return choose(operation)

        proxy.choose = lose_creates  # type: ignore[method-assign]
        code, errors = _orgc(proxy.endpoint, capsys, "apply", "tasks.yml", "--auto-approve")
    assert code == 0, errors
    assert set(losses.values()) == {0}
    found = _duplicates()
    found.pop("stacks created")
    assert found == {"accounts": [], "organizational units": [], "policies": [], "stacks": []}
    code, errors = _orgc(emulator.endpoint, capsys, "plan", "tasks.yml", "--detailed-exitcode")
    assert code == 0, errors


def test_giving_up_on_a_create_is_a_diagnostic(
    project: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every CreateOrganizationalUnit fails with a server error and is never carried out.
    with fault_proxy(emulator.endpoint, rate=0.0, seed=0) as proxy:
        choose = proxy.choose

        def fail_ou_creates(operation: str) -> str | None:
            return "500" if operation == "CreateOrganizationalUnit" else choose(operation)

        proxy.choose = fail_ou_creates  # type: ignore[method-assign]
        code, errors = _orgc(proxy.endpoint, capsys, "apply", "tasks.yml", "--auto-approve")
    assert code == 3
    failures = [
        line for line in errors.splitlines() if "error[" in line and "CreateOrganizational" in line
    ]
    assert failures, errors
    assert all(DIAGNOSTIC.match(line) for line in failures), failures
    assert (
        "Organizations.CreateOrganizationalUnit: InternalFailure: injected 500 (sent 4 "
        in (failures[0])
    )
    assert "orgc looked for OU security under r-" in failures[0]
    org = boto3.client("organizations", region_name="us-east-1")
    root = org.list_roots()["Roots"][0]["Id"]
    assert org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"] == []
