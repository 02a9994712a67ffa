"""kill -9 the example apply at random points; every re-run must converge with no manual step.

For each of `--kills` rounds, on a freshly reset emulator: `orgc apply organization/` starts in a
subprocess and is killed with SIGKILL (or SIGTERM with `--signal term`) at a random point of its
progress: the moment it reports its k-th finished change, k drawn from [0, the changes of an
uninterrupted apply) (k = 0: a random moment of its first 3 seconds, while it loads and plans),
so that the points spread over the run however busy the machine is; then `orgc apply` runs
again, with no `orgc state unlock` or any other help, until it exits 0 (at most `--max-reruns`
times), and `orgc plan --detailed-exitcode` must say there is nothing left to do. Checked after
every round:

- no two accounts of the organization share an email (no duplicate account),
- the state reads as valid orgc state, and its versions (`orgc state history`: the bucket's
  object versions) have strictly decreasing serials, newest first, each readable,
- the previous version can be restored (`orgc state restore` into a copy of the state kept in a
  local file, so the round's own state is left as it is).

Bounded: `--kills` rounds (20), each re-run capped at `--run-timeout` seconds, the whole soak at
`--budget` seconds. Only the loopback emulator is ever contacted. Prints one line per round and
a summary; `--json FILE` writes the figures.

    .venv/bin/python benchmarks/kill_soak.py --kills 20 --seed 12
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3

from orgc.emulator import (
    Emulator,
    EmulatorError,
    apply_emulator_environment,
    emulator_environment,
    emulator_unset_variables,
)
from orgc.state import State

TOP = Path(__file__).resolve().parent.parent


@dataclass(slots=True)
class Round:
    number: int
    point: int  # killed when this many changes were reported done (0: during loading/planning)
    delay: float  # seconds after the start when the signal was sent
    killed_with: str
    killed_exit: int | None
    reruns: int = 0
    rerun_exits: list[int] = field(default_factory=list)
    takeover_notices: int = 0
    manual_steps: int = 0  # always 0: nothing here ever unlocks by hand
    converged: bool = False
    plan_exit: int | None = None
    accounts: int = 0
    duplicate_emails: int = 0
    serials: list[int] = field(default_factory=list)
    serial_monotonic: bool = False
    restored_serial: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _environment(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in emulator_unset_variables()}
    env.update(emulator_environment(endpoint))
    env["PYTHONPATH"] = str(TOP)
    return env


def _orgc(*args: str) -> list[str]:
    return [sys.executable, "-m", "orgc", *args]


def _run(
    command: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=TOP, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _apply(endpoint: str) -> list[str]:
    return _orgc("apply", "organization", "--auto-approve", "--endpoint-url", endpoint)


def _fresh(emulator: Emulator) -> None:
    """Reset the emulator to a new organization; on 2 busy cores a reset can take a while."""
    for attempt in range(5):
        try:
            emulator.reset()
            emulator.bootstrap()
            _create_example_groups(emulator.endpoint)
            return
        except EmulatorError:
            if attempt == 4:
                raise
            time.sleep(2.0)


def _create_example_groups(endpoint: str) -> None:
    """The groups organization/ assigns permission sets to, as an identity provider would sync
    them (orgc never creates them in AWS; with --endpoint-url it does not stand in for one)."""
    sso = boto3.client("sso-admin", region_name="us-east-1", endpoint_url=endpoint)
    store_id = sso.list_instances()["Instances"][0]["IdentityStoreId"]
    identity = boto3.client("identitystore", region_name="us-east-1", endpoint_url=endpoint)
    for name in ("Platform", "Payments", "Search", "Data"):
        identity.create_group(IdentityStoreId=store_id, DisplayName=name)


def _timed_full_apply(emulator: Emulator, env: dict[str, str], timeout: float) -> tuple[float, int]:
    """(seconds, changes reported done) of an apply nobody interrupts."""
    _fresh(emulator)
    started = time.monotonic()
    done = _run(_apply(emulator.endpoint), env, timeout)
    if done.returncode != 0:
        raise SystemExit(f"the uninterrupted apply failed ({done.returncode}):\n{done.stderr}")
    changes = sum(_is_done(line) for line in done.stderr.splitlines())
    return time.monotonic() - started, changes


def _kill_at(
    endpoint: str, env: dict[str, str], *, point: int, early: float, signum: int, timeout: float
) -> tuple[float, int]:
    """Run an apply and send `signum` at its `point`-th finished change (0: after `early`
    seconds); (seconds when sent, exit code)."""
    started = time.monotonic()
    with subprocess.Popen(
        _apply(endpoint),
        cwd=TOP,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as victim:
        assert victim.stderr is not None
        sent = -1.0
        if point == 0:
            try:
                victim.wait(timeout=early)
            except subprocess.TimeoutExpired:
                victim.send_signal(signum)
                sent = time.monotonic() - started
        else:
            finished = 0
            for line in victim.stderr:
                finished += _is_done(line)
                if finished == point:
                    victim.send_signal(signum)
                    sent = time.monotonic() - started
                    break
        victim.stderr.read()
        return round(sent, 2), victim.wait(timeout=timeout)


def _check(emulator: Emulator, env: dict[str, str], outcome: Round, timeout: float) -> None:
    organizations = boto3.client(
        "organizations", region_name="us-east-1", endpoint_url=emulator.endpoint
    )
    emails = [
        account["Email"].lower()
        for page in organizations.get_paginator("list_accounts").paginate()
        for account in page["Accounts"]
    ]
    outcome.accounts = len(emails)
    outcome.duplicate_emails = len(emails) - len(set(emails))

    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=emulator.endpoint)
    bucket, key = "orgc-state-123456789012", "state.json"
    versions = [
        v
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for v in page.get("Versions", [])
        if v["Key"] == key
    ]
    bodies = [
        s3.get_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])["Body"].read()
        for v in versions
    ]
    try:
        states = [State.from_json(body, origin=f"version {i}") for i, body in enumerate(bodies)]
    except Exception as error:  # any unreadable version is a finding, not a crash of the soak
        outcome.problems.append(f"unreadable state version: {error}")
        return
    outcome.serials = [state.serial for state in states]
    outcome.serial_monotonic = all(a > b for a, b in itertools.pairwise(outcome.serials))
    if not outcome.serial_monotonic:
        outcome.problems.append(f"serials not strictly decreasing: {outcome.serials}")

    # The previous version is recoverable: `orgc state restore` writes it back as a new version
    # (the round is over, so its state may change now).
    if len(states) >= 2:
        restored = _run(
            _orgc(
                "state",
                "restore",
                versions[1]["VersionId"],
                "--force",
                "--endpoint-url",
                emulator.endpoint,
            ),
            env,
            timeout,
        )
        if restored.returncode != 0:
            outcome.problems.append(f"restore failed: {restored.stderr.strip()}")
            return
        after = State.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), origin="")
        outcome.restored_serial = after.serial
        if after.serial != states[0].serial + 1:
            outcome.problems.append(f"restored as serial {after.serial}, not above the last")
        if (after.accounts, after.stacks) != (states[1].accounts, states[1].stacks):
            outcome.problems.append("the restored state differs from the version restored")


def soak(args: argparse.Namespace) -> dict[str, Any]:
    rounds: list[Round] = []
    chooser = random.Random(args.seed)
    started = time.monotonic()
    with Emulator() as emulator:
        apply_emulator_environment(emulator.endpoint)  # this process's own checks, too
        env = _environment(emulator.endpoint)
        full, changes = _timed_full_apply(emulator, env, args.run_timeout)
        print(
            f"uninterrupted apply: {full:.1f}s, {changes} changes; killing at a random one",
            flush=True,
        )
        for number in range(1, args.kills + 1):
            if time.monotonic() - started > args.budget:
                print(f"budget of {args.budget:.0f}s spent; stopping after {number - 1} rounds")
                break
            _fresh(emulator)
            outcome = Round(
                number=number,
                point=chooser.randrange(changes),
                delay=0.0,
                killed_with=args.signal,
                killed_exit=None,
            )
            round_started = time.monotonic()
            outcome.delay, outcome.killed_exit = _kill_at(
                emulator.endpoint,
                env,
                point=outcome.point,
                early=chooser.uniform(0.0, 3.0),
                signum=signal.SIGKILL if args.signal == "kill" else signal.SIGTERM,
                timeout=args.run_timeout,
            )
            for _ in range(args.max_reruns):
                rerun = _run(_apply(emulator.endpoint), env, args.run_timeout)
                outcome.reruns += 1
                outcome.rerun_exits.append(rerun.returncode)
                outcome.takeover_notices += rerun.stderr.count("warning[W701]")
                if rerun.returncode == 0:
                    break
                if "E702" in rerun.stderr:
                    outcome.problems.append("a re-run found the state locked")
            plan = _run(
                _orgc(
                    "plan",
                    "organization",
                    "--detailed-exitcode",
                    "--endpoint-url",
                    emulator.endpoint,
                ),
                env,
                args.run_timeout,
            )
            outcome.plan_exit = plan.returncode
            outcome.converged = outcome.rerun_exits[-1:] == [0] and plan.returncode == 0
            if not outcome.converged:
                outcome.problems.append(f"did not converge: {plan.stderr.strip()[-500:]}")
            _check(emulator, env, outcome, args.run_timeout)
            outcome.seconds = round(time.monotonic() - round_started, 1)
            rounds.append(outcome)
            print(
                f"round {number:2d}: {args.signal} at change {outcome.point:3d} "
                f"({outcome.delay:5.2f}s, exit "
                f"{outcome.killed_exit}), re-runs {outcome.rerun_exits}, takeover notices "
                f"{outcome.takeover_notices}, plan exit {outcome.plan_exit}, accounts "
                f"{outcome.accounts}, duplicates {outcome.duplicate_emails}, serials "
                f"{outcome.serials[:3]}..{outcome.serials[-1:]}, restored as "
                f"{outcome.restored_serial}"
                + ("  PROBLEMS: " + "; ".join(outcome.problems) if outcome.problems else ""),
                flush=True,
            )
    summary = {
        "signal": args.signal,
        "seed": args.seed,
        "rounds": len(rounds),
        "uninterrupted_apply_seconds": round(full, 1),
        "uninterrupted_apply_changes": changes,
        "killed_mid_run": sum(r.delay >= 0 for r in rounds),
        "killed_exit_codes": dict(sorted(Counter(r.killed_exit for r in rounds).items())),
        "converged": sum(r.converged for r in rounds),
        "converged_on_first_rerun": sum(r.converged and r.reruns == 1 for r in rounds),
        "manual_steps": sum(r.manual_steps for r in rounds),
        "takeovers": sum(r.takeover_notices for r in rounds),
        "duplicate_accounts": sum(r.duplicate_emails for r in rounds),
        "serials_monotonic": sum(r.serial_monotonic for r in rounds),
        "previous_version_restored": sum(r.restored_serial is not None for r in rounds),
        "rounds_with_problems": sum(bool(r.problems) for r in rounds),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    return {"summary": summary, "rounds": [asdict(r) for r in rounds]}


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwind, so the emulator is stopped


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--signal", choices=("kill", "term"), default="kill")
    parser.add_argument("--max-reruns", type=int, default=3)
    parser.add_argument("--run-timeout", type=float, default=180.0)
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds for the whole soak")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    result = soak(args)
    print(json.dumps(result["summary"], indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    summary = result["summary"]
    ok = summary["rounds"] and summary["rounds_with_problems"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())


def _is_done(line: str) -> bool:
    """Whether a progress line reports a finished change: "<timestamp> done    <change>"."""
    return line.split()[1:2] == ["done"]
