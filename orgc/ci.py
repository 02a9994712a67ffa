"""The CI pipelines `orgc init --pipeline` writes into an organization repository.

Each pipeline plans every change under review with a read-only role, shows the plan to the
reviewers, and on merge applies exactly the reviewed plan with a deploy role (orgc refuses a
saved plan whose files or organization changed since: E604, E605). Its templates are package
data under orgc/data/pipelines/; the AWS side they need (roles, and for CodePipeline the
pipeline itself) comes as a CloudFormation template written beside them.

Templates are filled by plain substitution of `@NAME@` markers, which clash with neither
GitHub's `${{ }}` nor the shell's `$NAME`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from orgc import __version__
from orgc.adopt import write_files
from orgc.state import default_state_bucket


@dataclass(frozen=True, slots=True, kw_only=True)
class Pipeline:
    """One kind of pipeline: where each of its templates is written in the repository."""

    files: Mapping[str, str]  # path in the repository → template under data/pipelines/


PIPELINES: dict[str, Pipeline] = {
    "github": Pipeline(
        files={
            ".github/workflows/orgc.yml": "github/orgc.yml",
            # Beside the workflows folder, not in it: GitHub takes every YAML file there for a
            # workflow.
            ".github/orgc-roles.cfn.yml": "github/orgc-roles.cfn.yml",
        }
    ),
    "gitlab": Pipeline(
        files={
            ".gitlab-ci.yml": "gitlab/gitlab-ci.yml",
            "ci/gitlab-roles.cfn.yml": "gitlab/gitlab-roles.cfn.yml",
        }
    ),
    "codebuild": Pipeline(
        files={
            "buildspec.yml": "codebuild/buildspec.yml",
            "ci/codepipeline.cfn.yml": "codebuild/codepipeline.cfn.yml",
        }
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSettings:
    management_account_id: str
    region: str = "us-east-1"
    state_bucket: str | None = None  # None: orgc's default bucket of the management account


def template_text(name: str) -> str:
    """A pipeline template as shipped, `@NAME@` markers and all."""
    return (resources.files("orgc") / "data" / "pipelines" / name).read_text(encoding="utf-8")


def render_pipeline(kind: str, settings: PipelineSettings) -> dict[str, str]:
    """The files of pipeline `kind`, by path in the repository, filled with `settings`."""
    values = {
        "@MANAGEMENT_ACCOUNT_ID@": settings.management_account_id,
        "@REGION@": settings.region,
        "@STATE_BUCKET@": settings.state_bucket
        or default_state_bucket(settings.management_account_id),
        "@ORGC_VERSION@": __version__,
    }
    rendered = {}
    for path, name in PIPELINES[kind].files.items():
        text = template_text(name)
        for marker, value in values.items():
            text = text.replace(marker, value)
        rendered[path] = text
    return rendered


def write_pipeline(kind: str, directory: Path, settings: PipelineSettings) -> tuple[Path, ...]:
    """Write pipeline `kind` into `directory` (the caller checked for files in the way)."""
    return write_files(directory, render_pipeline(kind, settings))
