"""`orgc init`: an organization built by hand with boto3 on the emulator, adopted into files
and a state that plan as a no-op."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from orgc import adopt as orgc_adopt
from orgc.adopt import LONG_DOCUMENT_LINES, _LogicalIds, adopt, pascal_case
from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator
from orgc.observed import (
    LiveAccount,
    LiveOrganization,
    LiveOrganizationalUnit,
    LivePolicy,
    LiveRoot,
)

MANAGEMENT = "123456789012"

SHORT_SCP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}],
}
# Long enough (as indented JSON) to be written to a file of its own.
LONG_SCP = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": f"DenyOutside{index}",
            "Effect": "Deny",
            "NotAction": ["iam:*", "organizations:*", "support:*"],
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-central-1"]}
            },
        }
        for index in range(3)
    ],
}
ROOT_SCP = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "account:CloseAccount", "Resource": "*"}],
}
TAG_POLICY = {"tags": {"costcenter": {"tag_key": {"@@assign": "CostCenter"}}}}
PASSWORD_POLICY: dict[str, Any] = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 5,
}


def _client(service: str, endpoint: str, credentials: dict[str, str] | None = None) -> Any:
    if credentials is None:
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")  # type: ignore[call-overload]
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def build_organization(endpoint: str) -> dict[str, str]:
    """An organization made the way a team makes one by hand: three levels of OUs (two named
    alike), 11 member accounts, SCPs on the root, an OU and an account, a tag policy, tags on
    accounts and OUs, and an alias and the same password policy in every account."""
    org = _client("organizations", endpoint)
    root_id = org.list_roots()["Roots"][0]["Id"]
    for policy_type in ("SERVICE_CONTROL_POLICY", "TAG_POLICY"):
        org.enable_policy_type(RootId=root_id, PolicyType=policy_type)

    def ou(name: str, parent: str, tags: dict[str, str] | None = None) -> str:
        kwargs: dict[str, Any] = {"ParentId": parent, "Name": name}
        if tags:
            kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        ou_id: str = org.create_organizational_unit(**kwargs)["OrganizationalUnit"]["Id"]
        return ou_id

    workloads = ou("workloads", root_id, {"owner": "platform"})
    prod = ou("prod", workloads, {"environment": "prod"})
    payments = ou("payments", prod)
    sandbox = ou("sandbox", root_id)
    sandbox_prod = ou("prod", sandbox)  # the same name as workloads/prod
    security = ou("Security", root_id)

    placement = {
        "shop-prod": prod,
        "search-prod": prod,
        "payments-prod": payments,
        "payments-card": payments,
        "shop-dev": workloads,
        "search-dev": workloads,
        "sandbox-alice": sandbox,
        "sandbox-bob": sandbox_prod,
        "log-archive": security,
        "audit": security,
        "shared services": root_id,
    }
    ids: dict[str, str] = {"root": root_id, "workloads": workloads, "payments": payments}
    for name, parent in placement.items():
        created = org.create_account(
            AccountName=name,
            Email=f"aws+{name.replace(' ', '-')}@example.com",
            Tags=[
                {"Key": "team", "Value": name.split("-")[0]},
                {"Key": "cost-center", "Value": "0042"},
            ],
        )
        account_id = org.describe_create_account_status(
            CreateAccountRequestId=created["CreateAccountStatus"]["Id"]
        )["CreateAccountStatus"]["AccountId"]
        org.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=parent)
        ids[name] = account_id

    def policy(name: str, document: dict[str, Any], policy_type: str, targets: list[str]) -> str:
        policy_id: str = org.create_policy(
            Name=name,
            Description=f"{name} (made by hand)",
            Content=json.dumps(document),
            Type=policy_type,
        )["Policy"]["PolicySummary"]["Id"]
        for target in targets:
            org.attach_policy(PolicyId=policy_id, TargetId=target)
        return policy_id

    policy("DenyCloseAccount", ROOT_SCP, "SERVICE_CONTROL_POLICY", [root_id])
    policy("deny-leave", SHORT_SCP, "SERVICE_CONTROL_POLICY", [workloads, ids["audit"]])
    policy("RegionGuard", LONG_SCP, "SERVICE_CONTROL_POLICY", [prod])
    policy("cost-center tags", TAG_POLICY, "TAG_POLICY", [root_id, ids["shop-prod"]])

    sts = _client("sts", endpoint)
    for name in placement:
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{ids[name]}:role/OrganizationAccountAccessRole",
            RoleSessionName="build",
        )["Credentials"]
        iam = _client("iam", endpoint, credentials)
        iam.create_account_alias(AccountAlias=f"acme-{name.replace(' ', '-')}")
        iam.update_account_password_policy(**PASSWORD_POLICY)
    management_iam = _client("iam", endpoint)
    management_iam.create_account_alias(AccountAlias="acme-management")
    management_iam.update_account_password_policy(**PASSWORD_POLICY)
    return ids


@pytest.fixture
def organization(aws: AwsProvider, emulator: Emulator) -> dict[str, str]:
    return build_organization(emulator.endpoint)


def test_init_then_plan_is_a_no_op(
    organization: dict[str, str],
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    aws = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]
    assert main(["init", "repo", *aws]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "recorded 12 accounts, 6 OUs and 4 policies in" in out

    repo = tmp_path / "repo"
    text = (repo / "organization.yml").read_text(encoding="utf-8")
    # AWS's own policies are not written; the ids of everything else are in the state.
    assert "PolicyName: FullAWSAccess" not in text
    assert "p-FullAWSAccess" not in text
    assert "p-FullAWSAccess" not in (tmp_path / "state.json").read_text(encoding="utf-8")
    state = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert state["organization"]["accounts"]["ShopProdAccount"] == organization["shop-prod"]
    assert state["organization"]["accounts"]["MasterAccount"] == MANAGEMENT
    assert state["organization"]["organizationalUnits"]["WorkloadsOU"] == organization["workloads"]
    assert sorted(state["organization"]["organizationalUnits"]) == [
        "PaymentsOU",
        "SandboxOU",
        "SandboxProdOU",
        "SecurityOU",
        "WorkloadsOU",
        "WorkloadsProdOU",
    ]
    assert sorted(state["organization"]["policies"]) == [
        "CostCenterTagsTagPolicy",
        "DenyCloseAccountScp",
        "DenyLeaveScp",
        "RegionGuardScp",
    ]
    # The long document went to a file of its own; the short ones are inline.
    assert "PolicyDocument: !ReadFile policies/RegionGuardScp.json" in text
    assert json.loads((repo / "policies" / "RegionGuardScp.json").read_text()) == LONG_SCP
    assert sorted(p.name for p in (repo / "policies").iterdir()) == ["RegionGuardScp.json"]
    # One password policy that every account shares.
    assert text.count("Type: OC::ORG::PasswordPolicy") == 1
    assert text.count("PasswordPolicy: !Ref PasswordPolicy") == 12
    assert "AccountId: '" + organization["shop-prod"] + "'" in text
    assert "Alias: acme-shared-services" in text

    assert text.startswith("# Organization o-")
    resources = text.split("\n\n")
    workloads = next(r for r in resources if r.startswith("  WorkloadsOU:"))
    assert workloads == (
        "  WorkloadsOU:\n"
        "    Type: OC::ORG::OrganizationalUnit\n"
        "    Properties:\n"
        "      OrganizationalUnitName: workloads\n"
        "      OrganizationalUnits:\n"
        "        - !Ref WorkloadsProdOU\n"
        "      Accounts:\n"
        "        - !Ref SearchDevAccount\n"
        "        - !Ref ShopDevAccount\n"
        "      ServiceControlPolicies: !Ref DenyLeaveScp\n"
        "      Tags:\n"
        "        owner: platform"
    )
    tag_policy = next(r for r in resources if r.startswith("  CostCenterTagsTagPolicy:"))
    assert tag_policy == (
        "  CostCenterTagsTagPolicy:\n"
        "    Type: Orgc::ORG::Policy\n"
        "    Properties:\n"
        "      PolicyType: TAG_POLICY\n"
        "      PolicyName: cost-center tags\n"
        "      Description: cost-center tags (made by hand)\n"
        "      PolicyDocument:\n"
        "        tags:\n"
        "          costcenter:\n"
        "            tag_key:\n"
        "              '@@assign': CostCenter\n"
        "      Targets:\n"
        "        - !Ref Root\n"
        "        - !Ref ShopProdAccount"
    )
    shop = next(r for r in resources if r.startswith("  ShopProdAccount:"))
    assert "        cost-center: '0042'\n" in shop  # quoted: it is a string, not a number

    assert main(["validate", "repo"]) == 0
    assert capsys.readouterr().out == "0 errors, 0 warnings\n"
    assert main(["plan", "repo", "--detailed-exitcode", "--refresh", *aws]) == 0
    assert "No changes." in capsys.readouterr().out
    assert main(["plan", "repo", "--detailed-exitcode", *aws]) == 0
    assert "No changes." in capsys.readouterr().out


def test_a_second_init_refuses_to_overwrite_without_force(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _client("organizations", emulator.endpoint).create_policy(
        Name="RegionGuard",
        Description="",
        Content=json.dumps(LONG_SCP),
        Type="SERVICE_CONTROL_POLICY",
    )
    aws_args = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]
    repo = tmp_path / "repo"
    assert main(["init", str(repo), *aws_args]) == 0
    capsys.readouterr()
    before = (repo / "organization.yml").read_text(encoding="utf-8")
    (repo / "organization.yml").write_text(before + "# edited\n", encoding="utf-8")
    assert main(["init", str(repo), *aws_args]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"orgc: error[E801]: {repo / 'organization.yml'} exists; orgc init does not overwrite it "
        "(pass --force to replace it)",
        f"orgc: error[E801]: {repo / 'policies' / 'RegionGuardScp.json'} exists; orgc init does "
        "not overwrite it (pass --force to replace it)",
    ]
    assert (repo / "organization.yml").read_text(encoding="utf-8").endswith("# edited\n")
    # Files moved away, the state still refuses.
    (repo / "organization.yml").unlink()
    (repo / "policies" / "RegionGuardScp.json").unlink()
    assert main(["init", str(repo), *aws_args]) == 1
    assert "error[E802]" in capsys.readouterr().err
    assert main(["init", str(repo), "--force", *aws_args]) == 0
    assert (repo / "organization.yml").read_text(encoding="utf-8") == before


def test_init_with_the_s3_state_as_plan_uses_it(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    org = _client("organizations", emulator.endpoint)
    root_id = org.list_roots()["Roots"][0]["Id"]
    org.create_organizational_unit(ParentId=root_id, Name="prod")
    org.create_account(AccountName="shop", Email="aws-shop@example.com")
    endpoint = ["--endpoint-url", emulator.endpoint]
    assert main(["init", str(tmp_path), *endpoint]) == 0
    assert f"in s3://orgc-state-{MANAGEMENT}/" in capsys.readouterr().out
    assert main(["plan", str(tmp_path), "--detailed-exitcode", "--refresh", *endpoint]) == 0
    assert main(["plan", str(tmp_path), "--detailed-exitcode", *endpoint]) == 0


def test_init_into_a_path_that_is_a_file_is_a_diagnostic(
    aws: AwsProvider, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    state = ["--state", str(tmp_path / "state.json")]
    assert main(["init", str(tmp_path / "taken"), "--endpoint-url", emulator.endpoint, *state]) == 1
    assert capsys.readouterr().err.startswith(
        f"orgc: error[E803]: cannot write {tmp_path / 'taken' / 'organization.yml'}: "
    )
    assert not (tmp_path / "state.json").exists()


# --- the pure core, on made-up organizations ------------------------------------------------


def test_logical_ids_are_pascal_case_unique_and_avoid_reserved_names() -> None:
    assert pascal_case("shop-prod") == "ShopProd"
    assert pascal_case("shared services (EU)") == "SharedServicesEU"
    assert pascal_case("ünïcode") == "NCode"
    ids = _LogicalIds()
    assert ids.claim("prod", "OU", "x") == "ProdOU"
    assert ids.claim("Prod", "OU", "x") == "ProdOU2"
    assert ids.claim("prod OU", "OU", "x") == "ProdOU3"
    assert ids.claim("current", "Account", "x") == "CurrentAccount2"
    assert ids.claim("0123", "Account", "x") == "Account0123"
    assert ids.claim("---", "Account", "Account012345678901") == "Account012345678901"


def _live(**accounts: LiveAccount) -> LiveOrganization:
    return LiveOrganization(
        organization_id="o-example",
        management_account_id=MANAGEMENT,
        root=LiveRoot(root_id="r-root", enabled_policy_types=(), policy_ids=("p-FullAWSAccess",)),
        accounts={a.account_id: a for a in accounts.values()},
        organizational_units={
            "ou-1": LiveOrganizationalUnit(ou_id="ou-1", name="prod", parent_id="r-root")
        },
        policies={
            "p-FullAWSAccess": LivePolicy(
                policy_id="p-FullAWSAccess",
                policy_type="SERVICE_CONTROL_POLICY",
                name="FullAWSAccess",
                description="",
                content=json.dumps({"Statement": [{"Effect": "Allow"}]}),
                aws_managed=True,
            )
        },
    )


def _account(account_id: str, name: str, **extra: Any) -> LiveAccount:
    return LiveAccount(
        account_id=account_id,
        name=name,
        email=f"{name}@example.com",
        status=extra.pop("status", "ACTIVE"),
        parent_id=extra.pop("parent_id", "r-root"),
        details_read=extra.pop("details_read", True),
        **extra,
    )


def test_inactive_and_unreadable_accounts_are_reported_and_left_out() -> None:
    adoption = adopt(
        _live(
            management=_account(MANAGEMENT, "management"),
            closed=_account("000000000001", "closed", status="SUSPENDED"),
            locked=_account(
                "000000000002", "locked", parent_id="ou-1", details_read=False, alias="ignored"
            ),
        )
    )
    assert [str(d) for d in adoption.warnings] == [
        "orgc: warning[W801]: account closed (000000000001) is SUSPENDED; it is left out of the "
        "files",
        "orgc: warning[W802]: the IAM alias and password policy of account locked "
        "(000000000002) could not be read through OrganizationAccountAccessRole; they are left "
        "out of the files",
    ]
    text = adoption.files["organization.yml"]
    assert "closed" not in text
    assert "ignored" not in text
    assert "PolicyName: FullAWSAccess" not in text
    assert adoption.state.accounts == {
        "LockedAccount": "000000000002",
        "ManagementAccount": MANAGEMENT,
    }
    assert adoption.state.organizational_units == {"ProdOU": "ou-1"}
    assert adoption.state.root_id == "r-root"


def test_documents_longer_than_the_limit_go_to_files() -> None:
    live = _live(management=_account(MANAGEMENT, "management"))
    long_document = {"Statement": [{"Sid": str(i)} for i in range(LONG_DOCUMENT_LINES)]}
    policy = LivePolicy(
        policy_id="p-1",
        policy_type="BACKUP_POLICY",
        name="daily",
        description="",
        content=json.dumps(long_document),
        aws_managed=False,
    )
    adoption = adopt(
        LiveOrganization(
            organization_id=live.organization_id,
            management_account_id=live.management_account_id,
            root=live.root,
            accounts=live.accounts,
            organizational_units=live.organizational_units,
            policies={**live.policies, "p-1": policy},
        )
    )
    assert list(adoption.files) == ["organization.yml", "policies/DailyBackupPolicy.json"]
    assert json.loads(adoption.files["policies/DailyBackupPolicy.json"]) == long_document
    assert (
        "PolicyDocument: !ReadFile policies/DailyBackupPolicy.json"
        in (adoption.files["organization.yml"])
    )
    assert adoption.state.policies == {"DailyBackupPolicy": "p-1"}


def test_an_organization_with_odd_corners_adopts_as_a_no_op(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Five levels of OUs, the management account in an OU, a closed account, two different
    password policies and an account with none, tagged policies of every type, an SCP on the
    management account, names YAML would misread."""
    endpoint = emulator.endpoint
    org = _client("organizations", endpoint)
    root_id = org.list_roots()["Roots"][0]["Id"]
    for policy_type in ("SERVICE_CONTROL_POLICY", "TAG_POLICY", "AISERVICES_OPT_OUT_POLICY"):
        org.enable_policy_type(RootId=root_id, PolicyType=policy_type)
    parent = root_id
    levels = []
    for name in ("yes", "1.5", "null", "a: b", "deep"):
        parent = org.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"][
            "Id"
        ]
        levels.append(parent)
    org.move_account(AccountId=MANAGEMENT, SourceParentId=root_id, DestinationParentId=levels[0])
    accounts = {}
    for name in ("on", "0123", "closed", "plain"):
        created = org.create_account(AccountName=name, Email=f"aws-{name}@example.com")
        accounts[name] = org.describe_create_account_status(
            CreateAccountRequestId=created["CreateAccountStatus"]["Id"]
        )["CreateAccountStatus"]["AccountId"]
    org.move_account(
        AccountId=accounts["0123"], SourceParentId=root_id, DestinationParentId=levels[4]
    )
    org.close_account(AccountId=accounts["closed"])
    scp = org.create_policy(
        Name="no",
        Description="Zugriff verweigert: ünïcode",
        Content=json.dumps(SHORT_SCP),
        Type="SERVICE_CONTROL_POLICY",
        Tags=[{"Key": "owner", "Value": "true"}],
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=scp, TargetId=MANAGEMENT)
    org.attach_policy(PolicyId=scp, TargetId=levels[2])
    opt_out = org.create_policy(
        Name="opt out",
        Description="",
        Content=json.dumps({"services": {"default": {"opt_out_policy": {"@@assign": "optOut"}}}}),
        Type="AISERVICES_OPT_OUT_POLICY",
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=opt_out, TargetId=levels[4])
    org.create_policy(  # attached nowhere
        Name="unused", Description="", Content=json.dumps(TAG_POLICY), Type="TAG_POLICY"
    )
    sts = _client("sts", endpoint)
    for name, length in (("on", 12), ("0123", 20)):
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{accounts[name]}:role/OrganizationAccountAccessRole",
            RoleSessionName="build",
        )["Credentials"]
        _client("iam", endpoint, credentials).update_account_password_policy(
            MinimumPasswordLength=length, RequireSymbols=True
        )

    state = ["--state", str(tmp_path / "state.json"), "--endpoint-url", endpoint]
    repo = tmp_path / "repo"
    assert main(["init", str(repo), *state]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"orgc: warning[W801]: account closed ({accounts['closed']}) is SUSPENDED; it is left "
        "out of the files\n"
    )
    text = (repo / "organization.yml").read_text(encoding="utf-8")
    assert text.count("Type: OC::ORG::PasswordPolicy") == 2
    assert "AccountName: 'on'" in text
    assert "OrganizationalUnitName: 'yes'" in text
    assert "  OU15:\n" in text
    assert "        - !Ref Account0123\n" in text
    assert main(["plan", str(repo), "--detailed-exitcode", "--refresh", *state]) == 0
    assert "No changes." in capsys.readouterr().out


