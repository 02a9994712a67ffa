"""Stage 2, validate: the schema and the diagnostics made from it.

Each file in tests/cases/validate states the diagnostics it expects inline, on the line they are
about; valid.yml uses every type and property and expects none.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from support.inline import actual_diagnostics, expected_diagnostics

from orgc.diagnostics import CODES, Diagnostics
from orgc.load import LoadedFile, LoadOptions, load_file
from orgc.validate import ORGANIZATION_TYPES, SCHEMA_ID, load_schema, validate_organization

CASES_DIR = Path(__file__).parent / "cases" / "validate"
CASES = sorted(CASES_DIR.glob("*.yml"))
VALID_CASE = CASES_DIR / "valid.yml"

EXAMPLES_DIR = Path(__file__).parent.parent / "organization"
EXAMPLES = sorted(
    path
    for path in EXAMPLES_DIR.rglob("*.y*ml")
    if re.search(r"^Organization:", path.read_text(encoding="utf-8"), re.MULTILINE)
)


def _load(path: Path, root: Path, diagnostics: Diagnostics) -> LoadedFile:
    loaded = load_file(path, LoadOptions(root=root), diagnostics)
    assert loaded is not None, [str(d) for d in diagnostics]
    return loaded


def _editor_validator() -> Draft202012Validator:
    """The whole schema, as an editor runs it on a whole file."""
    schema = load_schema()
    registry: Registry[Any] = Registry().with_resource(
        SCHEMA_ID, DRAFT202012.create_resource(schema)
    )
    return Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_case(path: Path) -> None:
    diagnostics = Diagnostics()
    loaded = _load(path, CASES_DIR, diagnostics)
    validate_organization(loaded, diagnostics)
    expected = expected_diagnostics(path)
    if path != VALID_CASE:
        assert expected, f"{path.name} states no expected diagnostics"
    assert actual_diagnostics(diagnostics, loaded.display) == expected


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_cases_use_registered_schema_codes(path: Path) -> None:
    for _, code, _ in expected_diagnostics(path):
        assert code in CODES
        assert code[1] in "123", f"{code} does not belong to load, validate or model"


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_editor_schema_agrees_on_validity(path: Path) -> None:
    """The root schema, as editors use it, accepts exactly the files validate accepts."""
    diagnostics = Diagnostics()
    loaded = _load(path, CASES_DIR, diagnostics)
    errors = list(_editor_validator().iter_errors(loaded.data))
    if path == VALID_CASE:
        assert [error.message for error in errors] == []
    else:
        assert errors


def test_schema_is_a_valid_2020_12_schema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    Draft202012Validator.check_schema(schema)


def test_schema_references_resolve() -> None:
    schema = load_schema()
    text = repr(schema)
    for name in re.findall(r"'#/\$defs/(\w+)'", text):
        assert name in schema["$defs"], name


def test_schema_dispatches_on_every_type() -> None:
    resource = load_schema()["$defs"]["Resource"]
    assert tuple(resource["properties"]["Type"]["enum"]) == ORGANIZATION_TYPES
    dispatched = [branch["if"]["properties"]["Type"]["const"] for branch in resource["allOf"]]
    assert tuple(dispatched) == ORGANIZATION_TYPES


def test_valid_case_uses_every_type_and_property() -> None:
    diagnostics = Diagnostics()
    data = _load(VALID_CASE, CASES_DIR, diagnostics).data
    definitions = load_schema()["$defs"]
    used: dict[str, set[str]] = {}
    for resource in data["Organization"].values():
        used.setdefault(resource["Type"], set()).update(resource.get("Properties") or {})
    assert set(used) == set(ORGANIZATION_TYPES)
    for branch in definitions["Resource"]["allOf"]:
        type_name = branch["if"]["properties"]["Type"]["const"]
        reference = repr(branch["then"]["properties"]["Properties"])
        (name,) = re.findall(r"#/\$defs/(\w+)", reference)
        assert used[type_name] == set(definitions[name]["properties"]), type_name


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_organization_validates_cleanly(path: Path) -> None:
    diagnostics = Diagnostics()
    loaded = _load(path, EXAMPLES_DIR, diagnostics)
    validate_organization(loaded, diagnostics)
    assert [str(d) for d in diagnostics] == []


def test_types_exported_for_later_stages() -> None:
    assert ORGANIZATION_TYPES == (
        "OC::ORG::MasterAccount",
        "OC::ORG::Account",
        "OC::ORG::OrganizationRoot",
        "OC::ORG::OrganizationalUnit",
        "OC::ORG::ServiceControlPolicy",
        "OC::ORG::PasswordPolicy",
        "Orgc::ORG::Policy",
        "Orgc::ORG::AccountMatrix",
        "Orgc::ORG::ServiceAccess",
        "Orgc::ORG::AlternateContacts",
        "Orgc::SSO::PermissionSet",
        "Orgc::SSO::Assignment",
    )


def test_inline_expectations_allow_several_on_a_line(tmp_path: Path) -> None:
    case = tmp_path / "case.yml"
    case.write_text(
        "a: 1\n"
        "b: 2  # error[E202]: first message  # error[E305]: second: with a colon\n"
        "c: 3  # warning[W301]: a warning\n",
        encoding="utf-8",
    )
    assert expected_diagnostics(case) == {
        (2, "E202", "first message"),
        (2, "E305", "second: with a colon"),
        (3, "W301", "a warning"),
    }
