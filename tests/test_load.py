"""Stage 1, load: tags, scalars, merges, includes, commands, syntax errors and the source map.

Small documents are written to `tmp_path`; multi-file include trees and the error files with
their expected diagnostics inline live under tests/cases/load/. Every test runs from the folder
it loads, so diagnostics name files relative to it, as they do for a user.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support.inline import expected_in_order

from orgc.cli import main
from orgc.diagnostics import Diagnostics, Span
from orgc.limits import limit
from orgc.load import (
    FILE_TAGS,
    INTRINSIC_TAGS,
    LoadedFile,
    LoadOptions,
    SourceMap,
    load_file,
    load_organization,
    project_root,
    read_object_body,
)
from orgc.model import build_organization

CASES = Path(__file__).parent / "cases" / "load"
ERROR_CASES = sorted((CASES / "errors").glob("*.yml"))
KNOWN_TAGS = ", ".join(sorted((*INTRINSIC_TAGS, *FILE_TAGS)))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder that is also the working directory."""
    root = tmp_path.resolve()
    monkeypatch.chdir(root)
    return root


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def report(diagnostics: Diagnostics) -> list[str]:
    """Diagnostics as a user reads them, in the order they are shown."""
    return [str(diagnostic) for diagnostic in diagnostics]


def load_text(
    root: Path, text: str, *, allow_cmd: bool = False, name: str = "main.yml"
) -> tuple[LoadedFile, list[str]]:
    """Load `text` written to `root/name`, with `root` as the project root."""
    write(root, {name: text})
    diagnostics = Diagnostics()
    loaded = load_file(root / name, LoadOptions(root=root, allow_cmd=allow_cmd), diagnostics)
    assert loaded is not None, report(diagnostics)
    return loaded, report(diagnostics)


def where(loaded: LoadedFile, path: tuple[str | int, ...]) -> str:
    return str(loaded.source_map.span(path))


def key_where(loaded: LoadedFile, path: tuple[str | int, ...]) -> str:
    return str(loaded.source_map.key_span(path))


# --- short-form tags ------------------------------------------------------------------------------

SHORT_FORMS: list[tuple[str, str, Any]] = [
    ("!Ref", "!Ref Prod", {"Ref": "Prod"}),
    ("!Ref", "!Ref AWS::AccountId", {"Ref": "AWS::AccountId"}),
    ("!Condition", "!Condition IsProd", {"Condition": "IsProd"}),
    ("!GetAtt", "!GetAtt Prod.AccountId", {"Fn::GetAtt": ["Prod", "AccountId"]}),
    ("!GetAtt", "!GetAtt A.B.C", {"Fn::GetAtt": ["A", "B.C"]}),
    ("!GetAtt", "!GetAtt [Prod, AccountId]", {"Fn::GetAtt": ["Prod", "AccountId"]}),
    (
        "!Sub",
        "!Sub 'arn:aws:iam::${AWS::AccountId}:root'",
        {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"},
    ),
    (
        "!Sub",
        "!Sub ['${Name}-logs', {Name: !Ref Prod}]",
        {"Fn::Sub": ["${Name}-logs", {"Name": {"Ref": "Prod"}}]},
    ),
    ("!Join", "!Join ['-', [a, !Ref B]]", {"Fn::Join": ["-", ["a", {"Ref": "B"}]]}),
    (
        "!If",
        "!If [IsProd, !Ref Prod, !Ref AWS::NoValue]",
        {"Fn::If": ["IsProd", {"Ref": "Prod"}, {"Ref": "AWS::NoValue"}]},
    ),
    ("!Select", "!Select [0, !GetAZs '']", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
    ("!GetAZs", "!GetAZs eu-west-1", {"Fn::GetAZs": "eu-west-1"}),
    ("!Split", "!Split [',', 'a,b']", {"Fn::Split": [",", "a,b"]}),
    (
        "!FindInMap",
        "!FindInMap [Regions, !Ref AWS::Region, Ami]",
        {"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Ami"]},
    ),
    ("!Equals", "!Equals [!Ref Env, prod]", {"Fn::Equals": [{"Ref": "Env"}, "prod"]}),
    (
        "!And",
        "!And [!Condition A, !Condition B]",
        {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]},
    ),
    (
        "!Or",
        "!Or [!Condition A, !Condition B]",
        {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]},
    ),
    ("!Not", "!Not [!Condition A]", {"Fn::Not": [{"Condition": "A"}]}),
    ("!ImportValue", "!ImportValue shared-vpc", {"Fn::ImportValue": "shared-vpc"}),
    ("!Base64", "!Base64 '#!/bin/sh'", {"Fn::Base64": "#!/bin/sh"}),
    ("!Cidr", "!Cidr [10.0.0.0/16, 4, 8]", {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}),
    (
        "!Transform",
        "!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}",
        {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}},
    ),
    ("!ToJsonString", "!ToJsonString {a: 1}", {"Fn::ToJsonString": {"a": 1}}),
    ("!Length", "!Length [a, b]", {"Fn::Length": ["a", "b"]}),
    ("!Contains", "!Contains [[a, b], a]", {"Fn::Contains": [["a", "b"], "a"]}),
    (
        "!EachMemberEquals",
        "!EachMemberEquals [[a, a], a]",
        {"Fn::EachMemberEquals": [["a", "a"], "a"]},
    ),
    ("!EachMemberIn", "!EachMemberIn [[a], [a, b]]", {"Fn::EachMemberIn": [["a"], ["a", "b"]]}),
    ("!RefAll", "!RefAll AWS::EC2::Subnet::Id", {"Fn::RefAll": "AWS::EC2::Subnet::Id"}),
    ("!ValueOf", "!ValueOf [Subnet, Tag]", {"Fn::ValueOf": ["Subnet", "Tag"]}),
    ("!ValueOfAll", "!ValueOfAll [Subnet, Tag]", {"Fn::ValueOfAll": ["Subnet", "Tag"]}),
    (
        "!CopyValue",
        "!CopyValue [VpcId, !Ref Prod, eu-west-1]",
        {"Fn::CopyValue": ["VpcId", {"Ref": "Prod"}, "eu-west-1"]},
    ),
    ("!CopyValue", "!CopyValue VpcId", {"Fn::CopyValue": "VpcId"}),
    ("!JsonString", "!JsonString {a: [1, 2]}", {"Fn::JsonString": {"a": [1, 2]}}),
    ("!MD5", "!MD5 some text", {"Fn::MD5": "some text"}),
]


@pytest.mark.parametrize(
    ("source", "expected"),
    [(source, expected) for _, source, expected in SHORT_FORMS],
    ids=[source for _, source, _ in SHORT_FORMS],
)
def test_short_form_tag_becomes_long_form(project: Path, source: str, expected: Any) -> None:
    loaded, diagnostics = load_text(project, f"Value: {source}\n")
    assert diagnostics == []
    assert loaded.data == {"Value": expected}


def test_every_intrinsic_tag_has_a_case() -> None:
    assert {tag for tag, _, _ in SHORT_FORMS} == set(INTRINSIC_TAGS)


def test_two_tags_on_one_node_are_a_syntax_error(project: Path) -> None:
    write(project, {"main.yml": "Value: !MD5 !ReadFile policy.json\n"})
    diagnostics = Diagnostics()
    assert load_file(project / "main.yml", LoadOptions(root=project), diagnostics) is None
    assert report(diagnostics) == [
        "main.yml:1:13: error[E101]: YAML syntax error: expected <block end>, but found '<tag>' "
        "(while parsing a block mapping)"
    ]


def test_block_forms_of_tags(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Sub: !Sub |\n"
        "  line ${A}\n"
        "Join: !Join\n"
        "  - ','\n"
        "  - - !Ref A\n"
        "    - b\n"
        "Mapping: !JsonString\n"
        "  Version: '2012-10-17'\n",
    )
    assert diagnostics == []
    assert loaded.data == {
        "Sub": {"Fn::Sub": "line ${A}\n"},
        "Join": {"Fn::Join": [",", [{"Ref": "A"}, "b"]]},
        "Mapping": {"Fn::JsonString": {"Version": "2012-10-17"}},
    }


