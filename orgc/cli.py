"""`orgc` on the command line: parses arguments, calls the pipeline, maps outcomes to exit codes.

Exit codes (`EXIT_CODES`, shown by `orgc --help` and in the README): 0 ok; 1 invalid input or a
user error (files, credentials, a path that cannot be read); 2 changes present (`plan
--detailed-exitcode` only, as Terraform does); 3 apply failed; 4 a bug in orgc; 5 the state is
locked by another run; 64 usage (a command line orgc cannot parse; never 2, so that CI can tell
it from "changes present"); 130 interrupted (SIGINT), 143 terminated (SIGTERM, as CI sends on
cancel). Interrupted or terminated, a run lets the AWS calls in flight finish, records what
finished, releases the state lock, and exits.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import os
import re
import signal
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from orgc import __version__
from orgc.diagnostics import CODES, Diagnostic, Severity, StageError
from orgc.plan import PLAN_FORMAT, Change, Plan, codec
from orgc.plan.stacks import DeleteGuard
from orgc.remote import organization_file_argument
from orgc.show import MARKDOWN_MAX_BYTES, RENDERERS, render_markdown, render_text
from orgc.state import StateError, StateLocked
from orgc.terminal import (
    COLOURS,
    JsonEvents,
    JsonStream,
    Progress,
    ProgressIntervalError,
    colour_plan_text,
    progress_for,
    progress_interval,
    use_colour,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from orgc.apply import ApplyResult
    from orgc.aws import AwsProvider
    from orgc.pipeline import Inputs
    from orgc.render import RenderedStack
    from orgc.stack_commands import StackCommand, StackOptions
    from orgc.state import State, StateStore, StateVersion

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_CHANGES = 2
EXIT_APPLY_FAILED = 3
EXIT_BUG = 4
EXIT_LOCKED = 5
EXIT_USAGE = 64  # EX_USAGE of sysexits.h; argparse's own 2 would read as "changes present"
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report it

# Every exit code and what it means, for --help and the README (a test keeps them in step).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success (with --detailed-exitcode: no changes)",
    EXIT_INVALID: "invalid input, or a user error: a path that cannot be read, credentials "
    "that do not work, a plan that cannot be made",
    EXIT_CHANGES: "plan --detailed-exitcode: there are changes",
    EXIT_APPLY_FAILED: "apply failed (what failed and what is left is printed)",
    EXIT_BUG: "a bug in orgc (a trace is printed; please report it)",
    EXIT_LOCKED: "the state is locked by another run (E702); wait for it or see orgc state unlock",
    EXIT_USAGE: "usage: a command line orgc cannot parse",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); what finished is recorded in the state",
    EXIT_TERMINATED: "terminated (SIGTERM, what CI sends on cancel); what finished is recorded",
}


class _Parser(argparse.ArgumentParser):
    """argparse with orgc's usage exit code: a command line orgc cannot parse exits 64, not
    argparse's 2, which `plan --detailed-exitcode` gives to "changes present". Subcommand
    parsers are made of the same class (argparse makes them of its parent's type)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _exit_codes_epilog() -> str:
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES.items():
        lines.extend(
            textwrap.wrap(
                meaning, width=79, initial_indent=f"  {code:>3}  ", subsequent_indent=" " * 7
            )
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    # Typed as a plain ArgumentParser so that commands take plain parents; argparse still makes
    # every command's parser a _Parser (parser_class defaults to the type of `parser`).
    parser: argparse.ArgumentParser = _Parser(
        prog="orgc",
        description="Your AWS Organization as code: validate, plan and apply "
        "OrgFormation-format organization files.",
        epilog=_exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    inputs.add_argument(
        "--organization-file",
        type=organization_file_argument,
        metavar="PATH",
        help="the organization file the tasks bind against, or s3://bucket/key (read by plan, "
        "apply, render and graph); a task file without an update-organization task reads it "
        "and never changes the organization (OrgFormation's perform-tasks --organization-file)",
    )
    strictness = argparse.ArgumentParser(add_help=False)
    strictness.add_argument(
        "--strict",
        action="store_true",
        help="count every warning as an error: validate fails, plan and apply stop before "
        "any change",
    )

    aws = argparse.ArgumentParser(add_help=False)
    _add_aws_access(aws)
    aws.add_argument("--state", type=Path, help="keep the state in this local file")
    # render and graph call AWS only to read the organization the files take from it (an
    # annotate-organization task, a skipped update-organization task whose file does not
    # exist, --organization-file s3://...); each has its own --state.
    reading = argparse.ArgumentParser(add_help=False)
    _add_aws_access(reading)

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

    guard = argparse.ArgumentParser(add_help=False)
    guard.add_argument(
        "--allow-scp-lockout",
        action="store_true",
        help="DANGER: let a plan leave accounts with no SCP Allow path or under a "
        "deny-everything SCP (refused otherwise); a saved plan remembers it",
    )
    deletes = argparse.ArgumentParser(add_help=False)
    deletes.add_argument(
        "--max-delete-percent",
        type=_percent,
        default=50.0,
        metavar="PERCENT",
        help="refuse a plan whose binding changes delete more than this share of a task's "
        "stacks, when that is 5 stacks or more (default: 50)",
    )
    deletes.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="plan such deletes anyway",
    )

    validate = commands.add_parser(
        "validate",
        parents=[inputs, strictness],
        help="check the files; every mistake at file:line:col",
    )
    validate.add_argument("path", type=Path, help="organization file, task file or directory")

    plan = commands.add_parser(
        "plan",
        parents=[inputs, strictness, aws, refresh, guard, deletes],
        help="show what apply would change in the organization",
    )
    plan.add_argument("path", type=Path)
    plan.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="how to print the plan"
    )
    _add_max_bytes(plan)
    _add_output_options(plan)
    plan.add_argument("--out", type=Path, help="save the plan (JSON) for `orgc apply FILE`")
    plan.add_argument(
        "--perform-cleanup",
        action="store_true",
        help="delete the stacks of tasks that are no longer in the task files",
    )
    _add_force_deploy(plan)
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are, 1 on error",
    )

    apply = commands.add_parser(
        "apply",
        parents=[inputs, strictness, aws, locking, refresh, guard, deletes],
        help="make the changes (from the files or a saved plan)",
    )
    apply.add_argument("target", type=Path, help="files to plan and apply, or a saved plan")
    _add_output_options(apply)
    apply.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    apply.add_argument(
        "--perform-cleanup",
        action="store_true",
        help="delete the stacks of tasks that are no longer in the task files",
    )
    _add_force_deploy(apply)

    render = commands.add_parser(
        "render",
        parents=[inputs, reading],
        help="write every compiled stack template and its parameters (no AWS call, unless the "
        "files take the organization from AWS: then it is read, as plan reads it)",
    )
    render.add_argument("path", type=Path, help="task file or directory")
    render.add_argument("--out", type=Path, required=True, help="directory to write into")
    render.add_argument(
        "--state",
        type=Path,
        help="a local state file to take the ids of created accounts from (and, for an "
        "organization read from AWS, the logical ids of its accounts)",
    )

    show = commands.add_parser("show", help="print a plan saved with `orgc plan --out FILE`")
    show.add_argument("plan", type=Path, help="the saved plan (any file name)")
    show.add_argument(
        "--format", choices=sorted(RENDERERS), default="text", help="how to print the plan"
    )
    _add_max_bytes(show)

    graph = commands.add_parser(
        "graph",
        parents=[inputs, reading],
        help="draw the dependency graph of tasks, stacks and changes (DOT or Mermaid)",
    )
    graph.add_argument(
        "path",
        type=Path,
        help="task file, organization file or directory (drawn offline, unless the files take "
        "the organization from AWS: then it is read, as plan reads it), or a saved plan",
    )
    graph.add_argument(
        "--state",
        type=Path,
        help="a local state file: the logical ids of the accounts of an organization read from "
        "AWS (default: the state bucket, as plan reads it)",
    )
    graph.add_argument(
        "--format", choices=("dot", "mermaid"), default="dot", help="the graph language"
    )

    explain = commands.add_parser(
        "explain", help="what a diagnostic code means (with no code: every code and its title)"
    )
    explain.add_argument("code", nargs="?")

    completion = commands.add_parser(
        "completion",
        help='print a shell completion script: eval "$(orgc completion bash)" in ~/.bashrc, '
        "the same with zsh in ~/.zshrc, orgc completion fish | source in fish",
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))

    emulator = commands.add_parser("emulator", help="the embedded AWS emulator on 127.0.0.1")
    emulator.add_argument("action", choices=("start", "stop", "status"))
    emulator.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="start: stop by itself after this long without a request (default: "
        "ORGC_EMULATOR_IDLE_TIMEOUT, else 1800; 0: never). One emulator serves the project: "
        "the directory holding .orgc/ (or the organization files), found from any subdirectory",
    )

    init = commands.add_parser(
        "init",
        parents=[aws],
        help="write the files and the state of an organization that exists (and a CI pipeline)",
    )
    init.add_argument(
        "directory",
        type=Path,
        help="the organization repository to write into; a path ending in .yml or .yaml names "
        "the organization file itself, as OrgFormation's `init organization.yml` does",
    )
    init.add_argument("--force", action="store_true", help="overwrite files and state that exist")
    init.add_argument(
        "--access-role",
        default="OrganizationAccountAccessRole",
        help="the role in every account that IAM aliases and password policies are read through",
    )
    init.add_argument(
        "--pipeline",
        choices=("github", "gitlab", "codebuild"),
        help="also write a CI pipeline: plan on review, apply the reviewed plan on merge",
    )
    init.add_argument(
        "--pipeline-only",
        action="store_true",
        help="write only the pipeline, for an organization adopted before",
    )

    state = commands.add_parser(
        "state",
        parents=[aws, locking],
        help="inspect, repair or restore the state",
        description=textwrap.fill(
            "Inspect, repair or restore the state. list prints the address of every thing the "
            "state records; show ADDRESS prints one (show alone: the whole document); rm "
            "ADDRESS... makes orgc forget things (nothing is deleted in AWS); mv FROM TO records "
            "a thing under a logical id renamed in the files. rm, mv, import and restore write "
            "under the state lock, as apply does, and every write is a version `history` lists "
            "and `restore` brings back.",
            width=79,
        ),
        epilog=STATE_ADDRESS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    state.add_argument("action", choices=STATE_ACTIONS)
    state.add_argument(
        "operands",
        nargs="*",
        metavar="ARG",
        help="show: an ADDRESS; rm: ADDRESS...; mv: FROM TO; import: the OrgFormation "
        "state.json; restore: a version `orgc state history` lists",
    )
    state.add_argument(
        "--force",
        action="store_true",
        help="unlock or restore without asking (needed where there is no terminal); import: "
        "replace a state that exists",
    )
    state.add_argument(
        "--dry-run",
        action="store_true",
        help="rm, mv: say what would change, write nothing",
    )
    state.add_argument(
        "--json", action="store_true", help="list, show: JSON on stdout instead of text"
    )
    _add_stack_commands(commands, aws, locking, deletes)
    return parser


def _add_aws_access(parser: argparse.ArgumentParser) -> None:
    """How AWS is reached, and the state bucket (--state is each command's own)."""
    parser.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    parser.add_argument("--region", default="us-east-1", help="region for AWS API calls")
    parser.add_argument("--endpoint-url", help="send every AWS call to this endpoint")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="use the embedded AWS emulator on 127.0.0.1 (started if it is not running)",
    )
    parser.add_argument(
        "--state-bucket", help="S3 bucket for the state (default: orgc-state-<management id>)"
    )


