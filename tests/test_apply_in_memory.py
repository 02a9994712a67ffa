"""Apply → observe → re-plan on the in-memory fake provider: the plan of what was applied is
empty, and a change reaches exactly what depends on it. No emulator, so each takes about a second
at most, on the example organization in `organization/`, the landing-zone scenario, copy-to-s3
and the StackSet project. One test holds the fake to the emulator: a new organization reads the
same on both.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support.emulated import EXAMPLE_GROUPS, create_groups
from support.fake_provider import MANAGEMENT_ACCOUNT_ID, FakeAws
from support.scenarios import STACKS_SCENARIOS

from orgc.aws import AwsError, AwsProvider
from orgc.observed import StackDeployment
from orgc.pipeline import Inputs, compile_organization, make_plan, plan_and_apply
from orgc.plan import Plan
from orgc.plan.specs import ResourceChange, StackDeploy
from orgc.provider import Provider
from orgc.show import render_text
from orgc.state import LocalStateStore, State

REPOSITORY = Path(__file__).parent.parent
FIRST_RUN = STACKS_SCENARIOS / "first-run"
STACK_SETS = Path(__file__).parent / "cases" / "stacksets" / "project"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalStateStore:
    """A local state file, in a working directory of the test's own."""
    monkeypatch.chdir(tmp_path)
    return LocalStateStore(tmp_path / "state.json")


def example_fake() -> FakeAws:
    """A fake whose identity store holds the groups the example organization assigns."""
    fake = FakeAws()
    for group in EXAMPLE_GROUPS:
        fake.add_group(group)
    return fake


def apply_all(inputs: Inputs, fake: FakeAws, store: LocalStateStore) -> Plan:
    plan, result = plan_and_apply(inputs, fake, store, confirm=lambda _: True)
    assert result is not None
    assert result.ok, (result.failed, result.skipped)
    return plan


def replan(inputs: Inputs, fake: FakeAws, store: LocalStateStore, *, refresh: bool) -> Plan:
    return make_plan(inputs, fake, store.read(), refresh=refresh)


def stack_actions(plan: Plan) -> dict[str, str]:
    return {c.logical_id or "": c.action for c in plan.changes if c.kind == "stack"}


# --- the example organization -----------------------------------------------------------------


@pytest.fixture
def example(store: LocalStateStore) -> Path:
    """organization/ and templates/ as the README runs them (the tasks name ../templates)."""
    for folder in ("organization", "templates"):
        shutil.copytree(REPOSITORY / folder, Path(folder))
    Path(".git").mkdir()  # a checkout: its top is the project root, templates/ inside it
    return Path("organization")


def test_the_example_organization_applied_plans_empty(
    example: Path, store: LocalStateStore
) -> None:
    fake = example_fake()
    inputs = compile_organization(example)
    first = apply_all(inputs, fake, store)
    assert first.has_changes
    # GuardDuty and Security Hub administered from the audit account; every account's
    # security contact set, the security OU's on call as its accounts' operations contact.
    audit = fake.account_named("example-audit").account_id
    assert fake.delegated == {
        "guardduty.amazonaws.com": {audit},
        "securityhub.amazonaws.com": {audit},
    }
    assert {a: c["SECURITY"].email_address for a, c in fake.contacts.items()} == dict.fromkeys(
        fake.accounts, "security@example.com"
    )
    assert sorted(fake.accounts[a].name for a, c in fake.contacts.items() if "OPERATIONS" in c) == [
        "example-audit",
        "example-log-archive",
    ]

    # What AWS holds: every account in its OU, the policies where the files attach them, the
    # 57 stacks the task file counts.
    names = {account.name: account for account in fake.accounts.values()}
    assert sorted(names) == [
        "example-audit",
        "example-data-prod",
        "example-data-staging",
        "example-log-archive",
        "example-payments-dev",
        "example-payments-prod",
        "example-payments-staging",
        "example-search-dev",
        "example-search-prod",
        "example-search-staging",
        "master",
    ]
    ous = {ou.ou_id: ou.name for ou in fake.organizational_units.values()}
    assert {name: ous.get(a.parent_id, a.parent_id) for name, a in names.items()} == {
        "example-audit": "security",
        "example-data-prod": "prod",
        "example-data-staging": "sdlc",
        "example-log-archive": "security",
        "example-payments-dev": "sdlc",
        "example-payments-prod": "prod",
        "example-payments-staging": "sdlc",
        "example-search-dev": "sdlc",
        "example-search-prod": "prod",
        "example-search-staging": "sdlc",
        "master": "r-fake",
    }
    assert sum(len(stacks) for stacks in fake.stacks.values()) == 57
    policy_names = {p.policy_id: p.name for p in fake.policies.values()}
    attached = {
        ous.get(target, target): sorted(policy_names[p] for p in policies)
        for target, policies in fake.attachments.items()
        if target in ous or target == "r-fake"
    }
    assert attached == {
        "r-fake": ["DenyLeaveOrganization", "DenyUnusedRegions", "FullAWSAccess"],
        "prod": ["DenyRootUser", "FullAWSAccess"],
        "sdlc": ["FullAWSAccess"],
        "security": ["FullAWSAccess", "ProtectSecurityTooling"],
        "workloads": ["FullAWSAccess", "RequiredTags"],
    }

    # The log bucket's name, taken from the log archive's stack into every workload account.
    archive = names["example-log-archive"].account_id
    bucket = f"example-log-archive-{archive}"
    producer = fake.stack(archive, "eu-west-1", "example-log-archive")
    assert producer is not None
    assert producer.outputs["LogBucketName"] == bucket
    payments = fake.ssm[(names["example-payments-prod"].account_id, "eu-west-1")]
    assert payments["/org/logging/bucket-name"] == bucket
    assert payments["/org/logging/bucket-arn"] == f"arn:aws:s3:::{bucket}"

    # Applied means planned: nothing to do, reading everything or trusting the state.
    assert replan(inputs, fake, store, refresh=True).changes == ()
    assert replan(inputs, fake, store, refresh=False).changes == ()
    before = dict(fake.calls)
    again, applied = plan_and_apply(inputs, fake, store, confirm=lambda _: True)
    assert (again.has_changes, applied) == (False, None)
    writes = {"deploy_stack", "create_account", "attach_policy", "create_policy"}
    assert {verb: fake.calls[verb] - before.get(verb, 0) for verb in writes} == dict.fromkeys(
        writes, 0
    )


