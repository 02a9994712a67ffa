"""StackSet mode: eligibility, targets, planning, the provider's verbs and whole runs.

Eligibility cases are the tasks of tests/cases/stacksets/eligibility/tasks.yml, each with the
diagnostics it expects written inline on its line. The end-to-end tests apply
tests/cases/stacksets/project on the emulator (which runs service-managed StackSets as AWS does,
see orgc.emulator_stacksets) and look at what it holds with boto3 directly.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.inline import actual_diagnostics, case_organization, expected_diagnostics

from orgc.aws import AwsProvider, StackFailed
from orgc.bind import bind_template, resolve_binding
from orgc.diagnostics import Diagnostic, Diagnostics
from orgc.emulator import Emulator
from orgc.load import LoadOptions
from orgc.model import Organization
from orgc.observed import (
    InstanceTargets,
    LiveStackInstance,
    LiveStackSet,
    Preferences,
    StackSetDefinition,
)
from orgc.pipeline import compile_organization, make_plan, plan_and_apply, validate
from orgc.plan import Plan
from orgc.plan.codec import change_from_json, change_json, details_json
from orgc.plan.stacksets import DesiredStackSets, StackSetPlanner, plan_stack_sets
from orgc.render import RenderContext, render_project
from orgc.show import render_text
from orgc.stacksets import DesiredStackSet, StackSetTargets, build_stack_sets, stack_set_targets
from orgc.state import LocalStateStore, StackRecord, StackSetRecord, State
from orgc.tasks import StacksTask, load_project
from orgc.templates import Binding, build_template

CASES = Path(__file__).parent / "cases" / "stacksets"
ELIGIBILITY = CASES / "eligibility"

# --- eligibility: which tasks can be a StackSet ---------------------------------------------

IDS: dict[str, dict[str, str | None]] = {
    "accounts": {
        "Management": "123456789012",
        "Loose": "666666666666",
        "LogArchive": "111111111111",
        "Audit": "222222222222",
        "Payments": "333333333333",
        "Sandbox": "444444444444",
        "Lab": "555555555555",
    },
    "organizationalUnits": {
        "root": "r-ab12",
        "SecurityOU": "ou-ab12-security",
        "WorkloadsOU": "ou-ab12-workload",
        "ProdOU": "ou-ab12-prod00",
        "DevOU": "ou-ab12-dev000",
    },
    "policies": {},
}


def organization() -> Organization:
    return case_organization(CASES)


def eligibility(monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[DesiredStackSet, ...], Diagnostics]:
    """load → build → bind → render → build_stack_sets over the eligibility cases, as the
    pipeline runs them."""
    monkeypatch.chdir(ELIGIBILITY)
    diagnostics = Diagnostics()
    options = LoadOptions(root=ELIGIBILITY)
    project = load_project(Path("tasks.yml"), options, diagnostics)
    assert project is not None
    tasks = {n: t for n, t in sorted(project.tasks.items()) if isinstance(t, StacksTask)}
    templates = {}
    for name, task in tasks.items():
        template = build_template(task, options, diagnostics)
        assert template is not None
        templates[name] = template
    bound = {
        n: bind_template(t, templates[n], organization(), diagnostics) for n, t in tasks.items()
    }
    context = RenderContext(
        ids=IDS, organization_id="o-abcdef1234", state_bucket="orgc-state", root_id="r-ab12"
    )
    stacks = render_project(
        [(t, templates[n], bound[n]) for n, t in tasks.items()],
        organization(),
        context,
        diagnostics,
    )
    assert list(diagnostics) == []
    found = Diagnostics()
    wanted = build_stack_sets(
        tasks=tasks,
        templates=templates,
        bound=bound,
        stacks=stacks,
        organization=organization(),
        ids=IDS,
        diagnostics=found,
    )
    return wanted, found


def test_each_reason_a_task_cannot_be_a_stack_set_is_said_at_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, diagnostics = eligibility(monkeypatch)
    expected = expected_diagnostics(ELIGIBILITY / "tasks.yml")
    assert actual_diagnostics(diagnostics, "tasks.yml") == expected
    assert {code for _, code, _ in expected} == {
        "E440", "E441", "E442", "E443", "E444", "E445", "W440", "W441"
    }  # fmt: skip
    # At the task's name, first column: where the task starts.
    assert all(d.span is not None and d.span.col == 1 for d in diagnostics)


def test_pseudo_parameters_and_loops_stay_the_same_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wanted, _ = eligibility(monkeypatch)
    fine = next(w for w in wanted if w.task == "Fine")
    resources = fine.template["Resources"]
    # ${AWS::AccountId} is left for CloudFormation to resolve in each account.
    assert resources["Marker"]["Properties"]["Name"] == {
        "Fn::Sub": "/acme/${AWS::AccountId}/${AWS::Region}"
    }
    # A ForeachAccount copy names the account it loops over, not the account it is deployed to.
    assert resources["Trust111111111111"]["Properties"] == {
        "Name": "/acme/trust/log-archive",
        "Type": "String",
        "Value": "111111111111",
    }
    assert sorted(resources) == ["Marker", "Trust111111111111", "Trust222222222222"]
    assert fine.parameters == {"Owner": "platform"}
    assert fine.targets == StackSetTargets(
        organizational_units=("WorkloadsOU",), regions=("eu-west-1", "us-east-1")
    )
    assert fine.accounts == ("Lab", "Payments", "Sandbox")
    assert fine.instance_targets() == InstanceTargets(
        organizational_units=("ou-ab12-workload",), regions=("eu-west-1", "us-east-1")
    )
    assert fine.preferences == Preferences(max_concurrent=10, failure_tolerance=0)
    assert fine.where == "tasks.yml:3:1"


# --- targets: OUs and an account filter that reach exactly the bound accounts ---------------


def binding(**fields: Any) -> Binding:
    return Binding(regions=("eu-west-1",), regions_given=True, **fields)


@pytest.mark.parametrize(
    ("written", "ous", "account_filter", "accounts", "lone"),
    [
        pytest.param(binding(all_accounts=True), ("root",), "NONE", (), {}, id="every-account"),
        pytest.param(
            binding(all_accounts=True, exclude_accounts=("Lab",)),
            ("root",),
            "DIFFERENCE",
            ("Lab",),
            {},
            id="every-account-but-one",
        ),
        pytest.param(
            binding(organizational_units=("WorkloadsOU",)),
            ("WorkloadsOU",),
            "NONE",
            (),
            {},
            id="an-ou-and-the-ous-nested-in-it",
        ),
        pytest.param(
            binding(organizational_units=("WorkloadsOU",), exclude_organizational_units=("DevOU",)),
            ("WorkloadsOU",),
            "DIFFERENCE",
            ("Lab", "Sandbox"),
            {},
            id="an-ou-less-a-nested-ou",
        ),
        pytest.param(
            binding(organizational_units=("ProdOU", "WorkloadsOU")),
            ("WorkloadsOU",),
            "NONE",
            (),
            {},
            id="nested-ous-collapse",
        ),
        pytest.param(
            binding(accounts=("Payments", "Sandbox")),
            ("DevOU", "ProdOU"),
            "INTERSECTION",
            ("Payments", "Sandbox"),
            {"DevOU": ("Sandbox",), "ProdOU": ("Payments",)},
            id="accounts-one-by-one",
        ),
        pytest.param(
            binding(accounts=("LogArchive", "Audit")),
            ("SecurityOU",),
            "NONE",
            (),
            {"SecurityOU": ("Audit", "LogArchive")},
            id="accounts-filling-their-ou",
        ),
        pytest.param(
            binding(organizational_units=("ProdOU",), accounts=("Loose",)),
            ("root",),
            "DIFFERENCE",
            ("Audit", "Lab", "LogArchive", "Sandbox"),
            {"root": ("Loose",)},
            id="an-ou-and-an-account-in-the-root",
        ),
    ],
)
def test_targets_reach_exactly_the_bound_accounts(
    written: Binding,
    ous: tuple[str, ...],
    account_filter: str,
    accounts: tuple[str, ...],
    lone: dict[str, tuple[str, ...]],
) -> None:
    bound, _ = resolve_binding(written, organization(), Diagnostics())
    targets, found = stack_set_targets([written], set(bound), ("eu-west-1",), organization())
    assert (targets.organizational_units, targets.account_filter, targets.accounts) == (
        ous,
        account_filter,
        accounts,
    )
    assert found == lone


# --- planning -------------------------------------------------------------------------------

TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Parameters": {"Owner": {"Type": "String"}},
    "Resources": {
        "Marker": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Name": "/acme/baseline", "Type": "String", "Value": {"Ref": "Owner"}},
        }
    },
}
WORKLOADS, SECURITY = "ou-ab12-workload", "ou-ab12-security"
PAYMENTS, SANDBOX, AUDIT = "333333333333", "444444444444", "222222222222"


def desired(**changes: Any) -> DesiredStackSet:
    return dataclasses.replace(
        DesiredStackSet(
            task="Baseline",
            name="acme-baseline",
            template=TEMPLATE,
            parameters={"Owner": "platform"},
            description=None,
            tags={"owner": "platform"},
            targets=StackSetTargets(organizational_units=("WorkloadsOU",), regions=("eu-west-1",)),
            accounts=("Payments", "Sandbox"),
            ids={
                "WorkloadsOU": WORKLOADS,
                "SecurityOU": SECURITY,
                "Payments": PAYMENTS,
                "Sandbox": SANDBOX,
                "Audit": AUDIT,
            },
            where="tasks.yml:3:1",
        ),
        **changes,
    )


def live(
    wanted: DesiredStackSet,
    *,
    instances: Mapping[str, tuple[str, ...]] | None = None,
    template: Any = None,
    parameters: dict[str, str] | None = None,
) -> LiveStackSet:
    """The StackSet as AWS would hold it after `wanted` was applied; `instances` maps an OU id
    to the accounts with instances through it (in every region of `wanted`)."""
    through = instances if instances is not None else {WORKLOADS: (PAYMENTS, SANDBOX)}
    return LiveStackSet(
        name=wanted.name,
        stack_set_id="acme-baseline:1111",
        arn="arn:aws:cloudformation:us-east-1:123456789012:stackset/acme-baseline:1111",
        template_body=json.dumps(template or wanted.template, separators=(",", ":")),
        parameters=parameters if parameters is not None else dict(wanted.parameters),
        settings=wanted.settings(),
        organizational_unit_ids=tuple(sorted(through)),
        instances=tuple(
            LiveStackInstance(
                account_id=account, region=region, status="CURRENT", organizational_unit_id=ou
            )
            for ou, accounts in sorted(through.items())
            for account in accounts
            for region in wanted.targets.regions
        ),
    )


def record(wanted: DesiredStackSet, **changes: Any) -> StackSetRecord:
    return dataclasses.replace(
        StackSetRecord(
            name=wanted.name,
            task=wanted.task,
            stack_set_id="acme-baseline:1111",
            arn="arn:aws:cloudformation:us-east-1:123456789012:stackset/acme-baseline:1111",
            hash=wanted.content_hash(),
            parameters=dict(wanted.parameters),
            organizational_units=(WORKLOADS,),
            regions=wanted.targets.regions,
        ),
        **changes,
    )


def task(mode: str = "StackSet", name: str = "Baseline") -> StacksTask:
    return StacksTask(
        name=name,
        type="update-stacks",
        file="tasks.yml",
        template=Path("baseline.yml"),
        stack_name="acme-baseline",
        deployment_mode=mode,
    )


def planned(
    wanted: tuple[DesiredStackSet, ...],
    found: LiveStackSet | None,
    state: State,
    *,
    tasks: dict[str, StacksTask] | None = None,
    perform_cleanup: bool = False,
) -> StackSetPlanner:
    return plan_stack_sets(
        DesiredStackSets(
            stack_sets=wanted,
            tasks=tasks if tasks is not None else {"Baseline": task()},
            after_tasks={"Baseline": ("Network",)},
            organization_group="organization",
            account_ids={"Payments": PAYMENTS, "Sandbox": SANDBOX, "Audit": AUDIT, "New": None},
        ),
        {"acme-baseline": found},
        state,
        perform_cleanup=perform_cleanup,
    )


def ids_and_summaries(planner: StackSetPlanner) -> list[tuple[str, str]]:
    return [(c.id, c.summary) for c in planner.changes]


def test_a_new_stack_set_is_created_then_its_instances() -> None:
    planner = planned((desired(),), None, State())
    assert ids_and_summaries(planner) == [
        (
            "stack-set.create:Baseline",
            "create StackSet acme-baseline (task Baseline) for 2 accounts in eu-west-1",
        ),
        (
            "stack-set-instances.create:Baseline",
            "create instances of StackSet acme-baseline in OU WorkloadsOU, eu-west-1",
        ),
    ]
    create, instances = planner.changes
    assert create.after == ("task:Network", "task:organization")
    assert instances.after == ("stack-set.create:Baseline", "task:Network", "task:organization")
    assert details_json(instances.spec)["create"] == {
        "organizationalUnits": [WORKLOADS],
        "accountFilter": "NONE",
        "accounts": [],
        "regions": ["eu-west-1"],
    }
    assert details_json(create.spec)["settings"]["autoDeployment"] == {
        "enabled": True,
        "retainStacksOnAccountRemoval": False,
        "dependsOn": [],
    }
    assert details_json(create.spec)["hash"] == desired().content_hash()
    assert {c.group for c in planner.changes} == {"Baseline"}


def test_an_unchanged_stack_set_gets_no_change() -> None:
    wanted = desired()
    planner = planned((wanted,), live(wanted), State(stack_sets=(record(wanted),)))
    assert planner.changes == []
    assert planner.unchanged == ["Baseline (StackSet acme-baseline)"]


def test_a_template_change_is_an_update_with_its_diff() -> None:
    before = desired()
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Marker"]["Properties"]["Name"] = "/acme/baseline-v2"
    wanted = desired(template=template, parameters={"Owner": "security"})
    planner = planned((wanted,), live(before), State(stack_sets=(record(before),)))
    assert ids_and_summaries(planner) == [
        (
            "stack-set.update:Baseline",
            "update StackSet acme-baseline (task Baseline): the template and parameter(s) Owner "
            "changed",
        )
    ]
    details = details_json(planner.changes[0].spec)
    assert details["templateDiff"] == [
        "--- in AWS",
        "+++ in the files",
        "@@ -9,7 +9,7 @@",
        '     "Marker": {',
        '       "Type": "AWS::SSM::Parameter",',
        '       "Properties": {',
        '-        "Name": "/acme/baseline",',
        '+        "Name": "/acme/baseline-v2",',
        '         "Type": "String",',
        '         "Value": {',
        '           "Ref": "Owner"',
    ]
    assert details["parameterChanges"] == [
        {"name": "Owner", "before": "platform", "after": "security"}
    ]
    # The instances that exist are updated with it.
    assert details["updateTargets"] == {
        "organizationalUnits": [WORKLOADS],
        "accountFilter": "NONE",
        "accounts": [],
        "regions": ["eu-west-1"],
    }
    assert details["previousHash"] == before.content_hash() != details["hash"]


def test_a_new_region_gets_instances_there_only() -> None:
    before = desired()
    wanted = desired(
        targets=StackSetTargets(
            organizational_units=("WorkloadsOU",), regions=("eu-west-1", "us-east-1")
        )
    )
    planner = planned((wanted,), live(before), State(stack_sets=(record(before),)))
    assert ids_and_summaries(planner) == [
        (
            "stack-set-instances.create:Baseline",
            "create instances of StackSet acme-baseline in OU WorkloadsOU, us-east-1: region(s) "
            "us-east-1 new",
        )
    ]
    assert details_json(planner.changes[0].spec)["create"]["regions"] == ["us-east-1"]


def test_a_new_ou_gets_instances_in_every_region() -> None:
    before = desired()
    wanted = desired(
        targets=StackSetTargets(
            organizational_units=("SecurityOU", "WorkloadsOU"), regions=("eu-west-1",)
        ),
        accounts=("Audit", "Payments", "Sandbox"),
    )
    planner = planned((wanted,), live(before), State(stack_sets=(record(before),)))
    assert ids_and_summaries(planner) == [
        (
            "stack-set-instances.create:Baseline",
            "create instances of StackSet acme-baseline in OU SecurityOU, OU WorkloadsOU, "
            "eu-west-1: OU SecurityOU not targeted yet; account(s) Audit without an instance",
        )
    ]
    assert details_json(planner.changes[0].spec)["create"]["organizationalUnits"] == [
        SECURITY,
        WORKLOADS,
    ]


def test_a_region_and_an_account_left_are_deleted_before_the_update() -> None:
    both = StackSetTargets(
        organizational_units=("WorkloadsOU",), regions=("eu-west-1", "us-east-1")
    )
    before = desired(targets=both)
    wanted = desired(
        targets=StackSetTargets(
            organizational_units=("WorkloadsOU",),
            account_filter="DIFFERENCE",
            accounts=("Sandbox",),
            regions=("eu-west-1",),
        ),
        accounts=("Payments",),
        parameters={"Owner": "security"},
    )
    planner = planned((wanted,), live(before), State(stack_sets=(record(before),)))
    assert ids_and_summaries(planner) == [
        (
            "stack-set-instances.delete:Baseline",
            "delete instances of StackSet acme-baseline: region(s) us-east-1 left the task's "
            "bindings; account(s) Sandbox (444444444444) left the task's bindings",
        ),
        (
            "stack-set.update:Baseline",
            "update StackSet acme-baseline (task Baseline): parameter(s) Owner changed",
        ),
    ]
    deletions, update = planner.changes
    assert details_json(deletions.spec)["delete"] == [
        {
            "organizationalUnits": [WORKLOADS],
            "accountFilter": "NONE",
            "accounts": [],
            "regions": ["us-east-1"],
            "reason": "region(s) us-east-1 left the task's bindings",
        },
        {
            "organizationalUnits": [WORKLOADS],
            "accountFilter": "INTERSECTION",
            "accounts": [SANDBOX],
            "regions": ["eu-west-1"],
            "reason": "account(s) Sandbox (444444444444) left the task's bindings",
        },
    ]
    assert "stack-set-instances.delete:Baseline" in update.after
    assert details_json(update.spec)["updateTargets"] == {
        "organizationalUnits": [WORKLOADS],
        "accountFilter": "DIFFERENCE",
        "accounts": [SANDBOX],
        "regions": ["eu-west-1"],
    }


def test_changes_made_outside_orgc_and_stack_sets_it_does_not_know_are_updated() -> None:
    wanted = desired()
    by_hand = live(wanted, template={**TEMPLATE, "Description": "edited by hand"})
    drift = planned((wanted,), by_hand, State(stack_sets=(record(wanted),)))
    taken = planned((wanted,), live(wanted), State())
    assert ids_and_summaries(drift) + ids_and_summaries(taken) == [
        (
            "stack-set.update:Baseline",
            "update StackSet acme-baseline (task Baseline): it was changed outside orgc since "
            "the last apply",
        ),
        (
            "stack-set.update:Baseline",
            "update StackSet acme-baseline (task Baseline): it exists but orgc has no record of "
            "it; it is taken over",
        ),
    ]


def test_a_stack_set_deleted_outside_orgc_is_created_again() -> None:
    wanted = desired()
    planner = planned((wanted,), None, State(stack_sets=(record(wanted),)))
    assert planner.changes[0].summary == (
        "create StackSet acme-baseline (task Baseline) for 2 accounts in eu-west-1: it was "
        "deleted outside orgc; it is created again"
    )


def test_the_stacks_of_a_task_that_turned_stack_set_go_first() -> None:
    old = StackRecord(
        stack_name="acme-baseline", account_id=PAYMENTS, region="eu-west-1", task="Baseline"
    )
    planner = planned((desired(),), None, State(stacks=(old,)))
    assert "stack.delete:acme-baseline/333333333333/eu-west-1" in planner.changes[0].after


def test_a_stack_set_whose_task_left_is_deleted_only_with_cleanup() -> None:
    wanted = desired()
    state = State(stack_sets=(record(wanted),))
    kept = planned((), live(wanted), state, tasks={})
    assert kept.changes == []
    assert kept.warnings == [
        Diagnostic(
            "W442",
            "StackSet acme-baseline belongs to task Baseline, which is no longer in the task "
            "files; orgc leaves it (apply with --perform-cleanup deletes it)",
        )
    ]
    cleaned = planned((), live(wanted), state, tasks={}, perform_cleanup=True)
    assert ids_and_summaries(cleaned) == [
        (
            "stack-set.delete:Baseline",
            "delete StackSet acme-baseline (task Baseline): its task is no longer in the task "
            "files (cleanup asked for)",
        )
    ]
    assert details_json(cleaned.changes[0].spec) == {
        "task": "Baseline",
        "stackSetName": "acme-baseline",
        "organizationalUnits": [WORKLOADS],
        "regions": ["eu-west-1"],
        "instances": 2,
    }


def test_every_stack_set_change_reads_back_as_it_was() -> None:
    both = StackSetTargets(
        organizational_units=("WorkloadsOU",), regions=("eu-west-1", "us-east-1")
    )
    before = desired(targets=both)
    wanted = desired(
        targets=StackSetTargets(
            organizational_units=("SecurityOU", "WorkloadsOU"), regions=("eu-west-1",)
        ),
        accounts=("Audit", "Payments", "Sandbox"),
        parameters={"Owner": "security"},
    )
    state = State(stack_sets=(record(before),))
    changes = [
        *planned((wanted,), live(before), state).changes,
        *planned((desired(),), None, State()).changes,
        *planned((), live(before), state, tasks={}, perform_cleanup=True).changes,
    ]
    assert sorted({(c.kind.value, c.action.value) for c in changes}) == [
        ("stack-set", "create"),
        ("stack-set", "delete"),
        ("stack-set", "update"),
        ("stack-set-instances", "create"),
        ("stack-set-instances", "delete"),
    ]
    assert [change_from_json(change_json(c)) for c in changes] == changes


def test_a_task_back_in_stacks_mode_has_its_stack_set_deleted() -> None:
    wanted = desired()
    planner = planned(
        (), live(wanted), State(stack_sets=(record(wanted),)), tasks={"Baseline": task("Stacks")}
    )
    assert ids_and_summaries(planner) == [
        (
            "stack-set.delete:Baseline",
            "delete StackSet acme-baseline (task Baseline): task Baseline is no longer in "
            "StackSet mode",
        )
    ]


# --- state ----------------------------------------------------------------------------------


def test_stack_set_records_survive_the_state_document() -> None:
    wanted = desired()
    state = State(stack_sets=(record(wanted, account_filter="DIFFERENCE", accounts=(SANDBOX,)),))
    assert State.from_json(state.to_json(), origin="test") == state
    # A state without StackSets is written as before them, and an older document reads.
    assert "stackSets" not in json.loads(State().to_json())
    older = json.dumps({"format": "orgc-state", "version": 1, "serial": 3}).encode()
    assert State.from_json(older, origin="older").stack_sets == ()


# --- the provider's verbs -------------------------------------------------------------------


def _organization_ids() -> tuple[str, str]:
    """(root id, id of a new OU `team` under it holding a new account)."""
    client = boto3.client("organizations", region_name="us-east-1")
    root_id = client.list_roots()["Roots"][0]["Id"]
    ou_id = client.create_organizational_unit(ParentId=root_id, Name="team")["OrganizationalUnit"][
        "Id"
    ]
    account_id = client.create_account(AccountName="team", Email="team@example.com")[
        "CreateAccountStatus"
    ]["AccountId"]
    client.move_account(AccountId=account_id, SourceParentId=root_id, DestinationParentId=ou_id)
    return account_id, ou_id


def _create(aws: AwsProvider, name: str = "acme-probe") -> None:
    aws.create_stack_set(
        StackSetDefinition(
            name=name,
            template_body=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
            parameters={},
            description=None,
            tags={},
        )
    )


def _rewrite_operations(*statuses: str) -> Any:
    """An after-call DescribeStackSetOperation hook: the n-th answer reports `statuses[n]`."""
    remaining = list(statuses)

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        if remaining:
            parsed["StackSetOperation"]["Status"] = remaining.pop(0)
            if parsed["StackSetOperation"]["Status"] == "FAILED":
                parsed["StackSetOperation"]["StatusReason"] = "The account gate failed"

    return hook


def test_an_operation_is_polled_at_a_growing_interval(emulator: Emulator, aws: AwsProvider) -> None:
    waits: list[float] = []
    aws = AwsProvider(endpoint_url=emulator.endpoint, sleep=waits.append, poll_interval=2.0)
    account_id, ou_id = _organization_ids()
    _create(aws)
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStackSetOperation",
        _rewrite_operations("QUEUED", "RUNNING", "RUNNING"),
    )
    targets = InstanceTargets(organizational_units=(ou_id,), regions=("eu-west-1",))
    aws.create_stack_instances(name="acme-probe", targets=targets, preferences=Preferences())
    assert waits == [2.0, 3.0, 4.5]
    assert aws.call_counts()["CloudFormation.DescribeStackSetOperation"] == 4
    found = aws.describe_stack_set("acme-probe")
    assert found is not None
    assert [(i.account_id, i.region, i.organizational_unit_id) for i in found.instances] == [
        (account_id, "eu-west-1", ou_id)
    ]


def test_a_failed_operation_says_why_and_where(aws: AwsProvider) -> None:
    account_id, ou_id = _organization_ids()
    _create(aws)
    aws.register_event_hook(
        "after-call.cloudformation.DescribeStackSetOperation",
        _rewrite_operations("RUNNING", "FAILED"),
    )

    def failed_result(parsed: dict[str, Any], **_: Any) -> None:
        parsed["Summaries"] = [
            {"Account": account_id, "Region": "eu-west-1", "Status": "SUCCEEDED"},
            {
                "Account": account_id,
                "Region": "us-east-1",
                "Status": "FAILED",
                "StatusReason": "Topic: AccessDenied",
            },
        ]

    aws.register_event_hook("after-call.cloudformation.ListStackSetOperationResults", failed_result)
    targets = InstanceTargets(organizational_units=(ou_id,), regions=("eu-west-1", "us-east-1"))
    with pytest.raises(StackFailed) as failure:
        aws.create_stack_instances(name="acme-probe", targets=targets, preferences=Preferences())
    assert failure.value.operation == "CloudFormation.CreateStackInstances"
    assert failure.value.message.startswith("StackSet acme-probe: operation ")
    assert failure.value.message.endswith(
        " ended FAILED: The account gate failed; first failure: account "
        f"{account_id} us-east-1: Topic: AccessDenied"
    )


def test_a_missing_stack_set_reads_as_none(aws: AwsProvider) -> None:
    assert aws.describe_stack_set("acme-nothing") is None
    assert aws.call_counts() == {"CloudFormation.DescribeStackSet": 1}


# --- whole runs on the emulator -------------------------------------------------------------

BASELINE_TEMPLATE = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Description": "The baseline every workload account carries",
    "Parameters": {"Owner": {"Type": "String"}},
    "Resources": {
        "Marker": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": "/acme/baseline",
                "Type": "String",
                "Value": {"Fn::Sub": "${AWS::AccountId}-${AWS::Region}-${Owner}"},
            },
        }
    },
}
# Calls that change a StackSet or its instances.
WRITES = (
    "CloudFormation.CreateStackSet",
    "CloudFormation.UpdateStackSet",
    "CloudFormation.CreateStackInstances",
    "CloudFormation.DeleteStackInstances",
    "CloudFormation.DeleteStackSet",
)


@pytest.fixture
def project(tmp_path: Path, aws: AwsProvider, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(CASES / "project", tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    return tmp_path / "project"


def _store() -> LocalStateStore:
    return LocalStateStore(Path("state.json"))


def _plan(aws: AwsProvider, *, perform_cleanup: bool = False) -> Plan:
    inputs = compile_organization(Path("tasks.yml"))
    return make_plan(inputs, aws, _store().read(), perform_cleanup=perform_cleanup)


def _apply(aws: AwsProvider, *, perform_cleanup: bool = False) -> Plan:
    inputs = compile_organization(Path("tasks.yml"))
    plan, result = plan_and_apply(
        inputs, aws, _store(), confirm=lambda _: True, perform_cleanup=perform_cleanup
    )
    assert result is not None
    assert result.ok, (result.failed, result.skipped)
    return plan


def _calls_during(aws: AwsProvider, before: Mapping[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in aws.call_counts().items() if v != before.get(k)}


def _ids() -> dict[str, str]:
    """Account names and OU names (and `root`) → their ids in the emulator."""
    client = boto3.client("organizations", region_name="us-east-1")
    found = {a["Name"]: a["Id"] for a in client.list_accounts()["Accounts"]}
    root_id = client.list_roots()["Roots"][0]["Id"]
    found["root"] = root_id
    pending = [root_id]
    while pending:
        parent = pending.pop()
        for ou in client.list_organizational_units_for_parent(ParentId=parent)[
            "OrganizationalUnits"
        ]:
            found[ou["Name"]] = ou["Id"]
            pending.append(ou["Id"])
    return found


def _stack_set(name: str) -> dict[str, Any]:
    client = boto3.client("cloudformation", region_name="us-east-1")
    found = dict(client.describe_stack_set(StackSetName=name, CallAs="SELF")["StackSet"])
    found["Instances"] = sorted(
        (i["Account"], i["Region"])
        for i in client.list_stack_instances(StackSetName=name, CallAs="SELF")["Summaries"]
    )
    return found


def test_apply_a_stack_set_task_replan_and_change_its_template(
    project: Path, aws: AwsProvider
) -> None:
    sent: list[dict[str, Any]] = []
    aws.register_event_hook(
        "before-parameter-build.cloudformation.CreateStackInstances",
        lambda params, **_: sent.append(dict(params)),
    )
    first = _apply(aws)
    assert [c.id for c in first.changes if c.kind.startswith("stack-set")] == [
        "stack-set.create:Alarms",
        "stack-set-instances.create:Alarms",
        "stack-set.create:Baseline",
        "stack-set-instances.create:Baseline",
    ]
    ids = _ids()
    shop, sandbox, lab, audit = ids["shop"], ids["sandbox"], ids["lab"], ids["audit"]

    baseline = _stack_set("acme-baseline")
    assert json.loads(baseline["TemplateBody"]) == BASELINE_TEMPLATE
    assert baseline["Parameters"] == [{"ParameterKey": "Owner", "ParameterValue": "platform"}]
    assert baseline["Tags"] == [{"Key": "owner", "Value": "platform"}]
    assert baseline["PermissionModel"] == "SERVICE_MANAGED"
    assert baseline["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert baseline["OrganizationalUnitIds"] == [ids["workloads"]]
    # Every workload account but the lab, OU nested in OU, in both regions.
    assert baseline["Instances"] == sorted(
        (account, region) for account in (shop, sandbox) for region in ("eu-west-1", "us-east-1")
    )
    alarms = _stack_set("acme-alarms")
    assert alarms["AutoDeployment"] == {
        "Enabled": True,
        "RetainStacksOnAccountRemoval": False,
        "DependsOn": [baseline["StackSetARN"]],
    }
    assert alarms["OrganizationalUnitIds"] == [ids["root"]]
    assert alarms["Instances"] == sorted((a, "eu-west-1") for a in (shop, sandbox, lab, audit))
    # How the instances were asked for: OU targets with an account filter, AWS's concurrency.
    by_stack_set = {request["StackSetName"]: request for request in sent}
    assert by_stack_set["acme-baseline"]["DeploymentTargets"] == {
        "OrganizationalUnitIds": [ids["workloads"]],
        "AccountFilterType": "DIFFERENCE",
        "Accounts": [lab],
    }
    assert by_stack_set["acme-baseline"]["OperationPreferences"] == {
        "MaxConcurrentCount": 5,
        "FailureToleranceCount": 1,
        "ConcurrencyMode": "SOFT_FAILURE_TOLERANCE",
        "RegionConcurrencyType": "PARALLEL",
    }
    assert by_stack_set["acme-alarms"]["DeploymentTargets"] == {
        "OrganizationalUnitIds": [ids["root"]],
        "AccountFilterType": "NONE",
    }
    assert {r.name for r in _store().read().stack_sets} == {"acme-alarms", "acme-baseline"}

    # Applied means planned: nothing to do, read with one call pair per StackSet.
    before = aws.call_counts()
    again = _plan(aws)
    assert again.changes == ()
    assert [u for u in again.unchanged if "StackSet" in u] == [
        "Alarms (StackSet acme-alarms)",
        "Baseline (StackSet acme-baseline)",
    ]
    calls = _calls_during(aws, before)
    assert {k: v for k, v in calls.items() if k.startswith("CloudFormation.")} == {
        "CloudFormation.DescribeStackSet": 2,
        "CloudFormation.ListStackInstances": 2,
    }
    # A plan that trusts the state reads no StackSet at all while its records match the files.
    before = aws.call_counts()
    trusted = make_plan(
        compile_organization(Path("tasks.yml")), aws, _store().read(), refresh=False
    )
    assert trusted.changes == ()
    assert [u for u in trusted.unchanged if "StackSet" in u] == [
        "Alarms (StackSet acme-alarms)",
        "Baseline (StackSet acme-baseline)",
    ]
    calls = _calls_during(aws, before)
    assert not any(k.startswith("CloudFormation.") for k in calls), calls
    before = aws.call_counts()
    nothing, applied = plan_and_apply(
        compile_organization(Path("tasks.yml")), aws, _store(), confirm=lambda _: True
    )
    assert (nothing.has_changes, applied) == (False, None)
    assert not any(_calls_during(aws, before).get(w) for w in WRITES)

    # A template change: the plan shows its diff; apply updates the StackSet once.
    Path("baseline.yml").write_text(
        Path("baseline.yml").read_text().replace("/acme/baseline", "/acme/baseline-v2")
    )
    changed = _plan(aws)
    assert [(c.id, c.summary) for c in changed.changes] == [
        (
            "stack-set.update:Baseline",
            "update StackSet acme-baseline (task Baseline): the template changed",
        )
    ]
    text = render_text(changed)
    assert '      -        "Name": "/acme/baseline",\n' in text
    assert '      +        "Name": "/acme/baseline-v2",\n' in text
    before = aws.call_counts()
    _apply(aws)
    assert {w: n for w, n in _calls_during(aws, before).items() if w in WRITES} == {
        "CloudFormation.UpdateStackSet": 1
    }
    updated = _stack_set("acme-baseline")
    assert json.loads(updated["TemplateBody"])["Resources"]["Marker"]["Properties"]["Name"] == (
        "/acme/baseline-v2"
    )
    assert updated["Instances"] == baseline["Instances"]
    assert _plan(aws).changes == ()


def test_instances_follow_the_bindings_and_a_removed_task_goes_with_cleanup(
    project: Path, aws: AwsProvider
) -> None:
    _apply(aws)
    ids = _ids()
    shop, sandbox = ids["shop"], ids["sandbox"]
    tasks = Path("tasks.yml").read_text()
    Path("tasks.yml").write_text(
        tasks.replace(
            "ExcludeAccount: !Ref Lab", "ExcludeAccount: [!Ref Lab, !Ref Sandbox]"
        ).replace("Region: [eu-west-1, us-east-1]", "Region: [eu-west-1, eu-central-1]")
    )
    moved = _plan(aws)
    assert [(c.id, c.summary) for c in moved.changes] == [
        (
            "stack-set-instances.delete:Baseline",
            "delete instances of StackSet acme-baseline: region(s) us-east-1 left the task's "
            f"bindings; account(s) Sandbox ({sandbox}) left the task's bindings",
        ),
        (
            "stack-set-instances.create:Baseline",
            "create instances of StackSet acme-baseline in OU WorkloadsOU (except Lab, Sandbox), "
            "eu-central-1: region(s) eu-central-1 new",
        ),
    ]
    _apply(aws)
    assert _stack_set("acme-baseline")["Instances"] == [
        (shop, "eu-central-1"),
        (shop, "eu-west-1"),
    ]
    assert _plan(aws).changes == ()

    # The task leaves the files: its StackSet stays until cleanup is asked for.
    Path("tasks.yml").write_text(Path("tasks.yml").read_text().split("# Every account but")[0])
    kept = _plan(aws)
    assert kept.changes == ()
    assert [w.code for w in kept.warnings] == ["W442"]
    cleaned = _apply(aws, perform_cleanup=True)
    assert [(c.id, c.summary) for c in cleaned.changes] == [
        (
            "stack-set.delete:Alarms",
            "delete StackSet acme-alarms (task Alarms): its task is no longer in the task files "
            "(cleanup asked for)",
        )
    ]
    client = boto3.client("cloudformation", region_name="us-east-1")
    with pytest.raises(client.exceptions.StackSetNotFoundException):
        client.describe_stack_set(StackSetName="acme-alarms", CallAs="SELF")
    assert [r.name for r in _store().read().stack_sets] == ["acme-baseline"]
    assert _plan(aws, perform_cleanup=True).changes == ()


def test_a_stack_set_already_gone_is_forgotten() -> None:
    wanted = desired()
    planner = planned((), None, State(stack_sets=(record(wanted),)), tasks={}, perform_cleanup=True)
    assert ids_and_summaries(planner) == [
        (
            "stack-set.forget:Baseline",
            "forget StackSet acme-baseline (task Baseline): it was already deleted outside orgc",
        )
    ]


def test_validate_says_why_a_task_cannot_be_a_stack_set_without_any_aws_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ELIGIBILITY, tmp_path / "eligibility")
    shutil.copy(CASES / "organization.yml", tmp_path / "organization.yml")
    tasks = tmp_path / "eligibility" / "tasks.yml"
    update = "OrganizationUpdate:\n  Type: update-organization\n  Template: ../organization.yml\n"
    tasks.write_text(update + tasks.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    # The same findings as at plan time, three lines further down the file (the messages name
    # places in it, so they are compared up to the reason).
    expected = {
        (line + 3, code, message.partition(":")[0])
        for line, code, message in expected_diagnostics(ELIGIBILITY / "tasks.yml")
    }
    # The organization file lies above the task file: the project root is said explicitly.
    found = actual_diagnostics(
        validate(Path("eligibility/tasks.yml"), root=tmp_path), "eligibility/tasks.yml"
    )
    assert {(line, code, message.partition(":")[0]) for line, code, message in found} == expected


def test_a_stack_set_the_emulator_cannot_build_is_refused_and_left_to_create(
    project: Path, aws: AwsProvider
) -> None:
    # the baseline's marker holds the ARN of a CodeCommit repository, which moto lacks
    baseline = Path("baseline.yml")
    baseline.write_text(
        baseline.read_text(encoding="utf-8").replace(
            "      Value: !Sub '${AWS::AccountId}-${AWS::Region}-${Owner}'",
            "      Value: !GetAtt Repository.Arn\n"
            "  Repository:\n"
            "    Type: AWS::CodeCommit::Repository\n"
            "    Properties:\n"
            "      RepositoryName: baseline",
        ),
        encoding="utf-8",
    )
    inputs = compile_organization(Path("tasks.yml"))
    _, result = plan_and_apply(inputs, aws, _store(), confirm=lambda _: True)
    assert result is not None
    assert result.failed == {}
    assert result.refused == {
        "stack-set.create:Baseline": "the StackSet of task Baseline at tasks.yml:6:1: the "
        "embedded emulator refused it: the emulator does not implement "
        "AWS::CodeCommit::Repository (resource Repository), which Fn::GetAtt Repository.Arn in "
        "resource Marker read(s); AWS would create it. That is a limit of the emulator, not a "
        "mistake in the files: on AWS the StackSet would be made so; what waits on it is skipped"
    }
    # the alarms' automatic deployments follow the baseline's, which needs its ARN
    assert result.skipped == {
        "stack-set-instances.create:Baseline": "waits on stack-set.create:Baseline, which the "
        "emulator refused",
        "stack-set.create:Alarms": "follows the automatic deployments of StackSet "
        "acme-baseline, which the emulator refused",
        "stack-set-instances.create:Alarms": "waits on stack-set.create:Alarms, which was skipped",
    }
    client = boto3.client("cloudformation", region_name="us-east-1")
    assert client.list_stack_sets()["Summaries"] == []
    assert _store().read().stack_sets == ()
    # the next plan still makes the refused StackSet and what waits on it
    assert [c.id for c in _plan(aws).changes if c.kind.startswith("stack-set")] == [
        "stack-set.create:Alarms",
        "stack-set-instances.create:Alarms",
        "stack-set.create:Baseline",
        "stack-set-instances.create:Baseline",
    ]
