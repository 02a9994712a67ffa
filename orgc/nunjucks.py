"""Text templating as OrgFormation does it with Nunjucks, rendered by Jinja2's sandbox.

A file is rendered as text before it is read as YAML when a `TemplatingContext` applies to it:
an update-stacks template with the task's, a task file an `include` names with the include's,
the organization file with its update-organization task's, and every file those `!Include`
(OrgFormation renders them with the same context); a `.njk` file `!Include`d without one is
rendered with an empty context. The environment is set up as OrgFormation sets up Nunjucks: no
autoescaping, `trim_blocks` and `lstrip_blocks`, an undefined name renders as empty text (a
warning here, W450), and its `object` filter (JSON of the value) beside Nunjucks' `dump`. The
Nunjucks spellings Jinja lacks are accepted: `elseif`, `===` and `!==`, `null`.

Rendering stays within orgc's bounds (orgc/data/limits.json: output size, steps of template
code). `Rendered.lines` maps each line of the output to the line of the source that made it,
so that YAML errors and every later diagnostic point into the file the user wrote.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from orgc.diagnostics import Diagnostics, Span
from orgc.limits import limit

NUNJUCKS_SUFFIX = ".njk"


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    lines: tuple[int, ...]  # source line (1-based) of each output line, output line 1 first

    def source_line(self, line: int) -> int:
        """The line of the source that output line `line` (1-based) came from."""
        if not self.lines:
            return line
        return self.lines[min(max(line, 1), len(self.lines)) - 1]


class _TooLarge(Exception):
    """Rendering passed one of orgc's bounds on Jinja (orgc/data/limits.json)."""


class _Undefined(ChainableUndefined):
    """Nunjucks' undefined: empty text, empty in a loop, false in a test, and `a.b.c` of it
    undefined too; each name used is noted for a warning."""

    __slots__ = ()

    def __str__(self) -> str:
        _note_undefined(self._undefined_name)
        return ""

    def __iter__(self) -> Any:
        _note_undefined(self._undefined_name)
        return iter(())

    def __bool__(self) -> bool:
        _note_undefined(self._undefined_name)
        return False


# The names the running render found undefined, in the order they were used (the render is
# single-threaded: orgc renders one file at a time).
_UNDEFINED_USED: list[str] = []


def _note_undefined(name: str | None) -> None:
    if name is not None and name not in _UNDEFINED_USED:
        _UNDEFINED_USED.append(name)


def _to_json(value: Any, indent: int | None = None) -> str:
    """JSON.stringify of a value: compact unless indented; Undefined is nothing."""
    if isinstance(value, ChainableUndefined):
        return ""
    return json.dumps(
        value,
        indent=indent,
        separators=None if indent else (",", ":"),
        ensure_ascii=False,
        default=str,
    )


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with `*` and `**` refused where they would build a huge value: Jinja's own
    sandbox bounds `range` but not `'x' * 10**9` or `2 ** 10**9`."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Undefined names render empty here, as in Nunjucks; what the sandbox refuses must not.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        most = limit("orgc.jinja.outputBytes")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, (str, list, tuple))
                    and isinstance(count, int)
                    and len(sequence) * count > most
                ):
                    raise _TooLarge(f"a value of more than {most:,} items or characters")
        if operator == "**" and isinstance(right, int) and abs(right) > 1024:
            raise _TooLarge(f"a power with the exponent {right:,}")
        return super().call_binop(context, operator, left, right)


def _as_javascript(value: Any) -> Any:
    """A value as Nunjucks writes it into text: true/false, nothing for null, a list's items
    joined with commas."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(str(_as_javascript(item)) for item in value)
    return value


def _environment() -> _BoundedEnvironment:
    environment = _BoundedEnvironment(
        undefined=_Undefined,
        finalize=_as_javascript,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["object"] = _to_json
    environment.filters["dump"] = _to_json
    environment.globals["null"] = None
    return environment


class _StepCounter:
    """Counts the lines of the template's own code Jinja runs, across every loop and macro,
    and stops the rendering past `orgc.jinja.steps`: a loop without output would otherwise
    run unbounded. Keeps the last line run, which tells where each piece of output came from."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.steps = 0
        self.line = 0
        self.most = limit("orgc.jinja.steps")

    def __call__(self, frame: FrameType, event: str, argument: Any) -> Any:
        if event == "call":
            return self._line if frame.f_code.co_filename == self.filename else None
        return None

    def _line(self, frame: FrameType, event: str, argument: Any) -> Any:
        if event == "line":
            self.steps += 1
            self.line = frame.f_lineno
            if self.steps > self.most:
                raise _TooLarge(f"more than {self.most:,} steps of template code")
        return self._line


