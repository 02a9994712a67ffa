"""Property-based fuzzing of what orgc reads: organization files, task files and templates.

Each case writes a small project whose one file is generated or mutated YAML (or bytes), runs
`orgc validate` on it in-process and, like plan, its offline stages (compile_organization, then
compile_stacks with the ids the files give). The properties, for any input:

- no traceback: exit 0 or 1, never 4 ("a bug in orgc"), and only diagnostics on the output;
- no hang: every case finishes within a generous guard (see `_guard`);
- no plan from broken input: when validate reports an error, the offline stages of plan raise
  StageError too, and when it reports none they build the inputs of a plan.

Runs are bounded and reproducible: a fixed number of examples, `derandomize=True` and no example
database, so the same cases run every time. ORGC_FUZZ_EXAMPLES raises the count for a longer
run; the figures of such runs are in the commit messages.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orgc.cli import main
from orgc.diagnostics import StageError
from orgc.lint import available as lint_available
from orgc.pipeline import compile_organization, compile_stacks, lint_templates
from orgc.recorded import known_ids, wanted_ids
from orgc.state import State

EXAMPLES = int(os.environ.get("ORGC_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the guard below bounds a case; a wall-clock deadline would be flaky here
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
GUARD_SECONDS = 30

ORGANIZATION = """\
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties:
      AccountName: management
      AccountId: '111111111111'
      RootEmail: management@example.com
      ServiceControlPolicies: !Ref DenyLeave
  Root:
    Type: OC::ORG::OrganizationRoot
    Properties:
      ServiceControlPolicies: !Ref DenyLeave
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: prod
      Accounts: [!Ref Shop]
  Shop:
    Type: OC::ORG::Account
    Properties:
      AccountName: shop
      AccountId: '222222222222'
      RootEmail: shop@example.com
      Tags: {team: shop}
  DenyLeave:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: deny-leave
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Deny
            Action: organizations:LeaveOrganization
            Resource: '*'
"""

TASKS = """\
Parameters:
  prefix:
    Type: String
    Default: acme
OrganizationUpdate:
  Type: update-organization
  Template: ./organization.yml
Topics:
  Type: update-stacks
  Template: ./template.yml
  StackName: !Sub '${prefix}-topics'
  DefaultOrganizationBinding:
    OrganizationalUnit: !Ref ProdOU
  DefaultOrganizationBindingRegion: [eu-west-1, us-east-1]
  Parameters:
    owner: !GetAtt Shop.Tags.team
Files:
  Type: copy-to-s3
  LocalPath: ./template.yml
  RemotePath: s3://acme-files/template.yml
  OrganizationBinding: {IncludeMasterAccount: true, Region: eu-west-1}
  DependsOn: Topics
"""

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Parameters:
  owner:
    Type: String
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub '${owner}-${AWS::Region}'
  Queue:
    Type: AWS::SQS::Queue
    OrganizationBinding:
      Account: !Ref Shop
      Region: eu-west-1
    Properties:
      Tags:
        - Key: account
          Value: !GetAtt AWSAccount.AccountName
Outputs:
  TopicArn:
    Value: !Ref Topic
    Export:
      Name: !Sub '${AWS::StackName}-topic'
"""

FILES = {"organization.yml": ORGANIZATION, "tasks.yml": TASKS, "template.yml": TEMPLATE}

# --- what the fuzzer writes -------------------------------------------------------------------

# Fragments that have broken orgc before, or are the shapes hostile files take.
FRAGMENTS = [
    "&a [x, x]",
    "*a",
    "*missing",
    "<<: *a",
    "!Ref",
    "!Ref [a, b]",
    "!GetAtt x",
    "!Include ../../etc/passwd",
    "!Include template.yml",
    "!Include tasks.yml",
    "!ReadFile /dev/zero",
    "!ReadFile .",
    "!Cmd true",
    "!Sub ${",
    "!Sub ['${x}', {x: !Ref Shop}]",
    "!Join [',', !Ref Shop]",
    "!FindInMap [a, b]",
    "!If [c]",
    "!Select [99, [1]]",
    "!Nope x",
    "'" + "9" * 80 + "'",
    "9" * 80,
    "1e999999",
    "-.inf",
    ".nan",
    "0x" + "f" * 70,
    "[" * 150 + "]" * 150,
    "{" * 40,
    "~",
    "null",
    "''",
    "{Type: AWS::SNS::Topic}",
    "{Type: update-stacks}",
    "{Type: include, Path: tasks.yml}",
    "{OrganizationalUnit: !Ref ProdOU, Region: eu-west-1}",
    "- a\n- b",
    "? complex\n: key",
    "\t",
    '"\\u0000"',
    "\u2028",
    "café",
]

