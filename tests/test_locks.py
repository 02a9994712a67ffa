"""The state lock heals and the state survives: takeover, waiting, lost answers, fencing,
backups and a serial that never goes backwards, history and restore, and the state bucket's
checks. On the emulator where S3 is involved; clocks are injected, nothing waits."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.emulated import EXAMPLE_GROUPS, create_groups

from orgc.aws import AwsProvider
from orgc.cli import _duration, main
from orgc.emulator import Emulator
from orgc.lease import LEASE_SECONDS, LockOptions, LockRecord
from orgc.state import (
    BACKUPS_KEPT,
    LocalStateStore,
    S3StateStore,
    State,
    StateBucketRefused,
    StateConflict,
    StateLocked,
    StateLockLost,
    default_state_bucket,
)

BUCKET = default_state_bucket("123456789012")
START = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    """Wall clock and monotonic clock that move only when told to."""

    def __init__(self) -> None:
        self.now = START
        self.seconds = 1000.0

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def notices() -> list[tuple[str, str]]:
    return []


def options(clock: Clock, notices: list[tuple[str, str]], **changes: Any) -> LockOptions:
    base = LockOptions(
        notify=lambda diagnostic: notices.append((diagnostic.code, diagnostic.message)),
        clock=clock.wall,
        monotonic=clock.monotonic,
        sleep=lambda seconds: pytest.fail("the lock waited"),
        renew=False,
    )
    return replace(base, **changes)


def foreign_lock(**changes: Any) -> bytes:
    """A lock record of a run on another machine, renewed at START."""
    record = LockRecord(
        id="f" * 32,
        owner="alice@ci-runner-7 pid 4242",
        host="ci-runner-7",
        pid=4242,
        created=START.isoformat(),
        renewed=START.isoformat(),
        generation=6,
    )
    return replace(record, **changes).to_json()


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def local(tmp_path: Path, clock: Clock, notices: list[tuple[str, str]]) -> LocalStateStore:
    store = LocalStateStore(
        tmp_path / "state" / "orgc-state.json", lock_options=options(clock, notices)
    )
    store.path.parent.mkdir(parents=True)
    return store


@pytest.fixture
def s3(aws: AwsProvider, clock: Clock, notices: list[tuple[str, str]]) -> S3StateStore:
    return S3StateStore(aws, BUCKET, region="us-east-1", lock_options=options(clock, notices))


# --- takeover, waiting ---------------------------------------------------------------------


def test_a_lock_whose_process_is_gone_is_taken_over_with_a_notice(
    local: LocalStateStore, notices: list[tuple[str, str]]
) -> None:
    pid = dead_pid()
    host = socket.gethostname()
    local.lock_path.write_bytes(foreign_lock(host=host, pid=pid, owner=f"bob@{host} pid {pid}"))
    with local.lock("carol") as held:
        held.write(State(accounts={"A": "111111111111"}))
        holder = local.lock_holder()
        assert holder is not None
        assert (holder.owner, holder.generation, holder.status) == ("carol", 7, "held")
    assert notices == [
        (
            "W701",
            f"took over the lock on {local.path} from bob@{host} pid {pid} (pid {pid} on {host}, "
            f"generation 6): its process {pid} on {host} is gone",
        )
    ]


def test_a_lock_whose_lease_ran_out_is_taken_over(
    s3: S3StateStore, aws: AwsProvider, clock: Clock, notices: list[tuple[str, str]]
) -> None:
    with s3.lock("setup") as held:
        held.write(State())
        held.write(State())
        held.write(State())
    aws.put_object(BUCKET, s3.lock_key, foreign_lock(serial=3))
    clock.advance(LEASE_SECONDS)
    with s3.lock("carol") as held:
        assert held.write(State()).serial == 4
    assert notices[-1][0] == "W701"
    assert notices[-1][1].endswith(
        "from alice@ci-runner-7 pid 4242 (pid 4242 on ci-runner-7, generation 6): its lease "
        "ran out at 2026-12-01T12:00:30.000+00:00"
    )


def test_a_live_lock_is_refused_then_waited_for_with_a_timeout(
    local: LocalStateStore, clock: Clock, notices: list[tuple[str, str]]
) -> None:
    local.lock_path.write_bytes(foreign_lock())
    clock.advance(10)  # alice renewed recently enough: she is working
    with pytest.raises(StateLocked) as raised, local.lock("carol"):
        pass
    assert raised.value.code == "E702"
    assert raised.value.message == (
        f"state {local.path} is locked: alice@ci-runner-7 pid 4242 (pid 4242 on ci-runner-7, "
        "generation 6) since 2026-12-01T12:00:00+00:00 holds it; its lease runs out at "
        "2026-12-01T12:00:30.000+00:00 unless renewed; wait with --lock-timeout, or stop that "
        "run with `orgc state unlock`"
    )

    waits: list[float] = []

    def alice_finishes_meanwhile(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)
        if len(waits) == 3:
            local.lock_path.write_bytes(foreign_lock(status="released"))

    local.lock_options = options(clock, notices, timeout=300.0, sleep=alice_finishes_meanwhile)
    with local.lock("carol"):
        pass
    assert waits == [1.0, 2.0, 4.0]  # polled with backoff
    assert notices == []  # a released lock is simply free: nothing was taken over


def test_waiting_gives_up_at_the_timeout(
    local: LocalStateStore, clock: Clock, notices: list[tuple[str, str]]
) -> None:
    def renewing_alice(seconds: float) -> None:
        clock.advance(seconds)
        local.lock_path.write_bytes(foreign_lock(renewed=clock.now.isoformat()))

    local.lock_path.write_bytes(foreign_lock())
    local.lock_options = options(clock, notices, timeout=25.0, sleep=renewing_alice)
    with pytest.raises(StateLocked, match="is locked after waiting 25s: alice"), local.lock("c"):
        pass
    assert clock.seconds == 1025.0


def test_a_lost_answer_to_the_lock_write_is_resolved_by_reading_the_lock_back(
    s3: S3StateStore, aws: AwsProvider, emulator: Emulator
) -> None:
    with s3.lock("setup"):
        pass
    raw = boto3.client("s3", region_name="us-east-1", endpoint_url=emulator.endpoint)
    lost: list[str] = []

    def write_lands_answer_lost(params: dict[str, Any], **_: Any) -> None:
        # The first lock write reaches S3, its answer is lost; what the client sends next is
        # the retry, which finds the condition no longer holds (412).
        if params["Key"] == s3.lock_key and not lost:
            lost.append(params["Body"].decode() if isinstance(params["Body"], bytes) else "")
            raw.put_object(Bucket=BUCKET, Key=s3.lock_key, Body=params["Body"])

    aws.register_event_hook("before-parameter-build.s3.PutObject", write_lands_answer_lost)
    with s3.lock("carol") as held:
        held.write(State(accounts={"A": "111111111111"}))
        holder = s3.lock_holder()
        assert holder is not None
        assert (holder.owner, holder.status) == ("carol", "held")
    assert len(lost) == 1
    assert json.loads(lost[0])["owner"] == "carol"
    assert s3.lock_holder().status == "released"  # type: ignore[union-attr]
    assert s3.read().accounts == {"A": "111111111111"}


def test_every_lost_write_answer_is_resolved(
    s3: S3StateStore, aws: AwsProvider, emulator: Emulator, clock: Clock
) -> None:
    with s3.lock("setup"):
        pass
    raw = boto3.client("s3", region_name="us-east-1", endpoint_url=emulator.endpoint)
    landed: list[str] = []

    def every_write_lands_answer_lost(params: dict[str, Any], **_: Any) -> None:
        landed.append(params["Key"])
        raw.put_object(Bucket=BUCKET, Key=params["Key"], Body=params["Body"])

    aws.register_event_hook("before-parameter-build.s3.PutObject", every_write_lands_answer_lost)
    with s3.lock("carol") as held:
        held.write(State(accounts={"A": "111111111111"}))
        clock.advance(5)
        assert held._held.renew()  # type: ignore[union-attr]
        held.write(State(accounts={"A": "111111111111", "B": "222222222222"}))
    # Lock take, state, renewal, state, release: each landed, lost its answer, and was read back.
    assert landed == [s3.lock_key, s3.key, s3.lock_key, s3.key, s3.lock_key]
    assert s3.read().serial == 2
    assert s3.lock_holder().status == "released"  # type: ignore[union-attr]


# --- fencing -------------------------------------------------------------------------------


def test_a_run_whose_lease_was_taken_over_writes_nothing_more(
    local: LocalStateStore, clock: Clock, notices: list[tuple[str, str]]
) -> None:
    with local.lock("alice") as alice:
        alice.write(State(accounts={"A": "111111111111"}))
        alice.check_held()
        clock.advance(LEASE_SECONDS)  # alice stalls: no renewal
        with pytest.raises(StateLockLost) as raised:
            alice.check_held()
        assert raised.value.code == "E709"
        assert "ran out unrenewed" in raised.value.message
        with local.lock("bob") as bob:
            bob.write(State(accounts={"B": "222222222222"}))
            with pytest.raises(StateLockLost, match="ran out unrenewed; the state was not written"):
                alice.write(State(accounts={"A": "111111111111", "C": "333333333333"}))
        assert local.read().accounts == {"B": "222222222222"}
    # Alice's exit did not release Bob's record (nor touch it).
    assert local.lock_holder().owner == "bob"  # type: ignore[union-attr]
    assert local.lock_holder().generation == 2  # type: ignore[union-attr]
    assert [code for code, _ in notices] == ["W701"]


def test_unlock_during_a_run_stops_it_before_its_next_change(
    local: LocalStateStore, clock: Clock, notices: list[tuple[str, str]]
) -> None:
    with local.lock("alice") as alice:
        assert local.force_unlock("carol") == "broken"
        # Alice has not noticed yet, but nobody else may start while she may be writing.
        with pytest.raises(StateLocked, match="being stopped"), local.lock("bob"):
            pass
        assert not alice._held.renew()  # type: ignore[union-attr]
        assert notices == [("E709", f"the lock on {local.path} was unlocked by carol")]
        with pytest.raises(StateLockLost, match="unlocked by carol; this run stopped"):
            alice.check_held()
        # What she finished is still recorded: nobody holds the lock after her yet.
        alice.write(State(accounts={"A": "111111111111"}))
    with local.lock("bob") as bob:
        assert bob.state.accounts == {"A": "111111111111"}


def test_an_unlocked_apply_makes_no_aws_change(
    tmp_path: Path,
    aws: AwsProvider,
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    notices: list[tuple[str, str]],
) -> None:
    from orgc.apply import apply
    from orgc.pipeline import compile_organization, make_plan

    monkeypatch.chdir(Path(__file__).parent.parent)
    create_groups(*EXAMPLE_GROUPS)
    store = LocalStateStore(tmp_path / "state.json", lock_options=options(clock, notices))
    inputs = compile_organization(Path("organization"))
    with store.lock("alice") as alice:
        plan = make_plan(inputs, aws, alice.state)
        store.force_unlock("carol")
        alice._held.renew()  # type: ignore[union-attr]
        before = aws.call_counts()
        result = apply(plan, aws, alice)
    assert result.done == []
    assert result.failed
    assert all("unlocked by carol" in reason for reason in result.failed.values())
    after = aws.call_counts()
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {}
    client = boto3.client("organizations", region_name="us-east-1")
    assert len(client.list_accounts()["Accounts"]) == 1


# --- backups, serial, history, restore -----------------------------------------------------


def test_local_state_keeps_its_last_versions(local: LocalStateStore) -> None:
    with local.lock("alice") as held:
        for number in range(BACKUPS_KEPT + 5):
            held.write(State(accounts={"A": f"{number:012d}"}))
    history = local.history()
    assert [v.serial for v in history] == list(range(BACKUPS_KEPT + 5, 5, -1))
    assert [v.current for v in history] == [True] + [False] * (BACKUPS_KEPT - 1)
    assert history[0].size == len(local.path.read_bytes())
    assert len(list(local.backup_dir.iterdir())) == BACKUPS_KEPT


def test_a_local_state_replaced_by_an_older_one_is_refused_until_restored(
    local: LocalStateStore,
) -> None:
    with local.lock("alice") as held:
        held.write(State(accounts={"A": "111111111111"}))
        held.write(State(accounts={"A": "111111111111", "B": "222222222222"}))
        held.write(State(accounts={"A": "111111111111", "B": "333333333333"}))
    # Someone copies the first version back over the state by hand.
    local.path.write_bytes((local.backup_dir / "orgc-state.json.00000001").read_bytes())
    refused = pytest.raises(StateConflict, match="has serial 1, but serial 3 was written before")
    with refused, local.lock("bob"):
        pass
    restored = local.restore("2", "bob")
    assert (restored.serial, restored.accounts["B"]) == (4, "222222222222")
    assert local.read() == restored
    with local.lock("bob") as held:
        assert held.write(State()).serial == 5


def test_s3_history_lists_the_bucket_versions_and_restore_writes_a_new_one(
    s3: S3StateStore,
) -> None:
    with s3.lock("alice") as held:
        for owner in ("111111111111", "222222222222", "333333333333"):
            held.write(State(accounts={"A": owner}))
    history = s3.history()
    assert [(v.serial, v.current) for v in history] == [(3, True), (2, False), (1, False)]
    current = s3.provider.get_object(BUCKET, s3.key)
    assert current is not None
    assert history[0].size == len(current[0])
    restored = s3.restore(history[2].version, "bob")
    assert (restored.serial, restored.accounts) == (4, {"A": "111111111111"})
    assert restored.lineage == history_lineage(s3)
    assert [v.serial for v in s3.history()] == [4, 3, 2, 1]
    with pytest.raises(Exception, match="has no version 'nope'"):
        s3.restore("nope", "bob")


def history_lineage(store: S3StateStore) -> str:
    return store.read().lineage


def test_history_and_restore_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.json"
    store = LocalStateStore(path)
    with store.lock("alice") as held:
        held.write(State(accounts={"A": "111111111111"}))
        held.write(State(accounts={"A": "222222222222"}))
    assert main(["state", "history", "--state", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VERSION", "SERIAL", "TIME", "SIZE"]
    assert [line.split()[:2] for line in lines[1:]] == [["2", "2"], ["1", "1"]]
    assert lines[1].endswith("current")
    assert main(["state", "restore", "1", "--state", str(path)]) == 64
    assert "pass --force" in capsys.readouterr().err
    assert main(["state", "restore", "1", "--force", "--state", str(path)]) == 0
    assert "as serial 3" in capsys.readouterr().out
    assert store.read().accounts == {"A": "111111111111"}
    assert main(["state", "restore", "9", "--force", "--state", str(path)]) == 1
    assert "error[E707]" in capsys.readouterr().err


def test_unlock_asks_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.json"
    (tmp_path / "state.json.lock").write_bytes(foreign_lock(renewed=_now()))
    assert main(["state", "unlock", "--state", str(path)]) == 64
    captured = capsys.readouterr()
    assert "is locked by alice@ci-runner-7 pid 4242" in captured.out
    assert "pass --force" in captured.err
    assert main(["state", "unlock", "--force", "--state", str(path)]) == 0
    assert "makes no further change in AWS" in capsys.readouterr().out
    # Alice is on another machine and cannot confirm she stopped: her lease decides.
    with pytest.raises(StateLocked, match="being stopped"), LocalStateStore(path).lock("bob"):
        pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def test_lock_timeout_durations() -> None:
    assert [_duration(t) for t in ("30", "30s", "5m", "1.5h")] == [30.0, 30.0, 300.0, 5400.0]
    with pytest.raises(Exception, match="not a duration"):
        _duration("soon")


# --- the state bucket ----------------------------------------------------------------------


def raw_s3(emulator: Emulator, credentials: dict[str, Any] | None = None) -> Any:
    keys = credentials or {}
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=emulator.endpoint,
        aws_access_key_id=keys.get("AccessKeyId"),
        aws_secret_access_key=keys.get("SecretAccessKey"),
        aws_session_token=keys.get("SessionToken"),
    )


def test_a_new_bucket_is_created_versioned_encrypted_and_private(
    s3: S3StateStore, emulator: Emulator
) -> None:
    with s3.lock("alice") as held:
        held.write(State())
    client = raw_s3(emulator)
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert client.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    block = client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values())


def test_an_interrupted_bucket_setup_is_finished(
    s3: S3StateStore, emulator: Emulator, notices: list[tuple[str, str]]
) -> None:
    raw_s3(emulator).create_bucket(Bucket=BUCKET)  # the first run died right after this
    assert s3.read() == State()  # reading changes nothing
    with s3.lock("alice") as held:
        held.write(State())
    client = raw_s3(emulator)
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert client.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert all(
        client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values()
    )
    assert notices == [
        (
            "W702",
            f"finished the setup of state bucket {BUCKET}: versioning, default encryption, "
            "public access block added",
        )
    ]


def test_a_public_bucket_is_refused(
    s3: S3StateStore, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    client = raw_s3(emulator)
    client.create_bucket(Bucket=BUCKET)
    client.put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    for use in (s3.read, lambda: s3.lock("alice").__enter__()):
        with pytest.raises(StateBucketRefused) as raised:
            use()
        assert raised.value.code == "E710"
        assert raised.value.message == (
            f"state s3://{BUCKET}/state.json is not kept in this bucket: bucket {BUCKET} grants "
            "READ to everyone in its ACL; remove those grants (and check who read the bucket) "
            "or keep the state elsewhere with --state-bucket"
        )
    assert client.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    assert main(["state", "show", "--endpoint-url", emulator.endpoint]) == 1
    assert "error[E710]" in capsys.readouterr().err


def test_a_bucket_policy_must_stay_inside_the_organization(
    s3: S3StateStore, aws: AwsProvider, emulator: Emulator
) -> None:
    organization_id, _ = aws.organization_identity()
    client = raw_s3(emulator)
    client.create_bucket(Bucket=BUCKET)

    def policy(**statement: Any) -> None:
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Readers",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    **statement,
                }
            ],
        }
        client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(document))

    policy(Principal={"AWS": "arn:aws:iam::999999999999:root"})
    with pytest.raises(StateBucketRefused, match=r"outside the organization \(statement Readers"):
        s3.read()
    policy(
        Principal={"AWS": "*"},
        Condition={"StringEquals": {"aws:PrincipalOrgID": organization_id}},
    )
    fresh = S3StateStore(aws, BUCKET, region="us-east-1")
    assert fresh.read() == State()


def test_a_bucket_of_another_account_is_refused(
    s3: S3StateStore, aws: AwsProvider, emulator: Emulator
) -> None:
    member = aws.create_account(name="member", email="member@example.com")
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=emulator.endpoint)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
        RoleSessionName="squatter",
    )["Credentials"]
    raw_s3(emulator, dict(credentials)).create_bucket(Bucket=BUCKET)
    with pytest.raises(StateBucketRefused, match="belongs to another AWS account"):
        s3.read()


def test_import_from_the_command_line_writes_a_first_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orgformation = tmp_path / "orgformation-state.json"
    orgformation.write_text(
        json.dumps(
            {
                "masterAccountId": "123456789012",
                "bindings": {
                    "OC::ORG::Account": {"Shop": {"physicalId": "111111111111"}},
                },
            }
        ),
        encoding="utf-8",
    )
    path = tmp_path / "state.json"
    assert main(["state", "import", str(orgformation), "--state", str(path)]) == 0
    state = LocalStateStore(path).read()
    assert (state.serial, state.accounts) == (1, {"Shop": "111111111111"})
    assert [v.serial for v in LocalStateStore(path).history()] == [1]
    assert main(["state", "import", str(orgformation), "--state", str(path)]) == 1
    assert "already holds state" in capsys.readouterr().err
    assert main(["state", "import", "--state", str(path)]) == 64
    assert main(["state", "import", str(tmp_path / "missing.json"), "--state", str(path)]) == 1
    assert "cannot read" in capsys.readouterr().err