# Nunjucks spellings inside `{% %}` and `{{ }}` that Jinja writes otherwise.
_TAG = re.compile(r"\{%-?.*?-?%\}|\{\{-?.*?-?\}\}", re.DOTALL)
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def _jinja_spelling(text: str) -> str:
    def tag(match: re.Match[str]) -> str:
        code = match.group(0)
        pieces = _STRING.split(code)
        strings = _STRING.findall(code)
        out: list[str] = []
        for index, piece in enumerate(pieces):
            spelt = piece.replace("===", "==").replace("!==", "!=")
            out.append(re.sub(r"^(\{%-?\s*)elseif\b", r"\1elif", spelt))
            if index < len(strings):
                out.append(strings[index])
        return "".join(out)

    return _TAG.sub(tag, text)


def render(
    text: str,
    path: Path,
    context: Mapping[str, Any],
    diagnostics: Diagnostics,
    *,
    display: str,
    context_from: str = "the task's TemplatingContext",
) -> Rendered | None:
    """`text` (the content of `path`, which diagnostics name `display`) rendered with
    `context`; None when rendering failed, at the line of `path` where it stopped (E354, E364).
    `context_from` says in messages where the context comes from."""
    environment = _environment()
    filename = str(path)
    line = 1
    counter = _StepCounter(filename)
    most = limit("orgc.jinja.outputBytes")
    previous = sys.gettrace()
    _UNDEFINED_USED.clear()
    try:
        code = environment.compile(_jinja_spelling(text), name=path.name, filename=filename)
        compiled = environment.template_class.from_code(
            environment, code, environment.make_globals(None)
        )
        parts: list[tuple[str, int]] = []
        size = 0
        sys.settrace(counter)
        try:
            for part in compiled.generate(dict(context)):
                size += len(part)
                if size > most:
                    raise _TooLarge(f"more than {most:,} characters of output")
                source = compiled.get_corresponding_lineno(counter.line) if counter.line else 1
                parts.append((part, source))
        finally:
            sys.settrace(previous)
    except TemplateSyntaxError as error:
        line = error.lineno
        reason = str(error.message or error).rstrip(".")
        diagnostics.add("E354", f"Jinja syntax error: {reason}", Span(display, line, 1))
        return None
    except UndefinedError as error:
        line = _failing_line(error, filename) or line
        reason = str(error.message or error).rstrip(".")
        diagnostics.add(
            "E354", f"{reason}: give it a value in {context_from}", Span(display, line, 1)
        )
        return None
    except _TooLarge as error:
        line = _failing_line(error, filename) or line
        diagnostics.add(
            "E364",
            f"rendering stopped here: it made {error}, past orgc's bound; loop fewer times",
            Span(display, line, 1),
        )
        return None
    # The template's code is the user's: whatever it raises (a SecurityError of the sandbox, a
    # division by zero, a filter given the wrong type) is a mistake in the file.
    except Exception as error:
        line = _failing_line(error, filename) or line
        reason = str(error).rstrip(".")
        diagnostics.add(
            "E354",
            f"rendering stopped here: {reason}; fix the Jinja expression on this line",
            Span(display, line, 1),
        )
        return None
    for name in _UNDEFINED_USED:
        diagnostics.add(
            "W450",
            f"{name} is not defined in {context_from}; it renders as empty text, as "
            "OrgFormation's Nunjucks renders it",
            Span(display, _first_use(text, name), 1),
        )
    _UNDEFINED_USED.clear()
    return Rendered("".join(part for part, _ in parts), _line_map(text, parts))


def _first_use(text: str, name: str) -> int:
    """The line of the first `{{`/`{%` tag of `text` that mentions `name`."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    for match in _TAG.finditer(text):
        if pattern.search(match.group(0)):
            return text.count("\n", 0, match.start()) + 1
    return 1


def _line_map(source: str, parts: list[tuple[str, int]]) -> tuple[int, ...]:
    """The source line of each output line: that of the first piece of output on it. A piece
    copied from the source (text between tags) keeps its own lines; one an expression made
    stays on the expression's line."""
    starts = [0]
    starts.extend(index + 1 for index, char in enumerate(source) if char == "\n")
    lines: list[int] = []
    open_line = True  # the next character output starts a line
    for part, line in parts:
        if not part:
            continue
        first, copied = line, False
        begin = starts[line - 1] if 0 < line <= len(starts) else 0
        found = source.find(part, begin)
        # Jinja marks the line of an expression exactly, that of text between tags only roughly.
        if found >= 0 and bisect.bisect_right(starts, found) <= line + 3:
            first, copied = bisect.bisect_right(starts, found), True
        if open_line:
            lines.append(first)
        newlines = [index for index, char in enumerate(part) if char == "\n"]
        for count, index in enumerate(newlines, start=1):
            if index + 1 < len(part):
                lines.append(first + count if copied else first)
        open_line = part.endswith("\n")
    if open_line:
        lines.append(lines[-1] if lines else 1)
    return tuple(lines)


def _failing_line(error: BaseException, filename: str) -> int | None:
    """The template line Jinja was running when `error` was raised (its innermost frame)."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
