"""Pure helpers on the JSON-able values of a template: what they name, what they reduce to.

`_static` reduces a value to the text orgc can know before deploy (None when only CloudFormation
can); `_names_used` lists the logical ids a value refers to; `_json_text`, `_simplify_sub` and
`_escape` build the Fn::Sub text CloudFormation resolves; `_describe` shows a value as the user
wrote it, for diagnostics. None of them reads the organization, reports or mutates anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from orgc.load import DataPath
from orgc.tasks import StacksTask

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _extend(path: DataPath | None, *keys: str | int) -> DataPath | None:
    return None if path is None else path + keys


def _names_used(value: Any) -> set[str]:
    """The logical ids a value names through !Ref, !GetAtt and ${} (before any dot)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _names_used(item)
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
                    for match in _SUB_VARIABLE.finditer(text):
                        inner = match.group(1)
                        if not inner.startswith("!") and inner not in defined:
                            found.add(inner.partition(".")[0])
                found |= _names_used(item)
            else:
                found |= _names_used(item)
    return found


def _escape(text: str) -> str:
    """A literal for inside a Fn::Sub string."""
    return text.replace("${", "${!")


def _simplify_sub(text: str, variables: dict[str, Any]) -> Any:
    """A Fn::Sub with literal variables substituted, or the plain string when nothing is left."""
    remaining = dict(variables)
    for name, value in variables.items():
        literal = _static(value, {}) if not isinstance(value, (dict, list)) else None
        if literal is not None:
            text = text.replace("${" + name + "}", _escape(literal))
            del remaining[name]
    if any(not m.group(1).startswith("!") for m in _SUB_VARIABLE.finditer(text)):
        return {"Fn::Sub": [text, remaining] if remaining else text}
    return text.replace("${!", "${")


def _static(value: Any, known: Mapping[str, str]) -> str | None:
    """A value reduced to text with `known` names, or None when only CloudFormation can."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
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
        values = {k: _static(v, known) for k, v in defined.items()}
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            found = values.get(inner) if inner in values else known.get(inner)
            if found is None:
                unresolved = True
                return ""
            return found

        result = _SUB_VARIABLE.sub(replace, text)
        return None if unresolved else result
    if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        separator, items = argument
        if isinstance(separator, str) and isinstance(items, list):
            parts = [_static(item, known) for item in items]
            if all(part is not None for part in parts):
                return separator.join(part for part in parts if part is not None)
    if name == "Fn::Select" and isinstance(argument, list) and len(argument) == 2:
        index, items = argument
        index_text = _static(index, known)
        if index_text is not None and index_text.isdigit() and isinstance(items, list):
            position = int(index_text)
            if position < len(items):
                return _static(items[position], known)
    return None


def _parameter_text(value: Any, known: Mapping[str, str]) -> str | None:
    """A task parameter's value as CloudFormation takes it: lists comma-joined, booleans
    lowercase, numbers as written."""
    if isinstance(value, list):
        parts = [_parameter_text(item, known) for item in value]
        if any(part is None for part in parts):
            return None
        return ",".join(part for part in parts if part is not None)
    return _static(value, known)


def _pseudo_parameters(region: str, account_id: str, task: StacksTask) -> dict[str, str]:
    """The pseudo parameters a stack's values are known for before deploy."""
    if region.startswith("cn-"):
        partition, suffix = "aws-cn", "amazonaws.com.cn"
    elif region.startswith("us-gov-"):
        partition, suffix = "aws-us-gov", "amazonaws.com"
    else:
        partition, suffix = "aws", "amazonaws.com"
    return {
        "AWS::AccountId": account_id,
        "AWS::Region": region,
        "AWS::StackName": task.stack_name,
        "AWS::Partition": partition,
        "AWS::URLSuffix": suffix,
    }


def _is_copy_value(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "Fn::CopyValue" in value


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    name = str(next(iter(value)))
    return name == "Ref" or name.startswith("Fn::")


def _first_intrinsic(value: Any) -> Any:
    """The first value CloudFormation resolves inside `value`, or None."""
    if _is_intrinsic(value):
        return value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _first_intrinsic(item)
        if found is not None:
            return found
    return None


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_text(value: Any, *, pretty: bool) -> Any:
    """`value` as JSON text; values CloudFormation resolves make it a Fn::Sub."""

    def dump(item: Any) -> str:
        if pretty:
            return json.dumps(item, indent=2, ensure_ascii=False)
        return _compact_json(item)

    if not _first_intrinsic(value) is not None:
        return dump(value)
    placeholders: list[Any] = []

    def hide(item: Any) -> Any:
        if _is_intrinsic(item):
            placeholders.append(item)
            return f"\0{len(placeholders) - 1}\0"
        if isinstance(item, dict):
            return {key: hide(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [hide(inner) for inner in item]
        return item

    text = _escape(dump(hide(value)))
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
        text = text.replace(json.dumps(f"\0{index}\0")[1:-1], "${" + variable + "}")
    return {"Fn::Sub": [text, variables] if variables else text}


def _describe(value: Any) -> str:
    """A value as the user wrote it, short: `!Ref X`, `!GetAtt A.B`, `[a, !Ref B]`."""
    if isinstance(value, list):
        return "[" + ", ".join(_describe(item) for item in value) + "]"
    if isinstance(value, dict) and len(value) == 1:
        name, argument = next(iter(value.items()))
        if name == "Ref" and isinstance(argument, str):
            return f"!Ref {argument}"
        if name == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
            return f"!GetAtt {argument[0]}.{argument[1]}"
        if name.startswith("Fn::"):
            return f"!{name.removeprefix('Fn::')} {_describe(argument)}"
    if isinstance(value, str):
        return value
    return _compact_json(value)


def _copy(value: Any) -> Any:
    """A copy of template data (dicts, lists and scalars): what `copy.deepcopy` gives for it,
    several times faster, which counts at tens of thousands of stacks."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
