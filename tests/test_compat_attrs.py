"""Every task attribute OrgFormation evaluates per target, with every kind of expression it
accepts there, replayed on the emulator; and what is known only after apply, filled in by it.

Each scenario under tests/scenarios/compat/attrs-* is validated, applied with `orgc` as an
OrgFormation user would run it, what AWS then holds is read with boto3 directly, and the run
ends with a re-plan that must change nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from support.compat import (
    account_id,
    apply_then_no_op,
    described_stack,
    orgc,
    plan,
    scenario,
    stacks,
    validate_lines,
)
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.emulator import Emulator
from orgc.pipeline import compile_organization, offline_stacks
from orgc.render import markers
from orgc.render.model import MARKER_KINDS


def test_every_attribute_is_finished_for_each_target_with_what_the_target_knows(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("attrs-per-target", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    # The accounts are created by this run: what names their ids is filled in at apply.
    first = plan(emulator, capsys, "tasks.yml")
    roles = {
        (c["details"]["account"], c["details"]["region"]): c["details"]["roleName"]
        for c in first["changes"]
        if c["kind"] == "stack" and c["details"]["task"] == "PerTarget"
    }
    via = f"arn:aws:iam::{MANAGEMENT_ACCOUNT_ID}:role/PipelineRole|"
    assert roles == {
        (account, region): via + role
        for account, role in (
            ("MasterAccount", "OrganizationAccountAccessRole"),
            ("AccountA", "AlphaAccessRole"),
            ("AccountB", "OrganizationAccountAccessRole"),
        )
        for region in ("eu-west-1", "eu-central-1")
    }
    apply_then_no_op(emulator, "tasks.yml")

    alpha, beta = account_id("alpha"), account_id("beta")
    targets = (
        (MANAGEMENT_ACCOUNT_ID, "master", "1000", "OrganizationAccountAccessRole", "PipelineRole"),
        (alpha, "alpha", "200", "AlphaAccessRole", "PipelineRole"),
        (beta, "beta", "300", "OrganizationAccountAccessRole", "BetaBuildRole"),
    )
    for account, name, budget, access, build in targets:
        # !FindInMap [Regions, !Ref AWS::Partition, all] gave both regions.
        for region in ("eu-west-1", "eu-central-1"):
            assert stacks(account, region) == {"attrs-shared", "attrs-per-target"}
            stack = described_stack(account, "attrs-per-target", region)
            assert stack["Description"] == (
                f"{name} ({account}) in {region}, managed from {MANAGEMENT_ACCOUNT_ID}"
            )
            # The TemplatingContext wrote the expression; the target finished it.
            assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {
                "Budget": budget,
                "Partition": "aws",
            }
            assert {t["Key"]: t["Value"] for t in stack["Tags"]} == {
                "owner": name,
                "budget": budget,
            }
            assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
                "name": name,
                "id": account,
                "region": region,
                "partition": "aws",
                "master": MANAGEMENT_ACCOUNT_ID,
                "alphaName": "alpha",
                "alphaId": alpha,
                "threshold": budget,
                "accessRole": access,
                "buildRole": build,
                "owner": name,  # a task-file parameter whose Default names CurrentAccount
                "flavour": "commercial",
                "shared": f"{account}-shared",  # the export of the target's own stack
                "joined": f"{alpha}-shared/{name}",
                "peers": beta,  # !Ref of the task's named binding
            }
    # copy-to-s3: the path and the rendered file name the target, its id filled in at apply;
    # each put as the target's TaskRoleName, reached through its TaskViaRoleArn.
    recorded = json.loads(Path("state.json").read_text(encoding="utf-8"))["objects"]
    for account, name, team, budget, role in (
        (alpha, "alpha", "web", "200", f"arn:aws:iam::{alpha}:role/PipelineRole|AlphaAccessRole"),
        (
            beta,
            "beta",
            "data",
            "300",
            f"arn:aws:iam::{beta}:role/BetaBuildRole|OrganizationAccountAccessRole",
        ),
    ):
        bucket, key = f"attrs-{account}-eu-central-1", f"{name}/{team}.txt"
        s3 = in_account(account, "s3", "eu-central-1")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert body == (
            f"note of {name} ({account}) in eu-central-1: budget {budget}, commercial, "
            "managed by master\n"
        )
        assert recorded[f"s3://{bucket}/{key}"]["roleName"] == role


def test_what_decides_the_targets_cannot_name_a_target(
    tmp_path: Path,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bindings and their regions are read before there is a target, and the organization
    file has none: as in OrgFormation, none can name one. A task whose binding or region is
    refused is left out, so nothing is said of what it would bind without them."""
    scenario("attrs-per-target", tmp_path, monkeypatch)
    decides = "means nothing before there are targets; "
    accounts = "select accounts by logical id (!Ref AccountA), OU or AccountsWithTag, and "
    by_name = (
        "give the regions by name (or a parameter, or !FindInMap keyed by !Ref AWS::Partition)"
    )
    assert validate_lines(capsys, emulator, "tasks-errors.yml") == [
        "tasks-errors.yml:6:5: error[E476]: TemplatingContext of task OrganizationUpdate "
        "renders a file that has no target, so it cannot name one: "
        "!GetAtt CurrentAccount.AccountName means nothing there; give the value itself",
        "tasks-errors.yml:12:37: error[E475]: DefaultOrganizationBindingRegion of task Region "
        "decides which regions the task deploys to, so it cannot name the target: "
        f"!GetAtt CurrentAccount.Tags.team {decides}{by_name}",
        "tasks-errors.yml:20:37: error[E475]: DefaultOrganizationBindingRegion of task "
        "RegionPseudo decides which regions the task deploys to, so it cannot name the "
        f"target: !Ref AWS::Region {decides}{by_name}",
        "tasks-errors.yml:29:14: error[E475]: DefaultOrganizationBinding of task Binding "
        "decides which accounts the task deploys to, so it cannot name the target: "
        f"!Ref CurrentAccount {decides}{accounts}regions by name",
        "tasks-errors.yml:38:13: error[E475]: DefaultOrganizationBinding of task BindingRegion "
        "decides which regions the task deploys to, so it cannot name the target: "
        f"!Sub '${{CurrentAccount.Tags.team}}' {decides}{accounts}regions by name",
        "tasks-errors.yml:47:16: error[E475]: binding Peers of task Named decides which "
        f"accounts the task deploys to, so it cannot name the target: !Ref AWSAccount "
        f"{decides}{accounts}regions by name",
        "tasks-errors.yml:55:14: error[E475]: OrganizationBinding of task Copy decides which "
        "accounts the task deploys to, so it cannot name the target: !Ref CurrentAccount "
        f"{decides}{accounts}regions by name",
        "7 errors, 0 warnings",
    ]


