"""One task file's scope: its parameters with their values and types, its named bindings and
its mappings.

`TaskFile` is what `!Ref Name` and `${Name}` mean inside one file. A parameter's value comes from
outside the file (`Supplied`: an include's Parameters or the command line) or from its Default; it
is worked out on first use, so a Default may use another parameter, and converted to its declared
Type (one of `PARAMETER_TYPES`). Every mistake in the file's Parameters, OrganizationBindings and
Mappings sections, and in the expressions it evaluates, is reported to the builder's diagnostics,
once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orgc.diagnostics import CodeId, Span, did_you_mean
from orgc.expressions import (
    ARGUMENT,
    MAPPING,
    Scope,
    describe,
    evaluate,
    is_expression,
    is_known,
    naming_target,
    to_text,
)
from orgc.load import DataPath, LoadedFile
from orgc.templates import Binding, parse_binding

if TYPE_CHECKING:
    from orgc.tasks.tree import ProjectBuilder


PARAMETER_TYPES = (
    "String",
    "Number",
    "Boolean",
    "List<String>",
    "List<Number>",
    "CommaDelimitedList",
    "OrganizationBinding",
)
_PARAMETER_ATTRIBUTES = ("Type", "Default", "Description", "AllowedValues")


# The pseudo parameters a task file knows before any target: those of the partition orgc's
# organization lives in (OrgFormation resolves `!Ref AWS::Partition` in a task file, so that
# `DefaultOrganizationBindingRegion: !FindInMap [Map, Regions, !Ref AWS::Partition]` decides the
# regions before the targets exist). `AWS::AccountId` and `AWS::Region` are each target's.
FILE_PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}

# The diagnostic code of each kind of problem that evaluating an expression finds.
_PROBLEM_CODES: dict[str, CodeId] = {MAPPING: "E337", ARGUMENT: "E338"}


@dataclass(frozen=True, slots=True)
class Supplied:
    """A value given to a parameter from outside its file, or its Default."""

    value: Any
    span: Span | None  # where it was written; None for the command line
    file: LoadedFile | None  # the file it was written in, for a binding's positions
    path: DataPath
    binding: Binding | None = None  # when it is !Ref of a binding where it was written
    command_line: bool = False


@dataclass(frozen=True, slots=True)
class _Parameter:
    type: str
    value: Any
    binding: Binding | None = None


class TaskFile(Mapping[str, Any]):
    """One task file as its tasks see it: its parameters with their values, its named bindings
    and its mappings. As a Mapping it is what `!Ref Name` and `${Name}` mean in the file:
    values are worked out on first use, so a Default may use another parameter."""

    def __init__(
        self,
        builder: ProjectBuilder,
        file: LoadedFile,
        supplied: dict[str, Supplied],
        *,
        included: bool,
    ) -> None:
        self.builder = builder
        self.included = included
        self.diagnostics = builder.diagnostics
        self.file = file
        self.supplied = supplied
        self.declarations = self._declarations()
        self.binding_data = self._binding_data()
        mappings = file.data.get("Mappings")
        if mappings is not None and not isinstance(mappings, dict):
            self.diagnostics.add(
                "E324", "Mappings must map map names to mappings of keys", self.span(("Mappings",))
            )
        self.scope = Scope(
            values=self,
            mappings=mappings if isinstance(mappings, dict) else {},
            known=FILE_PSEUDO_PARAMETERS,
        )
        self._parameters: dict[str, _Parameter | None] = {}
        self._bindings: dict[str, Binding | None] = {}
        self._resolving: list[str] = []

    # positions

    def span(self, path: DataPath) -> Span | None:
        return self.file.span(path)

    def key_span(self, path: DataPath) -> Span | None:
        return self.file.source_map.key_span(path)

    # the scope of expressions

    def __getitem__(self, name: str) -> Any:
        if name in self.declarations:
            parameter = self.parameter(name)
            if parameter is None:
                raise KeyError(name)
            return parameter.value
        if name in self.binding_data:
            if name in self._resolving:
                raise KeyError(name)
            self._resolving.append(name)
            try:
                return self.evaluate(self.binding_data[name], ("OrganizationBindings", name))
            finally:
                self._resolving.pop()
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([*self.declarations, *self.binding_data])

    def __len__(self) -> int:
        return len(self.declarations) + len(self.binding_data)

    def evaluate(self, value: Any, path: DataPath) -> Any:
        """`value`, written at `path` of this file, with every expression evaluated that can be."""
        result, problems = evaluate(value, self.scope, path)
        for problem in problems:
            self.diagnostics.add(
                _PROBLEM_CODES[problem.kind],
                problem.message,
                self.span(problem.path) if problem.path is not None else None,
            )
        return result

    # parameters

    def _declarations(self) -> dict[str, str]:
        """Parameter name → Type, for the declarations that are well formed."""
        section = self.file.data.get("Parameters")
        if section is None:
            return {}
        if not isinstance(section, dict):
            self.diagnostics.add(
                "E333",
                "Parameters must map parameter names to declarations with a Type",
                self.span(("Parameters",)),
            )
            return {}
        declared: dict[str, str] = {}
        for name, declaration in section.items():
            path: DataPath = ("Parameters", name)
            if not isinstance(declaration, dict):
                self.diagnostics.add(
                    "E333",
                    f"parameter {name} must be a mapping with a Type (String, Number, ...)",
                    self.key_span(path),
                )
                continue
            for key in declaration:
                if key not in _PARAMETER_ATTRIBUTES:
                    self.diagnostics.add(
                        "E333",
                        f"{key} is not an attribute of a parameter"
                        f"{did_you_mean(key, _PARAMETER_ATTRIBUTES)}; a parameter takes "
                        f"{', '.join(_PARAMETER_ATTRIBUTES)}",
                        self.key_span((*path, key)),
                    )
            kind = declaration.get("Type")
            if kind is None:
                self.diagnostics.add(
                    "E333",
                    f"parameter {name} has no Type; add Type: String (or "
                    f"{', '.join(PARAMETER_TYPES[1:])})",
                    self.key_span(path),
                )
                continue
            if kind not in PARAMETER_TYPES:
                self.diagnostics.add(
                    "E333",
                    f"parameter {name} has the unknown Type {kind!r}"
                    f"{did_you_mean(str(kind), PARAMETER_TYPES)}; use one of "
                    f"{', '.join(PARAMETER_TYPES)}",
                    self.span((*path, "Type")),
                )
                continue
            allowed = declaration.get("AllowedValues")
            if allowed is not None and not isinstance(allowed, list):
                self.diagnostics.add(
                    "E333",
                    f"AllowedValues of parameter {name} must be a list",
                    self.span((*path, "AllowedValues")),
                )
            declared[name] = kind
        return declared

    def parameter(self, name: str) -> _Parameter | None:
        """The parameter's value, worked out once; None when it has none (already reported)."""
        if name in self._parameters:
            return self._parameters[name]
        if name in self._resolving:
            loop = [*self._resolving[self._resolving.index(name) :], name]
            self.diagnostics.add(
                "E338",
                f"the Default of parameter {loop[-2]} refers back to it: {' → '.join(loop)}",
                self.span(("Parameters", loop[-2], "Default")),
            )
            return None
        self._resolving.append(name)
        try:
            result = self._resolve(name)
        finally:
            self._resolving.pop()
        self._parameters[name] = result
        return result

    def _resolve(self, name: str) -> _Parameter | None:
        kind = self.declarations[name]
        path: DataPath = ("Parameters", name)
        declaration = self.file.data["Parameters"][name]
        if name in self.supplied:
            origin = self.supplied[name]
        elif declaration.get("Default") is not None:
            raw = declaration["Default"]
            default_path = (*path, "Default")
            origin = Supplied(
                self.evaluate(raw, default_path),
                self.span(default_path),
                self.file,
                default_path,
                self.binding_reference(raw, default_path, report=False),
            )
        else:
            where = (
                "a value in the Parameters of the include"
                if self.included
                else f"pass --parameter {name}=<value>"
            )
            self.diagnostics.add(
                "E334",
                f"parameter {name} has no value; give it a Default or {where}",
                self.key_span(path),
            )
            return None
        parameter = self._typed(name, kind, origin)
        if parameter is not None:
            self._check_allowed(name, declaration.get("AllowedValues"), parameter.value, origin)
        return parameter

    def _typed(self, name: str, kind: str, origin: Supplied) -> _Parameter | None:
        value = origin.value
        shown = f"--parameter {name}={value}" if origin.command_line else f"{value!r}"
        where = origin.span or self.key_span(("Parameters", name))

        def wrong(expected: str) -> None:
            self.diagnostics.add(
                "E336",
                f"parameter {name} is of Type {kind}, but {shown} is not {expected}",
                where,
            )

        if kind == "OrganizationBinding":
            if origin.binding is not None:
                return _Parameter(kind, value, origin.binding)
            if isinstance(value, dict) and not is_expression(value) and origin.file is not None:
                binding = parse_binding(value, origin.path, origin.file, self.diagnostics)
                return _Parameter(kind, value, binding)
            wrong("a binding (Account, OrganizationalUnit, Region, ...)")
            return None
        if not is_known(value):
            return _Parameter(kind, value)  # known per target only: checked by the render stage
        converted = _convert(kind, value)
        if converted is _WRONG:
            wrong(_EXPECTED[kind])
            return None
        if converted is _SHAPE:
            self.diagnostics.add(
                "W323",
                f"parameter {name} is a String, but its value is a "
                f"{'list' if isinstance(value, list) else 'mapping'}; declare it List<String> "
                "if a list is meant",
                where,
            )
            return _Parameter(kind, value)
        return _Parameter(kind, converted)

    def _check_allowed(self, name: str, allowed: Any, value: Any, origin: Supplied) -> None:
        if not isinstance(allowed, list) or not is_known(value):
            return
        texts = [to_text(item) for item in allowed]
        for item in value if isinstance(value, list) else [value]:
            if to_text(item) not in texts:
                self.diagnostics.add(
                    "E336",
                    f"parameter {name} must be one of {', '.join(texts)}, not {to_text(item)!r}",
                    origin.span or self.key_span(("Parameters", name)),
                )
                return

    # bindings

    def _binding_data(self) -> dict[str, Any]:
        section = self.file.data.get("OrganizationBindings")
        if section is None:
            return {}
        if not isinstance(section, dict):
            self.diagnostics.add(
                "E324",
                "OrganizationBindings must map binding names to bindings",
                self.span(("OrganizationBindings",)),
            )
            return {}
        found: dict[str, Any] = {}
        for name, value in section.items():
            if name in self.declarations:
                self.diagnostics.add(
                    "E341",
                    f"{name} is both a parameter and an organization binding of this file; "
                    "rename one of them",
                    self.key_span(("OrganizationBindings", name)),
                )
                continue
            found[name] = value
        return found

    def named_binding(self, name: str) -> Binding | None:
        """A binding of this file's OrganizationBindings, parsed once."""
        if name not in self._bindings:
            self._bindings[name] = None  # a binding that refers to itself finds nothing
            path: DataPath = ("OrganizationBindings", name)
            raw = self.binding_data[name]
            self._bindings[name] = self.binding(raw, path)
        return self._bindings[name]

    def binding_reference(self, raw: Any, path: DataPath, *, report: bool = True) -> Binding | None:
        """The binding that `!Ref Name` at `path` names: a named binding of this file or a
        parameter of Type OrganizationBinding. None when `raw` is not such a reference."""
        if not (is_expression(raw) and isinstance(raw.get("Ref"), str)):
            return None
        name = raw["Ref"]
        if name in self.binding_data:
            return self.named_binding(name)
        if self.declarations.get(name) == "OrganizationBinding":
            parameter = self.parameter(name)
            return parameter.binding if parameter else None
        if report:
            bindings = [*self.binding_data] + [
                n for n, kind in self.declarations.items() if kind == "OrganizationBinding"
            ]
            self.diagnostics.add(
                "E339",
                f"!Ref {name} names no organization binding of this file"
                f"{did_you_mean(name, bindings)}; declare it under OrganizationBindings or as "
                "a parameter of Type OrganizationBinding",
                self.span((*path, "Ref")),
            )
        return None

    def binding(self, raw: Any, path: DataPath) -> Binding | None:
        """The binding written at `path`: a mapping, or !Ref of a named one."""
        if is_expression(raw) and "Ref" in raw:
            return self.binding_reference(raw, path)
        evaluated = self.evaluate(raw, path)
        if isinstance(evaluated, dict):
            for key, item in evaluated.items():
                expression = naming_target(item)
                if expression is None:
                    continue
                what = "regions" if key == "Region" else "accounts"
                self.diagnostics.add(
                    "E475",
                    f"{_binding_label(path, self.file.display)} decides which {what} the task "
                    f"deploys to, so it cannot name the target: {describe(expression)} means "
                    "nothing before there are targets; select accounts by logical id "
                    "(!Ref AccountA), OU or AccountsWithTag, and regions by name",
                    self.span((*path, key)),
                )
                return None
        return parse_binding(evaluated, path, self.file, self.diagnostics)


