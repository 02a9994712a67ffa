"""Stage 5, render: the template, parameters and references of every stack target.

Each folder in tests/cases/render/scenarios is a small project: a task file (`tasks.yml`) with
its templates, read, built, bound against tests/cases/render/organization.yml and rendered as
the pipeline does; what comes out is compared with `rendered.golden.json` in the folder
(`pytest --update-golden` rewrites it). Each file in tests/cases/render/errors is the template of
one task and states the diagnostics it expects inline, on the line they are about.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.goldens import Golden, folders
from support.inline import actual_diagnostics, case_organization, expected_diagnostics

from orgc.bind import bind_template
from orgc.diagnostics import Diagnostics, Span
from orgc.load import LoadOptions, display_path
from orgc.model import Organization
from orgc.render import (
    Reference,
    RenderContext,
    RenderedStack,
    StackKey,
    fill_markers,
    known_after_apply,
    markers,
    render_project,
)
from orgc.tasks import StacksTask, load_project
from orgc.templates import build_template

CASES_DIR = Path(__file__).parent / "cases" / "render"
SCENARIOS = folders(CASES_DIR / "scenarios")

# The live organization as the plan would know it: Sandbox and ProdOU are created by this run.
CONTEXT = RenderContext(
    ids={
        "accounts": {"Sandbox": None},
        "organizationalUnits": {"WorkloadsOU": "ou-ab12-workload1", "ProdOU": None},
        "policies": {"DenyLeave": "p-denyleave1"},
    },
    organization_id="o-abcdef1234",
    state_bucket="orgc-state-123456789012",
    root_id="r-ab12",
)


def organization() -> Organization:
    """The organization every case deploys to (built once; the model is frozen)."""
    return case_organization(CASES_DIR)


def render(
    tasks: Sequence[StacksTask], root: Path, context: RenderContext = CONTEXT
) -> tuple[tuple[RenderedStack, ...], Diagnostics]:
    """build → bind → render, as the pipeline runs them."""
    diagnostics = Diagnostics()
    inputs = []
    for task in tasks:
        template = build_template(task, LoadOptions(root=root), diagnostics)
        assert template is not None, list(diagnostics)
        inputs.append((task, template, bind_template(task, template, organization(), diagnostics)))
    return render_project(inputs, organization(), context, diagnostics), diagnostics


def scenario_tasks(directory: Path) -> list[StacksTask]:
    diagnostics = Diagnostics()
    project = load_project(directory / "tasks.yml", LoadOptions(root=directory), diagnostics)
    assert project is not None
    assert not diagnostics.has_errors, list(diagnostics)
    return [task for task in project.tasks.values() if isinstance(task, StacksTask)]


def stacks_task(template: Path, **attributes: Any) -> StacksTask:
    return StacksTask(
        name=attributes.pop("name", "Baseline"),
        type="update-stacks",
        file="organization-tasks.yml",
        template=template,
        stack_name=attributes.pop("stack_name", "baseline"),
        **attributes,
    )


def as_json(stack: RenderedStack) -> dict[str, Any]:
    return {
        "key": str(stack.key),
        "stackName": stack.stack_name,
        "accountId": stack.account_id,
        "parameters": stack.parameters,
        "references": [reference_json(reference) for reference in stack.references],
        "afterAccounts": list(stack.after_accounts),
        "afterRegions": list(stack.after_regions),
        "afterStacks": [str(key) for key in stack.after_stacks],
        "exports": stack.exports,
        "template": stack.template,
    }


def reference_json(reference: Reference) -> dict[str, Any]:
    return {
        "parameter": reference.parameter,
        "producer": str(reference.producer) if reference.producer else None,
        "output": reference.output,
        "export": reference.export,
        "accountId": reference.account_id,
        "region": reference.region,
        "expression": reference.expression,
    }


# --- golden scenarios -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda path: path.name)
def test_scenario(scenario: Path, golden: Golden) -> None:
    stacks, diagnostics = render(scenario_tasks(scenario), scenario)
    assert list(diagnostics) == []
    text = json.dumps([as_json(s) for s in stacks], indent=2, ensure_ascii=False) + "\n"
    golden.text(scenario / "rendered.golden.json", text)


def scenario(name: str) -> dict[str, RenderedStack]:
    stacks, diagnostics = render(scenario_tasks(CASES_DIR / "scenarios" / name), CASES_DIR)
    assert list(diagnostics) == []
    return {str(stack.key): stack for stack in stacks}


def test_a_reference_to_another_account_becomes_an_output_and_a_parameter() -> None:
    stacks = scenario("log-bucket")
    assert sorted(stacks) == [
        "CentralLogging/LogArchive/eu-west-1",
        "CentralLogging/Payments/eu-west-1",
        "CentralLogging/Sandbox/eu-west-1",
    ]
    producer = stacks["CentralLogging/LogArchive/eu-west-1"]
    consumer = stacks["CentralLogging/Sandbox/eu-west-1"]
    outputs = producer.template["Outputs"]
    assert outputs["OrgcRefLogBucket"] == {"Value": {"Ref": "LogBucket"}}
    assert outputs["OrgcRefLogBucketArn"] == {"Value": {"Fn::GetAtt": ["LogBucket", "Arn"]}}
    assert "Export" not in outputs["OrgcRefLogBucketArn"]
    assert consumer.template["Parameters"]["OrgcRefLogBucketArn"] == {"Type": "String"}
    assert consumer.template["Resources"]["LogPrefixParameter"]["Properties"]["Value"] == {
        "Fn::Sub": "${OrgcRefLogBucketArn}/AWSLogs/${AWS::AccountId}/sandbox-dev"
    }
    assert [(r.parameter, r.producer, r.output, r.expression) for r in consumer.references] == [
        ("OrgcRefLogBucket", producer.key, "OrgcRefLogBucket", "!Ref LogBucket"),
        ("OrgcRefLogBucketArn", producer.key, "OrgcRefLogBucketArn", "!GetAtt LogBucket.Arn"),
    ]
    # The first place the value is used is where the plan says it comes from.
    template = CASES_DIR / "scenarios" / "log-bucket" / "template.yml"
    assert consumer.references[1].span == Span(display_path(template), 44, 14)
    assert consumer.account_id == known_after_apply("account", "Sandbox")
    assert consumer.after_stacks == (producer.key,)
    assert consumer.after_accounts == ("LogArchive",)
    assert consumer.template["Resources"]["LogPrefixParameter"]["DependsOn"] == (
        "LogBucketArnParameter"
    )


def test_foreach_copies_take_the_account_id_and_current_account_means_the_copy() -> None:
    audit = scenario("foreach")["GuardDuty/Audit/eu-west-1"]
    resources = audit.template["Resources"]
    sandbox_copy = "Member" + known_after_apply("account", "Sandbox")
    assert list(resources) == ["Detector", "Member333333333333", sandbox_copy, "MembersParameter"]
    payments = resources["Member333333333333"]["Properties"]
    assert payments["MemberId"] == "333333333333"
    assert payments["Email"] == "aws-payments-prod@example.com"
    assert payments["DetectorId"] == {"Ref": "Detector"}
    assert resources["MembersParameter"]["DependsOn"] == ["Member333333333333", sandbox_copy]
    assert resources["MembersParameter"]["Properties"]["Value"] == "audit"
    # Once apply knows the new account's id, the copy is named by it.
    filled = fill_markers(audit.template, {("account", "Sandbox"): "444444444444"})
    assert "Member444444444444" in filled["Resources"]
    assert markers(filled) == set()
    assert markers(audit.template) == {("account", "Sandbox")}


def test_task_parameters_are_evaluated_per_target() -> None:
    stacks = scenario("account-values")
    assert stacks["WorkloadNetwork/Payments/eu-west-1"].parameters == {
        "AccountLabel": "payments-prod@eu-west-1",
        "AllowedRegions": "eu-west-1,eu-central-1",
        "AuditAccountId": "222222222222",
        "BucketPrefix": "logs-prod-333333333333",
        "BuildRole": "OrgcBuildRole",
        "EnableFlowLogs": "true",
        "MaxAzs": "2",
        "OrganizationId": "o-abcdef1234",
    }
    sandbox = stacks["WorkloadNetwork/Sandbox/eu-west-1"].parameters
    assert sandbox["BucketPrefix"] == "logs-dev-{{orgc:account:Sandbox}}"


def test_copy_value_reads_the_project_s_own_export_or_one_read_at_apply_time() -> None:
    stacks = scenario("copy-value")
    sandbox = stacks["Consumers/Sandbox/eu-west-1"]
    payments_network = StackKey("Network", "Payments", "eu-west-1")
    sandbox_network = StackKey("Network", "Sandbox", "eu-west-1")
    assert stacks[str(payments_network)].exports == {
        "network-vpc-id": "VpcId",
        "shared-dns-zone": "Zone",
    }
    by_parameter = {r.parameter: r for r in sandbox.references}
    assert by_parameter["VpcId"] == Reference(
        parameter="VpcId",
        producer=sandbox_network,
        output="VpcId",
        export="network-vpc-id",
        expression="!CopyValue network-vpc-id",
    )
    assert by_parameter["OrgcCopyshareddnszone"].producer == payments_network
    legacy = [r for r in sandbox.references if r.export == "legacy-vpc-id"]
    assert legacy == [
        Reference(
            parameter=legacy[0].parameter,
            producer=None,
            output=None,
            export="legacy-vpc-id",
            account_id="222222222222",
            region="us-east-1",
            expression="!CopyValue [legacy-vpc-id, !Ref Audit, us-east-1]",
        )
    ]
    assert "VpcId" not in sandbox.parameters


def test_json_string_and_md5_are_computed_before_deploy() -> None:
    audit = scenario("json-md5")["Documents/Audit/eu-west-1"]
    resources = audit.template["Resources"]
    hashes = resources["Hashes"]["Properties"]["Value"]["Fn::Join"][1]
    assert hashes[0] == hashlib.md5(b"hello").hexdigest()
    assert hashes[1] == hashlib.md5(b'{"owner":"audit","size":2}').hexdigest()
    assert hashes[1] == hashes[2]  # !MD5 of a mapping is !MD5 of its !JsonString
    assert hashes[3] == hashlib.md5(b'["audit",2]').hexdigest()
    assert resources["StaticDocument"]["Properties"]["Value"] == (
        '{"owner":"audit","accounts":["111111111111","222222222222"],'
        '"limits":{"maxBuckets":10,"versioned":true}}'
    )
    assert resources["PrettyDocument"]["Properties"]["Value"] == (
        '{\n  "owner": "audit",\n  "tags": [\n    "a",\n    "b"\n  ]\n}'
    )


def test_markers_stand_for_ids_only_apply_knows() -> None:
    context = replace(CONTEXT, organization_id=None, state_bucket=None, root_id=None)
    stacks, _ = render(
        scenario_tasks(CASES_DIR / "scenarios" / "account-values"),
        CASES_DIR / "scenarios" / "account-values",
        context,
    )
    values = stacks[0].template["Resources"]["Directory"]["Properties"]["Value"]["Fn::Join"][1]
    assert values[:6] == [
        "{{orgc:organization-id:}}",
        "{{orgc:state-bucket:}}",
        "{{orgc:root:}}",
        "ou-ab12-workload1",
        "{{orgc:organizational-unit:ProdOU}}",
        "p-denyleave1",
    ]
    assert stacks[0].parameters["OrganizationId"] == "{{orgc:organization-id:}}"


# --- mistakes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", sorted((CASES_DIR / "errors").glob("*.yml")), ids=lambda path: path.stem
)
def test_error_case(case: Path) -> None:
    _, diagnostics = render([stacks_task(case)], CASES_DIR)
    expected = expected_diagnostics(case)
    assert expected, f"{case.name} states no diagnostics"
    assert actual_diagnostics(diagnostics, display_path(case.resolve())) == expected


def messages(diagnostics: Diagnostics) -> list[str]:
    return [f"{d.code}: {d.message}" for d in diagnostics]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


PARAMETER_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
DefaultOrganizationBinding:
  Account: !Ref Audit
  Region: eu-west-1
Parameters:
  Name: {Type: String}
  Label: {Type: String, Default: none}
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Ref Name
"""


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (
            {"Name": "a", "Nmae": "b"},
            [
                "E428: task Baseline gives parameter Nmae, which template.yml does not declare "
                "(did you mean Name?); remove it or declare it in the template's Parameters"
            ],
        ),
        (
            {"Name": {"Fn::GetAtt": ["Topic", "TopicName"]}},
            [
                "E420: !GetAtt Topic.TopicName: Topic is not an account, OU or policy (task "
                "parameters cannot name template resources)",
            ],
        ),
        (
            {"Name": {"Fn::Sub": "${AWS::NoValue}"}},
            [
                "E427: ${AWS::NoValue} is known only inside CloudFormation; a task parameter "
                "value must be known before deploy",
            ],
        ),
        (
            {"Name": {"Fn::Join": ["-", [{"Fn::CopyValue": ["vpc", "1", "2", "3"]}]]}},
            ["E426: !CopyValue takes an export name, or [export name, account id, region]"],
        ),
        (
            {"Name": {"Fn::Join": ["-", ["vpc", {"Fn::ImportValue": "shared"}]]}},
            [
                "E427: parameter Name of task Baseline is !Join [-, [vpc, !ImportValue shared]], "
                "which is known only inside CloudFormation; give a value orgc can compute, or "
                "move the expression into the template",
            ],
        ),
    ],
    ids=["undeclared", "template-resource", "no-value", "nested-copy-value", "import-value"],
)
def test_task_parameter_mistakes(
    tmp_path: Path, parameters: dict[str, Any], expected: list[str]
) -> None:
    template = write(tmp_path, "template.yml", PARAMETER_TEMPLATE)
    _, diagnostics = render([stacks_task(template, parameters=parameters)], tmp_path)
    shown = display_path(template.resolve())
    assert [m.replace(shown, "template.yml") for m in messages(diagnostics)] == expected