def _add_stack_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    aws: argparse.ArgumentParser,
    locking: argparse.ArgumentParser,
    deletes: argparse.ArgumentParser,
) -> None:
    """OrgFormation's stack commands (orgc.stack_commands), with OrgFormation's options."""
    files = argparse.ArgumentParser(add_help=False)
    files.add_argument(
        "--root",
        type=Path,
        help="project root that !Include and !ReadFile may not leave (default: the working "
        "directory's checkout or the directory itself when the template is in it, else the "
        "template's)",
    )
    files.add_argument(
        "--allow-cmd", action="store_true", help="let !Cmd run shell commands while loading"
    )
    files.add_argument(
        "--no-lint", action="store_true", help="do not check rendered templates with cfn-lint"
    )
    files.add_argument(
        "--organization-file",
        type=organization_file_argument,
        metavar="PATH",
        help="the organization file the template binds against, or s3://bucket/key (default: "
        "the organization as AWS holds it, with the logical ids the state gives); never changed",
    )
    template = argparse.ArgumentParser(add_help=False)
    template.add_argument("template", type=Path, help="the annotated CloudFormation template")
    template.add_argument(
        "--parameters",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="values for the template's Parameters: Key=Value or "
        "ParameterKey=Key,ParameterValue=Value, several in one argument or in several",
    )
    template.add_argument(
        "--templating-context",
        metavar="JSON",
        help="a JSON object: the template is a Nunjucks text template rendered with it",
    )

    def stack_name(parser: argparse.ArgumentParser, default: str | None) -> None:
        parser.add_argument(
            "--stack-name",
            default=default,
            metavar="NAME",
            help="the CloudFormation stack name"
            + (f" (default: {default})" if default else " (required)"),
        )

    update = commands.add_parser(
        "update-stacks",
        parents=[template, files, aws, locking, deletes],
        help="deploy a template's stacks to the accounts and regions it binds, as one "
        "update-stacks task (recorded as task update-stacks:NAME); no confirmation is asked",
    )
    stack_name(update, None)
    update.add_argument("--stack-description", metavar="TEXT", help="the stacks' description")
    update.add_argument("--color", choices=COLOURS, default="auto", help="colour the progress")
    update.add_argument(
        "--termination-protection",
        action="store_true",
        help="turn on termination protection",
    )
    update.add_argument(
        "--update-protection",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="set a stack policy that denies (or, with --no-update-protection, allows) every "
        "update",
    )
    update.add_argument(
        "--stack-policy", metavar="JSON|FILE", help="a stack policy document, or a file of one"
    )
    update.add_argument(
        "--tags", action="extend", nargs="+", default=[], metavar="KEY=VALUE", help="stack tags"
    )
    update.add_argument(
        "--max-concurrent-stacks", metavar="N", help="at most N stacks deployed at once"
    )
    update.add_argument(
        "--failed-stacks-tolerance",
        metavar="N",
        help="stop starting stacks after more than N failed (default: 0)",
    )

    validate = commands.add_parser(
        "validate-stacks",
        parents=[template, files, aws],
        help="check a template as update-stacks would deploy it, rendering every stack; "
        "nothing is changed (no AWS call with a local --organization-file)",
    )
    stack_name(validate, "validation")

    print_ = commands.add_parser(
        "print-stacks",
        parents=[template, files, aws],
        help="print the template each account and region would be given (no AWS call with a "
        "local --organization-file)",
    )
    stack_name(print_, "print")
    print_.add_argument(
        "--output", choices=("yaml", "json"), default="yaml", help="the templates' format"
    )
    print_.add_argument(
        "--output-path",
        type=Path,
        metavar="DIR",
        help="write DIR/<stack name>/<account>-<region>.<yaml|json> instead of printing",
    )

    describe = commands.add_parser(
        "describe-stacks",
        parents=[aws],
        help="the stacks the state records (all, or of --stack-name) and their status in AWS, "
        "as JSON",
    )
    stack_name(describe, None)

    delete = commands.add_parser(
        "delete-stacks",
        parents=[files, aws, locking],
        help="delete every stack of a name the state records, whichever task deployed it",
    )
    delete.add_argument("stack", nargs="?", metavar="NAME", help="the stack name")
    delete.add_argument("--color", choices=COLOURS, default="auto", help="colour the progress")
    stack_name(delete, None)
    for option in ("--max-concurrent-stacks", "--failed-stacks-tolerance"):
        delete.add_argument(
            option,
            metavar="N",
            help="accepted as OrgFormation takes it; the deletes run within orgc's one "
            "dependency graph",
        )


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


