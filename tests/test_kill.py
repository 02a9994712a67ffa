"""A real `orgc apply` subprocess killed mid-run (SIGKILL, SIGTERM): the next run converges with
no `orgc state unlock`, no account twice, and a valid state whose serial only grew.

The kill point is an event, not a time: the first change the run reports done."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from orgc.aws import AwsProvider
from orgc.emulator import Emulator, emulator_environment, emulator_unset_variables
from orgc.state import S3StateStore, default_state_bucket

TOP = Path(__file__).parent.parent

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: master, AccountId: '123456789012'}
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties:
      ServiceControlPolicies: !Ref DenyLeave
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: prod
      Accounts: [!Ref Shop, !Ref Search]
  DevOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: dev
      Accounts: [!Ref Sandbox]
  Shop:
    Type: OC::ORG::Account
    Properties: {AccountName: shop, RootEmail: shop@example.com, Tags: {team: shop}}
  Search:
    Type: OC::ORG::Account
    Properties: {AccountName: search, RootEmail: search@example.com, Tags: {team: search}}
  Sandbox:
    Type: OC::ORG::Account
    Properties: {AccountName: sandbox, RootEmail: sandbox@example.com}
  DenyLeave:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: DenyLeave
      PolicyDocument:
        Version: '2012-10-17'
        Statement: [{Effect: Deny, Action: 'organizations:LeaveOrganization', Resource: '*'}]
"""


@pytest.fixture
def project(tmp_path: Path, aws: AwsProvider) -> Path:
    (tmp_path / "organization.yml").write_text(ORGANIZATION, encoding="utf-8")
    return tmp_path


def environment(emulator: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in emulator_unset_variables()}
    env.update(emulator_environment(emulator.endpoint))
    env["PYTHONPATH"] = str(TOP)
    return env


def orgc(project: Path, emulator: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orgc", *args, "--endpoint-url", emulator.endpoint],
        cwd=project,
        env=environment(emulator),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def killed_after_first_change(project: Path, emulator: Emulator, signum: int) -> int:
    """Start an apply, send `signum` once it reports its first finished change; its exit code."""
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orgc",
            "apply",
            "organization.yml",
            "--auto-approve",
            "--endpoint-url",
            emulator.endpoint,
        ],
        cwd=project,
        env=environment(emulator),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        assert run.stderr is not None
        try:
            for line in run.stderr:
                if line.split()[1:2] == ["done"]:  # "<timestamp> done    <change>"
                    run.send_signal(signum)
                    break
            run.stderr.read()
            return run.wait(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()


def emails() -> list[str]:
    client = boto3.client("organizations", region_name="us-east-1")
    return sorted(a["Email"] for a in client.list_accounts()["Accounts"])


def serials(aws: AwsProvider) -> list[int | None]:
    store = S3StateStore(aws, default_state_bucket("123456789012"), region="us-east-1")
    return [version.serial for version in store.history()]


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143)]
)
def test_a_killed_apply_is_finished_by_the_next_run_without_help(
    project: Path, emulator: Emulator, aws: AwsProvider, signum: int, exit_code: int
) -> None:
    assert killed_after_first_change(project, emulator, signum) == exit_code
    store = S3StateStore(aws, default_state_bucket("123456789012"), region="us-east-1")
    holder = store.lock_holder()
    assert holder is not None
    # SIGTERM releases the lock on the way out; SIGKILL leaves it to be taken over.
    assert holder.status == ("held" if signum == signal.SIGKILL else "released")

    rerun = orgc(project, emulator, "apply", "organization.yml", "--auto-approve")
    assert rerun.returncode == 0, rerun.stderr
    assert ("warning[W701]" in rerun.stderr) == (signum == signal.SIGKILL)
    assert "its process" in rerun.stderr or signum == signal.SIGTERM

    plan = orgc(project, emulator, "plan", "organization.yml", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert emails() == [
        "master@example.com",
        "sandbox@example.com",
        "search@example.com",
        "shop@example.com",
    ]
    history = serials(aws)
    readable = [serial for serial in history if serial is not None]
    assert readable == history
    assert readable == sorted(set(readable), reverse=True)  # strictly growing, newest first
    assert store.lock_holder().status == "released"  # type: ignore[union-attr]
