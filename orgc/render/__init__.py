"""Stage 5, render: one CloudFormation template and parameter set per stack target.

For each `update-stacks` task and each (account, region) its bindings reach, the render stage
builds the template that stack will hold: only the resources bound to that target, `ForeachAccount`
resources replicated, org-aware expressions (`Fn::EnumTargetAccounts`, `CurrentAccount`,
`!GetAtt Account.Tags.k`, `ORG::PrincipalOrgID`, ...) replaced by plain values, and references to
resources of other targets turned into a generated Output on the producer and a generated
Parameter on the consumer. A pure function of its inputs: no AWS calls.

Values that exist only after apply (the id of an account created in the same run) are written as
`known_after_apply` markers, which apply replaces before it deploys.

The package, by concern: `model` (markers and data shapes), `evaluate` (orgc.expressions'
evaluator as one stack target sees it: template resources, references to other stacks,
!CopyValue, the enumerations of bindings) and `stacks` (per-target assembly, the render memo and
`render_project`). Other stages import only from `orgc.render`.
"""

from orgc.expressions import ACCOUNT_ATTRIBUTES, CURRENT_ACCOUNT
from orgc.render.model import (
    Reference,
    RenderContext,
    RenderedStack,
    StackKey,
    fill_markers,
    known_after_apply,
    markers,
)
from orgc.render.stacks import TEMPLATE_FORMAT_VERSION, render_project

__all__ = [
    "ACCOUNT_ATTRIBUTES",
    "CURRENT_ACCOUNT",
    "TEMPLATE_FORMAT_VERSION",
    "Reference",
    "RenderContext",
    "RenderedStack",
    "StackKey",
    "fill_markers",
    "known_after_apply",
    "markers",
    "render_project",
]