def test_tagged_values_have_positions_down_to_each_item(project: Path) -> None:
    loaded, _ = load_text(
        project,
        "Join: !Join\n"
        "  - '-'\n"
        "  - - a\n"
        "    - !Ref B\n"
        "GetAtt: !GetAtt Prod.AccountId\n"
        "Pair: !GetAtt [Prod, AccountId]\n",
    )
    assert where(loaded, ("Join",)) == "main.yml:1:7"
    assert where(loaded, ("Join", "Fn::Join")) == "main.yml:1:7"
    assert where(loaded, ("Join", "Fn::Join", 0)) == "main.yml:2:5"
    assert where(loaded, ("Join", "Fn::Join", 1)) == "main.yml:3:5"
    assert where(loaded, ("Join", "Fn::Join", 1, 1)) == "main.yml:4:7"
    assert where(loaded, ("Join", "Fn::Join", 1, 1, "Ref")) == "main.yml:4:7"
    # The scalar form has one position; both halves of the attribute share it.
    assert where(loaded, ("GetAtt", "Fn::GetAtt", 0)) == "main.yml:5:9"
    assert where(loaded, ("GetAtt", "Fn::GetAtt", 1)) == "main.yml:5:9"
    assert where(loaded, ("Pair", "Fn::GetAtt", 0)) == "main.yml:6:16"
    assert where(loaded, ("Pair", "Fn::GetAtt", 1)) == "main.yml:6:22"


def test_unknown_tag_is_reported_at_its_position(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Organization:\n"
        "  Prod:\n"
        "    Type: !Reff Prod\n"
        "    Properties: !Custom {Deep: !AlsoUnknown x}\n"
        "Kept: !Ref Prod\n",
    )
    assert diagnostics == [
        f"main.yml:3:11: error[E103]: unknown tag !Reff; orgc knows {KNOWN_TAGS}",
        f"main.yml:4:17: error[E103]: unknown tag !Custom; orgc knows {KNOWN_TAGS}",
    ]
    assert loaded.data == {
        "Organization": {"Prod": {"Type": None, "Properties": None}},
        "Kept": {"Ref": "Prod"},
    }


def test_getatt_without_a_dot_is_malformed(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Id:\n  !GetAtt NoDot\n")
    assert diagnostics == [
        "main.yml:2:3: error[E104]: !GetAtt 'NoDot' needs the form Resource.Attribute"
    ]
    assert loaded.data == {"Id": {"Fn::GetAtt": ["NoDot", ""]}}


def test_ref_of_a_list_is_malformed(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Targets: [!Ref [Prod, Dev]]\n")
    assert diagnostics == ["main.yml:1:11: error[E104]: !Ref takes a logical id: !Ref MyAccount"]
    assert loaded.data == {"Targets": [{"Ref": ["Prod", "Dev"]}]}
    # The inner value keeps the tag's span, which later stages use to avoid a second report.
    assert (
        loaded.source_map.values[("Targets", 0, "Ref")] == loaded.source_map.values[("Targets", 0)]
    )


def test_tagged_keys_and_non_scalar_keys_are_refused(project: Path) -> None:
    loaded, diagnostics = load_text(project, "? [a, b]\n: 1\n!Ref k: 2\n1: 3\n")
    assert diagnostics == [
        "main.yml:1:3: error[E111]: mapping keys must be plain strings",
        "main.yml:3:1: error[E111]: a key cannot carry the tag !Ref",
    ]
    assert loaded.data == {"k": 2, "1": 3}


# --- scalars --------------------------------------------------------------------------------------

# (as written, value, the text kept for a scalar that YAML did not leave a string)
SCALARS: list[tuple[str, Any, str | None]] = [
    ("yes", "yes", None),
    ("no", "no", None),
    ("on", "on", None),
    ("off", "off", None),
    ("y", "y", None),
    ("true", True, "true"),
    ("True", True, "True"),
    ("TRUE", True, "TRUE"),
    ("false", False, "false"),
    ("012345678901", 12345678901, "012345678901"),
    ("'012345678901'", "012345678901", None),
    ("123456789012", 123456789012, "123456789012"),
    ("017", 17, "017"),
    ("0o17", 15, "0o17"),
    ("0x1F", 31, "0x1F"),
    ("-0x1F", -31, "-0x1F"),
    ("0b101", 5, "0b101"),
    ("-12", -12, "-12"),
    ("+7", 7, "+7"),
    ("1_000", 1000, "1_000"),
    ("0", 0, "0"),
    ("1.5", 1.5, "1.5"),
    ("1e3", 1000.0, "1e3"),
    ("-2.5E-1", -0.25, "-2.5E-1"),
    (".5", 0.5, ".5"),
    ("1.", 1.0, "1."),
    (".inf", math.inf, ".inf"),
    ("-.inf", -math.inf, "-.inf"),
    ("+.Inf", math.inf, "+.Inf"),
    ("null", None, None),
    ("Null", None, None),
    ("~", None, None),
    ("", None, None),
    ("2024-01-02", "2024-01-02", None),
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z", None),
    ("12:30", "12:30", None),
    ("0.1.2", "0.1.2", None),
    ("!!str 012", "012", None),
    ("!!int '7'", 7, "7"),
    ("'true'", "true", None),
    ('"1.5"', "1.5", None),
]


@pytest.mark.parametrize(
    ("written", "value", "text"),
    SCALARS,
    ids=[written or "empty" for written, _, _ in SCALARS],
)
def test_scalars_follow_yaml_1_2(project: Path, written: str, value: Any, text: str | None) -> None:
    loaded, diagnostics = load_text(project, f"Value: {written}\nNext: n\n")
    assert diagnostics == []
    assert loaded.data == {"Value": value, "Next": "n"}
    assert type(loaded.data["Value"]) is type(value)
    assert loaded.source_map.scalar_text(("Value",)) == text


def test_nan_is_a_float_and_keeps_its_text(project: Path) -> None:
    loaded, _ = load_text(project, "Value: .NaN\n")
    assert isinstance(loaded.data["Value"], float)
    assert math.isnan(loaded.data["Value"])
    assert loaded.source_map.scalar_text(("Value",)) == ".NaN"


def test_account_id_read_as_a_number_keeps_its_text_in_a_list(project: Path) -> None:
    loaded, _ = load_text(project, "Accounts:\n  - 012345678901\n  - '012345678901'\n")
    assert loaded.data == {"Accounts": [12345678901, "012345678901"]}
    assert loaded.source_map.scalar_text(("Accounts", 0)) == "012345678901"
    assert loaded.source_map.scalar_text(("Accounts", 1)) is None


def test_block_scalars_hold_the_text_yaml_means(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Folded: >-\n"
        "  Example Corp's\n"
        "  organization\n"
        "\n"
        "  second paragraph\n"
        "FoldedKeep: >\n"
        "  a\n"
        "    indented\n"
        "  b\n"
        "Literal: |\n"
        "  a\n"
        "  b\n"
        "Sub: !Sub >-\n"
        "  arn:aws:iam::${AWS::AccountId}:\n"
        "  role/x\n"
        "? >-\n"
        "  folded\n"
        "  key\n"
        ": 1\n",
    )
    assert diagnostics == []
    assert loaded.data == {
        "Folded": "Example Corp's organization\nsecond paragraph",
        "FoldedKeep": "a\n  indented\nb\n",
        "Literal": "a\nb\n",
        "Sub": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}: role/x"},
        "folded key": 1,
    }


def test_folded_command_and_include_arguments(project: Path) -> None:
    write(project, {"a b.yml": "x: 1\n"})
    loaded, diagnostics = load_text(
        project,
        "Included: !Include >-\n  a\n  b.yml\nEcho: !Cmd >-\n  echo\n  folded\n",
        allow_cmd=True,
    )
    assert diagnostics == []
    assert loaded.data == {"Included": {"x": 1}, "Echo": "folded"}


def test_json_file_loads_with_tab_indentation(project: Path) -> None:
    loaded, diagnostics = load_text(
        project, '{\n\t"Value": [1, "two", true, null],\n\t"Id": "012"\n}\n', name="main.json"
    )
    assert diagnostics == []
    assert loaded.data == {"Value": [1, "two", True, None], "Id": "012"}
    assert key_where(loaded, ("Id",)) == "main.json:3:2"


# --- duplicate keys -------------------------------------------------------------------------------


def test_duplicate_keys_keep_the_first_value(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Description: first\nOrganization:\n  Prod: {Type: A}\nDescription: !Unknown second\n",
    )
    # The later value is built and dropped: its own mistakes are reported in the same run,
    # and the source map keeps pointing at the first definition.
    assert diagnostics[0] == (
        "main.yml:4:1: error[E102]: duplicate key 'Description' (first defined at line 1); "
        "remove one of them"
    )
    assert diagnostics[1].startswith("main.yml:4:14: error[E103]: unknown tag !Unknown;")
    assert len(diagnostics) == 2
    assert loaded.data == {"Description": "first", "Organization": {"Prod": {"Type": "A"}}}
    assert where(loaded, ("Description",)) == "main.yml:1:14"
    assert key_where(loaded, ("Description",)) == "main.yml:1:1"


def test_explicit_key_beside_a_merged_one_is_not_a_duplicate(project: Path) -> None:
    _, diagnostics = load_text(project, "Base: &base {Type: A}\nProd:\n  <<: *base\n  Type: B\n")
    assert diagnostics == []


# --- error files with the expected diagnostics inline ---------------------------------------------


def expected_inline(path: Path) -> list[tuple[str, int, str, str]]:
    return [(path.name, line, code, message) for line, code, message in expected_in_order(path)]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[case.stem for case in ERROR_CASES])
