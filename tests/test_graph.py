"""Stage 6, graph: edges between stacks and tasks, and cycles reported with their path."""

from __future__ import annotations

from orgc.diagnostics import Diagnostics, Span
from orgc.graph import order_stacks
from orgc.render import Reference, RenderedStack, StackKey


def _stack(task: str, account: str, region: str = "us-east-1", **extra: object) -> RenderedStack:
    return RenderedStack(
        key=StackKey(task, account, region),
        stack_name=f"stack-{task}",
        account_id=f"{account}-id",
        template={"Resources": {}},
        parameters={},
        **extra,  # type: ignore[arg-type]
    )


def _reference(producer: StackKey) -> Reference:
    return Reference(
        parameter="OrgcRefBucket",
        producer=producer,
        output="OrgcRefBucket",
        expression="!Ref Bucket",
        span=Span("logs.yml", 9, 7),
    )


def test_consumers_follow_producers_and_loops_follow_their_accounts_and_regions() -> None:
    archive = StackKey("Logs", "Archive", "us-east-1")
    stacks = [
        _stack("Logs", "Archive"),
        _stack("Logs", "Shop", references=(_reference(archive),)),
        _stack("Logs", "Shop", "eu-west-1", after_regions=("us-east-1",)),
        _stack("Roles", "Audit", after_accounts=("Shop",)),
        _stack("Roles", "Shop"),
    ]
    diagnostics = Diagnostics()
    order = order_stacks(stacks, {"Logs": (), "Roles": ("Logs",)}, {}, diagnostics)
    assert not diagnostics.has_errors
    assert order.after == {
        archive: (),
        StackKey("Logs", "Shop", "eu-west-1"): (
            archive,
            StackKey("Logs", "Shop", "us-east-1"),
        ),
        StackKey("Logs", "Shop", "us-east-1"): (archive,),
        # DependsOnAccount names stacks of the same task only.
        StackKey("Roles", "Audit", "us-east-1"): (StackKey("Roles", "Shop", "us-east-1"),),
        StackKey("Roles", "Shop", "us-east-1"): (),
    }
    assert order.after_tasks == {"Logs": (), "Roles": ("Logs",)}


def test_a_cycle_through_a_reference_and_a_task_dependency_shows_its_path() -> None:
    # Logs takes a value from Roles, but Roles waits for the whole Logs task: the error sits at
    # Roles, whose DependsOn closes the circle.
    roles = StackKey("Roles", "Audit", "us-east-1")
    stacks = [_stack("Logs", "Shop", references=(_reference(roles),)), _stack("Roles", "Audit")]
    diagnostics = Diagnostics()
    where = Span("tasks.yml", 12, 3)
    order_stacks(stacks, {"Logs": (), "Roles": ("Logs",)}, {"Roles": where}, diagnostics)
    [diagnostic] = diagnostics.sorted()
    assert diagnostic.code == "E501"
    assert diagnostic.span == where
    assert "stack Logs/Shop/us-east-1" in diagnostic.message
    assert "stack Roles/Audit/us-east-1" in diagnostic.message
    assert "task Logs" in diagnostic.message


def test_a_value_from_a_stack_that_is_not_deployed_is_an_error_at_the_reference() -> None:
    missing = StackKey("Logs", "Archive", "us-east-1")
    diagnostics = Diagnostics()
    order_stacks([_stack("Roles", "Shop", references=(_reference(missing),))], {}, {}, diagnostics)
    assert [str(d) for d in diagnostics.sorted()] == [
        "logs.yml:9:7: error[E502]: !Ref Bucket takes its value from Logs/Archive/us-east-1, "
        "which this run does not deploy (its task is skipped or has no target there)"
    ]
