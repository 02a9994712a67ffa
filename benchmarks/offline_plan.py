"""How long orgc takes to compile and plan a large organization, with no AWS at all.

For each size, generate.py writes the organization (accounts x 4 regions x 30 tasks by default),
then FRESH subprocesses, one per run, each import orgc, then time `compile_organization` and
`make_plan` once against a stub provider that answers as a fresh organization does: only the
management account, no OUs, no stacks, no objects, no exports. Every run pays what a CLI run pays
(first use of the schemas, caches filled from empty); imports are not timed. Reported per size:
the median and min-max of the runs, and the subprocess's peak RSS (ru_maxrss).

Fresh subprocesses rather than repeats inside one process, because `orgc plan` runs once per
process: a warm second call in the same process could profit from caches a user never has.

usage: offline_plan.py [--sizes 500,1000,2000] [--tasks 30] [--regions 4] [--runs 3] [--out DIR]
                       [--baseline CHECKOUT]   also time another checkout, runs alternating
       offline_plan.py --profile [SIZE]      top 30 cProfile entries of one run at SIZE (1000)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import generate

if TYPE_CHECKING:
    from orgc.observed import LiveOrganization, LiveStack

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
TARGET_ACCOUNTS = 1000
TARGET_SECONDS = 3.0  # compile + plan, median
TARGET_MIB = 1024.0


class UnknownProviderCall(RuntimeError):
    """make_plan asked the stub for something it does not answer."""


class FreshOrganization:
    """The reads make_plan makes, answered as a just-created organization answers them.

    Shaped after what orgc's AwsProvider reads from the emulator right after CreateOrganization:
    the root with no policy type enabled, FullAWSAccess attached to the root and the management
    account, nothing else. Any other attribute raises, so a new read in the pipeline shows up as
    a failure here instead of a benchmark that silently measures less.
    """

    def __init__(self, management_account_id: str) -> None:
        self.management_account_id = management_account_id
        self.calls: dict[str, int] = {}

    def read_organization(
        self,
        *,
        account_roles: Mapping[str, str],
        read_account_details: bool,
        read_account_tags: bool = True,
    ) -> LiveOrganization:
        from orgc.observed import LiveAccount, LiveOrganization, LivePolicy, LiveRoot

        self._count("read_organization")
        full_access = LivePolicy(
            policy_id="p-FullAWSAccess",
            policy_type="SERVICE_CONTROL_POLICY",
            name="FullAWSAccess",
            description="Allows access to every operation",
            content='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
            aws_managed=True,
        )
        root = LiveRoot(
            root_id="r-bnch", enabled_policy_types=(), policy_ids=(full_access.policy_id,)
        )
        management = LiveAccount(
            account_id=self.management_account_id,
            name="management",
            email="aws-management@bench.example.com",
            status="ACTIVE",
            parent_id=root.root_id,
            policy_ids=(full_access.policy_id,),
            details_read=read_account_details,
            tags_read=read_account_tags,  # a fresh management account has no tags
        )
        return LiveOrganization(
            organization_id="o-bench00000",
            management_account_id=self.management_account_id,
            root=root,
            accounts={management.account_id: management},
            organizational_units={},
            policies={full_access.policy_id: full_access},
        )

    def list_stacks(self, account_id: str, role_name: str, region: str) -> dict[str, LiveStack]:
        self._count("list_stacks")
        return {}

    def read_export(self, *, account_id: str, role_name: str, region: str, name: str) -> str | None:
        self._count("read_export")
        return None

    def head_s3_object(self, *, bucket: str, key: str, region: str) -> str | None:
        self._count("head_s3_object")
        return None

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def __getattr__(self, name: str) -> Any:
        raise UnknownProviderCall(
            f"make_plan called provider.{name}, which the offline stub in {Path(__file__).name} "
            "does not answer; add it to FreshOrganization with a fresh organization's answer"
        )


# --- the worker: one fresh process, one compile and one plan ---------------------------------


def run_worker(tasks_path: Path, result_path: Path, *, profile: bool) -> None:
    """Time compile and plan once, write the figures as JSON; with `profile`, print profiles."""
    from orgc.aws import AwsProvider
    from orgc.pipeline import compile_organization, make_plan
    from orgc.state import State

    try:  # the process set-up `orgc` itself makes (absent from a baseline that predates it)
        from orgc.cli import tune_garbage_collection
    except ImportError:
        pass
    else:
        tune_garbage_collection()
    stub = FreshOrganization(generate.MANAGEMENT_ACCOUNT_ID)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    start = time.perf_counter()
    inputs = compile_organization(tasks_path, root=tasks_path.parent)
    compiled = time.perf_counter()
    plan = make_plan(inputs, cast("AwsProvider", stub), State())
    planned = time.perf_counter()
    if profiler is not None:
        profiler.disable()
        _print_profile(profiler)
    kinds: dict[str, int] = {}
    for change in plan.changes:
        kinds[change.kind] = kinds.get(change.kind, 0) + 1
    result = {
        "compile_s": compiled - start,
        "plan_s": planned - compiled,
        "stacks": kinds.get("stack", 0),
        "changes": len(plan.changes),
        "changes_by_kind": dict(sorted(kinds.items())),
        "provider_calls": dict(sorted(stub.calls.items())),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "profiled": profile,
    }
    result_path.write_text(json.dumps(result), encoding="utf-8")


def _print_profile(profiler: Any) -> None:
    import pstats

    for order in ("cumulative", "tottime"):
        print(f"\n=== top 30 by {order} ===")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.strip_dirs().sort_stats(order).print_stats(30)


def spawn_worker(
    tasks_path: Path, *, profile: bool = False, repository: Path = REPOSITORY
) -> dict[str, Any]:
    """Run one worker in a fresh interpreter on the orgc of `repository` (its own copy of this
    script is the worker, so an older commit runs its own pipeline); raises when it fails."""
    with tempfile.TemporaryDirectory(prefix="orgc-offline-") as scratch:
        result_path = Path(scratch) / "result.json"
        script = repository / "benchmarks" / Path(__file__).name
        command = [sys.executable, str(script), "--worker", str(tasks_path)]
        command += ["--result", str(result_path)] + (["--profile"] if profile else [])
        environment = {**os.environ, "PYTHONPATH": str(repository)}
        completed = subprocess.run(command, check=False, cwd=tasks_path.parent, env=environment)
        if completed.returncode != 0 or not result_path.exists():
            raise RuntimeError(f"worker for {tasks_path} failed (exit {completed.returncode})")
        return cast("dict[str, Any]", json.loads(result_path.read_text(encoding="utf-8")))


# --- the driver ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def text(self, digits: int = 2) -> str:
        if self.low == self.high:
            return f"{self.median:.{digits}f}"
        return f"{self.median:.{digits}f} ({self.low:.{digits}f}-{self.high:.{digits}f})"


@dataclass(frozen=True, slots=True)
class SizeResult:
    accounts: int
    tasks: int
    regions: int
    stacks: int
    changes: int
    compile_s: Spread
    plan_s: Spread
    total_s: Spread
    peak_rss_mib: Spread
    provider_calls: dict[str, int]


def measure(
    shape: generate.Shape, work: Path, runs: int, baseline: Path | None = None
) -> tuple[SizeResult, SizeResult | None]:
    """Generate one size and time `runs` fresh workers on it; with `baseline`, as many on the
    orgc of that checkout too, alternating with this one's, so both see the same machine."""
    folder = work / f"a{shape.accounts}-t{shape.tasks}-r{shape.regions}"
    tasks_path = generate.write_project(folder, shape)
    results: list[dict[str, Any]] = []
    baseline_results: list[dict[str, Any]] = []
    for _ in range(runs):
        if baseline is not None:
            baseline_results.append(spawn_worker(tasks_path, repository=baseline))
        results.append(spawn_worker(tasks_path))
    return _summary(shape, results), (
        _summary(shape, baseline_results) if baseline_results else None
    )


