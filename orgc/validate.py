"""Stage 2, validate: check an organization file against orgc's JSON Schema.

The schema (`schemas/organization.schema.json`) is written for editors as well: its root checks a
whole file and dispatches on each resource's `Type`. Here the parts are run one at a time instead
(the top level, each resource's `Type`/`Properties` shape, then its `Properties` against the
definition for its type) so that every error is about one value, and each jsonschema error becomes
one diagnostic with a stable code, a position and one actionable sentence.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from orgc.diagnostics import CodeId, Diagnostics, Span, did_you_mean
from orgc.limits import limit
from orgc.load import INTRINSIC_TAGS, DataPath, LoadedFile

SCHEMA_ID = "https://orgc.dev/schemas/organization.schema.json"

# Resource type → the schema definition its Properties are checked against.
_PROPERTIES_DEFS: dict[str, str] = {
    "OC::ORG::MasterAccount": "MasterAccountProperties",
    "OC::ORG::Account": "AccountProperties",
    "OC::ORG::OrganizationRoot": "OrganizationRootProperties",
    "OC::ORG::OrganizationalUnit": "OrganizationalUnitProperties",
    "OC::ORG::ServiceControlPolicy": "ServiceControlPolicyProperties",
    "OC::ORG::PasswordPolicy": "PasswordPolicyProperties",
    "Orgc::ORG::Policy": "PolicyProperties",
    "Orgc::ORG::AccountMatrix": "AccountMatrixProperties",
    "Orgc::ORG::ServiceAccess": "ServiceAccessProperties",
    "Orgc::ORG::AlternateContacts": "AlternateContactsProperties",
    "Orgc::SSO::PermissionSet": "PermissionSetProperties",
    "Orgc::SSO::Assignment": "AssignmentProperties",
}

ORGANIZATION_TYPES: tuple[str, ...] = tuple(_PROPERTIES_DEFS)

# How messages name what a definition expects, where its bare JSON types would say too little.
_PHRASES: dict[str, str] = {
    "Ref": "a !Ref",
    "RefList": "a !Ref, '*' or a list of them",
    "Organization": "a mapping of logical ids to resources",
    "ResourceShape": "a mapping with Type and Properties",
    "Tags": "a mapping of tag keys to values",
    "Binding": "a binding (a mapping)",
    "Regions": "a region or a list of regions",
    "PolicyDocument": "a mapping or a string holding JSON",
    "MatrixTeams": "a list of team names or a mapping of team names to settings",
    "MatrixEnvironments": "a mapping of environment names to settings",
    "MatrixTeam": "a mapping with Tags and Environments, or nothing",
    "MatrixEnvironment": "a mapping with OrganizationalUnit",
}

_JSON_TYPES: dict[str, str] = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}

# Long form → short tag of the functions the loader knows, to name them as the user wrote them.
_FUNCTION_TAGS: dict[str, str] = {name: tag for tag, name in INTRINSIC_TAGS.items()}

# When one value draws several errors, the lowest rank is the one shown.
_RANK_UNKNOWN = 0
_RANK_FUNCTION = 1
_RANK_TYPE = 2
_RANK_ENUM = 3
_RANK_REQUIRED = 4
_RANK_EMPTY = 5
_RANK_PATTERN = 6
_RANK_BOUNDS = 7
_RANK_OTHER = 8


def validate_organization(file: LoadedFile, diagnostics: Diagnostics) -> None:
    """Check `file` (an organization file) against the schema; report every problem found.

    Checks the top-level keys, each resource's `Type` and `Properties` shape, and the properties
    of every resource of a known type. References are checked for shape only (`!Ref X`, never a
    plain string); whether `X` exists is for the model stage.
    """
    data = file.data
    if not isinstance(data, dict):
        span = file.span(()) or Span(file.display, 1, 1)
        diagnostics.add(
            "E110",
            f"an organization file is a mapping with an Organization section, found {_found(data)}",
            span,
        )
        return
    _report(diagnostics, _Checker(file, _Scope(base=())).run("Document", data))
    organization = data.get("Organization")
    if not isinstance(organization, dict):
        return
    for logical_id, resource in organization.items():
        _validate_resource(file, diagnostics, logical_id, resource)


@functools.cache
def load_schema() -> dict[str, Any]:
    """The organization schema, parsed once and shared: read it, never change it."""
    text = (resources.files("orgc") / "schemas" / "organization.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    # The quota is data: the schema's maxLength is taken from orgc/data/limits.json.
    schema["$defs"]["PolicyDescription"]["maxLength"] = limit("ORGANIZATIONS.policyDescription")
    return schema


# CloudFormation's template quotas (orgc/data/limits.json): section → (limit name, what).
_TEMPLATE_COUNTS: dict[str, tuple[str, str]] = {
    "Resources": ("CLOUDFORMATION.resources", "resources"),
    "Outputs": ("CLOUDFORMATION.outputs", "outputs"),
    "Parameters": ("CLOUDFORMATION.parameters", "parameters"),
    "Mappings": ("CLOUDFORMATION.mappings", "mappings"),
}


def check_template_limits(
    template: Mapping[str, Any], label: str, where: Span | None, diagnostics: Diagnostics
) -> bool:
    """Report (E365) where a compiled CloudFormation template passes CloudFormation's quotas:
    its body as orgc sends it (compact JSON, through S3 when too large to pass inline), and its
    counts of resources, outputs, parameters and mappings. `label` names the template in the
    message; True when it fits."""
    fits = True
    body = len(json.dumps(template, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    # A body over the inline limit goes through orgc's template bucket (orgc.apply.run).
    bucket = limit("CLOUDFORMATION.templateBodyS3")
    if body > bucket:
        diagnostics.add(
            "E365",
            f"{label} is {body:,} bytes as JSON, more than CloudFormation reads even from S3 "
            f"({bucket:,}); split it into tasks of their own",
            where,
        )
        fits = False
    for section, (name, what) in _TEMPLATE_COUNTS.items():
        value = template.get(section)
        count, most = (len(value) if isinstance(value, dict) else 0), limit(name)
        if count > most:
            diagnostics.add(
                "E365",
                f"{label} declares {count:,} {what}, more than the {most:,} CloudFormation "
                "allows in one template; split it into tasks of their own",
                where,
            )
            fits = False
    return fits


@functools.cache
def _validator(definition: str) -> Draft202012Validator:
    # The registry holds the one schema under its $id and has no way to retrieve others: a
    # reference that does not resolve locally is a bug in the schema, never a network call.
    registry: Registry[Any] = Registry().with_resource(
        SCHEMA_ID, DRAFT202012.create_resource(load_schema())
    )
    return Draft202012Validator({"$ref": f"{SCHEMA_ID}#/$defs/{definition}"}, registry=registry)


def _definitions() -> dict[str, Any]:
    definitions: dict[str, Any] = load_schema()["$defs"]
    return definitions


@functools.cache
def _definition_names() -> dict[int, str]:
    # Errors carry the very schema objects they came from, so identity names a definition.
    return {id(schema): name for name, schema in _definitions().items()}


def _validate_resource(
    file: LoadedFile, diagnostics: Diagnostics, logical_id: str, resource: Any
) -> None:
    base: DataPath = ("Organization", logical_id)
    shape = _Checker(file, _Scope(base=base, logical_id=logical_id))
    _report(diagnostics, shape.run("ResourceShape", resource))
    if not isinstance(resource, dict):
        return
    type_name = resource.get("Type")
    if not isinstance(type_name, str):
        return
    definition = _PROPERTIES_DEFS.get(type_name)
    if definition is None:
        diagnostics.add("E205", _unknown_type(type_name), file.span((*base, "Type")))
        return
    if "Properties" not in resource and any(
        did_you_mean(key, ("Type", "Properties")) == " (did you mean Properties?)"
        for key in resource
    ):
        return  # `Propertes:` is reported; its absence would only repeat that as missing values
    properties = resource.get("Properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        return
    scope = _Scope(base=(*base, "Properties"), logical_id=logical_id, type_name=type_name)
    _numbers_as_written(file, diagnostics, scope.base, definition, properties)
    checker = _Checker(file, scope)
    findings = list(checker.functions(properties))
    findings.extend(checker.run(definition, properties))
    _report(diagnostics, findings)


def _numbers_as_written(
    file: LoadedFile, diagnostics: Diagnostics, base: DataPath, definition: str, properties: Any
) -> None:
    """Numbers written where the schema wants a string (a tag value `200`, an unquoted
    `AccountId: 111111111111`) become the text as written, as OrgFormation takes them; a
    number whose text YAML does not keep digit for digit (a leading zero) is warned about."""
    pending = list(_validator(definition).iter_errors(properties))
    while pending:
        error = pending.pop()
        pending.extend(error.context or ())
        instance = error.instance
        if error.validator != "type" or isinstance(instance, bool):
            continue
        if not isinstance(instance, (int, float)):
            continue
        types = error.schema.get("type") if isinstance(error.schema, dict) else None
        if types != "string" and not (isinstance(types, list) and "string" in types):
            continue
        path = (*base, *error.absolute_path)
        raw = file.source_map.scalar_text(path)
        parent = _value_at(file.data, path[:-1])
        if raw is None or not path:
            continue
        if error.schema is _definitions()["AccountId"] and not (raw.isdigit() and len(raw) == 12):
            continue  # not an account id however it is read: E305 says so
        key = path[-1]
        if isinstance(parent, list) and isinstance(key, int) and key < len(parent):
            parent[key] = raw
        elif not (isinstance(parent, dict) and isinstance(key, str)):
            continue
        else:
            parent[key] = raw
        digits = raw.lstrip("+-")
        if digits.isdigit() and digits.startswith("0") and len(digits) > 1:
            diagnostics.add(
                "W395",
                f"{raw} is an unquoted number with a leading zero; orgc takes the text as "
                f"written, but YAML reads it as the number {instance} (OrgFormation may too): "
                f"quote it: '{raw}'",
                file.span(path),
            )


def _unknown_type(type_name: str) -> str:
    hint = did_you_mean(type_name, ORGANIZATION_TYPES)
    if hint:
        return f"unknown resource type {type_name!r}{hint}"
    if type_name.startswith("AWS::"):
        return (
            f"unknown resource type {type_name!r}: the organization file holds OC::ORG:: "
            "resources; CloudFormation resources belong in templates deployed by tasks"
        )
    return f"unknown resource type {type_name!r}; use one of {', '.join(ORGANIZATION_TYPES)}"


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where a validated value sits in the file, and how messages name its owner."""

    base: DataPath
    logical_id: str | None = None  # None: the top level of the file
    type_name: str | None = None  # None: the resource itself (its Type and Properties)

    def label(self, path: DataPath) -> str:
        """How a message names the value at `path` (relative to `base`)."""
        if not path:
            if self.logical_id is None:
                return "the file"
            if self.type_name is None:
                return f"resource {self.logical_id!r}"
            return "Properties"
        return _dotted(path)

    def owner(self, path: DataPath) -> str:
        """How a message names the mapping at `path` that lacks something."""
        if self.logical_id is None:
            return "the file" if not path else _dotted(path)
        if self.type_name is None:
            return f"resource {self.logical_id!r}"
        resource = f"{self.type_name} {self.logical_id!r}"
        return resource if not path else f"{_dotted(path)} of {resource}"

    def unknown(self, path: DataPath, key: str, known: Iterable[str]) -> tuple[CodeId, str]:
        """Code and message for an unknown key `key` in the mapping at `path`."""
        known = list(known)
        hint = did_you_mean(key, known) or f"; allowed: {', '.join(known)}"
        if self.logical_id is None:
            if not path:
                return "E207", f"unknown top-level key {key!r}{hint}"
            return "E202", f"unknown property {key!r} for {_dotted(path)}{hint}"
        if self.type_name is None:
            return "E202", f"unknown key {key!r} for resource {self.logical_id!r}{hint}"
        where = self.type_name if not path else f"{_dotted(path)} of {self.type_name}"
        return "E202", f"unknown property {key!r} for {where}{hint}"


