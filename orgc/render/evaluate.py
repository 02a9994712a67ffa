"""The evaluator of org-aware expressions in one stack's template or task parameters.

`_Evaluator.value(value, path)` returns the value with OrgFormation's expressions replaced:
`CurrentAccount` and account attributes, OU, policy and root ids, `ORG::` names, `!Sub`
variables orgc can know, `Fn::JsonString` and `Fn::MD5`. CloudFormation's own functions are kept
with their arguments evaluated. The enumerations live in `loops`, references to other stacks and
`!CopyValue` in `references`; their methods are bound onto `_Evaluator` here, and `_FUNCTIONS`
is the registry of intrinsic functions it dispatches on. Mistakes go to the evaluator's
`Diagnostics` (E420-E427), and an expression that cannot be resolved is left as written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orgc.diagnostics import Diagnostics, Span, did_you_mean
from orgc.load import DataPath
from orgc.model import Account, Organization
from orgc.render import loops, references
from orgc.render.model import _Placed, _Ref, _Resolved, _Splice, _Target, known_after_apply
from orgc.render.values import (
    _SUB_VARIABLE,
    _compact_json,
    _copy,
    _describe,
    _escape,
    _extend,
    _first_intrinsic,
    _json_text,
    _simplify_sub,
)

if TYPE_CHECKING:
    from orgc.render.stacks import _Job


CURRENT_ACCOUNT = ("CurrentAccount", "AWSAccount")
ACCOUNT_ATTRIBUTES = (
    "AccountName",
    "AccountId",
    "Alias",
    "RootEmail",
    "Tags.<key>",
    "OrganizationAccessRoleName",
    "BuildAccessRoleName",
)


class _Evaluator:
    """Evaluates the org-aware expressions of one stack's template or task parameters.

    In the template, CloudFormation's own functions are kept and their arguments evaluated. For a
    task parameter (`parameter` set) every value must be known before deploy. A probe (used for
    export names before every stack is rendered) records nothing.
    """

    def __init__(
        self,
        job: _Job,
        target: _Target,
        diagnostics: Diagnostics,
        *,
        parameter: str | None = None,
        probe: bool = False,
    ) -> None:
        self.job = job
        self.run = job.run
        self.target = target
        self.diagnostics = diagnostics
        self.parameter = parameter
        self.probe = probe
        self.placed: _Placed | None = None  # the resource being rendered
        # A task parameter whose whole value is a !CopyValue is read at apply time.
        self.whole_parameter = False
        self.failed = False  # an error was reported
        # What the render read of its target, for the render memo (see `_Job.render`): a key
        # per read, in order; None where nothing is recorded (task parameters, probes). A read
        # the memo cannot key (an export's stack, another account's resources through
        # CurrentAccount) makes the render one of a kind: `memoisable` goes False.
        self.reads: list[tuple[str, str | None, str]] | None = None
        self.memoisable = True

    def span(self, path: DataPath | None) -> Span | None:
        if path is None:
            return self.job.task.span
        return self.job.template.file.span(path)

    def error(self, code: str, message: str, path: DataPath | None) -> None:
        self.failed = True
        self.diagnostics.add(code, message, self.span(path))

    @property
    def placed_loop(self) -> str | None:
        """The account a ForeachAccount copy being rendered iterates, else None."""
        return self.placed.loop_account if self.placed is not None else None

    def read(self, kind: str, argument: str | None = None) -> None:
        """Note, for the render memo, that the render read `kind` of its target."""
        if self.reads is not None:
            self.reads.append((kind, argument, ""))

    @property
    def current_account(self) -> str:
        """The account CurrentAccount means here: a ForeachAccount copy's, or the stack's."""
        if self.placed is not None and self.placed.loop_account is not None:
            return self.placed.loop_account
        return self.target.key.account

    # --- walking ------------------------------------------------------------------------------

    def value(self, value: Any, path: DataPath | None) -> Any:
        """The evaluated value; an enumeration outside a list collapses to its one item."""
        result = self.evaluate(value, path)
        if isinstance(result, _Splice):
            return result.items[0] if len(result.items) == 1 else list(result.items)
        return result

    def evaluate(self, value: Any, path: DataPath | None) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if isinstance(value, list):
            items: list[Any] = []
            for index, item in enumerate(value):
                result = self.evaluate(item, _extend(path, index))
                if isinstance(result, _Splice):
                    items.extend(result.items)
                else:
                    items.append(result)
            return items
        if isinstance(value, dict):
            if len(value) == 1:
                name, argument = next(iter(value.items()))
                function = _FUNCTIONS.get(name)
                if function is not None:
                    return function(self, argument, _extend(path, name))
            return {key: self.value(item, _extend(path, key)) for key, item in value.items()}
        return value

    # --- names --------------------------------------------------------------------------------

    def resolve(
        self, name: str, attribute: str | None, syntax: str, expression: str, path: DataPath | None
    ) -> _Resolved:
        """What `name` (with `attribute`, from `!Ref`, `!GetAtt` or `${}`) means here."""
        if name.startswith("AWS::"):
            if self.parameter is None:
                return _Ref(name, attribute)
            known = self.target.known.get(name)
            if known is None:
                self.error(
                    "E427",
                    f"{expression} is known only inside CloudFormation; a task parameter value "
                    "must be known before deploy",
                    path,
                )
            return known
        if name in ("ORG::PrincipalOrgID", "ORG::StateBucketName"):
            return self.run.organization_value(name)
        if self.parameter is None:
            if name in self.job.declared:
                return _Ref(name, attribute)
            if name in self.job.template.resources or name in self.job.holders:
                return self.resource(name, attribute, expression, path)
        organization = self.run.organization
        if name in CURRENT_ACCOUNT and self.reads is not None and self.placed_loop is None:
            if attribute is not None and attribute.startswith("Resources."):
                self.memoisable = False
            else:
                self.reads.append(("account", attribute, syntax))
        account = self.current_account if name in CURRENT_ACCOUNT else None
        if account is None and name in organization.accounts:
            account = name
        if account is not None:
            if attribute is None:
                return self.run.physical_id("accounts", account)
            if attribute.startswith("Resources."):
                return self.explicit(
                    account, attribute.removeprefix("Resources."), expression, path
                )
            if syntax == "Ref":
                self.error(
                    "E426",
                    f"{expression}: !Ref takes no attribute; write !GetAtt {name}.{attribute}",
                    path,
                )
                return None
            return self.account_attribute(
                organization.accounts[account], attribute, expression, path
            )
        kind = _organization_kind(organization, name)
        if kind is not None and attribute is not None:
            self.error(
                "E421",
                f"{expression}: {name} is {kind}; only accounts have attributes, and !Ref {name} "
                "gives its id",
                path,
            )
            return None
        if kind == "an organizational unit":
            return self.run.physical_id("organizationalUnits", name)
        if kind == "a policy":
            return self.run.physical_id("policies", name)
        if kind == "the organization root":
            return self.run.context.root_id or known_after_apply("root")
        self.unknown(name, expression, path)
        return None

    def unknown(self, name: str, expression: str, path: DataPath | None) -> None:
        organization = self.run.organization
        names = [
            *organization.accounts,
            *organization.organizational_units,
            *organization.policies,
            *CURRENT_ACCOUNT,
        ]
        if self.parameter is None:
            names += [*self.job.declared, *self.job.template.resources]
            what = "a parameter or resource of this template, nor an account, OU or policy"
        else:
            what = "an account, OU or policy (task parameters cannot name template resources)"
        self.error("E420", f"{expression}: {name} is not {what}{did_you_mean(name, names)}", path)

    def account_attribute(
        self, account: Account, attribute: str, expression: str, path: DataPath | None
    ) -> str | None:
        value: str | None
        if attribute == "AccountName":
            value = account.name
        elif attribute == "AccountId":
            value = self.run.physical_id("accounts", account.logical_id)
        elif attribute == "OrganizationAccessRoleName":
            value = account.access_role_name
        elif attribute == "BuildAccessRoleName":
            value = (
                account.build_role_name
                or self.run.organization.root.default_build_role_name
                or account.access_role_name
            )
        elif attribute in ("Alias", "RootEmail"):
            value = account.alias if attribute == "Alias" else account.email
            if value is None:
                self.error(
                    "E422",
                    f"{expression}: account {account.logical_id} has no {attribute}; set "
                    f"{attribute} on it in the organization file",
                    path,
                )
        elif attribute.startswith("Tags."):
            tag = attribute.removeprefix("Tags.")
            value = account.tags.get(tag)
            if value is None:
                self.error(
                    "E422",
                    f"{expression}: account {account.logical_id} has no tag {tag}; add it to "
                    "the account's Tags in the organization file",
                    path,
                )
        else:
            value = None
            attributes = [a for a in ACCOUNT_ATTRIBUTES if a != "Tags.<key>"]
            self.error(
                "E421",
                f"{expression}: accounts have no attribute {attribute}"
                f"{did_you_mean(attribute, attributes)}; use "
                f"{', '.join(ACCOUNT_ATTRIBUTES)}",
                path,
            )
        return value

    # --- resources ----------------------------------------------------------------------------

    resource = references.resource
    explicit = references.explicit
    across = references.across

    # --- functions ----------------------------------------------------------------------------

    def ref(self, argument: Any, path: DataPath | None) -> Any:
        if not isinstance(argument, str):
            return {"Ref": self.value(argument, path)}
        name, _, attribute = argument.partition(".")
        resolved = self.resolve(name, attribute or None, "Ref", f"!Ref {argument}", path)
        return _as_value(resolved, {"Ref": argument})

    def get_att(self, argument: Any, path: DataPath | None) -> Any:
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
            return {"Fn::GetAtt": self.value(argument, path)}
        expression = f"!GetAtt {name}.{attribute}"
        resolved = self.resolve(name, attribute or None, "Fn::GetAtt", expression, path)
        return _as_value(resolved, {"Fn::GetAtt": _copy(argument)})

    def sub(self, argument: Any, path: DataPath | None) -> Any:
        variables: dict[str, Any] = {}
        if isinstance(argument, str):
            text = argument
        elif (
            isinstance(argument, list)
            and len(argument) == 2
            and isinstance(argument[0], str)
            and isinstance(argument[1], dict)
        ):
            text = argument[0]
            variables = {
                key: self.value(item, _extend(path, 1, key)) for key, item in argument[1].items()
            }
        else:
            return {"Fn::Sub": self.value(argument, path)}

        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!") or inner in variables:
                return match.group(0)
            name, _, attribute = inner.partition(".")
            resolved = self.resolve(name, attribute or None, "Fn::Sub", f"${{{inner}}}", path)
            if resolved is None:
                return match.group(0)
            if isinstance(resolved, _Ref):
                suffix = f".{resolved.attribute}" if resolved.attribute else ""
                return f"${{{resolved.name}{suffix}}}"
            return _escape(resolved)

        return _simplify_sub(_SUB_VARIABLE.sub(replace, text), variables)

    string = loops.string
    target_count = loops.target_count
    target_count_function = loops.target_count_function
    named_binding = loops.named_binding
    enumerate = loops.enumerate
    fill_account = loops.fill_account

    def json_string(self, argument: Any, path: DataPath | None) -> Any:
        pretty = False
        value_path = path
        if isinstance(argument, list):
            if (
                not argument
                or len(argument) > 2
                or (len(argument) == 2 and argument[1] != "pretty-print")
            ):
                self.error(
                    "E426",
                    "!JsonString takes a value, or a list of a value and 'pretty-print'",
                    path,
                )
                return {"Fn::JsonString": argument}
            pretty = len(argument) == 2
            argument, value_path = argument[0], _extend(path, 0)
        return _json_text(self.value(argument, value_path), pretty=pretty)

    def md5(self, argument: Any, path: DataPath | None) -> Any:
        value = self.value(argument, path)
        unknown = _first_intrinsic(value)
        if unknown is not None:
            self.error(
                "E427",
                f"!MD5 hashes its value before deploy, but {_describe(unknown)} is known only "
                "inside CloudFormation",
                path,
            )
            return {"Fn::MD5": value}
        text = value if isinstance(value, str) else _compact_json(value)
        return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()

    copy_value = references.copy_value
    find_export = references.find_export


_FUNCTIONS: dict[str, Callable[[_Evaluator, Any, DataPath | None], Any]] = {
    "Ref": _Evaluator.ref,
    "Fn::GetAtt": _Evaluator.get_att,
    "Fn::Sub": _Evaluator.sub,
    "Fn::CopyValue": _Evaluator.copy_value,
    "Fn::JsonString": _Evaluator.json_string,
    "Fn::MD5": _Evaluator.md5,
    "Fn::TargetCount": _Evaluator.target_count_function,
}


def _organization_kind(organization: Organization, name: str) -> str | None:
    if name in organization.organizational_units:
        return "an organizational unit"
    if name in organization.policies:
        return "a policy"
    if name == organization.root.logical_id:
        return "the organization root"
    return None


def _as_value(resolved: _Resolved, unresolved: Any) -> Any:
    if resolved is None:
        return unresolved
    if isinstance(resolved, str):
        return resolved
    if resolved.attribute is None:
        return {"Ref": resolved.name}
    return {"Fn::GetAtt": [resolved.name, resolved.attribute]}
