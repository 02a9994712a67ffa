"""The one evaluator of expressions: task files, task attributes per target, templates.

`Evaluator(scope).value(value, path)` walks loaded data and computes every function the scope
allows, dispatching on `FUNCTIONS`, the registry of CloudFormation's and OrgFormation's
functions. What the scope does not know is kept in its long form with its arguments evaluated,
so a later stage can finish it: a `Ref` of a name the scope does not know stays `{"Ref": name}`;
a `Fn::Sub` that still names such variables stays a `Fn::Sub` with every known variable
substituted; a `Fn::FindInMap` whose keys need a target keeps the map's contents in place of the
map name. Names CloudFormation resolves in the stack (`Local`) are written for it.

The render stage subclasses it (`orgc.render.evaluate`) for what only a stack has: the
template's resources, references to other stacks, exports and the enumerations of a template's
bindings. Evaluation never raises for a user mistake: each is a `Problem` with the data path of
the offending node, which the caller turns into a diagnostic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from orgc.diagnostics import did_you_mean
from orgc.expressions.scope import (
    ACCOUNT_ATTRIBUTES,
    ARGUMENT,
    CURRENT_ACCOUNT,
    MAPPING,
    NO_VALUE,
    NOT_AN_ATTRIBUTE,
    NOT_BEFORE_DEPLOY,
    UNRESOLVED,
    Local,
    Problem,
    Scope,
)
from orgc.expressions.syntax import (
    Piece,
    build_sub,
    compact_json,
    copy_data,
    describe,
    first_expression,
    is_expression,
    is_known,
    json_sub,
    json_text,
    parse_sub,
    sub_pieces_of,
    to_text,
)
from orgc.load import DataPath
from orgc.model import Account

# The id of an account created by the run, as `Scope.ids` gives it before apply (orgc.render's
# known-after-apply marker of kind "account").
_NEW_ACCOUNT = re.compile(r"\{\{orgc:account:([A-Za-z0-9_.-]+)\}\}")

Read = tuple[str, str | None, str]  # what an evaluation read of its target: see Evaluator.reads


@dataclass(frozen=True, slots=True)
class Splice:
    """The items of a Fn::EnumTarget* expression, spliced into an enclosing list."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Function:
    """One function of the registry: where it comes from and the Evaluator methods that
    evaluate it as a mapping (`{"Fn::X": argument}`, taking the argument and the data path of
    the node) and as text (OrgFormation's `"Fn::X Binding ..."`, taking the whole string)."""

    origin: Literal["CloudFormation", "OrgFormation"]
    method: str | None = None
    text_method: str | None = None


# Every function orgc evaluates, by the name it is written with.
FUNCTIONS: dict[str, Function] = {
    "Ref": Function(origin="CloudFormation", method="ref"),
    "Fn::GetAtt": Function(origin="CloudFormation", method="get_att"),
    "Fn::Sub": Function(origin="CloudFormation", method="sub"),
    "Fn::Join": Function(origin="CloudFormation", method="join"),
    "Fn::Select": Function(origin="CloudFormation", method="select"),
    "Fn::FindInMap": Function(origin="CloudFormation", method="find_in_map"),
    "Fn::JsonString": Function(origin="OrgFormation", method="json_string"),
    "Fn::MD5": Function(origin="OrgFormation", method="md5"),
    "Fn::CopyValue": Function(origin="OrgFormation", method="copy_value"),
    "Fn::TargetCount": Function(
        origin="OrgFormation", method="target_count_function", text_method="target_count_text"
    ),
    "Fn::EnumTargetAccounts": Function(origin="OrgFormation", text_method="enumerate"),
    "Fn::EnumTargetRegions": Function(origin="OrgFormation", text_method="enumerate"),
}


# The logical id `!Ref` of the root takes when the organization file declares no root resource.
IMPLICIT_ROOT = "OrganizationRoot"


