"""Stage 4, bind: bindings resolved against tests/cases/templates/organization.yml.

That organization (drawn at the top of the file): Management (management, tag budget) and Loose
(tags budget, owner) in the root; WorkloadsOU holds Shared and the OUs ProdOU (ProdA, ProdB with
tag owner) and DevOU (DevA, and SandboxOU with Sandbox); SecurityOU holds Audit and Logs.
Each file in tests/cases/templates/bind states its diagnostics inline.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_templates import CASES_DIR, build, case_diagnostics, organization, stacks_task

from orgc.bind import BoundTemplate, bind_template, resolve_binding
from orgc.diagnostics import Diagnostics, Span
from orgc.templates import Binding


@pytest.mark.parametrize(
    "case", sorted((CASES_DIR / "bind").glob("*.yml")), ids=lambda path: path.stem
)
def test_case(case: Path) -> None:
    actual, expected = case_diagnostics(case)
    assert expected, f"{case.name} states no diagnostics"
    assert actual == expected


EVERY_MEMBER = ("Audit", "DevA", "Logs", "Loose", "ProdA", "ProdB", "Sandbox", "Shared")


@pytest.mark.parametrize(
    ("binding", "accounts"),
    [
        pytest.param(Binding(all_accounts=True), EVERY_MEMBER, id="every account but management"),
        pytest.param(
            Binding(organizational_units=("WorkloadsOU",)),
            ("DevA", "ProdA", "ProdB", "Sandbox", "Shared"),
            id="nested OUs",
        ),
        pytest.param(
            Binding(organizational_units=("DevOU",), exclude_organizational_units=("SandboxOU",)),
            ("DevA",),
            id="excluded nested OU",
        ),
        pytest.param(
            Binding(all_organizational_units=True),
            ("Audit", "DevA", "Logs", "ProdA", "ProdB", "Sandbox", "Shared"),
            id="every OU leaves out the root's accounts",
        ),
        pytest.param(Binding(include_master_account=True), ("Management",), id="master"),
        pytest.param(
            Binding(accounts_with_tag="budget"), ("Loose", "Management"), id="tag, master too"
        ),
        pytest.param(
            Binding(accounts_with_tag="owner", exclude_accounts=("Loose",)),
            ("ProdB",),
            id="tag less an account",
        ),
        pytest.param(
            Binding(
                all_accounts=True,
                include_master_account=True,
                exclude_organizational_units=("WorkloadsOU",),
                exclude_accounts=("Audit",),
            ),
            ("Logs", "Loose", "Management"),
            id="excludes come last",
        ),
        pytest.param(
            Binding(
                accounts=("ProdA", "Audit"),
                organizational_units=("ProdOU",),
                exclude_accounts=("Management",),
            ),
            ("Audit", "ProdA", "ProdB"),
            id="union without repeats, sorted",
        ),
        pytest.param(
            Binding(all_accounts=True, exclude_organizational_units=("WorkloadsOU", "SecurityOU")),
            ("Loose",),
            id="two excluded OUs",
        ),
        pytest.param(Binding(), (), id="nothing"),
    ],
)
def test_resolve_binding(binding: Binding, accounts: tuple[str, ...]) -> None:
    diagnostics = Diagnostics()
    regions = ("us-east-1", "eu-west-1", "ap-south-1")
    given = replace(binding, regions=regions, regions_given=True)
    assert resolve_binding(given, organization(), diagnostics) == (accounts, regions)
    assert list(diagnostics) == []


def test_a_binding_without_a_region_selects_accounts_but_no_target() -> None:
    where = Span("template.yml", 4, 5)
    diagnostics = Diagnostics()
    binding = Binding(accounts=("Audit",), span=where)
    assert resolve_binding(binding, organization(), diagnostics) == (("Audit",), ())
    assert [str(d) for d in diagnostics] == [
        "template.yml:4:5: warning[W401]: this binding selects 1 account but no region, so it "
        "deploys nothing; add Region, or a DefaultOrganizationBindingRegion to the template or "
        "the task"
    ]
    # Without accounts there is nothing to warn about.
    quiet = Diagnostics()
    assert resolve_binding(Binding(span=where), organization(), quiet) == ((), ())
    assert list(quiet) == []


def test_wrong_references_are_left_out_and_reported_where_written() -> None:
    nobody, prod = Span("template.yml", 5, 9), Span("template.yml", 6, 9)
    binding = Binding(
        accounts=("Nobody", "ProdOU", "Audit"),
        regions=("eu-west-1",),
        regions_given=True,
        ref_spans={"Nobody": nobody, "ProdOU": prod},
    )
    diagnostics = Diagnostics()
    assert resolve_binding(binding, organization(), diagnostics) == (("Audit",), ("eu-west-1",))
    assert [(d.code, d.span) for d in diagnostics] == [("W397", nobody), ("E402", prod)]


GUARD_DUTY = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
DefaultOrganizationBindingRegion: eu-west-1
OrganizationBindings:
  Security:
    OrganizationalUnit: !Ref SecurityOU
Resources:
  Detector:
    Type: AWS::GuardDuty::Detector
    OrganizationBinding:
      Account: '*'
      IncludeMasterAccount: true
      ExcludeOrganizationalUnit: !Ref WorkloadsOU
  Master:
    Type: AWS::GuardDuty::Master
    OrganizationBinding: !Ref Security
    DependsOnAccount: !Ref Management
  Member:
    Type: AWS::GuardDuty::Member
    OrganizationBinding:
      IncludeMasterAccount: true
      Region: [us-east-1, eu-west-1]
    ForeachAccount: !Ref Security
  Quiet:
    Type: AWS::GuardDuty::Member
    OrganizationBinding:
      Account: !Ref Shared
      Region: []
    ForeachAccount:
      OrganizationalUnit: !Ref SandboxOU
      ExcludeAccount: !Ref Sandbox
"""