def test_error_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.parent)
    diagnostics = Diagnostics()
    loaded = load_file(case, LoadOptions(root=case.parent), diagnostics)
    assert loaded is not None
    found = []
    for diagnostic in diagnostics:
        assert diagnostic.span is not None, diagnostic
        found.append(
            (diagnostic.span.file, diagnostic.span.line, diagnostic.code, diagnostic.message)
        )
    assert found == expected_inline(case)
    expected_data = json.loads(case.with_suffix(".json").read_text(encoding="utf-8"))
    assert loaded.data == expected_data
    assert not (case.parent / "created-by-cmd.txt").exists()


def test_every_error_case_has_expectations() -> None:
    assert ERROR_CASES
    for case in ERROR_CASES:
        assert expected_inline(case), case.name
        assert case.with_suffix(".json").is_file(), case.name


def test_duplicate_keys_report_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES / "errors" / "duplicate-keys.yml"
    monkeypatch.chdir(case.parent)
    diagnostics = Diagnostics()
    load_file(case, LoadOptions(root=case.parent), diagnostics)
    assert [str(d.span) for d in diagnostics] == [
        "duplicate-keys.yml:5:5",
        "duplicate-keys.yml:6:37",
        "duplicate-keys.yml:7:3",
        "duplicate-keys.yml:9:1",
        "duplicate-keys.yml:10:1",
    ]


# --- merges ---------------------------------------------------------------------------------------


def test_merge_of_an_alias_with_explicit_keys_winning(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Base: &base\n"
        "  Type: OC::ORG::Account\n"
        "  Properties: {AccountName: base}\n"
        "Prod:\n"
        "  <<: *base\n"
        "  Properties: {AccountName: prod}\n",
    )
    assert diagnostics == []
    assert loaded.data["Prod"] == {
        "Type": "OC::ORG::Account",
        "Properties": {"AccountName": "prod"},
    }
    # A merged key is positioned where it was written: under the anchor.
    assert where(loaded, ("Prod", "Type")) == "main.yml:2:9"
    assert key_where(loaded, ("Prod", "Type")) == "main.yml:2:3"
    assert where(loaded, ("Prod", "Properties", "AccountName")) == "main.yml:6:29"
    assert key_where(loaded, ("Prod", "Properties")) == "main.yml:6:3"
    assert where(loaded, ("Prod",)) == "main.yml:5:3"
    assert loaded.source_map.scalar_text(("Prod", "Type")) is None


def test_merge_of_a_list_of_aliases_earlier_wins(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "First: &first {Shared: first, OnlyFirst: 1}\n"
        "Second: &second {Shared: second, OnlySecond: 2}\n"
        "Merged:\n"
        "  <<: [*first, *second]\n"
        "  Own: 3\n",
    )
    assert diagnostics == []
    assert loaded.data["Merged"] == {"Shared": "first", "OnlyFirst": 1, "OnlySecond": 2, "Own": 3}
    assert where(loaded, ("Merged", "Shared")) == "main.yml:1:24"
    assert where(loaded, ("Merged", "OnlySecond")) == "main.yml:2:46"
    assert where(loaded, ("Merged", "Own")) == "main.yml:5:8"
    assert loaded.source_map.scalar_text(("Merged", "OnlyFirst")) == "1"


def test_merge_of_an_included_file(project: Path) -> None:
    write(project, {"shared/base.yml": "Type: OC::ORG::Account\nTags:\n  team: core\n"})
    loaded, diagnostics = load_text(
        project,
        "Prod:\n  <<: !Include shared/base.yml\n  Tags: {team: prod}\n",
    )
    assert diagnostics == []
    assert loaded.data == {"Prod": {"Type": "OC::ORG::Account", "Tags": {"team": "prod"}}}
    assert where(loaded, ("Prod", "Type")) == "shared/base.yml:1:7"
    assert key_where(loaded, ("Prod", "Type")) == "shared/base.yml:1:1"
    assert where(loaded, ("Prod", "Tags", "team")) == "main.yml:3:16"
    assert where(loaded, ("Prod",)) == "main.yml:2:3"
    assert loaded.included == (project / "main.yml", project / "shared/base.yml")


def test_merge_of_a_scalar_alias_is_reported_at_the_anchor(project: Path) -> None:
    # An alias has no position of its own in the node graph: the anchor is all there is.
    loaded, diagnostics = load_text(project, "Name: &name prod\nProd:\n  <<: *name\n  Id: 1\n")
    assert diagnostics == [
        "main.yml:1:7: error[E109]: `<<:` merges a mapping or a list of mappings, not this value"
    ]
    assert loaded.data["Prod"] == {"Id": 1}


def test_merge_of_nothing_is_reported(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Prod:\n  <<:\n  Id: 1\n")
    # An empty value sits right after its key's colon.
    assert diagnostics == [
        "main.yml:2:6: error[E109]: `<<:` merges a mapping or a list of mappings, not this value"
    ]
    assert loaded.data == {"Prod": {"Id": 1}}


def test_merge_of_a_broken_include_is_reported_once(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Prod:\n  <<: !Include missing.yml\n  Id: 1\n")
    assert diagnostics == [
        "main.yml:2:7: error[E106]: 'missing.yml' not found: no file missing.yml "
        "(paths are relative to main.yml)"
    ]
    assert loaded.data == {"Prod": {"Id": 1}}


def test_merge_of_an_included_list_is_reported(project: Path) -> None:
    write(project, {"list.yml": "- a\n- b\n"})
    _, diagnostics = load_text(project, "Prod:\n  <<: !Include list.yml\n")
    assert diagnostics == [
        "main.yml:2:7: error[E109]: `<<:` merges a mapping or a list of mappings, not this value"
    ]


def test_quoted_merge_key_is_an_ordinary_key(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Prod:\n  '<<': {a: 1}\n")
    assert diagnostics == []
    assert loaded.data == {"Prod": {"<<": {"a": 1}}}


def test_top_level_definitions_are_dropped(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Definitions:\n"
        "  Account: &account\n"
        "    Type: OC::ORG::Account\n"
        "Organization:\n"
        "  Prod:\n"
        "    <<: *account\n"
        "  Nested:\n"
        "    Definitions: kept below the top\n",
    )
    assert diagnostics == []
    assert loaded.data == {
        "Organization": {
            "Prod": {"Type": "OC::ORG::Account"},
            "Nested": {"Definitions": "kept below the top"},
        }
    }
    assert not [path for path in loaded.source_map.values if path[:1] == ("Definitions",)]
    assert where(loaded, ("Organization", "Prod", "Type")) == "main.yml:3:11"
    assert loaded.span(("Definitions", "Account")) == loaded.span(())


# --- includes -------------------------------------------------------------------------------------


@pytest.fixture
def include_tree(monkeypatch: pytest.MonkeyPatch) -> tuple[LoadedFile, list[str]]:
    folder = CASES / "include-tree"
    monkeypatch.chdir(folder)
    diagnostics = Diagnostics()
    loaded = load_file(folder / "main.yml", LoadOptions(root=folder), diagnostics)
    assert loaded is not None
    return loaded, report(diagnostics)


def test_include_tree_data(include_tree: tuple[LoadedFile, list[str]]) -> None:
    loaded, diagnostics = include_tree
    assert diagnostics == []
    assert loaded.data == {
        "Organization": {
            "Prod": {
                "Type": "OC::ORG::Account",
                "Properties": {
                    "AccountName": "prod",
                    "Tags": {"team": "platform", "owner": "platform-team@example.com\n"},
                },
            },
            "Ids": ["111111111111", 222222222222],
        },
        "Policies": {
            "Type": "OC::ORG::ServiceControlPolicy",
            "Description": "explicit keys win over merged ones",
            "Document": '{"Version": "2012-10-17", "Statement": []}\n',
        },
        "Labels": {"team": "platform", "env": "prod"},
        "Summary": "Example Corp's organization",
    }


def test_include_tree_lists_every_file_read(include_tree: tuple[LoadedFile, list[str]]) -> None:
    loaded, _ = include_tree
    folder = CASES.resolve() / "include-tree"
    assert loaded.path == folder / "main.yml"
    assert loaded.display == "main.yml"
    assert loaded.text == (folder / "main.yml").read_text(encoding="utf-8")
    assert loaded.included == tuple(
        folder / name
        for name in (
            "main.yml",
            "accounts/accounts.yml",
            "accounts/shared/tags.yml",
            "accounts/owner.txt",
            "accounts/ids.yml",
            "policies/base.yml",
            "policies/deny-leave.json",
            "summary.yml",
        )
    )


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("Organization",), "main.yml:6:15", "main.yml:6:1"),
        (("Organization", "Prod"), "accounts/accounts.yml:2:3", "accounts/accounts.yml:1:1"),
        (
            ("Organization", "Prod", "Properties", "AccountName"),
            "accounts/accounts.yml:4:18",
            "accounts/accounts.yml:4:5",
        ),
        (
            ("Organization", "Prod", "Properties", "Tags"),
            "accounts/accounts.yml:5:11",
            "accounts/accounts.yml:5:5",
        ),
        (
            ("Organization", "Prod", "Properties", "Tags", "owner"),
            "accounts/shared/tags.yml:2:8",
            "accounts/shared/tags.yml:2:1",
        ),
        (("Organization", "Ids"), "accounts/accounts.yml:6:6", "accounts/accounts.yml:6:1"),
        (("Organization", "Ids", 1), "accounts/ids.yml:2:3", "accounts/ids.yml:2:3"),
        (("Policies",), "main.yml:8:3", "main.yml:7:1"),
        (("Policies", "Type"), "policies/base.yml:1:7", "policies/base.yml:1:1"),
        (("Policies", "Description"), "main.yml:9:16", "main.yml:9:3"),
        (("Policies", "Document"), "main.yml:10:13", "main.yml:10:3"),
        (("Labels", "team"), "main.yml:4:11", "main.yml:4:5"),
        (("Labels", "env"), "main.yml:13:8", "main.yml:13:3"),
        (("Summary",), "main.yml:14:10", "main.yml:14:1"),
    ],
)
def test_include_tree_positions(
    include_tree: tuple[LoadedFile, list[str]],
    path: tuple[str | int, ...],
    value: str,
    key: str,
) -> None:
    loaded, _ = include_tree
    assert where(loaded, path) == value
    assert key_where(loaded, path) == key