def test_a_map_keyed_by_the_id_of_an_account_this_run_creates_is_named_at_plan(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("attrs-per-target", tmp_path, monkeypatch)
    refused = (
        "tasks-mapped.yml:11:1: error[E426]: !FindInMap is keyed by the id of account "
        "AccountA, which this run creates: no map can hold that id before the account "
        "exists; apply the organization first, then key the map by its id"
    )
    assert validate_lines(capsys, emulator, "tasks-mapped.yml") == [refused, "1 error, 0 warnings"]
    assert orgc(emulator, "plan", "tasks-mapped.yml") == 1
    assert capsys.readouterr().err.splitlines() == [refused]
    # A map that lacks the target's id is named by its keys (the task file kept the map in
    # place of its name for the target to finish).
    assert validate_lines(capsys, emulator, "tasks-unmapped.yml") == [
        "tasks-unmapped.yml:11:1: error[E426]: the map of !FindInMap (keys 111111111111, "
        "222222222222) has no key '123456789012'",
        "1 error, 0 warnings",
    ]
    # Once the account exists, the map is keyed by its id, and each target reads its own.
    apply_then_no_op(emulator, "organization.yml")
    alpha = account_id("alpha")
    tasks = Path("tasks-mapped.yml")
    tasks.write_text(
        tasks.read_text(encoding="utf-8").replace(
            "    '123456789012': {label: management}\n",
            f"    '123456789012': {{label: management}}\n    '{alpha}': {{label: first}}\n",
        ),
        encoding="utf-8",
    )
    apply_then_no_op(emulator, "tasks-mapped.yml")
    for account, label in ((MANAGEMENT_ACCOUNT_ID, "management"), (alpha, "first")):
        stack = described_stack(account, "mapped", "eu-west-1")
        assert stack["Parameters"] == [{"ParameterKey": "label", "ParameterValue": label}]


# --- every value known only after apply is filled in by it ----------------------------------

# Each kind of known-after-apply marker, by the parameter of the attrs-markers scenario that
# holds it (in the management account's stack), with what AWS must hold there after apply.
_MARKED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "account": ("account", "produced"),
    "organizational-unit": ("ou",),
    "policy": ("policy",),
    "root": ("root",),
    "organization-id": ("organization",),
    "state-bucket": ("bucket",),
    "reference": ("copied", "joined"),
}


