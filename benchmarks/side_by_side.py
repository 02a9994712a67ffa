"""orgc next to the real OrgFormation 1.0.17: same organization, same emulator build, same machine.

Each repetition runs three rounds, each on a FRESH loopback moto server (a free 127.0.0.1 port):

1. OrgFormation: ../shared/peer/run_bench.sh N PORT. Its phases, as the peer names them:
   update1 + pt1 = (a) create the organization and deploy the stacks; pt2 = (b) perform-tasks
   again with nothing changed; update3 = (d) a password-policy change in every account;
   pt3 = (c) a template change touching every stack.
2. orgc, through ../shared/peer/with_moto.sh, in a fresh copy of the peer's files
   (gen_org.py N, tasks.yml, templates/, read unchanged): (a) `orgc apply tasks.yml`, (b) the same
   again, (d) the peer's password-policy change (gen_org.py --min-pw-length 16) applied, (c) the
   peer's template edit applied. The same order as the peer's, so that (c) starts from the same
   state and the peer's verify_change.py checks it unchanged. verify.py checks (a) and
   verify_change.py (c); a failed check stops the benchmark.
3. orgc with the Baseline task in `DeploymentMode: StackSet`: organization.yml applied first (not
   counted), then the StackSet task file applied twice (counted); after the deploy, boto3 counts
   the instances the emulator placed (reported, not judged: moto places them unlike AWS). When
   orgc refuses the mode, or deploys single stacks instead of a StackSet, the round is reported as
   not available; when it sends StackSet requests and fails, as failed.

Every phase counts the lines the emulator's request log gained and the wall clock of the tool's
process; the log's service and action columns give a per-action breakdown. Written to the output
folder: summary.md (also printed), results.json, breakdown.tsv, and each round's logs.

usage: side_by_side.py [--accounts 200] [--reps 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
# The peer scripts sit next to the repository, in ../shared/peer/.
PEER = Path(os.environ.get("ORGC_PEER_SCRIPTS", REPOSITORY.parent / "shared" / "peer"))
PEER_DIR = Path(os.environ.get("OFPEER_DIR", f"{os.environ.get('TMPDIR', '/tmp')}/orgc-peer"))
PEER_PYTHON = PEER_DIR / "venv" / "bin" / "python"
ORGC = Path(sys.executable).parent / "orgc"
STATE_BUCKET = "orgc-bench-state"
REGIONS = "us-east-1,eu-west-1"  # where the peer's tasks.yml deploys
TEMPLATE_EDIT = "s/ofpeer baseline revision 1/ofpeer baseline revision 2/"
STACKSET_ANCHOR = "  StackName: ofpeer-baseline\n"

# Phases in reporting order; (d) is measured for completeness and carries no target.
PHASES = ("a", "b", "c", "d")
PHASE_TITLES = {
    "a": "(a) create organization + deploy stacks",
    "b": "(b) everything again, nothing changed",
    "c": "(c) template change in every stack",
    "d": "(d) password-policy change in every account",
}
PEER_PHASES = {"a": ("update1", "pt1"), "b": ("pt2",), "c": ("pt3",), "d": ("update3",)}
TARGET_RATIO = 0.6
TARGET_STACKSET_REQUESTS = 50


# --- measuring one command -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One measured command: its exit code, cost and the requests it sent."""

    name: str
    rc: int
    wall_s: float
    cpu_s: float
    max_rss_mib: float
    requests: int
    actions: dict[str, int] = field(default_factory=dict)  # "service Action" -> requests
    log: str = ""


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def count_actions(lines: Iterable[str]) -> dict[str, int]:
    """Requests per "service Action" from request-log lines (epoch method status service region
    action key ms path)."""
    counts: dict[str, int] = {}
    for line in lines:
        fields = line.split("\t")
        if len(fields) >= 6:
            key = f"{fields[3]} {fields[5]}"
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def run_measured(name: str, command: Sequence[str], *, cwd: Path, reqlog: Path) -> Phase:
    """Run `command`, its output into `cwd/<name>.log`; count what it sent to the emulator."""
    before = len(log_lines(reqlog))
    log = cwd / f"{name}.log"
    with log.open("w", encoding="utf-8") as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = log_lines(reqlog)[before:]
    return Phase(
        name=name,
        rc=process.returncode,
        wall_s=round(wall, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        max_rss_mib=round(usage.ru_maxrss / 1024, 1),
        requests=len(lines),
        actions=count_actions(lines),
        log=str(log),
    )


def orgc_apply(target: str) -> list[str]:
    return [str(ORGC), "apply", target, "--auto-approve", "--state-bucket", STATE_BUCKET]


def verify(cwd: Path, name: str, *args: str) -> dict[str, Any]:
    """Run one of the peer's boto3 checks; its JSON verdict, `ok` false when it failed."""
    script = "verify_change.py" if name == "verify-change" else "verify.py"
    completed = subprocess.run(
        [str(PEER_PYTHON), str(PEER / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    (cwd / f"{name}.json").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    try:
        verdict: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        verdict = {"ok": False, "output": (completed.stdout + completed.stderr)[-2000:]}
    verdict["ok"] = bool(verdict.get("ok")) and completed.returncode == 0
    return verdict


# --- inside the emulator: the orgc rounds ----------------------------------------------------


def orgc_round(work: Path, reqlog: Path, accounts: int) -> dict[str, Any]:
    """(a), (b), (d), (c) in the peer's order, with the peer's checks after (a) and (c)."""
    phases: list[Phase] = []
    checks: dict[str, Any] = {}

    def step(name: str, command: Sequence[str]) -> None:
        phase = run_measured(name, command, cwd=work, reqlog=reqlog)
        phases.append(phase)
        if phase.rc != 0:
            raise RoundFailed(f"orgc phase ({name}) exited {phase.rc}; see {phase.log}")

    def check(name: str, *args: str) -> None:
        checks[name] = verify(work, name, *args)
        if not checks[name]["ok"]:
            raise RoundFailed(f"{name} failed after orgc: {checks[name]}")

    try:
        step("a", orgc_apply("tasks.yml"))
        check("verify-org", "org", "--expect-accounts", str(accounts))
        check("verify-stacks", "stacks", "--expect-accounts", str(accounts), "--regions", REGIONS)
        step("b", orgc_apply("tasks.yml"))
        peer_organization(work, accounts, "--min-pw-length", "16")
        step("d", orgc_apply("tasks.yml"))
        edit_template(work)
        step("c", orgc_apply("tasks.yml"))
        check("verify-change")
    except RoundFailed as failure:
        return {"phases": [asdict(p) for p in phases], "checks": checks, "error": str(failure)}
    return {"phases": [asdict(p) for p in phases], "checks": checks, "error": None}


def stackset_round(work: Path, reqlog: Path, accounts: int) -> dict[str, Any]:
    """organization.yml alone (not counted), then the StackSet task file twice (counted), and
    the instances the emulator lists after the deploy."""
    setup = run_measured("setup", orgc_apply("organization.yml"), cwd=work, reqlog=reqlog)
    result: dict[str, Any] = {"setup": asdict(setup), "phases": [], "status": "failed"}
    if setup.rc != 0:
        result["note"] = f"applying organization.yml failed (exit {setup.rc}); see {setup.log}"
        return result
    deploy = run_measured("deploy", orgc_apply("tasks-stackset.yml"), cwd=work, reqlog=reqlog)
    result["phases"].append(asdict(deploy))
    result["status"], result["note"] = stackset_status(deploy)
    if result["status"] == "ok":
        # Reported, not judged: moto 5.2.5 places service-managed instances unlike AWS does.
        result["instances"] = stack_instances(work)
        result["expected_instances"] = accounts * len(REGIONS.split(","))
    if deploy.rc == 0:
        again = run_measured("again", orgc_apply("tasks-stackset.yml"), cwd=work, reqlog=reqlog)
        result["phases"].append(asdict(again))
    return result


INSTANCES = """
import boto3
cloudformation = boto3.client("cloudformation")
pages = cloudformation.get_paginator("list_stack_instances").paginate(
    StackSetName="ofpeer-baseline", CallAs="SELF"
)
print(sum(len(page["Summaries"]) for page in pages))
"""


def stack_instances(work: Path) -> int | str:
    """How many instances the StackSet has, read with boto3 (the peer's venv); the error text
    when they cannot be read."""
    completed = subprocess.run(
        [str(PEER_PYTHON), "-c", INSTANCES], cwd=work, capture_output=True, text=True, check=False
    )
    output = completed.stdout.strip()
    if completed.returncode != 0 or not output.isdigit():
        return (completed.stderr.strip().splitlines() or ["no output"])[-1]
    return int(output)


def stackset_status(deploy: Phase) -> tuple[str, str]:
    """ "ok", "not available" (orgc refuses the mode, or deploys single stacks instead) or
    "failed" (it tried a StackSet and failed), with the reason in one line."""
    made = deploy.actions.get("cloudformation CreateStackSet", 0)
    if deploy.rc == 0:
        if made:
            return "ok", f"{made} CreateStackSet"
        singles = deploy.actions.get("cloudformation CreateStack", 0)
        return "not available", (
            "orgc accepted DeploymentMode: StackSet but sent no CreateStackSet "
            f"({singles} CreateStack instead)"
        )
    output = Path(deploy.log).read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in output if "error" in line.lower() or "failed" in line.lower()]
    first = " ".join((errors or output or ["no output"])[0].split())
    if not made and any("DeploymentMode" in line for line in output):
        return "not available", f"orgc refuses DeploymentMode: StackSet: {first}"
    return "failed", f"orgc exited {deploy.rc} after {made} CreateStackSet: {first}"


class RoundFailed(Exception):
    """A phase or a check of an orgc round failed."""


def peer_organization(work: Path, accounts: int, *extra: str) -> None:
    """The peer's organization.yml for `accounts`, written by its own generator."""
    subprocess.run(
        [str(PEER_PYTHON), str(PEER / "gen_org.py"), str(accounts), "organization.yml", *extra],
        cwd=work,
        check=True,
        capture_output=True,
    )


def edit_template(work: Path) -> None:
    """The peer's template change, with the peer's own sed expression."""
    subprocess.run(["sed", "-i", TEMPLATE_EDIT, "templates/baseline.yml"], cwd=work, check=True)


def fresh_copy(work: Path, accounts: int, *, stackset: bool) -> None:
    """The peer's files, read unchanged; plus a StackSet copy of tasks.yml when asked."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(PEER / "templates", work / "templates")
    shutil.copy(PEER / "tasks.yml", work / "tasks.yml")
    for copied in (work / "templates").rglob("*"):
        copied.chmod(0o644)
    (work / "tasks.yml").chmod(0o644)
    peer_organization(work, accounts)
    if stackset:
        text = (work / "tasks.yml").read_text(encoding="utf-8")
        if text.count(STACKSET_ANCHOR) != 1:
            raise SystemExit(f"{PEER / 'tasks.yml'} changed: no single {STACKSET_ANCHOR!r} line")
        text = text.replace(STACKSET_ANCHOR, STACKSET_ANCHOR + "  DeploymentMode: StackSet\n")
        (work / "tasks-stackset.yml").write_text(text, encoding="utf-8")


def run_inside(mode: str, work: Path, reqlog: Path, result: Path, accounts: int) -> int:
    """The command with_moto.sh runs: one round, its result as JSON."""
    if mode == "stacks":
        outcome = orgc_round(work, reqlog, accounts)
    else:
        outcome = stackset_round(work, reqlog, accounts)
    result.write_text(json.dumps(outcome, indent=2) + "\n", encoding="utf-8")
    return 0


def with_moto(mode: str, work: Path, accounts: int) -> dict[str, Any]:
    """Run one orgc round inside with_moto.sh on a fresh emulator."""
    reqlog, result = work / "requests.tsv", work / "result.json"
    command = ["bash", str(PEER / "with_moto.sh"), "-p", str(free_port()), "-l", str(reqlog)]
    command += ["--", sys.executable, str(Path(__file__).resolve()), "--inside", mode]
    command += ["--work", str(work), "--result", str(result), "--accounts", str(accounts)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    (work / "with_moto.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    if completed.returncode != 0 or not result.exists():
        raise SystemExit(f"with_moto.sh failed for the orgc {mode} round; see {work}/with_moto.log")
    outcome: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return outcome


# --- the OrgFormation round ------------------------------------------------------------------


def orgformation_round(accounts: int, keep: Path) -> dict[str, Any]:
    """run_bench.sh on a fresh emulator; its phases with per-action counts from its .ops files."""
    keep.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        ["bash", str(PEER / "run_bench.sh"), str(accounts), str(free_port())],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CHANGE_PHASES": "1"},
    )
    (keep / "run_bench.log").write_text(completed.stdout + completed.stderr, encoding="utf-8")
    run = PEER_DIR / "runs" / f"n{accounts}"
    for produced in [
        *run.glob("*.ops"),
        *run.glob("*.json"),
        *run.glob("*.log"),
        *run.glob("*.tsv"),
    ]:
        if produced.name != "req.tsv":
            shutil.copy(produced, keep / produced.name)
    if completed.returncode != 0:
        raise SystemExit(f"run_bench.sh failed; see {keep}/run_bench.log")
    phases = {}
    for row in read_tsv(run / "results.tsv"):
        ops = run / f"{row['phase']}.ops"
        phases[row["phase"]] = Phase(
            name=row["phase"],
            rc=int(row["rc"]),
            wall_s=float(row["wall_s"]),
            cpu_s=float(row["node_cpu_s"]),
            max_rss_mib=round(int(row["node_maxrss_kb"]) / 1024, 1),
            requests=int(row["requests"]),
            actions=read_ops(ops),
            log=str(keep / f"{row['phase']}.log"),
        )
    checks = {name: peer_check(keep / f"{name}.json") for name in PEER_CHECKS}
    failed = [name for name, verdict in checks.items() if not verdict.get("ok")]
    if failed:
        raise SystemExit(f"OrgFormation's run failed {', '.join(failed)}; see {keep}")
    return {"phases": {k: asdict(v) for k, v in phases.items()}, "checks": checks}


PEER_CHECKS = ("verify-org", "verify-stacks", "verify-change")


def peer_check(path: Path) -> dict[str, Any]:
    """The JSON verdict run_bench.sh saved from a verify script ({"ok": false} if none)."""
    try:
        verdict: dict[str, Any] = json.loads(log_lines(path)[-1])
    except (IndexError, ValueError):
        return {"ok": False, "file": str(path)}
    return verdict


def read_tsv(path: Path) -> list[dict[str, str]]:
    header, *rows = [line.split("\t") for line in log_lines(path)]
    return [dict(zip(header, row, strict=False)) for row in rows]


def read_ops(path: Path) -> dict[str, int]:
    """run_bench.sh's `uniq -c` of (status, service, region, action), summed by service+action."""
    counts: dict[str, int] = {}
    for line in log_lines(path):
        count, _, rest = line.strip().partition(" ")
        fields = rest.split("\t")
        if len(fields) >= 4 and count.isdigit():
            key = f"{fields[1]} {fields[3]}"
            counts[key] = counts.get(key, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


# --- figures ---------------------------------------------------------------------------------


def combine(phases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several peer phases as one: requests, wall and CPU summed, actions merged."""
    actions: dict[str, int] = {}
    for phase in phases:
        for key, count in phase["actions"].items():
            actions[key] = actions.get(key, 0) + count
    return {
        "requests": sum(p["requests"] for p in phases),
        "wall_s": round(sum(p["wall_s"] for p in phases), 3),
        "cpu_s": round(sum(p["cpu_s"] for p in phases), 3),
        "actions": actions,
    }


def per_phase(rep: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One repetition as {phase: {"orgformation": figures, "orgc": figures}}."""
    peer = rep["orgformation"]["phases"]
    mine = {p["name"]: p for p in rep["orgc"]["phases"]}
    return {
        phase: {
            "orgformation": combine([peer[name] for name in PEER_PHASES[phase]]),
            "orgc": combine([mine[phase]]),
        }
        for phase in PHASES
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def spread_text(values: Mapping[str, float], digits: int) -> str:
    median = f"{values['median']:,.{digits}f}"
    if values["min"] == values["max"]:
        return median
    return f"{median} ({values['min']:,.{digits}f}-{values['max']:,.{digits}f})"


def floor(phase: str, accounts: int, stacks: int) -> dict[str, int]:
    """The requests orgc cannot avoid, by action: what the change itself takes."""
    if phase == "a":
        return {
            "organizations CreateAccount": accounts,
            "organizations MoveAccount": accounts,
            "cloudformation CreateStack": stacks,
            "cloudformation DescribeStacks": stacks,
            "sts AssumeRole": accounts,
        }
    if phase == "c":
        return {
            "cloudformation UpdateStack": stacks,
            "cloudformation DescribeStacks": stacks,
            "sts AssumeRole": accounts,
        }
    return {}


def median_actions(reps: Sequence[Mapping[str, int]]) -> dict[str, float]:
    keys = sorted({key for rep in reps for key in rep})
    return {key: statistics.median([rep.get(key, 0) for rep in reps]) for key in keys}


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of every repetition, reduced to medians, ratios and verdicts."""

    accounts: int
    stacks: int
    reps: list[dict[str, Any]]

    def figures(self, phase: str, tool: str, measure: str) -> list[float]:
        return [float(per_phase(rep)[phase][tool][measure]) for rep in self.reps]

    def ratios(self, phase: str, measure: str) -> list[float]:
        mine, peer = (
            self.figures(phase, "orgc", measure),
            self.figures(phase, "orgformation", measure),
        )
        return [m / p if p else float("inf") for m, p in zip(mine, peer, strict=True)]

    def actions(self, phase: str, tool: str) -> dict[str, float]:
        return median_actions([per_phase(rep)[phase][tool]["actions"] for rep in self.reps])

    def stackset(self) -> list[dict[str, Any]]:
        return [rep["stackset"] for rep in self.reps]

    def verdicts(self) -> list[dict[str, Any]]:
        rows = []
        for phase in ("a", "c"):
            for measure, label in (("requests", "requests"), ("wall_s", "wall")):
                ratio = statistics.median(self.ratios(phase, measure))
                rows.append(
                    {
                        "target": f"({phase}) orgc/OrgFormation {label} <= {TARGET_RATIO}",
                        "measured": round(ratio, 3),
                        "verdict": "PASS" if ratio <= TARGET_RATIO else "MISS",
                    }
                )
        mine = statistics.median(self.figures("b", "orgc", "requests"))
        peer = statistics.median(self.figures("b", "orgformation", "requests"))
        rows.append(
            {
                "target": "(b) orgc requests <= OrgFormation's",
                "measured": f"{mine:g} vs {peer:g}",
                "verdict": "PASS" if mine <= peer else "MISS",
            }
        )
        rows.append(self.stackset_verdict())
        return rows

    def stackset_verdict(self) -> dict[str, Any]:
        target = f"StackSet deploy <= {TARGET_STACKSET_REQUESTS} requests"
        rounds = self.stackset()
        statuses = {r["status"] for r in rounds} - {"ok"}
        if statuses:
            note = next(r["note"] for r in rounds if r["status"] != "ok")
            verdict = "NOT AVAILABLE" if statuses == {"not available"} else "FAILED"
            return {"target": target, "measured": note, "verdict": verdict}
        requests = statistics.median([r["phases"][0]["requests"] for r in rounds])
        verdict = "PASS" if requests <= TARGET_STACKSET_REQUESTS else "MISS"
        return {"target": target, "measured": requests, "verdict": verdict}


def markdown(summary: Summary, header: Mapping[str, Any]) -> str:
    out = [
        f"# orgc vs OrgFormation at {summary.accounts} accounts ({summary.stacks} stacks)",
        "",
        f"{header['date']}; orgc {header['orgc_commit']}; OrgFormation {header['orgformation']}; "
        f"moto {header['moto']}; {header['cpus']} CPUs; {len(summary.reps)} repetition(s), "
        "each tool on a fresh emulator. Median (min-max) over repetitions; a ratio is the median "
        "of the per-repetition ratios orgc/OrgFormation.",
        "",
        "| phase | OrgFormation requests | orgc requests | ratio | OrgFormation wall s | "
        "orgc wall s | ratio | OrgFormation CPU s | orgc CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in PHASES:
        cells = [PHASE_TITLES[phase]]
        for measure, digits in (("requests", 0), ("wall_s", 2)):
            cells.append(
                spread_text(spread(summary.figures(phase, "orgformation", measure)), digits)
            )
            cells.append(spread_text(spread(summary.figures(phase, "orgc", measure)), digits))
            cells.append(f"{statistics.median(summary.ratios(phase, measure)):.2f}")
        cells.append(spread_text(spread(summary.figures(phase, "orgformation", "cpu_s")), 2))
        cells.append(spread_text(spread(summary.figures(phase, "orgc", "cpu_s")), 2))
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "OrgFormation's (a) is update1 + pt1, (b) pt2, (c) pt3, (d) update3.", ""]
    out += stackset_lines(summary)
    out += ["", "## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    out += [f"| {v['target']} | {v['measured']} | {v['verdict']} |" for v in summary.verdicts()]
    out += floor_lines(summary)
    out += breakdown_lines(summary)
    return "\n".join(out) + "\n"


def stackset_lines(summary: Summary) -> list[str]:
    out = ["## orgc, Baseline as a StackSet", ""]
    rounds = summary.stackset()
    for number, outcome in enumerate(rounds, 1):
        if outcome["status"] != "ok":
            out.append(f"- rep {number}: {outcome['status']}: {outcome['note']}")
    if any(r["status"] != "ok" for r in rounds):
        out.append("")
    counted = sorted({str(r["instances"]) for r in rounds if "instances" in r})
    if counted:
        expected = next(r["expected_instances"] for r in rounds if "instances" in r)
        out += [
            f"Stack instances the emulator lists after the deploy: {', '.join(counted)} "
            f"(in AWS: {expected}, one per member account and region; see the README on "
            "moto's placement of service-managed instances).",
            "",
        ]
    out += ["| phase | requests | wall s |", "|---|---:|---:|"]
    for index, title in enumerate(("deploy the StackSet task", "the same again, no change")):
        figures = [r["phases"][index] for r in rounds if len(r["phases"]) > index]
        if not figures:
            out.append(f"| {title} | - | - |")
            continue
        requests = spread([p["requests"] for p in figures])
        wall = spread([p["wall_s"] for p in figures])
        out.append(f"| {title} | {spread_text(requests, 0)} | {spread_text(wall, 2)} |")
    return out


def floor_lines(summary: Summary) -> list[str]:
    """The physical floor of (a) and (c), and orgc's excess over it by action."""
    n, s = summary.accounts, summary.stacks
    out = [
        "",
        "## orgc against the physical floor",
        "",
        f"(a): create + move per new account (2 x {n}), create + completion read per stack "
        f"(2 x {s}), one role assumption per account ({n}). (c): update + completion read per "
        f"stack (2 x {s}), one role assumption per account ({n}). The floor leaves out what "
        "the files ask for beyond accounts and stacks (such as a password policy per account), "
        "so that shows as excess. floor/OrgFormation is the lowest ratio orgc could reach.",
    ]
    for phase in ("a", "c"):
        wanted = floor(phase, n, s)
        least = sum(wanted.values())
        actual = summary.actions(phase, "orgc")
        total = statistics.median(summary.figures(phase, "orgc", "requests"))
        peer = statistics.median(summary.figures(phase, "orgformation", "requests"))
        out += [
            "",
            f"{PHASE_TITLES[phase]}: floor {least:,}, orgc {total:,.0f}, "
            f"excess {total - least:,.0f}; floor/OrgFormation {least / peer:.2f}",
            "",
            "| action | orgc | floor | excess |",
            "|---|---:|---:|---:|",
        ]
        rows = [(key, actual.get(key, 0), wanted.get(key, 0)) for key in {*actual, *wanted}]
        for key, have, need in sorted(rows, key=lambda row: (-(row[1] - row[2]), row[0])):
            if have != need:
                out.append(f"| {key} | {have:g} | {need:g} | {have - need:+g} |")
    return out


def breakdown_lines(summary: Summary) -> list[str]:
    out = ["", "## Requests by action (medians over repetitions)"]
    for phase in PHASES:
        peer, mine = summary.actions(phase, "orgformation"), summary.actions(phase, "orgc")
        out += ["", f"### {PHASE_TITLES[phase]}", "", "| action | OrgFormation | orgc |"]
        out.append("|---|---:|---:|")
        keys = sorted({*peer, *mine}, key=lambda k: (-max(peer.get(k, 0), mine.get(k, 0)), k))
        out += [f"| {k} | {peer.get(k, 0):g} | {mine.get(k, 0):g} |" for k in keys]
    return out


def breakdown_tsv(reps: Sequence[Mapping[str, Any]]) -> str:
    lines = ["rep\ttool\tphase\tservice\taction\trequests"]
    for number, rep in enumerate(reps, 1):
        for phase, tools in per_phase(rep).items():
            for tool, figures in tools.items():
                for key, count in figures["actions"].items():
                    service, _, action = key.partition(" ")
                    lines.append(f"{number}\t{tool}\t{phase}\t{service}\t{action}\t{count}")
        for phase in rep["stackset"]["phases"]:
            for key, count in phase["actions"].items():
                service, _, action = key.partition(" ")
                lines.append(
                    f"{number}\torgc-stackset\t{phase['name']}\t{service}\t{action}\t{count}"
                )
    return "\n".join(lines) + "\n"


# --- the driver ------------------------------------------------------------------------------


def orgc_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPOSITORY, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "orgc") else "")


def versions() -> dict[str, str]:
    moto = subprocess.run(
        [str(PEER_PYTHON), "-c", "import moto; print(moto.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    package = PEER_DIR / "node_modules" / "aws-organization-formation" / "package.json"
    orgformation = json.loads(package.read_text(encoding="utf-8"))["version"]
    return {"moto": moto, "orgformation": orgformation}


def stack_count(work: Path) -> int:
    """How many stacks the peer's task file compiles to, as orgc counts them."""
    sys.path.insert(0, str(HERE))
    import generate

    return generate.count_stacks(work / "tasks.yml")


def repetition(number: int, accounts: int, out: Path) -> dict[str, Any]:
    folder = out / f"rep{number}"
    print(f"rep {number}: OrgFormation ...", flush=True)
    peer = orgformation_round(accounts, folder / "orgformation")
    print(f"rep {number}: orgc ...", flush=True)
    fresh_copy(folder / "orgc", accounts, stackset=False)
    mine = with_moto("stacks", folder / "orgc", accounts)
    if mine["error"]:
        raise SystemExit(f"rep {number}: {mine['error']}")
    print(f"rep {number}: orgc, StackSet ...", flush=True)
    fresh_copy(folder / "orgc-stackset", accounts, stackset=True)
    stackset = with_moto("stackset", folder / "orgc-stackset", accounts)
    return {"orgformation": peer, "orgc": mine, "stackset": stackset}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, help="default: benchmarks/out/side-by-side-n<N>")
    parser.add_argument("--inside", choices=("stacks", "stackset"), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        return run_inside(
            args.inside, args.work, args.work / "requests.tsv", args.result, args.accounts
        )
    out = (args.out or HERE / "out" / f"side-by-side-n{args.accounts}").resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run(["bash", str(PEER / "setup.sh")], check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    reps = [repetition(number, args.accounts, out) for number in range(1, args.reps + 1)]
    summary = Summary(accounts=args.accounts, stacks=stack_count(out / "rep1" / "orgc"), reps=reps)
    header = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "orgc_commit": orgc_commit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **versions(),
    }
    text = markdown(summary, header)
    print("\n" + text)
    (out / "summary.md").write_text(text, encoding="utf-8")
    (out / "breakdown.tsv").write_text(breakdown_tsv(reps), encoding="utf-8")
    document = {**header, "accounts": args.accounts, "stacks": summary.stacks, "reps": reps}
    document["verdicts"] = summary.verdicts()
    (out / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"wrote {out}/summary.md, results.json, breakdown.tsv in "
        f"{time.perf_counter() - started:.0f} s ({children.ru_utime + children.ru_stime:.0f} "
        "CPU s in child processes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
