"""The embedded AWS emulator: moto's server, on loopback only.

orgc's tests and its try-it-without-an-account mode talk to this emulator exactly as they would
talk to AWS; only the endpoint differs. It is not AWS (see EMULATOR.md for what it does and does
not do), though service-managed StackSets are taught to it at start-up (orgc.emulator_stacksets).
It needs the optional `emulator` extra: `pip install 'orgc[emulator]'`.

Three ways to run it:
- `serve(host, port)` / `python -m orgc.emulator serve --port N`: the server in this process.
- `Emulator`: a server subprocess for the life of a `with` block (tests, benchmarks).
- `start_daemon(state_dir)`: a detached server that outlives the command, so that successive CLI
  commands (`plan`, then `apply`) see the same emulated organization. There is one per project:
  `find_state_dir` finds the project's `.orgc/` from any of its subdirectories, a file lock
  makes two commands that ask at once share one server, and the server stops itself after an
  idle time (`DEFAULT_IDLE_TIMEOUT`, or `ORGC_EMULATOR_IDLE_TIMEOUT` seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from orgc.diagnostics import Diagnostic, StageError
from orgc.emulator_cloudformation import teach_refusals
from orgc.emulator_services import teach_service_principals
from orgc.emulator_sso import teach_identity_center
from orgc.emulator_stack_policy import teach_stack_policies
from orgc.emulator_stacks import teach_stack_updates
from orgc.emulator_stacksets import UnsupportedMoto, check_moto_version, teach_stack_sets

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

MANAGEMENT_ACCOUNT_ID = "123456789012"
"""The management account of the emulated organization (moto's default account)."""

REGION = "us-east-1"
_FAKE_CREDENTIAL = "testing"
_LOOPBACK = "127.0.0.1"
_INSTALL_HINT = "install it with: pip install 'orgc[emulator]'"
_READY_TIMEOUT = 30.0  # seconds: importing moto takes a couple of seconds on a slow machine
_STOP_TIMEOUT = 10.0
_START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it
_DAEMON_FILE = "emulator.json"
_DAEMON_LOG = "emulator.log"
_DAEMON_LOCK = "emulator.lock"
STATE_DIR_NAME = ".orgc"
# Files that mark a project's directory when it has no `.orgc/` yet.
_PROJECT_FILES = ("organization.yml", "organization-tasks.yml", "orgformation-tasks.yml")

DEFAULT_IDLE_TIMEOUT = 1800.0
"""Seconds without a request after which a daemon stops itself (30 minutes)."""
IDLE_TIMEOUT_VARIABLE = "ORGC_EMULATOR_IDLE_TIMEOUT"

# Variables that would send the emulator's traffic elsewhere or change whose account it is:
# a profile (real credentials, a real region), moto's account override (it silently replaces every
# assumed account), web-identity and container credentials, and the switch that ignores
# AWS_ENDPOINT_URL. Service-specific AWS_ENDPOINT_URL_<SERVICE> variables go too.
_UNSET_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "MOTO_ACCOUNT_ID",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)
_SERVICE_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"

# Daemons started by this process, so that stopping one also reaps it (no zombie) and the
# process object is not collected while the daemon runs.
_spawned: dict[int, subprocess.Popen[bytes]] = {}


class EmulatorUnavailable(StageError):
    """moto (the `emulator` extra) is not installed: one E706 diagnostic; `str()` is its
    message."""

    def __init__(self, detail: str = "", *, problem: str = "is not installed") -> None:
        reason = f" ({detail})" if detail else ""
        message = f"the embedded AWS emulator {problem}{reason}; {_INSTALL_HINT}"
        super().__init__([Diagnostic("E706", message)])

    def __str__(self) -> str:
        return self.diagnostics[0].message


class EmulatorError(Exception):
    """The emulator did not start or did not answer."""


