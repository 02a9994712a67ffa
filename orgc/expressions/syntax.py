"""What an expression is and how its pieces are written: pure helpers on loaded data.

Loaded data writes a function call as a one-key mapping (`{"Ref": "X"}`, `{"Fn::Sub": ...}`).
These helpers recognise calls, split `!Sub` templates (`SUB_VARIABLE` is the one pattern of a
`${...}` variable), write scalars as CloudFormation and OrgFormation write them into text, make
JSON text (`Fn::JsonString`) and describe an expression for a message. None of them reads the
organization, reports or changes anything.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from orgc.load import parse_json

# `${name}` in a Sub template; group 1 is "!" for the literal form `${!name}`, group 2 the name.
SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")

# A piece of a Sub template: ("text", literal), ("escaped", name) for `${!name}`, or
# ("var", name) for a variable still to be filled.
Piece = tuple[str, str]


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


def first_expression(value: Any) -> Any:
    """The first function call inside `value`, in document order, or None."""
    for found in expressions(value):
        return found
    return None


def expressions(value: Any) -> Iterator[Any]:
    """The outermost function calls inside `value`, in document order."""
    if is_expression(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def to_text(value: Any) -> str:
    """A scalar as OrgFormation writes it into text: `true`, `3`, `1.5`; `1.0` is the number 1
    (JavaScript has one number type), so it is `1`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def describe(value: Any) -> str:
    """A value as the user wrote it, short, for messages: `!Ref X`, `!GetAtt A.b`,
    `!Sub '...'`, `[a, !Ref B]`."""
    if isinstance(value, list):
        return "[" + ", ".join(describe(item) for item in value) + "]"
    if is_expression(value):
        ((name, argument),) = value.items()
        if name == "Ref" and isinstance(argument, str):
            return f"!Ref {argument}"
        if name == "Fn::GetAtt" and isinstance(argument, list):
            return f"!GetAtt {'.'.join(str(part) for part in argument)}"
        if name == "Fn::GetAtt" and isinstance(argument, str):
            return f"!GetAtt {argument}"
        if name == "Fn::Sub":
            template = argument[0] if isinstance(argument, list) and argument else argument
            if isinstance(template, str):
                return f"!Sub {template!r}"
        return f"!{name.removeprefix('Fn::')} {describe(argument)}"
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)) or value is None:
        return to_text(value) if value is not None else "null"
    return compact_json(value)


@functools.lru_cache(maxsize=4096)
def parse_sub(template: str) -> tuple[Piece, ...]:
    """A Sub template as its pieces, in order. Cached: every target of a task parses the same
    templates."""
    pieces: list[Piece] = []
    position = 0
    for match in SUB_VARIABLE.finditer(template):
        if match.start() > position:
            pieces.append(("text", template[position : match.start()]))
        if match.group(1):
            pieces.append(("escaped", match.group(2)))
        else:
            pieces.append(("var", match.group(2).strip()))
        position = match.end()
    if position < len(template):
        pieces.append(("text", template[position:]))
    return tuple(pieces)


def sub_variables(template: str) -> list[str]:
    """The variables a Sub template names (not the `${!literal}` ones), in order."""
    return [m.group(2).strip() for m in SUB_VARIABLE.finditer(template) if not m.group(1)]


def escape(text: str) -> str:
    """A literal for inside a Fn::Sub string."""
    return text.replace("${", "${!")


