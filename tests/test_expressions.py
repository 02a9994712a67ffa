"""orgc.expressions: the one evaluator, through every entry point.

The parity test writes each expression into a task parameter, a task attribute evaluated per
target, a template and a StackSet template of one small project, compiles it as `orgc plan`
does and asserts the four give the same value, which is OrgFormation's. The evaluator's own
behaviour (task-file scope, the registry, descriptions) is tested at the end of test_tasks.py
and below.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from orgc.diagnostics import Diagnostics, StageError
from orgc.expressions import (
    FUNCTIONS,
    Evaluator,
    Scope,
    describe,
    evaluate_for_target,
    target_scope,
)
from orgc.load import LoadOptions, load_file
from orgc.pipeline import compile_organization, compile_stacks
from orgc.recorded import wanted_ids

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: management, AccountId: '123456789012'}
  Root:
    Type: OC::ORG::OrganizationRoot
  WorkloadsOU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {OrganizationalUnitName: workloads, Accounts: [!Ref Payments, !Ref Audit]}
  Payments:
    Type: OC::ORG::Account
    Properties:
      AccountName: payments
      AccountId: '333333333333'
      RootEmail: aws-payments@example.com
      Tags: {env: prod}
  Audit:
    Type: OC::ORG::Account
    Properties: {AccountName: audit, AccountId: '222222222222', RootEmail: aws-audit@example.com}
"""

# (expression as written in YAML, the value OrgFormation gives it)
EVERYWHERE = [
    ("!JsonString '{\"a\": 1}'", '{"a":1}'),
    ('!JsonString \'{"a": {"b": [1, 2.0]}}\'', '{"a":{"b":[1,2]}}'),
    ("!JsonString {a: 1.0, b: [x, true]}", '{"a":1,"b":["x",true]}'),
    ("!JsonString [{a: 1}, pretty-print]", '{\n  "a": 1\n}'),
    ("!MD5 abc", hashlib.md5(b"abc").hexdigest()),
    ("!MD5 {a: 1.0}", hashlib.md5(b'{"a":1}').hexdigest()),
    ("!Sub ['n=${n} on=${on}', {n: 1.0, on: true}]", "n=1 on=true"),
    ("!Sub 'x-${!Literal}'", "x-${Literal}"),
    ("!Ref Audit", "222222222222"),
    ("!GetAtt Audit.AccountName", "audit"),
    ("!Sub '${Audit.AccountName}-${Audit}'", "audit-222222222222"),
]
# Values per account: a StackSet gives every account the same template, so not there.
PER_ACCOUNT = [
    ("!GetAtt CurrentAccount.AccountName", "payments"),
    ("!Sub '${CurrentAccount.Tags.env}/${CurrentAccount}'", "prod/333333333333"),
    ("!JsonString {owner: !GetAtt CurrentAccount.AccountName}", '{"owner":"payments"}'),
    ("!Ref AWSAccount", "333333333333"),
]


def _template(expressions: list[tuple[str, str]]) -> str:
    lines = ["AWSTemplateFormatVersion: '2010-09-09-OC'", "Parameters:"]
    lines += [f"  P{index}: {{Type: String}}" for index in range(len(expressions))]
    lines += ["Resources:", "  Parameter:", "    Type: AWS::SSM::Parameter", "    Properties:"]
    lines += [f"      V{index}: {text}" for index, (text, _) in enumerate(expressions)]
    return "\n".join(lines) + "\n"


def _task(name: str, expressions: list[tuple[str, str]], binding: str, extra: str = "") -> str:
    lines = [
        f"{name}:",
        "  Type: update-stacks",
        f"  Template: ./{name}.yml",
        f"  StackName: {name.lower()}",
        f"  DefaultOrganizationBinding: {binding}",
        extra,
        "  Parameters:",
    ]
    lines += [f"    P{index}: {text}" for index, (text, _) in enumerate(expressions)]
    return "\n".join(line for line in lines if line) + "\n"


ORGANIZATION_TASK = (
    "OrganizationUpdate:\n  Type: update-organization\n  Template: ./organization.yml\n"
)


