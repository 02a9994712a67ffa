"""orgc/limits.py and orgc/data/limits.json: every limit has its source and date, and the ones
checked offline are found by `orgc validate` (and so by plan) before any AWS call.

CloudFormation's template quotas are checked on every compiled stack; an account matrix and
Organizations' policy description length are checked on the organization file.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from orgc.cli import main
from orgc.limits import limit, limits

ORGANIZATION = """\
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties:
      AccountName: management
      AccountId: '111111111111'
      RootEmail: m@example.com
"""

TASKS = """\
OrganizationUpdate:
  Type: update-organization
  Template: ./organization.yml

Big:
  Type: update-stacks
  Template: ./big.yml
  StackName: big
  DefaultOrganizationBinding: {IncludeMasterAccount: true}
  DefaultOrganizationBindingRegion: [eu-west-1, us-east-1]
"""


def validate(root: Path, files: dict[str, str], target: str) -> tuple[int, list[str]]:
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["validate", str(root / target)])
    return code, [line for line in out.getvalue().splitlines() if "error[" in line]


def template(resources_: int, outputs: int = 0, parameters: int = 0, mappings: int = 0) -> str:
    lines = ["AWSTemplateFormatVersion: '2010-09-09-OC'"]
    if parameters:
        lines.append("Parameters:")
        lines += [f"  P{i}: {{Type: String, Default: x}}" for i in range(parameters)]
    if mappings:
        lines.append("Mappings:")
        lines += [f"  M{i}: {{k: {{v: x}}}}" for i in range(mappings)]
    lines.append("Resources:")
    lines += [f"  T{i}:\n    Type: AWS::SNS::Topic" for i in range(resources_)]
    if outputs:
        lines.append("Outputs:")
        lines += [f"  O{i}: {{Value: !Ref T0}}" for i in range(outputs)]
    return "\n".join(lines) + "\n"


def test_every_limit_has_a_value_a_date_and_a_source() -> None:
    raw = json.loads((resources.files("orgc") / "data" / "limits.json").read_text("utf-8"))
    for name, entry in raw["limits"].items():
        assert isinstance(entry["value"], int), name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["asOf"]), name
        assert entry["source"], name
        assert entry["unit"], name
        if name.startswith("orgc."):
            assert entry["source"].startswith("orgc's own bound"), name
    assert limits()["CLOUDFORMATION.templateBodyInline"].value == 51_200


def test_template_within_every_quota_passes(tmp_path: Path) -> None:
    body = template(limit("CLOUDFORMATION.resources"), outputs=10, parameters=10, mappings=10)
    code, errors = validate(
        tmp_path,
        {"organization.yml": ORGANIZATION, "tasks.yml": TASKS, "big.yml": body},
        "tasks.yml",
    )
    assert (code, errors) == (0, [])


def padded(kilobytes: int) -> str:
    """A one-resource template with about `kilobytes` KB of Metadata."""
    filler = "".join(f"  K{i}: {'x' * 1000}\n" for i in range(kilobytes))
    return template(1).replace("Resources:", "Metadata:\n" + filler + "Resources:")


def test_template_body_over_what_cloudformation_takes_inline_passes(tmp_path: Path) -> None:
    # Over 51,200 bytes the template goes through orgc's template bucket (TemplateURL), as
    # OrgFormation's very large stacks do; only S3's 1 MB is refused.
    code, errors = validate(
        tmp_path,
        {"organization.yml": ORGANIZATION, "tasks.yml": TASKS, "big.yml": padded(60)},
        "tasks.yml",
    )
    assert (code, errors) == (0, [])


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"resources_": 501}, "declares 501 resources, more than the 500"),
        ({"resources_": 1, "outputs": 201}, "declares 201 outputs, more than the 200"),
        ({"resources_": 1, "parameters": 201}, "declares 201 parameters, more than the 200"),
        ({"resources_": 1, "mappings": 201}, "declares 201 mappings, more than the 200"),
    ],
)
def test_template_over_a_count_quota_is_refused_at_the_task(
    tmp_path: Path, counts: dict[str, int], message: str
) -> None:
    code, errors = validate(
        tmp_path,
        {"organization.yml": ORGANIZATION, "tasks.yml": TASKS, "big.yml": template(**counts)},
        "tasks.yml",
    )
    assert code == 1
    wanted = (
        f"tasks.yml:5:1: error[E365]: the template of task Big {message} CloudFormation allows "
        "in one template; split it into tasks of their own"
    )
    assert wanted in [e.replace(str(tmp_path) + "/", "") for e in errors]


def test_template_body_over_what_s3_takes(tmp_path: Path) -> None:
    padding = "x" * 1000
    body = template(1).replace(
        "Resources:",
        "Metadata:\n" + "".join(f"  K{i}: {padding}\n" for i in range(1100)) + "Resources:",
    )
    code, errors = validate(
        tmp_path,
        {"organization.yml": ORGANIZATION, "tasks.yml": TASKS, "big.yml": body},
        "tasks.yml",
    )
    assert code == 1
    [only] = errors
    assert "more than CloudFormation reads even from S3 (1,048,576)" in only
    assert only.replace(str(tmp_path) + "/", "").startswith("tasks.yml:5:1: error[E365]:")


def test_policy_description_length_comes_from_the_data_file(tmp_path: Path) -> None:
    most = limit("ORGANIZATIONS.policyDescription")
    policy = f"""\
  Deny:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: deny
      Description: {"d" * (most + 1)}
      PolicyDocument: {{Version: '2012-10-17', Statement: []}}
"""
    code, errors = validate(
        tmp_path, {"organization.yml": ORGANIZATION + policy}, "organization.yml"
    )
    assert code == 1
    [only] = errors
    assert ":12:20: error[E204]:" in only


def test_account_matrix_over_the_bound_is_refused_quickly(tmp_path: Path) -> None:
    teams = ", ".join(f"t{i}" for i in range(1000))
    environments = ", ".join(f"e{i}: {{OrganizationalUnit: !Ref OU}}" for i in range(1000))
    matrix = f"""\
  OU:
    Type: OC::ORG::OrganizationalUnit
    Properties: {{OrganizationalUnitName: ou}}
  Matrix:
    Type: Orgc::ORG::AccountMatrix
    Properties:
      Teams: [{teams}]
      Environments: {{{environments}}}
      AccountName: ${{team}}-${{environment}}
      RootEmail: a-${{team}}-${{environment}}@example.com
"""
    code, errors = validate(
        tmp_path, {"organization.yml": ORGANIZATION + matrix}, "organization.yml"
    )
    assert code == 1
    assert [e.replace(str(tmp_path) + "/", "") for e in errors] == [
        "organization.yml:11:3: error[E319]: the matrix makes 1,000,000 accounts (1,000 teams x "
        "1,000 environments), more than the 10,000 orgc expands; split it or write fewer teams "
        "or environments"
    ]


def test_policy_document_json_nested_too_deep(tmp_path: Path) -> None:
    # json.loads raised RecursionError on it.
    deep = "[" * 50_000 + "]" * 50_000
    policy = f"""\
  Deny:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: deny
      PolicyDocument: '{deep}'
"""
    files = {"organization.yml": ORGANIZATION + policy}
    code, errors = validate(tmp_path, files, "organization.yml")
    assert code == 1
    assert [e.replace(str(tmp_path) + "/", "") for e in errors] == [
        "organization.yml:12:7: error[E316]: PolicyDocument is a string but not JSON (it nests "
        "more than 100 levels deep); write it as YAML or as valid JSON"
    ]