def test_include_tree_keeps_text_of_included_numbers(
    include_tree: tuple[LoadedFile, list[str]],
) -> None:
    loaded, _ = include_tree
    assert loaded.source_map.scalar_text(("Organization", "Ids", 1)) == "222222222222"
    assert loaded.source_map.scalar_text(("Organization", "Ids", 0)) is None


def test_include_of_list_and_scalar_documents(project: Path) -> None:
    write(
        project,
        {
            "list.yml": "- a\n- !Ref B\n",
            "scalar.yml": "012\n",
            "comment.yml": "# nothing\n",
            "empty.yml": "",
        },
    )
    loaded, diagnostics = load_text(
        project,
        "List: !Include list.yml\n"
        "Scalar: !Include scalar.yml\n"
        "Comment: !Include comment.yml\n"
        "Empty: !Include empty.yml\n",
    )
    assert diagnostics == []
    assert loaded.data == {
        "List": ["a", {"Ref": "B"}],
        "Scalar": 12,
        "Comment": None,
        "Empty": None,
    }
    assert where(loaded, ("List", 1, "Ref")) == "list.yml:2:3"
    assert loaded.source_map.scalar_text(("Scalar",)) == "012"
    assert where(loaded, ("Scalar",)) == "main.yml:2:9"


def test_include_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / "include-cycle"
    monkeypatch.chdir(folder)
    diagnostics = Diagnostics()
    loaded = load_file(folder / "a.yml", LoadOptions(root=folder), diagnostics)
    assert loaded is not None
    assert report(diagnostics) == ["b.yml:1:7: error[E108]: include cycle: a.yml → b.yml → a.yml"]
    assert loaded.data == {"Value": {"Back": None}}
    assert loaded.included == (folder.resolve() / "a.yml", folder.resolve() / "b.yml")


