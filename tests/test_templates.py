"""Stage 3 (model), annotated templates: reading a task's template into a `Template`.

Each file in tests/cases/templates/build states the diagnostics it expects inline, on the line
they are about; it is read as the template of an `update-stacks` task (with the TemplatingContext
of `<case>.context.json` when there is one) and bound against tests/cases/templates/
organization.yml, as the pipeline does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support.inline import Expectation, actual_diagnostics, case_organization, expected_diagnostics

from orgc.bind import bind_template
from orgc.diagnostics import Diagnostics, Span
from orgc.limits import limit
from orgc.load import LoadOptions, display_path
from orgc.model import Organization
from orgc.tasks import StacksTask
from orgc.templates import Binding, Resource, Template, build_template

CASES_DIR = Path(__file__).parent / "cases" / "templates"


def organization() -> Organization:
    """The organization every case binds against (built once; the model is frozen)."""
    return case_organization(CASES_DIR)


def stacks_task(template: Path, **attributes: Any) -> StacksTask:
    return StacksTask(
        name="Baseline",
        type="update-stacks",
        file="organization-tasks.yml",
        template=template,
        stack_name="baseline",
        **attributes,
    )


def case_diagnostics(case: Path) -> tuple[set[Expectation], set[Expectation]]:
    """(actual, expected) diagnostics of a case file read and bound as a task's template."""
    context_file = case.with_suffix(".context.json")
    context = json.loads(context_file.read_text()) if context_file.is_file() else None
    task = stacks_task(case, templating_context=context)
    diagnostics = Diagnostics()
    template = build_template(task, LoadOptions(root=CASES_DIR), diagnostics)
    if template is not None:
        bind_template(task, template, organization(), diagnostics)
    actual = actual_diagnostics(diagnostics, display_path(case.resolve()))
    return actual, expected_diagnostics(case)


@pytest.mark.parametrize(
    "case", sorted((CASES_DIR / "build").glob("*.yml")), ids=lambda path: path.stem
)
def test_case(case: Path) -> None:
    actual, expected = case_diagnostics(case)
    assert expected, f"{case.name} states no diagnostics"
    assert actual == expected


def build(tmp_path: Path, text: str, **attributes: Any) -> tuple[Template, Diagnostics]:
    """`text` read as the template of a task with `attributes`; the template must come back."""
    path = tmp_path / "template.yml"
    path.write_text(text, encoding="utf-8")
    diagnostics = Diagnostics()
    template = build_template(
        stacks_task(path, **attributes), LoadOptions(root=tmp_path), diagnostics
    )
    assert template is not None
    return template, diagnostics


GUARD_DUTY = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Description: GuardDuty for the whole organization
Organization: !Include ./organization.yml
DefaultOrganizationBindingRegion: [eu-central-1, eu-west-1]
OrganizationBindings:
  Members:
    Account: '*'
  Audit:
    Account: !Ref Audit
    Region: us-east-1
Parameters:
  Email:
    Type: String
Resources:
  Detector:
    Type: AWS::GuardDuty::Detector
    OrganizationBinding:
      Account: '*'
      IncludeMasterAccount: true
    Properties:
      Enable: true
  Master:
    DependsOnAccount: !Ref Management
    DependsOnRegion: eu-central-1
    Type: AWS::GuardDuty::Master
    OrganizationBinding: !Ref Members
    Properties:
      DetectorId: !Ref Detector
      MasterId: !Ref Management
  Member:
    Type: AWS::GuardDuty::Member
    OrganizationBinding:
      IncludeMasterAccount: true
    Foreach:
      Account: '*'
    DependsOn: Detector
    DependsOnAccount: [!Ref Audit, !Ref Logs, !Ref Audit]
    DependsOnRegion: [us-east-1, eu-west-1]
    Properties:
      DetectorId: !Ref Detector
      MemberId: !Ref CurrentAccount
  Trail:
    Type: AWS::CloudTrail::Trail
    OrganizationBinding: !Ref Audit
    ForeachAccount: !Ref Members