def _project(tmp_path: Path) -> Path:
    (tmp_path / "organization.yml").write_text(ORGANIZATION, encoding="utf-8")
    (tmp_path / "Stacks.yml").write_text(_template(EVERYWHERE + PER_ACCOUNT), encoding="utf-8")
    (tmp_path / "StackSet.yml").write_text(_template(EVERYWHERE), encoding="utf-8")
    tasks = "\n".join(
        [
            ORGANIZATION_TASK,
            _task(
                "Stacks", EVERYWHERE + PER_ACCOUNT, "{Account: !Ref Payments, Region: eu-west-1}"
            ),
            _task(
                "StackSet",
                EVERYWHERE,
                "{OrganizationalUnit: !Ref WorkloadsOU, Region: eu-west-1}",
                "  DeploymentMode: StackSet",
            ),
        ]
    )
    path = tmp_path / "tasks.yml"
    path.write_text(tasks, encoding="utf-8")
    return path


def test_every_entry_point_gives_an_expression_the_same_value(tmp_path: Path) -> None:
    path = _project(tmp_path)
    inputs = compile_organization(path, root=tmp_path)
    ids = wanted_ids(inputs.organization)
    stacks, stack_sets, _, warnings = compile_stacks(inputs, ids, None)
    assert warnings == ()
    (stack,) = [s for s in stacks if s.key.task == "Stacks"]
    (stack_set,) = stack_sets
    written = load_file(path, LoadOptions(root=tmp_path), Diagnostics())
    assert written is not None
    scope = target_scope(
        organization=inputs.organization,
        account="Payments",
        region="eu-west-1",
        ids=lambda table, logical_id: ids.get(table, {}).get(logical_id),
    )
    properties = stack.template["Resources"]["Parameter"]["Properties"]
    set_properties = stack_set.template["Resources"]["Parameter"]["Properties"]
    for index, (text, expected) in enumerate(EVERYWHERE + PER_ACCOUNT):
        raw = written.data["Stacks"]["Parameters"][f"P{index}"]
        attribute, problems = evaluate_for_target(raw, scope)
        assert problems == ()
        seen = {
            "task parameter": stack.parameters[f"P{index}"],
            "task attribute": attribute,
            "template": properties[f"V{index}"],
        }
        if index < len(EVERYWHERE):
            seen["StackSet template"] = set_properties[f"V{index}"]
            assert stack_set.parameters[f"P{index}"] == expected, text
        assert seen == dict.fromkeys(seen, expected), text


def test_descriptions_agree_between_task_attributes_and_task_parameters(tmp_path: Path) -> None:
    expression = "!Join ['/', [a, !If [Condition, x, y]]]"
    shown = "!Join [/, [a, !If [Condition, x, y]]]"
    assert describe({"Fn::Join": ["/", ["a", {"Fn::If": ["Condition", "x", "y"]}]]}) == shown
    (tmp_path / "organization.yml").write_text(ORGANIZATION, encoding="utf-8")
    (tmp_path / "Stacks.yml").write_text(_template([(expression, "")]), encoding="utf-8")
    path = tmp_path / "tasks.yml"
    binding = "{Account: !Ref Payments, Region: eu-west-1}"
    # In a task attribute evaluated per target: the render reports it, for the target.
    path.write_text(
        ORGANIZATION_TASK + _task("Stacks", [("x", "")], binding, f"  TaskRoleName: {expression}"),
        encoding="utf-8",
    )
    inputs = compile_organization(path, root=tmp_path)
    with pytest.raises(StageError) as raised:
        compile_stacks(inputs, wanted_ids(inputs.organization), None)
    assert [d.message for d in raised.value.diagnostics] == [
        f"TaskRoleName of task Stacks is {shown}, which is known only inside CloudFormation; "
        "give a value orgc can compute before deploy"
    ]
    # In a task parameter: the render reports it.
    path.write_text(
        ORGANIZATION_TASK + _task("Stacks", [(expression, "")], binding), encoding="utf-8"
    )
    inputs = compile_organization(path, root=tmp_path)
    with pytest.raises(StageError) as raised:
        compile_stacks(inputs, wanted_ids(inputs.organization), None)
    assert [d.message for d in raised.value.diagnostics] == [
        f"parameter P0 of task Stacks is {shown}, which is known only inside CloudFormation; "
        "give a value orgc can compute, or move the expression into the template"
    ]