def test_file_including_itself(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Self: !Include ./main.yml\n")
    assert diagnostics == ["main.yml:1:7: error[E108]: include cycle: main.yml → main.yml"]
    assert loaded.data == {"Self": None}


def test_same_file_included_twice_is_not_a_cycle(project: Path) -> None:
    write(project, {"tags.yml": "team: core\n"})
    loaded, diagnostics = load_text(
        project, "A: !Include tags.yml\nB: !Include tags.yml\nC: !ReadFile main.yml\n"
    )
    assert diagnostics == []
    assert loaded.data["A"] == loaded.data["B"] == {"team": "core"}
    assert loaded.data["C"] == (project / "main.yml").read_text(encoding="utf-8")
    assert loaded.included == (project / "main.yml", project / "tags.yml")


def test_include_outside_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = (CASES / "include-escape").resolve()
    project = folder / "project"
    monkeypatch.chdir(project)
    diagnostics = Diagnostics()
    loaded = load_file(project / "main.yml", LoadOptions(root=project), diagnostics)
    assert loaded is not None
    outside = folder / "outside.yml"
    assert report(diagnostics) == [
        f"main.yml:2:10: error[E105]: '../outside.yml' resolves to {outside}, outside the "
        f"project root {project}; keep included files inside the project",
        f"main.yml:3:7: error[E105]: '../outside.yml' resolves to {outside}, outside the "
        f"project root {project}; keep included files inside the project",
        f"sub/nested.yml:1:9: error[E105]: '../../outside.yml' resolves to {outside}, outside "
        f"the project root {project}; keep included files inside the project",
    ]
    assert loaded.data == {
        "Inside": {"kept": True},
        "Outside": None,
        "Text": None,
        "Nested": {"Escape": None},
    }
    assert outside not in loaded.included


def test_include_through_a_symlink_out_of_the_root(project: Path) -> None:
    inside = project / "inside"
    write(project, {"outside/secret.yml": "secret: 1\n"})
    inside.mkdir()
    (inside / "link.yml").symlink_to(project / "outside" / "secret.yml")
    write(inside, {"main.yml": "Value: !Include link.yml\n"})
    diagnostics = Diagnostics()
    loaded = load_file(inside / "main.yml", LoadOptions(root=inside), diagnostics)
    assert loaded is not None
    assert report(diagnostics) == [
        "inside/main.yml:1:8: error[E105]: 'link.yml' resolves to outside/secret.yml, outside "
        f"the project root {inside}; keep included files inside the project"
    ]
    assert loaded.data == {"Value": None}


def test_include_of_an_absolute_path_outside_the_root(project: Path) -> None:
    _, diagnostics = load_text(project / "p", "Value: !Include /etc/hostname\n")
    assert diagnostics == [
        "p/main.yml:1:8: error[E105]: '/etc/hostname' resolves to /etc/hostname, outside the "
        f"project root {project / 'p'}; keep included files inside the project"
    ]


def test_missing_include_names_the_resolved_path(project: Path) -> None:
    write(project, {"accounts/main.yml": "Tags: !Include ../shared/./tags.yml\n"})
    diagnostics = Diagnostics()
    loaded = load_file(project / "accounts/main.yml", LoadOptions(root=project), diagnostics)
    assert loaded is not None
    assert report(diagnostics) == [
        "accounts/main.yml:1:7: error[E106]: '../shared/./tags.yml' not found: no file "
        "shared/tags.yml (paths are relative to accounts/main.yml)"
    ]
    assert loaded.data == {"Tags": None}
    assert loaded.included == (project / "accounts/main.yml",)


def test_syntax_error_in_an_included_file(project: Path) -> None:
    write(project, {"broken.yml": "a: [1,\n"})
    loaded, diagnostics = load_text(project, "Broken: !Include broken.yml\nFine: 1\n")
    assert diagnostics == [
        "broken.yml:2:1: error[E101]: YAML syntax error: expected the node content, but found "
        "'<stream end>' (while parsing a flow node)"
    ]
    assert loaded.data == {"Broken": None, "Fine": 1}


def test_include_paths_with_spaces_around_them(project: Path) -> None:
    write(project, {"a b.yml": "x: 1\n"})
    loaded, diagnostics = load_text(project, "Value: !Include '  a b.yml '\n")
    assert diagnostics == []
    assert loaded.data == {"Value": {"x": 1}}


# --- !ReadFile ------------------------------------------------------------------------------------


def test_read_file_returns_the_text(project: Path) -> None:
    text = '{\n  "Version": "2012-10-17"\n}\n# not YAML: !Ref x\n'
    write(project, {"policies/deny.json": text})
    loaded, diagnostics = load_text(project, "Document: !ReadFile policies/deny.json\n")
    assert diagnostics == []
    assert loaded.data == {"Document": text}
    assert where(loaded, ("Document",)) == "main.yml:1:11"
    assert loaded.included == (project / "main.yml", project / "policies/deny.json")


def test_read_file_outside_the_root(project: Path) -> None:
    write(project, {"secret.txt": "s3cr3t\n"})
    loaded, diagnostics = load_text(project / "p", "Text: !ReadFile ../secret.txt\n")
    assert diagnostics == [
        f"p/main.yml:1:7: error[E105]: '../secret.txt' resolves to secret.txt, outside the "
        f"project root {project / 'p'}; keep included files inside the project"
    ]
    assert loaded.data == {"Text": None}


def test_read_file_that_is_not_utf8(project: Path) -> None:
    (project / "binary.bin").write_bytes(b"\xff\xfe\x00")
    loaded, diagnostics = load_text(project, "Text: !ReadFile binary.bin\n")
    assert diagnostics == [
        "main.yml:1:7: error[E113]: binary.bin holds bytes that are not UTF-8 at line 1, "
        "column 1; orgc reads UTF-8 text only"
    ]
    assert loaded.data == {"Text": None}


# --- !Cmd -----------------------------------------------------------------------------------------


def test_cmd_is_refused_and_nothing_runs(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Value: !Cmd touch ran.txt\n")
    assert diagnostics == [
        "main.yml:1:8: error[E107]: !Cmd 'touch ran.txt' would run a shell command; pass "
        "--allow-cmd to permit it"
    ]
    assert loaded.data == {"Value": None}
    assert not (project / "ran.txt").exists()


def test_cmd_runs_when_allowed_in_the_folder_of_its_file(project: Path) -> None:
    loaded, diagnostics = load_text(
        project, "Touch: !Cmd touch ran.txt\nWhere: !Cmd pwd\n", name="sub/main.yml", allow_cmd=True
    )
    assert diagnostics == []
    assert loaded.data == {"Touch": "", "Where": str(project / "sub")}
    assert (project / "sub" / "ran.txt").exists()


def test_cmd_output_as_json_or_text(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        'Json: !Cmd "printf \'{\\"Ids\\": [\\"012\\", 12]}\'"\n'
        "Number: !Cmd echo 42\n"
        "NotJson: !Cmd echo 012\n"
        "Text: !Cmd echo '  hello world  '\n",
        allow_cmd=True,
    )
    assert diagnostics == []
    assert loaded.data == {
        "Json": {"Ids": ["012", 12]},
        "Number": 42,
        "NotJson": "012",
        "Text": "hello world",
    }


def test_cmd_that_fails_reports_its_exit_code(project: Path) -> None:
    loaded, diagnostics = load_text(
        project,
        "Loud: !Cmd 'echo first >&2; echo last problem >&2; exit 3'\nQuiet: !Cmd exit 4\n",
        allow_cmd=True,
    )
    assert diagnostics == [
        "main.yml:1:7: error[E107]: !Cmd 'echo first >&2; echo last problem >&2; exit 3' "
        "failed with exit 3: last problem",
        "main.yml:2:8: error[E107]: !Cmd 'exit 4' failed with exit 4: no output",
    ]
    assert loaded.data == {"Loud": None, "Quiet": None}


# --- syntax errors and unreadable files -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Organization:\n  Prod:\n    Type: OC::ORG::Account\n     Properties: {}\n",
            "main.yml:4:16: error[E101]: YAML syntax error: mapping values are not allowed here",
            id="indented-too-far",
        ),
        pytest.param(
            "Organization:\n  Prod:\n    Type: OC::ORG::Account\n   Properties: {}\n",
            "main.yml:4:4: error[E101]: YAML syntax error: expected <block end>, but found "
            "'<block mapping start>' (while parsing a block mapping)",
            id="indented-too-little",
        ),
        pytest.param(
            "Organization:\n  Prod:\n    Type: 'OC::ORG::Account\n    Properties: {}\n",
            # The scanner gives up where the file ends, one line after the last line.
            "main.yml:5:1: error[E101]: YAML syntax error: found unexpected end of stream "
            "(while scanning a quoted scalar)",
            id="unclosed-quote",
        ),
        pytest.param(
            "Organization:\n  Prod:\n\tType: OC::ORG::Account\n",
            "main.yml:3:1: error[E101]: YAML syntax error: found character '\\t' that cannot "
            "start any token (while scanning for the next token)",
            id="tab-indentation",
        ),
        pytest.param(
            "Organization:\n  Prod: [a, b\nDescription: x\n",
            "main.yml:3:12: error[E101]: YAML syntax error: expected ',' or ']', but got "
            "':' (while parsing a flow sequence)",
            id="unclosed-bracket",
        ),
        pytest.param(
            "Prod:\n  <<: *missing\n",
            "main.yml:2:7: error[E101]: YAML syntax error: found undefined alias 'missing'",
            id="undefined-alias",
        ),
        pytest.param(
            "a: 1\n---\nb: 2\n",
            "main.yml:2:1: error[E101]: YAML syntax error: but found another document "
            "(expected a single document in the stream)",
            id="two-documents",
        ),
    ],
)
def test_syntax_error(project: Path, text: str, expected: str) -> None:
    write(project, {"main.yml": text})
    diagnostics = Diagnostics()
    assert load_file(project / "main.yml", LoadOptions(root=project), diagnostics) is None
    assert report(diagnostics) == [expected]


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("", "main.yml:1:1"),
        ("\n\n", "main.yml:1:1"),
        ("# only a comment\n", "main.yml:1:1"),
        ("~\n", "main.yml:1:1"),
        # An empty document after its marker: the null sits where the document ends.
        ("---\n", "main.yml:2:1"),
    ],
)
def test_empty_file_is_null(project: Path, text: str, position: str) -> None:
    loaded, diagnostics = load_text(project, text)
    assert diagnostics == []
    assert loaded.data is None
    assert where(loaded, ()) == position
    assert loaded.included == (project / "main.yml",)


def test_missing_file(project: Path) -> None:
    diagnostics = Diagnostics()
    assert load_file(project / "missing.yml", LoadOptions(root=project), diagnostics) is None
    assert report(diagnostics) == ["orgc: error[E100]: no such file: missing.yml"]


def test_directory_is_not_a_file(project: Path) -> None:
    (project / "folder.yml").mkdir()
    diagnostics = Diagnostics()
    assert load_file(project / "folder.yml", LoadOptions(root=project), diagnostics) is None
    assert report(diagnostics) == ["orgc: error[E100]: folder.yml is a directory; name a file"]


def test_file_outside_the_working_directory_is_named_in_full(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, {"elsewhere/main.yml": "Value: !Nope x\n"})
    (project / "cwd").mkdir()
    monkeypatch.chdir(project / "cwd")
    diagnostics = Diagnostics()
    loaded = load_file(project / "elsewhere/main.yml", LoadOptions(root=project), diagnostics)
    assert loaded is not None
    assert loaded.display == str(project / "elsewhere/main.yml")
    assert [str(d.span) for d in diagnostics] == [f"{project}/elsewhere/main.yml:1:8"]


# --- the source map -------------------------------------------------------------------------------


def test_span_falls_back_to_the_nearest_ancestor() -> None:
    top = Span("main.yml", 1, 1)
    organization = Span("main.yml", 2, 3)
    prod = Span("main.yml", 3, 5)
    source_map = SourceMap(
        values={(): top, ("Organization",): organization, ("Organization", "Prod"): prod}
    )
    assert source_map.span(("Organization", "Prod")) is prod
    assert source_map.span(("Organization", "Prod", "Properties", "Tags", 0)) is prod
    assert source_map.span(("Organization", "Dev")) is organization
    assert source_map.span(("Description",)) is top
    assert source_map.span(()) is top
    assert SourceMap().span(("Organization",)) is None


def test_key_span_and_its_fallback() -> None:
    value = Span("main.yml", 2, 9)
    key = Span("main.yml", 2, 3)
    source_map = SourceMap(values={("Prod",): value, ("List",): value}, keys={("Prod",): key})
    assert source_map.key_span(("Prod",)) is key
    assert source_map.key_span(("List",)) is value
    assert source_map.key_span(("List", 0)) is value
    assert SourceMap().key_span(("Prod",)) is None


