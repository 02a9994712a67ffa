"""The attributes of one task: each read at most once, evaluated in its file's scope, checked
and typed.

`TaskReader.task_type` checks a task's Type and the attributes it may and must have. The other
readers take one attribute as the kind of value it must be (text, one of some choices, true or
false, a whole number, a mapping, regions, a path inside the project, a binding, the names of
DependsOn) and report what does not fit; a value that is missing or unusable reads as None, so
that a task builder carries on and every mistake of the task shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from orgc.diagnostics import Diagnostic, Span, did_you_mean
from orgc.expressions import (
    TargetText,
    describe,
    expressions,
    is_expression,
    is_known,
    naming_target,
    sub_variables,
    to_text,
)
from orgc.load import DataPath, display_path, resolved
from orgc.regions import unknown_region
from orgc.tasks.model import COMMON_ATTRIBUTES, REQUIRED_HINTS, TASK_TYPES
from orgc.tasks.parameters import TaskFile
from orgc.templates import Binding

if TYPE_CHECKING:
    from orgc.tasks.tree import Context


class TaskReader:
    """The attributes of one task, each read at most once, every mistake reported."""

    def __init__(self, task_file: TaskFile, name: str, raw: Any) -> None:
        self.task_file = task_file
        self.file = task_file.file
        self.diagnostics = task_file.diagnostics
        self.name = name
        self.raw: dict[str, Any] = raw if isinstance(raw, dict) else {}
        self.type = ""
        self._raw_is_mapping = isinstance(raw, dict)
        self._values: dict[str, Any] = {}
        # Files of the task that do not exist: a mistake only when the task is not skipped
        # (a skipped task's template need not exist), so reported once that is known.
        self.deferred: list[Diagnostic] = []
        self.skip_reason: str | None = None  # why the task is skipped at its word or its include's

    def span(self, *keys: str) -> Span | None:
        """Where the value at `keys` below the task was written."""
        return self.file.span((self.name, *keys))

    def key_span(self, *keys: str) -> Span | None:
        """Where the key of `keys` below the task (or the task's own name) was written."""
        return self.file.source_map.key_span((self.name, *keys))

    def task_type(self) -> str | None:
        """The task's Type when it is one orgc knows, with its attributes checked."""
        if not self._raw_is_mapping:
            self.diagnostics.add(
                "E324",
                f"task {self.name} must be a mapping with a Type and its attributes",
                self.key_span(),
            )
            return None
        kind = self.raw.get("Type")
        if kind is None:
            self.diagnostics.add(
                "E323",
                f"task {self.name} has no Type; add Type: update-stacks (or another task type)",
                self.key_span(),
            )
            return None
        if not isinstance(kind, str) or kind not in TASK_TYPES:
            self.diagnostics.add(
                "E321",
                f"unknown task type {kind!r}{did_you_mean(str(kind), TASK_TYPES)}; orgc knows "
                f"{', '.join(TASK_TYPES)}",
                self.span("Type"),
            )
            return None
        self.type = kind
        spec = TASK_TYPES[kind]
        allowed = [
            *(a for a in COMMON_ATTRIBUTES if spec.depends_on or a != "DependsOn"),
            *spec.attributes,
        ]
        for key in self.raw:
            if key not in allowed:
                self.diagnostics.add(
                    "E322",
                    f"{key} is not an attribute of {kind} tasks{did_you_mean(key, allowed)}",
                    self.key_span(key),
                )
        for key in spec.required:
            if self.raw.get(key) is None:
                self.diagnostics.add(
                    "E323",
                    f"task {self.name} has no {key}; add {key}: <{REQUIRED_HINTS[key]}>",
                    self.key_span(),
                )
        if spec.instead is not None:
            # Only for a task that is not skipped (known once the tree is read): a skipped one
            # would not run either way.
            self.deferred.append(
                Diagnostic(
                    "W320",
                    f"orgc does not run {kind} tasks and leaves {self.name} alone; {spec.instead}",
                    self.span("Type"),
                )
            )
        return kind

    # values

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def value(self, key: str) -> Any:
        """The attribute evaluated, or None when it is not given."""
        if key not in self._values:
            raw = self.raw.get(key)
            self._values[key] = (
                None if raw is None else self.task_file.evaluate(raw, (self.name, key))
            )
        return self._values[key]

    def known(self, key: str, value: Any, path: DataPath | None = None) -> bool:
        """Whether `value` is fully evaluated; reported when it is not (`key` names it in the
        message, `path` is where it was written when it is not the attribute itself)."""
        if is_known(value):
            return True
        unknown = next(expressions(value))
        if _names_in(unknown) & set(self.task_file.declarations):
            return False  # a parameter without a value: reported where it is declared
        hint = ""
        if is_expression(unknown) and isinstance(unknown.get("Ref"), str):
            hint = did_you_mean(unknown["Ref"], self.task_file.declarations)
        self.diagnostics.add(
            "E342",
            f"{key} of task {self.name} must be known before deployment, but "
            f"{describe(unknown)} is not{hint}",
            self.file.span(path) if path else self.span(key),
        )
        return False

    def wrong(self, key: str, expected: str, value: Any, path: DataPath | None = None) -> None:
        shown = f"{value!r}" if not isinstance(value, (dict, list)) else type(value).__name__
        shown = {"dict": "a mapping", "list": "a list"}.get(shown, shown)
        self.diagnostics.add(
            "E324",
            f"{key} of task {self.name} must be {expected}, not {shown}",
            self.file.span(path) if path else self.span(key),
        )

    def string(self, key: str) -> str | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return to_text(value)
        if not isinstance(value, str):
            self.wrong(key, "text", value)
            return None
        return value

    def target_string(self, key: str) -> TargetText | None:
        """A text attribute OrgFormation evaluates per target: the text when the file knows
        it, else the expression as the file left it (`CurrentAccount`, an account's
        attributes, `AWS::AccountId`, ...), finished for each target account and region."""
        value = self.value(key)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return to_text(value)
        if isinstance(value, str):
            return value
        if is_known(value) or not is_expression(value):
            self.wrong(key, "text", value)
            return None
        unknown = next(expressions(value))
        if _names_in(unknown) & set(self.task_file.declarations):
            return None  # a parameter without a value: reported where it is declared
        kept: dict[str, Any] = value
        return kept

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(key)
        if value is not None and value not in choices:
            self.diagnostics.add(
                "E325",
                f"{key} of task {self.name} must be {' or '.join(choices)}, not {value!r}"
                f"{did_you_mean(value, choices)}",
                self.span(key),
            )
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            self.wrong(key, "true or false", value)
            return None
        return value

    def integer(self, key: str, minimum: int) -> int | None:
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.wrong(key, "a whole number", value)
            return None
        if value < minimum:
            self.diagnostics.add(
                "E325",
                f"{key} of task {self.name} must be at least {minimum}, not {value}",
                self.span(key),
            )
            return None
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        """A mapping attribute; its values may still hold expressions."""
        value = self.value(key)
        if value is None:
            return None
        if not isinstance(value, dict) or is_expression(value):
            self.wrong(key, "a mapping", value)
            return None
        return value

    def regions(self, key: str) -> tuple[str, ...] | None:
        """A binding region attribute: it decides the targets, so it cannot name one."""
        value = self.value(key)
        if value is None:
            return None
        expression = naming_target(value)
        if expression is not None:
            self.diagnostics.add(
                "E475",
                f"{key} of task {self.name} decides which regions the task deploys to, so it "
                f"cannot name the target: {describe(expression)} means nothing before there "
                "are targets; give the regions by name (or a parameter, or !FindInMap keyed by "
                "!Ref AWS::Partition)",
                self.span(key),
            )
            return None
        if not self.known(key, value):
            return None
        regions = [value] if isinstance(value, str) else value
        if not isinstance(regions, list):
            self.wrong(key, "a region or a list of regions", value)
            return None
        for index, region in enumerate(regions):
            if not isinstance(region, str) or not region:
                self.diagnostics.add(
                    "E324",
                    f"{key} of task {self.name} lists regions, and {region!r} is not one",
                    self.file.span((self.name, key, index)),
                )
                return None
            problem = unknown_region(region)
            if problem:
                where = (self.name, key, index) if isinstance(value, list) else (self.name, key)
                self.diagnostics.add("E363", problem, self.file.span(where))
        return tuple(dict.fromkeys(regions))

    def local_path(self, key: str, kind: Literal["file", "directory", "any"]) -> Path | None:
        """A path attribute, relative to the task file: checked to exist inside the project."""
        value = self.value(key)
        if value is None or not self.known(key, value):
            return None
        if not isinstance(value, str) or not value.strip():
            self.wrong(key, "a path relative to this file", value)
            return None
        if value.startswith(("s3://", "http://", "https://")):
            self.diagnostics.add(
                "E325",
                f"{key} of task {self.name} is {value!r}; orgc reads it from the project only: "
                "download it into the project and give its path",
                self.span(key),
            )
            return None
        if "\0" in value:
            self.wrong(key, "a path relative to this file (this one holds a NUL character)", value)
            return None
        target = resolved(self.file.path.parent / value)
        if not target.is_relative_to(resolved(self.task_file.builder.options.root)):
            self.diagnostics.add(
                "E327",
                f"{key} {value!r} of task {self.name} leads outside the project root; keep "
                "every file the tasks use inside the project",
                self.span(key),
            )
            return None
        if not target.exists():
            self.deferred.append(
                Diagnostic(
                    "E326",
                    f"{key} {value!r} of task {self.name} does not exist: no "
                    f"{'file or directory' if kind == 'any' else kind} {display_path(target)} "
                    f"(paths are relative to {self.file.display})",
                    self.span(key),
                )
            )
            return target
        if (kind == "file" and not target.is_file()) or (kind == "directory" and target.is_file()):
            other = "directory" if kind == "file" else "file"
            self.diagnostics.add(
                "E326",
                f"{key} {value!r} of task {self.name} is a {other}; {key} names a {kind}",
                self.span(key),
            )
            return None
        return target

    def binding(self, key: str) -> Binding | None:
        raw = self.raw.get(key)
        if raw is None:
            return None
        return self.task_file.binding(raw, (self.name, key))

    def bindings(self, key: str) -> dict[str, Binding]:
        raw = self.raw.get(key)
        if raw is None:
            return {}
        if not isinstance(raw, dict) or is_expression(raw):
            self.wrong(key, "a mapping of binding names to bindings", raw)
            return {}
        found: dict[str, Binding] = {}
        for name, item in raw.items():
            binding = self.task_file.binding(item, (self.name, key, name))
            if binding is not None:
                found[name] = binding
        return found

    def depends_on(self) -> list[tuple[str, Span | None]]:
        """The names DependsOn lists, with where each was written."""
        value = self.value("DependsOn")
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        names: list[tuple[str, Span | None]] = []
        for index, item in enumerate(items):
            path = (self.name, "DependsOn", index) if isinstance(value, list) else None
            span = self.file.span(path) if path else self.span("DependsOn")
            if not isinstance(item, str) or not item:
                self.diagnostics.add(
                    "E324",
                    f"DependsOn of task {self.name} lists task names of this file, not "
                    f"{describe(item) if is_expression(item) else repr(item)}",
                    span,
                )
                continue
            names.append((item, span))
        return names

    def templating_context(self, per_target: bool = False) -> dict[str, Any] | None:
        """TemplatingContext; with `per_target`, its values may keep what only a target knows
        (`!GetAtt CurrentAccount.AccountName`), finished for each target."""
        value = self.mapping("TemplatingContext")
        if value is None or (per_target and self._target_expressions(value)):
            return value
        expression = naming_target(value)
        if expression is not None:
            self.diagnostics.add(
                "E476",
                f"TemplatingContext of task {self.name} renders a file that has no target, so "
                f"it cannot name one: {describe(expression)} means nothing there; give the "
                "value itself",
                self.span("TemplatingContext"),
            )
            return None
        self.known("TemplatingContext", value)
        return value

    def _target_expressions(self, value: Any) -> bool:
        """Whether the expressions `value` keeps are ones a target finishes: none names a task
        parameter without a value (reported where it is declared)."""
        return not any(
            _names_in(unknown) & set(self.task_file.declarations) for unknown in expressions(value)
        )

    def common(self, context: Context) -> dict[str, Any]:
        """The attributes every task has, with what its includes hand down."""
        force_deploy = self.boolean("ForceDeploy")
        log_verbose = self.boolean("LogVerbose")
        own_skip = bool(self.boolean("Skip"))
        if own_skip:
            self.skip_reason = "Skip: true"
        elif context.skip:
            self.skip_reason = f"include {context.skipped_by} is skipped"
        return {
            "type": self.type,
            "file": self.file.display,
            "skip": own_skip or context.skip,
            "force_deploy": bool(context.force_deploy if force_deploy is None else force_deploy),
            "log_verbose": bool(context.log_verbose if log_verbose is None else log_verbose),
            "task_role_name": self.target_string("TaskRoleName") or context.task_role_name,
            "task_via_role_arn": self.target_string("TaskViaRoleArn") or context.task_via_role_arn,
            "group": context.group,
            "span": self.key_span(),
        }


def _names_in(expression: Any) -> set[str]:
    """The names an unevaluated expression refers to: !Ref targets, !GetAtt resources, the
    variables of !Sub templates."""
    names: set[str] = set()
    if isinstance(expression, dict):
        for key, argument in expression.items():
            if key == "Ref" and isinstance(argument, str):
                names.add(argument)
            elif key == "Fn::GetAtt" and isinstance(argument, list) and argument:
                names.add(str(argument[0]))
            elif key == "Fn::Sub":
                template = argument[0] if isinstance(argument, list) and argument else argument
                if isinstance(template, str):
                    names.update(sub_variables(template))
                names |= _names_in(argument)
            else:
                names |= _names_in(argument)
    elif isinstance(expression, list):
        for item in expression:
            names |= _names_in(item)
    return names