def _binding_label(path: DataPath, file: str) -> str:
    """A binding as a message names it, from where it was written."""
    if len(path) == 2 and path[0] == "OrganizationBindings":
        return f"binding {path[1]} of {file}"
    if len(path) == 3 and path[1] == "OrganizationBindings":
        return f"binding {path[2]} of task {path[0]}"
    if len(path) == 2:
        return f"{path[1]} of task {path[0]}"
    return f"the binding at {'/'.join(str(key) for key in path)} of {file}"


_WRONG = object()  # a parameter value that does not fit its Type
_SHAPE = object()  # a String parameter given a list or mapping (OrgFormation passes it on)
_EXPECTED = {
    "String": "text",
    "Number": "a number",
    "Boolean": "true or false",
    "List<String>": "a list of text or comma-separated text",
    "List<Number>": "a list of numbers or comma-separated numbers",
    "CommaDelimitedList": "comma-separated text or a list of text",
}


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return _WRONG
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
    return _WRONG


def _convert(kind: str, value: Any) -> Any:
    """A known parameter value converted to its Type: _WRONG or _SHAPE when it does not fit."""
    if kind == "String":
        if isinstance(value, (dict, list)):
            return _SHAPE
        return None if value is None else to_text(value)
    if kind == "Number":
        return _number(value)
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return _WRONG
    items = [item.strip() for item in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or any(i is None or isinstance(i, (dict, list)) for i in items):
        return _WRONG
    if kind == "List<Number>":
        numbers = [_number(item) for item in items]
        return _WRONG if any(n is _WRONG for n in numbers) else numbers
    return [to_text(item) for item in items]
