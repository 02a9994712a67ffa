"""Local evaluation of CloudFormation intrinsic functions over loaded data.

`evaluate(value, scope)` walks plain data as `orgc.load` builds it (`{"Ref": "X"}`,
`{"Fn::Sub": ...}`, ...) and computes what can be computed without a target: `Ref` of a name the
scope knows, `Fn::Sub`, `Fn::Join`, `Fn::Select`, `Fn::FindInMap` against the scope's mappings,
`Fn::JsonString` and `Fn::MD5`, each once its arguments are known. Everything else is kept in its
long form with its arguments evaluated, so a later stage can finish it per target:

- `Ref` of a name the scope does not know (an account, `CurrentAccount`, `AWS::AccountId`,
  `ORG::PrincipalOrgID`) stays `{"Ref": name}`;
- `Fn::GetAtt`, `Fn::CopyValue`, `Fn::If`, ... stay as written;
- a `Fn::Sub` that still names such variables stays a `Fn::Sub` with every known variable
  substituted; a variable whose value is `Ref`/`GetAtt` or another plain `Fn::Sub` is written
  into the template (`${Account.AccountName}`), any other expression moves to the variable map;
- a `Fn::FindInMap` whose keys need a target keeps the map's contents in place of the map name,
  so it can be finished without the file that declared `Mappings`.

Evaluation is pure and never raises for a user mistake: each is returned as a `Problem` with the
data path of the offending node, and the caller turns it into a diagnostic.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orgc.diagnostics import did_you_mean
from orgc.load import DataPath, parse_json

# Problem kinds, for the caller's choice of diagnostic code.
MAPPING = "mapping"  # Fn::FindInMap names a map or key that does not exist
ARGUMENT = "argument"  # a function's arguments have the wrong shape or value

# `${name}` in a Sub template; group 1 is "!" for the literal form `${!name}`.
SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # MAPPING or ARGUMENT
    message: str  # one sentence, ready for a diagnostic
    path: DataPath  # where in the evaluated document the mistake sits


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What names mean where a value is evaluated.

    `values` maps a name to the value `!Ref name` and `${name}` stand for; a lookup that raises
    KeyError leaves the reference as written. `mappings` is the `Mappings` section that
    `Fn::FindInMap` reads.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)


def is_expression(value: Any) -> bool:
    """Whether `value` is one intrinsic function call: `{"Ref": ...}` or `{"Fn::X": ...}`."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (key,) = value
    return isinstance(key, str) and (key == "Ref" or key.startswith("Fn::"))


def is_known(value: Any) -> bool:
    """Whether `value` holds no intrinsic function anywhere: plain data, fully evaluated."""
    if is_expression(value):
        return False
    if isinstance(value, dict):
        return all(is_known(item) for item in value.values())
    if isinstance(value, list):
        return all(is_known(item) for item in value)
    return True


