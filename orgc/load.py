"""Stage 1, load: YAML files → plain data plus a side table of source positions.

CloudFormation short-form tags become their long form (`!Ref X` → `{"Ref": "X"}`), OrgFormation's
`!Include` is resolved relative to the including file, `!ReadFile`, `!MD5Dir` and `!MD5File`
relative to the top-level file (as OrgFormation resolves them once every include is in place),
never outside the project root; `!Cmd` is refused unless allowed, `<<:` merges are applied,
top-level `Definitions` is dropped. No YAML node leaves this module: later stages see dicts,
lists and scalars, and find positions through `SourceMap` by the path of keys and indexes that
leads to a value.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import re
import stat
import subprocess
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, StreamMark, YAMLError
from ruamel.yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orgc.diagnostics import CodeId, Diagnostics, Span
from orgc.limits import limit

if TYPE_CHECKING:
    from orgc.nunjucks import Rendered

DataPath: TypeAlias = tuple[str | int, ...]

_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_TAG + "merge"

# Short-form tags and the long form each becomes. `Ref`, `Condition` and `Fn::GetAtt` have
# special shapes and are handled where they are built.
INTRINSIC_TAGS: dict[str, str] = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Split": "Fn::Split",
    "!If": "Fn::If",
    "!Equals": "Fn::Equals",
    "!And": "Fn::And",
    "!Or": "Fn::Or",
    "!Not": "Fn::Not",
    "!FindInMap": "Fn::FindInMap",
    "!GetAZs": "Fn::GetAZs",
    "!ImportValue": "Fn::ImportValue",
    "!Base64": "Fn::Base64",
    "!Cidr": "Fn::Cidr",
    "!Transform": "Fn::Transform",
    "!ToJsonString": "Fn::ToJsonString",
    "!Length": "Fn::Length",
    "!Contains": "Fn::Contains",
    "!EachMemberEquals": "Fn::EachMemberEquals",
    "!EachMemberIn": "Fn::EachMemberIn",
    "!RefAll": "Fn::RefAll",
    "!ValueOf": "Fn::ValueOf",
    "!ValueOfAll": "Fn::ValueOfAll",
    # OrgFormation's own, evaluated by later stages.
    "!CopyValue": "Fn::CopyValue",
    "!JsonString": "Fn::JsonString",
    "!MD5": "Fn::MD5",
}
# Resolved here, while the including file's location is known.
FILE_TAGS = ("!Include", "!ReadFile", "!Cmd", "!MD5Dir", "!MD5File")
# The entry names !MD5Dir leaves out of a directory's digest at any depth, as OrgFormation does.
_MD5_SKIPPED = frozenset(
    {
        ".serverless",
        "node_modules",
        ".terraform",
        "terraform.tfstate",
        "terraform.tfstate.backup",
        ".terraform.lock.hcl",
    }
)


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Where each value of a loaded document was written.

    Keys are data paths (`("Organization", "Prod", "Properties", "Accounts", 0)`); each entry
    holds the span of the value and, for mapping entries, of the key. Values that came from an
    `!Include`d file carry spans in that file.
    """

    values: dict[DataPath, Span] = field(default_factory=dict)
    keys: dict[DataPath, Span] = field(default_factory=dict)
    # The text of scalars that YAML turned into something other than a string, as written, so
    # checks can quote it (an account id read as a number lost its leading zero).
    raw: dict[DataPath, str] = field(default_factory=dict)

    def span(self, path: DataPath) -> Span | None:
        """The span of the value at `path`, or of its nearest ancestor that has one."""
        for depth in range(len(path), -1, -1):
            found = self.values.get(path[:depth])
            if found is not None:
                return found
        return None

    def key_span(self, path: DataPath) -> Span | None:
        """The span of the key that holds `path`, falling back to the value's span."""
        return self.keys.get(path) or self.span(path)

    def scalar_text(self, path: DataPath) -> str | None:
        return self.raw.get(path)


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """One top-level file: its data (plain Python) and where each part of it was written."""

    path: Path  # absolute
    display: str  # how diagnostics name it
    data: Any
    source_map: SourceMap
    text: str = field(repr=False, compare=False)
    included: tuple[Path, ...] = ()  # every file read to build it, itself first

    def span(self, path: DataPath) -> Span | None:
        return self.source_map.span(path)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadOptions:
    root: Path  # !Include / !ReadFile never reach outside it
    allow_cmd: bool = False


