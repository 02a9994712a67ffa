"""Rendered stacks as files: `orgc render --out` writes what CloudFormation would be given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orgc.cli import main
from orgc.pipeline import compile_organization, render_stacks
from orgc.recorded import known_ids, wanted_ids
from orgc.render import RenderedStack
from orgc.render.output import write_stacks
from orgc.state import State

SCENARIO = Path(__file__).parent / "scenarios" / "stacks" / "first-run"


@pytest.fixture
def stacks(monkeypatch: pytest.MonkeyPatch) -> tuple[RenderedStack, ...]:
    monkeypatch.chdir(SCENARIO)
    inputs = compile_organization(Path("tasks.yml"))
    return render_stacks(inputs, known_ids(wanted_ids(inputs.organization), State()), None)


def test_every_stack_is_written_with_its_parameters_and_listed(
    stacks: tuple[RenderedStack, ...], tmp_path: Path
) -> None:
    write_stacks(stacks, tmp_path)
    index = json.loads((tmp_path / "index.json").read_text(encoding="utf-8"))
    assert [(e["task"], e["account"], e["region"]) for e in index] == [s.key for s in stacks]
    for entry, stack in zip(index, stacks, strict=True):
        directory = tmp_path / entry["path"]
        assert entry["path"] == f"{stack.key.task}/{stack.key.account}/{stack.key.region}"
        assert (entry["stackName"], entry["accountId"]) == (stack.stack_name, stack.account_id)
        template = json.loads((directory / "template.json").read_text(encoding="utf-8"))
        assert template == stack.template
        parameters = json.loads((directory / "parameters.json").read_text(encoding="utf-8"))
        assert parameters == [
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in sorted(stack.parameters.items())
        ]
        assert [r["parameter"] for r in entry["references"]] == [
            r.parameter for r in stack.references
        ]
    # A reference between stacks names its producer and the output it reads.
    taken = [r for e in index for r in e["references"] if r["producer"] is not None]
    assert taken
    assert all(r["output"] for r in taken)


def test_the_render_command_writes_the_same_files(
    stacks: tuple[RenderedStack, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_stacks(stacks, tmp_path / "direct")
    assert main(["render", "tasks.yml", "--out", str(tmp_path / "command")]) == 0
    assert capsys.readouterr().out == (
        f"Wrote {len(stacks)} stack template(s) under {tmp_path / 'command'}\n"
    )
    written = sorted(p.relative_to(tmp_path / "direct") for p in (tmp_path / "direct").rglob("*"))
    assert written == sorted(
        p.relative_to(tmp_path / "command") for p in (tmp_path / "command").rglob("*")
    )
    for path in written:
        if (tmp_path / "direct" / path).is_file():
            assert (tmp_path / "command" / path).read_bytes() == (
                tmp_path / "direct" / path
            ).read_bytes()