@dataclass(frozen=True, slots=True)
class _Finding:
    about: DataPath  # the value (or key) it is about: one finding per value is shown
    rank: int
    code: CodeId
    message: str
    span: Span | None


def _report(diagnostics: Diagnostics, findings: Iterable[_Finding]) -> None:
    chosen: dict[DataPath, _Finding] = {}
    for finding in findings:
        current = chosen.get(finding.about)
        if current is None or finding.rank < current.rank:
            chosen[finding.about] = finding
    # A function written where a value belongs explains everything the schema says beneath it.
    functions = [f.about for f in chosen.values() if f.rank == _RANK_FUNCTION]
    for about, finding in chosen.items():
        if any(len(about) > len(f) and about[: len(f)] == f for f in functions):
            continue
        diagnostics.add(finding.code, finding.message, finding.span)


class _Checker:
    """Turns the jsonschema errors of one validated value into findings."""

    def __init__(self, file: LoadedFile, scope: _Scope) -> None:
        self.file = file
        self.scope = scope
        self.definitions = _definitions()

    def run(self, definition: str, instance: Any) -> list[_Finding]:
        findings: list[_Finding] = []
        for error in _validator(definition).iter_errors(instance):
            findings.extend(self.diagnose(error))
        return findings

    def functions(self, value: Any, path: DataPath = ()) -> Iterator[_Finding]:
        """Findings for CloudFormation functions (other than !Ref) anywhere in `value`."""
        if isinstance(value, dict):
            tag = _function_tag(value)
            if tag is not None and tag not in ("!Ref", "!Condition"):
                yield self._finding(
                    path,
                    _RANK_FUNCTION,
                    "E203",
                    f"{tag} is not allowed in {self.scope.label(path)}: the organization file "
                    "takes plain values, and !Ref for references",
                )
                return
            for key, item in value.items():
                yield from self.functions(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from self.functions(item, (*path, index))

    # --- one error ----------------------------------------------------------------------

    def diagnose(self, error: ValidationError) -> Iterator[_Finding]:
        path: DataPath = tuple(error.absolute_path)
        schema: Any = error.schema
        keyword = error.validator
        instance: Any = error.instance
        expected: Any = error.validator_value
        if "propertyNames" in error.absolute_schema_path:
            yield from self._key(error, path)
        elif schema is self.definitions["Ref"]:
            yield from self._not_a_ref(instance, path, "a !Ref")
        elif schema is self.definitions["Ref"]["properties"]["Ref"]:
            yield from self._malformed_ref(path[:-1])
        elif keyword == "anyOf":
            yield from self._alternatives(error, path)
        elif keyword == "additionalProperties":
            known = list(schema.get("properties", {}))
            for key in instance:
                if key not in known:
                    code, message = self.scope.unknown(path, key, known)
                    key_path = (*path, key)
                    span = self.file.source_map.key_span(self.scope.base + key_path)
                    yield _Finding(self.scope.base + key_path, _RANK_UNKNOWN, code, message, span)
        elif keyword == "required":
            yield from self._required(instance, schema, path, list(expected))
        elif keyword == "type":
            yield self._wrong_type(instance, path, schema)
        elif keyword == "enum":
            yield self._not_allowed(instance, path, list(expected))
        elif keyword == "const":
            yield self._not_allowed(instance, path, [expected])
        else:
            label = self.scope.label(path)
            yield self._out_of_bounds(str(keyword), instance, path, schema, label)

    def _alternatives(self, error: ValidationError, path: DataPath) -> Iterator[_Finding]:
        alternatives: Any = error.validator_value
        branches: list[Any] = list(alternatives)
        instance: Any = error.instance
        schema: Any = error.schema
        if isinstance(instance, dict) and all(set(b) == {"required"} for b in branches):
            names = [name for branch in branches for name in branch["required"]]
            if self._misspelt(instance, schema, names):
                return
            listed = " and ".join(names) if len(names) == 2 else ", ".join(names)
            message = (
                f"{self.scope.owner(path)} is missing "
                f"{'both' if len(names) == 2 else 'all of'} {listed}; give at least one"
            )
            yield self._finding((*path, "|".join(names)), _RANK_REQUIRED, "E201", message, key=True)
            return
        if {"$ref": "#/$defs/Ref"} in branches and not isinstance(instance, list):
            yield from self._not_a_ref(instance, path, self._expected(schema))
            return
        # Keep the branches whose own type fits the value: their errors are the ones that say
        # what is wrong inside it. If none fits, the value has the wrong type altogether.
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context or ():
            by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
        fitting = [
            errors
            for errors in by_branch.values()
            if not any(
                not sub.relative_path and sub.validator in ("type", "const", "enum")
                for sub in errors
            )
        ]
        if not fitting:
            yield self._wrong_type(instance, path, schema)
            return
        for sub in min(fitting, key=len):
            yield from self.diagnose(sub)

    def _required(
        self, instance: dict[str, Any], schema: Any, path: DataPath, names: Sequence[str]
    ) -> Iterator[_Finding]:
        for name in names:
            if name in instance or self._misspelt(instance, schema, [name]):
                continue
            if self.scope.logical_id is None and not path:
                message = f"the file is missing the required top-level key {name}"
            else:
                message = f"{self.scope.owner(path)} is missing the required property {name}"
            yield self._finding((*path, name), _RANK_REQUIRED, "E201", message, key=True)

    def _misspelt(self, instance: dict[str, Any], schema: Any, names: Sequence[str]) -> bool:
        """Whether an unknown key of `instance` is a misspelling of one of `names`.

        The unknown-key diagnostic already suggests the right name; saying the right name is
        missing too would report one typo twice.
        """
        known = list(schema.get("properties", {})) if isinstance(schema, dict) else []
        suggestions = {f" (did you mean {name}?)" for name in names}
        return any(did_you_mean(key, known) in suggestions for key in instance if key not in known)

    def _key(self, error: ValidationError, path: DataPath) -> Iterator[_Finding]:
        """A mapping key that breaks the rule for keys (a logical id, a tag key, a team)."""
        key = str(error.instance)
        if self.scope.base + path == ("Organization",):
            subject = f"logical id {_show(key)}"
        else:
            subject = f"key {_show(key)} in {self.scope.label(path)}"
        key_path = (*path, key)
        finding = self._out_of_bounds(
            str(error.validator), key, key_path, error.schema, subject, subject=subject
        )
        span = self.file.source_map.key_span(self.scope.base + key_path)
        yield _Finding(finding.about, finding.rank, finding.code, finding.message, span)

    # --- references ---------------------------------------------------------------------

    def _not_a_ref(self, instance: Any, path: DataPath, expected: str) -> Iterator[_Finding]:
        if isinstance(instance, dict) and "Ref" in instance:
            yield from self._malformed_ref(path)
            return
        if isinstance(instance, str) and instance != "*":
            if instance.isdigit() and len(instance) == 12:
                message = (
                    f"{instance!r} is a plain string; refer to the account with !Ref and its "
                    "logical id"
                )
            else:
                message = f"{instance!r} is a plain string; write !Ref {instance}"
            yield self._finding(path, _RANK_TYPE, "E302", message)
            return
        message = f"{self.scope.label(path)} must be {expected}, found {_found(instance)}"
        yield self._finding(path, _RANK_TYPE, "E203", message)

    def _malformed_ref(self, path: DataPath) -> Iterator[_Finding]:
        """A mapping with a `Ref` key that is not a well-formed reference."""
        value_path = self.scope.base + path
        ref = _value_at(self.file.data, value_path)
        target = ref.get("Ref") if isinstance(ref, dict) else None
        if isinstance(ref, dict) and isinstance(target, str):
            others = ", ".join(str(key) for key in ref if key != "Ref")
            message = (
                f"{self.scope.label(path)} has keys besides Ref ({others}); write !Ref {target}"
            )
            yield self._finding(path, _RANK_TYPE, "E203", message)
            return
        source = self.file.source_map
        # `!Ref [a]` keeps the tag's span for its inner value, and the loader has already said
        # that !Ref takes a logical id. The long form `Ref: [a]` is only seen here.
        if source.span((*value_path, "Ref")) == source.span(value_path):
            return
        message = f"Ref takes a logical id, found {_found(target)}; write !Ref LogicalId"
        yield self._finding(path, _RANK_TYPE, "E203", message)

    # --- values -------------------------------------------------------------------------

    def _wrong_type(self, instance: Any, path: DataPath, schema: Any) -> _Finding:
        full_path = self.scope.base + path
        raw = self.file.source_map.scalar_text(full_path)
        if (
            schema is self.definitions["AccountId"]
            and isinstance(instance, int)
            and not isinstance(instance, bool)
        ):
            written = raw if raw is not None else str(instance)
            if len(written) == 12 and written.isdigit():
                message = (
                    f"account id {written} was read as the number {instance}; quote it: '{written}'"
                )
            else:
                message = (
                    f"account id {written} must be a quoted 12-digit string, e.g. '123456789012'"
                )
            return self._finding(path, _RANK_TYPE, "E305", message)
        expected = self._expected(schema)
        message = f"{self.scope.label(path)} must be {expected}, found {_found(instance)}"
        types = schema.get("type") if isinstance(schema, dict) else None
        if (
            raw is not None
            and isinstance(instance, (bool, int, float))
            and (types == "string" or (isinstance(types, list) and "string" in types))
        ):
            message += f"; quote it: '{raw}'"
        elif types in ("integer", "number") and isinstance(instance, str) and _is_number(instance):
            message += f"; write it without quotes: {instance.strip()}"
        return self._finding(path, _RANK_TYPE, "E203", message)

    def _not_allowed(self, instance: Any, path: DataPath, allowed: Sequence[Any]) -> _Finding:
        choices = ", ".join(str(value) for value in allowed)
        hint = (
            _suggest_value(instance, [str(v) for v in allowed]) if isinstance(instance, str) else ""
        )
        verb = f"be one of {choices}" if len(allowed) > 1 else f"be {_show(allowed[0])}"
        message = f"{self.scope.label(path)} must {verb}, not {_show(instance)}{hint}"
        return self._finding(path, _RANK_ENUM, "E206", message)

    def _out_of_bounds(
        self,
        keyword: str,
        instance: Any,
        path: DataPath,
        schema: Any,
        label: str,
        *,
        subject: str | None = None,
    ) -> _Finding:
        """E204 for a value outside its pattern, length, range or item rules.

        `label` names the value; `subject` names it with its value shown (for a key, both are
        the key itself).
        """
        schema = schema if isinstance(schema, dict) else {}
        shown = subject or f"{label} {_show(instance)}"
        if keyword == "pattern":
            description = schema.get("description")
            examples = schema.get("examples") or []
            if description:
                example = f", e.g. {_show(examples[0])}" if examples else ""
                message = f"{shown} must be {description}{example}"
            else:
                message = f"{shown} must match the pattern {schema.get('pattern')}"
            return self._finding(path, _RANK_PATTERN, "E204", message)
        if keyword in ("minLength", "maxLength") and isinstance(instance, str):
            low, high = schema.get("minLength"), schema.get("maxLength")
            if not instance:
                return self._finding(path, _RANK_EMPTY, "E204", f"{label} must not be empty")
            message = (
                f"{label} must be {_between(low, high)} characters long, found {len(instance)}"
            )
            return self._finding(path, _RANK_BOUNDS, "E204", message)
        if keyword in ("minimum", "maximum"):
            low, high = schema.get("minimum"), schema.get("maximum")
            message = f"{label} must be {_between(low, high)}, found {instance}"
            return self._finding(path, _RANK_BOUNDS, "E204", message)
        if keyword in ("minItems", "minProperties"):
            return self._finding(path, _RANK_BOUNDS, "E204", f"{label} must not be empty")
        if keyword == "uniqueItems" and isinstance(instance, list):
            seen: list[Any] = []
            repeated: Any = None
            for item in instance:
                if item in seen:
                    repeated = item
                    break
                seen.append(item)
            message = f"{label} lists {_show(repeated)} more than once"
            return self._finding(path, _RANK_BOUNDS, "E204", message)
        message = f"{label} does not satisfy the schema's {keyword} rule"
        return self._finding(path, _RANK_OTHER, "E204", message)

    def _expected(self, schema: Any) -> str:
        """What `schema` accepts, in YAML terms ("a list", "a !Ref")."""
        if not isinstance(schema, dict):
            return "a value"
        name = _definition_names().get(id(schema))
        if name in _PHRASES:
            return _PHRASES[name]
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return self._expected(self.definitions[reference.removeprefix("#/$defs/")])
        if "const" in schema:
            return _show(schema["const"])
        if "enum" in schema:
            return "one of " + ", ".join(str(v) for v in schema["enum"])
        branches = schema.get("anyOf")
        if branches:
            return _join_or([self._expected(branch) for branch in branches])
        types = schema.get("type")
        names = [types] if isinstance(types, str) else list(types or [])
        if len(names) > 1 and "null" in names:
            names.remove("null")
        return _join_or([_JSON_TYPES.get(n, n) for n in names]) or "a value"

    def _finding(
        self, path: DataPath, rank: int, code: CodeId, message: str, *, key: bool = False
    ) -> _Finding:
        full_path = self.scope.base + path
        if key:
            span = self._key_span(full_path[:-1])
        elif (
            _value_at(self.file.data, full_path) is None and full_path in self.file.source_map.keys
        ):
            # An empty value has no text of its own; YAML places it at the next token, often on
            # the next line. Its key is where the user looks.
            span = self.file.source_map.keys[full_path]
        else:
            span = self.file.source_map.span(full_path)
        return _Finding(full_path, rank, code, message, span)

    def _key_span(self, path: DataPath) -> Span | None:
        """The span of the key that holds `path`, or of the nearest enclosing key."""
        keys = self.file.source_map.keys
        for depth in range(len(path), 0, -1):
            found = keys.get(path[:depth])
            if found is not None:
                return found
        return self.file.source_map.span(path)


def _value_at(data: Any, path: DataPath) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _function_tag(value: Mapping[str, Any]) -> str | None:
    """The short tag (!Sub, !Ref, ...) when `value` is one function call in long form."""
    if len(value) != 1:
        return None
    (name,) = value
    return _FUNCTION_TAGS.get(name)


def _suggest_value(value: str, allowed: Sequence[str]) -> str:
    """`did_you_mean` held to a stricter standard: allowed values often share long affixes
    (`_POLICY`), which make unrelated values look close."""
    hint = did_you_mean(value, allowed)
    match = hint.removeprefix(" (did you mean ").removesuffix("?)")
    if hint and difflib.SequenceMatcher(None, value.lower(), match.lower()).ratio() < 0.8:
        return ""
    return hint


def _is_number(text: str) -> bool:
    return text.strip().lstrip("+-").replace(".", "", 1).isdigit()


def _dotted(path: DataPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _found(value: Any) -> str:
    """What a value is, as the user wrote it in YAML."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {_show(value)}" if len(value) <= 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        tag = _function_tag(value)
        return f"a {tag}" if tag else "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return _found(value)


def _between(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    return f"at most {high}"


def _join_or(parts: Sequence[str]) -> str:
    unique = list(dict.fromkeys(parts))
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " or " + unique[-1]