def test_the_fake_reads_a_new_organization_as_the_emulator_does(
    example: Path, store: LocalStateStore, aws: AwsProvider
) -> None:
    # The same files planned on a fresh organization of each: the same plan, to the letter, but
    # for the organization's id.
    inputs = compile_organization(example)
    create_groups(*EXAMPLE_GROUPS)
    on_emulator = make_plan(inputs, aws, State())
    on_fake = replan(inputs, example_fake(), store, refresh=True)
    # 18 trusted access, administrator and contact changes; 2 permission sets, 34 assignments
    assert len(on_fake.changes) == 169
    assert render_text(on_fake).replace(on_fake.organization_id, "o-?") == render_text(
        on_emulator
    ).replace(on_emulator.organization_id, "o-?")


def test_a_stack_changed_by_hand_is_seen_with_refresh_and_put_back(
    example: Path, store: LocalStateStore
) -> None:
    fake = example_fake()
    inputs = compile_organization(example)
    apply_all(inputs, fake, store)
    audit = fake.account_named("example-audit").account_id
    fake.edit_stack_by_hand(audit, "eu-west-1", "example-org-directory", parameters={})
    # Trusting the state sees nothing; reading sees exactly that stack.
    assert replan(inputs, fake, store, refresh=False).changes == ()
    refreshed = replan(inputs, fake, store, refresh=True)
    assert stack_actions(refreshed) == {"OrgDirectory/AuditAccount/eu-west-1": "update"}
    plan, result = plan_and_apply(inputs, fake, store, confirm=lambda _: True, refresh=True)
    assert result is not None
    assert result.ok
    assert stack_actions(plan) == {"OrgDirectory/AuditAccount/eu-west-1": "update"}
    assert replan(inputs, fake, store, refresh=True).changes == ()


# --- the landing zone: a producer's output and its consumers -----------------------------------


@pytest.fixture
def landing_zone(store: LocalStateStore) -> Path:
    """The first-run scenario's project, with the fake's management account."""
    shutil.copytree(FIRST_RUN / "templates", Path("templates"))
    shutil.copy(FIRST_RUN / "tasks.yml", "tasks.yml")
    organization = (FIRST_RUN / "organization.yml").read_text(encoding="utf-8")
    Path("organization.yml").write_text(
        organization.replace(
            "AccountName: management, AccountId: '111111111111'",
            f"AccountName: master, AccountId: '{MANAGEMENT_ACCOUNT_ID}'",
        ),
        encoding="utf-8",
    )
    return Path("tasks.yml")