def _add_max_bytes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-bytes",
        type=_positive_int,
        default=MARKDOWN_MAX_BYTES,
        metavar="N",
        help="--format markdown: cut the plan between changes to at most N bytes, with a pointer "
        f"to the saved plan (default {MARKDOWN_MAX_BYTES:,}, under GitHub's comment limit)",
    )


def _add_force_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force-deploy",
        action="store_true",
        help="update every stack and put every copy-to-s3 object again, changed or not "
        "(as ForceDeploy: true on every task)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _shown(args: argparse.Namespace, plan: Plan, artefact: Path | None) -> str:
    """The plan in the format asked for; Markdown fitted to --max-bytes, naming the saved plan
    (`artefact`) as where the whole of it is."""
    if args.format == "markdown":
        return render_markdown(
            plan, max_bytes=args.max_bytes, artefact=None if artefact is None else str(artefact)
        )
    return RENDERERS[args.format](plan)


def tune_garbage_collection() -> None:
    """Collect cycles less often than CPython's default (every 700 allocations).

    A plan builds millions of small containers and frees almost none of them before it ends; the
    default makes the cycle collector walk them again and again (a quarter of a 1,000-account
    plan's time, with no memory returned: benchmarks/README.md). Called once per process."""
    gc.set_threshold(100_000, 50, 1_000)


def main(argv: Sequence[str] | None = None) -> int:
    tune_garbage_collection()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version (0) and usage errors (64)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
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
    except Exception as error:
        known = _user_error(error)
        if known is not None:
            return known
        traceback.print_exc()
        print("orgc: this is a bug in orgc; please report it with the trace above", file=sys.stderr)
        return EXIT_BUG


def _user_error(error: Exception) -> int | None:
    """The exit code of a failure that is the user's to fix, its diagnostic printed; None for a
    bug. A path that cannot be read (a file named on the command line, a directory that is not
    there) is one, wherever it is read."""
    if isinstance(error, OSError) and error.filename is not None:
        reason = error.strerror or type(error).__name__
        _print_diagnostics([Diagnostic("E100", f"cannot read {error.filename}: {reason}")])
        return EXIT_INVALID
    return None


def _print_diagnostics(
    diagnostics: Sequence[Diagnostic],
    stream: TextIO | None = None,
    *,
    seen: list[Diagnostic] | None = None,
) -> None:
    for diagnostic in diagnostics:
        print(diagnostic, file=stream or sys.stderr)
    if seen is not None:
        seen.extend(diagnostics)


# --- validate / explain ---------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    from orgc.pipeline import validate

    diagnostics = validate(
        args.path,
        root=args.root,
        allow_cmd=args.allow_cmd,
        parameters=_parameters(args),
        lint=_lint(args),
        organization_file=args.organization_file,
    )
    _print_diagnostics(diagnostics, sys.stdout)
    errors = sum(1 for d in diagnostics if d.severity.value == "error")
    warnings = len(diagnostics) - errors
    print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    if args.strict and warnings:
        print(f"--strict: the {warnings} warning{'s' * (warnings != 1)} count as errors")
        return EXIT_INVALID
    return EXIT_INVALID if errors else EXIT_OK


def _refuse_warnings(args: argparse.Namespace, warnings: Sequence[Diagnostic]) -> None:
    """With --strict, a run with warnings stops here (StageError: nothing is changed)."""
    if args.strict and warnings:
        print(
            f"orgc: --strict: the {len(warnings)} warning{'s' * (len(warnings) != 1)} below "
            "count as errors; nothing was changed",
            file=sys.stderr,
        )
        raise StageError(warnings)


def _lint(args: argparse.Namespace) -> bool:
    from orgc.lint import available

    return not args.no_lint and available()


def _explain(args: argparse.Namespace) -> int:
    if args.code is None:
        for code, entry in sorted(CODES.items()):
            print(f"{code}  {entry.title}")
        return EXIT_OK
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

        endpoint = emulator.start_daemon(emulator.find_state_dir())
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


def _emulated_principals(args: argparse.Namespace, inputs: Inputs) -> None:
    """On the embedded emulator (--emulator, not --endpoint-url), the groups and users the files
    assign are created in its identity store when missing, as an identity provider's sync
    would: the emulator has none. Said on stderr, so it is never mistaken for AWS's."""
    principals = inputs.identity_center.principals()
    if not args.emulator or not principals:
        return
    from orgc.emulator import REGION
    from orgc.emulator_sso import stand_in_for_identity_provider

    created = stand_in_for_identity_provider(
        [(p.kind, p.name) for p in principals], args.region or REGION
    )
    if created:
        print(
            f"emulator: created {', '.join(created)} in its identity store (it has no identity "
            "provider to sync them from)",
            file=sys.stderr,
        )


def _notice(diagnostic: Diagnostic) -> None:
    print(diagnostic, file=sys.stderr)


def _with_aws(
    args: argparse.Namespace,
    failure_code: int,
    body: _AwsBody,
    seen: list[Diagnostic] | None = None,
) -> int:
    """Run `body`, turning AWS, state and input failures into diagnostics and exit codes;
    the diagnostics printed are added to `seen` too (for --json)."""
    from orgc.aws import AwsError, NoCredentials
    from orgc.emulator import EmulatorError

    try:
        provider = _provider(args)
        return body(provider, lambda: _store(args, provider))
    except StateLocked as error:  # another run's: not this run's failure, and worth a retry
        _print_diagnostics(error.diagnostics, seen=seen)
        return EXIT_LOCKED
    except StateError as error:  # before StageError: a state failure fails the command
        _print_diagnostics(error.diagnostics, seen=seen)
        return failure_code
    except StageError as error:  # invalid input, a plan that cannot be made, a stale plan
        _print_diagnostics(error.diagnostics, seen=seen)
        return EXIT_INVALID
    except NoCredentials as error:  # before any change: the user's to fix, whatever the command
        _print_diagnostics([Diagnostic("E705", f"no usable AWS credentials: {error}")], seen=seen)
        return EXIT_INVALID
    except AwsError as error:
        _print_diagnostics([Diagnostic("E701", str(error))], seen=seen)
        return failure_code
    except EmulatorError as error:  # --emulator asked for, and it could not start
        _print_diagnostics([Diagnostic("E706", str(error))], seen=seen)
        return EXIT_INVALID


