"""Shared fixtures.

The AWS side is tested against the embedded emulator over HTTP on 127.0.0.1: one server for the
whole session, reset before every test that uses it (about a millisecond).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from emitted_codes import PLUGIN_NAME, EmittedCodes
from support.goldens import Golden

from orgc.aws import AwsProvider
from orgc.emulator import Emulator, emulator_environment, emulator_unset_variables


@pytest.fixture(scope="session", autouse=True)
def _lint_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """cfn-lint's findings cache (orgc/lint.py) in a directory of the test session's own, never
    the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    """One emulator server for the test session."""
    with Emulator() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the `aws` provider asked for, in seconds; nothing actually sleeps."""
    return []


@pytest.fixture
def aws(emulator: Emulator, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> AwsProvider:
    """A provider on a fresh emulated organization (management account 123456789012)."""
    emulator.reset()
    for name in emulator_unset_variables():
        monkeypatch.delenv(name, raising=False)
    for name, value in emulator_environment(emulator.endpoint).items():
        monkeypatch.setenv(name, value)
    emulator.bootstrap()
    return AwsProvider(endpoint_url=emulator.endpoint, sleep=sleeps.append, poll_interval=0)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite golden files from what the code produces now",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """Golden files compared, or rewritten under `pytest --update-golden`."""
    return Golden(update=bool(request.config.getoption("--update-golden")))


def pytest_configure(config: pytest.Config) -> None:
    recorder = EmittedCodes()
    config.pluginmanager.register(recorder, PLUGIN_NAME)
    recorder.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(recorder, EmittedCodes):
        recorder.stop()
