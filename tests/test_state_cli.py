"""`orgc state list|show|rm|mv`: addresses of what the state records, forgetting and renaming
records under the state lock, each write a version that history lists and restore undoes; on a
local state file, and on the emulator, where a renamed logical id plans as no change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orgc.aws import AwsProvider
from orgc.cli import main
from orgc.emulator import Emulator
from orgc.state import LocalStateStore, StackRecord, StackSetRecord, State

RECORDED = State(
    management_account_id="111111111111",
    organization_id="o-example",
    organization_digest="digest-of-the-files",
    root_id="r-root",
    accounts={"Management": "111111111111", "Shop": "222222222222"},
    organizational_units={"ProdOU": "ou-root-prod"},
    policies={"DenyLeave": "p-denyleave"},
    retired_organizational_units=("ou-root-old",),
    stacks=(
        StackRecord(
            stack_name="acme-logs",
            account_id="222222222222",
            region="eu-west-1",
            task="Logs",
            account="Shop",
            hash="h1",
            stack_id="arn:aws:cloudformation:eu-west-1:222222222222:stack/acme-logs/1",
            last_changed="2026-11-01T10:00:00Z",
            parameters={"Prefix": "acme"},
            outputs={"BucketName": "acme-logs-222222222222"},
        ),
        StackRecord(
            stack_name="acme-logs",
            account_id="111111111111",
            region="eu-west-1",
            task="Logs",
            account="Management",
            hash="h2",
        ),
    ),
    stack_sets=(
        StackSetRecord(name="acme-baseline", task="Baseline", stack_set_id="acme-baseline:1"),
    ),
    objects={"s3://acme-artefacts/lambda.zip": {"task": "Artefacts", "hash": "h3", "etag": "e"}},
    services={"guardduty.amazonaws.com": ("222222222222",)},
    contacts={"222222222222": ("SECURITY",)},
    closed_accounts={"333333333333": "2026-11-30"},
)

ADDRESSES = [
    "organization",
    "account:Management",
    "account:Shop",
    "organizational-unit:ProdOU",
    "policy:DenyLeave",
    "retired-organizational-unit:ou-root-old",
    "stack:Logs/Management/eu-west-1",
    "stack:Logs/Shop/eu-west-1",
    "stack-set:Baseline",
    "s3-object:s3://acme-artefacts/lambda.zip",
    "service-access:guardduty.amazonaws.com",
    "delegated-administrator:guardduty.amazonaws.com/Shop",
    "alternate-contact:Shop/SECURITY",
    "closed-account:333333333333",
]


@pytest.fixture
def store(tmp_path: Path) -> LocalStateStore:
    local = LocalStateStore(tmp_path / "state.json")
    with local.lock("test") as held:
        held.write(RECORDED)
    return local


def state(store: LocalStateStore, *args: str) -> int:
    return main(["state", *args, "--state", str(store.path)])


def test_list_names_everything_the_state_records(
    store: LocalStateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert state(store, "list") == 0
    assert capsys.readouterr().out.splitlines() == ADDRESSES
    assert state(store, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["address"] for e in listed] == ADDRESSES
    assert listed[2] == {"address": "account:Shop", "kind": "account", "physicalId": "222222222222"}
    assert listed[12] == {
        "address": "alternate-contact:Shop/SECURITY",
        "kind": "alternate-contact",
        "physicalId": "222222222222",
    }


def test_show_prints_one_record(store: LocalStateStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert state(store, "show", "stack:Logs/Shop/eu-west-1") == 0
    assert capsys.readouterr().out == (
        "stack:Logs/Shop/eu-west-1\n"
        "  task           Logs\n"
        "  stack name     acme-logs\n"
        "  account        Shop\n"
        "  account id     222222222222\n"
        "  region         eu-west-1\n"
        "  stack id       arn:aws:cloudformation:eu-west-1:222222222222:stack/acme-logs/1\n"
        "  last changed   2026-11-01T10:00:00Z\n"
        "  deployed hash  h1\n"
        "  parameters     Prefix=acme\n"
        "  outputs        BucketName=acme-logs-222222222222\n"
        "  exports        -\n"
    )
    # The key of the plan's stack deletes finds the same stack; an account by its id too.
    assert state(store, "show", "stack:acme-logs/222222222222/eu-west-1", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["address"], shown["fields"]["task"]) == ("stack:Logs/Shop/eu-west-1", "Logs")
    assert state(store, "show", "alternate-contact:222222222222/SECURITY") == 0
    assert capsys.readouterr().out.splitlines()[0] == "alternate-contact:Shop/SECURITY"
    assert state(store, "show", "organization") == 0
    assert capsys.readouterr().out == (
        "organization\n"
        "  organization id        o-example\n"
        "  management account id  111111111111\n"
        "  root id                r-root\n"
        "  files as last applied  digest-of-the-files\n"
    )
    # Without an address: the whole document, as before.
    assert state(store, "show") == 0
    assert json.loads(capsys.readouterr().out)["serial"] == 1


def test_a_wrong_address_is_a_diagnostic_with_the_closest_one(
    store: LocalStateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert state(store, "show", "acount:Shop") == 1
    assert capsys.readouterr().err == (
        "orgc: error[E711]: 'acount:Shop' is not a state address (did you mean account?): an "
        "address is KIND:KEY, with KIND one of account, organizational-unit, policy, "
        "retired-organizational-unit, stack, stack-set, s3-object, service-access, "
        "delegated-administrator, alternate-contact, closed-account (or the address "
        "organization); `orgc state list` lists them\n"
    )
    assert state(store, "show", "account:") == 1
    assert capsys.readouterr().err == (
        "orgc: error[E711]: 'account:' is not a state address: account needs a key after the "
        "colon\n"
    )
    assert state(store, "rm", "stack:Logs/Shop/us-east-1", "account:Shp") == 1
    assert capsys.readouterr().err == (
        "orgc: error[E712]: account:Shp is not in the state (did you mean account:Shop?): the "
        "state records no such thing; `orgc state list` lists what it records\n"
        "orgc: error[E712]: stack:Logs/Shop/us-east-1 is not in the state (did you mean "
        "stack:Logs/Shop/eu-west-1?): the state records no such thing; `orgc state list` lists "
        "what it records\n"
    )
    assert store.read().serial == 1  # nothing written: every address is checked first


def test_rm_forgets_under_the_lock_as_a_new_version(
    store: LocalStateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    before = store.path.read_bytes()
    assert state(store, "rm", "account:Shop", "alternate-contact:Shop/SECURITY", "--dry-run") == 0
    assert capsys.readouterr().out == (
        "would forget account:Shop (222222222222)\n"
        "would forget alternate-contact:Shop/SECURITY (222222222222)\n"
        f"nothing written to {store.path} (--dry-run)\n"
    )
    assert store.path.read_bytes() == before

    assert state(store, "rm", "account:Shop", "alternate-contact:Shop/SECURITY") == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "forgot account:Shop (222222222222)\n"
        "forgot alternate-contact:Shop/SECURITY (222222222222)\n"
        f"wrote {store.path} as serial 2 (`orgc state history` lists it)\n"
        "the next plan reads the organization from AWS again, as the record changed\n"
    )
    assert captured.err == (
        "orgc: warning[W711]: nothing was deleted in AWS: orgc only forgot what it recorded; the "
        "next plan compares it with AWS as a thing orgc never recorded (a create or an adopt, or "
        "W604 for an account the files do not name)\n"
    )
    after = store.read()
    assert after.accounts == {"Management": "111111111111"}
    assert after.contacts == {}
    assert after.organization_digest is None
    assert after.stacks == State(stacks=RECORDED.stacks).with_stack(RECORDED.stacks[0]).stacks

    # Its administrator record now names the account by id.
    assert state(store, "rm", "delegated-administrator:guardduty.amazonaws.com/222222222222") == 0
    assert store.read().services == {"guardduty.amazonaws.com": ()}
    capsys.readouterr()
    assert state(store, "history") == 0
    assert [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]] == [
        ["3", "3"],
        ["2", "2"],
        ["1", "1"],
    ]
    assert state(store, "restore", "1", "--force") == 0
    restored = store.read()
    assert (restored.serial, restored.accounts, restored.contacts) == (
        4,
        RECORDED.accounts,
        RECORDED.contacts,
    )


def test_rm_of_each_kind(store: LocalStateStore, capsys: pytest.CaptureFixture[str]) -> None:
    removable = [a for a in ADDRESSES if a != "organization"]
    assert state(store, "rm", *removable) == 0
    assert state(store, "list") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "organization"
    left = store.read()
    assert (left.stacks, left.stack_sets, left.objects, left.closed_accounts) == ((), (), {}, {})
    assert (left.retired_organizational_units, left.services) == ((), {})
    assert state(store, "rm", "organization") == 1
    assert capsys.readouterr().err.startswith(
        "orgc: error[E715]: the organization cannot be removed from the state: it is what every "
        "other record belongs to"
    )


def test_mv_renames_a_logical_id(
    store: LocalStateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert state(store, "mv", "account:Shop", "account:Store", "--dry-run") == 0
    assert capsys.readouterr().out == (
        "would move account:Shop (222222222222) to account:Store\n"
        f"nothing written to {store.path} (--dry-run)\n"
    )
    assert store.read().serial == 1
    assert state(store, "mv", "account:Shop", "account:Store") == 0
    assert capsys.readouterr().out == (
        "moved account:Shop (222222222222) to account:Store\n"
        f"wrote {store.path} as serial 2 (`orgc state history` lists it)\n"
        "the next plan reads the organization from AWS again, as the record changed\n"
    )
    moved = store.read()
    assert moved.accounts == {"Management": "111111111111", "Store": "222222222222"}
    # The account's stacks and contacts follow it.
    assert state(store, "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert "stack:Logs/Store/eu-west-1" in listed
    assert "alternate-contact:Store/SECURITY" in listed
    # A stack's task renamed; its account given by id.
    target = "stack:Logging/222222222222/eu-west-1"
    assert state(store, "mv", "stack:Logs/Store/eu-west-1", target) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "moved stack:Logs/Store/eu-west-1 "
        "(arn:aws:cloudformation:eu-west-1:222222222222:stack/acme-logs/1) to "
        "stack:Logging/Store/eu-west-1"
    )
    record = store.read().stack_records()[("acme-logs", "222222222222", "eu-west-1")]
    assert (record.task, record.account, record.hash) == ("Logging", "Store", "h1")
    assert state(store, "mv", "stack-set:Baseline", "stack-set:Guardrails") == 0
    assert store.read().stack_sets[0].task == "Guardrails"


@pytest.mark.parametrize(
    ("source", "target", "error"),
    [
        (
            "account:Shop",
            "account:Management",
            "error[E713]: cannot move account:Shop to account:Management: the state already "
            "records account:Management; remove that record first (`orgc state rm "
            "account:Management`) if it is stale",
        ),
        (
            "policy:DenyLeave",
            "account:DenyLeave",
            "error[E714]: cannot move policy:DenyLeave to account:DenyLeave: a record moves only "
            "to an address of its own kind (policy:...), and account:DenyLeave is of kind "
            "account",
        ),
        (
            "stack:Logs/Shop/eu-west-1",
            "stack:Logs/Shop/us-east-1",
            "error[E714]: cannot move stack:Logs/Shop/eu-west-1 to stack:Logs/Shop/us-east-1: the "
            "stack is in eu-west-1, and a move cannot take it to another region (it renames what "
            "orgc records, it moves nothing in AWS)",
        ),
        (
            "stack:Logs/Shop/eu-west-1",
            "stack:Logs/222222222222/eu-west-1",
            "error[E713]: cannot move stack:Logs/Shop/eu-west-1 to "
            "stack:Logs/222222222222/eu-west-1: the state already records "
            "stack:Logs/Shop/eu-west-1; remove that record first (`orgc state rm "
            "stack:Logs/Shop/eu-west-1`) if it is stale",
        ),
        (
            "stack:Logs/Shop/eu-west-1",
            "stack:Audit/Management/eu-west-1",
            "error[E714]: cannot move stack:Logs/Shop/eu-west-1 to "
            "stack:Audit/Management/eu-west-1: the stack is in account 222222222222, and "
            "Management is account 111111111111; a move cannot take a stack to another account "
            "(move the account's record first if it was renamed: `orgc state mv account:Shop "
            "account:NEW`)",
        ),
        (
            "account:Shop",
            "account:Shop/Store",
            "error[E714]: cannot move account:Shop to account:Shop/Store: 'Shop/Store' is not a "
            "logical id (a logical id has no '/')",
        ),
        (
            "service-access:guardduty.amazonaws.com",
            "service-access:securityhub.amazonaws.com",
            "error[E715]: service-access:guardduty.amazonaws.com cannot be moved: a "
            "service-access record is keyed by what AWS names it, which renaming the files does "
            "not change; only accounts, organizational units, policies, stacks and StackSets are "
            "recorded under logical ids",
        ),
        (
            "account:Shoop",
            "account:Store",
            "error[E712]: account:Shoop is not in the state (did you mean account:Shop?): the "
            "state records no such thing; `orgc state list` lists what it records",
        ),
    ],
)
def test_mv_refuses_what_would_lose_or_misplace_a_record(
    store: LocalStateStore,
    capsys: pytest.CaptureFixture[str],
    source: str,
    target: str,
    error: str,
) -> None:
    assert state(store, "mv", source, target) == 1
    assert capsys.readouterr().err == f"orgc: {error}\n"
    assert store.read().serial == 1


def test_rm_and_mv_wait_for_the_lock_and_take_their_operands(
    store: LocalStateStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with store.lock("alice@ci pid 7"):
        assert state(store, "rm", "account:Shop") == 5
        assert "error[E702]" in capsys.readouterr().err
        assert state(store, "mv", "account:Shop", "account:Store", "--dry-run") == 0  # no write
    assert store.read().accounts == RECORDED.accounts
    assert state(store, "mv", "account:Shop") == 64
    assert capsys.readouterr().err.endswith("orgc: state mv takes FROM and TO, two addresses\n")
    assert state(store, "rm") == 64
    assert state(store, "list", "account:Shop") == 64


# --- on the emulator ------------------------------------------------------------------------

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties:
      AccountName: master
      AccountId: '123456789012'
  ProdOU:
    Type: OC::ORG::OrganizationalUnit
    Properties:
      OrganizationalUnitName: prod
      Accounts: [!Ref Shop]
      ServiceControlPolicies: !Ref DenyLeave
  Shop:
    Type: OC::ORG::Account
    Properties:
      AccountName: shop
      RootEmail: shop@example.com
  DenyLeave:
    Type: OC::ORG::ServiceControlPolicy
    Properties:
      PolicyName: DenyLeave
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
          - {Effect: Deny, Action: 'organizations:LeaveOrganization', Resource: '*'}
"""


