"""Soak: the example organization (organization/) applied through the fault proxy, many seeds.

Not part of the test suite (it takes minutes). For each rate and seed: a fresh emulated
organization, `orgc apply organization/` through the proxy until it succeeds (at most two runs
counted as "converged"), then a plan with no faults must find nothing to do, and the emulator
must hold no account, OU, policy or stack twice. Prints one line per run and a summary.

    PYTHONPATH=. python tests/fault_soak.py [--seeds N] [--rates 0.05,0.2]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import shutil
import sys
import tempfile
import time
import types
from collections import Counter
from pathlib import Path

import botocore.endpoint

sys.path.insert(0, str(Path(__file__).parent))

from fault_proxy import fault_proxy
from support.emulated import EXAMPLE_GROUPS, create_groups
from test_faults import _duplicates

import orgc.aws
from orgc import cli
from orgc.aws import AwsProvider
from orgc.emulator import (
    Emulator,
    EmulatorError,
    emulator_environment,
    emulator_unset_variables,
)

TOP = Path(__file__).parent.parent


def _run(endpoint: str, *args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main([*args, "--state", "state.json", "--endpoint-url", endpoint])
    return code, err.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rates", default="0.05,0.2")
    args = parser.parse_args()
    no_waiting = functools.partial(AwsProvider, sleep=lambda _: None, poll_interval=0)
    setattr(orgc.aws, "AwsProvider", no_waiting)  # noqa: B010 (the CLI makes its own provider)
    setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=lambda _: None))  # noqa: B010
    summary: Counter[str] = Counter()
    with Emulator() as emulator, tempfile.TemporaryDirectory() as scratch:
        for name in emulator_unset_variables():
            os.environ.pop(name, None)
        os.environ.update(emulator_environment(emulator.endpoint))
        for rate in (float(r) for r in args.rates.split(",")):
            for seed in range(1, args.seeds + 1):
                _fresh(emulator)
                work = Path(scratch) / f"{rate}-{seed}"
                shutil.copytree(TOP, work, ignore=_only_project)
                os.chdir(work)
                started = time.monotonic()
                runs, errors = 0, []
                with fault_proxy(emulator.endpoint, rate=rate, seed=seed) as proxy:
                    for _ in range(5):
                        runs += 1
                        code, err = _run(proxy.endpoint, "apply", "organization/", "--auto-approve")
                        errors += [line for line in err.splitlines() if "error[" in line]
                        if code == 0 or "Traceback" in err:
                            break
                    injected = sum(proxy.injected.values())
                    requests = proxy.requests
                clean, _ = _run(emulator.endpoint, "plan", "organization/", "--detailed-exitcode")
                found = _duplicates()
                stacks = found.pop("stacks created")
                twice = sum(len(v) for v in found.values())
                converged = clean == 0 and runs <= 2
                summary["runs"] += 1
                summary["converged within two"] += converged
                summary["duplicates"] += twice
                summary["tracebacks"] += any("Traceback" in e for e in errors)
                print(
                    f"rate {rate:.0%} seed {seed}: {requests} requests, {injected} faults, "
                    f"{runs} apply run(s), clean plan exit {clean}, {stacks[0]}, "
                    f"{twice} duplicates, {len(errors)} error lines, "
                    f"{time.monotonic() - started:.0f}s"
                )
                for line in errors[:3]:
                    print(f"    {line[:200]}")
                os.chdir(TOP)
    print(dict(summary))
    return 0 if summary["converged within two"] == summary["runs"] else 1


def _fresh(emulator: Emulator) -> None:
    """Reset and bootstrap the emulator; a machine busy with other work may make it slow."""
    for attempt in range(5):
        try:
            emulator.reset()
            emulator.bootstrap()
            create_groups(*EXAMPLE_GROUPS)  # as the identity provider would sync them
            return
        except EmulatorError:
            if attempt == 4:
                raise
            time.sleep(5)


def _only_project(directory: str, names: list[str]) -> list[str]:
    if Path(directory) == TOP:
        return [n for n in names if n not in ("organization", "templates")]
    return []


if __name__ == "__main__":
    sys.exit(main())