"""


def test_orgformation_attributes_leave_the_resource_body(tmp_path: Path) -> None:
    (tmp_path / "organization.yml").write_text("Organization: {}\n", encoding="utf-8")
    template, diagnostics = build(tmp_path, GUARD_DUTY)
    assert list(diagnostics) == []
    both = ("eu-central-1", "eu-west-1")
    members = Binding(all_accounts=True, regions=both)
    audit = Binding(accounts=("Audit",), regions=("us-east-1",), regions_given=True)
    assert template.resources == {
        "Detector": Resource(
            logical_id="Detector",
            body={"Type": "AWS::GuardDuty::Detector", "Properties": {"Enable": True}},
            binding=Binding(all_accounts=True, include_master_account=True, regions=both),
        ),
        "Master": Resource(
            logical_id="Master",
            body={
                "Type": "AWS::GuardDuty::Master",
                "Properties": {
                    "DetectorId": {"Ref": "Detector"},
                    "MasterId": {"Ref": "Management"},
                },
            },
            binding=members,
            depends_on_accounts=("Management",),
            depends_on_regions=("eu-central-1",),
        ),
        "Member": Resource(
            logical_id="Member",
            body={
                "Type": "AWS::GuardDuty::Member",
                "DependsOn": "Detector",
                "Properties": {
                    "DetectorId": {"Ref": "Detector"},
                    "MemberId": {"Ref": "CurrentAccount"},
                },
            },
            binding=Binding(include_master_account=True, regions=both),
            foreach=Binding(all_accounts=True),
            depends_on_accounts=("Audit", "Logs"),
            depends_on_regions=("us-east-1", "eu-west-1"),
        ),
        "Trail": Resource(
            logical_id="Trail",
            body={"Type": "AWS::CloudTrail::Trail"},
            binding=audit,
            foreach=members,
        ),
    }
    # The version CloudFormation takes; the Organization section is gone.
    assert template.sections == {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "GuardDuty for the whole organization",
        "Parameters": {"Email": {"Type": "String"}},
    }
    assert template.default_binding is None
    assert template.default_regions == both
    assert template.bindings == {"Members": members, "Audit": audit}
    # Positions still lead to what was written.
    master = template.resources["Master"]
    assert master.span == Span(display_path(tmp_path / "template.yml"), 22, 3)
    assert master.depends_on_spans["Management"].line == 23
    assert template.resources["Member"].depends_on_spans["Logs"].line == 37


TASK_OVERRIDES = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
DefaultOrganizationBinding:
  Account: !Ref Audit
DefaultOrganizationBindingRegion: eu-west-1
OrganizationBindings:
  Readers:
    Account: !Ref Logs
  Writers:
    OrganizationalUnit: !Ref SecurityOU
    Region: us-east-1
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Reader:
    Type: AWS::IAM::Role
    OrganizationBinding: !Ref Readers
  Writer:
    Type: AWS::IAM::Role
    OrganizationBinding: !Ref Writers
  Inline:
    Type: AWS::IAM::Role
    OrganizationBinding:
      Account: !Ref Loose
"""


def test_the_template_keeps_its_own_bindings_without_task_overrides(tmp_path: Path) -> None:
    template, diagnostics = build(tmp_path, TASK_OVERRIDES)
    assert list(diagnostics) == []
    west = ("eu-west-1",)
    assert template.default_binding == Binding(accounts=("Audit",), regions=west)
    assert template.default_regions == west
    assert template.bindings == {
        "Readers": Binding(accounts=("Logs",), regions=west),
        "Writers": Binding(
            organizational_units=("SecurityOU",), regions=("us-east-1",), regions_given=True
        ),
    }
    assert template.resources["Topic"].binding is None
    assert template.resources["Reader"].binding == Binding(accounts=("Logs",), regions=west)
    assert template.resources["Inline"].binding == Binding(accounts=("Loose",), regions=west)


