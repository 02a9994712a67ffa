"""Expressions: the one evaluator of CloudFormation's and OrgFormation's functions.

Task files (parameters, attributes), templates and StackSet templates are all evaluated here.
`syntax` recognises and writes expressions (`SUB_VARIABLE`, `describe`, `to_text`, JSON text);
`scope` says what is known where a value is evaluated (`Scope`) and what can go wrong
(`Problem`); `evaluator` holds `FUNCTIONS`, the registry of functions, and `Evaluator`, which
the render stage extends with what only a stack knows. `evaluate_for_target` evaluates a task
attribute for one target account and region, with `CurrentAccount` known.
"""

from orgc.expressions.evaluator import (
    FUNCTIONS,
    Evaluator,
    Function,
    Read,
    Splice,
    evaluate,
    extend,
)
from orgc.expressions.scope import (
    ACCOUNT_ATTRIBUTES,
    ARGUMENT,
    CURRENT_ACCOUNT,
    MAPPING,
    NO_VALUE,
    NOT_AN_ATTRIBUTE,
    NOT_BEFORE_DEPLOY,
    UNKNOWN_NAME,
    UNRESOLVED,
    Local,
    Problem,
    Scope,
    pseudo_parameters,
)
from orgc.expressions.syntax import (
    SUB_VARIABLE,
    compact_json,
    copy_data,
    describe,
    escape,
    expressions,
    first_expression,
    is_expression,
    is_known,
    json_text,
    names_used,
    parameter_text,
    parse_sub,
    static,
    sub_variables,
    to_text,
)
from orgc.expressions.targets import (
    TARGET_NAMES,
    TargetText,
    evaluate_for_target,
    naming_target,
    organization_ids,
    target_scope,
    target_text,
)

__all__ = [
    "ACCOUNT_ATTRIBUTES",
    "ARGUMENT",
    "CURRENT_ACCOUNT",
    "FUNCTIONS",
    "MAPPING",
    "NOT_AN_ATTRIBUTE",
    "NOT_BEFORE_DEPLOY",
    "NO_VALUE",
    "SUB_VARIABLE",
    "TARGET_NAMES",
    "UNKNOWN_NAME",
    "UNRESOLVED",
    "Evaluator",
    "Function",
    "Local",
    "Problem",
    "Read",
    "Scope",
    "Splice",
    "TargetText",
    "compact_json",
    "copy_data",
    "describe",
    "escape",
    "evaluate",
    "evaluate_for_target",
    "expressions",
    "extend",
    "first_expression",
    "is_expression",
    "is_known",
    "json_text",
    "names_used",
    "naming_target",
    "organization_ids",
    "parameter_text",
    "parse_sub",
    "pseudo_parameters",
    "static",
    "sub_variables",
    "target_scope",
    "target_text",
    "to_text",
]