def test_a_logical_id_renamed_in_the_files_and_the_state_plans_no_change(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    files = tmp_path / "organization.yml"
    files.write_text(ORGANIZATION, encoding="utf-8")
    local = ["--state", str(tmp_path / "state.json"), "--endpoint-url", emulator.endpoint]

    def orgc(*args: str) -> int:
        return main([*args, *local])

    assert orgc("apply", "organization.yml", "--auto-approve") == 0
    capsys.readouterr()
    renamed = ORGANIZATION.replace("Shop", "Store").replace("DenyLeave", "NoLeaving")
    files.write_text(renamed.replace("PolicyName: NoLeaving", "PolicyName: DenyLeave"), "utf-8")
    # Without the move, the plan forgets the old names and adopts the same things anew.
    assert orgc("plan", "organization.yml", "--format", "json") == 0
    ids = sorted(c["id"] for c in json.loads(capsys.readouterr().out)["changes"])
    assert ids == ["account.adopt:Store", "account.forget:Shop", "policy.adopt:NoLeaving"]

    assert orgc("state", "mv", "account:Shop", "account:Store") == 0
    assert orgc("state", "mv", "policy:DenyLeave", "policy:NoLeaving") == 0
    capsys.readouterr()
    assert orgc("plan", "organization.yml", "--detailed-exitcode", "--refresh") == 0
    assert "No changes." in capsys.readouterr().out

    # Forgotten, the account is found again in AWS by its email and adopted, not created.
    store = LocalStateStore(tmp_path / "state.json")
    account_id = store.read().accounts["Store"]
    assert orgc("state", "rm", "account:Store") == 0
    assert "Store" not in store.read().accounts
    capsys.readouterr()
    assert orgc("plan", "organization.yml", "--format", "json") == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["id"], c["physicalId"]) for c in changes] == [("account.adopt:Store", account_id)]