def _summary(shape: generate.Shape, results: Sequence[Mapping[str, Any]]) -> SizeResult:
    return SizeResult(
        accounts=shape.accounts,
        tasks=shape.tasks,
        regions=shape.regions,
        stacks=results[0]["stacks"],
        changes=results[0]["changes"],
        compile_s=Spread.of([r["compile_s"] for r in results]),
        plan_s=Spread.of([r["plan_s"] for r in results]),
        total_s=Spread.of([r["compile_s"] + r["plan_s"] for r in results]),
        peak_rss_mib=Spread.of([r["peak_rss_mib"] for r in results]),
        provider_calls=results[0]["provider_calls"],
    )


def table(results: Sequence[SizeResult]) -> str:
    lines = [
        "| accounts | tasks | regions | stacks | plan changes | compile s | plan s | "
        "compile + plan s | peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.accounts:,} | {r.tasks} | {r.regions} | {r.stacks:,} | {r.changes:,} | "
            f"{r.compile_s.text()} | {r.plan_s.text()} | {r.total_s.text()} | "
            f"{r.peak_rss_mib.text(0)} |"
        )
    return "\n".join(lines)


def growth(results: Sequence[SizeResult]) -> list[dict[str, Any]]:
    """Cost ratio per doubling of accounts between consecutive sizes: 2.0 is linear."""
    rows = []
    for small, large in itertools.pairwise(results):
        doublings = math.log2(large.accounts / small.accounts)
        if doublings <= 0:
            continue

        def per_doubling(before: float, after: float, doublings: float = doublings) -> float:
            return float((after / before) ** (1 / doublings)) if before > 0 else math.inf

        rows.append(
            {
                "from": small.accounts,
                "to": large.accounts,
                "stacks": per_doubling(small.stacks, large.stacks),
                "compile": per_doubling(small.compile_s.median, large.compile_s.median),
                "plan": per_doubling(small.plan_s.median, large.plan_s.median),
                "total": per_doubling(small.total_s.median, large.total_s.median),
                "peak_rss": per_doubling(small.peak_rss_mib.median, large.peak_rss_mib.median),
            }
        )
    return rows