def test_spans_of_a_loaded_document(project: Path) -> None:
    loaded, _ = load_text(
        project,
        "Organization:\n"
        "  Prod:\n"
        "    Type: OC::ORG::Account\n"
        "    Properties:\n"
        "      Accounts:\n"
        "        - !Ref Dev\n"
        "        - !Ref Test\n",
    )
    assert where(loaded, ("Organization", "Prod", "Type")) == "main.yml:3:11"
    assert key_where(loaded, ("Organization", "Prod", "Type")) == "main.yml:3:5"
    assert where(loaded, ("Organization", "Prod", "Properties", "Accounts", 1)) == "main.yml:7:11"
    # Items of a list have no key: their key span is their value span.
    assert key_where(loaded, ("Organization", "Prod", "Properties", "Accounts", 1)) == (
        "main.yml:7:11"
    )
    # A path below a scalar, or to a key that is not there, lands on the nearest ancestor.
    assert where(loaded, ("Organization", "Prod", "Type", "Deeper")) == "main.yml:3:11"
    assert where(loaded, ("Organization", "Prod", "Missing")) == "main.yml:3:5"
    assert loaded.span(("Organization",)) == loaded.source_map.span(("Organization",))
    span = loaded.source_map.values[("Organization", "Prod", "Type")]
    assert (span.end_line, span.end_col) == (3, 27)


POSITIONED = (
    "Organization:\n"
    "  Management:\n"
    "    Type: OC::ORG::MasterAccount\n"
    "    Properties: {{AccountName: m, AccountId: '111111111111', RootEmail: m@example.com}}\n"
    "  Shop:\n"
    "    Type: OC::ORG::Account\n"
    "    Properties:\n"
    "      AccountName:{gap}shop\n"
    "      RootEmail: shop@example.com\n"
)


def test_positions_are_not_part_of_equality(project: Path) -> None:
    # The same organization written twice: once as is, once two lines further down and with
    # wider gaps. What is loaded, and the model built from it, compare equal; only the
    # positions they carry differ.
    first, _ = load_text(project, POSITIONED.format(gap=" "), name="first.yml")
    second, _ = load_text(project, "# moved\n\n" + POSITIONED.format(gap="    "), name="b.yml")
    name = ("Organization", "Shop", "Properties", "AccountName")
    assert (where(first, name), where(second, name)) == ("first.yml:8:20", "b.yml:10:23")
    assert first.data == second.data
    assert first.source_map != second.source_map

    built = []
    for loaded in (first, second):
        diagnostics = Diagnostics()
        organization = build_organization(loaded, diagnostics)
        assert organization is not None
        assert report(diagnostics) == []
        built.append(organization)
    shop = [organization.accounts["Shop"] for organization in built]
    assert [str(account.span) for account in shop] == ["first.yml:6:5", "b.yml:8:5"]
    assert shop[0] == shop[1]
    assert built[0] == built[1]


# --- load_organization ----------------------------------------------------------------------------

ORGANIZATION = (
    "AWSTemplateFormatVersion: '2010-09-09-OC'\n"
    "Organization:\n"
    "  Root:\n"
    "    Type: OC::ORG::OrganizationRoot\n"
)
TASKS = "OrganizationUpdate:\n  Type: update-organization\n  Template: {template}\n"


def organization_of(root: Path, target: Path) -> tuple[LoadedFile | None, list[str]]:
    diagnostics = Diagnostics()
    loaded = load_organization(target, LoadOptions(root=root), diagnostics)
    return loaded, report(diagnostics)


def test_directory_with_a_task_file_follows_its_template(project: Path) -> None:
    write(
        project,
        {
            "organization-tasks.yml": TASKS.format(template="./org/main.yml"),
            "org/main.yml": ORGANIZATION,
            # The task file wins over organization.yml.
            "organization.yml": "Organization: {}\n",
            "stacks.yml": "Stack:\n  Type: update-stacks\n  Template: stack.yml\n",
        },
    )
    loaded, diagnostics = organization_of(project, project)
    assert diagnostics == []
    assert loaded is not None
    assert loaded.path == project / "org/main.yml"
    assert loaded.display == "org/main.yml"
    assert loaded.data["Organization"] == {"Root": {"Type": "OC::ORG::OrganizationRoot"}}


def test_directory_with_only_organization_yml(project: Path) -> None:
    write(project, {"organization.yml": ORGANIZATION, "readme.yml": "about: update-organization\n"})
    loaded, diagnostics = organization_of(project, project)
    assert diagnostics == []
    assert loaded is not None
    assert loaded.path == project / "organization.yml"


def test_directory_with_organization_yaml(project: Path) -> None:
    write(project, {"organization.yaml": ORGANIZATION})
    loaded, diagnostics = organization_of(project, project)
    assert diagnostics == []
    assert loaded is not None
    assert loaded.path == project / "organization.yaml"


def test_task_file_path_is_followed(project: Path) -> None:
    write(
        project,
        {
            "tasks/organization-tasks.yml": "Parameters: {}\n"
            + TASKS.format(template="../organization.yml"),
            "organization.yml": ORGANIZATION,
        },
    )
    loaded, diagnostics = organization_of(project, project / "tasks/organization-tasks.yml")
    assert diagnostics == []
    assert loaded is not None
    assert loaded.path == project / "organization.yml"


def test_organization_file_path_is_loaded_as_it_is(project: Path) -> None:
    write(project, {"organization.yml": ORGANIZATION})
    loaded, diagnostics = organization_of(project, project / "organization.yml")
    assert diagnostics == []
    assert loaded is not None
    assert loaded.path == project / "organization.yml"


def test_task_file_without_an_organization_task(project: Path) -> None:
    write(project, {"tasks.yml": "Stack:\n  Type: update-stacks\n  Template: stack.yml\n"})
    loaded, diagnostics = organization_of(project, project / "tasks.yml")
    assert loaded is None
    assert diagnostics == [
        "tasks.yml:1:1: error[E110]: tasks.yml has no Organization section and no "
        "update-organization task"
    ]


def test_task_file_whose_template_is_missing(project: Path) -> None:
    write(project, {"tasks.yml": TASKS.format(template="missing.yml")})
    loaded, diagnostics = organization_of(project, project / "tasks.yml")
    assert loaded is None
    assert diagnostics == [
        "tasks.yml:3:13: error[E106]: Template 'missing.yml' not found: no file missing.yml"
    ]


def test_task_file_whose_template_is_outside_the_root(project: Path) -> None:
    write(project, {"p/tasks.yml": TASKS.format(template="../organization.yml")})
    write(project, {"organization.yml": ORGANIZATION})
    loaded, diagnostics = organization_of(project / "p", project / "p" / "tasks.yml")
    assert loaded is None
    assert diagnostics == [
        "p/tasks.yml:3:13: error[E105]: Template '../organization.yml' is outside the project "
        f"root {project / 'p'}"
    ]


def test_task_file_whose_template_is_not_an_organization(project: Path) -> None:
    write(
        project, {"tasks.yml": TASKS.format(template="stack.yml"), "stack.yml": "Resources: {}\n"}
    )
    loaded, diagnostics = organization_of(project, project / "tasks.yml")
    assert loaded is None
    assert diagnostics == [
        "tasks.yml:3:13: error[E110]: Template 'stack.yml' has no Organization section"
    ]


def test_empty_directory(project: Path) -> None:
    (project / "empty").mkdir()
    loaded, diagnostics = organization_of(project, project / "empty")
    assert loaded is None
    assert diagnostics == [
        "orgc: error[E110]: empty holds no task file with an update-organization task and no "
        "organization.yml"
    ]


def test_missing_path(project: Path) -> None:
    loaded, diagnostics = organization_of(project, project / "nowhere.yml")
    assert loaded is None
    assert diagnostics == ["orgc: error[E100]: no such file: nowhere.yml"]


# --- hostile input: bounds, odd files, the project root ---------------------------------------


def load_report(root: Path, name: str, *, allow_cmd: bool = False) -> list[str]:
    """The diagnostics of loading `root/name`, which may not load at all."""
    diagnostics = Diagnostics()
    load_file(root / name, LoadOptions(root=root, allow_cmd=allow_cmd), diagnostics)
    return report(diagnostics)


def nested(depth: int) -> str:
    """A document whose value nests `depth` flow lists deep under the key Deep."""
    return "Deep: " + "[" * depth + "]" * depth + "\n"


def test_nesting_at_the_bound_loads(project: Path) -> None:
    # The key Deep is one level, each list one more.
    _, diagnostics = load_text(project, nested(limit("orgc.yaml.depth") - 1))
    assert diagnostics == []


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_nesting_past_the_bound_is_refused_where_it_passes(project: Path, depth: int) -> None:
    # 100,000 levels overflowed the C stack of libyaml's composer; 1,000 Python's recursion.
    write(project, {"main.yml": nested(depth)})
    most = limit("orgc.yaml.depth")
    assert load_report(project, "main.yml") == [
        f"main.yml:1:{6 + most}: error[E115]: mappings and lists nest more than {most} levels "
        "deep here; flatten the document"
    ]