def test_on_s3_an_edit_is_a_bucket_version_that_restore_brings_back(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "organization.yml").write_text(ORGANIZATION, encoding="utf-8")

    def orgc(*args: str) -> int:
        return main([*args, "--endpoint-url", emulator.endpoint])

    assert orgc("apply", "organization.yml", "--auto-approve") == 0
    capsys.readouterr()
    assert orgc("state", "list") == 0
    assert capsys.readouterr().out.splitlines() == [
        "organization",
        "account:Management",
        "account:Shop",
        "organizational-unit:ProdOU",
        "policy:DenyLeave",
    ]
    assert orgc("state", "history") == 0
    before = capsys.readouterr().out.splitlines()[1:]
    assert orgc("state", "mv", "account:Shop", "account:Store") == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[1]
        .startswith("wrote s3://orgc-state-123456789012/state.json as serial ")
    )
    assert orgc("state", "history") == 0
    after = capsys.readouterr().out.splitlines()[1:]
    assert len(after) == len(before) + 1
    assert after[0].endswith("current")
    previous = after[1].split()[0]  # the S3 version id the move replaced
    assert orgc("state", "restore", previous, "--force") == 0
    capsys.readouterr()
    assert orgc("state", "show", "account:Shop") == 0
    assert capsys.readouterr().out.splitlines()[0] == "account:Shop"
    assert orgc("state", "show", "account:Store") == 1
    assert "error[E712]: account:Store is not in the state" in capsys.readouterr().err
