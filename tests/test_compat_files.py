"""OrgFormation's files and templates, replayed step by step on the emulator: Nunjucks text
templating of task files, organization files and included files; templates too large to pass
inline; templates read from S3 and from a URL; copy-to-s3 as the target account.

Each scenario under tests/scenarios/compat/ is copied into a fresh project, applied with orgc's
CLI, checked with boto3 directly (never through orgc's own code), and re-planned: a re-plan
right after an apply changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from support.compat import SCENARIOS, account_ids, orgc, scenario
from support.emulated import MANAGEMENT_ACCOUNT_ID, in_account

from orgc.aws import AwsProvider
from orgc.diagnostics import Diagnostics
from orgc.emulator import Emulator
from orgc.load import LoadOptions, load_file
from orgc.nunjucks import render
from orgc.pipeline import compile_organization, validate
from orgc.remote import RemoteTemplates, load_remote_organization


def replan_is_a_no_op(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--detailed-exitcode") == 0
    return capsys.readouterr().out


def live_stacks(account_id: str, region: str) -> dict[str, dict[str, str]]:
    """Stack name → its parameters, of every live stack in the account and region."""
    client = in_account(account_id, "cloudformation", region)
    return {
        stack["StackName"]: {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
        for stack in client.describe_stacks()["Stacks"]
        if stack["StackStatus"] != "DELETE_COMPLETE"
    }


# --- text templating --------------------------------------------------------------------------


def test_text_templated_organization_tasks_and_templates(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario("text-templates", tmp_path, monkeypatch)
    assert validate(Path("tasks.yml")) == ()
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0

    # The organization file made one account per team of the context, tagged by the
    # `=== 'gold'` and `elseif` branches.
    ids = account_ids()
    assert sorted(ids) == ["master", "payments", "search"]
    organizations = boto3.client("organizations", region_name="us-east-1")
    tags = {
        name: {
            t["Key"]: t["Value"] for t in organizations.list_tags_for_resource(ResourceId=i)["Tags"]
        }
        for name, i in ids.items()
        if name != "master"
    }
    assert tags == {"payments": {"tier": "gold"}, "search": {"tier": "silver"}}

    # The included task file made one stack per team in that team's account alone, with the
    # parameter prefix, the binding's regions and accounts, and a per-target !Sub written
    # through `| object`.
    for team in ("payments", "search"):
        stacks = live_stacks(ids[team], "eu-west-1")
        assert stacks == {f"acme-{team}-topics": {"Owner": team, "Team": team}}
        sns = in_account(ids[team], "sns", "eu-west-1")
        arns = sorted(t["TopicArn"] for t in sns.list_topics()["Topics"])
        assert [arn.rsplit(":", 1)[1] for arn in arns] == [f"{team}-orders", f"{team}-refunds"]
        # The tags came from an !Include of a .njk file, rendered with the same context.
        cloudformation = in_account(ids[team], "cloudformation", "eu-west-1")
        template = cloudformation.get_template(StackName=f"acme-{team}-topics")["TemplateBody"]
        template = template if isinstance(template, dict) else json.loads(template)
        assert template["Resources"]["OrdersTopic"]["Properties"]["Tags"] == [
            {"Key": "topics", "Value": "orders+refunds"},
            {"Key": "owner", "Value": {"Ref": "Owner"}},
        ]
    assert live_stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1") == {}
    assert "Unchanged: 2 target(s)" in replan_is_a_no_op(emulator, capsys)


def test_nunjucks_renders_as_orgformation_configures_it(tmp_path: Path) -> None:
    path = tmp_path / "file.njk"
    diagnostics = Diagnostics()
    text = (
        "{% for item in items %}\n"
        "- {{ item.name }}: {{ item.on }}{{ missing }}\n"
        "{% endfor %}\n"
        "value: {{ value | object }}\n"
        "list: {{ items | map(attribute='name') | list }}\n"
        "{% if n === 2 %}two{% elseif n !== 3 %}other{% endif %}\n"
    )
    rendered = render(
        text,
        path,
        {
            "items": [{"name": "a", "on": True}, {"name": "b", "on": False}],
            "value": {"x": 1},
            "n": 2,
        },
        diagnostics,
        display=str(path),
    )
    assert rendered is not None
    # trim_blocks and lstrip_blocks: no line for the tags; JavaScript's true/false and list
    # text; JSON from `object`; an undefined name is empty text, with a warning.
    assert rendered.text == '- a: true\n- b: false\nvalue: {"x":1}\nlist: a,b\ntwo'
    assert rendered.lines == (2, 2, 4, 5, 6)
    assert [str(d) for d in diagnostics] == [
        f"{path}:2:1: warning[W450]: missing is not defined in the task's TemplatingContext; it "
        "renders as empty text, as OrgFormation's Nunjucks renders it"
    ]


def test_errors_in_a_rendered_file_point_at_the_line_of_the_njk_file(tmp_path: Path) -> None:
    (tmp_path / "tasks.njk").write_text(
        "# header\n"
        "{% for team in teams %}\n"
        "Task{{ team }}:\n"
        "  Type: update-stacks\n"
        "  Broken: [unclosed\n"
        "{% endfor %}\n",
        encoding="utf-8",
    )
    diagnostics = Diagnostics()
    loaded = load_file(
        tmp_path / "tasks.njk",
        LoadOptions(root=tmp_path),
        diagnostics,
        templating={"teams": ["A", "B"]},
    )
    assert loaded is None
    [error] = diagnostics
    assert (error.code, error.span.line if error.span else None) == ("E101", 3)


def test_a_jinja_mistake_in_an_included_task_file_is_reported_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09-OC'\nOrganization:\n  Management:\n"
        "    Type: OC::ORG::MasterAccount\n"
        "    Properties: {AccountName: master, AccountId: '123456789012'}\n",
        encoding="utf-8",
    )
    Path("tasks.yml").write_text(
        "OrganizationUpdate:\n  Type: update-organization\n  Template: ./organization.yml\n"
        "Teams:\n  Type: include\n  Path: ./teams.njk\n  TemplatingContext: {teams: [a]}\n",
        encoding="utf-8",
    )
    Path("teams.njk").write_text(
        "{% for team in teams %}\n{{ team | nosuchfilter }}\n{% endfor %}\n", "utf-8"
    )
    assert [str(d) for d in validate(Path("tasks.yml"))] == [
        "teams.njk:2:1: error[E354]: Jinja syntax error: No filter named 'nosuchfilter'"
    ]


# --- templates too large to pass inline -------------------------------------------------------


def test_large_templates_go_through_a_bucket_the_organization_reads(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario("large-template", tmp_path, monkeypatch)
    assert validate(Path("tasks.yml")) == ()
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    shop = account_ids()["shop"]

    # The stack, in both accounts, and the StackSet, from templates orgc put in its bucket.
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1")
    body = cloudformation.get_template(StackName="large-stack")["TemplateBody"]
    stack_sets = boto3.client("cloudformation", region_name="us-east-1")
    assert len(json.dumps(body, separators=(",", ":"))) > 51_200
    assert "large-stack" in live_stacks(shop, "eu-west-1")
    stack_set = stack_sets.describe_stack_set(StackSetName="large-stack-set")["StackSet"]
    assert len(json.loads(stack_set["TemplateBody"])["Resources"]) == 220

    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = f"orgc-templates-{MANAGEMENT_ACCOUNT_ID}"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    [key] = keys  # one content, one object
    assert key.startswith("templates/")
    organization_id = boto3.client("organizations").describe_organization()["Organization"]["Id"]
    [statement] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
    assert statement["Action"] == "s3:GetObject"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())

    assert "Unchanged: 3 target(s)" in replan_is_a_no_op(emulator, capsys)


# --- remote templates -------------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 serving the remote-templates scenario's `served/` folder."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(SCENARIOS / "remote-templates/served")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.usefixtures("aws")
def test_templates_from_s3_and_from_a_url(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    served: int,
) -> None:
    project = scenario("remote-templates", tmp_path, monkeypatch)
    tasks = project / "tasks.yml"
    tasks.write_text(tasks.read_text().replace("{port}", str(served)), encoding="utf-8")
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="acme-templates", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_object(
        Bucket="acme-templates",
        Key="uploaded/bucket.yml",
        Body=b"Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n",
    )

    # Plain http is refused, but to the loopback address with the switch tests use.
    url = f"http://127.0.0.1:{served}/topic.yml"
    assert [d.code for d in validate(tasks) if d.code.startswith("E")] == ["E451"]
    monkeypatch.setenv("ORGC_ALLOW_LOOPBACK_HTTP", "1")
    # Validate reads no remote template, but the one a copy-to-s3 task of the files puts.
    assert [str(d) for d in validate(tasks)] == [
        f"tasks.yml:{line}:13: warning[W451]: {where} is read by plan and apply, not by "
        "validate, which calls no AWS and fetches nothing; it was not checked"
        for line, where in ((25, "s3://acme-templates/uploaded/bucket.yml"), (33, url))
    ]

    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    shop = account_ids()["shop"]
    assert list(live_stacks(MANAGEMENT_ACCOUNT_ID, "eu-west-1")) == ["queue-from-s3"]
    assert sorted(live_stacks(shop, "eu-west-1")) == ["topic-from-url", "uploaded-before"]
    queue = boto3.client("cloudformation", region_name="eu-west-1").describe_stack_resources(
        StackName="queue-from-s3"
    )["StackResources"]
    assert [r["ResourceType"] for r in queue] == ["AWS::SQS::Queue"]
    replan_is_a_no_op(emulator, capsys)


@pytest.mark.usefixtures("aws")
def test_a_remote_template_that_cannot_be_read_stops_the_plan(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = scenario("remote-templates", tmp_path, monkeypatch)
    monkeypatch.setenv("ORGC_ALLOW_LOOPBACK_HTTP", "1")
    tasks = project / "tasks.yml"
    # A port nothing listens on.
    with closed_port() as closed:
        tasks.write_text(tasks.read_text().replace("{port}", str(closed)), encoding="utf-8")
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="acme-templates", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        capsys.readouterr()
        assert orgc(emulator, "plan", "tasks.yml") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "E450" in line]
    assert errors[0] == (
        "tasks.yml:25:13: error[E450]: cannot read s3://acme-templates/uploaded/bucket.yml: "
        "bucket acme-templates holds no object uploaded/bucket.yml; upload it, or put it with a "
        "copy-to-s3 task of these files"
    )
    assert errors[1].startswith(
        f"tasks.yml:33:13: error[E450]: cannot read http://127.0.0.1:{closed}/topic.yml: "
    )
    assert len(errors) == 2


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but never listened on: connecting is refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield int(bound.getsockname()[1])


# --- copy-to-s3 -------------------------------------------------------------------------------


def test_copy_to_s3_puts_as_the_target_account(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = scenario("copy-to-s3", tmp_path, monkeypatch)
    # Step 1: the organization, so that the Shop account exists and can hold its bucket.
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    shop = account_ids()["shop"]
    s3 = in_account(shop, "s3", "eu-west-1")
    s3.create_bucket(
        Bucket="shop-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )

    # Step 2: the tasks put into Shop's bucket with Shop's credentials.
    assert validate(Path("tasks.yml")) == ()
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="shop-artifacts")["Contents"])
    config_key = f"{shop}/from-{MANAGEMENT_ACCOUNT_ID}/config.json"
    assert keys == sorted([config_key, "shop/settings.properties", "bundle.zip"])
    config = s3.get_object(Bucket="shop-artifacts", Key=config_key)
    assert config["ServerSideEncryption"] == "AES256"
    assert config["Body"].read() == (project / "files/config.json").read_bytes()
    settings = s3.get_object(Bucket="shop-artifacts", Key="shop/settings.properties")
    assert settings["Body"].read() == b"# rendered for production\nregion=eu-west-1\nreplicas=3\n"
    bundle = s3.get_object(Bucket="shop-artifacts", Key="bundle.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert sorted(archive.namelist()) == ["config.json", "settings.njk"]
    replan_is_a_no_op(emulator, capsys)

    # Step 3: a changed file is put again, and only that one.
    (project / "files/config.json").write_text('{"feature": "checkout"}\n', encoding="utf-8")
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--format", "json") == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    # The bundle holds config.json too.
    assert sorted((c["action"], c["logicalId"]) for c in changes) == sorted(
        [
            ("update", "s3://shop-artifacts/bundle.zip"),
            ("update", f"s3://shop-artifacts/{config_key}"),
        ]
    )
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    body = s3.get_object(Bucket="shop-artifacts", Key=config_key)["Body"].read()
    assert body == b'{"feature": "checkout"}\n'
    replan_is_a_no_op(emulator, capsys)


def test_an_organization_file_read_from_s3(tmp_path: Path, aws: AwsProvider) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="acme-state")
    s3.put_object(
        Bucket="acme-state",
        Key="org/organization.yml",
        Body=(
            b"AWSTemplateFormatVersion: '2010-09-09-OC'\nOrganization:\n  Management:\n"
            b"    Type: OC::ORG::MasterAccount\n"
            b"    Properties: {AccountName: master, AccountId: '123456789012'}\n"
        ),
    )
    options = LoadOptions(root=tmp_path)
    diagnostics = Diagnostics()
    remote = RemoteTemplates(provider=aws)
    loaded = load_remote_organization(
        "s3://acme-state/org/organization.yml", remote, options, diagnostics
    )
    assert loaded is not None
    assert list(diagnostics) == []
    assert loaded.display == "s3://acme-state/org/organization.yml"
    assert loaded.data["Organization"]["Management"]["Properties"]["AccountId"] == "123456789012"
    span = loaded.source_map.span(("Organization", "Management"))
    assert span is not None
    assert (span.file, span.line) == ("s3://acme-state/org/organization.yml", 4)

    assert (
        load_remote_organization("s3://acme-state/nothing.yml", remote, options, diagnostics)
        is None
    )
    assert (
        load_remote_organization("s3://acme-state/x.yml", RemoteTemplates(), options, diagnostics)
        is None
    )
    assert [d.code for d in diagnostics] == ["E450", "W451"]


def test_an_includes_context_renders_the_included_file_not_its_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("organization.yml").write_text(
        "AWSTemplateFormatVersion: '2010-09-09-OC'\nOrganization:\n  Management:\n"
        "    Type: OC::ORG::MasterAccount\n"
        "    Properties: {AccountName: master, AccountId: '123456789012'}\n",
        encoding="utf-8",
    )
    Path("tasks.yml").write_text(
        "OrganizationUpdate:\n  Type: update-organization\n  Template: ./organization.yml\n"
        "Parts:\n  Type: include\n  Path: ./parts.njk\n  TemplatingContext: {name: orders}\n",
        encoding="utf-8",
    )
    Path("parts.njk").write_text(
        "{{ name | capitalize }}Queue:\n  Type: update-stacks\n  StackName: {{ name }}\n"
        "  Template: ./queue.yml\n"
        "  DefaultOrganizationBinding: {IncludeMasterAccount: true, Region: eu-west-1}\n",
        encoding="utf-8",
    )
    # A plain template: CloudFormation's dynamic reference is not Jinja's to render.
    Path("queue.yml").write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
        "    Properties: {QueueName: '{{resolve:ssm:/queues/name}}'}\n",
        encoding="utf-8",
    )
    inputs = compile_organization(Path("tasks.yml"))
    queue = inputs.templates["Parts-OrdersQueue"].resources["Queue"]
    assert queue.body["Properties"] == {"QueueName": "{{resolve:ssm:/queues/name}}"}


def test_copy_to_s3_into_an_account_the_same_run_creates(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scenario("copy-to-s3-new-account", tmp_path, monkeypatch)
    assert validate(Path("tasks.yml")) == ()
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--format", "json") == 0
    puts = [c for c in json.loads(capsys.readouterr().out)["changes"] if c["kind"] == "s3-object"]
    assert [p["logicalId"] for p in puts] == [
        "s3://artifacts-{{orgc:account:Build}}/seed/initial-commit.zip"
    ]

    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    build = account_ids()["build"]
    s3 = in_account(build, "s3", "eu-west-1")
    body = s3.get_object(Bucket=f"artifacts-{build}", Key="seed/initial-commit.zip")["Body"]
    with zipfile.ZipFile(io.BytesIO(body.read())) as archive:
        assert archive.namelist() == ["main.py"]
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert f"s3://artifacts-{build}/seed/initial-commit.zip" in state["objects"]
    replan_is_a_no_op(emulator, capsys)


def _keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_copy_to_s3_objects_no_task_puts_are_orphans_deleted_only_by_cleanup(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("copy-to-s3-cleanup", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    shop_s3 = in_account(account_ids()["shop"], "s3", "eu-west-1")
    shop_s3.create_bucket(
        Bucket="shop-cleanup", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    platform_s3 = boto3.client("s3", region_name="us-east-1")
    platform_s3.create_bucket(Bucket="platform-cleanup")
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert _keys(shop_s3, "shop-cleanup") == ["v1/config.json"]
    assert _keys(platform_s3, "platform-cleanup") == [
        "handbook.txt",
        "kept.txt",
        "notes.txt",
        "readme.txt",
    ]

    # Config's RemotePath changes and the other three tasks leave the files. Meanwhile
    # notes.txt is deleted and handbook.txt rewritten outside orgc.
    platform_s3.delete_object(Bucket="platform-cleanup", Key="notes.txt")
    platform_s3.put_object(Bucket="platform-cleanup", Key="handbook.txt", Body=b"edited by hand")
    moved = (
        "orgc: warning[W150]: s3://shop-cleanup/v1/config.json was put by orgc and task Config "
        "no longer puts it (its RemotePath or binding changed); orgc leaves it (apply with "
        "--perform-cleanup deletes it)"
    )
    removed = (
        "orgc: warning[W150]: s3://platform-cleanup/readme.txt was put by orgc and its task "
        "Readme is no longer in the task files; orgc leaves it (apply with --perform-cleanup "
        "deletes it)"
    )
    edited = (
        "orgc: warning[W152]: s3://platform-cleanup/handbook.txt was put by orgc and its task "
        "Handbook is no longer in the task files, but it was changed outside orgc since; orgc "
        "never deletes it: delete it yourself when nothing needs it"
    )
    capsys.readouterr()
    assert orgc(emulator, "plan", "changed.yml", "--format", "json") == 0
    printed = capsys.readouterr()
    first = json.loads(printed.out)
    assert sorted((c["action"], c["logicalId"]) for c in first["changes"]) == [
        ("create", "s3://shop-cleanup/v2/config.json"),
        ("forget", "s3://platform-cleanup/notes.txt"),
    ]
    assert sorted(w["message"] for w in first["warnings"] if w["code"] in ("W150", "W152")) == (
        sorted(line.split(": ", 2)[2] for line in [edited, removed, moved])
    )
    # Without cleanup the orphans stay, and stay listed.
    capsys.readouterr()
    assert orgc(emulator, "apply", "changed.yml", "--auto-approve") == 0
    assert _keys(shop_s3, "shop-cleanup") == ["v1/config.json", "v2/config.json"]
    assert _keys(platform_s3, "platform-cleanup") == ["handbook.txt", "kept.txt", "readme.txt"]
    capsys.readouterr()
    assert orgc(emulator, "plan", "changed.yml", "--detailed-exitcode") == 0
    assert [line for line in capsys.readouterr().out.splitlines() if "W15" in line] == [
        removed,
        moved,
        edited,
    ]

    # With cleanup they are deleted, as the account that put them; the plan says so.
    capsys.readouterr()
    assert orgc(emulator, "plan", "changed.yml", "--perform-cleanup", "--out", "cleanup.plan") == 0
    text = capsys.readouterr().out
    assert (
        "S3 objects:\n"
        "  - delete s3://platform-cleanup/readme.txt: its task Readme is no longer in the task "
        "files (cleanup asked for)\n"
        "  - delete s3://shop-cleanup/v1/config.json: task Config no longer puts it (its "
        "RemotePath or binding changed) (cleanup asked for)\n"
    ) in text
    assert "Plan: 2 to delete.\nDestructive:\n  - 2 S3 object(s) to delete\n" in text
    assert (
        "DELETES: 2 s3-object(s) (s3://platform-cleanup/readme.txt, "
        "s3://shop-cleanup/v1/config.json)."
    ) in text
    assert orgc(emulator, "apply", "cleanup.plan") == 0
    assert _keys(shop_s3, "shop-cleanup") == ["v2/config.json"]
    assert _keys(platform_s3, "platform-cleanup") == ["handbook.txt", "kept.txt"]
    state = json.loads(Path("state.json").read_text(encoding="utf-8"))
    assert sorted(state["objects"]) == [
        "s3://platform-cleanup/handbook.txt",
        "s3://platform-cleanup/kept.txt",
        "s3://shop-cleanup/v2/config.json",
    ]
    # What orgc put as the Shop account is recorded so, to be deleted so.
    assert (
        state["objects"]["s3://shop-cleanup/v2/config.json"]["accountId"] == (account_ids()["shop"])
    )
    capsys.readouterr()
    assert orgc(emulator, "plan", "changed.yml", "--perform-cleanup", "--detailed-exitcode") == 0
    assert [line for line in capsys.readouterr().out.splitlines() if "W15" in line] == [edited]

    # A stack command plans its own stack: the objects of the task files are none of its own.
    capsys.readouterr()
    command = ("update-stacks", "topic.yml", "--stack-name", "cleanup-topic")
    assert orgc(emulator, *command, "--organization-file", "organization.yml") == 0
    assert "W15" not in capsys.readouterr().out
    assert _keys(platform_s3, "platform-cleanup") == ["handbook.txt", "kept.txt"]


def _versions(s3: Any, bucket: str, key: str) -> int:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return len([v for v in listed if v["Key"] == key])


def test_force_deploy_updates_every_stack_and_puts_every_object_again(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario("force-deploy", tmp_path, monkeypatch)
    assert orgc(emulator, "apply", "organization.yml", "--auto-approve") == 0
    shop = account_ids()["shop"]
    s3 = in_account(shop, "s3", "eu-west-1")
    s3.create_bucket(
        Bucket="shop-config", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    # Every put is a new version: how many there are says how often orgc put the object.
    s3.put_bucket_versioning(Bucket="shop-config", VersioningConfiguration={"Status": "Enabled"})
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    assert _versions(s3, "shop-config", "flags.properties") == 1
    replan_is_a_no_op(emulator, capsys)

    # --force-deploy: nothing changed, yet the stack is updated and the object put again; a
    # saved plan keeps the option, so applying it re-plans the same changes.
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks.yml", "--force-deploy", "--out", "forced.plan") == 0
    out = capsys.readouterr().out
    assert f"  ~ update stack orders in Shop ({shop}) eu-west-1: ForceDeploy is set\n" in out
    assert (
        f"  ~ update s3://shop-config/flags.properties from files/flags.properties as Shop "
        f"({shop}), 17 bytes: ForceDeploy is set\n" in out
    )
    assert "Plan: 2 to update.\n" in out
    assert json.loads(Path("forced.plan").read_text(encoding="utf-8"))["options"]["forceDeploy"]
    assert orgc(emulator, "apply", "forced.plan", "--auto-approve") == 0
    assert _versions(s3, "shop-config", "flags.properties") == 2
    replan_is_a_no_op(emulator, capsys)

    # ForceDeploy: true on the copy-to-s3 task alone puts its object on every run.
    capsys.readouterr()
    assert orgc(emulator, "plan", "tasks-forced.yml", "--format", "json") == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["action"], c["logicalId"], c["summary"].rsplit(": ", 1)[1]) for c in changes] == [
        ("update", "s3://shop-config/flags.properties", "ForceDeploy is set")
    ]
    assert orgc(emulator, "apply", "tasks-forced.yml", "--auto-approve") == 0
    assert _versions(s3, "shop-config", "flags.properties") == 3
    body = s3.get_object(Bucket="shop-config", Key="flags.properties")["Body"].read()
    assert body == b"checkout=enabled\n"
    replan_is_a_no_op(emulator, capsys)


def test_a_function_on_a_deprecated_lambda_runtime_is_a_warning_and_is_deployed(
    tmp_path: Path,
    aws: AwsProvider,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # cfn-lint fails nodejs12.x by today's date (its update block was 2023-04-30): a warning
    # naming the runtime, and validate, plan and apply go on.
    scenario("deprecated-runtime", tmp_path, monkeypatch)
    capsys.readouterr()
    assert orgc(emulator, "validate", "tasks.yml") == 0
    assert capsys.readouterr().out.splitlines() == [
        "tasks.yml:7:1: warning[W631]: task Greeter: the template of stack compat-greeter for "
        "ToolsAccount/eu-west-1 gives Resources/Greeter/Properties/Runtime the Lambda runtime "
        "'nodejs12.x', which AWS deprecated (cfn-lint E2533: Runtime 'nodejs12.x' was "
        "deprecated on '2023-03-31'. Creation was disabled on '2023-03-31' and update on "
        "'2023-04-30'. Please consider updating to 'nodejs24.x'); AWS may refuse creating or "
        "updating a function with it, so it is left to AWS: move the function to a supported "
        "runtime",
        "0 errors, 1 warning",
    ]
    assert orgc(emulator, "apply", "tasks.yml", "--auto-approve") == 0
    applied = capsys.readouterr().out
    assert "tasks.yml:7:1: warning[W631]: task Greeter: " in applied
    assert "Apply complete: 3 changes" in applied
    tools = account_ids()["tools"]
    functions = in_account(tools, "lambda", "eu-west-1")
    function = functions.get_function(FunctionName="compat-greeter")["Configuration"]
    assert (function["Runtime"], function["Handler"]) == ("nodejs12.x", "index.greet")
    stack = in_account(tools, "cloudformation", "eu-west-1").describe_stacks(
        StackName="compat-greeter"
    )["Stacks"][0]
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]} == {
        "GreeterArn": function["FunctionArn"]
    }
    # A re-plan has nothing to do, and says the same.
    assert "tasks.yml:7:1: warning[W631]: task Greeter: " in replan_is_a_no_op(emulator, capsys)
    # --strict counts it as an error, as every warning.
    assert orgc(emulator, "validate", "tasks.yml", "--strict") == 1
    assert capsys.readouterr().out.splitlines()[-1] == "--strict: the 1 warning count as errors"
