"""Plans shown to people: text and Markdown, compared with goldens (`pytest --update-golden`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plan import SCENARIOS, plan_scenario

from orgc.show import render_json, render_markdown, render_text


@pytest.mark.parametrize("scenario", ["first-run", "drift", "reparent", "no-changes"])
@pytest.mark.parametrize(
    ("suffix", "render"), [("txt", render_text), ("md", render_markdown)], ids=["text", "markdown"]
)
def test_rendering(
    scenario: str,
    suffix: str,
    render: object,
    monkeypatch: pytest.MonkeyPatch,
    update_golden: bool,
) -> None:
    assert callable(render)
    shown = render(plan_scenario(SCENARIOS / scenario, monkeypatch))
    golden = SCENARIOS / scenario / f"plan.golden.{suffix}"
    if update_golden:
        golden.write_text(shown, encoding="utf-8")
    assert shown == golden.read_text(encoding="utf-8")


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


def test_paths_are_relative(monkeypatch: pytest.MonkeyPatch) -> None:
    text = render_text(plan_scenario(SCENARIOS / "first-run", monkeypatch))
    assert str(Path.cwd()) not in text