def test_files_that_would_still_change_something_are_reported_and_not_trusted(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """init proves its files by planning them; should they ever not describe the organization
    (here: a tag written wrong), it says what the next apply would do, and does not record the
    files' digest, so that the next plan reads the organization instead of trusting the state."""
    org = _client("organizations", emulator.endpoint)
    root_id = org.list_roots()["Roots"][0]["Id"]
    org.create_organizational_unit(
        ParentId=root_id, Name="prod", Tags=[{"Key": "owner", "Value": "platform"}]
    )
    real_adopt = orgc_adopt.adopt

    def wrong_tag(live: LiveOrganization, **kwargs: Any) -> orgc_adopt.Adoption:
        adoption = real_adopt(live, **kwargs)
        text = adoption.files["organization.yml"].replace("owner: platform", "owner: other")
        return dataclasses.replace(adoption, files={**adoption.files, "organization.yml": text})

    monkeypatch.setattr(orgc_adopt, "adopt", wrong_tag)
    state = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]
    assert main(["init", str(tmp_path / "repo"), *state]) == 0
    assert capsys.readouterr().err == (
        "orgc: warning[W803]: the next apply would tag OU ProdOU: owner=other\n"
    )
    recorded = json.loads((tmp_path / "state.json").read_text(encoding="utf-8"))
    assert recorded["organizationDigest"] is None
    assert main(["plan", str(tmp_path / "repo"), "--detailed-exitcode", *state]) == 2
    assert "tag OU ProdOU: owner=other" in capsys.readouterr().out