def _require_moto() -> None:
    for module in ("moto", "flask", "werkzeug"):
        if importlib.util.find_spec(module) is None:
            raise EmulatorUnavailable(f"module {module} is missing")
    try:
        check_moto_version()
    except UnsupportedMoto as error:
        raise EmulatorUnavailable(str(error), problem="needs another moto version") from error


def _check_loopback(host: str) -> None:
    """Refuse anything but a loopback address: the emulator has no authentication at all."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"refusing to serve the emulator on {host!r}: it accepts any credentials, so it "
            "listens on a loopback address only (127.0.0.1 or ::1)"
        )


# --- the server ----------------------------------------------------------------------------


def serve(host: str, port: int, *, idle_timeout: float | None = None) -> None:
    """Run moto's server on `host:port` until interrupted, or until `idle_timeout` seconds pass
    without a request; `host` must be a loopback address."""
    _check_loopback(host)
    try:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server
    except ImportError as error:
        raise EmulatorUnavailable(str(error)) from error
    try:
        # In this process, before the first request: the server is where moto's models live.
        teach_stack_sets()
        teach_stack_updates()
        teach_stack_policies()
        teach_service_principals()
        teach_identity_center()
        teach_refusals()
    except UnsupportedMoto as error:
        raise EmulatorUnavailable(str(error), problem="needs another moto version") from error
    # One log line per request drowns the log that start_daemon keeps; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    activity = _Activity(DomainDispatcherApplication(create_backend_app))
    # moto's own request handler keeps underscores in S3 metadata header names.
    server = make_server(host, port, activity, threaded=True, request_handler=MotoRequestHandler)
    if idle_timeout:
        watchdog = threading.Thread(
            target=_stop_when_idle,
            args=(server, activity, idle_timeout),
            name="orgc-emulator-idle",
            daemon=True,
        )
        watchdog.start()
    try:
        server.serve_forever()
    finally:
        server.server_close()


class _Activity:
    """A WSGI application that notes when it last served a request."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.last = time.monotonic()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        self.last = time.monotonic()
        return self.application(environ, start_response)


