"""What is known where an expression is evaluated, and what evaluating it finds wrong.

A `Scope` is the whole of what an evaluation may read: the task file's parameters and
mappings, and, where a target is known, the organization, the target account (what
`CurrentAccount` means) and region, the physical ids and the values known before deploy. What a
scope does not know stays as written, to be finished where it is known (a later stage, a target,
or CloudFormation itself).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orgc.load import DataPath
from orgc.model import Organization

# Kinds of problem, for each entry point's choice of diagnostic code.
MAPPING = "mapping"  # Fn::FindInMap names a map or key that does not exist
ARGUMENT = "argument"  # a function's arguments have the wrong shape or value
UNKNOWN_NAME = "unknown-name"  # a name that means nothing here
NOT_AN_ATTRIBUTE = "not-an-attribute"  # an attribute the named thing does not have
NO_VALUE = "no-value"  # the named account has no such value (no Alias, no such tag)
NOT_BEFORE_DEPLOY = "not-before-deploy"  # known only inside CloudFormation, needed before

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


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # one of the kinds above
    message: str  # one sentence, ready for a diagnostic
    path: DataPath | None  # where in the evaluated document the mistake sits


@dataclass(frozen=True, slots=True)
class Local:
    """A name CloudFormation resolves in the stack itself (a template parameter or resource, a
    pseudo parameter, a generated parameter), with the attribute of a `!GetAtt`."""

    name: str
    attribute: str | None = None

    @property
    def variable(self) -> str:
        """As a `${...}` variable of a Sub template."""
        return self.name if self.attribute is None else f"{self.name}.{self.attribute}"


class _Unresolved:
    def __repr__(self) -> str:
        return "UNRESOLVED"


UNRESOLVED: Any = _Unresolved()  # a name the scope does not know: the expression stays as written


def _no_ids(table: str, logical_id: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What names mean where a value is evaluated.

    `values` maps a name to the value `!Ref name` and `${name}` stand for (a task file's
    parameters and bindings); a lookup that raises KeyError leaves the reference as written.
    `mappings` is the `Mappings` section `Fn::FindInMap` reads. `fold` computes CloudFormation's
    own functions (Join, Select, FindInMap) once their arguments are known; a template leaves
    them to CloudFormation.

    With `organization`, account, OU, policy and root names resolve (ids through `ids`, which
    gives an id or a known-after-apply marker); with `account`, `CurrentAccount` is that account
    (a logical id) and `known` holds what is known before deploy (`AWS::AccountId`,
    `AWS::Region`, ...). `in_template` leaves pseudo parameters to CloudFormation; otherwise
    a pseudo parameter not in `known` is a mistake once a target is known (`needed` says what
    must be known before deploy, for the message).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    fold: bool = True
    organization: Organization | None = None
    account: str | None = None
    region: str | None = None
    ids: Callable[[str, str], str | None] = _no_ids
    organization_values: Mapping[str, str] = field(default_factory=dict)
    known: Mapping[str, str] = field(default_factory=dict)
    in_template: bool = False
    needed: str = "a task parameter value"


def pseudo_parameters(region: str, account_id: str, stack_name: str | None) -> dict[str, str]:
    """The pseudo parameters known before deploy for a target account and region."""
    if region.startswith("cn-"):
        partition, suffix = "aws-cn", "amazonaws.com.cn"
    elif region.startswith("us-gov-"):
        partition, suffix = "aws-us-gov", "amazonaws.com"
    else:
        partition, suffix = "aws", "amazonaws.com"
    known = {"AWS::AccountId": account_id, "AWS::Region": region}
    if stack_name is not None:
        known["AWS::StackName"] = stack_name
    known["AWS::Partition"] = partition
    known["AWS::URLSuffix"] = suffix
    return known