def evaluate(value: Any, scope: Scope, path: DataPath = ()) -> tuple[Any, tuple[Problem, ...]]:
    """`value` with every function computed that `scope` allows; `path` is where `value` sits,
    so that each problem names the node it is about. The input is not changed."""
    evaluator = Evaluator(scope)
    result = evaluator.value(value, path)
    return result, tuple(evaluator.problems)


def extend(path: DataPath | None, *keys: str | int) -> DataPath | None:
    return None if path is None else (*path, *keys)


class Evaluator:
    """Evaluates expressions in one scope; subclasses add what a stack knows."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []
        self.failed = False  # a mistake was reported
        # What the evaluation read of its target, for the render memo: a key per read, in
        # order; None where nothing is recorded. A read no key can stand for makes the
        # evaluation one of a kind: `memoisable` goes False.
        self.reads: list[Read] | None = None
        self.memoisable = True

    def report(self, kind: str, message: str, path: DataPath | None) -> None:
        self.failed = True
        self.problems.append(Problem(kind, message, path))

    def read(self, kind: str, argument: str | None = None, syntax: str = "") -> None:
        """Note, for the render memo, that the evaluation read `kind` of its target."""
        if self.reads is not None:
            self.reads.append((kind, argument, syntax))

    # --- walking ------------------------------------------------------------------------------

    def value(self, value: Any, path: DataPath | None) -> Any:
        """The evaluated value; an enumeration outside a list collapses to its one item."""
        result = self.evaluate(value, path)
        if isinstance(result, Splice):
            return result.items[0] if len(result.items) == 1 else list(result.items)
        return result

    def evaluate(self, value: Any, path: DataPath | None) -> Any:
        if isinstance(value, str):
            if value.startswith("Fn:"):
                return self.text_function(value, path)
            return value
        if isinstance(value, list):
            items: list[Any] = []
            for index, item in enumerate(value):
                result = self.evaluate(item, extend(path, index))
                if isinstance(result, Splice):
                    items.extend(result.items)
                else:
                    items.append(result)
            return items
        if isinstance(value, dict):
            if len(value) == 1:
                name, argument = next(iter(value.items()))
                function = FUNCTIONS.get(name)
                if function is not None and function.method is not None:
                    method: Callable[[Any, DataPath | None], Any] = getattr(self, function.method)
                    return method(argument, path)
            return {key: self.value(item, extend(path, key)) for key, item in value.items()}
        return value

    def text_function(self, value: str, path: DataPath | None) -> Any:
        """A string that may be an OrgFormation function written as text."""
        head = value.split(None, 1)[0]
        function = FUNCTIONS.get(head)
        if function is not None and function.text_method is not None:
            method: Callable[[str, DataPath | None], Any] = getattr(self, function.text_method)
            return method(value, path)
        if head.startswith(("Fn:EnumTarget", "Fn:TargetCount")):
            self.report(
                ARGUMENT, f"{head} has one colon; write {head.replace('Fn:', 'Fn::', 1)}", path
            )
        return value

    # --- names --------------------------------------------------------------------------------

    def lookup(self, name: str) -> Any:
        """The value the scope's `values` give `name`, or UNRESOLVED."""
        try:
            found = self.scope.values[name]
        except KeyError:
            return UNRESOLVED
        return copy_data(found)

    def current_account(self) -> str | None:
        """The account CurrentAccount means here (a logical id), or None when not known."""
        return self.scope.account

    def resolve(
        self, name: str, attribute: str | None, syntax: str, expression: str, path: DataPath | None
    ) -> Any:
        """What `name` (with `attribute`, from `!Ref`, `!GetAtt` or `${}`) means here: a value,
        a `Local` name for CloudFormation, or UNRESOLVED (kept as written)."""
        scope = self.scope
        if attribute is None and scope.values:
            found = self.lookup(name)
            if found is not UNRESOLVED:
                return found
        if name.startswith("AWS::"):
            if scope.in_template:
                return Local(name, attribute)
            known = scope.known.get(name)
            if known is None and scope.account is not None:
                self.report(
                    NOT_BEFORE_DEPLOY,
                    f"{expression} is known only inside CloudFormation; {scope.needed} must "
                    "be known before deploy",
                    path,
                )
            return UNRESOLVED if known is None else known
        if name in ("ORG::PrincipalOrgID", "ORG::StateBucketName"):
            return scope.organization_values.get(name, UNRESOLVED)
        organization = scope.organization
        if organization is None:
            return UNRESOLVED
        account: str | None = None
        if name in CURRENT_ACCOUNT:
            account = self.current_account()
            if account is None:
                return UNRESOLVED
            if account == scope.account:
                if attribute is not None and attribute.startswith("Resources."):
                    self.memoisable = False
                else:
                    self.read("account", attribute, syntax)
        elif name in organization.accounts:
            account = name
        if account is not None:
            if attribute is None:
                return self.physical_id("accounts", account)
            if attribute.startswith("Resources."):
                return self.explicit(
                    account, attribute.removeprefix("Resources."), expression, path
                )
            if syntax == "Ref":
                self.report(
                    ARGUMENT,
                    f"{expression}: !Ref takes no attribute; write !GetAtt {name}.{attribute}",
                    path,
                )
                return UNRESOLVED
            return self.account_attribute(
                organization.accounts[account], attribute, expression, path
            )
        kind = self.organization_kind(name)
        if kind is not None and attribute is not None:
            self.report(
                NOT_AN_ATTRIBUTE,
                f"{expression}: {name} is {kind}; only accounts have attributes, and !Ref {name} "
                "gives its id",
                path,
            )
            return UNRESOLVED
        if kind == "an organizational unit":
            return self.physical_id("organizationalUnits", name)
        if kind == "a policy":
            return self.physical_id("policies", name)
        if kind == "the organization root":
            return self.physical_id("root", name)
        return self.unknown(name, expression, path)

    def physical_id(self, table: str, logical_id: str) -> Any:
        found = self.scope.ids(table, logical_id)
        return UNRESOLVED if found is None else found

    def organization_kind(self, name: str) -> str | None:
        organization = self.scope.organization
        if organization is None:
            return None
        if name in organization.organizational_units:
            return "an organizational unit"
        if name in organization.policies:
            return "a policy"
        root = organization.root.logical_id
        # Without a root resource, OrgFormation's own name for it still means the root.
        if name == root or (root is None and name == IMPLICIT_ROOT):
            return "the organization root"
        return None

    def unknown(self, name: str, expression: str, path: DataPath | None) -> Any:
        """A name that means nothing in this scope: kept as written, for a later stage."""
        return UNRESOLVED

    def explicit(self, account: str, rest: str, expression: str, path: DataPath | None) -> Any:
        """`Account.Resources.Res[.Attribute]`: only a stack knows the resources."""
        return UNRESOLVED

    def account_attribute(
        self, account: Account, attribute: str, expression: str, path: DataPath | None
    ) -> Any:
        value: Any
        if attribute == "AccountName":
            value = account.name
        elif attribute == "AccountId":
            value = self.physical_id("accounts", account.logical_id)
        elif attribute == "OrganizationAccessRoleName":
            value = account.access_role_name
        elif attribute == "BuildAccessRoleName":
            assert self.scope.organization is not None
            value = (
                account.build_role_name
                or self.scope.organization.root.default_build_role_name
                or account.access_role_name
            )
        elif attribute in ("Alias", "RootEmail"):
            value = account.alias if attribute == "Alias" else account.email
            if value is None:
                self.report(
                    NO_VALUE,
                    f"{expression}: account {account.logical_id} has no {attribute}; set "
                    f"{attribute} on it in the organization file",
                    path,
                )
                value = UNRESOLVED
        elif attribute.startswith("Tags."):
            tag = attribute.removeprefix("Tags.")
            value = account.tags.get(tag)
            if value is None:
                self.report(
                    NO_VALUE,
                    f"{expression}: account {account.logical_id} has no tag {tag}; add it to "
                    "the account's Tags in the organization file",
                    path,
                )
                value = UNRESOLVED
        else:
            value = UNRESOLVED
            attributes = [a for a in ACCOUNT_ATTRIBUTES if a != "Tags.<key>"]
            self.report(
                NOT_AN_ATTRIBUTE,
                f"{expression}: accounts have no attribute {attribute}"
                f"{did_you_mean(attribute, attributes)}; use "
                f"{', '.join(ACCOUNT_ATTRIBUTES)}",
                path,
            )
        return value

    # --- CloudFormation's functions -----------------------------------------------------------

    def ref(self, argument: Any, path: DataPath | None) -> Any:
        if not isinstance(argument, str):
            return {"Ref": self.value(argument, extend(path, "Ref"))}
        name, _, attribute = argument.partition(".")
        if attribute and self.scope.values and self.lookup(argument) is not UNRESOLVED:
            return self.lookup(argument)
        resolved = self.resolve(
            name, attribute or None, "Ref", f"!Ref {argument}", extend(path, "Ref")
        )
        return _as_value(resolved, {"Ref": argument})

    def get_att(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::GetAtt")
        if isinstance(argument, str):
            name, _, attribute = argument.partition(".")
        elif (
            isinstance(argument, list)
            and len(argument) == 2
            and isinstance(argument[0], str)
            and isinstance(argument[1], str)
        ):
            head, attribute = argument
            name, dot, more = head.partition(".")
            if dot:  # the long form of an explicit reference: [Account.Resources.Res, Attr]
                attribute = f"{more}.{attribute}"
        else:
            return {"Fn::GetAtt": self.value(argument, inner)}
        expression = f"!GetAtt {name}.{attribute}"
        resolved = self.resolve(name, attribute or None, "Fn::GetAtt", expression, inner)
        return _as_value(resolved, {"Fn::GetAtt": copy_data(argument)})

    def sub(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::Sub")
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
            variables = {
                key: self.value(item, extend(inner, 1, key)) for key, item in argument[1].items()
            }
        else:
            if not self.scope.in_template:  # in a template, CloudFormation says so
                self.report(
                    ARGUMENT,
                    "!Sub takes a string, or a list of a string and a mapping of variables",
                    path,
                )
            return {"Fn::Sub": self.value(argument, inner)}
        pieces: list[Piece] = []
        remaining: dict[str, Any] = {}
        for kind, text in parse_sub(template):
            if kind != "var":
                pieces.append((kind, text))
                continue
            if text in variables:
                value = variables[text]
                if not is_known(value) and self.scope.in_template:
                    pieces.append(("var", text))  # CloudFormation substitutes it
                    remaining[text] = value
                    continue
            elif "." in text and self.scope.organization is None:
                value = UNRESOLVED  # an attribute: no task-file value has one
            else:
                name, _, attribute = text.partition(".")
                value = self.resolve(name, attribute or None, "Fn::Sub", f"${{{text}}}", inner)
            if value is UNRESOLVED:
                pieces.append(("var", text))
            elif isinstance(value, Local):
                pieces.append(("var", value.variable))
            elif is_known(value) and not isinstance(value, (dict, list)):
                pieces.append(("text", to_text(value)))
            elif is_known(value) or not is_expression(value):  # a list or mapping, even unknown
                self.report(
                    ARGUMENT,
                    f"${{{text}}} in !Sub is a {'list' if isinstance(value, list) else 'mapping'}"
                    ", not text; make text of it with !Join first",
                    path,
                )
                pieces.append(("var", text))
            else:
                spliced = sub_pieces_of(value)
                if spliced is not None and not any(
                    kind == "var" and name in variables for kind, name in spliced
                ):
                    pieces.extend(spliced)
                else:
                    pieces.append(("var", text))
                    remaining[text] = value
        return build_sub(pieces, remaining)

    def join(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::Join")
        if not self.scope.fold:
            return {"Fn::Join": self.value(argument, inner)}
        if not (isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str)):
            self.report(ARGUMENT, "!Join takes a delimiter and a list: !Join [',', [a, b]]", path)
            return {"Fn::Join": self.value(argument, inner)}
        delimiter = argument[0]
        items = self.value(argument[1], extend(inner, 1))
        if not is_known(items):
            return {"Fn::Join": [delimiter, items]}
        if not isinstance(items, list):
            self.report(ARGUMENT, "!Join joins a list; its second argument is not one", path)
            return {"Fn::Join": [delimiter, items]}
        if any(isinstance(item, (dict, list)) for item in items):
            self.report(ARGUMENT, "!Join joins text; its list holds a list or a mapping", path)
            return {"Fn::Join": [delimiter, items]}
        return delimiter.join(to_text(item) for item in items if item is not None)

    def select(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::Select")
        if not self.scope.fold:
            return {"Fn::Select": self.value(argument, inner)}
        if not (isinstance(argument, list) and len(argument) == 2):
            self.report(ARGUMENT, "!Select takes an index and a list: !Select [0, [a, b]]", path)
            return {"Fn::Select": self.value(argument, inner)}
        index = self.value(argument[0], extend(inner, 0))
        items = self.value(argument[1], extend(inner, 1))
        if not is_known(index) or not isinstance(items, list):
            if is_known(items) and not isinstance(items, list):
                self.report(
                    ARGUMENT, "!Select picks from a list; its second argument is not one", path
                )
            return {"Fn::Select": [index, items]}
        if isinstance(index, str) and index.strip().isdigit():
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int):
            self.report(ARGUMENT, f"!Select index {index!r} is not a whole number", path)
            return {"Fn::Select": [index, items]}
        if not 0 <= index < len(items):
            self.report(
                ARGUMENT,
                f"!Select index {index} is out of range for a list of {len(items)} item"
                f"{'' if len(items) == 1 else 's'}",
                path,
            )
            return {"Fn::Select": [index, items]}
        return items[index]

    def find_in_map(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::FindInMap")
        if not self.scope.fold:
            return {"Fn::FindInMap": self.value(argument, inner)}
        if not (isinstance(argument, list) and len(argument) == 3):
            self.report(
                ARGUMENT,
                "!FindInMap takes a map name and two keys: !FindInMap [Map, Key, Key]",
                path,
            )
            return {"Fn::FindInMap": self.value(argument, inner)}
        arguments = [self.value(item, extend(inner, i)) for i, item in enumerate(argument)]
        for index, item in enumerate(arguments):
            if index == 0 and isinstance(item, dict) and not is_expression(item):
                continue  # the map itself, kept by an earlier evaluation
            if is_known(item) and (isinstance(item, (dict, list)) or item is None):
                self.report(
                    ARGUMENT,
                    "!FindInMap keys are text, not a list or a mapping",
                    extend(inner, index),
                )
                return {"Fn::FindInMap": arguments}
        map_name = arguments[0]
        if not is_known(map_name):
            return {"Fn::FindInMap": arguments}
        if isinstance(map_name, dict):  # the map itself, kept by an earlier evaluation
            table: Any = map_name
        else:
            map_name = to_text(map_name)
            mappings = self.scope.mappings
            if map_name not in mappings or not isinstance(mappings[map_name], dict):
                known = ", ".join(sorted(mappings)) or "none"
                self.report(
                    MAPPING,
                    f"!FindInMap names the map {map_name!r}, which Mappings does not declare"
                    f"{did_you_mean(map_name, mappings)}; declared maps: {known}",
                    extend(inner, 0),
                )
                return {"Fn::FindInMap": arguments}
            table = mappings[map_name]
        top = arguments[1]
        if not is_known(top):
            return {"Fn::FindInMap": [copy_data(table), *arguments[1:]]}
        top = to_text(top)
        if top not in table and self._new_account_key(top, extend(inner, 1)):
            return {"Fn::FindInMap": arguments}
        if top not in table or not isinstance(table[top], dict):
            self.report(
                MAPPING,
                f"{_map_shown(map_name)} has no key {top!r}{did_you_mean(top, table)}",
                extend(inner, 1),
            )
            return {"Fn::FindInMap": arguments}
        second = arguments[2]
        if not is_known(second):
            return {"Fn::FindInMap": [{top: copy_data(table[top])}, top, second]}
        second = to_text(second)
        if second not in table[top] and self._new_account_key(second, extend(inner, 2)):
            return {"Fn::FindInMap": arguments}
        if second not in table[top]:
            self.report(
                MAPPING,
                f"{_map_shown(map_name)} has no key {second!r} under {top!r}"
                f"{did_you_mean(second, table[top])}",
                extend(inner, 2),
            )
            return {"Fn::FindInMap": arguments}
        return copy_data(table[top][second])

    def _new_account_key(self, key: str, path: DataPath | None) -> bool:
        """Whether a map key is the id of an account this run creates (the known-after-apply
        marker `ids` gave for it), reported: no map can hold that id before it exists."""
        found = _NEW_ACCOUNT.fullmatch(key)
        if found is None:
            return False
        self.report(
            MAPPING,
            f"!FindInMap is keyed by the id of account {found.group(1)}, which this run "
            "creates: no map can hold that id before the account exists; apply the "
            "organization first, then key the map by its id",
            path,
        )
        return True

    # --- OrgFormation's functions -------------------------------------------------------------

    def json_string(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::JsonString")
        pretty = False
        value_path = inner
        if isinstance(argument, list) and (
            not argument
            or len(argument) > 2
            or (len(argument) == 2 and argument[1] != "pretty-print")
        ):
            self.report(
                ARGUMENT,
                "!JsonString takes a value, or a list of a value and 'pretty-print'",
                inner,
            )
            return {"Fn::JsonString": argument}
        if isinstance(argument, list):
            pretty = len(argument) == 2
            argument, value_path = argument[0], extend(inner, 0)
        subject = self.value(argument, value_path)
        if first_expression(subject) is not None:
            if self.scope.in_template:
                return json_sub(subject, pretty=pretty)
            return {"Fn::JsonString": [subject, "pretty-print"] if pretty else subject}
        try:
            return json_text(subject, pretty=pretty)
        except ValueError:
            self.report(ARGUMENT, "!JsonString was given text that is not JSON", path)
            return {"Fn::JsonString": argument}

    def md5(self, argument: Any, path: DataPath | None) -> Any:
        inner = extend(path, "Fn::MD5")
        value = self.value(argument, inner)
        unknown = first_expression(value)
        if unknown is not None:
            if self.scope.in_template or self.scope.account is not None:
                self.report(
                    NOT_BEFORE_DEPLOY,
                    f"!MD5 hashes its value before deploy, but {describe(unknown)} is known only "
                    "inside CloudFormation",
                    inner,
                )
            return {"Fn::MD5": value}
        text = value if isinstance(value, str) else compact_json(value)
        return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()

    def copy_value(self, argument: Any, path: DataPath | None) -> Any:
        """Only a stack knows the exports it may read: kept, its arguments evaluated."""
        return {"Fn::CopyValue": self.value(argument, extend(path, "Fn::CopyValue"))}

    def target_count_function(self, argument: Any, path: DataPath | None) -> Any:
        """Only a template has bindings to count: kept as written."""
        return {"Fn::TargetCount": copy_data(argument)}

    def target_count_text(self, value: str, path: DataPath | None) -> Any:
        return value

    def enumerate(self, value: str, path: DataPath | None) -> Any:
        """Only a template has bindings to enumerate: kept as written."""
        return value


def _map_shown(map_name: Any) -> str:
    """The map of a !FindInMap as a message names it: by name, or (an earlier evaluation kept
    the map itself in place of its name) by its keys."""
    if isinstance(map_name, dict):
        return f"the map of !FindInMap (keys {', '.join(sorted(map(str, map_name)))})"
    return f"map {map_name!r}"


def _as_value(resolved: Any, unresolved: Any) -> Any:
    if resolved is UNRESOLVED:
        return unresolved
    if isinstance(resolved, Local):
        if resolved.attribute is None:
            return {"Ref": resolved.name}
        return {"Fn::GetAtt": [resolved.name, resolved.attribute]}
    return resolved