def test_bind_template_places_every_resource(tmp_path: Path) -> None:
    template, diagnostics = build(tmp_path, GUARD_DUTY)
    bound = bind_template(
        stacks_task(tmp_path / "template.yml"), template, organization(), diagnostics
    )
    assert bound == BoundTemplate(
        task="Baseline",
        targets={
            ("Audit", "eu-west-1"): ("Detector", "Master"),
            ("Logs", "eu-west-1"): ("Detector", "Master"),
            ("Loose", "eu-west-1"): ("Detector",),
            ("Management", "eu-west-1"): ("Detector", "Member"),
            ("Management", "us-east-1"): ("Member",),
        },
        loops={"Member": ("Audit", "Logs"), "Quiet": ()},
    )
    # Dicts compare without order; the order is part of the contract.
    assert list(bound.targets) == sorted(bound.targets)
    assert [(d.code, d.span.line if d.span else 0) for d in diagnostics] == [("W401", 25)]


def test_task_level_bindings_decide_the_targets(tmp_path: Path) -> None:
    template, diagnostics = build(
        tmp_path,
        GUARD_DUTY,
        default_regions=("eu-north-1",),
        bindings={"Security": Binding(accounts=("ProdB",))},
    )
    bound = bind_template(
        stacks_task(tmp_path / "template.yml"), template, organization(), diagnostics
    )
    assert bound.targets == {
        ("Audit", "eu-north-1"): ("Detector",),
        ("Logs", "eu-north-1"): ("Detector",),
        ("Loose", "eu-north-1"): ("Detector",),
        ("Management", "eu-north-1"): ("Detector",),
        ("Management", "eu-west-1"): ("Member",),
        ("Management", "us-east-1"): ("Member",),
        ("ProdB", "eu-north-1"): ("Master",),
    }
    assert bound.loops == {"Member": ("ProdB",), "Quiet": ()}