def test_a_task_attribute_per_target_knows_the_target_account() -> None:
    from orgc.model import build_organization

    diagnostics = Diagnostics()
    root = Path(__file__).parent / "cases" / "render"
    file = load_file(root / "organization.yml", LoadOptions(root=root), diagnostics)
    assert file is not None
    organization = build_organization(file, diagnostics)
    assert organization is not None
    ids = {"accounts": {"Payments": "333333333333"}}
    scope = target_scope(
        organization=organization,
        account="Payments",
        region="cn-north-1",
        ids=lambda table, logical_id: ids.get(table, {}).get(logical_id),
        values={"prefix": "acme"},
    )
    value = {
        "TaskRoleName": {"Fn::GetAtt": ["CurrentAccount", "OrganizationAccessRoleName"]},
        "StackDescription": {"Fn::Sub": "${prefix} stack of ${CurrentAccount.AccountName}"},
        "RemotePath": {"Fn::Sub": "s3://bucket/${AWS::Partition}/${AWS::AccountId}/x"},
        "Regions": {"Fn::Split": [",", "a,b"]},
        "TemplatingContext": {"build": {"Fn::GetAtt": ["CurrentAccount", "BuildAccessRoleName"]}},
    }
    result, problems = evaluate_for_target(value, scope, ("Task",))
    assert problems == ()
    assert result == {
        "TaskRoleName": "OrganizationAccountAccessRole",
        "StackDescription": "acme stack of payments-prod",
        "RemotePath": "s3://bucket/aws-cn/333333333333/x",
        "Regions": {"Fn::Split": [",", "a,b"]},  # not a function orgc evaluates: as written
        "TemplatingContext": {"build": "OrgcBuildRole"},
    }
    # A pseudo parameter only CloudFormation knows is a mistake once the target is known.
    _, problems = evaluate_for_target({"Ref": "AWS::StackId"}, scope, ("Task", "TaskRoleName"))
    assert [(p.kind, p.message, p.path) for p in problems] == [
        (
            "not-before-deploy",
            "!Ref AWS::StackId is known only inside CloudFormation; a task attribute must be "
            "known before deploy",
            ("Task", "TaskRoleName", "Ref"),
        )
    ]


def test_the_registry_names_a_method_of_the_evaluator_for_every_function() -> None:
    evaluator = Evaluator(Scope())
    for name, function in FUNCTIONS.items():
        methods = [m for m in (function.method, function.text_method) if m is not None]
        assert methods, name
        assert all(callable(getattr(evaluator, method)) for method in methods), name
        assert name == "Ref" or name.startswith("Fn::")
    # In a task file, what only a template can evaluate stays as written.
    assert evaluator.value("Fn::EnumTargetAccounts Binding '${account}'", ()) == (
        "Fn::EnumTargetAccounts Binding '${account}'"
    )
    assert evaluator.value({"Fn::TargetCount": "Binding"}, ()) == {"Fn::TargetCount": "Binding"}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ({"Ref": "X"}, "!Ref X"),
        ({"Fn::GetAtt": ["A", "B"]}, "!GetAtt A.B"),
        ({"Fn::GetAtt": "A.B"}, "!GetAtt A.B"),
        ({"Fn::Sub": "a-${B}"}, "!Sub 'a-${B}'"),
        ({"Fn::CopyValue": ["e", "1", "r"]}, "!CopyValue [e, 1, r]"),
        (["a", {"Ref": "B"}], "[a, !Ref B]"),
        (1.0, "1"),
        ({"a": 1}, '{"a":1}'),
    ],
)
def test_describe(value: Any, shown: str) -> None:
    assert describe(value) == shown