def test_nesting_counts_the_levels_of_included_files(project: Path) -> None:
    half = limit("orgc.yaml.depth") // 2 + 1
    write(project, {"main.yml": "A: " + "[" * half + "!Include inner.yml" + "]" * half + "\n"})
    write(project, {"inner.yml": nested(half)})
    [only] = load_report(project, "main.yml")
    assert only.startswith("inner.yml:1:")
    assert only.endswith(
        "error[E115]: mappings and lists nest more than 100 levels deep here (included files "
        "counted); flatten the document"
    )


def test_deep_block_mappings_are_refused(project: Path) -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(900)) + "  " * 900 + "x: 1\n"
    write(project, {"main.yml": text})
    [only] = load_report(project, "main.yml")
    assert "error[E115]: mappings and lists nest more than 100 levels deep here" in only


def test_aliases_within_the_bound_expand(project: Path) -> None:
    loaded, diagnostics = load_text(
        project, "Base: &base {a: 1, b: [x, y]}\nOne: *base\nTwo: {<<: *base, c: 2}\n"
    )
    assert diagnostics == []
    assert loaded.data["Two"] == {"a": 1, "b": ["x", "y"], "c": 2}


def test_alias_values_past_the_bound_are_refused(project: Path) -> None:
    # Few alias uses, each of a large anchor: the bound on expanded values stops it.
    items = ", ".join(["x"] * 2_000)
    uses = "\n".join(f"U{i}: *big" for i in range(60))
    loaded, diagnostics = load_text(project, f"Big: &big [{items}]\n{uses}\n")
    assert diagnostics == [
        "main.yml:51:1: error[E114]: aliases expand here into more than 100,000 values; write "
        "the repeated parts out or nest fewer aliases"
    ]
    assert loaded.data["U48"] == ["x"] * 2_000
    assert None in loaded.data["U49"]  # stopped part way
    assert loaded.data["U59"] is None


def test_alias_uses_past_the_bound_are_refused(project: Path) -> None:
    most = limit("orgc.yaml.aliases")
    uses = "".join(f"U{i}: *one\n" for i in range(most + 1))
    loaded, diagnostics = load_text(project, f"One: &one 1\n{uses}")
    assert diagnostics == [
        f"main.yml:{most + 2}:1: error[E114]: aliases expand here into more than {most:,} alias "
        "uses; write the repeated parts out or nest fewer aliases"
    ]
    assert loaded.data[f"U{most - 1}"] == 1
    assert loaded.data[f"U{most}"] is None


def test_file_larger_than_the_bound_is_refused_unread(project: Path) -> None:
    most = limit("orgc.file.bytes")
    (project / "big.yml").write_bytes(b"#" * (most + 1))
    assert load_report(project, "big.yml") == [
        f"orgc: error[E112]: big.yml is {most + 1:,} bytes, more than the {most:,} orgc reads"
    ]


def test_binary_file_is_named_with_its_first_nul_byte(project: Path) -> None:
    (project / "main.yml").write_bytes(b"A: 1\nB: \x00\x01\x02\n")
    assert load_report(project, "main.yml") == [
        "main.yml:2:4: error[E113]: main.yml holds a NUL byte (it is a binary file); orgc "
        "reads UTF-8 text only"
    ]


def test_file_in_another_encoding_is_named_with_its_first_bad_byte(project: Path) -> None:
    (project / "main.yml").write_bytes("A: 1\nName: café\n".encode("latin-1"))
    assert load_report(project, "main.yml") == [
        "main.yml:2:10: error[E113]: main.yml holds bytes that are not UTF-8; orgc reads UTF-8 "
        "text only"
    ]


def test_fifo_is_refused_without_waiting_for_a_writer(project: Path) -> None:
    os.mkfifo(project / "pipe.yml")
    os.mkfifo(project / "pipe.txt")
    write(project, {"main.yml": "Text: !ReadFile pipe.txt\n"})
    assert load_report(project, "pipe.yml") == [
        "orgc: error[E100]: pipe.yml is not a regular file (a FIFO, socket or device); name a file"
    ]
    assert load_report(project, "main.yml") == [
        "main.yml:1:7: error[E100]: pipe.txt is not a regular file (a FIFO, socket or device); "
        "name a file"
    ]


def test_symlink_loop_is_a_diagnostic(project: Path) -> None:
    (project / "a.yml").symlink_to(project / "b.yml")
    (project / "b.yml").symlink_to(project / "a.yml")
    write(project, {"main.yml": "Loop: !Include a.yml\n"})
    loop = "a symlink loop (the link leads back to itself); repair the link"
    assert load_report(project, "a.yml") == [f"orgc: error[E100]: cannot read a.yml: {loop}"]
    assert load_report(project, "main.yml") == [
        f"main.yml:1:7: error[E100]: cannot read a.yml: {loop}"
    ]
    assert organization_of(project, project / "a.yml")[1] == [
        f"orgc: error[E100]: cannot read a.yml: {loop}"
    ]