def test_task_level_bindings_replace_the_templates(tmp_path: Path) -> None:
    template, diagnostics = build(
        tmp_path,
        TASK_OVERRIDES,
        default_binding=Binding(organizational_units=("WorkloadsOU",)),
        default_regions=("ap-south-1", "eu-north-1"),
        bindings={
            "Readers": Binding(all_accounts=True, exclude_accounts=("Loose",)),
            "Extra": Binding(accounts=("Shared",), regions=("us-west-2",), regions_given=True),
        },
    )
    assert list(diagnostics) == []
    regions = ("ap-south-1", "eu-north-1")
    assert template.default_regions == regions
    assert template.default_binding == Binding(
        organizational_units=("WorkloadsOU",), regions=regions
    )
    readers = Binding(all_accounts=True, exclude_accounts=("Loose",), regions=regions)
    assert template.bindings == {
        "Readers": readers,
        # A Region written in the template wins over every default region.
        "Writers": Binding(
            organizational_units=("SecurityOU",), regions=("us-east-1",), regions_given=True
        ),
        "Extra": Binding(accounts=("Shared",), regions=("us-west-2",), regions_given=True),
    }
    assert template.resources["Reader"].binding == readers
    assert template.resources["Inline"].binding == Binding(accounts=("Loose",), regions=regions)


def test_a_task_default_binding_deploys_a_plain_cloudformation_template(tmp_path: Path) -> None:
    plain = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    template, diagnostics = build(
        tmp_path,
        plain,
        default_binding=Binding(all_accounts=True),
        default_regions=("eu-west-1",),
    )
    assert list(diagnostics) == []
    assert template.sections == {}
    assert template.default_binding == Binding(all_accounts=True, regions=("eu-west-1",))
    assert template.resources["Topic"].binding is None


def test_the_old_names_still_work(tmp_path: Path) -> None:
    old = (
        "OrganizationBinding: {OrganizationalUnit: !Ref ProdOU}\n"
        "OrganizationBindingRegion: eu-west-1\n"
        "Resources:\n"
        "  Topic: {Type: AWS::SNS::Topic}\n"
    )
    template, diagnostics = build(tmp_path, old)
    assert [d.code for d in diagnostics] == ["W350", "W350"]
    assert template.default_binding == Binding(
        organizational_units=("ProdOU",), regions=("eu-west-1",)
    )