if TYPE_CHECKING:
    # A command body gets the provider and a way to reach the state store; the store is made
    # on first use, because finding the default bucket already calls AWS and no AWS call may
    # happen before the files are valid.
    _AwsBody = Callable[["AwsProvider", Callable[[], "StateStore"]], int]


# --- plan / apply ---------------------------------------------------------------------------


def _plan(args: argparse.Namespace) -> int:
    from orgc.pipeline import lint_templates, make_plan

    events = _json_stream(args, "plan", args.path)
    planned: list[Plan] = []

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        inputs = _compile_files(args, args.path, provider, store)
        if _lint(args):
            inputs = lint_templates(inputs)
        _emulated_principals(args, inputs)
        result = make_plan(
            inputs,
            provider,
            store().read(),
            perform_cleanup=args.perform_cleanup,
            refresh=args.refresh,
            allow_lockout=args.allow_scp_lockout,
            delete_guard=_delete_guard(args),
            force_deploy=args.force_deploy,
        )
        _refuse_warnings(args, result.warnings)
        planned.append(result)
        if args.out:
            _write_plan(args.out, result)
        if events is not None:
            events.planned(result)
        else:
            shown = _shown(args, result, args.out)
            if args.format == "text":
                shown = colour_plan_text(shown, _colour(args, sys.stdout))
            sys.stdout.write(shown)
        if args.out:
            print(
                f"Saved the plan to {args.out}; apply it with: orgc apply {args.out}",
                file=sys.stderr,
            )
        if args.detailed_exitcode and result.has_changes:
            return EXIT_CHANGES
        return EXIT_OK

    seen: list[Diagnostic] = []
    code = _with_aws(args, EXIT_INVALID, body, seen)
    if events is not None:
        fields: dict[str, object] = {"exitCode": code}
        if planned:
            fields.update(changes=len(planned[0].changes), counts=planned[0].counts())
            if args.out:
                fields["out"] = str(args.out)
        if planned:
            events.command_done("plan", fields)
        else:
            events.command_failed("plan", fields, seen)
    return code


def _json_stream(args: argparse.Namespace, command: str, source: Path) -> JsonStream | None:
    """With --json, the command's events on stdout (and nothing else there)."""
    if not args.json:
        return None
    stream = JsonStream(sys.stdout)
    stream.command_started(command, str(source))
    return stream


def _colour(args: argparse.Namespace, stream: TextIO) -> bool:
    return use_colour(args.color, stream, os.environ)


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        choices=COLOURS,
        default="auto",
        help="colour the output: auto (on a terminal, unless NO_COLOR is set), always, never",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="write events on stdout, one JSON object a line (started, planned, done, failed, "
        "with change ids, kinds, actions, physical ids and timings), for CI tools; what people "
        "read goes to stderr",
    )


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
    from orgc.pipeline import write_rendered

    def render(inputs: Inputs) -> int:
        try:
            written = write_rendered(inputs, args.out, state_file=args.state)
        except OSError as error:
            reason = error.strerror or str(error)
            where = error.filename or args.out
            _print_diagnostics([Diagnostic("E118", f"cannot write {where} under --out: {reason}")])
            return EXIT_INVALID
        _print_diagnostics(inputs.warnings)
        print(f"Wrote {written} stack template(s) under {args.out}")
        return EXIT_OK

    return _compiled_then(args, render)


def _compiled_then(args: argparse.Namespace, then: Callable[[Inputs], int]) -> int:
    """Compile the files offline and run `then` on them (render, graph). Files that take the
    organization from AWS (an annotate-organization task, a skipped update-organization task
    whose file does not exist, --organization-file s3://...) are checked offline first; only
    once they are valid is the organization read from AWS, read-only, as plan reads it."""
    from orgc.live_organization import bind_live, compile_live
    from orgc.live_source import LiveOrganizationNeeded
    from orgc.pipeline import compile_organization

    from_s3 = isinstance(args.organization_file, str)
    needed: LiveOrganizationNeeded | None = None
    try:
        # With s3://, this is validate's check: the file is not read (W451), the rest is.
        inputs = compile_organization(
            args.path,
            root=args.root,
            allow_cmd=args.allow_cmd,
            parameters=_parameters(args),
            organization_file=args.organization_file,
        )
        if not from_s3:
            return then(inputs)
    except LiveOrganizationNeeded as live:
        needed = live
    except StageError as error:  # a state that cannot be read included
        # With s3://, the organization the tasks bind against was not read: only an error
        # stops here (the files are then as validate finds them).
        if not from_s3 or any(d.severity is Severity.ERROR for d in error.diagnostics):
            _print_diagnostics(error.diagnostics)
            return EXIT_INVALID

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        compile_ = functools.partial(bind_live, needed) if needed is not None else compile_live
        return then(_compile_files(args, args.path, provider, store, compile_))

    return _with_aws(args, EXIT_INVALID, body)