# The kinds a render that knows no AWS still knows: the state bucket is named by the
# management account's id, which the organization file always gives.
_KNOWN_OFFLINE = ("state-bucket",)


def _organization_values() -> dict[str, str]:
    """What the emulated organization holds now, read with boto3: the values apply filled."""
    client = boto3.client("organizations", region_name="us-east-1")
    root = client.list_roots()["Roots"][0]["Id"]
    (ou,) = client.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    policies = client.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    fresh = account_id("fresh")
    return {
        "account": fresh,
        "produced": fresh,
        "ou": ou["Id"],
        "policy": next(p["Id"] for p in policies if p["Name"] == "guard"),
        "root": root,
        "organization": client.describe_organization()["Organization"]["Id"],
        "bucket": f"orgc-state-{MANAGEMENT_ACCOUNT_ID}",
        "copied": f"{fresh}-made",
        "joined": f"{fresh}-made-joined",
    }


def test_every_marker_kind_validate_and_plan_accept_is_filled_by_apply(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What validate and plan accept resolves at apply: every kind of marker orgc has (a kind
    added later without a parameter here fails the test) is written by a render that knows
    no id, kept by the plan where the run makes the value, and filled by apply."""
    assert set(_MARKED_PARAMETERS) == set(MARKER_KINDS)
    directory = scenario("attrs-markers", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    # As validate sees it (no AWS, no state): every kind is a marker, each where it is meant.
    inputs = compile_organization(directory / "tasks.yml", root=directory)
    stacks, _ = offline_stacks(inputs)
    management = next(
        s for s in stacks if s.key.task == "Everything" and s.key.account == "MasterAccount"
    )
    offline = {
        name: {kind for kind, _ in markers(value)} for name, value in management.parameters.items()
    }
    references = {r.parameter for r in management.references}
    for kind, names in _MARKED_PARAMETERS.items():
        for name in names:
            if kind == "reference":  # read from its producer before the stack deploys
                assert name in references or f"{name}.0" in references, name
            elif kind in _KNOWN_OFFLINE:
                assert offline[name] == set(), name
            else:
                assert offline[name] == {kind}, name
    # A template's reference to a resource of the stack in another account is one too.
    (generated,) = references - {"copied", "joined.0"}

    # The plan reads the live organization (its id, its root): what this run makes is
    # still a marker, filled at apply.
    first = plan(emulator, capsys, "tasks.yml")
    change = next(
        c
        for c in first["changes"]
        if c["kind"] == "stack"
        and c["details"]["task"] == "Everything"
        and c["details"]["account"] == "MasterAccount"
    )
    planned = change["details"]["parameters"]
    assert {kind for value in planned.values() for kind, _ in markers(value)} == {
        "account",
        "organizational-unit",
        "policy",
        "reference",
    }
    assert planned[generated] == f"{{{{orgc:reference:{generated}}}}}"
    assert change["details"]["settings"]["tags"] == {"fresh": "{{orgc:account:Fresh}}"}
    known_at_plan = {name: planned[name] for name in ("root", "organization", "bucket")}

    apply_then_no_op(emulator, "tasks.yml")
    held = described_stack(MANAGEMENT_ACCOUNT_ID, "markers-everything", "eu-west-1")
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in held["Parameters"]}
    expected = _organization_values()
    fresh = expected["account"]
    assert {name: parameters[name] for name in expected} == expected
    assert known_at_plan == {name: expected[name] for name in known_at_plan}
    # The other stack's resource, read from the output generated for it.
    assert parameters[generated] == f"arn:aws:sns:eu-west-1:{fresh}:markers-local"
    assert {t["Key"]: t["Value"] for t in held["Tags"]} == {"fresh": fresh}
    assert not markers(held)


def _account_tags(account: str) -> dict[str, str]:
    client = boto3.client("organizations", region_name="us-east-1")
    return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceId=account)["Tags"]}


def test_numbers_where_text_is_meant_are_the_text_as_written(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unquoted account ids, tag values and !CopyValue account ids are taken as the text
    written; only a leading zero, which YAML drops, is a warning."""
    scenario("attrs-numbers", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == [
        "organization.yml:19:22: warning[W395]: 0042 is an unquoted number with a leading "
        "zero; orgc takes the text as written, but YAML reads it as the number 42 "
        "(OrgFormation may too): quote it: '0042'",
        "0 errors, 1 warning",
    ]
    apply_then_no_op(emulator, "tasks.yml")
    budgeted = account_id("budgeted")
    assert _account_tags(MANAGEMENT_ACCOUNT_ID) == {"budget-alarm-threshold": "200"}
    assert _account_tags(budgeted) == {
        "budget-alarm-threshold": "1500",
        "ratio": "1.50",
        "cost-centre": "0042",
    }
    stack = described_stack(budgeted, "numbers-budget", "eu-west-1")
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
        "threshold": "1500",
        "ratio": "1.50",
        "limit": "limit-of-management",
        "management": MANAGEMENT_ACCOUNT_ID,
    }


def test_a_stack_set_description_or_tag_that_differs_per_target_is_refused(
    tmp_path: Path,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("attrs-per-target", tmp_path, monkeypatch)
    # The tag that gives every target the same text is not.
    assert validate_lines(capsys, emulator, "tasks-stackset.yml") == [
        "tasks-stackset.yml:6:1: error[E444]: task Set cannot be a StackSet: its template "
        "differs between AccountA eu-west-1 and AccountB eu-west-1 at Description, which the "
        "task's StackDescription (!Sub 'for ${CurrentAccount.AccountName}') gives, and a "
        "StackSet deploys one template to every account; write a value every account shares "
        "(CloudFormation resolves ${AWS::AccountId} and ${AWS::Region} in each account), use "
        "DeploymentMode: Stacks, or move the per-account part into its own task",
        "tasks-stackset.yml:6:1: error[E477]: task Set cannot be a StackSet: tag team "
        "(!GetAtt CurrentAccount.Tags.team) is 'web' in AccountA eu-west-1 but 'data' in "
        "AccountB eu-west-1, and a StackSet has one set of tags for every account; give the "
        "tag one value for all, use DeploymentMode: Stacks, or move the per-account part into "
        "its own task",
        "2 errors, 0 warnings",
    ]


def test_a_plan_that_names_what_no_change_makes_is_refused_before_apply(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the update-organization task skipped, an account or OU the organization file adds
    is made by no change: apply would have no id for its marker, so the plan says so."""
    scenario("attrs-markers-skipped", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks.yml") == ["0 errors, 0 warnings"]
    why = (
        "which does not exist yet and which this plan does not make (the update-organization "
        "task is skipped); apply the organization first, or leave out what names it"
    )
    stack = "create stack uses in MasterAccount (123456789012) eu-west-1"
    upload = (
        "create s3://uploads-{{orgc:account:Fresh}}/labelled.yml from labelled.yml as Fresh "
        "({{orgc:account:Fresh}}), "
    )
    size = Path("labelled.yml").stat().st_size
    for command in (("plan",), ("apply", "--auto-approve")):
        assert orgc(emulator, *command[:1], "tasks.yml", *command[1:]) == 1
        assert capsys.readouterr().err.splitlines() == [
            f"tasks.yml:8:1: error[E478]: {stack} needs the id of OU FreshOU, {why}",
            f"tasks.yml:8:1: error[E478]: {stack} needs the id of account Fresh, {why}",
            f"tasks.yml:18:1: error[E478]: {upload}{size:,} bytes needs the id of account "
            f"Fresh, {why}",
        ]
    assert stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == set()


def test_a_remote_path_reading_an_export_nothing_makes_is_refused_before_apply(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("attrs-per-target", tmp_path, monkeypatch)
    assert validate_lines(capsys, emulator, "tasks-missing-export.yml") == ["0 errors, 0 warnings"]
    for command in (("plan",), ("apply", "--auto-approve")):
        assert orgc(emulator, *command[:1], "tasks-missing-export.yml", *command[1:]) == 1
        assert capsys.readouterr().err.splitlines() == [
            "tasks-missing-export.yml:6:1: error[E479]: RemotePath of task Upload reads the "
            f"export nowhere-bucket in account {MANAGEMENT_ACCOUNT_ID} eu-west-1, which is not "
            "there and which no stack of this plan makes; deploy the stack that exports it "
            "first, or correct the export's name, account or region",
        ]
    assert not Path("state.json").exists()  # apply made no change