def to_text(value: Any) -> str:
    """A scalar as CloudFormation writes it into a string: `true`, `3`, `1.5`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(expression: Any) -> str:
    """A short form of an expression for messages: `!Ref X`, `!GetAtt A.b`, `!Sub '...'`."""
    if not is_expression(expression):
        return repr(expression)
    ((name, argument),) = expression.items()
    tag: str = "!" + name.removeprefix("Fn::")
    if name == "Ref":
        return f"!Ref {argument}"
    if name == "Fn::GetAtt" and isinstance(argument, list):
        return f"!GetAtt {'.'.join(str(part) for part in argument)}"
    if name == "Fn::Sub":
        template = argument[0] if isinstance(argument, list) and argument else argument
        if isinstance(template, str):
            return f"!Sub {template!r}"
    return tag


def evaluate(value: Any, scope: Scope, path: DataPath = ()) -> tuple[Any, tuple[Problem, ...]]:
    """`value` with every function computed that `scope` allows; `path` is where `value` sits,
    so that each problem names the node it is about. The input is not changed."""
    evaluator = _Evaluator(scope)
    result = evaluator.value(value, path)
    return result, tuple(evaluator.problems)


class _Evaluator:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []

    def problem(self, kind: str, message: str, path: DataPath) -> None:
        self.problems.append(Problem(kind, message, path))

    def value(self, value: Any, path: DataPath) -> Any:
        if is_expression(value):
            ((name, argument),) = value.items()
            handler = _FUNCTIONS.get(name)
            if handler is None:
                return {name: self.value(argument, (*path, name))}
            return handler(self, argument, path)
        if isinstance(value, dict):
            return {key: self.value(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, (*path, index)) for index, item in enumerate(value)]
        return value

    def lookup(self, name: str) -> tuple[bool, Any]:
        try:
            found = self.scope.values[name]
        except KeyError:
            return False, None
        return True, copy.deepcopy(found)


# --- functions ------------------------------------------------------------------------------


def _ref(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    if isinstance(argument, str):
        found, value = evaluator.lookup(argument)
        if found:
            return value
    return {"Ref": argument}


# A piece of a Sub template: ("text", literal), ("escaped", name) for `${!name}`, or
# ("var", name) for a variable still to be filled.
_Piece = tuple[str, str]


def _parse_sub(template: str) -> list[_Piece]:
    pieces: list[_Piece] = []
    position = 0
    for match in SUB_VARIABLE.finditer(template):
        if match.start() > position:
            pieces.append(("text", template[position : match.start()]))
        kind = "escaped" if match.group(1) else "var"
        pieces.append((kind, match.group(2) if kind == "escaped" else match.group(2).strip()))
        position = match.end()
    if position < len(template):
        pieces.append(("text", template[position:]))
    return pieces


def _sub(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    inner = (*path, "Fn::Sub")
    variables: dict[str, Any] = {}
    if isinstance(argument, str):
        template = argument
    elif (
        isinstance(argument, list)
        and len(argument) == 2
        and isinstance(argument[0], str)
        and isinstance(argument[1], dict)
    ):
        template = argument[0]
        variables = evaluator.value(argument[1], (*inner, 1))
    else:
        evaluator.problem(
            ARGUMENT,
            "!Sub takes a string, or a list of a string and a mapping of variables",
            path,
        )
        return {"Fn::Sub": evaluator.value(argument, inner)}
    pieces: list[_Piece] = []
    remaining: dict[str, Any] = {}
    for kind, text in _parse_sub(template):
        if kind != "var":
            pieces.append((kind, text))
            continue
        if text in variables:
            found, value = True, variables[text]
        elif "." in text:
            found, value = False, None
        else:
            found, value = evaluator.lookup(text)
        if not found:
            pieces.append(("var", text))
        elif is_known(value) and not isinstance(value, (dict, list)):
            pieces.append(("text", to_text(value)))
        elif is_known(value) or not is_expression(value):  # a list or mapping, even unknown
            evaluator.problem(
                ARGUMENT,
                f"${{{text}}} in !Sub is a {'list' if isinstance(value, list) else 'mapping'}, "
                "not text; make text of it with !Join first",
                path,
            )
            pieces.append(("var", text))
        else:
            spliced = _as_sub_pieces(value)
            if spliced is not None and not any(
                kind == "var" and name in variables for kind, name in spliced
            ):
                pieces.extend(spliced)
            else:
                pieces.append(("var", text))
                remaining[text] = value
    return _build_sub(pieces, remaining)


def _as_sub_pieces(expression: Any) -> list[_Piece] | None:
    """The pieces an unresolved value stands for inside a Sub template, when it can be written
    there: `${Name}` for a Ref, `${Name.Attr}` for a GetAtt, the template of a plain Sub."""
    ((name, argument),) = expression.items()
    if name == "Ref" and isinstance(argument, str):
        return [("var", argument)]
    if (
        name == "Fn::GetAtt"
        and isinstance(argument, list)
        and all(isinstance(part, str) for part in argument)
    ):
        return [("var", ".".join(argument))]
    if name == "Fn::Sub" and isinstance(argument, str):
        return _parse_sub(argument)
    return None


def _build_sub(pieces: list[_Piece], remaining: dict[str, Any]) -> Any:
    if not remaining and all(kind != "var" for kind, _ in pieces):
        # Fully known: `${!Literal}` means the text `${Literal}`.
        return "".join(text if kind == "text" else f"${{{text}}}" for kind, text in pieces)
    template = "".join(
        text.replace("${", "${!")
        if kind == "text"
        else f"${{{'!' if kind == 'escaped' else ''}{text}}}"
        for kind, text in pieces
    )
    return {"Fn::Sub": [template, remaining] if remaining else template}


def _join(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    inner = (*path, "Fn::Join")
    if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
        evaluator.problem(ARGUMENT, "!Join takes a delimiter and a list: !Join [',', [a, b]]", path)
        return {"Fn::Join": evaluator.value(argument, inner)}
    delimiter = argument[0]
    items = evaluator.value(argument[1], (*inner, 1))
    if not is_known(items):
        return {"Fn::Join": [delimiter, items]}
    if not isinstance(items, list):
        evaluator.problem(ARGUMENT, "!Join joins a list; its second argument is not one", path)
        return {"Fn::Join": [delimiter, items]}
    if any(isinstance(item, (dict, list)) for item in items):
        evaluator.problem(ARGUMENT, "!Join joins text; its list holds a list or a mapping", path)
        return {"Fn::Join": [delimiter, items]}
    return delimiter.join(to_text(item) for item in items if item is not None)


def _select(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    inner = (*path, "Fn::Select")
    if not (isinstance(argument, list) and len(argument) == 2):
        evaluator.problem(ARGUMENT, "!Select takes an index and a list: !Select [0, [a, b]]", path)
        return {"Fn::Select": evaluator.value(argument, inner)}
    index = evaluator.value(argument[0], (*inner, 0))
    items = evaluator.value(argument[1], (*inner, 1))
    if not is_known(index) or not isinstance(items, list):
        if is_known(items) and not isinstance(items, list):
            evaluator.problem(
                ARGUMENT, "!Select picks from a list; its second argument is not one", path
            )
        return {"Fn::Select": [index, items]}
    if isinstance(index, str) and index.strip().isdigit():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int):
        evaluator.problem(ARGUMENT, f"!Select index {index!r} is not a whole number", path)
        return {"Fn::Select": [index, items]}
    if not 0 <= index < len(items):
        evaluator.problem(
            ARGUMENT,
            f"!Select index {index} is out of range for a list of {len(items)} item"
            f"{'' if len(items) == 1 else 's'}",
            path,
        )
        return {"Fn::Select": [index, items]}
    return items[index]


def _find_in_map(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    inner = (*path, "Fn::FindInMap")
    if not (isinstance(argument, list) and len(argument) == 3):
        evaluator.problem(
            ARGUMENT, "!FindInMap takes a map name and two keys: !FindInMap [Map, Key, Key]", path
        )
        return {"Fn::FindInMap": evaluator.value(argument, inner)}
    arguments = [evaluator.value(item, (*inner, i)) for i, item in enumerate(argument)]
    for index, item in enumerate(arguments):
        if is_known(item) and (isinstance(item, (dict, list)) or item is None):
            evaluator.problem(
                ARGUMENT, "!FindInMap keys are text, not a list or a mapping", (*inner, index)
            )
            return {"Fn::FindInMap": arguments}
    map_name = arguments[0]
    if not is_known(map_name):
        return {"Fn::FindInMap": arguments}
    map_name = to_text(map_name)
    mappings = evaluator.scope.mappings
    if map_name not in mappings or not isinstance(mappings[map_name], dict):
        known = ", ".join(sorted(mappings)) or "none"
        evaluator.problem(
            MAPPING,
            f"!FindInMap names the map {map_name!r}, which Mappings does not declare"
            f"{did_you_mean(map_name, mappings)}; declared maps: {known}",
            (*inner, 0),
        )
        return {"Fn::FindInMap": arguments}
    table = mappings[map_name]
    top = arguments[1]
    if not is_known(top):
        return {"Fn::FindInMap": [copy.deepcopy(table), *arguments[1:]]}
    top = to_text(top)
    if top not in table or not isinstance(table[top], dict):
        evaluator.problem(
            MAPPING,
            f"map {map_name!r} has no key {top!r}{did_you_mean(top, table)}",
            (*inner, 1),
        )
        return {"Fn::FindInMap": arguments}
    second = arguments[2]
    if not is_known(second):
        return {"Fn::FindInMap": [{top: copy.deepcopy(table[top])}, top, second]}
    second = to_text(second)
    if second not in table[top]:
        evaluator.problem(
            MAPPING,
            f"map {map_name!r} has no key {second!r} under {top!r}"
            f"{did_you_mean(second, table[top])}",
            (*inner, 2),
        )
        return {"Fn::FindInMap": arguments}
    return copy.deepcopy(table[top][second])


def _json_string(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    inner = (*path, "Fn::JsonString")
    evaluated = evaluator.value(argument, inner)
    subject, pretty = evaluated, False
    if isinstance(evaluated, list) and len(evaluated) == 2 and evaluated[1] == "pretty-print":
        subject, pretty = evaluated[0], True
    elif isinstance(evaluated, list) and len(evaluated) == 1:
        subject = evaluated[0]
    if not is_known(subject):
        return {"Fn::JsonString": evaluated}
    if isinstance(subject, str):
        try:
            subject = parse_json(subject)
        except ValueError:
            evaluator.problem(ARGUMENT, "!JsonString was given text that is not JSON", path)
            return {"Fn::JsonString": evaluated}
    if pretty:
        return json.dumps(subject, indent=2, ensure_ascii=False)
    return json.dumps(subject, separators=(",", ":"), ensure_ascii=False)


def _md5(evaluator: _Evaluator, argument: Any, path: DataPath) -> Any:
    evaluated = evaluator.value(argument, (*path, "Fn::MD5"))
    if not is_known(evaluated):
        return {"Fn::MD5": evaluated}
    text = (
        evaluated
        if isinstance(evaluated, str)
        else json.dumps(evaluated, separators=(",", ":"), ensure_ascii=False)
    )
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


_FUNCTIONS: dict[str, Callable[[_Evaluator, Any, DataPath], Any]] = {
    "Ref": _ref,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::FindInMap": _find_in_map,
    "Fn::JsonString": _json_string,
    "Fn::MD5": _md5,
}