def test_progress_names_the_ids_of_accounts_created_earlier_in_the_run(
    landing_zone: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    events: list[tuple[str, str, str]] = []
    plan, result = plan_and_apply(
        compile_organization(landing_zone),
        fake,
        store,
        confirm=lambda _: True,
        listener=lambda event, change, _: events.append((event, change.id, change.summary)),
    )
    assert result is not None
    assert result.ok
    planned = {c.id: c.summary for c in plan.changes}
    new_accounts = {
        c.logical_id: fake.account_named(c.spec.name).account_id  # type: ignore[union-attr]
        for c in plan.changes
        if c.id.startswith("account.create:")
    }
    stacks_in_new = [
        (event, change_id, summary)
        for event, change_id, summary in events
        if change_id.startswith("stack.") and "(known after apply)" in planned[change_id]
    ]
    assert stacks_in_new  # the plan could not name these accounts' ids
    for event, change_id, summary in stacks_in_new:
        account = change_id.split(":", 1)[1].split("/")[1]
        assert "(known after apply)" not in summary
        assert summary == planned[change_id].replace(
            f"{account} (known after apply)", f"{account} ({new_accounts[account]})"
        ), event
    # What the plan says is left as it was: a saved plan shows what was reviewed.
    assert all("(known after apply)" in planned[c] for _, c, _ in stacks_in_new)


def test_a_template_changed_by_hand_shows_with_refresh_what_the_update_puts_back(
    landing_zone: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    inputs = compile_organization(landing_zone)
    apply_all(inputs, fake, store)
    shop = fake.account_named("shop").account_id
    stack = fake.stacks[(shop, "eu-west-1")]["acme-directory"]
    edited = copy.deepcopy(stack.template)
    edited["Resources"]["OrganizationId"]["Properties"]["Description"] = "edited by hand"
    fake.edit_stack_by_hand(shop, "eu-west-1", "acme-directory", template=edited)

    assert replan(inputs, fake, store, refresh=False).changes == ()
    [change] = replan(inputs, fake, store, refresh=True).changes
    assert change.summary == (
        f"update stack acme-directory in Shop ({shop}) eu-west-1: the stack was changed outside "
        "orgc since the last apply, template changed"
    )
    assert isinstance(change.spec, StackDeploy)
    changes = change.spec.template_changes
    assert changes is not None
    assert changes.resources == (
        ResourceChange(
            logical_id="OrganizationId", resource_type="AWS::SSM::Parameter", change="modified"
        ),
    )
    assert '-    "Description": "edited by hand",' in changes.diff
    _, result = plan_and_apply(inputs, fake, store, confirm=lambda _: True, refresh=True)
    assert result is not None
    assert result.ok
    assert fake.stacks[(shop, "eu-west-1")]["acme-directory"].template == stack.template
    assert replan(inputs, fake, store, refresh=True).changes == ()


def test_a_changed_producer_output_updates_exactly_its_consumers(
    landing_zone: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    apply_all(compile_organization(landing_zone), fake, store)
    archive = fake.account_named("log-archive").account_id
    consumers = [fake.account_named(name).account_id for name in ("shop", "sandbox")]
    for account_id in consumers:
        assert fake.ssm[(account_id, "eu-west-1")]["/org/logs/bucket-name"] == (
            f"acme-logs-{archive}"
        )
    inputs = compile_organization(landing_zone)
    assert replan(inputs, fake, store, refresh=True).changes == ()
    deploys = {
        (pair, name): stack.deploys
        for pair, stacks in fake.stacks.items()
        for name, stack in stacks.items()
    }

    # The bucket is renamed: its stack changes, and so do the two stacks that take its name;
    # nothing else does.
    logs = Path("templates/logs.yml")
    logs.write_text(
        logs.read_text(encoding="utf-8").replace(
            "-logs-${AWS::AccountId}", "-logs-v2-${AWS::AccountId}"
        ),
        encoding="utf-8",
    )
    inputs = compile_organization(landing_zone)
    changed = replan(inputs, fake, store, refresh=True)
    assert stack_actions(changed) == {
        "Logs/LogArchive/eu-west-1": "update",
        "Logs/Sandbox/eu-west-1": "update",
        "Logs/Shop/eu-west-1": "update",
    }
    assert [c.summary for c in changed.changes if c.logical_id == "Logs/Shop/eu-west-1"] == [
        f"update stack acme-logs in Shop ({consumers[0]}) eu-west-1: a value from another "
        "stack may change (Logs/LogArchive/eu-west-1 changes)"
    ]
    assert [c.summary for c in changed.changes if c.logical_id == "Logs/LogArchive/eu-west-1"] == [
        f"update stack acme-logs in LogArchive ({archive}) eu-west-1: template changed"
    ]
    apply_all(inputs, fake, store)
    for account_id in consumers:
        assert fake.ssm[(account_id, "eu-west-1")]["/org/logs/bucket-name"] == (
            f"acme-logs-v2-{archive}"
        )
        assert fake.ssm[(account_id, "eu-west-1")]["/org/logs/bucket-arn"] == (
            f"arn:aws:s3:::acme-logs-v2-{archive}"
        )
    redeployed = {
        key for key, count in deploys.items() if fake.stacks[key[0]][key[1]].deploys != count
    }
    assert redeployed == {
        ((account_id, "eu-west-1"), "acme-logs") for account_id in (archive, *consumers)
    }
    assert replan(inputs, fake, store, refresh=True).changes == ()
    assert replan(inputs, fake, store, refresh=False).changes == ()


def test_copy_to_s3_puts_once_and_again_when_the_content_changes(
    landing_zone: Path, store: LocalStateStore
) -> None:
    fake = FakeAws()
    fake.create_bucket("acme-artifacts")
    Path("artifacts").mkdir()
    Path("artifacts/handler.py").write_text("print('v1')\n", encoding="utf-8")
    with landing_zone.open("a", encoding="utf-8") as tasks:
        tasks.write(
            "\nArtifacts:\n"
            "  Type: copy-to-s3\n"
            "  LocalPath: ./artifacts/handler.py\n"
            "  RemotePath: s3://acme-artifacts/lambda/handler.py\n"
            "  OrganizationBinding: {IncludeMasterAccount: true, Region: us-east-1}\n"
        )
    first = apply_all(compile_organization(landing_zone), fake, store)
    assert [(c.kind, c.action) for c in first.changes if c.kind == "s3-object"] == [
        ("s3-object", "create")
    ]
    assert fake.buckets["acme-artifacts"] == {"lambda/handler.py": b"print('v1')\n"}
    assert replan(compile_organization(landing_zone), fake, store, refresh=True).changes == ()

    Path("artifacts/handler.py").write_text("print('v2')\n", encoding="utf-8")
    inputs = compile_organization(landing_zone)
    assert [(c.kind, c.action) for c in replan(inputs, fake, store, refresh=True).changes] == [
        ("s3-object", "update")
    ]
    apply_all(inputs, fake, store)
    assert fake.buckets["acme-artifacts"] == {"lambda/handler.py": b"print('v2')\n"}
    assert replan(inputs, fake, store, refresh=True).changes == ()


# --- StackSets ----------------------------------------------------------------------------------


def test_stack_sets_applied_plan_empty(store: LocalStateStore) -> None:
    shutil.copytree(STACK_SETS, Path("project"))
    fake = FakeAws()
    inputs = compile_organization(Path("project/tasks.yml"))
    apply_all(inputs, fake, store)
    workloads = fake.ou_named("workloads").ou_id
    baseline = fake.stack_sets["acme-baseline"]
    reached = sorted({account_id for account_id, _ in baseline.instances})
    assert reached == sorted(fake.account_named(name).account_id for name in ("shop", "sandbox"))
    assert set(baseline.instances.values()) == {workloads}
    assert replan(inputs, fake, store, refresh=True).changes == ()
    assert replan(inputs, fake, store, refresh=False).changes == ()


# --- the fake keeps AWS's rules ------------------------------------------------------------------


def test_the_fake_is_a_provider() -> None:
    provider: Provider = FakeAws()  # checked by mypy
    assert isinstance(provider, FakeAws)


def test_the_fake_refuses_what_aws_refuses() -> None:
    fake = FakeAws()
    ou = fake.create_organizational_unit("r-fake", "team", {})
    account = fake.create_account(name="a", email="a@example.com", tags={})
    assert account == "044000000001"
    refused: list[str] = []

    def refuses(call: Callable[[], object]) -> None:
        with pytest.raises(AwsError) as raised:
            call()
        refused.append(raised.value.code)

    other = fake.create_organizational_unit("r-fake", "other", {})
    refuses(lambda: fake.move_account(account, ou, other))  # not where it is
    fake.move_account(account, ou, "r-fake")  # there already: success, as AwsProvider answers
    fake.move_account(account, "r-fake", ou)
    refuses(lambda: fake.delete_organizational_unit(ou))  # not empty
    policy = fake.create_policy(
        policy_type="SERVICE_CONTROL_POLICY", name="Deny", description="", content="{}", tags={}
    )
    refuses(lambda: fake.attach_policy(policy, ou))  # the type is not enabled
    fake.enable_policy_type("r-fake", "SERVICE_CONTROL_POLICY")
    fake.attach_policy(policy, ou)
    fake.attach_policy(policy, ou)  # attached already: success, as AwsProvider answers
    assert fake.attachments[ou] == {"p-FullAWSAccess", policy}
    refuses(lambda: fake.delete_policy(policy))  # still attached
    refuses(lambda: fake.set_account_alias(account, "SomeOtherRole", "a"))  # no such role
    refuses(
        lambda: fake.deploy_stack(
            StackDeployment(
                account_id=account,
                role_name="OrganizationAccountAccessRole",
                region="eu-west-1",
                stack_name="s",
                template_body='{"Resources": {}}',
                parameters={"Undeclared": "x"},
                tags={},
                create=True,
            )
        )
    )
    assert refused == [
        "SourceParentNotFoundException",
        "OrganizationalUnitNotEmptyException",
        "PolicyTypeNotEnabledException",
        "PolicyInUseException",
        "AccessDenied",
        "ValidationError",
    ]