LINE_TEXT = st.text(
    alphabet=st.sampled_from(string.ascii_letters + string.digits + " :-[]{}!&*'\"#|>,.$\n"),
    max_size=40,
)


def _mutate(data: st.DataObject, text: str) -> bytes:
    """`text` after a few random edits: line, fragment and byte level."""
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        kind = data.draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "fragment", "text", "truncate", "indent"]
            ),
            label="kind",
        )
        at = data.draw(st.integers(0, max(len(lines) - 1, 0)), label="line")
        if kind == "delete" and lines:
            del lines[at]
        elif kind == "duplicate" and lines:
            lines.insert(at, lines[at])
        elif kind == "swap" and len(lines) > 1:
            other = data.draw(st.integers(0, len(lines) - 1), label="other")
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "fragment" and lines:
            fragment = data.draw(st.sampled_from(FRAGMENTS), label="fragment")
            head, colon, _ = lines[at].partition(": ")
            lines[at] = f"{head}: {fragment}" if colon else f"{lines[at]} {fragment}"
        elif kind == "text":
            lines.insert(at, data.draw(LINE_TEXT, label="text"))
        elif kind == "truncate" and lines:
            cut = data.draw(st.integers(0, len(lines[at])), label="cut")
            lines = [*lines[:at], lines[at][:cut]]
        elif kind == "indent" and lines:
            lines[at] = " " * data.draw(st.integers(0, 7), label="spaces") + lines[at].lstrip()
    raw = "\n".join(lines).encode("utf-8")
    if data.draw(st.booleans(), label="bytes"):
        position = data.draw(st.integers(0, len(raw)), label="position")
        junk = data.draw(st.binary(min_size=1, max_size=8), label="junk")
        raw = raw[:position] + junk + raw[position:]
    return raw


YAML_KEYS = st.sampled_from(
    [
        "Type",
        "Properties",
        "AccountName",
        "AccountId",
        "RootEmail",
        "Accounts",
        "OrganizationalUnits",
        "ServiceControlPolicies",
        "PolicyDocument",
        "Template",
        "StackName",
        "Resources",
        "Parameters",
        "DependsOn",
        "Path",
        "x",
    ]
)
YAML_SCALARS = st.one_of(
    st.sampled_from(FRAGMENTS[:20]),
    st.sampled_from(["OC::ORG::Account", "OC::ORG::OrganizationalUnit", "update-stacks", "'*'"]),
    st.integers(-(10**15), 10**15).map(str),
    st.text(alphabet=string.ascii_letters + "-_", max_size=12),
)


def _yaml(value: Any, indent: int = 0) -> str:
    """A generated value as block YAML (keys and scalars are YAML source already)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "\n" + "\n".join(f"{pad}{k}: {_yaml(v, indent + 1)}" for k, v in value.items())
    if isinstance(value, list):
        if not value:
            return "[]"
        return "\n" + "\n".join(f"{pad}- {_yaml(v, indent + 1).lstrip()}" for v in value)
    return str(value)


GENERATED = st.recursive(
    YAML_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(YAML_KEYS, children, max_size=5)
    ),
    max_leaves=25,
)

# --- running a case ---------------------------------------------------------------------------


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Fail a case that runs past GUARD_SECONDS: a hang, not a slow case (cases take
    milliseconds; the guard is far above any machine's noise)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"case still running after {GUARD_SECONDS}s: orgc hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _validate(target: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(target)])
    return code, out.getvalue() + err.getvalue()


def _plan_offline(target: Path, root: Path) -> bool:
    """Whether plan's offline stages accept `target`: False when they raise StageError. As
    `orgc plan` does, cfn-lint checks the rendered templates when it is installed."""
    try:
        inputs = compile_organization(target, root=root)
        if inputs.stack_tasks:
            compile_stacks(inputs, known_ids(wanted_ids(inputs.organization), State()), None)
            if lint_available():
                lint_templates(inputs)
    except StageError:
        return False
    return True


def check_project(root: Path, files: dict[str, bytes], target: str) -> None:
    """Write the project, run validate and plan's offline stages, and check the properties."""
    for old in root.iterdir():
        if old.is_file() or old.is_symlink():
            old.unlink()
    for name, content in files.items():
        (root / name).write_bytes(content)
    with _guard():
        code, output = _validate(root / target)
        assert code in (0, 1), output
        assert "Traceback" not in output, output
        assert "this is a bug in orgc" not in output, output
        accepted = _plan_offline(root / target, root)
    # validate and plan agree: broken input never reaches a plan.
    assert accepted == (code == 0), output


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path.resolve()
    monkeypatch.chdir(root)
    return root


