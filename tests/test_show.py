"""Plans shown to people: text and Markdown, compared with goldens (`pytest --update-golden`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
from support.goldens import Golden
from support.scenarios import (
    PLAN_SCENARIOS,
    STACKS_SCENARIOS,
    live_from_yaml,
    plan_stacks_scenario,
    state_from_yaml,
)
from support.scenarios import (
    plan_organization_scenario as plan_scenario,
)

from orgc.pipeline import compile_organization
from orgc.plan import Action, ChangeKind, Plan, plan
from orgc.plan.codec import dumps, loads
from orgc.plan.specs import ResourceChange, StackDeploy, TemplateChanges
from orgc.show import render_json, render_markdown, render_text

SCENARIOS = PLAN_SCENARIOS


@pytest.mark.parametrize("scenario", ["first-run", "drift", "reparent", "no-changes"])
@pytest.mark.parametrize(
    ("suffix", "render"), [("txt", render_text), ("md", render_markdown)], ids=["text", "markdown"]
)
def test_rendering(
    scenario: str,
    suffix: str,
    render: Callable[[Plan], str],
    monkeypatch: pytest.MonkeyPatch,
    golden: Golden,
) -> None:
    shown = render(plan_scenario(SCENARIOS / scenario, monkeypatch))
    golden.text(SCENARIOS / scenario / f"plan.golden.{suffix}", shown)


def test_json_is_the_saved_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_scenario(SCENARIOS / "drift", monkeypatch)
    data = json.loads(render_json(plan))
    assert data["format"] == "orgc-plan"
    assert {c["action"] for c in data["changes"]} == {"update", "move", "attach"}
    for change in data["changes"]:
        assert {"id", "kind", "action", "logicalId", "physicalId", "summary", "after"} <= set(
            change
        )


def test_a_policy_update_shows_the_document_diff(monkeypatch: pytest.MonkeyPatch) -> None:
    text = render_text(plan_scenario(SCENARIOS / "drift", monkeypatch))
    assert '-  "Action": "organizations:LeaveOrganization",' not in text
    assert '+      "Action": "organizations:LeaveOrganization",' in text
    assert '-      "Action": [' in text
    assert "size: 114 of 10,240 characters, 10,126 left" in text


@pytest.mark.parametrize(
    ("suffix", "render", "shown_as"),
    [
        ("txt", render_text, "from {path}\n"),
        ("md", render_markdown, "from `{path}`."),
    ],
    ids=["text", "markdown"],
)
def test_paths_are_relative(
    suffix: str,
    render: Callable[[Plan], str],
    shown_as: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Planned from the scenarios folder with an absolute path: the plan names the file relative
    # to where it was run, and the rest of what it shows is the same as from the file's folder.
    folder = SCENARIOS / "first-run"
    monkeypatch.chdir(SCENARIOS)
    inputs = compile_organization(folder.resolve() / "organization.yml")
    planned = plan(
        inputs.organization,
        live_from_yaml(folder / "live.yml"),
        state_from_yaml(folder / "state.yml"),
        source=inputs.source,
    )
    assert planned.source == "first-run/organization.yml"
    expected = (folder / f"plan.golden.{suffix}").read_text(encoding="utf-8")
    moved = shown_as.format(path="organization.yml")
    assert expected.count(moved) == 1
    assert render(planned) == expected.replace(
        moved, shown_as.format(path="first-run/organization.yml")
    )


def test_a_stack_update_shows_its_template_changes_and_says_when_the_diff_is_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = plan_stacks_scenario(STACKS_SCENARIOS / "drift-and-failures", monkeypatch)
    [update] = [c for c in made.changes if c.kind is ChangeKind.STACK and c.action is Action.UPDATE]
    assert isinstance(update.spec, StackDeploy)
    changes = TemplateChanges(
        resources=(
            ResourceChange(logical_id="Topic", resource_type="AWS::SNS::Topic", change="added"),
            ResourceChange(logical_id="Queue", resource_type="AWS::SQS::Queue", change="removed"),
        ),
        sections=("Outputs",),
        diff=("--- Resources.Topic (deployed)", "+++ Resources.Topic (in the files)", "+{}"),
        lines_cut=7,
    )
    shown = dataclasses.replace(
        made,
        changes=(
            dataclasses.replace(
                update, spec=dataclasses.replace(update.spec, template_changes=changes)
            ),
        ),
    )
    assert loads(dumps(shown)) == shown
    text = render_text(shown).splitlines()
    start = text.index("      + resource Topic (AWS::SNS::Topic) added")
    assert text[start : start + 7] == [
        "      + resource Topic (AWS::SNS::Topic) added",
        "      - resource Queue (AWS::SQS::Queue) removed",
        "      ~ template sections changed: Outputs",
        "      --- Resources.Topic (deployed)",
        "      +++ Resources.Topic (in the files)",
        "      +{}",
        "      … 7 more line(s) of template diff not shown",
    ]
    markdown = render_markdown(shown)
    assert "```diff\n" in markdown
    assert "… 7 more line(s) of template diff not shown\n```" in markdown
