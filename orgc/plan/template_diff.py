"""What an update does to a stack's template: the resources added, removed and modified, and a
unified diff of what changed, bounded in size.

Pure: the template deployed (as AWS returned its body) against the one the files give. The
diff is of the changed resources and of the other sections that changed, each as indented JSON,
so a reviewer reads what changes and not the whole template.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping

from orgc.plan.specs import Json, ResourceChange, TemplateChanges

# A plan shows at most this many lines of template diff per stack; the rest is counted.
DIFF_LINE_LIMIT = 120


def parse_template(body: str) -> Mapping[str, Json] | None:
    """The template as JSON, or None when it is not (a YAML template written outside orgc)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, Mapping) else None


def template_changes(
    before: Mapping[str, Json], after: Mapping[str, Json], *, limit: int = DIFF_LINE_LIMIT
) -> TemplateChanges | None:
    """How `after` differs from `before`; None when they are the same."""
    if before == after:
        return None
    old, new = _resources(before), _resources(after)
    resources = [
        ResourceChange(
            logical_id=logical_id,
            resource_type=_type(new.get(logical_id, old.get(logical_id))),
            change="added"
            if logical_id not in old
            else "removed"
            if logical_id not in new
            else "modified",
        )
        for logical_id in sorted({*old, *new})
        if old.get(logical_id) != new.get(logical_id)
    ]
    sections = sorted(
        name
        for name in {*before, *after}
        if name != "Resources" and before.get(name) != after.get(name)
    )
    lines: list[str] = []
    for change in resources:
        lines.extend(
            _diff(
                old.get(change.logical_id),
                new.get(change.logical_id),
                f"Resources.{change.logical_id}",
            )
        )
    for name in sections:
        lines.extend(_diff(before.get(name), after.get(name), name))
    shown = lines[:limit]
    return TemplateChanges(
        resources=tuple(resources),
        sections=tuple(sections),
        diff=tuple(shown),
        lines_cut=len(lines) - len(shown),
    )


def _resources(template: Mapping[str, Json]) -> Mapping[str, Json]:
    found = template.get("Resources")
    return found if isinstance(found, Mapping) else {}


def _type(resource: Json) -> str:
    if isinstance(resource, Mapping):
        found = resource.get("Type")
        if isinstance(found, str):
            return found
    return "?"


def _diff(before: Json, after: Json, name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            _lines(before),
            _lines(after),
            f"{name} (deployed)",
            f"{name} (in the files)",
            lineterm="",
        )
    )


def _lines(value: Json) -> list[str]:
    if value is None:
        return []
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
