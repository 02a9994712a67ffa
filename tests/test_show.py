"""Plans shown to people: text and Markdown, compared with goldens (`pytest --update-golden`)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import generate
import pytest
from support.fake_provider import FakeAws
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

from orgc.pipeline import compile_organization, make_plan
from orgc.plan import Action, ChangeKind, Plan, plan
from orgc.plan.codec import dumps, loads
from orgc.plan.specs import ResourceChange, StackDeploy, TemplateChanges
from orgc.show import (
    MARKDOWN_MAX_BYTES,
    markdown_text,
    render_json,
    render_markdown,
    render_text,
)
from orgc.state import State

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


# --- Markdown that fits a pull-request comment ------------------------------------------------


@pytest.fixture(scope="module")
def large_first_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """The first plan of a generated 200-account organization with 6 landing-zone tasks in 2
    regions, made on the in-memory fake (nothing exists yet)."""
    folder = tmp_path_factory.mktemp("large")
    tasks = generate.write_project(folder, generate.Shape(accounts=200, tasks=6, regions=2))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(folder)
        inputs = compile_organization(tasks.relative_to(folder))
        return make_plan(inputs, FakeAws(), State())


def test_a_200_account_first_plan_fits_a_comment(large_first_plan: Plan) -> None:
    plan = large_first_plan
    assert len(plan.changes) > 1_000
    assert len(render_text(plan).encode()) > MARKDOWN_MAX_BYTES  # too long for a comment
    shown = render_markdown(plan, artefact="plan.json")
    assert len(shown.encode()) <= MARKDOWN_MAX_BYTES < 65_536
    assert shown.startswith("### orgc plan for `")
    summary = shown.split("\n\n")[3].splitlines()
    # The generator names the management account 'management', the fake 'master': a rename.
    assert summary[0] == "| Kind | adopt | attach | create | enable | move | rename |"
    assert "| Accounts | 1 |  | 200 |  | 200 | 1 |" in summary
    assert "| Stacks |  |  | 909 |  |  |  |" in summary
    # Stacks per account, collapsed for so many accounts.
    accounts = shown.split("<details><summary>Stack changes in 200 accounts</summary>\n\n")[1]
    assert accounts.startswith("| Stacks in account | create |\n|---|---:|\n| AuditAccount | 4 |")
    assert "#### Changes to review one by one (200)" in shown  # the moves
    # The last line says where the whole plan is (no warning follows: the management account's
    # name is put right by the rename instead of warned about).
    assert shown.endswith(
        "changes shown.** The whole plan: `orgc show plan.json` (the plan saved with "
        "`orgc plan --out`).\n"
    )


def test_a_small_max_bytes_cuts_between_changes_with_a_pointer(large_first_plan: Plan) -> None:
    shown = render_markdown(large_first_plan, max_bytes=8_000)
    assert len(shown.encode()) <= 8_000
    note = shown.split("\n\n**Warnings**")[0].splitlines()[-1]
    assert note.startswith("**Cut to fit a comment: ")
    shown_count = int(note.split(": ", 1)[1].split(" ", 1)[0])
    assert 0 < shown_count < len(large_first_plan.changes)
    assert note.endswith(
        "The whole plan: `orgc show` of the saved plan (the plan saved with `orgc plan --out`)."
    )
    # Cut between changes: every code block and <details> that opens also closes.
    assert shown.count("<details>") == shown.count("</details>")
    assert shown.count("```") % 2 == 0
    assert shown.split("**Warnings**")[0].count("\n- `") == shown_count


def test_text_that_html_or_markdown_would_eat_is_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = plan_scenario(SCENARIOS / "first-run", monkeypatch)
    account = next(c for c in plan.changes if c.kind == "account" and c.action == "create")
    odd = dataclasses.replace(
        account, summary="create account a|b <aws+x@example.com> in *ProdOU* [x](y) `z`"
    )
    shown = render_markdown(dataclasses.replace(plan, changes=(odd,)))
    assert (
        r"- `+` create account a\|b &lt;aws+x@example.com&gt; in \*ProdOU\* \[x\](y) \`z\`" in shown
    )
    assert "<aws+x@example.com>" not in shown
    assert markdown_text("a|b") == r"a\|b"


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
    # In the list of changes the diff is a code block indented under its change.
    assert "  ```diff\n" in markdown
    assert "  … 7 more line(s) of template diff not shown\n  ```" in markdown
