"""Whether a task file tree binds against the organization as read from AWS (an
annotate-organization task, or a skipped update-organization task whose file does not exist):
found offline by orgc.pipeline, served by orgc.live_organization to plan and apply, and to
render and graph (which make no other AWS call)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orgc.diagnostics import Diagnostic, StageError
from orgc.tasks import ExternalTask, Project

ANNOTATE = "annotate-organization"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSource:
    """Why the organization is read from AWS: the task that asks for it."""

    task: str
    annotate: ExternalTask | None = None  # None: a skipped update-organization task
    template: Path | None = None  # the skipped update-organization task's missing file


class LiveOrganizationNeeded(StageError):
    """The files are valid offline, and the organization they bind against is read from AWS."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...], source: LiveSource) -> None:
        super().__init__(diagnostics)
        self.source = source


def live_source(project: Project) -> LiveSource | None:
    """Whether the project's organization comes from AWS (see the module's docstring)."""
    for task in project.tasks.values():
        if isinstance(task, ExternalTask) and task.type == ANNOTATE and not task.skip:
            return LiveSource(task=task.name, annotate=task)
    organization = project.organization
    if organization is not None and organization.skip and not organization.template.exists():
        return LiveSource(task=organization.name, template=organization.template)
    return None
