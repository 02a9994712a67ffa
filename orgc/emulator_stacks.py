"""Stack tags on UpdateStack for the embedded emulator: moto taught to answer as AWS does.

CloudFormation's UpdateStack takes `Tags` as the stack's whole tag set: left out, the tags stay
as they are; given, they replace the stack's tags, and an empty list removes them all (AWS's API
reference of UpdateStack, `Tags`). A change of the tags alone is an update like any other: the
stack goes through UPDATE_IN_PROGRESS to UPDATE_COMPLETE and the tags reach its resources.
"No updates are to be performed" is AWS's answer only when the template, the parameters and the
tags are all as they are.

moto 5.2.5 cannot tell `Tags=[]` from no `Tags` (it keeps the tags), and answers "No updates
are to be performed" to an update that changes only the tags, so the tags never change.
`teach_stack_updates()` wraps moto's UpdateStack response: the query protocol sends an empty
list as a bare `Tags=`, so an empty list is seen for what it is, and an update whose tags differ
from the stack's is carried out with the template and parameters it gives.

As the other patches (orgc.emulator_stacksets), this names moto's internals and refuses any other
moto version; the server process applies it before it serves.
"""

from __future__ import annotations

from typing import Any

from orgc.emulator_stacksets import patches_moto


@patches_moto
def teach_stack_updates() -> None:
    """Patch moto, in this process, to update stack tags as AWS does (see above). Applying it
    twice is applying it once. Raises UnsupportedMoto for any other moto version."""
    from moto.cloudformation import responses

    response = responses.CloudFormationResponse
    original = response.update_stack

    def update_stack(self: Any) -> Any:
        # `Tags.member.N.Key` for a list, a bare `Tags` for an empty one; neither: not given.
        given = any(key == "Tags" or key.startswith("Tags.") for key in self.querystring)
        if not given:
            return original(self)
        wanted = {item["Key"]: item["Value"] for item in self._get_param("Tags", [])}
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        if wanted == dict(stack.tags or {}):
            return original(self)  # the tags stay: the template and parameters decide
        # The tags change: an update, even with the template and parameters as they are. The
        # instance is this request's own (moto makes one per request), so is the override.
        self._validate_different_update = lambda *arguments: None
        result = original(self)
        stack.tags = wanted  # moto passes an empty list on as "keep the tags"
        return result

    setattr(response, "update_stack", update_stack)  # noqa: B010 - moto looks the action up by name
