"""`orgc` on the command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes: 0 ok, 1 invalid input (or a plan that cannot be made), 2 usage (and, with
`plan --detailed-exitcode`, "there are changes"), 3 apply failed, 4 a bug in orgc, 130 interrupted
(SIGINT), 143 terminated (SIGTERM, as CI sends on cancel). Interrupted or terminated, a run lets
the AWS calls in flight finish, records what finished, releases the state lock, and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from orgc import __version__
from orgc.diagnostics import CODES, Diagnostic, StageError
from orgc.plan import PLAN_FORMAT, Change, Plan, codec
from orgc.show import RENDERERS, render_text
from orgc.state import StateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from orgc.apply import ApplyResult
    from orgc.aws import AwsProvider
    from orgc.state import StateStore, StateVersion

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CHANGES = 2
EXIT_APPLY_FAILED = 3
EXIT_BUG = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report it

STATE_DIR = Path(".orgc")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orgc",
        description="Your AWS Organization as code: validate, plan and apply "
        "OrgFormation-format organization files.",
    )
    parser.add_argument("--version", action="version", version=f"orgc {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument(
        "--root",
        type=Path,
        help="project root that !Include and !ReadFile may not leave "
        "(default: the working directory when PATH is inside it)",
    )
    inputs.add_argument(
        "--allow-cmd", action="store_true", help="let !Cmd run shell commands while loading"
    )
    inputs.add_argument(
        "--no-lint",
        action="store_true",
        help="do not check rendered templates with cfn-lint (it runs when installed, unless "
        "ORGC_LINT=0)",
    )
    inputs.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value for a Parameter of the task file (repeatable)",
    )

    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    aws.add_argument("--region", default="us-east-1", help="region for AWS API calls")
    aws.add_argument("--endpoint-url", help="send every AWS call to this endpoint")
    aws.add_argument(
        "--emulator",
        action="store_true",
        help="use the embedded AWS emulator on 127.0.0.1 (started if it is not running)",
    )
    aws.add_argument("--state", type=Path, help="keep the state in this local file")
    aws.add_argument(
        "--state-bucket", help="S3 bucket for the state (default: orgc-state-<management id>)"
    )

    locking = argparse.ArgumentParser(add_help=False)
    locking.add_argument(
        "--lock-timeout",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="wait this long for a state lock another run holds (30s, 5m, 1h; default: do not "
        "wait); a lock whose run is gone or whose lease ran out is taken over at once",
    )

    refresh = argparse.ArgumentParser(add_help=False)
    refresh.add_argument(
        "--refresh",
        action="store_true",
        help="read the whole organization and every stack, so changes made outside orgc "
        "show up (default: read only what the changed files touch, trust the state for the "
        "rest)",
    )

    validate = commands.add_parser(
        "validate", parents=[inputs], help="check the files; every mistake at file:line:col"
    )
    validate.add_argument("path", type=Path, help="organization file, task file or directory")

    plan = commands.add_parser(
        "plan",
        parents=[inputs, aws, refresh],
        help="show what apply would change in the organization",
    )
    plan.add_argument("path", type=Path)
    plan.add_argument("--format", choices=sorted(RENDERERS), default="text")
    plan.add_argument("--out", type=Path, help="save the plan (JSON) for `orgc apply FILE`")
    plan.add_argument(
        "--perform-cleanup",
        action="store_true",
        help="delete the stacks of tasks that are no longer in the task files",
    )
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are, 1 on error",
    )

    apply = commands.add_parser(
        "apply",
        parents=[inputs, aws, locking, refresh],
        help="make the changes (from the files or a saved plan)",
    )
    apply.add_argument("target", type=Path, help="files to plan and apply, or a saved plan")
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--perform-cleanup",
        action="store_true",
        help="delete the stacks of tasks that are no longer in the task files",
    )

    render = commands.add_parser(
        "render",
        parents=[inputs],
        help="write every compiled stack template and its parameters (no AWS calls)",
    )
    render.add_argument("path", type=Path, help="task file or directory")
    render.add_argument("--out", type=Path, required=True, help="directory to write into")
    render.add_argument(
        "--state", type=Path, help="a local state file to take the ids of created accounts from"
    )

    show = commands.add_parser("show", help="print a plan saved with `orgc plan --out FILE`")
    show.add_argument("plan", type=Path, help="the saved plan (any file name)")
    show.add_argument("--format", choices=sorted(RENDERERS), default="text")

    explain = commands.add_parser("explain", help="what a diagnostic code means")
    explain.add_argument("code")

    emulator = commands.add_parser("emulator", help="the embedded AWS emulator on 127.0.0.1")
    emulator.add_argument("action", choices=("start", "stop", "status"))

    state = commands.add_parser(
        "state", parents=[aws, locking], help="inspect, repair or restore the state"
    )
    state.add_argument("action", choices=("show", "unlock", "import", "history", "restore"))
    state.add_argument(
        "operand",
        nargs="?",
        metavar="FILE|VERSION",
        help="import: the OrgFormation state.json; restore: a version `orgc state history` lists",
    )
    state.add_argument(
        "--force",
        action="store_true",
        help="unlock or restore without asking (needed where there is no terminal)",
    )
    return parser


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)?")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    """Seconds in `30`, `30s`, `5m`, `1.5h`."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 5m or 1h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: it unwinds exactly as Ctrl-C does (in-flight calls
    finish, what finished is recorded, the lock is released)."""


def _on_sigterm(signum: int, frame: object) -> None:
    # A second SIGTERM must not interrupt the cleanup the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach only the main thread; a caller in another one keeps its own
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with _sigterm_unwinds():
            return _COMMANDS[args.command](args)
    except _UsageError as error:
        print(f"orgc: {error}", file=sys.stderr)
        return EXIT_USAGE
    except _Terminated:
        print("orgc: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("orgc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception:
        traceback.print_exc()
        print("orgc: this is a bug in orgc; please report it with the trace above", file=sys.stderr)
        return EXIT_BUG


def _print_diagnostics(diagnostics: Sequence[Diagnostic], stream: TextIO | None = None) -> None:
    for diagnostic in diagnostics:
        print(diagnostic, file=stream or sys.stderr)


# --- validate / explain ---------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    from orgc.pipeline import validate

    diagnostics = validate(
        args.path,
        root=args.root,
        allow_cmd=args.allow_cmd,
        parameters=_parameters(args),
        lint=_lint(args),
    )
    _print_diagnostics(diagnostics, sys.stdout)
    errors = sum(1 for d in diagnostics if d.severity.value == "error")
    warnings = len(diagnostics) - errors
    print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    return EXIT_INVALID if errors else EXIT_OK


def _lint(args: argparse.Namespace) -> bool:
    from orgc.lint import available

    return not args.no_lint and available()


def _explain(args: argparse.Namespace) -> int:
    code = args.code.upper()
    found = CODES.get(code)
    if found is None:
        print(f"orgc: no diagnostic code {code}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{code}: {found.title}\n\n{found.explanation}")
    return EXIT_OK


# --- AWS wiring -----------------------------------------------------------------------------


def _provider(args: argparse.Namespace) -> AwsProvider:
    from orgc.aws import AwsProvider

    endpoint = args.endpoint_url
    if args.emulator:
        from orgc import emulator

        endpoint = emulator.start_daemon(STATE_DIR)
        emulator.apply_emulator_environment(endpoint)
    return AwsProvider(profile=args.profile, endpoint_url=endpoint, region=args.region)


def _store(args: argparse.Namespace, provider: AwsProvider) -> StateStore:
    from orgc.lease import LockOptions
    from orgc.state import LocalStateStore, S3StateStore, default_state_bucket

    options = LockOptions(timeout=getattr(args, "lock_timeout", 0.0), notify=_notice)
    if args.state is not None:
        return LocalStateStore(args.state, lock_options=options)
    bucket = args.state_bucket or default_state_bucket(provider.management_account_id())
    return S3StateStore(provider, bucket, region=args.region, lock_options=options)


def _notice(diagnostic: Diagnostic) -> None:
    print(diagnostic, file=sys.stderr)


def _with_aws(args: argparse.Namespace, failure_code: int, body: _AwsBody) -> int:
    """Run `body`, turning AWS, state and input failures into diagnostics and exit codes."""
    from orgc.aws import AwsError, NoCredentials

    try:
        provider = _provider(args)
        return body(provider, lambda: _store(args, provider))
    except StateError as error:  # before StageError: a state failure fails the command
        _print_diagnostics(error.diagnostics)
        return failure_code
    except StageError as error:  # invalid input, a plan that cannot be made, a stale plan
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID
    except NoCredentials as error:
        _print_diagnostics([Diagnostic("E705", f"no usable AWS credentials: {error}")])
        return failure_code
    except AwsError as error:
        _print_diagnostics([Diagnostic("E701", str(error))])
        return failure_code


if TYPE_CHECKING:
    # A command body gets the provider and a way to reach the state store; the store is made
    # on first use, because finding the default bucket already calls AWS and no AWS call may
    # happen before the files are valid.
    _AwsBody = Callable[["AwsProvider", Callable[[], "StateStore"]], int]


# --- plan / apply ---------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> int:
    from orgc.pipeline import compile_organization, lint_templates, make_plan

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        inputs = compile_organization(
            args.path, root=args.root, allow_cmd=args.allow_cmd, parameters=_parameters(args)
        )
        if _lint(args):
            lint_templates(inputs)
        result = make_plan(
            inputs,
            provider,
            store().read(),
            perform_cleanup=args.perform_cleanup,
            refresh=args.refresh,
        )
        if args.out:
            _write_plan(args.out, result)
        sys.stdout.write(RENDERERS[args.format](result))
        if args.out:
            print(
                f"Saved the plan to {args.out}; apply it with: orgc apply {args.out}",
                file=sys.stderr,
            )
        if args.detailed_exitcode and result.has_changes:
            return EXIT_CHANGES
        return EXIT_OK

    return _with_aws(args, EXIT_INVALID, body)


class _UsageError(Exception):
    pass


def _parameters(args: argparse.Namespace) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in args.parameter:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise _UsageError(f"--parameter takes KEY=VALUE, not {item!r}")
        values[key] = value
    return values


def _render(args: argparse.Namespace) -> int:
    from orgc.pipeline import compile_organization, write_rendered

    try:
        inputs = compile_organization(
            args.path, root=args.root, allow_cmd=args.allow_cmd, parameters=_parameters(args)
        )
        written = write_rendered(inputs, args.out, state_file=args.state)
    except StageError as error:  # a state that cannot be read included
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID
    except OSError as error:
        reason = error.strerror or str(error)
        where = error.filename or args.out
        _print_diagnostics([Diagnostic("E118", f"cannot write {where} under --out: {reason}")])
        return EXIT_INVALID
    _print_diagnostics(inputs.warnings)
    print(f"Wrote {written} stack template(s) under {args.out}")
    return EXIT_OK


def _write_plan(path: Path, result: Plan) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(codec.dumps(result), encoding="utf-8")
    os.replace(temporary, path)


def _is_saved_plan(path: Path) -> bool:
    """Whether `path` is a saved plan, told by its content, never by its name: a JSON document
    whose `format` marker says it is one. Task and organization files are YAML mappings of
    tasks or resources and never carry that marker, so they are never taken for a plan."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as file:
            head = file.read(len(_PLAN_MARKER_WINDOW))
            if not head.lstrip().startswith(b"{"):
                return False
            text = (head + file.read()).decode("utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == PLAN_FORMAT


# A saved plan starts with `{` after at most this much white space.
_PLAN_MARKER_WINDOW = b" " * 4096


def _apply(args: argparse.Namespace) -> int:
    from orgc.pipeline import (
        compile_organization,
        lint_templates,
        load_saved_plan,
        plan_and_apply,
        run_apply,
    )

    # A saved plan was reviewed when it was made: applying it does not ask again.
    saved_plan = _is_saved_plan(args.target)
    if not saved_plan and not args.auto_approve and not sys.stdin.isatty():
        print(
            "orgc: apply asks for confirmation on a terminal; pass --auto-approve to apply "
            "without asking, or apply a plan saved with `orgc plan --out FILE`",
            file=sys.stderr,
        )
        return EXIT_USAGE

    def confirm(result: Plan) -> bool:
        sys.stdout.write(render_text(result))
        if args.auto_approve:
            return True
        answer = input("\nApply these changes? Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            print("Apply cancelled; nothing was changed.")
            return False
        return True

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        started = time.monotonic()
        if saved_plan:
            saved = load_saved_plan(args.target)
            sys.stdout.write(render_text(saved))
            if not saved.has_changes:
                return EXIT_OK
            result = run_apply(
                saved,
                provider,
                store(),
                listener=_progress,
                root=args.root,
                allow_cmd=args.allow_cmd,
            )
            return _report(result, time.monotonic() - started)
        inputs = compile_organization(
            args.target, root=args.root, allow_cmd=args.allow_cmd, parameters=_parameters(args)
        )
        if _lint(args):
            lint_templates(inputs)
        fresh, outcome = plan_and_apply(
            inputs,
            provider,
            store(),
            confirm=confirm,
            listener=_progress,
            perform_cleanup=args.perform_cleanup,
            refresh=args.refresh,
        )
        if outcome is None:
            if not fresh.has_changes:
                sys.stdout.write(render_text(fresh))
            return EXIT_OK
        return _report(outcome, time.monotonic() - started)

    return _with_aws(args, EXIT_APPLY_FAILED, body)


def _progress(event: str, change: Change, message: str) -> None:
    if event == "start":
        return
    suffix = f": {message}" if message else ""
    print(f"  {event:<7} {change.summary}{suffix}", file=sys.stderr)


def _report(result: ApplyResult, seconds: float) -> int:
    if result.ok:
        print(f"Apply complete: {len(result.done)} changes in {seconds:.1f}s.")
        return EXIT_OK
    for change_id, reason in sorted(result.failed.items()):
        print(Diagnostic("E701", f"{change_id} failed: {reason}"), file=sys.stderr)
    print(
        Diagnostic(
            "E708",
            f"{len(result.done)} changes made, {len(result.failed)} failed, "
            f"{len(result.skipped)} skipped; run orgc plan to see what is left",
        ),
        file=sys.stderr,
    )
    return EXIT_APPLY_FAILED


# --- emulator / state -----------------------------------------------------------------------


def _emulator(args: argparse.Namespace) -> int:
    from orgc import emulator

    try:
        if args.action == "start":
            endpoint = emulator.start_daemon(STATE_DIR)
            print(f"emulator running at {endpoint}")
            print(f"use it with: orgc plan --emulator PATH   (or AWS_ENDPOINT_URL={endpoint})")
        elif args.action == "stop":
            stopped = emulator.stop_daemon(STATE_DIR)
            print("emulator stopped" if stopped else "no emulator was running")
        else:
            running = emulator.daemon_endpoint(STATE_DIR)
            print(f"emulator running at {running}" if running else "no emulator is running")
            return EXIT_OK if running else EXIT_INVALID
    except emulator.EmulatorUnavailable as error:
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID
    return EXIT_OK


def _state(args: argparse.Namespace) -> int:
    from orgc.state import import_orgformation_state, lock_owner

    def body(provider: AwsProvider, get_store: Callable[[], StateStore]) -> int:
        store = get_store()
        if args.action == "show":
            sys.stdout.write(store.read().to_json().decode())
            return EXIT_OK
        if args.action == "unlock":
            return _unlock(args, store, lock_owner())
        if args.action == "history":
            _print_history(store.describe(), store.history())
            return EXIT_OK
        if args.operand is None:
            what = (
                "the OrgFormation state.json to import"
                if args.action == "import"
                else ("the version to restore (`orgc state history` lists them)")
            )
            raise _UsageError(f"state {args.action} needs {what}")
        if args.action == "restore":
            if not _confirmed(args, f"Restore version {args.operand} of {store.describe()}?"):
                return EXIT_USAGE if not sys.stdin.isatty() else EXIT_OK
            restored = store.restore(args.operand, lock_owner())
            print(
                f"restored version {args.operand} of {store.describe()} as serial {restored.serial}"
            )
            return EXIT_OK
        path = Path(args.operand)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise _UsageError(f"cannot read {path}: {error.strerror}") from None
        imported = import_orgformation_state(data, origin=str(path))
        with store.lock(lock_owner()) as locked:
            if locked.state.serial:
                print(
                    f"orgc: {store.describe()} already holds state; not importing over it",
                    file=sys.stderr,
                )
                return EXIT_INVALID
            locked.write(imported)
        print(f"imported {path} into {store.describe()}")
        return EXIT_OK

    return _with_aws(args, EXIT_INVALID, body)


def _show(args: argparse.Namespace) -> int:
    from orgc.pipeline import StalePlan, load_saved_plan

    if not _is_saved_plan(args.plan):
        _print_diagnostics(
            [
                Diagnostic(
                    "E606",
                    f"{args.plan} is not a plan saved by `orgc plan --out` (a saved plan is a "
                    f'JSON document with "format": "{PLAN_FORMAT}")',
                )
            ]
        )
        return EXIT_INVALID
    try:
        saved = load_saved_plan(args.plan)
    except StalePlan as error:
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID
    sys.stdout.write(RENDERERS[args.format](saved))
    return EXIT_OK


def _confirmed(args: argparse.Namespace, question: str) -> bool:
    """--force, or 'yes' on a terminal; without a terminal and --force, say what is needed."""
    if args.force:
        return True
    if not sys.stdin.isatty():
        print(
            f"orgc: state {args.action} asks for confirmation on a terminal; pass --force to "
            f"{args.action} without asking",
            file=sys.stderr,
        )
        return False
    return input(f"{question} Only 'yes' is accepted: ").strip() == "yes"


def _unlock(args: argparse.Namespace, store: StateStore, by: str) -> int:
    from orgc.lease import BROKEN, RELEASED

    holder = store.lock_holder()
    if holder is not None and holder.status == RELEASED:
        print(f"{store.describe()} was not locked")
        return EXIT_OK
    if holder is not None:
        print(f"{store.describe()} is locked by {holder.holder()} since {holder.created}")
        if holder.status == BROKEN:
            print(f"it was unlocked already by {holder.broken_by}; the run is stopping")
    if not _confirmed(args, "Unlock it?"):
        return EXIT_USAGE if not sys.stdin.isatty() else EXIT_OK
    outcome = store.force_unlock(by)
    if outcome == "none":
        print(f"{store.describe()} was not locked")
    elif outcome == "released":
        print(f"removed the lock on {store.describe()}")
    else:
        expires = holder.expires() if holder is not None else None
        latest = f", at {expires.isoformat(timespec='seconds')} at the latest" if expires else ""
        print(
            f"unlocked {store.describe()}: the run holding it makes no further change in AWS "
            f"and releases the lock at its next lease renewal; the lock is free once it has"
            f"{latest} (another apply can wait for it with --lock-timeout)"
        )
    return EXIT_OK


def _print_history(where: str, versions: Sequence[StateVersion]) -> None:
    if not versions:
        print(f"{where} has no stored versions")
        return
    rows = [("VERSION", "SERIAL", "TIME", "SIZE", "")]
    for version in versions:
        rows.append(
            (
                version.version,
                "?" if version.serial is None else str(version.serial),
                version.time,
                f"{version.size:,} bytes",
                "current" if version.current else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        print(("  ".join(cells) + "  " + row[4]).rstrip())


_COMMANDS = {
    "validate": _validate,
    "plan": _plan,
    "apply": _apply,
    "show": _show,
    "explain": _explain,
    "emulator": _emulator,
    "state": _state,
    "render": _render,
}


if __name__ == "__main__":
    sys.exit(main())