def names_used(value: Any) -> set[str]:
    """The logical ids a value names through !Ref, !GetAtt and ${} (before any dot)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= names_used(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item.partition(".")[0])
            elif key == "Fn::GetAtt" and isinstance(item, list) and item:
                if isinstance(item[0], str):
                    found.add(item[0].partition(".")[0])
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) and item else item
                if isinstance(text, str):
                    defined = item[1] if isinstance(item, list) and len(item) > 1 else {}
                    for name in sub_variables(text):
                        if name not in defined:
                            found.add(name.partition(".")[0])
                found |= names_used(item)
            else:
                found |= names_used(item)
    return found


def static(value: Any, known: Mapping[str, str]) -> str | None:
    """A value reduced to text with `known` names, or None when only CloudFormation can."""
    if isinstance(value, (bool, int, float, str)):
        return to_text(value)
    if not isinstance(value, dict) or len(value) != 1:
        return None
    name, argument = next(iter(value.items()))
    if name == "Ref" and isinstance(argument, str):
        return known.get(argument)
    if name == "Fn::Sub":
        text = argument[0] if isinstance(argument, list) and len(argument) == 2 else argument
        defined = argument[1] if isinstance(argument, list) and len(argument) == 2 else {}
        if not isinstance(text, str) or not isinstance(defined, dict):
            return None
        parts: list[str] = []
        for kind, piece in parse_sub(text):
            if kind == "text":
                parts.append(piece)
            elif kind == "escaped":
                parts.append("${" + piece + "}")
            else:
                found = static(defined[piece], known) if piece in defined else known.get(piece)
                if found is None:
                    return None
                parts.append(found)
        return "".join(parts)
    if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        separator, items = argument
        if isinstance(separator, str) and isinstance(items, list):
            texts = [static(item, known) for item in items]
            if all(text is not None for text in texts):
                return separator.join(text for text in texts if text is not None)
    if name == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
        index, items = argument
        index_text = static(index, known)
        if index_text is not None and index_text.isdigit() and isinstance(items, list):
            position = int(index_text)
            if position < len(items):
                return static(items[position], known)
    return None


def parameter_text(value: Any, known: Mapping[str, str]) -> str | None:
    """A stack parameter's value as CloudFormation takes it: lists comma-joined, booleans
    lowercase, numbers as OrgFormation writes them."""
    if isinstance(value, list):
        parts = [parameter_text(item, known) for item in value]
        if any(part is None for part in parts):
            return None
        return ",".join(part for part in parts if part is not None)
    return static(value, known)


def _json_ready(value: Any) -> Any:
    """`value` with whole floats as integers, as JavaScript's JSON.stringify writes them."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    return value


def compact_json(value: Any) -> str:
    return json.dumps(_json_ready(value), separators=(",", ":"), ensure_ascii=False)


def json_text(value: Any, *, pretty: bool) -> str:
    """`value` as OrgFormation's Fn::JsonString writes it: compact (or indented by two with
    `pretty`); text that holds JSON is that JSON, minified."""
    subject = parse_json(value) if isinstance(value, str) else value
    if pretty:
        return json.dumps(_json_ready(subject), indent=2, ensure_ascii=False)
    return compact_json(subject)


def copy_data(value: Any) -> Any:
    """A copy of loaded data (dicts, lists and scalars): what `copy.deepcopy` gives for it,
    several times faster, which counts at tens of thousands of stacks."""
    if isinstance(value, dict):
        return {key: copy_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_data(item) for item in value]
    return value


def sub_pieces_of(expression: Any) -> Sequence[Piece] | None:
    """The pieces an unresolved value stands for inside a Sub template, when it can be written
    there: `${Name}` for a Ref, `${Name.Attr}` for a GetAtt, the template of a plain Sub."""
    if not is_expression(expression):
        return None
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
        return parse_sub(argument)
    return None


def build_sub(pieces: list[Piece], remaining: dict[str, Any]) -> Any:
    if not remaining and all(kind != "var" for kind, _ in pieces):
        # Fully known: `${!Literal}` means the text `${Literal}`.
        return "".join(text if kind == "text" else f"${{{text}}}" for kind, text in pieces)
    template = "".join(
        escape(text) if kind == "text" else f"${{{'!' if kind == 'escaped' else ''}{text}}}"
        for kind, text in pieces
    )
    return {"Fn::Sub": [template, remaining] if remaining else template}


def json_sub(value: Any, *, pretty: bool) -> Any:
    """`value`, which holds values CloudFormation resolves, as JSON text: a Fn::Sub."""
    placeholders: list[Any] = []

    def hide(item: Any) -> Any:
        if is_expression(item):
            placeholders.append(item)
            return f"\0{len(placeholders) - 1}\0"
        if isinstance(item, dict):
            return {key: hide(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [hide(inner) for inner in item]
        return item

    text = escape(json_text(hide(value), pretty=pretty) if not isinstance(value, str) else value)
    variables: dict[str, Any] = {}
    for index, intrinsic in enumerate(placeholders):
        name, argument = next(iter(intrinsic.items()))
        if name == "Ref" and isinstance(argument, str):
            variable = argument
        elif name == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
            variable = f"{argument[0]}.{argument[1]}"
        else:
            variable = f"OrgcJson{len(variables)}"
            variables[variable] = intrinsic
        marker = compact_json(f"\0{index}\0")[1:-1]
        text = text.replace(marker, "${" + variable + "}")
    return {"Fn::Sub": [text, variables] if variables else text}