def display_path(path: Path) -> str:
    """A path as diagnostics show it: relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_file(
    path: Path,
    options: LoadOptions,
    diagnostics: Diagnostics,
    *,
    text: str | None = None,
    templating: Mapping[str, Any] | None = None,
    context_from: str = "the task's TemplatingContext",
    where: Span | None = None,
    display: str | None = None,
) -> LoadedFile | None:
    """Load one YAML (or JSON) file; report every problem to `diagnostics`.

    Returns None only when the file could not be read or parsed at all; otherwise the data with
    whatever could be built (a broken `!Include` becomes None at its place). `text`, when given,
    is parsed instead of the file's content: positions and relative includes still refer to
    `path`. With `templating` (a TemplatingContext; `context_from` says whose) the text is
    rendered first (orgc.nunjucks) and so is every file it `!Include`s, positions still those
    of the files as written; a `.njk` file is rendered with an empty context without one.
    `where` is what a file that cannot be read is reported at; `display`, when given, is how
    diagnostics name `path` (a template read from a URL is named by it).
    """
    path = resolved(path)
    loader = _Loader(options, diagnostics)
    if display is not None:
        loader.names[path] = display
    if text is None:
        text = loader.read_text(path, where)
        if text is None:
            return None
    elif path not in loader.files_read:
        loader.files_read.append(path)
    if templating is None and path.suffix == ".njk":
        templating = {}
    if templating is not None:
        loader.templating = templating
        loader.context_from = context_from
        text = loader.render(path, text)
        if text is None:
            return None
    node = loader.compose(path, text)
    if node is None:
        return None
    data = loader.construct(node, path, ())
    if isinstance(data, dict):
        data.pop("Definitions", None)
        for key in [p for p in loader.source_map.values if p[:1] == ("Definitions",)]:
            loader.source_map.values.pop(key, None)
        data = _unwrap_organization(data, loader.source_map)
    return LoadedFile(
        path=path,
        display=display or display_path(path),
        data=data,
        source_map=loader.source_map,
        text=text,
        included=tuple(loader.files_read),
    )


def _file_function(node: MappingNode) -> tuple[str, ScalarNode] | None:
    """(tag, argument) when `node` is the long form of a file function, `Fn::ReadFile: path`."""
    if len(node.value) != 1:
        return None
    key, value = node.value[0]
    if not isinstance(key, ScalarNode) or not isinstance(value, ScalarNode):
        return None
    tag = "!" + str(key.value).removeprefix("Fn::")
    if (
        not str(key.value).startswith("Fn::")
        or tag not in FILE_TAGS
        or value.tag
        not in (
            None,
            _YAML_TAG + "str",
        )
    ):
        return None
    return tag, value


def _text(node: ScalarNode) -> str:
    """A scalar's text as YAML means it.

    The round-trip scanner marks each fold of a `>` block scalar with a BEL character, for its
    own dumper; YAML text cannot contain BEL, so removing them all is exact.
    """
    text: str = node.value
    return text.replace("\a", "") if node.style == ">" else text


class _Loader:
    """Builds plain data from ruamel's node graph, one top-level file at a time."""

    def __init__(self, options: LoadOptions, diagnostics: Diagnostics) -> None:
        self.options = options
        self.diagnostics = diagnostics
        self.source_map = SourceMap()
        self.files_read: list[Path] = []
        self._stack: list[Path] = []  # files being constructed, for include cycles
        # Bounds on what aliases expand to. A node built a second time is an alias use; nodes
        # are kept by id (and alive) so that ids of freed included trees are never reused.
        self._built: dict[int, Node] = {}
        self._alias_uses = 0
        self._alias_nodes = 0
        self._inside_alias = 0
        self._alias_site: Span | None = None
        self._displays: dict[Path, str] = {}  # display_path of each file, for its many spans
        self._most_depth = limit("orgc.yaml.depth")
        self._most_alias_nodes = limit("orgc.yaml.aliasNodes")
        self._refused: set[str] = set()  # bounds already reported for this file
        # Text templating: the context every file read is rendered with (None: not rendered),
        # and for each rendered file the source line of each line of its output.
        self.templating: Mapping[str, Any] | None = None
        self.context_from = ""
        self.rendered: dict[Path, Rendered] = {}
        self.names: dict[Path, str] = {}  # how diagnostics name a file, when not by its path

    def render(self, path: Path, text: str) -> str | None:
        from orgc.nunjucks import render

        rendered = render(
            text,
            path,
            self.templating or {},
            self.diagnostics,
            display=self.names.get(path) or display_path(path),
            context_from=self.context_from,
        )
        if rendered is None:
            return None
        self.rendered[path] = rendered
        return rendered.text

    def span(self, file: Path, node: Node) -> Span:
        """Where `node` is: in the file's source lines when it was rendered as a template."""
        display = self._displays.get(file)
        if display is None:
            display = self._displays[file] = self.names.get(file) or display_path(file)
        start, end = node.start_mark, node.end_mark
        first, last = start.line + 1, end.line + 1
        lines = self.rendered.get(file)
        if lines is not None:
            first, last = lines.source_line(first), lines.source_line(last)
        return Span(display, first, start.column + 1, last, end.column + 1)

    # --- files ------------------------------------------------------------------------------

    def read_text(self, path: Path, where: Span | None) -> str | None:
        text = read_source(path, where, self.diagnostics)
        if text is not None and path not in self.files_read:
            self.files_read.append(path)
        return text

    def compose(self, path: Path, text: str) -> Node | None:
        most = limit("orgc.yaml.depth")
        deep = _too_deep(text, most) if _could_nest_deeper(text, most) else None
        try:
            if deep is not None:
                raise RecursionError
            node: Node | None = _compose(text)
        except RecursionError:
            # The composers recurse once per level: a document deeper than orgc's bound is
            # refused before either runs (libyaml's would overflow the C stack), and one deep
            # enough for Python's recursion limit is deeper than the bound too.
            line, col = deep or (1, 1)
            self.diagnostics.add(
                "E115",
                f"mappings and lists nest more than {most} levels deep here; flatten the document",
                Span(self.names.get(path) or display_path(path), line, col),
            )
            return None
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            if path in self.rendered:
                line = self.rendered[path].source_line(line)
            problem = error.problem or error.context or "invalid YAML"
            context = f" ({error.context})" if error.context and error.problem else ""
            self.diagnostics.add(
                "E101",
                f"YAML syntax error: {problem}{context}",
                Span(self.names.get(path) or display_path(path), line, col),
            )
            return None
        except YAMLError as error:
            self.diagnostics.add(
                "E101", f"YAML syntax error: {error}", Span(display_path(path), 1, 1)
            )
            return None
        if node is None:
            # An empty document is null; it still needs a position for the source map.
            start = StreamMark(str(path), 0, 0, 0)
            return ScalarNode(_YAML_TAG + "null", "", start_mark=start, end_mark=start)
        return node

    def resolve_relative(self, base: Path, target: str, where: Span) -> Path | None:
        if "\0" in target:
            self.diagnostics.add("E104", f"{target!r} holds a NUL character: no file has it", where)
            return None
        candidate = resolved(base.parent / target)
        root = resolved(self.options.root)
        if not candidate.is_relative_to(root):
            self.diagnostics.add(
                "E105",
                f"{target!r} resolves to {display_path(candidate)}, outside the project root "
                f"{root}; keep included files inside the project",
                where,
            )
            return None
        if not candidate.exists() and not candidate.is_symlink():
            self.diagnostics.add(
                "E106",
                f"{target!r} not found: no file {display_path(candidate)} "
                f"(paths are relative to {display_path(base)})",
                where,
            )
            return None
        return candidate

    # --- nodes ------------------------------------------------------------------------------

    def construct(self, node: Node, file: Path, path: DataPath) -> Any:
        span = self.span(file, node)
        self.source_map.values[path] = span
        if len(path) > self._most_depth:
            self._refuse(
                "E115",
                f"mappings and lists nest more than {self._most_depth} levels deep here "
                "(included files counted); flatten the document",
                span,
            )
            return None
        if id(node) in self._built:
            return self._alias(node, file, path, span)
        self._built[id(node)] = node
        if self._inside_alias:
            self._alias_nodes += 1
            if self._alias_nodes > self._most_alias_nodes:
                self._refuse(
                    "E114",
                    f"aliases expand here into more than {limit('orgc.yaml.aliasNodes'):,} "
                    "values; write the repeated parts out or nest fewer aliases",
                    self._alias_site or span,
                )
                return None
        return self._build(node, file, path, span)

    def _alias(self, node: Node, file: Path, path: DataPath, span: Span) -> Any:
        """A node built before: an alias of an anchor, expanded again within the bounds."""
        # The node is the anchor's, so its span is too; the alias itself sits in the mapping
        # key or list that holds it, where the outermost expansion began.
        if not self._inside_alias:
            self._alias_site = self.source_map.keys.get(path) or (
                self.source_map.values.get(path[:-1], span) if path else span
            )
        site = self._alias_site or span
        # What an alias repeats is built again node by node, each a revisit: only the
        # outermost one is a use written in the file; all of them count as values.
        self._alias_uses += not self._inside_alias
        if self._alias_uses > limit("orgc.yaml.aliases"):
            self._refuse(
                "E114",
                f"aliases expand here into more than {limit('orgc.yaml.aliases'):,} alias uses; "
                "write the repeated parts out or nest fewer aliases",
                site,
            )
            return None
        self._inside_alias += 1
        try:
            self._alias_nodes += 1
            if self._alias_nodes > limit("orgc.yaml.aliasNodes"):
                self._refuse(
                    "E114",
                    f"aliases expand here into more than {limit('orgc.yaml.aliasNodes'):,} "
                    "values; write the repeated parts out or nest fewer aliases",
                    site,
                )
                return None
            return self._build(node, file, path, span)
        finally:
            self._inside_alias -= 1

    def _refuse(self, code: CodeId, message: str, span: Span) -> None:
        """Report a bound once per file: past it, every further node would say the same."""
        key = f"{code} {span.file}"
        if key not in self._refused:
            self._refused.add(key)
            self.diagnostics.add(code, message, span)

    def _build(self, node: Node, file: Path, path: DataPath, span: Span) -> Any:
        tag = node.tag or ""
        if tag in FILE_TAGS:
            return self._file_tag(tag, node, file, path, span)
        if tag in INTRINSIC_TAGS:
            return self._intrinsic(tag, node, file, path, span)
        if tag.startswith("!") and tag != "!":
            self.diagnostics.add(
                "E103",
                f"unknown tag {tag}; orgc knows {', '.join(sorted((*INTRINSIC_TAGS, *FILE_TAGS)))}",
                span,
            )
            return None
        if isinstance(node, MappingNode):
            long_form = _file_function(node)
            if long_form is not None:  # {"Fn::ReadFile": path}, as a JSON template writes it
                tag, argument = long_form
                return self._file_tag(tag, argument, file, path, span)
            return self._mapping(node, file, path)
        if isinstance(node, SequenceNode):
            return [self.construct(item, file, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _scalar(self, node: ScalarNode, path: DataPath) -> Any:
        tag, text = node.tag, _text(node)
        if tag == _YAML_TAG + "null":
            return None
        if tag == _YAML_TAG + "bool":
            self.source_map.raw[path] = text
            return text.lower() == "true"
        if tag == _YAML_TAG + "int":
            self.source_map.raw[path] = text
            cleaned = text.replace("_", "")
            sign = -1 if cleaned.startswith("-") else 1
            digits = cleaned.lstrip("+-").lower()
            if len(digits) > limit("orgc.yaml.integerDigits"):
                self.diagnostics.add(
                    "E116",
                    f"this number has {len(digits):,} digits, more than the "
                    f"{limit('orgc.yaml.integerDigits')} orgc reads; quote it if it is text",
                    self.source_map.values.get(path),
                )
                return None
            if digits.startswith(("0x", "0o", "0b")):
                return sign * int(digits, 0)
            return sign * int(digits)
        if tag == _YAML_TAG + "float":
            self.source_map.raw[path] = text
            lowered = text.lower().replace("_", "")
            if lowered.endswith(".inf"):
                return -math.inf if lowered.startswith("-") else math.inf
            if lowered.endswith(".nan"):
                return math.nan
            return float(lowered)
        # str, timestamps and anything else YAML 1.2 knows stay the text as written: orgc's
        # files never mean a date, and CloudFormation takes them as strings too.
        return text

    def _mapping(self, node: MappingNode, file: Path, path: DataPath) -> dict[str, Any]:
        own_span = self.source_map.values.get(path)
        merge_nodes = [value for key, value in node.value if key.tag == _MERGE_TAG]
        # Merged mappings are built first and in reverse, so that the source map ends up
        # naming what wins: explicit keys over merged ones, earlier merges over later ones.
        merged: dict[str, Any] = {}
        for merge_node in reversed(merge_nodes):
            merged.update(self._merge_sources(merge_node, file, path))
        if own_span is not None:
            self.source_map.values[path] = own_span
        result: dict[str, Any] = {}
        explicit_keys: dict[str, Span] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key_span = self.span(file, key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.add("E111", _key_message(node, key_node), key_span)
                continue
            key = _text(key_node)
            if (key_node.tag or "").startswith("!") and key_node.tag != "!":
                self.diagnostics.add("E111", f"a key cannot carry the tag {key_node.tag}", key_span)
            if key in explicit_keys:
                first = explicit_keys[key]
                self.diagnostics.add(
                    "E102",
                    f"duplicate key {key!r} (first defined at line {first.line}); remove one of "
                    "them",
                    key_span,
                )
                # Built and dropped, so that mistakes inside it are reported in this run too.
                self.construct(value_node, file, (*path, f"{key} (duplicate)"))
                continue
            explicit_keys[key] = key_span
            self.source_map.keys[path + (key,)] = key_span
            result[key] = self.construct(value_node, file, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_sources(self, node: Node, file: Path, path: DataPath) -> dict[str, Any]:
        span = self.span(file, node)
        if isinstance(node, SequenceNode) and not (node.tag or "").startswith("!"):
            combined: dict[str, Any] = {}
            for item in reversed(node.value):
                combined.update(self._merge_sources(item, file, path))
            return combined
        # Built at the enclosing path, so the merged keys' spans land where they will live in
        # the result (pointing at the anchor or into the included file).
        value = self.construct(node, file, path)
        if isinstance(value, dict):
            return value
        # None from a tag was already reported (a broken include); a written null was not.
        if value is not None or node.tag == _YAML_TAG + "null":
            self.diagnostics.add(
                "E109", "`<<:` merges a mapping or a list of mappings, not this value", span
            )
        return {}

    def _intrinsic(
        self, tag: str, node: Node, file: Path, path: DataPath, span: Span
    ) -> dict[str, Any]:
        name = INTRINSIC_TAGS[tag]
        inner = (*path, name)
        if isinstance(node, ScalarNode):
            value: Any = _text(node)
            self.source_map.values[inner] = span
        elif isinstance(node, SequenceNode):
            value = [self.construct(item, file, (*inner, i)) for i, item in enumerate(node.value)]
            self.source_map.values[inner] = span
        else:
            assert isinstance(node, MappingNode)
            value = self._mapping(node, file, inner)
            self.source_map.values[inner] = span
        if tag == "!Ref" and not isinstance(value, str):
            self.diagnostics.add("E104", "!Ref takes a logical id: !Ref MyAccount", span)
        if tag == "!GetAtt" and isinstance(value, str):
            resource, dot, attribute = value.partition(".")
            if not dot or not resource or not attribute:
                self.diagnostics.add(
                    "E104", f"!GetAtt {value!r} needs the form Resource.Attribute", span
                )
            value = [resource, attribute]
            self.source_map.values[inner + (0,)] = span
            self.source_map.values[inner + (1,)] = span
        return {name: value}

    def _file_tag(self, tag: str, node: Node, file: Path, path: DataPath, span: Span) -> Any:
        if not isinstance(node, ScalarNode) or not _text(node).strip():
            self.diagnostics.add("E104", f"{tag} takes a single path or command string", span)
            return None
        argument = _text(node).strip()
        if tag == "!Cmd":
            return self._command(argument, file, path, span)
        if argument.startswith(("http://", "https://", "s3://")):
            self.diagnostics.add(
                "E395",
                f"{tag} {argument!r}: orgc reads {tag} from the project only, not from a URL "
                "(OrgFormation fetches it); download it into the project and give its path",
                span,
            )
            return None
        if tag == "!Include":
            target = self.resolve_relative(file, argument, span)
        else:
            target = self._from_top_file(tag, file, argument, span)
        if target is None:
            return None
        if tag in ("!MD5Dir", "!MD5File"):
            return self._md5_of(tag, target, span)
        text = self.read_text(target, span)
        if text is None:
            return None
        if tag == "!ReadFile":
            return text
        if target in self._stack or target == file:
            chain = " → ".join(display_path(p) for p in (*self._stack, file, target))
            self.diagnostics.add("E108", f"include cycle: {chain}", span)
            return None
        if self.templating is not None or target.suffix == ".njk":
            # OrgFormation renders what a rendered file includes with the same context.
            outer = self.templating
            self.templating = {} if outer is None else outer
            try:
                text = self.render(target, text)
            finally:
                self.templating = outer
            if text is None:
                return None
        included = self.compose(target, text)
        if included is None:
            return None
        self._stack.append(file)
        try:
            value = self.construct(included, target, path)
        finally:
            self._stack.pop()
        # The include statement is where the user looks first; the included file's own spans
        # sit below it in the table.
        self.source_map.values[path] = span
        return value

    def _from_top_file(self, tag: str, file: Path, argument: str, span: Span) -> Path | None:
        """Where `!ReadFile`, `!MD5Dir` and `!MD5File` look: OrgFormation resolves them once
        every `!Include` is in place, against the file it was asked to read (the template or
        task file), also inside an included fragment. A path that exists only beside the
        fragment is taken from there, with a warning."""
        top = self._stack[0] if self._stack else file
        if top == file:
            return self.resolve_relative(file, argument, span)
        beside_top = resolved(top.parent / argument) if "\0" not in argument else None
        if beside_top is not None and (beside_top.exists() or beside_top.is_symlink()):
            return self.resolve_relative(top, argument, span)
        beside_fragment = resolved(file.parent / argument) if "\0" not in argument else None
        if beside_fragment is not None and beside_fragment.exists():
            found = self.resolve_relative(file, argument, span)
            if found is not None:
                self.diagnostics.add(
                    "W396",
                    f"{tag} {argument!r} in the included {display_path(file)} is read beside "
                    f"that file; OrgFormation reads it relative to {display_path(top)}, where "
                    "there is no such file: write the path relative to "
                    f"{display_path(top)}",
                    span,
                )
            return found
        return self.resolve_relative(top, argument, span)

    def _md5_of(self, tag: str, target: Path, span: Span) -> str | None:
        """The digest OrgFormation gives: the MD5 of a file's bytes (`!MD5File`, `!MD5Dir` of
        a file), or for a directory the MD5 of its entries' digests, each written as 32 hex
        characters one after the other, in the order of the entries' names compared as bytes
        (as Node lists a directory); a subdirectory's entry is its own digest by the same rule.
        Names are not hashed; an entry named as in `_MD5_SKIPPED`, at any depth, is left out,
        and so is what is neither file nor directory (a dangling link, a socket). Links are
        followed, except out of the project: such an entry is left out, with W151."""
        if target.is_file():
            try:
                return hashlib.md5(target.read_bytes(), usedforsecurity=False).hexdigest()
            except OSError as error:
                self.diagnostics.add(
                    "E106", f"{tag} cannot read {display_path(target)}: {error}", span
                )
                return None
        if not target.is_dir():
            self.diagnostics.add("E104", f"{tag} takes a file or a directory", span)
            return None
        walk = _DirectoryDigest(
            tag=tag, span=span, root=resolved(self.options.root), diagnostics=self.diagnostics
        )
        return walk.digest(target, (resolved(target),))

    def _command(self, command: str, file: Path, path: DataPath, span: Span) -> Any:
        if not self.options.allow_cmd:
            self.diagnostics.add(
                "E107",
                f"!Cmd {command!r} would run a shell command; pass --allow-cmd to permit it",
                span,
            )
            return None
        try:
            completed = subprocess.run(
                command,
                shell=True,
                cwd=file.parent,
                capture_output=True,
                timeout=300,
                check=False,
            )
        except subprocess.TimeoutExpired:
            self.diagnostics.add(
                "E107", f"!Cmd {command!r} did not finish within 300 seconds", span
            )
            return None
        except (OSError, ValueError) as error:  # ValueError: a NUL character in the command
            reason = getattr(error, "strerror", None) or error
            self.diagnostics.add("E107", f"!Cmd {command!r} could not start: {reason}", span)
            return None
        if completed.returncode != 0:
            stderr = completed.stderr.decode("utf-8", errors="replace")
            reason = stderr.strip().splitlines()[-1:] or ["no output"]
            self.diagnostics.add(
                "E107",
                f"!Cmd {command!r} failed with exit {completed.returncode}: {reason[0]}",
                span,
            )
            return None
        if len(completed.stdout) > limit("orgc.file.bytes"):
            self.diagnostics.add(
                "E112",
                f"!Cmd {command!r} printed {len(completed.stdout):,} bytes, more than the "
                f"{limit('orgc.file.bytes'):,} orgc reads",
                span,
            )
            return None
        output = decode_text(
            completed.stdout, f"the output of !Cmd {command!r}", span, self.diagnostics
        )
        if output is None:
            return None
        output = output.strip()
        try:
            value = json.loads(output)
        except RecursionError:
            value = None
            depth = limit("orgc.yaml.depth") + 1
        except ValueError:
            return output
        else:
            depth = _depth(value)
        if len(path) + depth > limit("orgc.yaml.depth"):
            self.diagnostics.add(
                "E115",
                f"the JSON that !Cmd {command!r} printed nests more than "
                f"{limit('orgc.yaml.depth')} levels deep here",
                span,
            )
            return None
        return value


# --- reading files, within bounds -----------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _DirectoryDigest:
    """One `!MD5Dir` walk of a directory tree (see `Loader._md5_of` for the digest)."""

    tag: str
    span: Span
    root: Path
    diagnostics: Diagnostics
    files: int = 0

    def digest(self, directory: Path, chain: tuple[Path, ...]) -> str | None:
        """The digest of `directory`, whose resolved path and its ancestors' are `chain`."""
        try:
            names = os.listdir(directory)
        except OSError as error:
            self.diagnostics.add(
                "E106", f"{self.tag} cannot read {display_path(directory)}: {error}", self.span
            )
            return None
        digest = hashlib.md5(usedforsecurity=False)
        # Node lists a directory sorted by strcmp of the names' bytes; so does this.
        for name in sorted(names, key=os.fsencode):
            if name in _MD5_SKIPPED:
                continue
            entry = directory / name
            real = resolved(entry)
            if not real.is_relative_to(self.root):
                self.diagnostics.add(
                    "W151",
                    f"{self.tag} {display_path(entry)} leads out of the project and is left "
                    "out of the digest, which so differs from OrgFormation's; copy what it "
                    "links to into the project",
                    self.span,
                )
                continue
            try:
                mode = entry.stat().st_mode
            except OSError:
                continue  # a dangling link: OrgFormation passes over it too
            if stat.S_ISREG(mode):
                part = self._file(entry)
            elif stat.S_ISDIR(mode):
                if real in chain:
                    self.diagnostics.add(
                        "E104",
                        f"{self.tag} {display_path(entry)} links back to "
                        f"{display_path(real)}, which holds it, so the tree has no end; "
                        "remove the link",
                        self.span,
                    )
                    return None
                part = self.digest(entry, (*chain, real))
            else:
                continue  # a socket or a device is neither file nor directory
            if part is None:
                return None
            digest.update(part.encode("ascii"))
        return digest.hexdigest()

    def _file(self, path: Path) -> str | None:
        self.files += 1
        if self.files > limit("orgc.md5Dir.files"):
            self.diagnostics.add(
                "E104",
                f"{self.tag} holds more than {limit('orgc.md5Dir.files'):,} files; "
                "hash a smaller directory",
                self.span,
            )
            return None
        try:
            return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        except OSError as error:
            self.diagnostics.add(
                "E106", f"{self.tag} cannot read {display_path(path)}: {error}", self.span
            )
            return None


def resolved(path: Path) -> Path:
    """`path` absolute with every symlink followed; a symlink loop stays as written (absolute),
    so that reading it reports the loop instead of raising here."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()


def read_source(path: Path, where: Span | None, diagnostics: Diagnostics) -> str | None:
    """The UTF-8 text of the regular file `path`, or None with a diagnostic saying why not.

    A directory, a FIFO, a device, a symlink loop, an unreadable file, a file over
    `orgc.file.bytes`, a binary file or one that is not UTF-8 is refused, never read into a
    traceback (nor, for a FIFO, waited on forever). `where` is what asked for the file (an
    `!Include`), None for a file named on the command line.
    """
    shown = display_path(path)
    most = limit("orgc.file.bytes")
    try:
        status = path.stat()
    except FileNotFoundError:
        diagnostics.add("E100", f"no such file: {shown}", where)
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            reason = "a symlink loop (the link leads back to itself); repair the link"
        else:
            reason = error.strerror or str(error)
        diagnostics.add("E100", f"cannot read {shown}: {reason}", where)
        return None
    if stat.S_ISDIR(status.st_mode):
        diagnostics.add("E100", f"{shown} is a directory; name a file", where)
        return None
    if not stat.S_ISREG(status.st_mode):
        diagnostics.add(
            "E100", f"{shown} is not a regular file (a FIFO, socket or device); name a file", where
        )
        return None
    if status.st_size > most:
        diagnostics.add(
            "E112",
            f"{shown} is {status.st_size:,} bytes, more than the {most:,} orgc reads",
            where,
        )
        return None
    try:
        with path.open("rb") as stream:
            data = stream.read(most + 1)
    except OSError as error:
        diagnostics.add("E100", f"cannot read {shown}: {error.strerror or error}", where)
        return None
    if len(data) > most:  # it grew since stat
        diagnostics.add("E112", f"{shown} is more than the {most:,} bytes orgc reads", where)
        return None
    return decode_text(data, shown, where, diagnostics)


def decode_text(data: bytes, name: str, where: Span | None, diagnostics: Diagnostics) -> str | None:
    """`data` as UTF-8 text, or None with E113 at the first byte that is not text.

    `name` is a file (the position is then in it) or a description such as a command's output
    (then the diagnostic goes to `where`).
    """
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = error.start if nul < 0 else min(nul, error.start)
    else:
        if nul < 0:
            return text
        bad = nul
    line = data.count(b"\n", 0, bad) + 1
    col = bad - (data.rfind(b"\n", 0, bad) + 1) + 1
    kind = "a NUL byte (it is a binary file)" if bad == nul else "bytes that are not UTF-8"
    if where is None:
        diagnostics.add(
            "E113", f"{name} holds {kind}; orgc reads UTF-8 text only", Span(name, line, col)
        )
    else:
        diagnostics.add(
            "E113",
            f"{name} holds {kind} at line {line}, column {col}; orgc reads UTF-8 text only",
            where,
        )
    return None


def parse_json(text: str) -> Any:
    """JSON text (a policy document written as a string, a StackPolicy, !JsonString's argument)
    as data, nested no deeper than `orgc.yaml.depth`. Raises ValueError with the reason, for a
    document that is not JSON or nests deeper (where json.loads would raise RecursionError)."""
    most = limit("orgc.yaml.depth")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"it nests more than {most} levels deep") from None
    if _depth(value) > most:
        raise ValueError(f"it nests more than {most} levels deep")
    return value


def _depth(value: Any) -> int:
    """How deeply mappings and lists nest in `value` (a scalar is 0), without recursing."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _could_nest_deeper(text: str, most: int) -> bool:
    """Whether `text` might nest deeper than `most`: a cheap upper bound from its brackets and
    indentation, so that only such texts pay for the exact check (`_too_deep`). It may say yes
    wrongly (brackets inside strings), never no wrongly."""
    flow = deepest_flow = 0
    for char in text:
        if char in "[{":
            flow += 1
            deepest_flow = max(deepest_flow, flow)
        elif char in "]}" and flow:
            flow -= 1
    if deepest_flow > most:
        return True
    block = 0
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        dashes = len(stripped) - len(stripped.lstrip("-? "))
        block = max(block, indent + dashes)
    # A block level takes at least one column, but a list may sit at its key's indentation.
    return deepest_flow + 2 * block + 2 > most


def _too_deep(text: str, most: int) -> tuple[int, int] | None:
    """The 1-based line and column where collections first nest deeper than `most`, read from
    libyaml's event stream, which does not recurse (its composer does, and overflows the C
    stack on a document 100,000 levels deep) and stops at the first level too many."""
    depth = 0
    try:
        for event in YAML(typ="safe", pure=False).parse(text):
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                depth += 1
                if depth > most:
                    mark = event.start_mark
                    return mark.line + 1, mark.column + 1
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                depth -= 1
    except (YAMLError, ImportError):
        return None
    return None


# --- the project root -----------------------------------------------------------------------

_CHECKOUT_MARKERS = (".git", ".hg")


def project_root(path: Path, root: Path | None) -> Path:
    """The directory that no file orgc reads may lie outside.

    `root` (--root) when given; else the nearest directory at or above `path` that is a
    version-control checkout (it holds .git or .hg), else the directory `path` is or lies in.
    The working directory plays no part, so running orgc from a parent directory does not open
    that parent to `!ReadFile`; the search stops below the home directory and the filesystem
    root, which are never a project.
    """
    if root is not None:
        return resolved(root)
    path = resolved(path)
    start = path if path.is_dir() else path.parent
    try:
        home: Path | None = resolved(Path.home())
    except RuntimeError:  # no home directory known
        home = None
    for directory in (start, *start.parents):
        if directory == home or directory == Path(directory.anchor):
            break
        if any((directory / marker).exists() for marker in _CHECKOUT_MARKERS):
            return directory
    return start


# --- finding the organization ---------------------------------------------------------------

_TASK_FILE_RESERVED = frozenset({"Parameters", "Mappings", "OrganizationBindings", "Definitions"})
# The task types of orgc.tasks.model.TASK_TYPES (a later stage, so named here again): a file
# that names one is a task file, and a task file in a directory orgc reads is never skipped.
TASK_TYPE_NAMES = (
    "update-organization",
    "update-stacks",
    "include",
    "copy-to-s3",
    "update-cdk",
    "update-serverless.com",
    "apply-tf",
    "register-type",
    "annotate-organization",
)
_TASK_TYPE_LINE = re.compile(
    r"^\s*Type:\s*['\"]?(" + "|".join(re.escape(t) for t in TASK_TYPE_NAMES) + r")['\"]?\s*$",
    re.MULTILINE,
)


_T = TypeVar("_T")


def is_organization_data(data: Any) -> bool:
    """Whether parsed data is an organization file, decided by its content: an `Organization`
    mapping of resources (or an AWSTemplateFormatVersion beside one), not a task file whose
    first task happens to be named Organization."""
    if not isinstance(data, dict) or "Organization" not in data:
        return False
    section = data["Organization"]
    if isinstance(section, dict) and section.get("Type") in TASK_TYPE_NAMES:
        return False  # a task named Organization
    if "AWSTemplateFormatVersion" in data:
        return True
    return not _task_types(data, organization_section=False)


def _unwrap_organization(data: Any, source_map: SourceMap) -> Any:
    """`Organization: !Include organization.yml` of a whole organization file is that file:
    its Organization section moves up, and what it says beside it (AWSTemplateFormatVersion,
    Description, ...) with it, unless the including file says it too."""
    if not isinstance(data, dict):
        return data
    section = data.get("Organization")
    if not (isinstance(section, dict) and isinstance(section.get("Organization"), dict)):
        return data
    if section.get("Type") in TASK_TYPE_NAMES:
        return data
    unwrapped: dict[str, Any] = {}
    for key, value in data.items():
        if key != "Organization":
            unwrapped[key] = value
            continue
        for inner_key, inner_value in section.items():
            if inner_key == "Organization" or inner_key not in data:
                unwrapped[inner_key] = inner_value
    for table in (source_map.values, source_map.keys):
        _move_up(table, data)
    _move_up(source_map.raw, data)
    return unwrapped


def _move_up(table: dict[DataPath, _T], outer: dict[str, Any]) -> None:
    """Entries below `Organization` of an included whole organization file, one level up."""
    below = [path for path in table if path[:1] == ("Organization",) and len(path) > 1]
    moved = {
        path[1:]: table[path] for path in below if path[1] == "Organization" or path[1] not in outer
    }
    for path in below:
        del table[path]
    table.update(moved)


def organization_task_template(
    file: LoadedFile,
) -> tuple[str, DataPath, dict[str, Any] | None] | None:
    """The `Template` of a task file's update-organization task, with its data path and the
    task's TemplatingContext when it has one."""
    if not isinstance(file.data, dict) or "AWSTemplateFormatVersion" in file.data:
        return None
    for name, task in file.data.items():
        if name in _TASK_FILE_RESERVED or not isinstance(task, dict):
            continue
        if task.get("Type") == "update-organization" and isinstance(task.get("Template"), str):
            context = task.get("TemplatingContext")
            return (
                task["Template"],
                (name, "Template"),
                context if isinstance(context, dict) else None,
            )
    return None


def _task_types(data: Any, *, organization_section: bool = True) -> set[str]:
    """The task types a parsed file's tasks have (empty for anything but a task file)."""
    if not isinstance(data, dict) or "AWSTemplateFormatVersion" in data:
        return set()
    if organization_section and is_organization_data(data):
        return set()
    return {
        task["Type"]
        for name, task in data.items()
        if name not in _TASK_FILE_RESERVED
        and isinstance(task, dict)
        and task.get("Type") in TASK_TYPE_NAMES
    }


def find_task_file(
    directory: Path, options: LoadOptions, diagnostics: Diagnostics
) -> LoadedFile | Path | None:
    """What a directory means: its task file with an update-organization task (the first by
    name), else the path of its organization.yml.

    Every .yml/.yaml file of the directory may be that task file, so one that cannot be read
    (binary, not UTF-8, a FIFO, a symlink loop) is an error, and so is one that names a task
    type but does not parse; a directory that holds task files none of which manages the
    organization is an error too (E117), never a plan of the organization alone.
    """
    task_files: list[str] = []
    try:
        entries = sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml"))
    except OSError as error:
        reason = error.strerror or str(error)
        diagnostics.add("E100", f"cannot read the directory {display_path(directory)}: {reason}")
        return None
    for candidate in entries:
        if candidate.is_dir():
            continue
        text = read_source(candidate, None, diagnostics)
        if text is None or not _TASK_TYPE_LINE.search(text):
            continue  # cheap: only files that name a task type are parsed
        probe = Diagnostics()
        file = load_file(candidate, options, probe, text=text)
        types = _task_types(file.data) if file is not None else set()
        if file is None or not types:
            # It names a task type but is no task file: broken, or a template that mentions
            # one; only what stops it from parsing is reported here.
            diagnostics.extend(d for d in probe if d.code in _UNREADABLE)
            if file is None:
                task_files.append(display_path(candidate))
            continue
        if "update-organization" in types:
            diagnostics.extend(probe)
            return file
        task_files.append(display_path(candidate))
    if task_files:
        diagnostics.add(
            "E117",
            f"{display_path(directory)} holds task files ({', '.join(task_files)}) but none with "
            "a readable update-organization task; pass the task file to read, or repair it",
            None,
        )
        return None
    for name in ("organization.yml", "organization.yaml"):
        if (directory / name).is_file():
            return directory / name
    diagnostics.add(
        "E110",
        f"{display_path(directory)} holds no task file with an update-organization task and "
        "no organization.yml",
        None,
    )
    return None


# What keeps a file from being read at all, as opposed to mistakes in what it says.
_UNREADABLE = frozenset({"E100", "E101", "E112", "E113", "E114", "E115"})


def load_organization(
    path: Path, options: LoadOptions, diagnostics: Diagnostics
) -> LoadedFile | None:
    """Find and load the organization file that `path` means.

    `path` is an organization file, a task file whose update-organization task names one, or a
    directory holding either (see `find_task_file`).
    """
    path = resolved(path)
    if path.is_dir():
        found = find_task_file(path, options, diagnostics)
        if found is None:
            return None
        if isinstance(found, Path):
            return load_file(found, options, diagnostics)
        return _follow_task_file(found, options, diagnostics)
    file = load_file(path, options, diagnostics)
    if file is None:
        return None
    return _follow_task_file(file, options, diagnostics)


def _follow_task_file(
    file: LoadedFile, options: LoadOptions, diagnostics: Diagnostics
) -> LoadedFile | None:
    if is_organization_data(file.data):
        return file
    found = organization_task_template(file)
    if found is None:
        diagnostics.add(
            "E110",
            f"{file.display} has no Organization section and no update-organization task",
            Span(file.display, 1, 1),
        )
        return None
    template, data_path, templating = found
    where = file.source_map.span(data_path)
    assert where is not None
    if "\0" in template:
        diagnostics.add(
            "E106", f"Template {template!r} holds a NUL character: no file has it", where
        )
        return None
    return load_organization_file(
        resolved(file.path.parent / template),
        options,
        diagnostics,
        named=f"Template {template!r}",
        where=where,
        templating=templating,
        context_from=f"the TemplatingContext of task {data_path[0]}",
    )


def load_organization_file(
    target: Path,
    options: LoadOptions,
    diagnostics: Diagnostics,
    *,
    named: str,
    where: Span | None,
    templating: Mapping[str, Any] | None = None,
    context_from: str = "the TemplatingContext of the update-organization task",
) -> LoadedFile | None:
    """Load the organization file `target`, which a task's Template or --organization-file
    (`named`, as written, at `where`) names: inside the project, present, with an Organization
    section; rendered as a text template with `templating` (the TemplatingContext of the
    update-organization task, which `context_from` names) when given."""
    if not target.is_relative_to(resolved(options.root)):
        diagnostics.add("E105", f"{named} is outside the project root {options.root}", where)
        return None
    if not target.exists() and not target.is_symlink():
        diagnostics.add("E106", f"{named} not found: no file {display_path(target)}", where)
        return None
    text = read_source(target, where, diagnostics)
    if text is None:
        return None
    organization = load_file(
        target,
        options,
        diagnostics,
        text=text,
        templating=templating,
        context_from=context_from,
    )
    if organization is None:
        return None
    if not (isinstance(organization.data, dict) and "Organization" in organization.data):
        diagnostics.add("E110", f"{named} has no Organization section", where)
        return None
    return organization


def read_object_body(path: Path, *, zipped: bool) -> bytes:
    """The bytes a copy-to-s3 task puts: the file itself, or a zip of the file or directory.

    The zip is reproducible (sorted entries, fixed timestamps and modes), so unchanged files
    give the same bytes and the same content hash on every run. Only regular files are read;
    a symlink in a zipped directory that leads out of it is refused, so the zip holds the
    directory and nothing from outside. Raises OSError.
    """
    if not zipped:
        return _regular_bytes(path)
    base = resolved(path)
    if path.is_dir():
        files = []
        for file in sorted(path.rglob("*")):
            if file.is_symlink() and not resolved(file).is_relative_to(base):
                raise OSError(
                    errno.EPERM,
                    f"{display_path(file)} is a symlink to {display_path(resolved(file))}, "
                    "outside the directory being zipped; copy the file in instead",
                )
            if file.is_file():
                files.append(file)
    else:
        files = [path]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            name = file.relative_to(path).as_posix() if path.is_dir() else file.name
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _regular_bytes(file))
    return buffer.getvalue()


def _regular_bytes(path: Path) -> bytes:
    """The bytes of a regular file; a FIFO or device is refused rather than waited on."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(errno.EINVAL, f"{display_path(path)} is not a regular file")
    return path.read_bytes()


def _compose(text: str) -> Node | None:
    """The YAML node tree of `text`, with tags and positions; orgc constructs values itself.

    libyaml's parser (through ruamel.yaml.clib) is about six times faster on large files, but
    stricter than YAML 1.2 in places CloudFormation files rely on (`{Type: AWS::SNS::Topic}`);
    what it refuses, ruamel's own parser reads, and that one's errors are the ones reported.
    """
    try:
        fast = YAML(typ="safe", pure=False)
    except ImportError:  # pragma: no cover - clib is a dependency; pure Python still works
        fast = None
    # An anchor defined twice is valid YAML (an alias takes the latest); ruamel only warns, and a
    # warning is not orgc's to print.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReusedAnchorWarning)
        if fast is not None:
            try:
                return cast("Node | None", fast.compose(text))
            except YAMLError:
                pass
        return cast("Node | None", YAML(typ="rt").compose(text))


def _key_message(node: MappingNode, key_node: Node) -> str:
    """E111's text; for `{{ name }}` unquoted (a template placeholder, which YAML reads as a
    mapping in a mapping) it says so."""
    if (
        node.flow_style
        and isinstance(key_node, MappingNode)
        and key_node.flow_style
        and len(key_node.value) == 1
        and isinstance(key_node.value[0][0], ScalarNode)
        and key_node.value[0][1].value in (None, "")
    ):
        name = key_node.value[0][0].value
        return (
            f"{{{{{name}}}}} is a template placeholder, which YAML reads as a mapping; fill it "
            f"in, or quote the whole value if it is meant as text: '{{{{{name}}}}}'"
        )
    return "mapping keys must be plain strings"