def growth_table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "| accounts | stacks | compile | plan | compile + plan | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['from']:,} -> {row['to']:,} | x{row['stacks']:.2f} | x{row['compile']:.2f} | "
            f"x{row['plan']:.2f} | x{row['total']:.2f} | x{row['peak_rss']:.2f} |"
        )
    return "\n".join(lines)


def targets(results: Sequence[SizeResult]) -> list[dict[str, Any]]:
    """The 1,000-account targets: compile + plan median and peak RSS."""
    at = [r for r in results if r.accounts == TARGET_ACCOUNTS]
    if not at:
        return [{"target": f"{TARGET_ACCOUNTS:,} accounts", "verdict": "not measured"}]
    r = at[0]
    shape = f"{r.accounts:,} x {r.regions} x {r.tasks}"
    return [
        {
            "target": f"compile + plan <= {TARGET_SECONDS:g} s at {shape}",
            "measured": round(r.total_s.median, 3),
            "verdict": "PASS" if r.total_s.median <= TARGET_SECONDS else "MISS",
        },
        {
            "target": f"peak RSS <= {TARGET_MIB:,.0f} MiB at {shape}",
            "measured": round(r.peak_rss_mib.median, 1),
            "verdict": "PASS" if r.peak_rss_mib.median <= TARGET_MIB else "MISS",
        },
    ]


def orgc_commit(repository: Path = REPOSITORY) -> str:
    """The checked-out commit, marked `+dirty` when orgc/ has uncommitted changes."""

    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=repository, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "orgc") else "")


def baseline_targets(
    results: Sequence[SizeResult], baseline: Sequence[SizeResult]
) -> list[dict[str, Any]]:
    """The targets against a baseline checkout at 1,000 accounts: compile + plan at most half
    its median, peak RSS no higher."""
    ours = [r for r in results if r.accounts == TARGET_ACCOUNTS]
    theirs = [r for r in baseline if r.accounts == TARGET_ACCOUNTS]
    if not ours or not theirs:
        return []
    time_ratio = ours[0].total_s.median / theirs[0].total_s.median
    memory_ratio = ours[0].peak_rss_mib.median / theirs[0].peak_rss_mib.median
    return [
        {
            "target": f"compile + plan <= 0.5 x the baseline's at {TARGET_ACCOUNTS:,} accounts",
            "measured": round(time_ratio, 3),
            "verdict": "PASS" if time_ratio <= 0.5 else "MISS",
        },
        {
            "target": f"peak RSS <= the baseline's at {TARGET_ACCOUNTS:,} accounts",
            "measured": round(memory_ratio, 3),
            "verdict": "PASS" if memory_ratio <= 1.0 else "MISS",
        },
    ]


