"""copy-to-s3 tasks, compiled: the objects each puts, and the mistakes reported at the task."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orgc.copy_to_s3 import DEFAULT_REGION
from orgc.diagnostics import StageError
from orgc.pipeline import compile_organization
from orgc.plan.objects import DesiredObject, removed_objects
from orgc.plan.specs import ObjectRemoval
from orgc.state import State

ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: management, AccountId: '111111111111', RootEmail: m@example.com}
"""

TASKS = """\
OrganizationUpdate:
  Type: update-organization
  Template: ./organization.yml
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "organization.yml").write_text(ORGANIZATION, encoding="utf-8")
    (tmp_path / "handler.py").write_text("print('hello')\n", encoding="utf-8")
    return tmp_path


def compile_task(project: Path, task: str) -> tuple[DesiredObject, ...]:
    (project / "tasks.yml").write_text(TASKS + task, encoding="utf-8")
    return compile_organization(Path("tasks.yml")).objects


def test_one_object_per_bound_region_with_the_region_and_account_filled_in(
    project: Path,
) -> None:
    objects = compile_task(
        project,
        "Upload:\n"
        "  Type: copy-to-s3\n"
        "  LocalPath: ./handler.py\n"
        "  RemotePath: s3://acme-${AWS::AccountId}-${AWS::Region}/code/handler.py\n"
        "  OrganizationBinding: {IncludeMasterAccount: true, Region: [eu-west-1, us-east-1]}\n",
    )
    body = b"print('hello')\n"
    assert [(o.bucket, o.key, o.region) for o in objects] == [
        ("acme-111111111111-eu-west-1", "code/handler.py", "eu-west-1"),
        ("acme-111111111111-us-east-1", "code/handler.py", "us-east-1"),
    ]
    assert {(o.task, o.local_path, o.zipped, o.size) for o in objects} == {
        ("Upload", "handler.py", False, len(body))
    }
    assert {o.content_hash for o in objects} == {"sha256:" + hashlib.sha256(body).hexdigest()}
    assert objects[0].where == "tasks.yml:4:1"


def test_a_binding_without_regions_puts_once_in_the_default_region_and_one_url_once(
    project: Path,
) -> None:
    unbound = compile_task(
        project,
        "Upload:\n"
        "  Type: copy-to-s3\n"
        "  LocalPath: ./handler.py\n"
        "  RemotePath: s3://acme-artifacts/handler.py\n"
        "  OrganizationBinding: {IncludeMasterAccount: true}\n",
    )
    assert [(o.url, o.region) for o in unbound] == [
        ("s3://acme-artifacts/handler.py", DEFAULT_REGION)
    ]
    # Two regions, one URL: the object is put once.
    same = compile_task(
        project,
        "Upload:\n"
        "  Type: copy-to-s3\n"
        "  LocalPath: ./handler.py\n"
        "  RemotePath: s3://acme-artifacts/handler.py\n"
        "  OrganizationBinding: {IncludeMasterAccount: true, Region: [eu-west-1, us-east-1]}\n",
    )
    assert [(o.url, o.region) for o in same] == [("s3://acme-artifacts/handler.py", "eu-west-1")]


def test_a_skipped_task_puts_nothing(project: Path) -> None:
    assert (
        compile_task(
            project,
            "Upload:\n"
            "  Type: copy-to-s3\n"
            "  Skip: true\n"
            "  LocalPath: ./handler.py\n"
            "  RemotePath: s3://acme-artifacts/handler.py\n"
            "  OrganizationBinding: {IncludeMasterAccount: true}\n",
        )
        == ()
    )


def _compile_error(project: Path, *, remote_path: str) -> list[str]:
    with pytest.raises(StageError) as raised:
        compile_task(
            project,
            "Upload:\n"
            "  Type: copy-to-s3\n"
            "  LocalPath: ./handler.py\n"
            f"  RemotePath: {remote_path}\n"
            "  OrganizationBinding: {IncludeMasterAccount: true, Region: us-east-1}\n",
        )
    return [str(d) for d in raised.value.diagnostics]


def test_a_remote_path_with_other_variables_is_reported_at_the_task(project: Path) -> None:
    assert _compile_error(project, remote_path="s3://acme-${Nobody.AccountId}/handler.py") == [
        "tasks.yml:4:1: error[E343]: RemotePath of task Upload: ${Nobody.AccountId}: Nobody is "
        "not an account, OU or policy"
    ]


def test_a_local_path_that_cannot_be_read_is_reported_at_the_task(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The task file's checks found the file; reading it fails (its permissions, say), which
    # a test running as root cannot bring about for real.
    def unreadable(path: Path, *, zipped: bool) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("orgc.copy_to_s3.read_object_body", unreadable)
    assert _compile_error(project, remote_path="s3://acme-artifacts/handler.py") == [
        "tasks.yml:4:1: error[E344]: cannot read handler.py: Permission denied"
    ]


def test_an_orphan_is_addressed_as_it_was_put_and_a_skipped_tasks_object_is_none() -> None:
    state = State(
        objects={
            "s3://acme/new.txt": {"task": "New", "hash": "h", "etag": "e", "region": "eu-west-1"},
            "s3://acme/as-shop.txt": {
                "task": "Shop",
                "hash": "h",
                "etag": "e",
                "region": "eu-west-1",
                "accountId": "222222222222",
                "roleName": "OrganizationAccountAccessRole",
            },
            # Recorded before the region was: addressed where an unbound task puts.
            "s3://acme/old/key.txt": {"task": "Old", "hash": "h", "etag": "e"},
            "s3://acme/skipped.txt": {"task": "Skipped", "hash": "h", "etag": "e"},
        }
    )
    desired = DesiredObject(
        task="New",
        bucket="acme",
        key="new.txt",
        region="eu-west-1",
        local_path="new.txt",
        zipped=False,
        content_hash="h",
        size=1,
        where="tasks.yml:1:1",
    )
    found = removed_objects([desired], state, left_alone=lambda task: task == "Skipped")
    assert found == [
        ObjectRemoval(
            task="Shop",
            bucket="acme",
            key="as-shop.txt",
            region="eu-west-1",
            account_id="222222222222",
            role_name="OrganizationAccountAccessRole",
        ),
        ObjectRemoval(task="Old", bucket="acme", key="old/key.txt", region=DEFAULT_REGION),
    ]