def _compile_files(
    args: argparse.Namespace,
    path: Path,
    provider: AwsProvider,
    store: Callable[[], StateStore],
    compile_: Callable[..., Inputs] | None = None,
) -> Inputs:
    """The files at `path` compiled as the command's flags say (--root, --allow-cmd,
    --parameter, --organization-file), the organization read from AWS where they need it
    (compile_live, or `compile_` in its place), remote templates read through `provider`."""
    from orgc.live_organization import compile_live
    from orgc.remote import RemoteTemplates

    return (compile_ or compile_live)(
        path,
        provider,
        lambda: store().read(),
        root=args.root,
        allow_cmd=args.allow_cmd,
        parameters=_parameters(args),
        organization_file=args.organization_file,
        remote=RemoteTemplates(provider=provider),
    )


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
    from orgc.live_organization import compile_live
    from orgc.pipeline import (
        lint_templates,
        load_saved_plan,
        plan_and_apply,
        publish_applied_organization,
        run_apply,
    )
    from orgc.plan.specs import PlanOptions
    from orgc.remote import RemoteTemplates

    # A saved plan was reviewed when it was made: applying it does not ask again.
    saved_plan = _is_saved_plan(args.target)
    if not saved_plan and not args.auto_approve and not sys.stdin.isatty():
        print(
            "orgc: apply asks for confirmation on a terminal; pass --auto-approve to apply "
            "without asking, or apply a plan saved with `orgc plan --out FILE`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:  # read before anything is started, so that a wrong value changes nothing
        interval = progress_interval(os.environ)
    except ProgressIntervalError as error:
        raise _UsageError(str(error)) from None
    events = _json_stream(args, "apply", args.target)
    # With --json, stdout carries the events alone; what people read goes to stderr.
    out = sys.stderr if events is not None else sys.stdout
    watch = _ApplyWatch(args, events, interval)

    def confirm(result: Plan) -> bool:
        _refuse_warnings(args, result.warnings)
        out.write(colour_plan_text(render_text(result), _colour(args, out)))
        if args.auto_approve:
            watch.begin(result)
            return True
        answer = input("\nApply these changes? Only 'yes' is accepted: ")
        if answer.strip() != "yes":
            print("Apply cancelled; nothing was changed.", file=out)
            return False
        watch.begin(result)
        return True

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        started = time.monotonic()
        if saved_plan:
            saved = load_saved_plan(args.target)
            out.write(colour_plan_text(render_text(saved), _colour(args, out)))
            if not saved.has_changes:
                return EXIT_OK
            watch.begin(saved)
            options = saved.options or PlanOptions()

            compiled: list[Inputs] = []  # what the saved plan was checked against

            def recompile(state: State) -> Inputs:
                # The organization that files with an annotate-organization task bind against
                # is read from AWS again, and must be the one the plan was made against.
                inputs = compile_live(
                    Path(saved.source),
                    provider,
                    lambda: state,
                    root=args.root,
                    allow_cmd=args.allow_cmd,
                    parameters=dict(options.parameters),
                    organization_file=(
                        organization_file_argument(options.organization_file)
                        if options.organization_file is not None
                        else None
                    ),
                    remote=RemoteTemplates(provider=provider),
                    saved=saved,
                )
                compiled.append(inputs)
                return inputs

            with watch.interruptible():
                result = run_apply(
                    saved,
                    provider,
                    store(),
                    listener=watch.listener,
                    root=args.root,
                    allow_cmd=args.allow_cmd,
                    recompile=recompile,
                )
            code = _report(result, time.monotonic() - started, out)
            if code == EXIT_OK and compiled:
                _published(publish_applied_organization(compiled[-1], provider, store()), out, seen)
            return code
        inputs = _compile_files(args, args.target, provider, store)
        if _lint(args):
            inputs = lint_templates(inputs)
        _emulated_principals(args, inputs)
        with watch.interruptible():
            fresh, outcome = plan_and_apply(
                inputs,
                provider,
                store(),
                confirm=confirm,
                listener=watch.listener,
                perform_cleanup=args.perform_cleanup,
                refresh=args.refresh,
                allow_lockout=args.allow_scp_lockout,
                delete_guard=_delete_guard(args),
                force_deploy=args.force_deploy,
            )
        if outcome is None:
            if not fresh.has_changes:  # nothing to apply; a cancelled apply publishes nothing
                out.write(colour_plan_text(render_text(fresh), _colour(args, out)))
                _published(publish_applied_organization(inputs, provider, store()), out, seen)
            return EXIT_OK
        watch.outcome = outcome
        code = _report(outcome, time.monotonic() - started, out)
        if code == EXIT_OK:
            _published(publish_applied_organization(inputs, provider, store()), out, seen)
        return code

    seen: list[Diagnostic] = []
    code = _with_aws(args, EXIT_APPLY_FAILED, body, seen)
    watch.finish(code, seen)
    return code


def _published(result: str | Diagnostic | None, out: TextIO, seen: list[Diagnostic]) -> None:
    """Tell what publishing the organization file after apply did (orgc.publish)."""
    if isinstance(result, Diagnostic):
        _print_diagnostics([result], seen=seen)
    elif result is not None:
        print(result, file=out)


class _ApplyWatch:
    """How an apply shows itself while it runs: progress on stderr (a live view on a terminal,
    timestamped lines elsewhere) and, with --json, the events on stdout. Made before the plan
    is known; `begin` is called with the plan that is about to be applied."""

    def __init__(
        self, args: argparse.Namespace, events: JsonStream | None, interval: float
    ) -> None:
        self.args = args
        self.events = events
        self.progress: Progress | None = None
        self.json: JsonEvents | None = None
        self.outcome: ApplyResult | None = None
        self.interval = interval  # seconds between "still running" lines (0: none)

    def begin(self, plan: Plan) -> None:
        stream = sys.stderr
        self.progress = progress_for(
            plan,
            stream,
            colour=_colour(self.args, stream),
            live=stream.isatty(),
            interval=self.interval,
        )
        if self.events is not None:
            self.json = JsonEvents(plan, self.events)

    def listener(self, event: str, change: Change, message: str) -> None:
        if self.progress is not None:
            self.progress(event, change, message)
        if self.json is not None:
            self.json(event, change, message)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Stop the live view when the apply ends; on Ctrl-C, say what finished first."""
        try:
            yield
        except KeyboardInterrupt:
            if self.progress is not None:
                self.progress.close()
                print("\n".join(self.progress.interrupted_lines()), file=sys.stderr)
            if self.events is not None:
                self.events.command_failed("apply", {"interrupted": True, **self._counts()})
            self.events = None  # told already
            raise
        finally:
            if self.progress is not None:
                self.progress.close()

    def finish(self, code: int, diagnostics: Sequence[Diagnostic]) -> None:
        if self.events is None:
            return
        fields = {"exitCode": code, **self._counts()}
        if code == EXIT_OK:
            self.events.command_done("apply", fields)
        else:
            self.events.command_failed("apply", fields, diagnostics)

    def _counts(self) -> dict[str, int]:
        progress = self.progress
        if progress is None:
            return {"done": 0, "failed": 0, "skipped": 0}
        return {
            "done": len(progress.done),
            "failed": len(progress.failed),
            "skipped": len(progress.skipped),
        }


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not a percentage from 0 to 100")
    return value


def _delete_guard(args: argparse.Namespace) -> DeleteGuard:
    return DeleteGuard(
        max_percent=args.max_delete_percent, allow_mass_delete=args.allow_mass_delete
    )


def _report(result: ApplyResult, seconds: float, out: TextIO) -> int:
    if result.ok:
        print(f"Apply complete: {len(result.done)} changes in {seconds:.1f}s.", file=out)
        return EXIT_OK
    for change_id, reason in sorted(result.failed.items()):
        print(Diagnostic("E701", f"{change_id} failed: {reason}"), file=sys.stderr)
    for reason in sorted(result.refused.values()):
        print(Diagnostic("E630", reason), file=sys.stderr)
    refused = f"{len(result.refused)} refused by the emulator, " if result.refused else ""
    print(
        Diagnostic(
            "E708",
            f"{len(result.done)} changes made, {len(result.failed)} failed, {refused}"
            f"{len(result.skipped)} skipped; run orgc plan to see what is left",
        ),
        file=sys.stderr,
    )
    return EXIT_APPLY_FAILED


# --- emulator / state -----------------------------------------------------------------------


def _emulator(args: argparse.Namespace) -> int:
    from orgc import emulator

    state_dir = emulator.find_state_dir()
    try:
        if args.action == "start":
            endpoint = emulator.start_daemon(state_dir, idle_timeout=args.idle_timeout)
            print(f"emulator running at {endpoint}")
            print(f"use it with: orgc plan --emulator PATH   (or AWS_ENDPOINT_URL={endpoint})")
        elif args.action == "stop":
            stopped = emulator.stop_daemon(state_dir)
            print("emulator stopped" if stopped else "no emulator was running")
        else:
            running = emulator.daemon_endpoint(state_dir)
            print(f"emulator running at {running}" if running else "no emulator is running")
            return EXIT_OK if running else EXIT_INVALID
    except emulator.EmulatorUnavailable as error:
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID
    except emulator.EmulatorError as error:
        _print_diagnostics([Diagnostic("E706", str(error))])
        return EXIT_INVALID
    return EXIT_OK


def _state(args: argparse.Namespace) -> int:
    from orgc.state import import_orgformation_state, lock_owner
    from orgc.state_addresses import AddressError

    wanted = _STATE_OPERANDS[args.action]
    if not wanted[0] <= len(args.operands) <= wanted[1]:
        raise _UsageError(f"state {args.action} takes {wanted[2]}")
    args.operand = args.operands[0] if args.operands else None

    def body(provider: AwsProvider, get_store: Callable[[], StateStore]) -> int:
        store = get_store()
        if args.action in _STATE_EDITS:
            try:
                return _STATE_EDITS[args.action](args, store)
            except AddressError as error:
                _print_diagnostics(error.diagnostics)
                return EXIT_INVALID
        if args.action == "show":
            if args.operand is None:
                sys.stdout.write(store.read().to_json().decode())
                return EXIT_OK
            try:
                return _state_show(args, store)
            except AddressError as error:
                _print_diagnostics(error.diagnostics)
                return EXIT_INVALID
        if args.action == "unlock":
            return _unlock(args, store, lock_owner())
        if args.action == "history":
            _print_history(store.describe(), store.history())
            return EXIT_OK
        if args.action == "restore":
            if not _confirmed(args, f"Restore version {args.operand} of {store.describe()}?"):
                return EXIT_USAGE if not sys.stdin.isatty() else EXIT_OK
            restored = store.restore(args.operand, lock_owner())
            print(
                f"restored version {args.operand} of {store.describe()} as serial {restored.serial}"
            )
            return EXIT_OK
        path = Path(args.operand)
        data = path.read_bytes()  # a path that cannot be read is E100, as everywhere
        notices: list[str] = []
        imported = import_orgformation_state(data, origin=str(path), notices=notices)
        for notice in notices:
            print(f"orgc: {notice}", file=sys.stderr)
        with store.lock(lock_owner()) as locked:
            replaced = locked.state.serial
            if replaced and not args.force:
                _print_diagnostics(
                    [
                        Diagnostic(
                            "E460",
                            f"{store.describe()} already holds state (serial {replaced}); not "
                            f"importing {path} over it. `orgc state import --force {path}` "
                            "replaces it; the replaced version stays in `orgc state history`",
                        )
                    ]
                )
                return EXIT_INVALID
            locked.write(imported)
        if replaced:
            print(f"imported {path} into {store.describe()}, replacing serial {replaced}")
        else:
            print(f"imported {path} into {store.describe()}")
        return EXIT_OK

    return _with_aws(args, EXIT_INVALID, body)


STATE_ACTIONS = ("list", "show", "rm", "mv", "unlock", "import", "history", "restore")
# Operands each action takes: at least, at most, and in words for the usage error.
_STATE_OPERANDS: dict[str, tuple[int, int, str]] = {
    "list": (0, 0, "no operand"),
    "show": (0, 1, "at most one ADDRESS (`orgc state list` lists them)"),
    "rm": (1, 10_000, "one ADDRESS or more (`orgc state list` lists them)"),
    "mv": (2, 2, "FROM and TO, two addresses"),
    "unlock": (0, 0, "no operand"),
    "import": (1, 1, "the OrgFormation state.json to import"),
    "history": (0, 0, "no operand"),
    "restore": (1, 1, "the version to restore (`orgc state history` lists them)"),
}

STATE_ADDRESS_HELP = """\
addresses (KIND:KEY, the plan's change id without its action):
  organization                          organization, root, management account
  account:<LogicalId>                   an account
  organizational-unit:<LogicalId>       an OU
  policy:<LogicalId>                    a policy
  retired-organizational-unit:<ou-id>   an OU a re-parent replaced, to delete
  stack:<Task>/<Account>/<region>       a stack (also by StackName/account id)
  stack-set:<Task>                      a StackSet-mode task's StackSet
  s3-object:s3://<bucket>/<key>         an object a copy-to-s3 task put
  service-access:<principal>            trusted access orgc enabled
  delegated-administrator:<principal>/<Account>
                                        an administrator orgc registered
  alternate-contact:<Account>/<TYPE>    a contact orgc set
  closed-account:<account id>           a close counted against AWS's quota
<Account> is the account's logical id (or its id). Attachments, tags, aliases
and password policies have no address: plans compare them with AWS (the state
notes which aliases and password policies orgc set, to delete only those).

rm forgets, it never deletes in AWS: the next plan compares the thing with AWS
as one orgc never recorded (an adopt or a create; an account the files do not
name is W604). mv is for a logical id renamed in the files: the next plan sees
the same thing under its new name. Only accounts, OUs, policies, stacks and
StackSets are moved."""


def _state_list(args: argparse.Namespace, store: StateStore) -> int:
    from orgc.state_addresses import entries

    found = entries(store.read())
    if args.json:
        listed = [
            {"address": e.address, "kind": e.kind, "physicalId": e.physical_id} for e in found
        ]
        sys.stdout.write(json.dumps(listed, indent=2) + "\n")
    else:
        sys.stdout.writelines(f"{e.address}\n" for e in found)
    return EXIT_OK


def _state_show(args: argparse.Namespace, store: StateStore) -> int:
    from orgc.state_addresses import find, show_lines

    entry = find(store.read(), args.operand)
    if args.json:
        document: dict[str, object] = {
            "address": entry.address,
            "kind": entry.kind,
            "physicalId": entry.physical_id,
            "fields": dict(entry.fields),
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.writelines(f"{line}\n" for line in show_lines(entry))
    return EXIT_OK


def _state_rm(args: argparse.Namespace, store: StateStore) -> int:
    from orgc.state import lock_owner
    from orgc.state_addresses import remove_all

    def edit(state: State) -> tuple[State, list[str]]:
        new, removed = remove_all(state, args.operands)
        return new, [entry.describe() for entry in removed]

    def say(lines: list[str], dry_run: bool) -> None:
        verb = "would forget" if dry_run else "forgot"
        for line in lines:
            print(f"{verb} {line}")

    return _edit_state(args, store, lock_owner(), edit, say, forgets=True)


def _state_mv(args: argparse.Namespace, store: StateStore) -> int:
    from orgc.state import lock_owner
    from orgc.state_addresses import move

    source, target = args.operands

    def edit(state: State) -> tuple[State, list[str]]:
        new, entry, recorded_as = move(state, source, target)
        return new, [f"{entry.describe()} to {recorded_as}"]

    def say(lines: list[str], dry_run: bool) -> None:
        verb = "would move" if dry_run else "moved"
        for line in lines:
            print(f"{verb} {line}")

    return _edit_state(args, store, lock_owner(), edit, say, forgets=False)


def _edit_state(  # noqa: PLR0917
    args: argparse.Namespace,
    store: StateStore,
    owner: str,
    edit: Callable[[State], tuple[State, list[str]]],
    say: Callable[[list[str], bool], None],
    forgets: bool,
) -> int:
    """Edit the state under its lock (so no apply runs meanwhile) and write it as a new version;
    with --dry-run, read it, say what would change and write nothing."""
    if args.dry_run:
        before = store.read()
        after, lines = edit(before)
        say(lines, True)
        print(f"nothing written to {store.describe()} (--dry-run)")
        return EXIT_OK
    with store.lock(owner) as locked:
        before = locked.state
        after, lines = edit(before)
        written = locked.write(after)
    say(lines, False)
    print(f"wrote {store.describe()} as serial {written.serial} (`orgc state history` lists it)")
    if forgets:
        _notice(
            Diagnostic(
                "W711",
                "nothing was deleted in AWS: orgc only forgot what it recorded; the next plan "
                "compares it with AWS as a thing orgc never recorded (a create or an adopt, or "
                "W604 for an account the files do not name)",
            )
        )
    if before.organization_digest is not None and written.organization_digest is None:
        print("the next plan reads the organization from AWS again, as the record changed")
    return EXIT_OK


_STATE_EDITS: dict[str, Callable[[argparse.Namespace, StateStore], int]] = {
    "list": _state_list,
    "rm": _state_rm,
    "mv": _state_mv,
}


def _completion(args: argparse.Namespace) -> int:
    from orgc.completion import SHELLS

    sys.stdout.write(SHELLS[args.shell](_parser()))
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    from orgc.diagram import FORMATS, Node, plan_diagram, project_diagram
    from orgc.pipeline import load_saved_plan, offline_stacks

    def draw(inputs: Inputs) -> int:
        stacks, order = offline_stacks(inputs)
        tasks = inputs.project.tasks if inputs.project is not None else {}
        diagram = project_diagram(tasks, stacks, order)
        if not tasks:  # an organization file alone: one task, the organization's
            only = Node(key="organization", label=f"organization {inputs.source}")
            diagram = dataclasses.replace(diagram, nodes=(only,))
        sys.stdout.write(FORMATS[args.format](diagram))
        return EXIT_OK

    try:
        if _is_saved_plan(args.path):
            sys.stdout.write(FORMATS[args.format](plan_diagram(load_saved_plan(args.path))))
            return EXIT_OK
        return _compiled_then(args, draw)
    except StageError as error:
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID


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
    sys.stdout.write(_shown(args, saved, args.plan))
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


def _init(args: argparse.Namespace) -> int:
    from orgc.adopt import ORGANIZATION_FILE, InitError, existing_files, init_organization
    from orgc.ci import PIPELINES, PipelineSettings, write_pipeline

    if args.pipeline_only and args.pipeline is None:
        raise _UsageError("--pipeline-only needs --pipeline github|gitlab|codebuild")
    organization_file = ORGANIZATION_FILE
    if args.directory.suffix in (".yml", ".yaml") and not args.directory.is_dir():
        # OrgFormation's `init organization.yml`: the file, in the directory that holds it
        organization_file = args.directory.name
        args.directory = args.directory.parent
    if args.pipeline and not args.force:
        refusals = existing_files(args.directory, PIPELINES[args.pipeline].files)
        if refusals:
            _print_diagnostics(refusals)
            return EXIT_INVALID

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        try:
            if args.pipeline_only:
                management_account_id = provider.management_account_id()
            else:
                state_store = store()
                result = init_organization(
                    provider,
                    args.directory,
                    state_store,
                    force=args.force,
                    access_role=args.access_role,
                    organization_file=organization_file,
                )
                _print_diagnostics(result.warnings)
                _print_diagnostics(
                    [Diagnostic("W803", f"the next apply would {s}") for s in result.pending]
                )
                for path in result.written:
                    print(f"wrote {path}")
                print(
                    f"recorded {result.accounts} accounts, {result.organizational_units} OUs and "
                    f"{result.policies} policies in {state_store.describe()}"
                )
                management_account_id = result.state.management_account_id or ""
            if args.pipeline:
                settings = PipelineSettings(
                    management_account_id=management_account_id,
                    region=args.region,
                    state_bucket=args.state_bucket,
                )
                for path in write_pipeline(args.pipeline, args.directory, settings):
                    print(f"wrote {path}")
        except InitError as error:
            _print_diagnostics(error.diagnostics)
            return EXIT_INVALID
        return EXIT_OK

    return _with_aws(args, EXIT_INVALID, body)


# --- OrgFormation's stack commands ----------------------------------------------------------


def _stack_options(args: argparse.Namespace) -> StackOptions:
    from orgc.stack_commands import StackOptions

    return StackOptions(
        template=args.template,
        stack_name=args.stack_name,
        stack_description=getattr(args, "stack_description", None),
        parameters=args.parameters,
        termination_protection=getattr(args, "termination_protection", False),
        update_protection=getattr(args, "update_protection", None),
        max_concurrent_stacks=getattr(args, "max_concurrent_stacks", None),
        failed_stacks_tolerance=getattr(args, "failed_stacks_tolerance", None),
        templating_context=args.templating_context,
        tags=getattr(args, "tags", ()),
        stack_policy=getattr(args, "stack_policy", None),
    )


def _stack_inputs(
    args: argparse.Namespace,
    command: StackCommand | None,
    provider: AwsProvider | None,
    state: Callable[[], State],
    *,
    deleting: str | None = None,
) -> Inputs:
    """The inputs of a stack command: bound against --organization-file, else against the
    organization read from AWS (with the logical ids the state gives its accounts)."""
    from orgc.live_organization import live_organization_file
    from orgc.live_source import LiveSource
    from orgc.load import project_root
    from orgc.remote import RemoteTemplates
    from orgc.stack_commands import compile_command

    where = command.template.parent if command is not None else Path.cwd()
    # The project is the working directory's (its checkout, when it is in one) when the template
    # lies in it, so that an organization file beside the templates' directory is inside it.
    working = Path.cwd().resolve()
    root = args.root or project_root(
        working if where.resolve().is_relative_to(working) else where, None
    )
    organization_file: Path | str | None = args.organization_file
    live = organization_file is None
    if organization_file is None:
        assert provider is not None
        directory = root / ".orgc" / "live-organization"
        task = command.task if command is not None else "delete-stacks"
        organization_file, _digest = live_organization_file(
            LiveSource(task=task), provider, state(), directory
        )
    return compile_command(
        command,
        where=where,
        organization_file=organization_file,
        root=root,
        allow_cmd=args.allow_cmd,
        remote=None if provider is None else RemoteTemplates(provider=provider),
        live=live,
        deleting=deleting,
    )


def _checked_stack_command(args: argparse.Namespace, name: str) -> StackCommand | None:
    from orgc.stack_commands import stack_command

    try:
        return stack_command(_stack_options(args), name)
    except StageError as error:
        _print_diagnostics(error.diagnostics)
        return None


def _update_stacks(args: argparse.Namespace) -> int:
    from orgc.pipeline import lint_templates, plan_and_apply
    from orgc.stack_commands import own_stacks

    command = _checked_stack_command(args, "update-stacks")
    if command is None:
        return EXIT_INVALID
    watch = _ApplyWatch(args, None, _progress_interval())

    def confirm(result: Plan) -> bool:
        # OrgFormation's update-stacks deploys without asking: the plan is shown, then done.
        sys.stdout.write(render_text(result))
        watch.begin(result)
        return True

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        started = time.monotonic()
        inputs = _stack_inputs(args, command, provider, lambda: store().read())
        if _lint(args):
            lint_templates(inputs)
        with watch.interruptible():
            _, outcome = plan_and_apply(
                inputs,
                provider,
                store(),
                confirm=confirm,
                listener=watch.listener,
                delete_guard=_delete_guard(args),
                scope=own_stacks(command.stack_name),
            )
        if outcome is None:
            print(f"Stack {command.stack_name} already up to date.")
            return EXIT_OK
        watch.outcome = outcome
        return _report(outcome, time.monotonic() - started, sys.stdout)

    code = _with_aws(args, EXIT_APPLY_FAILED, body)
    watch.finish(code, [])
    return code


def _progress_interval() -> float:
    try:
        return progress_interval(os.environ)
    except ProgressIntervalError as error:
        raise _UsageError(str(error)) from None


def _offline_or_aws(
    args: argparse.Namespace, run: Callable[[AwsProvider | None, Callable[[], State]], int]
) -> int:
    """Run a command that reads AWS only for the organization (and the ids the state records):
    with a local --organization-file it makes no AWS call at all."""
    from orgc.state import State

    if isinstance(args.organization_file, Path):
        try:
            return run(None, State)
        except StageError as error:
            _print_diagnostics(error.diagnostics)
            return EXIT_INVALID
    return _with_aws(args, EXIT_INVALID, lambda provider, store: run(provider, store().read))


def _rendered_stacks(
    inputs: Inputs, state: State, found: list[Diagnostic]
) -> tuple[RenderedStack, ...]:
    from orgc.pipeline import compile_stacks
    from orgc.recorded import known_ids, wanted_ids

    ids = known_ids(wanted_ids(inputs.organization), state)
    stacks, _, _, warnings = compile_stacks(inputs, ids, None)
    found.extend(warnings)
    return stacks


def _validate_stacks(args: argparse.Namespace) -> int:
    from orgc.lint import cache_directory, lint_stacks
    from orgc.pipeline import registered_types

    command = _checked_stack_command(args, "validate-stacks")
    if command is None:
        return EXIT_INVALID

    def run(provider: AwsProvider | None, state: Callable[[], State]) -> int:
        found: list[Diagnostic] = []
        try:
            inputs = _stack_inputs(args, command, provider, state)
            found.extend(inputs.warnings)
            stacks = _rendered_stacks(inputs, state(), found)
            if _lint(args):
                found.extend(lint_stacks(stacks, cache_directory(), registered_types(inputs)))
        except StageError as error:
            found.extend(error.diagnostics)
        shown = sorted(set(found), key=Diagnostic.sort_key)
        _print_diagnostics(shown, sys.stdout)
        errors = sum(1 for d in shown if d.severity.value == "error")
        warnings = len(shown) - errors
        print(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
        return EXIT_INVALID if errors else EXIT_OK

    return _offline_or_aws(args, run)


def _print_stacks(args: argparse.Namespace) -> int:
    from orgc.stack_commands import print_path, printed

    command = _checked_stack_command(args, "print-stacks")
    if command is None:
        return EXIT_INVALID

    def run(provider: AwsProvider | None, state: Callable[[], State]) -> int:
        found: list[Diagnostic] = []
        inputs = _stack_inputs(args, command, provider, state)
        stacks = _rendered_stacks(inputs, state(), found)
        _print_diagnostics(sorted({*inputs.warnings, *found}, key=Diagnostic.sort_key))
        for stack in stacks:
            text = printed(stack, args.output)
            if args.output_path is None:
                print(f"# {stack.stack_name} in {stack.key.account} {stack.key.region}")
                sys.stdout.write(text)
                continue
            target = print_path(args.output_path, stack, args.output)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            except OSError as error:
                reason = error.strerror or str(error)
                _print_diagnostics(
                    [Diagnostic("E489", f"cannot write {target} under --output-path: {reason}")]
                )
                return EXIT_INVALID
            print(f"wrote {target}")
        if not stacks:
            print(f"the template binds stack {command.stack_name} to no account and region")
        return EXIT_OK

    return _offline_or_aws(args, run)


def _describe_stacks(args: argparse.Namespace) -> int:
    from orgc.model import DEFAULT_ACCESS_ROLE
    from orgc.stack_commands import check_stack_name, describe, records_named

    if args.stack_name is not None:
        try:
            check_stack_name(args.stack_name, "describe-stacks")
        except StageError as error:
            _print_diagnostics(error.diagnostics)
            return EXIT_INVALID

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        state = store().read()
        records = records_named(state, args.stack_name)
        live: dict[tuple[str, str, str], str | None] = {}
        for account_id, region in sorted({(r.account_id, r.region) for r in records}):
            found = provider.list_stacks(account_id, DEFAULT_ACCESS_ROLE, region)
            for record in records:
                if (record.account_id, record.region) == (account_id, region):
                    stack = found.get(record.stack_name)
                    live[record.key] = stack.status if stack is not None else None
        sys.stdout.write(json.dumps(describe(state, args.stack_name, live), indent=2) + "\n")
        return EXIT_OK

    return _with_aws(args, EXIT_INVALID, body)


def _delete_stacks(args: argparse.Namespace) -> int:
    from orgc.pipeline import plan_and_apply
    from orgc.stack_commands import check_stack_name, named_stacks, records_named

    if args.stack is not None and args.stack_name is not None and args.stack != args.stack_name:
        raise _UsageError(
            f"delete-stacks names two stacks ({args.stack} and --stack-name {args.stack_name}); "
            "give one"
        )
    try:
        name = check_stack_name(args.stack_name or args.stack, "delete-stacks")
        for option in ("max_concurrent_stacks", "failed_stacks_tolerance"):
            value = getattr(args, option)
            if value is not None and not value.strip().isdigit():
                flag = "--" + option.replace("_", "-")
                raise StageError(
                    [Diagnostic("E485", f"{flag} takes a whole number, not {value!r}")]
                )
    except StageError as error:
        _print_diagnostics(error.diagnostics)
        return EXIT_INVALID
    watch = _ApplyWatch(args, None, _progress_interval())

    def confirm(result: Plan) -> bool:
        sys.stdout.write(render_text(result))
        watch.begin(result)
        return True

    def body(provider: AwsProvider, store: Callable[[], StateStore]) -> int:
        started = time.monotonic()
        if not records_named(store().read(), name):
            _print_diagnostics(
                [
                    Diagnostic(
                        "W480",
                        f"the state records no stack named {name}; nothing to delete "
                        "(orgc describe-stacks lists the stacks it records)",
                    )
                ]
            )
            return EXIT_OK
        inputs = _stack_inputs(args, None, provider, lambda: store().read(), deleting=name)
        with watch.interruptible():
            planned, outcome = plan_and_apply(
                inputs,
                provider,
                store(),
                confirm=confirm,
                listener=watch.listener,
                perform_cleanup=True,
                # Deleting every stack of the name is what was asked for.
                delete_guard=DeleteGuard(allow_mass_delete=True),
                scope=named_stacks(name),
            )
        if outcome is None:
            left = [w for w in planned.warnings if w.code == "W640"]
            if left:  # termination protection keeps them; each warning says what to do
                _print_diagnostics(left)
                print(f"nothing deleted: the stacks named {name} have termination protection")
            else:
                print(f"the stacks named {name} are gone from AWS already")
            return EXIT_OK
        watch.outcome = outcome
        return _report(outcome, time.monotonic() - started, sys.stdout)

    code = _with_aws(args, EXIT_APPLY_FAILED, body)
    watch.finish(code, [])
    return code


_COMMANDS = {
    "validate": _validate,
    "plan": _plan,
    "apply": _apply,
    "show": _show,
    "explain": _explain,
    "graph": _graph,
    "completion": _completion,
    "emulator": _emulator,
    "state": _state,
    "render": _render,
    "init": _init,
    "update-stacks": _update_stacks,
    "validate-stacks": _validate_stacks,
    "print-stacks": _print_stacks,
    "describe-stacks": _describe_stacks,
    "delete-stacks": _delete_stacks,
}


if __name__ == "__main__":
    sys.exit(main())
