"""Shared fixtures.

The AWS side is tested against the embedded emulator over HTTP on 127.0.0.1: one server for the
whole session, reset before every test that uses it (about a millisecond).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.goldens import Golden

from orgc.aws import AwsProvider
from orgc.emulator import Emulator, emulator_environment, emulator_unset_variables


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