def test_a_resource_without_binding_takes_the_default(tmp_path: Path) -> None:
    text = (
        "DefaultOrganizationBinding: {OrganizationalUnit: !Ref ProdOU, Region: eu-west-1}\n"
        "Resources:\n"
        "  Topic: {Type: AWS::SNS::Topic}\n"
        "  Queue: {Type: AWS::SQS::Queue, OrganizationBinding: {Account: !Ref Loose}}\n"
    )
    template, diagnostics = build(tmp_path, text)
    bound = bind_template(
        stacks_task(tmp_path / "template.yml"), template, organization(), diagnostics
    )
    assert bound.targets == {
        ("ProdA", "eu-west-1"): ("Topic",),
        ("ProdB", "eu-west-1"): ("Topic",),
    }
    # Queue has accounts but no region: the default binding's Region is not a default region.
    assert [d.code for d in diagnostics] == ["W401"]


REGION_GUARDRAIL = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: management, AccountId: '123456789012'}
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties: {ServiceControlPolicies: !Ref OnlyIreland}
  WorkloadsOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: workloads
      Accounts: [!Ref Shop, !Ref Search]
      ServiceControlPolicies: !Ref NoVirginiaUnlessPlatform
  Shop:
    Type: OC::ORG::Account
    Properties: {AccountName: shop, RootEmail: shop@example.com}
  Search:
    Type: OC::ORG::Account
    Properties: {AccountName: search, RootEmail: search@example.com}
  Loose:
    Type: OC::ORG::Account
    Properties: {AccountName: loose, RootEmail: loose@example.com}
  OnlyIreland:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: OnlyIreland
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Sid: DenyOtherRegions
            Effect: Deny
            NotAction: ['iam:*', 'sts:*', 'organizations:*']
            Resource: '*'
            Condition: {StringNotLike: {aws:RequestedRegion: ['eu-west-*', us-east-1]}}
          - Sid: DenyIamOutsideIreland
            Effect: Deny
            Action: 'iam:*'
            Resource: '*'
            Condition: {StringNotEquals: {aws:RequestedRegion: eu-west-1}}
  NoVirginiaUnlessPlatform:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: NoVirginiaUnlessPlatform
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Deny
            Action: ['cloudformation:*', 'ssm:*']
            Resource: '*'
            Condition:
              StringEquals: {aws:RequestedRegion: us-east-1}
              ArnNotLike: {aws:PrincipalArn: 'arn:aws:iam::*:role/Platform'}
"""

REGION_TASKS = """\
OrganizationUpdate:
  Type: update-organization
  Template: ./organization.yml
Topics:
  Type: update-stacks
  Template: ./topic.yml
  StackName: topics
"""

REGION_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Resources:
  Topic:
    Type: AWS::SNS::Topic
    OrganizationBinding:
      IncludeMasterAccount: true
      Account: '*'
      Region: [eu-west-1, us-east-1, eu-central-1]
"""


def test_a_binding_to_a_region_an_scp_denies_is_a_warning_naming_it(tmp_path: Path) -> None:
    from orgc.load import display_path
    from orgc.pipeline import validate

    (tmp_path / "organization.yml").write_text(REGION_GUARDRAIL, encoding="utf-8")
    (tmp_path / "tasks.yml").write_text(REGION_TASKS, encoding="utf-8")
    (tmp_path / "topic.yml").write_text(REGION_TEMPLATE, encoding="utf-8")
    found = validate(tmp_path / "tasks.yml", root=tmp_path)
    where = f"{display_path(tmp_path / 'topic.yml')}:5:5"
    # The management account is never restricted by SCPs; the IAM-only statement does not
    # cover CloudFormation.
    assert [(str(d.span), d.code, d.message) for d in found] == [
        (
            where,
            "W353",
            "task Topics deploys to eu-central-1 in Loose, Search and Shop, but SCP OnlyIreland "
            "(statement DenyOtherRegions, attached to the root) denies eu-central-1 there, so "
            "those stacks would fail; remove the region from the binding or allow it in the SCP",
        ),
        (
            where,
            "W353",
            "task Topics deploys to us-east-1 in Search and Shop, but SCP "
            "NoVirginiaUnlessPlatform (statement 1, attached to OU WorkloadsOU) denies "
            "us-east-1 there unless its other conditions (ArnNotLike aws:PrincipalArn) exempt "
            "orgc, so those stacks would fail; remove the region from the binding or allow it "
            "in the SCP",
        ),
    ]