def test_unreadable_file_is_a_diagnostic(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Permissions do not stop root, so the refusal the kernel would give is made by hand.
    write(project, {"main.yml": "A: 1\n"})

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    assert load_report(project, "main.yml") == [
        "orgc: error[E100]: cannot read main.yml: Permission denied"
    ]


def test_huge_integer_is_refused_before_python_converts_it(project: Path) -> None:
    loaded, diagnostics = load_text(project, "AccountId: " + "1" * 5_000 + "\n")
    assert diagnostics == [
        "main.yml:1:12: error[E116]: this number has 5,000 digits, more than the 64 orgc "
        "reads; quote it if it is text"
    ]
    assert loaded.data == {"AccountId": None}


def test_cmd_output_that_is_not_utf8(project: Path) -> None:
    loaded, diagnostics = load_text(project, "Out: !Cmd printf 'ok\\n\\377'\n", allow_cmd=True)
    assert diagnostics == [
        "main.yml:1:6: error[E113]: the output of !Cmd \"printf 'ok\\\\n\\\\377'\" holds bytes "
        "that are not UTF-8 at line 2, column 1; orgc reads UTF-8 text only"
    ]
    assert loaded.data == {"Out": None}


def test_cmd_with_a_nul_character_does_not_start(project: Path) -> None:
    loaded, diagnostics = load_text(project, 'Out: !Cmd "echo a\\0b"\n', allow_cmd=True)
    assert diagnostics == [
        "main.yml:1:6: error[E107]: !Cmd 'echo a\\x00b' could not start: embedded null byte"
    ]
    assert loaded.data == {"Out": None}


def test_cmd_json_output_nested_too_deep(project: Path) -> None:
    depth = limit("orgc.yaml.depth") + 5
    loaded, diagnostics = load_text(
        project, f"Out: !Cmd \"printf '{'[' * depth}{']' * depth}'\"\n", allow_cmd=True
    )
    [only] = diagnostics
    assert only.startswith("main.yml:1:6: error[E115]: the JSON that !Cmd")
    assert loaded.data == {"Out": None}


def test_include_through_a_symlink_inside_that_points_outside(project: Path) -> None:
    write(project, {"outside/secret.txt": "s3cr3t\n", "p/main.yml": "S: !ReadFile link.txt\n"})
    (project / "p" / "link.txt").symlink_to(project / "outside" / "secret.txt")
    assert load_report(project / "p", "main.yml") == [
        f"p/main.yml:1:4: error[E105]: 'link.txt' resolves to outside/secret.txt, outside the "
        f"project root {project / 'p'}; keep included files inside the project"
    ]


# --- a directory's task file ------------------------------------------------------------------

ORG_ONLY = "Organization:\n  M:\n    Type: OC::ORG::MasterAccount\n    Properties: {}\n"


def test_truncated_task_file_in_a_directory_is_an_error(project: Path) -> None:
    write(
        project,
        {
            "organization.yml": ORG_ONLY,
            "tasks.yml": "OrganizationUpdate:\n  Type: update-organization\n  Template: [./o",
        },
    )
    loaded, diagnostics = organization_of(project, project)
    assert loaded is None
    assert diagnostics[1].startswith("tasks.yml:3:")
    assert "error[E101]: YAML syntax error" in diagnostics[1]
    assert diagnostics[:1] == [
        "orgc: error[E117]: . holds task files (tasks.yml) but "
        "none with a readable update-organization task; pass the task file to read, or repair "
        "it"
    ]


def test_task_file_replaced_by_binary_garbage_is_an_error(project: Path) -> None:
    write(project, {"organization.yml": ORG_ONLY})
    (project / "tasks.yml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    _, diagnostics = organization_of(project, project)
    assert diagnostics == [
        "tasks.yml:1:1: error[E113]: tasks.yml holds bytes that are not UTF-8; orgc reads "
        "UTF-8 text only"
    ]


def test_directory_whose_task_files_lost_the_organization_task(project: Path) -> None:
    # The task file was cut short after its first task: it parses, but no longer manages the
    # organization, so the directory would plan the organization alone.
    write(
        project,
        {
            "organization.yml": ORG_ONLY,
            "tasks.yml": "Stacks:\n  Type: update-stacks\n  Template: t.yml\n  StackName: s\n",
        },
    )
    loaded, diagnostics = organization_of(project, project)
    assert loaded is None
    assert diagnostics == [
        "orgc: error[E117]: . holds task files (tasks.yml) but none with a readable "
        "update-organization task; pass the task file to read, or repair it"
    ]


def test_templates_and_other_yaml_in_the_directory_are_not_task_files(project: Path) -> None:
    write(
        project,
        {
            "organization.yml": ORG_ONLY,
            "template.yml": "Resources:\n  T:\n    Type: AWS::SNS::Topic\n",
            "notes.yml": "just: [text\n",  # broken, but names no task type: not read
        },
    )
    loaded, diagnostics = organization_of(project, project)
    assert loaded is not None
    assert diagnostics == []


def test_task_type_names_match_the_task_stage() -> None:
    from orgc.load import TASK_TYPE_NAMES
    from orgc.tasks.model import TASK_TYPES

    assert set(TASK_TYPE_NAMES) == set(TASK_TYPES)


# --- the project root -------------------------------------------------------------------------


def test_project_root_is_the_path_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path.resolve()
    write(base, {"proj/organization.yml": ORG_ONLY, "secret": "s3cr3t"})
    monkeypatch.chdir(base)
    assert project_root(Path("proj/organization.yml"), None) == base / "proj"
    assert project_root(Path("proj"), None) == base / "proj"
    assert project_root(Path("proj"), Path(".")) == base


def test_project_root_is_the_enclosing_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path.resolve()
    write(base, {"repo/organization/tasks.yml": "", "repo/.git/HEAD": ""})
    monkeypatch.chdir(base)
    assert project_root(Path("repo/organization/tasks.yml"), None) == base / "repo"


def test_project_root_never_climbs_to_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path.resolve()
    write(home, {".git/HEAD": "", "work/proj/organization.yml": ORG_ONLY})
    monkeypatch.setenv("HOME", str(home))
    assert project_root(home / "work" / "proj" / "organization.yml", None) == (
        home / "work" / "proj"
    )


def test_read_file_from_a_parent_working_directory_stays_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path.resolve()
    write(
        base,
        {
            ".aws/credentials": "[default]\naws_secret_access_key = s3cr3t\n",
            "proj/organization.yml": ORG_ONLY + "Metadata: !ReadFile ../.aws/credentials\n",
        },
    )
    monkeypatch.chdir(base)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["validate", "proj/organization.yml"]) == 1
    assert "s3cr3t" not in out.getvalue()
    assert (
        "proj/organization.yml:5:11: error[E105]: '../.aws/credentials' resolves to "
        f".aws/credentials, outside the project root {base / 'proj'}; keep included files "
        "inside the project"
    ) in out.getvalue()


# --- copy-to-s3 bodies ------------------------------------------------------------------------


def test_zip_refuses_a_symlink_out_of_the_directory(project: Path) -> None:
    write(project, {"outside.txt": "s3cr3t", "site/index.html": "<p>hi</p>"})
    (project / "site" / "leak.txt").symlink_to(project / "outside.txt")
    with pytest.raises(OSError, match=r"leak\.txt is a symlink to outside\.txt, outside the"):
        read_object_body(project / "site", zipped=True)


def test_zip_keeps_symlinks_within_the_directory(project: Path) -> None:
    write(project, {"site/index.html": "<p>hi</p>"})
    (project / "site" / "home.html").symlink_to(project / "site" / "index.html")
    body = read_object_body(project / "site", zipped=True)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["home.html", "index.html"]


def test_object_body_of_a_fifo_is_refused(project: Path) -> None:
    os.mkfifo(project / "pipe")
    with pytest.raises(OSError, match=r"pipe is not a regular file"):
        read_object_body(project / "pipe", zipped=False)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _digests(project: Path, *arguments: str) -> tuple[list[str], list[str]]:
    """What `!MD5Dir ARGUMENT` gives for each argument, read from main.yml, and the report."""
    lines = "".join(f"- !MD5Dir {argument}\n" for argument in arguments)
    (project / "main.yml").write_text(lines, encoding="utf-8")
    diagnostics = Diagnostics()
    loaded = load_file(project / "main.yml", LoadOptions(root=project), diagnostics)
    assert loaded is not None
    return loaded.data, report(diagnostics)


def test_md5_dir_digest_is_the_one_orgformation_gives(project: Path) -> None:
    # OrgFormation: a file's digest is the MD5 of its bytes; a directory's is the MD5 of its
    # entries' hex digests written one after the other, entries sorted by the bytes of their
    # names, names themselves not hashed, a subdirectory standing for its own digest and the
    # tool folders (node_modules, .serverless, .terraform and the terraform state) left out.
    tree = project / "code"
    write(
        project,
        {
            "code/a.txt": "lower a\n",
            "code/B.txt": "upper B\n",
            "code/sub/inner.js": "inner\n",
            "code/sub/node_modules/dep.js": "skipped at any depth\n",
            "code/node_modules/x.js": "skipped\n",
            "code/.serverless/state.json": "skipped\n",
            "code/.terraform/providers": "skipped\n",
            "code/terraform.tfstate": "skipped\n",
            "code/terraform.tfstate.backup": "skipped\n",
            "code/.terraform.lock.hcl": "skipped\n",
        },
    )
    (tree / "empty").mkdir()
    (tree / "dangling").symlink_to(tree / "nowhere")
    (tree / "same-as-a").symlink_to(tree / "a.txt")
    inner = _md5(_md5(b"inner\n").encode())
    # Byte order puts "B.txt" before "a.txt", and "empty" (the digest of nothing) after them.
    entries = [_md5(b"upper B\n"), _md5(b"lower a\n"), _md5(b""), _md5(b"lower a\n"), inner]
    expected = _md5("".join(entries).encode())
    data, diagnostics = _digests(project, "./code", "./code/sub", "./code/a.txt", "code/empty")
    assert diagnostics == []
    assert data == [expected, inner, _md5(b"lower a\n"), _md5(b"")]
    # A rename that keeps the order keeps the digest (names are not part of it), as a skipped
    # folder's content does; a change of order changes it.
    (tree / "B.txt").rename(tree / "A.txt")
    (tree / "node_modules" / "x.js").write_text("changed\n", encoding="utf-8")
    assert _digests(project, "./code")[0] == [expected]
    (tree / "A.txt").rename(tree / "c.txt")
    reordered = [_md5(b"lower a\n"), _md5(b"upper B\n"), _md5(b""), _md5(b"lower a\n"), inner]
    assert _digests(project, "./code")[0] == [_md5("".join(reordered).encode())]


def test_md5_dir_leaves_out_a_link_out_of_the_project_with_a_warning(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("not read\n", encoding="utf-8")
    write(project, {"code/kept.txt": "kept\n"})
    (project / "code" / "out").symlink_to(outside)
    data, diagnostics = _digests(project, "code")
    assert data == [_md5(_md5(b"kept\n").encode())]
    assert diagnostics == [
        "main.yml:1:3: warning[W151]: !MD5Dir code/out leads out of the project and is left "
        "out of the digest, which so differs from OrgFormation's; copy what it links to into "
        "the project"
    ]


def test_md5_dir_of_a_tree_that_links_back_into_itself_is_refused(project: Path) -> None:
    write(project, {"code/sub/kept.txt": "kept\n"})
    (project / "code" / "sub" / "loop").symlink_to(project / "code")
    diagnostics = Diagnostics()
    (project / "main.yml").write_text("Digest: !MD5Dir code\n", encoding="utf-8")
    assert load_file(project / "main.yml", LoadOptions(root=project), diagnostics) is not None
    assert report(diagnostics) == [
        "main.yml:1:9: error[E104]: !MD5Dir code/sub/loop links back to code, which holds it, "
        "so the tree has no end; remove the link"
    ]