TEMPLATED = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Resources:
{% for team in teams %}
  {{ team.name | title }}Bucket:
    Type: AWS::S3::Bucket
    OrganizationBinding:
      Account: !Ref {{ team.account }}
      Region: {{ region }}
    Properties:
      BucketName: {{ prefix }}-{{ team.name }}
      Policy: !ReadFile ./policy.json
{% endfor %}
"""


def test_templating_context_renders_the_template_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text('{"Statement": []}', encoding="utf-8")
    context = {
        "prefix": "acme",
        "region": "eu-west-1",
        "teams": [{"name": "payments", "account": "ProdA"}, {"name": "search", "account": "DevA"}],
    }
    template, diagnostics = build(tmp_path, TEMPLATED, templating_context=context)
    assert list(diagnostics) == []
    west = ("eu-west-1",)
    assert template.resources == {
        "PaymentsBucket": Resource(
            logical_id="PaymentsBucket",
            body={
                "Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": "acme-payments", "Policy": '{"Statement": []}'},
            },
            binding=Binding(accounts=("ProdA",), regions=west, regions_given=True),
        ),
        "SearchBucket": Resource(
            logical_id="SearchBucket",
            body={
                "Type": "AWS::S3::Bucket",
                "Properties": {"BucketName": "acme-search", "Policy": '{"Statement": []}'},
            },
            binding=Binding(accounts=("DevA",), regions=west, regions_given=True),
        ),
    }
    # Positions are those of the source line that made each part, in the template's own file.
    search = template.resources["SearchBucket"].span
    assert search is not None
    assert (search.file, search.line) == (display_path(tmp_path / "template.yml"), 4)


def test_without_templating_context_jinja_is_not_rendered(tmp_path: Path) -> None:
    text = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Metadata: '{{ not rendered }}'\n"
    template, _ = build(tmp_path, text)
    assert template.resources["Topic"].body["Metadata"] == "{{ not rendered }}"


def test_a_missing_template_is_reported_at_the_task(tmp_path: Path) -> None:
    where = Span("organization-tasks.yml", 7, 15)
    task = StacksTask(
        name="Baseline",
        type="update-stacks",
        file="organization-tasks.yml",
        template=tmp_path / "missing.yml",
        template_span=where,
        stack_name="baseline",
    )
    diagnostics = Diagnostics()
    assert build_template(task, LoadOptions(root=tmp_path), diagnostics) is None
    assert [(d.code, d.span) for d in diagnostics] == [("E100", where)]


def test_a_template_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "template.yml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    diagnostics = Diagnostics()
    assert build_template(stacks_task(path), LoadOptions(root=tmp_path), diagnostics) is None
    assert [str(d) for d in diagnostics] == [
        f"{display_path(path)}:1:1: error[E355]: {display_path(path)} is not a template: a "
        "template is a mapping with a Resources section"
    ]


# --- Jinja within bounds ----------------------------------------------------------------------


def render_failure(tmp_path: Path, text: str) -> list[str]:
    """The diagnostics of a TemplatingContext template that must fail to render."""
    path = tmp_path / "template.yml"
    path.write_text(text, encoding="utf-8")
    diagnostics = Diagnostics()
    task = stacks_task(path, templating_context={"n": 3})
    assert build_template(task, LoadOptions(root=tmp_path), diagnostics) is None
    return [str(d).replace(display_path(path), "template.yml") for d in diagnostics]


def test_jinja_loop_without_output_stops_at_the_step_bound(tmp_path: Path) -> None:
    text = (
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"
    )
    steps = limit("orgc.jinja.steps")
    assert render_failure(tmp_path, text) == [
        f"template.yml:4:1: error[E364]: rendering stopped here: it made more than {steps:,} "
        "steps of template code, past orgc's bound; loop fewer times"
    ]


def test_jinja_output_stops_at_the_size_bound(tmp_path: Path) -> None:
    text = (
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
        "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}\n"
    )
    most = limit("orgc.jinja.outputBytes")
    assert render_failure(tmp_path, text) == [
        f"template.yml:1:1: error[E364]: rendering stopped here: it made more than {most:,} "
        "characters of output, past orgc's bound; loop fewer times"
    ]


@pytest.mark.parametrize(
    ("expression", "made"),
    [
        ("'x' * 1000000000", "a value of more than 8,388,608 items or characters"),
        ("[1] * 1000000000", "a value of more than 8,388,608 items or characters"),
        ("2 ** 100000000", "a power with the exponent 100,000,000"),
    ],
)
def test_jinja_huge_values_are_refused(tmp_path: Path, expression: str, made: str) -> None:
    text = (
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Metadata: {{ " + expression + " }}\n"
    )
    assert render_failure(tmp_path, text) == [
        f"template.yml:4:1: error[E364]: rendering stopped here: it made {made}, past orgc's "
        "bound; loop fewer times"
    ]


def test_jinja_within_bounds_renders_and_restores_the_tracer(tmp_path: Path) -> None:
    before = sys.gettrace()
    text = (
        "Resources:\n{% for i in range(n) %}  Topic{{ i }}:\n    Type: AWS::SNS::Topic\n"
        "{% endfor %}"
    )
    template, diagnostics = build(tmp_path, text, templating_context={"n": 3})
    assert not diagnostics.has_errors
    assert sorted(template.resources) == ["Topic0", "Topic1", "Topic2"]
    assert sys.gettrace() is before
