"""The embedded emulator: loopback only, the detached daemon, the environment it needs."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path

import boto3
import pytest

from orgc import emulator as emulator_module
from orgc.emulator import (
    Emulator,
    EmulatorError,
    EmulatorUnavailable,
    apply_emulator_environment,
    daemon_endpoint,
    emulator_environment,
    emulator_unset_variables,
    serve,
    start_daemon,
    stop_daemon,
)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", "localhost"])
def test_serve_refuses_anything_but_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(host, 0)


def test_the_command_line_refuses_a_public_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert emulator_module.main(["serve", "--host", "0.0.0.0", "--port", "5000"]) == 2
    assert "loopback" in capsys.readouterr().err


def organization_of(endpoint: str) -> str:
    client = boto3.client(
        "organizations",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client.describe_organization()["Organization"]["MasterAccountId"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / ".orgc"
    yield directory
    stop_daemon(directory)


def test_daemon_starts_once_is_reused_and_stops(state_dir: Path) -> None:
    endpoint = start_daemon(state_dir)
    assert endpoint.startswith("http://127.0.0.1:")
    record = json.loads((state_dir / "emulator.json").read_text())
    assert record["endpoint"] == endpoint
    assert endpoint.endswith(f":{record['port']}")
    assert organization_of(endpoint) == "123456789012"

    assert start_daemon(state_dir) == endpoint
    assert json.loads((state_dir / "emulator.json").read_text())["pid"] == record["pid"]
    assert daemon_endpoint(state_dir) == endpoint

    assert stop_daemon(state_dir)
    assert daemon_endpoint(state_dir) is None
    assert not (state_dir / "emulator.json").exists()
    assert not stop_daemon(state_dir)


def test_a_dead_daemon_record_is_not_trusted(state_dir: Path) -> None:
    state_dir.mkdir()
    dead = {"pid": 2**22 + 12345, "endpoint": "http://127.0.0.1:9", "port": 9}
    (state_dir / "emulator.json").write_text(json.dumps(dead))
    assert daemon_endpoint(state_dir) is None
    assert not stop_daemon(state_dir)
    assert not (state_dir / "emulator.json").exists()


def test_seed_makes_ids_repeatable(emulator: Emulator) -> None:
    def first_account_id() -> str:
        emulator.reset()
        emulator.seed(7)
        emulator.bootstrap()
        client = boto3.client(
            "organizations",
            endpoint_url=emulator.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        status = client.create_account(AccountName="a", Email="a@example.com")
        return status["CreateAccountStatus"]["AccountId"]

    assert first_account_id() == first_account_id()


def test_endpoint_before_start_is_an_error() -> None:
    with pytest.raises(EmulatorError, match="not running"):
        _ = Emulator().endpoint


def test_missing_moto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "moto" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(EmulatorUnavailable, match=r"pip install 'orgc\[emulator\]'"):
        Emulator().start()


def test_emulator_environment_points_everything_at_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))
    os.environ.update(
        {
            "AWS_PROFILE": "production",
            "MOTO_ACCOUNT_ID": "999999999999",
            "AWS_ENDPOINT_URL_S3": "https://s3.example.com",
            "NO_PROXY": "internal.example.com",
        }
    )
    variables = emulator_environment("http://127.0.0.1:5555")
    assert variables["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5555"
    assert variables["AWS_ACCESS_KEY_ID"] == "testing"
    assert variables["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert variables["AWS_SESSION_TOKEN"] == "testing"
    assert variables["AWS_DEFAULT_REGION"] == "us-east-1"
    assert variables["AWS_EC2_METADATA_DISABLED"] == "true"
    assert variables["AWS_CONFIG_FILE"] == os.devnull
    assert variables["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert variables["NO_PROXY"] == "internal.example.com,127.0.0.1"
    assert {"AWS_PROFILE", "MOTO_ACCOUNT_ID", "AWS_ENDPOINT_URL_S3"} <= set(
        emulator_unset_variables()
    )

    apply_emulator_environment("http://127.0.0.1:5555")
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5555"
    for gone in ("AWS_PROFILE", "MOTO_ACCOUNT_ID", "AWS_ENDPOINT_URL_S3"):
        assert gone not in os.environ