def _stop_when_idle(server: Any, activity: _Activity, idle_timeout: float) -> None:
    while True:
        idle = time.monotonic() - activity.last
        if idle >= idle_timeout:
            print(
                f"orgc.emulator: no request for {idle_timeout:g} seconds; stopping",
                file=sys.stderr,
            )
            server.shutdown()
            return
        time.sleep(min(idle_timeout - idle, 1.0) + 0.01)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m orgc.emulator serve [--host H] --port N`."""
    parser = argparse.ArgumentParser(prog="python -m orgc.emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the emulator in the foreground")
    serve_parser.add_argument("--host", default=_LOOPBACK)
    serve_parser.add_argument("--port", type=int, required=True)
    serve_parser.add_argument(
        "--idle-timeout",
        type=float,
        default=0.0,
        help="stop after this many seconds without a request (default: never)",
    )
    arguments = parser.parse_args(argv)
    try:
        _check_loopback(arguments.host)
    except ValueError as error:
        print(f"orgc.emulator: {error}", file=sys.stderr)
        return 2
    # SIGTERM (stop_daemon, Emulator.stop) ends the server like Ctrl-C: quietly, exit 0.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        serve(arguments.host, arguments.port, idle_timeout=arguments.idle_timeout or None)
    except EmulatorUnavailable as error:
        print(f"orgc.emulator: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


# --- talking to a running emulator ---------------------------------------------------------

# Proxies from the environment are bypassed: the emulator is on loopback, and its traffic must
# never leave the machine.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _moto_api(endpoint: str, path: str, *, method: str = "GET", timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", method=method)
    try:
        with _opener.open(request, timeout=timeout) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, OSError) as error:
        raise EmulatorError(f"the emulator at {endpoint} did not answer: {error}") from error


def _answers(endpoint: str, timeout: float = 1.0) -> bool:
    try:
        _moto_api(endpoint, "", timeout=timeout)
    except EmulatorError:
        return False
    return True


def reset(endpoint: str) -> None:
    """Forget everything the emulator holds (every account, organization, bucket, ...)."""
    _moto_api(endpoint, "reset", method="POST")


def seed(endpoint: str, value: int) -> None:
    """Make the emulator's random ids (account ids, OU ids, ...) repeatable from here on."""
    _moto_api(endpoint, f"seed?a={int(value)}", method="POST")


def bootstrap_organization(endpoint: str) -> None:
    """Create the organization (all features) as the management account, unless it exists."""
    organizations = _organizations_client(endpoint)
    with contextlib.suppress(organizations.exceptions.AlreadyInOrganizationException):
        organizations.create_organization(FeatureSet="ALL")


@functools.lru_cache(maxsize=8)
def _organizations_client(endpoint: str) -> OrganizationsClient:
    """An Organizations client for the emulator's management account, made once per endpoint."""
    import boto3
    import botocore.session
    from botocore.config import Config

    # A botocore session that ignores AWS_PROFILE: a developer's profile must neither be read
    # nor, when it does not exist, break the emulator.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session = boto3.Session(
        botocore_session=core,
        aws_access_key_id=_FAKE_CREDENTIAL,
        aws_secret_access_key=_FAKE_CREDENTIAL,
        aws_session_token=_FAKE_CREDENTIAL,
        region_name=REGION,
    )
    return session.client(
        "organizations",
        endpoint_url=endpoint,
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )


def emulator_environment(endpoint: str) -> dict[str, str]:
    """The environment variables that point boto3 (and so orgc) at the emulator.

    Fake credentials, the emulator's endpoint for every service, no instance metadata lookups,
    and AWS config and credential files pointed at the null device so that a developer's real
    profile is never read. The variables in `emulator_unset_variables()` must be removed as well
    (`apply_emulator_environment` does both).
    """
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    hosts = [host for host in no_proxy.split(",") if host.strip()]
    if _LOOPBACK not in hosts:
        hosts.append(_LOOPBACK)
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": _FAKE_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": _FAKE_CREDENTIAL,
        "AWS_SESSION_TOKEN": _FAKE_CREDENTIAL,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        # A proxy from the environment must not see the emulator's traffic.
        "NO_PROXY": ",".join(hosts),
        "no_proxy": ",".join(hosts),
    }


def emulator_unset_variables(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The variables of `environ` (default: os.environ) that must go for the emulator."""
    present = os.environ if environ is None else environ
    service_endpoints = sorted(
        name for name in present if name.startswith(_SERVICE_ENDPOINT_PREFIX)
    )
    return (*_UNSET_VARIABLES, *service_endpoints)


def apply_emulator_environment(endpoint: str) -> None:
    """Point this process (and its children) at the emulator: set and unset the variables."""
    for name in emulator_unset_variables():
        os.environ.pop(name, None)
    os.environ.update(emulator_environment(endpoint))


# --- starting servers ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _server_environment() -> dict[str, str]:
    environment = dict(os.environ)
    # MOTO_ACCOUNT_ID in the server replaces the account of every request, assumed roles too.
    environment.pop("MOTO_ACCOUNT_ID", None)
    # The server runs `-m orgc.emulator`: make orgc importable whatever the working directory.
    package_parent = str(Path(__file__).resolve().parent.parent)
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = (
        package_parent if not existing else os.pathsep.join((package_parent, existing))
    )
    return environment


def _spawn(
    port: int, log: IO[bytes], *, detached: bool, idle_timeout: float | None = None
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "orgc.emulator",
        "serve",
        "--host",
        _LOOPBACK,
        "--port",
        str(port),
    ]
    if idle_timeout:
        command += ["--idle-timeout", str(idle_timeout)]
    options: dict[str, Any] = {}
    if detached:
        if sys.platform == "win32":
            options["creationflags"] = (
                subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
            )
        else:
            # Its own session: the daemon survives the command that started it and does not
            # get the terminal's Ctrl-C.
            options["start_new_session"] = True
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_server_environment(),
        close_fds=True,
        **options,
    )


def _log_since(log: IO[bytes], offset: int) -> str:
    log.flush()
    log.seek(offset)
    text = log.read().decode("utf-8", errors="replace")
    log.seek(0, os.SEEK_END)
    return text[-2000:]


def _start_server(
    log: IO[bytes], *, detached: bool, idle_timeout: float | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on a free loopback port and wait until it answers."""
    _require_moto()
    problem = ""
    for _ in range(_START_ATTEMPTS):
        log.seek(0, os.SEEK_END)
        offset = log.tell()
        port = _free_port()
        endpoint = f"http://{_LOOPBACK}:{port}"
        process = _spawn(port, log, detached=detached, idle_timeout=idle_timeout)
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if _answers(endpoint):
                return process, endpoint
            if process.poll() is not None:
                break
            time.sleep(0.05)
        else:
            _terminate(process)
            raise EmulatorError(
                f"the emulator did not answer within {_READY_TIMEOUT:.0f} seconds:\n"
                f"{_log_since(log, offset)}"
            )
        problem = _log_since(log, offset)
        if "Address already in use" not in problem:
            break
    raise EmulatorError(f"the emulator did not start:\n{problem}")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Emulator:
    """A moto server subprocess on a free 127.0.0.1 port, for tests and benchmarks.

    Use as a context manager (`with Emulator() as emulator:`) or call `start`/`stop`. Between
    tests, `reset()` clears it in about a millisecond, far cheaper than a new server.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        """The base URL, `http://127.0.0.1:<port>`."""
        if self._endpoint is None:
            raise EmulatorError("the emulator is not running; call start() first")
        return self._endpoint

    def start(self) -> None:
        if self._process is not None:
            return
        # The server keeps writing to its copy of the (already unlinked) log file; this process
        # reads it only to explain a failed start.
        with tempfile.TemporaryFile() as log:
            self._process, self._endpoint = _start_server(log, detached=False)

    def stop(self) -> None:
        if self._process is not None:
            _terminate(self._process)
        self._process = None
        self._endpoint = None

    def reset(self) -> None:
        reset(self.endpoint)

    def seed(self, value: int) -> None:
        seed(self.endpoint, value)

    def bootstrap(self) -> None:
        """Create the organization as the management account (123456789012) unless it exists."""
        bootstrap_organization(self.endpoint)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --- the detached daemon -------------------------------------------------------------------


