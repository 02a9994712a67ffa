"""Stage 3, model: the whole-organization checks, and the model built from the example.

Each file in tests/cases/model states the diagnostics it expects inline, on the line they are
about (`# error[E307]: ...`); the run goes through load, validate and model as `orgc validate`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.inline import actual_diagnostics, expected_diagnostics

from orgc.limits import limits
from orgc.load import display_path
from orgc.model import Organization
from orgc.observed import SERVICE_CONTROL_POLICY, TAG_POLICY
from orgc.pipeline import compile_organization, validate

CASES_DIR = Path(__file__).parent / "cases" / "model"
TOP = Path(__file__).parent.parent


@pytest.mark.parametrize("case", sorted(CASES_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_case(case: Path) -> None:
    diagnostics = validate(case, root=CASES_DIR)
    assert actual_diagnostics(diagnostics, display_path(case.resolve())) == expected_diagnostics(
        case
    )


@pytest.fixture(scope="module")
def example() -> Organization:
    return compile_organization(TOP / "organization", root=TOP).organization


def test_the_matrix_makes_one_account_per_team_and_environment(example: Organization) -> None:
    made = {a.logical_id: a for a in example.accounts.values() if a.logical_id.endswith("Account")}
    assert sorted(made) == [
        "AuditAccount",
        "DataProdAccount",
        "DataStagingAccount",
        "LogArchiveAccount",
        "ManagementAccount",
        "PaymentsDevAccount",
        "PaymentsProdAccount",
        "PaymentsStagingAccount",
        "SearchDevAccount",
        "SearchProdAccount",
        "SearchStagingAccount",
    ]
    payments = made["PaymentsProdAccount"]
    assert payments.name == "example-payments-prod"
    assert payments.email == "aws-payments-prod@example.com"
    assert payments.alias == "example-payments-prod"
    assert payments.parent == "ProdOU"
    assert payments.tags == {"owner": "payments", "environment": "prod", "cost-center": "2100"}
    assert payments.password_policy == "StrictPasswordPolicy"
    assert payments.access_role_name == "OrganizationAccountAccessRole"
    assert made["DataStagingAccount"].parent == "SdlcOU"


def test_policies_attach_from_both_sides(example: Organization) -> None:
    assert example.root.policies == ("DenyUnusedRegionsSCP", "DenyLeaveOrganizationSCP")
    assert example.organizational_units["WorkloadsOU"].policies == ("RequiredTagsPolicy",)
    assert example.policies["RequiredTagsPolicy"].policy_type == TAG_POLICY
    assert example.policies["DenyRootUserSCP"].policy_type == SERVICE_CONTROL_POLICY
    # Documents are kept minified, key order as written.
    assert example.policies["DenyLeaveOrganizationSCP"].document == (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Deny",'
        '"Action":"organizations:LeaveOrganization","Resource":"*"}]}'
    )


def test_ou_tree(example: Organization) -> None:
    assert [ou.logical_id for ou in example.ous_top_down()] == [
        "SecurityOU",
        "WorkloadsOU",
        "ProdOU",
        "SdlcOU",
    ]
    assert example.organizational_units["ProdOU"].parent == "WorkloadsOU"
    assert example.ou_depth("SdlcOU") == 2
    assert example.management_account.account_id == "123456789012"


def test_more_organizational_units_than_aws_allows(tmp_path: Path) -> None:
    allowed = limits()["organizationalUnit.count"].value
    header = (
        "AWSTemplateFormatVersion: '2010-09-09-OC'\n"
        "Organization:\n"
        "  Management:\n"
        "    Type: OC::ORG::MasterAccount\n"
        "    Properties: {AccountName: management, AccountId: '111111111111'}\n"
    )

    ous = "".join(
        f"  OU{n}:\n    Type: OC::ORG::OrganizationalUnit\n"
        f"    Properties: {{OrganizationalUnitName: ou-{n}}}\n"
        for n in range(allowed + 1)
    )
    (tmp_path / "organization.yml").write_text(header + ous, encoding="utf-8")
    (too_many,) = validate(tmp_path / "organization.yml", root=tmp_path)
    assert (too_many.code, too_many.message) == (
        "E318",
        f"the organization declares {allowed + 1} OUs; AWS allows {allowed}",
    )
    assert too_many.span is not None
    assert (too_many.span.line, too_many.span.col) == (2, 1)
