"""The state document, its local and S3 stores, and the OrgFormation import."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orgc.aws import AwsProvider
from orgc.state import (
    STATE_VERSION,
    AccountSettingsRecord,
    LocalStateStore,
    S3StateStore,
    StackRecord,
    State,
    StateConflict,
    StateError,
    StateLocked,
    default_state_bucket,
    import_orgformation_state,
)

SAMPLE = State(
    serial=7,
    lineage="0123456789abcdef0123456789abcdef",
    management_account_id="123456789012",
    accounts={"SharedAccount": "012345678901", "MasterAccount": "123456789012"},
    organizational_units={"ProdOU": "ou-ab12-cd34ef56"},
    policies={"DenyLeave": "p-12345678"},
    retired_organizational_units=("ou-ab12-oldoldol",),
    stacks=(
        StackRecord(
            stack_name="my-stack",
            account_id="012345678901",
            region="eu-west-1",
            task="Baseline",
            account="SharedAccount",
            hash="sha256:00",
            stack_id="arn:aws:cloudformation:eu-west-1:012345678901:stack/my-stack/1",
            last_changed="2026-11-01T10:00:00+00:00",
            parameters={"Prefix": "org"},
            outputs={"BucketName": "org-bucket"},
        ),
    ),
)


def document(**overrides: Any) -> bytes:
    """A valid minimal state document with some keys replaced (None removes a key)."""
    base: dict[str, Any] = {"format": "orgc-state", "version": 1, "serial": 1, "lineage": "ab"}
    base.update(overrides)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


# --- the document --------------------------------------------------------------------------


def test_round_trip() -> None:
    assert State.from_json(SAMPLE.to_json(), origin="test") == SAMPLE


def test_to_json_is_deterministic_and_camel_case() -> None:
    reordered = State(
        serial=1,
        lineage="ab",
        accounts={"b": "222222222222", "a": "111111111111"},
    )
    same = State(
        serial=1,
        lineage="ab",
        accounts={"a": "111111111111", "b": "222222222222"},
    )
    assert reordered.to_json() == same.to_json()
    assert reordered.to_json().decode() == (
        "{\n"
        '  "format": "orgc-state",\n'
        '  "lineage": "ab",\n'
        '  "managementAccountId": null,\n'
        '  "objects": {},\n'
        '  "organization": {\n'
        '    "accounts": {\n'
        '      "a": "111111111111",\n'
        '      "b": "222222222222"\n'
        "    },\n"
        '    "organizationalUnits": {},\n'
        '    "policies": {},\n'
        '    "retiredOrganizationalUnits": []\n'
        "  },\n"
        '  "organizationDigest": null,\n'
        '  "organizationId": null,\n'
        '  "rootId": null,\n'
        '  "serial": 1,\n'
        '  "stacks": [],\n'
        '  "version": 1\n'
        "}\n"
    )


def test_missing_keys_take_their_defaults() -> None:
    minimal = json.dumps({"format": "orgc-state", "version": 1}).encode()
    assert State.from_json(minimal, origin="test") == State()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON (line 1, column 2"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "not a JSON object"),
        (document(format="orgformation"), "not an orgc state document"),
        (document(format=None), "not an orgc state document"),
        (document(version=STATE_VERSION + 1), "written by a newer orgc"),
        (document(version="1"), "invalid version"),
        (document(version=0), "invalid version"),
        (document(serial=-1), "serial must be a non-negative integer"),
        (document(serial=True), "serial must be a non-negative integer"),
        (document(lineage=5), "lineage must be a string"),
        (document(managementAccountId=123456789012), "managementAccountId must be a string"),
        (document(stacks={}), "stacks must be a list of stack records"),
        (document(objects={"s3://b/k": {"hash": 1}}), "objects must map S3 URLs to records"),
        (document(stacks=[{"stackName": "s"}]), "a stack record lacks 'accountId'"),
        (
            document(
                stacks=[{"stackName": "s", "accountId": 1, "region": "r", "task": "t"}],
            ),
            "has a value that is not a string",
        ),
        (
            document(
                stacks=[
                    {
                        "stackName": "s",
                        "accountId": "1",
                        "region": "r",
                        "task": "t",
                        "terminationProtection": "yes",
                    }
                ],
            ),
            "stack record 's' has a terminationProtection that is neither true nor false",
        ),
        (document(extra=1), "unknown keys: extra"),
        (document(organization=[]), "organization must be an object"),
        (document(organization={"accounts": {"A": 12345678901}}), "quote account ids"),
        (document(organization={"policies": []}), "organization.policies must map"),
        (document(organization={"roots": {}}), "organization has unknown keys: roots"),
        (
            document(organization={"retiredOrganizationalUnits": "ou-1"}),
            "retiredOrganizationalUnits must be a list",
        ),
    ],
)
def test_bad_documents_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(StateError) as raised:
        State.from_json(data, origin="s3://bucket/state.json")
    assert raised.value.code == "E707"
    assert "s3://bucket/state.json" in raised.value.message
    assert fragment in raised.value.message


# --- OrgFormation import -------------------------------------------------------------------

ORGFORMATION_STATE = {
    "masterAccountId": "123456789012",
    "bindings": {
        "OC::ORG::MasterAccount": {
            "MasterAccount": {
                "type": "OC::ORG::MasterAccount",
                "logicalId": "MasterAccount",
                "physicalId": "123456789012",
                "lastCommittedHash": "9f1c2c1d7f2a1c4e0e1b0a9d8c7b6a5f",
            }
        },
        "OC::ORG::Account": {
            "SharedServicesAccount": {
                "type": "OC::ORG::Account",
                "logicalId": "SharedServicesAccount",
                "physicalId": "012345678901",
                "lastCommittedHash": "c0ffee",
            },
            "PendingAccount": {
                "type": "OC::ORG::Account",
                "logicalId": "PendingAccount",
                "lastCommittedHash": "beef",
            },
        },
        "OC::ORG::OrganizationalUnit": {
            "ProductionOU": {
                "type": "OC::ORG::OrganizationalUnit",
                "logicalId": "ProductionOU",
                "physicalId": "ou-ab12-cd34ef56",
                "lastCommittedHash": "1",
            }
        },
        "OC::ORG::ServiceControlPolicy": {
            "DenyChangeOfOrgRoleSCP": {
                "type": "OC::ORG::ServiceControlPolicy",
                "logicalId": "DenyChangeOfOrgRoleSCP",
                "physicalId": "p-a1b2c3d4",
                "lastCommittedHash": "2",
            }
        },
        "OC::ORG::OrganizationRoot": {
            "OrganizationRoot": {
                "type": "OC::ORG::OrganizationRoot",
                "logicalId": "OrganizationRoot",
                "physicalId": "r-ab12",
                "lastCommittedHash": "3",
            }
        },
    },
    "stacks": {
        "budget-alarms": {
            "012345678901": {
                "eu-central-1": {
                    "accountId": "012345678901",
                    "region": "eu-central-1",
                    "stackName": "budget-alarms",
                    "logicalAccountId": "SharedServicesAccount",
                    "lastCommittedHash": "abc",
                }
            }
        }
    },
    "values": {"organization.template.hash": "xyz", "state-version": "2"},
    "previousTemplate": "{}",
    "trackedTasks": {
        "default": [
            {
                "logicalName": "BudgetAlarms",
                "physicalIdForCleanup": "budget-alarms",
                "type": "update-stacks",
            }
        ]
    },
}


def test_import_orgformation_state() -> None:
    state = import_orgformation_state(json.dumps(ORGFORMATION_STATE).encode(), origin="state.json")
    assert state == State(
        management_account_id="123456789012",
        accounts={"MasterAccount": "123456789012", "SharedServicesAccount": "012345678901"},
        organizational_units={"ProductionOU": "ou-ab12-cd34ef56"},
        policies={"DenyChangeOfOrgRoleSCP": "p-a1b2c3d4"},
        stacks=(
            StackRecord(
                stack_name="budget-alarms",
                account_id="012345678901",
                region="eu-central-1",
                task="BudgetAlarms",
                account="SharedServicesAccount",
            ),
        ),
    )


def test_termination_protection_is_kept_in_a_stack_record_and_read_from_orgformation() -> None:
    protected = StackRecord(
        stack_name="trail", account_id="1", region="r", task="t", termination_protection=True
    )
    assert protected.to_json()["terminationProtection"] is True
    assert "terminationProtection" not in replace(protected, termination_protection=False).to_json()
    assert StackRecord.from_json(protected.to_json(), origin="test") == protected

    data: dict[str, Any] = copy.deepcopy(ORGFORMATION_STATE)
    data["stacks"]["budget-alarms"]["012345678901"]["eu-central-1"]["terminationProtection"] = True
    state = import_orgformation_state(json.dumps(data).encode(), origin="state.json")
    assert [r.termination_protection for r in state.stacks] == [True]


def test_import_records_the_aliases_and_password_policies_of_the_previous_template() -> None:
    previous = {
        "Organization": {
            "MasterAccount": {
                "Type": "OC::ORG::MasterAccount",
                "Properties": {"AccountId": "123456789012", "Alias": "acme-management"},
            },
            # Found through its binding: the template gives no AccountId.
            "SharedServicesAccount": {
                "Type": "OC::ORG::Account",
                "Properties": {"AccountName": "shared", "PasswordPolicy": {"Ref": "Strict"}},
            },
            # Never created (no binding, no id): nothing to record.
            "Pending": {"Type": "OC::ORG::Account", "Properties": {"Alias": "acme-pending"}},
            "Strict": {"Type": "OC::ORG::PasswordPolicy", "Properties": {}},
        }
    }
    document = dict(ORGFORMATION_STATE, previousTemplate=json.dumps(previous))
    state = import_orgformation_state(json.dumps(document).encode(), origin="state.json")
    assert state.account_settings == {
        "012345678901": AccountSettingsRecord(password_policy=True),
        "123456789012": AccountSettingsRecord(alias="acme-management"),
    }
    # Recorded as orgc records its own, and read back the same.
    assert State.from_json(state.to_json(), origin="s").account_settings == state.account_settings
    assert json.loads(state.to_json())["accountSettings"] == {
        "012345678901": {"passwordPolicy": True},
        "123456789012": {"alias": "acme-management"},
    }


def test_import_refuses_a_previous_template_that_is_not_json() -> None:
    document = dict(ORGFORMATION_STATE, previousTemplate="{Organization:")
    with pytest.raises(StateError) as raised:
        import_orgformation_state(json.dumps(document).encode(), origin="old/state.json")
    assert raised.value.code == "E707"
    assert raised.value.message == (
        "OrgFormation state old/state.json: previousTemplate is not valid JSON "
        "(Expecting property name enclosed in double quotes)"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ([], "state s: accountSettings must map account ids to records"),
        (
            {"123456789012": {"alias": "a", "tags": {}}},
            "state s: accountSettings.123456789012 must be an object with alias and "
            "passwordPolicy only",
        ),
        (
            {"123456789012": {"alias": 5}},
            "state s: accountSettings.123456789012: alias must be a string",
        ),
        (
            {"123456789012": {"passwordPolicy": "yes"}},
            "state s: accountSettings.123456789012: passwordPolicy must be true or false",
        ),
    ],
)
def test_account_settings_records_are_checked(settings: object, message: str) -> None:
    document = json.loads(State().to_json())
    document["accountSettings"] = settings
    with pytest.raises(StateError) as raised:
        State.from_json(json.dumps(document).encode(), origin="s")
    assert raised.value.message == message


def test_import_empty_orgformation_state() -> None:
    assert import_orgformation_state(b"  \n", origin="state.json") == State()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (State().to_json(), "already an orgc state document"),
        (json.dumps({"bindings": []}).encode(), "bindings must be an object"),
        (
            json.dumps(
                {"bindings": {"OC::ORG::Account": {"A": {"physicalId": 12345678901}}}}
            ).encode(),
            "physicalId that is not a string",
        ),
    ],
)
def test_import_refuses_what_is_not_orgformation_state(data: bytes, fragment: str) -> None:
    with pytest.raises(StateError) as raised:
        import_orgformation_state(data, origin="old/state.json")
    assert raised.value.code == "E707"
    assert "old/state.json" in raised.value.message
    assert fragment in raised.value.message


# --- the local store -----------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalStateStore:
    return LocalStateStore(tmp_path / "state" / "orgc-state.json")


def test_local_store_reads_empty_state_before_the_first_write(local: LocalStateStore) -> None:
    assert local.read() == State()
    assert local.describe().endswith("orgc-state.json")


def test_local_writes_increment_the_serial_and_keep_the_lineage(local: LocalStateStore) -> None:
    with local.lock("alice") as held:
        assert held.state == State()
        first = held.write(State(accounts={"A": "111111111111"}))
        assert first.serial == 1
        assert len(first.lineage) == 32
        second = held.write(replace_accounts(held.state, {"B": "222222222222"}))
        assert (second.serial, second.lineage) == (2, first.lineage)
        assert held.state == second
    assert local.read() == second
    assert local.path.read_bytes() == second.to_json()
    with local.lock("bob") as held:
        third = held.write(State())  # no lineage given: the store's lineage is kept
    assert (third.serial, third.lineage) == (3, first.lineage)


def replace_accounts(state: State, accounts: dict[str, str]) -> State:
    return State(
        serial=state.serial,
        lineage=state.lineage,
        accounts={**state.accounts, **accounts},
    )


def test_local_lock_is_exclusive(local: LocalStateStore) -> None:
    with local.lock("alice@laptop"):
        with pytest.raises(StateLocked) as raised, local.lock("bob"):
            pass
        assert raised.value.code == "E702"
        assert "alice@laptop" in raised.value.message
        assert f"pid {os.getpid()}" in raised.value.message
        assert "orgc state unlock" in raised.value.message
    with local.lock("bob"):
        pass


def test_local_lock_is_released_on_error(local: LocalStateStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), local.lock("alice"):
        raise RuntimeError("boom")
    holder = local.lock_holder()
    assert holder is not None
    assert (holder.owner, holder.status, holder.generation) == ("alice", "released", 1)
    with local.lock("bob"):
        assert local.lock_holder().generation == 2  # type: ignore[union-attr]


def test_a_crash_during_the_write_leaves_the_old_document(
    local: LocalStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with local.lock("alice") as held:
        held.write(State(accounts={"A": "111111111111"}))
    before = local.path.read_bytes()

    def crash(source: str, destination: str) -> None:
        raise OSError("disk gone")

    with local.lock("alice") as held:
        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk gone"):
            held.write(State(accounts={"B": "222222222222"}))
        monkeypatch.undo()
    assert local.path.read_bytes() == before
    assert sorted(p.name for p in local.path.parent.iterdir()) == [
        ".orgc",
        local.path.name,
        local.lock_path.name,
    ]


def test_a_writer_without_the_lock_makes_the_holders_write_conflict(
    local: LocalStateStore,
) -> None:
    with local.lock("alice") as alice:
        alice.write(State(accounts={"A": "111111111111"}))
        local.path.write_bytes(State(serial=5, lineage=alice.state.lineage).to_json())
        with pytest.raises(StateConflict) as raised:
            alice.write(State(accounts={"B": "222222222222"}))
        assert raised.value.code == "E703"


def test_a_write_from_another_lineage_conflicts(local: LocalStateStore) -> None:
    with local.lock("alice") as held:
        held.write(State(lineage="a" * 32))
        with pytest.raises(StateConflict, match="lineage"):
            held.write(State(lineage="b" * 32))


def test_writing_after_the_lock_is_released_is_a_bug(local: LocalStateStore) -> None:
    with local.lock("alice") as held:
        pass
    with pytest.raises(RuntimeError, match="released"):
        held.write(State())


def test_force_unlock_reports_what_it_did(local: LocalStateStore) -> None:
    assert local.force_unlock("carol") == "none"
    with local.lock("alice"):
        # Alice's process is alive: she is asked to stop, the lock is not simply gone.
        assert local.force_unlock("carol") == "broken"
        holder = local.lock_holder()
        assert holder is not None
        assert (holder.status, holder.broken_by) == ("broken", "carol")
    assert local.force_unlock("carol") == "none"  # Alice released it on her way out


def test_an_unreadable_local_document_is_reported(local: LocalStateStore) -> None:
    local.path.parent.mkdir(parents=True)
    local.path.write_bytes(b"{}")
    with pytest.raises(StateError) as raised:
        local.read()
    assert raised.value.code == "E707"
    assert str(local.path) in raised.value.message


# --- the S3 store --------------------------------------------------------------------------


@pytest.fixture
def s3_store(aws: AwsProvider) -> S3StateStore:
    return S3StateStore(aws, default_state_bucket("123456789012"), region="us-east-1")


def test_default_bucket_name() -> None:
    assert default_state_bucket("012345678901") == "orgc-state-012345678901"


def test_s3_store_before_the_first_lock_reads_empty_state(s3_store: S3StateStore) -> None:
    assert s3_store.read() == State()
    assert s3_store.force_unlock("carol") == "none"
    assert s3_store.history() == ()
    assert s3_store.describe() == "s3://orgc-state-123456789012/state.json"


def test_s3_store_writes_under_its_lock(s3_store: S3StateStore, aws: AwsProvider) -> None:
    with s3_store.lock("alice") as held:
        first = held.write(State(accounts={"A": "111111111111"}))
        second = held.write(State(accounts={"A": "111111111111", "B": "222222222222"}))
    assert (first.serial, second.serial, second.lineage) == (1, 2, first.lineage)
    assert s3_store.read() == second
    holder = s3_store.lock_holder()
    assert holder is not None
    assert (holder.status, holder.serial) == ("released", 2)
    with s3_store.lock("bob") as held:
        assert held.state == second


def test_s3_lock_is_exclusive_and_names_the_holder(s3_store: S3StateStore) -> None:
    with s3_store.lock("alice@ci-runner-7"):
        with pytest.raises(StateLocked) as raised, s3_store.lock("bob"):
            pass
        assert raised.value.code == "E702"
        assert "alice@ci-runner-7" in raised.value.message
        assert "s3://orgc-state-123456789012/state.json" in raised.value.message
    with s3_store.lock("bob"):
        pass


def test_s3_lock_is_released_on_error(s3_store: S3StateStore, aws: AwsProvider) -> None:
    with pytest.raises(RuntimeError, match="boom"), s3_store.lock("alice"):
        raise RuntimeError("boom")
    assert s3_store.lock_holder().status == "released"  # type: ignore[union-attr]


def test_s3_write_over_a_changed_document_conflicts(
    s3_store: S3StateStore, aws: AwsProvider
) -> None:
    with s3_store.lock("alice") as held:
        held.write(State())
        aws.put_object(s3_store.bucket, s3_store.key, State(serial=9).to_json())
        with pytest.raises(StateConflict) as raised:
            held.write(State(accounts={"A": "111111111111"}))
        assert raised.value.code == "E703"
    assert s3_store.read().serial == 9


def test_s3_first_write_conflicts_with_a_document_that_appeared(
    s3_store: S3StateStore, aws: AwsProvider
) -> None:
    with s3_store.lock("alice") as held:
        aws.put_object(s3_store.bucket, s3_store.key, State(serial=4).to_json())
        with pytest.raises(StateConflict):
            held.write(State())


def test_s3_force_unlock(s3_store: S3StateStore, aws: AwsProvider) -> None:
    with s3_store.lock("alice"):
        assert s3_store.force_unlock("carol") == "broken"
        with pytest.raises(StateLocked, match="being stopped"), s3_store.lock("bob"):
            pass
    assert s3_store.force_unlock("carol") == "none"
    with s3_store.lock("bob"):
        pass


def test_s3_lock_creates_the_bucket_once(s3_store: S3StateStore, aws: AwsProvider) -> None:
    with s3_store.lock("alice"):
        pass
    with s3_store.lock("alice"):
        pass
    assert aws.call_counts()["S3.HeadBucket"] == 1
    assert aws.call_counts()["S3.CreateBucket"] == 1