def _read_daemon_file(state_dir: Path) -> tuple[int, str] | None:
    try:
        record = json.loads((state_dir / _DAEMON_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid, endpoint = record.get("pid"), record.get("endpoint")
    if not isinstance(pid, int) or not isinstance(endpoint, str):
        return None
    return pid, endpoint


def _pid_alive(pid: int) -> bool:
    spawned = _spawned.get(pid)
    if spawned is not None:
        # Our own child: poll() also reaps it, where kill(pid, 0) would see a zombie as alive.
        return spawned.poll() is None
    if sys.platform == "win32":
        # Windows has no signal 0 (it means CTRL_C_EVENT there); the endpoint check decides.
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def daemon_endpoint(state_dir: Path) -> str | None:
    """The endpoint of the daemon recorded in `state_dir`, if it is alive and answering."""
    found = _read_daemon_file(state_dir)
    if found is None:
        return None
    pid, endpoint = found
    if _pid_alive(pid) and _answers(endpoint):
        return endpoint
    return None


def find_state_dir(start: Path | None = None) -> Path:
    """The project's `.orgc/` directory, seen from `start` (default: the working directory) or
    any directory below it: the nearest `.orgc/` above; else one beside the nearest project
    files (organization.yml, a task file); else one in `start`. So every command of a project
    finds the same emulator and never starts a second one from a subdirectory."""
    here = (start or Path.cwd()).resolve()
    chain = [here, *here.parents]
    for directory in chain:
        if (directory / STATE_DIR_NAME).is_dir():
            return directory / STATE_DIR_NAME
    for directory in chain:
        if any((directory / name).is_file() for name in _PROJECT_FILES):
            return directory / STATE_DIR_NAME
    return here / STATE_DIR_NAME


def idle_timeout_from_environment() -> float:
    """`ORGC_EMULATOR_IDLE_TIMEOUT` seconds (0: never stop), else `DEFAULT_IDLE_TIMEOUT`."""
    text = os.environ.get(IDLE_TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_IDLE_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise EmulatorError(
            f"{IDLE_TIMEOUT_VARIABLE}={text!r} is not a number of seconds (0: never stop)"
        )
    return value


@contextlib.contextmanager
def _start_lock(state_dir: Path) -> Iterator[None]:
    """Held while a daemon is found or started: a second command waits here for the first
    one's daemon instead of starting its own. The lock is the OS's and dies with its holder."""
    with (state_dir / _DAEMON_LOCK).open("a+b") as handle:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ten seconds; keep waiting
                    continue
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def start_daemon(state_dir: Path, *, idle_timeout: float | None = None) -> str:
    """The endpoint of a detached emulator for `state_dir`, started if none is running.

    A running daemon recorded in `state_dir/emulator.json` is reused, so successive commands see
    the same organization; commands that ask at the same time wait for one another and share
    one daemon. A new one logs to `state_dir/emulator.log`, starts with the organization
    already created, and stops after `idle_timeout` seconds without a request (default:
    `idle_timeout_from_environment()`; 0: never).
    """
    running = daemon_endpoint(state_dir)
    if running is not None:
        return running
    if idle_timeout is None:
        idle_timeout = idle_timeout_from_environment()
    state_dir.mkdir(parents=True, exist_ok=True)
    with _start_lock(state_dir):
        running = daemon_endpoint(state_dir)  # started while this command waited for the lock
        if running is not None:
            return running
        with (state_dir / _DAEMON_LOG).open("a+b") as log:
            process, endpoint = _start_server(log, detached=True, idle_timeout=idle_timeout)
        _spawned[process.pid] = process
        record = {
            "pid": process.pid,
            "endpoint": endpoint,
            "port": int(endpoint.rsplit(":", 1)[1]),
            "idleTimeout": idle_timeout,
        }
        daemon_file = state_dir / _DAEMON_FILE
        temporary = daemon_file.with_name(f".{_DAEMON_FILE}.tmp")
        temporary.write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, daemon_file)
        bootstrap_organization(endpoint)
    return endpoint


def stop_daemon(state_dir: Path) -> bool:
    """Stop the daemon recorded in `state_dir`; True if one was running.

    A recorded process that no longer answers as the emulator is left alone (its pid may belong
    to another program by now); the record is removed either way.
    """
    found = _read_daemon_file(state_dir)
    if found is None:
        return False
    pid, endpoint = found
    stopped = False
    if _pid_alive(pid) and _answers(endpoint):
        spawned = _spawned.pop(pid, None)
        if spawned is not None:
            _terminate(spawned)
        else:
            _stop_foreign(pid, endpoint)
        stopped = True
    with contextlib.suppress(FileNotFoundError):
        (state_dir / _DAEMON_FILE).unlink()
    return stopped


def _stop_foreign(pid: int, endpoint: str) -> None:
    """Stop a daemon started by another process (not our child: we cannot wait() for it)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    while time.monotonic() < deadline:
        # Windows cannot probe a pid cheaply; there the closed endpoint says it is gone.
        if sys.platform == "win32":
            if not _answers(endpoint, timeout=0.2):
                return
        elif not _pid_alive(pid):
            return
        time.sleep(0.05)
    # Still serving after a polite request: force it. (A pid that lingers without serving is a
    # zombie waiting for its own parent, or already exiting; nothing more to do.)
    if sys.platform != "win32" and _answers(endpoint, timeout=0.2):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
