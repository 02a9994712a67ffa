"""The dependency graph drawn as DOT and Mermaid: exact output for small cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.scenarios import PLAN_SCENARIOS, STACKS_SCENARIOS

from orgc.cli import main
from orgc.diagram import Diagram, Node, node_id, plan_diagram, to_dot, to_mermaid
from orgc.plan.codec import loads

ODD = Diagram(
    nodes=(
        Node(
            key="account.create:Shop",
            label='create account "shop" <aws+x@example.com>',
            group="task:org",
        ),
        Node(key="stack:Logs/Shop/eu-west-1", label="Shop eu-west-1 \\ #1", group="task:Logs"),
        Node(key="task:Later", label="update-stacks Later"),
    ),
    edges=(
        ("account.create:Shop", "stack:Logs/Shop/eu-west-1"),
        ("task:Logs", "task:Later"),
    ),
    groups={"task:Logs": "update-stacks Logs", "task:org": "update-organization org"},
)


def test_dot_escapes_labels_and_reaches_task_boxes() -> None:
    assert to_dot(ODD) == (
        "digraph orgc {\n"
        "  rankdir=LR;\n"
        "  compound=true;\n"
        '  node [shape=box, fontname="Helvetica"];\n'
        "  subgraph cluster_task_Logs_6d9b5d {\n"
        '    label="update-stacks Logs";\n'
        '    task_Logs_6d9b5d [shape=point, style=invis, label=""];\n'
        '    stack_Logs_Shop_eu_west_1_7ab00c [label="Shop eu-west-1 \\\\ #1"];\n'
        "  }\n"
        "  subgraph cluster_task_org_2f91c0 {\n"
        '    label="update-organization org";\n'
        '    task_org_2f91c0 [shape=point, style=invis, label=""];\n'
        '    account_create_Shop_c3668c [label="create account \\"shop\\" <aws+x@example.com>"];\n'
        "  }\n"
        '  task_Later_ec50f2 [label="update-stacks Later"];\n'
        "  account_create_Shop_c3668c -> stack_Logs_Shop_eu_west_1_7ab00c;\n"
        "  task_Logs_6d9b5d -> task_Later_ec50f2 [ltail=cluster_task_Logs_6d9b5d];\n"
        "}\n"
    )


def test_mermaid_escapes_labels() -> None:
    assert to_mermaid(ODD) == (
        "flowchart LR\n"
        '  subgraph task_Logs_6d9b5d["update-stacks Logs"]\n'
        '    stack_Logs_Shop_eu_west_1_7ab00c["Shop eu-west-1 \\ #35;1"]\n'
        "  end\n"
        '  subgraph task_org_2f91c0["update-organization org"]\n'
        '    account_create_Shop_c3668c["create account #quot;shop#quot; '
        '#lt;aws+x@example.com#gt;"]\n'
        "  end\n"
        '  task_Later_ec50f2["update-stacks Later"]\n'
        "  account_create_Shop_c3668c --> stack_Logs_Shop_eu_west_1_7ab00c\n"
        "  task_Logs_6d9b5d --> task_Later_ec50f2\n"
    )


def test_node_ids_are_stable_and_tell_similar_keys_apart() -> None:
    assert node_id("account.create:Shop") == "account_create_Shop_c3668c"
    assert node_id("account.create:Shop") != node_id("account-create-Shop")
    assert node_id("::") == "n_" + node_id("::").split("_")[1]


def test_a_plan_draws_each_change_after_what_it_waits_on() -> None:
    saved = loads((PLAN_SCENARIOS / "reparent" / "plan.golden.json").read_text("utf-8"))
    diagram = plan_diagram(saved)
    assert [n.key for n in diagram.nodes] == [c.id for c in saved.changes]
    assert set(diagram.edges) == {
        (first, change.id) for change in saved.changes for first in change.after
    }
    mermaid = to_mermaid(diagram).splitlines()
    assert mermaid[0] == "flowchart LR"
    assert "  organizational_unit_replace_ProdOU_1a36fc --> account_move_Shop_a72223" in mermaid


def test_the_command_draws_files_offline_and_saved_plans(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = STACKS_SCENARIOS / "first-run"
    monkeypatch.chdir(folder)
    # Offline: no endpoint, no credentials needed.
    assert main(["graph", "."]) == 0
    assert capsys.readouterr().out == (
        Path(__file__).parent / "cases" / "graph" / "first-run.dot"
    ).read_text("utf-8")
    assert main(["graph", "plan.golden.json", "--format", "mermaid"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith('flowchart LR\n  subgraph task_Directory_c05472["task Directory"]\n')
    assert shown.count(" --> ") == 18
    assert main(["graph", "missing.yml"]) == 1
    assert capsys.readouterr().err == "orgc: error[E100]: no such file: missing.yml\n"