def report(
    results: Sequence[SizeResult],
    runs: int,
    out: Path,
    baseline: tuple[str, Sequence[SizeResult]] | None = None,
) -> None:
    rows = growth(results)
    verdicts = targets(results)
    print(f"\norgc offline compile + plan, {runs} fresh process(es) per size, median (min-max)")
    print(f"orgc {orgc_commit()}, Python {platform.python_version()}, {os.cpu_count()} CPUs\n")
    print(table(results))
    print("\nGrowth per doubling of accounts (x2.00 = linear):\n")
    print(growth_table(rows))
    baseline_document = None
    if baseline is not None:
        commit, baseline_results = baseline
        verdicts += baseline_targets(results, baseline_results)
        print(f"\nbaseline orgc {commit}, its runs alternating with the ones above:\n")
        print(table(baseline_results))
        print("\nGrowth per doubling of accounts (x2.00 = linear):\n")
        print(growth_table(growth(baseline_results)))
        print("\nthis checkout / baseline, medians:\n")
        print("| accounts | compile + plan | peak RSS |\n|---:|---:|---:|")
        for ours, theirs in zip(results, baseline_results, strict=True):
            print(
                f"| {ours.accounts:,} | x{ours.total_s.median / theirs.total_s.median:.2f} | "
                f"x{ours.peak_rss_mib.median / theirs.peak_rss_mib.median:.2f} |"
            )
        baseline_document = {
            "orgc_commit": commit,
            "sizes": [asdict(r) for r in baseline_results],
            "growth_per_doubling": growth(baseline_results),
        }
    print()
    for verdict in verdicts:
        measured = f" (measured {verdict['measured']})" if "measured" in verdict else ""
        print(f"{verdict['verdict']}: {verdict['target']}{measured}")
    out.mkdir(parents=True, exist_ok=True)
    document = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "orgc_commit": orgc_commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "method": f"{runs} fresh subprocess(es) per size, one compile and one plan each; "
        "imports not timed; peak RSS is the subprocess's ru_maxrss",
        "sizes": [asdict(r) for r in results],
        "growth_per_doubling": rows,
        "targets": verdicts,
        "baseline": baseline_document,
    }
    path = out / "offline_plan.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,1000,2000", help="account counts, comma-separated")
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per size")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="where the JSON goes")
    parser.add_argument("--work", type=Path, help="keep the generated projects here")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=TARGET_ACCOUNTS,
        metavar="SIZE",
        help=f"profile one run at SIZE accounts (default {TARGET_ACCOUNTS}) instead",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also time the orgc of this checkout (a git worktree of another commit), its runs "
        "alternating with this one's, and compare",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        run_worker(args.worker.resolve(), args.result, profile=args.profile is not None)
        return 0
    with tempfile.TemporaryDirectory(prefix="orgc-bench-") as scratch:
        work = args.work or Path(scratch)
        if args.profile is not None:
            shape = generate.Shape(accounts=args.profile, tasks=args.tasks, regions=args.regions)
            tasks_path = generate.write_project(work / f"profile-a{args.profile}", shape)
            result = spawn_worker(tasks_path, profile=True)
            print(
                f"\nprofiled run at {shape.accounts:,} x {shape.regions} x {shape.tasks}: "
                f"compile {result['compile_s']:.2f} s, plan {result['plan_s']:.2f} s "
                f"(under the profiler), {result['stacks']:,} stacks"
            )
            return 0
        sizes = [int(size) for size in args.sizes.split(",")]
        baseline = args.baseline.resolve() if args.baseline is not None else None
        results = []
        baseline_results = []
        for size in sizes:
            shape = generate.Shape(accounts=size, tasks=args.tasks, regions=args.regions)
            print(f"measuring {size:,} accounts x {args.regions} regions x {args.tasks} tasks ...")
            ours, theirs = measure(shape, work, args.runs, baseline)
            results.append(ours)
            if theirs is not None:
                baseline_results.append(theirs)
        report(
            results,
            args.runs,
            args.out,
            (orgc_commit(baseline), baseline_results) if baseline is not None else None,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