def test_a_template_parameter_without_value_is_reported_once_per_task(tmp_path: Path) -> None:
    template = write(tmp_path, "template.yml", PARAMETER_TEMPLATE)
    _, diagnostics = render([stacks_task(template)], tmp_path)
    assert [str(d) for d in diagnostics] == [
        f"{display_path(template.resolve())}:6:3: error[E429]: parameter Name has no Default and "
        "task Baseline gives it no value; add Name to the task's Parameters or give it a Default"
    ]


EXPORTER = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
DefaultOrganizationBinding:
  OrganizationalUnit: !Ref WorkloadsOU
  Region: eu-west-1
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
  TopicArn:
    Value: !Ref Topic
    Export: {Name: shared-topic}
"""


def test_an_export_made_by_several_stacks_needs_account_and_region(tmp_path: Path) -> None:
    exporter = write(tmp_path, "exporter.yml", EXPORTER)
    reader = write(
        tmp_path,
        "reader.yml",
        "AWSTemplateFormatVersion: '2010-09-09-OC'\n"
        "DefaultOrganizationBinding: {Account: !Ref Audit, Region: eu-west-1}\n"
        "Resources:\n"
        "  Queue:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      QueueName: !CopyValue shared-topic\n"
        "      Tags:\n"
        "        - {Key: payments, Value: !CopyValue [shared-topic, '333333333333']}\n",
    )
    stacks, diagnostics = render(
        [
            stacks_task(exporter, name="Exporter", stack_name="exporter"),
            stacks_task(reader, name="Reader", stack_name="reader"),
        ],
        tmp_path,
    )
    assert [str(d) for d in diagnostics] == [
        f"{display_path(reader.resolve())}:7:18: error[E430]: !CopyValue shared-topic is "
        "ambiguous: export shared-topic is made by Exporter/Payments/eu-west-1, "
        "Exporter/Sandbox/eu-west-1; give the account and region, as in !CopyValue "
        "[shared-topic, <account id>, <region>]"
    ]
    reader_stack = next(s for s in stacks if s.key.task == "Reader")
    assert [(r.producer, r.output) for r in reader_stack.references] == [
        (StackKey("Exporter", "Payments", "eu-west-1"), "TopicArn")
    ]


def test_a_stack_cannot_read_its_own_export(tmp_path: Path) -> None:
    template = write(
        tmp_path,
        "template.yml",
        EXPORTER + "  Again:\n    Value: !CopyValue shared-topic\n",
    )
    _, diagnostics = render([stacks_task(template)], tmp_path)
    assert messages(diagnostics) == [
        "E431: !CopyValue shared-topic reads an export of this same stack; use !Ref or !GetAtt "
        "of the resource instead"
    ]


def test_generated_names_never_collide(tmp_path: Path) -> None:
    template = write(
        tmp_path,
        "template.yml",
        "AWSTemplateFormatVersion: '2010-09-09-OC'\n"
        "DefaultOrganizationBindingRegion: eu-west-1\n"
        "Parameters:\n"
        "  OrgcRefTopic: {Type: String, Default: taken}\n"
        "Resources:\n"
        "  Topic:\n"
        "    Type: AWS::SNS::Topic\n"
        "    OrganizationBinding: {OrganizationalUnit: !Ref WorkloadsOU}\n"
        f"  {'Long' * 60}:\n"
        "    Type: AWS::SNS::Topic\n"
        "    OrganizationBinding: {Account: !Ref Payments}\n"
        "  Reader:\n"
        "    Type: AWS::SQS::Queue\n"
        "    OrganizationBinding: {Account: !Ref Audit}\n"
        "    Properties:\n"
        "      Tags:\n"
        "        - {Key: a, Value: !Ref Payments.Resources.Topic}\n"
        "        - {Key: b, Value: !Ref Sandbox.Resources.Topic}\n"
        f"        - {{Key: c, Value: !GetAtt {'Long' * 60}.TopicName}}\n"
        "        - {Key: d, Value: !GetAtt Payments.Resources.Topic.TopicName}\n",
    )
    stacks, diagnostics = render([stacks_task(template)], tmp_path)
    assert list(diagnostics) == []
    reader = next(s for s in stacks if s.key.account == "Audit")
    names = [r.parameter for r in reader.references]
    assert len(set(names)) == 4
    assert all(name.isalnum() and len(name) <= 255 for name in names)
    assert "OrgcRefTopic" not in names
    assert "OrgcRefTopicTopicName" not in names  # Topic is in two stacks: the name says which
    again, _ = render([stacks_task(template)], tmp_path)
    assert [r.parameter for r in next(s for s in again if s.key.account == "Audit").references] == (
        names
    )


def test_the_referring_stack_s_own_region_picks_among_one_account_s_copies() -> None:
    stacks, _ = render([stacks_task(CASES_DIR / "errors" / "regions.yml")], CASES_DIR)
    reader = next(s for s in stacks if s.key == StackKey("Baseline", "LogArchive", "us-east-1"))
    assert [(r.producer, r.output, r.expression) for r in reader.references] == [
        (StackKey("Baseline", "Audit", "us-east-1"), "OrgcRefKeyArn3cc62e5c75", "!GetAtt Key.Arn")
    ]


# --- the render memo ------------------------------------------------------------------------


def _benchmark_generator() -> Any:
    """benchmarks/generate.py, which writes large organizations in OrgFormation's format."""
    import importlib.util
    import sys

    if "orgc_benchmark_generate" in sys.modules:
        return sys.modules["orgc_benchmark_generate"]
    path = Path(__file__).parent.parent / "benchmarks" / "generate.py"
    spec = importlib.util.spec_from_file_location("orgc_benchmark_generate", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("with_ids", [False, True], ids=["ids-after-apply", "ids-known"])
def test_the_memoised_render_equals_a_render_per_target(tmp_path: Path, with_ids: bool) -> None:
    from orgc.pipeline import compile_organization
    from orgc.recorded import wanted_ids

    generate = _benchmark_generator()
    tasks_path = generate.write_project(tmp_path, generate.Shape(accounts=24, tasks=12, regions=3))
    inputs = compile_organization(tasks_path, root=tmp_path)
    ids = wanted_ids(inputs.organization)
    if with_ids:  # half the accounts exist already: some values are ids, some markers
        for index, logical_id in enumerate(sorted(ids["accounts"])):
            if index % 2 and not ids["accounts"][logical_id]:
                ids["accounts"][logical_id] = f"{100000000000 + index}"
    context = RenderContext(ids=ids, organization_id="o-abcdef1234", state_bucket=None)
    active = [
        (task, inputs.templates[name], inputs.bound[name])
        for name, task in inputs.stack_tasks.items()
    ]
    per_target_diagnostics, memoised_diagnostics = Diagnostics(), Diagnostics()
    per_target = render_project(
        active, inputs.organization, context, per_target_diagnostics, memoise=False
    )
    memoised = render_project(active, inputs.organization, context, memoised_diagnostics)
    assert list(memoised_diagnostics) == list(per_target_diagnostics) == []
    assert len(memoised) == len(per_target) > 250
    for memoised_stack, per_target_stack in zip(memoised, per_target, strict=True):
        assert memoised_stack == per_target_stack
        assert json.dumps(memoised_stack.template) == json.dumps(per_target_stack.template)
        assert markers(memoised_stack.template) == markers(per_target_stack.template)
    # The memo was used: stacks rendered alike share one template.
    assert len({id(stack.template) for stack in memoised}) < len(memoised) / 3
    assert len({id(stack.template) for stack in per_target}) == len(per_target)