def _encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in files.items()}


def _fuzz_one(name: str, target: str) -> Callable[[Path, st.DataObject], None]:
    def run(project: Path, data: st.DataObject) -> None:
        files = _encoded(FILES)
        files[name] = _mutate(data, FILES[name])
        check_project(project, files, target)

    return run


def test_the_unmutated_project_is_valid(project: Path) -> None:
    check_project(project, _encoded(FILES), "tasks.yml")
    assert _validate(project / "tasks.yml")[0] == 0


@FUZZ
@given(data=st.data())
def test_mutated_organization_file(project: Path, data: st.DataObject) -> None:
    _fuzz_one("organization.yml", "organization.yml")(project, data)


@FUZZ
@given(data=st.data())
def test_mutated_task_file(project: Path, data: st.DataObject) -> None:
    _fuzz_one("tasks.yml", "tasks.yml")(project, data)


@FUZZ
@given(data=st.data())
def test_mutated_template(project: Path, data: st.DataObject) -> None:
    _fuzz_one("template.yml", "tasks.yml")(project, data)


@FUZZ
@given(data=st.data())
def test_mutated_task_file_in_a_directory(project: Path, data: st.DataObject) -> None:
    # The directory form: a broken task file must be an error, never skipped.
    _fuzz_one("tasks.yml", ".")(project, data)


@FUZZ
@given(body=GENERATED)
def test_generated_organization(project: Path, body: Any) -> None:
    files = _encoded(FILES)
    files["organization.yml"] = f"Organization:{_yaml(body, 1)}\n".encode()
    check_project(project, files, "organization.yml")


@FUZZ
@given(body=GENERATED)
def test_generated_resources(project: Path, body: Any) -> None:
    files = _encoded(FILES)
    files["template.yml"] = (
        f"AWSTemplateFormatVersion: '2010-09-09-OC'\nResources:{_yaml(body, 1)}\n"
    ).encode()
    check_project(project, files, "tasks.yml")


# --- what the fuzzer found, kept as plain cases --------------------------------------------------

FOUND = {
    # ruamel warned about an anchor defined twice; under -W error that was a traceback.
    "reused-anchor": (
        "organization.yml",
        ORGANIZATION + "Definitions:\n  - &a [x, x]\n  - &a [y, y]\n",
        "0 errors, 0 warnings",
    ),
    # A parameter whose Default is a mapping holding a !Ref, used in a !Sub: the evaluator
    # unpacked the mapping as if it were one function call (ValueError).
    "mapping-in-sub": (
        "tasks.yml",
        TASKS.replace("Default: acme", "Default: {OrganizationalUnit: !Ref ProdOU, Region: x}"),
        "tasks.yml:11:14: error[E338]: ${prefix} in !Sub is a mapping, not text; make text of "
        "it with !Join first",
    ),
    # A path holding a NUL character (YAML's "\u0000"): os.path.realpath raised ValueError.
    "nul-in-organization-template": (
        "tasks.yml",
        TASKS.replace("Template: ./organization.yml", 'Template: "\\u0000"'),
        # The update-organization task's Template is read as every task's path is (the task
        # may sit in an include, so the tree is read before the organization file).
        "tasks.yml:7:13: error[E324]: Template of task OrganizationUpdate must be a path "
        "relative to this file (this one holds a NUL character), not '\\x00'",
    ),
    "nul-in-task-template": (
        "tasks.yml",
        TASKS.replace("Template: ./template.yml", 'Template: "a\\u0000"'),
        "tasks.yml:10:13: error[E324]: Template of task Topics must be a path relative to this "
        "file (this one holds a NUL character), not 'a\\x00'",
    ),
    "nul-in-include": (
        "organization.yml",
        ORGANIZATION + 'Metadata: !Include "a\\u0000"\n',
        "organization.yml:35:11: error[E104]: 'a\\x00' holds a NUL character: no file has it",
    ),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_found_by_the_fuzzer(project: Path, case: str) -> None:
    name, text, expected = FOUND[case]
    files = _encoded(FILES)
    files[name] = text.encode("utf-8")
    check_project(project, files, "tasks.yml")
    _, output = _validate(project / "tasks.yml")
    assert expected in output
