"""Stage 3, task files: the project load_project builds from a tree of task files, and every
mistake it reports.

Each file in tests/cases/tasks, and each folder there with a main.yml, states the diagnostics it
expects inline on the line they are about (`# error[E331]: ...`). tests/cases/tasks/project is a
small landing zone using every feature, and tests/cases/tasks/realworld holds the shapes found in
OrgFormation repositories; both are compared with the exact project they must give. Local
evaluation of expressions (orgc/expressions) is tested at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from support.inline import Expectation, actual_diagnostics, expected_diagnostics

from orgc.diagnostics import Diagnostic, Diagnostics, Span, StageError
from orgc.expressions import ARGUMENT, MAPPING, Problem, Scope, describe, evaluate, is_known
from orgc.load import LoadOptions, display_path
from orgc.pipeline import compile_organization
from orgc.tasks import (
    ORGANIZATION_TASK_NAME,
    CopyToS3Task,
    ExternalTask,
    Include,
    OrganizationTask,
    Project,
    StacksTask,
    Task,
    load_project,
)
from orgc.templates import Binding

CASES_DIR = (Path(__file__).parent / "cases" / "tasks").resolve()
CASES = sorted([*CASES_DIR.glob("*.yml"), *(main.parent for main in CASES_DIR.glob("*/main.yml"))])
PROJECT = CASES_DIR / "project"
REALWORLD = CASES_DIR / "realworld"


def report(diagnostics: Iterable[Diagnostic]) -> list[str]:
    """Diagnostics as a user reads them, in the order they are shown."""
    return [str(diagnostic) for diagnostic in diagnostics]


def load(
    path: Path, root: Path, parameters: dict[str, str] | None = None
) -> tuple[Project | None, list[str]]:
    diagnostics = Diagnostics()
    project = load_project(path, LoadOptions(root=root), diagnostics, parameters=parameters)
    return project, report(diagnostics)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


TEMPLATE = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"


@pytest.fixture
def tmp_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder that is also the working directory."""
    root = tmp_path.resolve()
    monkeypatch.chdir(root)
    return root


# --- inline cases ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem if p.is_file() else p.name)
def test_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CASES_DIR)
    diagnostics = Diagnostics()
    main = case / "main.yml" if case.is_dir() else case
    load_project(main, LoadOptions(root=CASES_DIR), diagnostics)
    files = sorted(case.glob("*.yml")) if case.is_dir() else [case]
    expected: set[tuple[str, Expectation]] = set()
    actual: set[tuple[str, Expectation]] = set()
    for file in files:
        display = display_path(file)
        expected |= {(display, e) for e in expected_diagnostics(file)}
        actual |= {(display, a) for a in actual_diagnostics(diagnostics, display)}
    assert actual == expected


def test_every_case_expects_something() -> None:
    for case in CASES:
        files = sorted(case.glob("*.yml")) if case.is_dir() else [case]
        assert any(expected_diagnostics(file) for file in files), case


# --- the landing zone -----------------------------------------------------------------------


def _binding(**fields: Any) -> Binding:
    return Binding(**fields)


def _stacks(name: str, file: str, template: str, stack_name: str, **fields: Any) -> StacksTask:
    return StacksTask(
        name=name,
        type="update-stacks",
        file=file,
        template=PROJECT / "templates" / template,
        stack_name=stack_name,
        **fields,
    )


def _region_tasks(include: str, region: str, prefix: str, **fields: Any) -> list[Task]:
    """The tasks of region/region-tasks.yml and the file it includes, as one include makes them."""
    return [
        _stacks(
            f"{include}-Network",
            "region/region-tasks.yml",
            "network.yml",
            f"{prefix}-network",
            parameters={"retention": 30 if region == "eu-west-1" else 90},
            default_binding=_binding(organizational_units=("WorkloadsOU",)),
            default_regions=(region,),
            group=(include,),
            depends_on=("Baseline",) if include == "EuWest" else (),
            **fields,
        ),
        _stacks(
            f"{include}-Logging-LogGroups",
            "region/nested/logging-tasks.yml",
            "logging.yml",
            f"{prefix}-logging",
            parameters={
                "enabled": True,
                "logGroupName": {"Fn::Sub": f"/{prefix}/${{AWS::Region}}/${{!literal}}"},
            },
            default_binding=_binding(all_accounts=True),
            default_regions=(region,),
            group=(include, f"{include}-Logging"),
            depends_on=(
                ("Baseline", "EuWest-Network") if include == "EuWest" else ("UsEast-Network",)
            ),
            **fields,
        ),
    ]


def _expected_project() -> Project:
    top = "organization-tasks.yml"
    tasks: list[Task] = [
        _stacks(
            "Baseline",
            top,
            "baseline.yml",
            "acme-baseline",
            stack_description="Baseline of every account",
            parameters={
                "prefix": "acme",
                "cidr": "10.1.0.0/16",
                # The key is known per target only: the map travels with the lookup.
                "accountCidr": {
                    "Fn::FindInMap": [
                        {
                            "Ranges": {
                                "111111111111": "10.201.30.0/24",
                                "222222222222": "10.201.31.0/24",
                            }
                        },
                        "Ranges",
                        {"Ref": "CurrentAccount"},
                    ]
                },
                "orgId": {"Ref": "ORG::PrincipalOrgID"},
                "bucket": {"Fn::Sub": "${ORG::StateBucketName}-deployments/${AWS::AccountId}"},
                "regions": "eu-west-1,us-east-1",
                "firstRegion": "us-east-1",
                "alarmEmail": {"Fn::GetAtt": ["CurrentAccount", "RootEmail"]},
                "environment": "prod",
            },
            default_binding=_binding(all_accounts=True, include_master_account=True),
            default_regions=("eu-west-1", "us-east-1"),
            tags={"owner": "platform", "environment": "prod", "cost-center": "2100"},
            termination_protection=True,
            max_concurrent_stacks=10,
            failed_stack_tolerance=2,
        ),
        _stacks(
            "Roles",
            top,
            "roles.yml",
            "acme-roles",
            depends_on=("Baseline",),
            default_binding=_binding(
                organizational_units=("WorkloadsOU",), regions=("eu-west-1",), regions_given=True
            ),
            bindings={
                "AuditBinding": _binding(
                    accounts=("AuditAccount",), regions=("eu-west-1",), regions_given=True
                ),
                "TrustedBinding": _binding(accounts=("SharedAccount",)),
            },
            parameters={
                "auditAccount": {"Ref": "AuditAccount"},
                "bucketName": {
                    "Fn::CopyValue": ["acme-bucket-name", {"Ref": "SharedAccount"}, "eu-west-1"]
                },
            },
            deployment_mode="StackSet",
        ),
        # The include's TemplatingContext renders region-tasks.yml, not its tasks' templates.
        *_region_tasks("EuWest", "eu-west-1", "acme-eu"),
        *_region_tasks("UsEast", "us-east-1", "acme-us", skip=True),
        CopyToS3Task(
            name="Upload",
            type="copy-to-s3",
            file=top,
            depends_on=("EuWest-Logging-LogGroups", "EuWest-Network", "Roles"),
            local_path=PROJECT / "lambda",
            zip_before_put=True,
            remote_path={
                "Fn::Sub": "s3://${ORG::StateBucketName}-deployments/lambda/${AWS::AccountId}.zip"
            },
            remote_path_needs_target=True,
            binding=_binding(
                accounts=("AuditAccount",), regions=("eu-west-1",), regions_given=True
            ),
        ),
        ExternalTask(
            name="CdkApp",
            type="update-cdk",
            file=top,
            attributes={
                "Path": PROJECT / "cdk",
                "RunNpmInstall": True,
                "OrganizationBinding": _binding(
                    accounts=("SharedAccount",), regions=("eu-west-1",), regions_given=True
                ),
                "Parameters": {"stage": "prod"},
            },
        ),
    ]
    return Project(
        file=top,
        organization=OrganizationTask(
            name="OrganizationUpdate",
            type="update-organization",
            file=top,
            template=PROJECT / "organization.yml",
        ),
        tasks={task.name: task for task in tasks},
        includes={
            "EuWest": Include(
                name="EuWest",
                file="region/region-tasks.yml",
                max_concurrent_tasks=5,
                failed_task_tolerance=1,
            ),
            "EuWest-Logging": Include(
                name="EuWest-Logging", file="region/nested/logging-tasks.yml"
            ),
            "UsEast": Include(name="UsEast", file="region/region-tasks.yml"),
            "UsEast-Logging": Include(
                name="UsEast-Logging", file="region/nested/logging-tasks.yml"
            ),
        },
    )


PROJECT_WARNINGS = [
    "organization-tasks.yml:114:9: warning[W320]: orgc does not run update-cdk tasks and leaves "
    "CdkApp alone; deploy it with the CDK (cdk deploy) separately"
]


def test_the_landing_zone_builds_the_exact_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    project, diagnostics = load(
        PROJECT / "organization-tasks.yml", PROJECT, {"environment": "prod"}
    )
    assert diagnostics == PROJECT_WARNINGS
    assert project == _expected_project()
    # Task order is the order of the files, includes flattened where they stand.
    assert project is not None
    assert list(project.tasks) == list(_expected_project().tasks)


def test_a_directory_means_its_task_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    project, diagnostics = load(PROJECT, PROJECT, {"environment": "prod"})
    assert diagnostics == PROJECT_WARNINGS
    assert project == _expected_project()


def test_positions_ride_along_for_later_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT)
    project, _ = load(PROJECT / "organization-tasks.yml", PROJECT, {"environment": "prod"})
    assert project is not None
    network = project.tasks["UsEast-Network"]
    assert isinstance(network, StacksTask)
    assert network.span == Span("region/region-tasks.yml", 11, 1)
    assert network.template_span == Span("region/region-tasks.yml", 13, 13)
    assert project.includes["UsEast"].span == Span("organization-tasks.yml", 96, 1)
    roles = project.tasks["Roles"]
    assert isinstance(roles, StacksTask)
    assert roles.default_binding is not None
    # The binding came from a parameter's Default: its refs point there.
    assert roles.default_binding.ref_spans["WorkloadsOU"] == Span("organization-tasks.yml", 16, 27)


def test_a_parameter_without_its_value_is_reported_at_its_declaration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(PROJECT)
    project, diagnostics = load(PROJECT / "organization-tasks.yml", PROJECT)
    assert diagnostics == [
        "_parameters.yml:1:1: error[E334]: parameter environment has no value; give it a "
        "Default or pass --parameter environment=<value>",
        *PROJECT_WARNINGS,
    ]
    assert project is not None
    baseline = project.tasks["Baseline"]
    assert isinstance(baseline, StacksTask)
    assert baseline.parameters["environment"] == {"Ref": "environment"}


# --- OrgFormation's shapes ------------------------------------------------------------------


def test_the_shapes_of_orgformation_repositories_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REALWORLD)
    project, diagnostics = load(REALWORLD / "organization-tasks.yml", REALWORLD)
    assert diagnostics == [
        "organization-tasks.yml:11:7: warning[W323]: parameter allRegions is a String, but its "
        "value is a list; declare it List<String> if a list is meant",
        "organization-tasks.yml:28:3: warning[W322]: OrganizationBindingRegion is the old name "
        "of DefaultOrganizationBindingRegion; rename it",
        "organization-tasks.yml:29:3: warning[W322]: OrganizationBinding is the old name of "
        "DefaultOrganizationBinding; rename it",
        "organization-tasks.yml:69:5: warning[W321]: include RegisterTypes passes region, which "
        "register-type-tasks.yml does not declare under Parameters (did you mean "
        "primaryRegion?); it is ignored",
        "organization-tasks.yml:97:9: warning[W320]: orgc does not run apply-tf tasks and leaves "
        "StateBucketUsers alone; apply it with Terraform (terraform apply) separately",
        "register-type-tasks.yml:11:9: warning[W320]: orgc does not run register-type tasks and "
        "leaves DelegatedAdminType alone; register the type separately, e.g. with an "
        "AWS::CloudFormation::ResourceVersion resource",
        "register-type-tasks.yml:20:9: warning[W320]: orgc does not run register-type tasks and "
        "leaves HubType alone; register the type separately, e.g. with an "
        "AWS::CloudFormation::ResourceVersion resource",
    ]
    assert project is not None
    assert project.organization is not None
    assert project.organization.skip
    assert {name: task.depends_on for name, task in project.tasks.items()} == {
        "StackSetRoles": (),
        "IdentityProvider": (),
        "AuditorRole": ("IdentityProvider", "StackSetRoles"),
        "RegisterTypes-DelegatedAdminType": (),
        "RegisterTypes-HubType": (),
        "SecurityHub": ("AuditorRole", "RegisterTypes-DelegatedAdminType", "RegisterTypes-HubType"),
        "UploadHandler": (),
        "StateBucketUsers": ("UploadHandler",),
        "SecurityGroups": (),
    }
    old_names = project.tasks["StackSetRoles"]
    assert isinstance(old_names, StacksTask)
    assert old_names.default_binding == _binding(all_accounts=True)
    assert old_names.default_regions == ("eu-central-1",)
    auditor = project.tasks["AuditorRole"]
    assert isinstance(auditor, StacksTask)
    assert auditor.parameters == {
        "roleName": "Auditor",
        "providerArn": {
            "Fn::CopyValue": ["corp-identity-provider-arn", {"Ref": "SharedUsersAccount"}]
        },
        "policyArns": [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            {"Fn::CopyValue": ["corp-custom-policy-arn"]},
        ],
    }
    hub = project.tasks["SecurityHub"]
    assert isinstance(hub, StacksTask)
    assert hub.bindings["EveryRegionBinding"].regions == ("us-east-1", "eu-central-1")
    # The list reached the included file's List<String> parameter through the include.
    hub_type = project.tasks["RegisterTypes-HubType"]
    assert isinstance(hub_type, ExternalTask)
    assert hub_type.attributes["OrganizationBinding"] == _binding(
        all_accounts=True,
        include_master_account=True,
        regions=("us-east-1", "eu-central-1"),
        regions_given=True,
    )
    upload = project.tasks["UploadHandler"]
    assert isinstance(upload, CopyToS3Task)
    handler = (REALWORLD / "src" / "handler.js").read_text(encoding="utf-8")
    assert handler == "exports.handler = async () => ({ statusCode: 200 });\n"
    assert upload.remote_path == {
        "Fn::Sub": "s3://${ORG::StateBucketName}-uploads/handlers/"
        "handler-d9660cceb6ecc30e243f59a7972117f0.js"
    }
    assert upload.remote_path_needs_target
    terraform = project.tasks["StateBucketUsers"]
    assert isinstance(terraform, ExternalTask)
    assert terraform.attributes["BackendConfig"] == {
        "bucket": {
            "Fn::CopyValue": ["tf-state-bucket-name", {"Ref": "MasterAccount"}, "eu-central-1"]
        },
        "key": {"Fn::Sub": "state/${CurrentAccount}.tfstate"},
    }
    groups = project.tasks["SecurityGroups"]
    assert isinstance(groups, StacksTask)
    assert groups.templating_context == {"ports": [22, 443]}
    assert groups.template == REALWORLD / "templates" / "security-group.njk"


# --- parameters -----------------------------------------------------------------------------

TYPED = """\
Parameters:
  count: {Type: Number, Default: 1}
  enabled: {Type: Boolean}
  regions: {Type: List<String>}
  names: {Type: CommaDelimitedList, Default: 'a, b'}
  sizes: {Type: List<Number>}
  prefix: {Type: String, Default: x}
Stacks:
  Type: update-stacks
  Template: ./template.yml
  StackName: !Sub '${prefix}-stacks'
  Parameters:
    count: !Ref count
    enabled: !Ref enabled
    regions: !Ref regions
    names: !Ref names
    sizes: !Ref sizes
"""


def test_command_line_values_win_over_defaults_and_take_their_type(tmp_project: Path) -> None:
    write(tmp_project, {"main.yml": TYPED, "template.yml": TEMPLATE})
    project, diagnostics = load(
        tmp_project / "main.yml",
        tmp_project,
        {
            "count": "3",
            "enabled": "True",
            "regions": "eu-west-1, us-east-1",
            "sizes": "1,2.5",
            "prefix": "cli",
        },
    )
    assert diagnostics == []
    assert project is not None
    stacks = project.tasks["Stacks"]
    assert isinstance(stacks, StacksTask)
    assert stacks.stack_name == "cli-stacks"
    assert stacks.parameters == {
        "count": 3,
        "enabled": True,
        "regions": ["eu-west-1", "us-east-1"],
        "names": ["a", "b"],
        "sizes": [1, 2.5],
    }


def test_command_line_mistakes(tmp_project: Path) -> None:
    write(tmp_project, {"main.yml": TYPED, "template.yml": TEMPLATE})
    _, diagnostics = load(
        tmp_project / "main.yml",
        tmp_project,
        {"count": "three", "enabled": "yes", "regions": "a", "sizes": "1", "prefx": "y"},
    )
    assert diagnostics == [
        "orgc: error[E335]: --parameter prefx is not declared under Parameters of any task file "
        "(did you mean prefix?); declared: count, enabled, names, prefix, regions, sizes",
        "main.yml:2:3: error[E336]: parameter count is of Type Number, but --parameter "
        "count=three is not a number",
        "main.yml:3:3: error[E336]: parameter enabled is of Type Boolean, but --parameter "
        "enabled=yes is not true or false",
    ]


def test_command_line_values_reach_included_files(tmp_project: Path) -> None:
    write(
        tmp_project,
        {
            "main.yml": "Inner:\n  Type: include\n  Path: ./inner.yml\n",
            # Parameters kept in a file of their own, as OrgFormation repositories often do.
            "inner.yml": "Parameters: !Include ./parameters.yml\n"
            "Stacks:\n  Type: update-stacks\n  Template: ./template.yml\n"
            "  StackName: !Sub 'app-${stage}'\n",
            "parameters.yml": "stage: {Type: String}\n",
            "template.yml": TEMPLATE,
        },
    )
    project, diagnostics = load(tmp_project / "main.yml", tmp_project, {"stage": "test"})
    assert diagnostics == []
    assert project is not None
    stacks = project.tasks["Inner-Stacks"]
    assert isinstance(stacks, StacksTask)
    assert stacks.stack_name == "app-test"


def test_bindings_pass_through_includes(tmp_project: Path) -> None:
    write(
        tmp_project,
        {
            "main.yml": """\
OrganizationBindings:
  Workloads:
    OrganizationalUnit: !Ref WorkloadsOU
    Region: eu-west-1
Dev:
  Type: include
  Path: ./stage.yml
  Parameters:
    binding: !Ref Workloads
    suffix: dev
Prod:
  Type: include
  Path: ./stage.yml
  Parameters:
    binding:
      Account: !Ref ProdAccount
      Regoin: eu-west-1
    suffix: prod
""",
            "stage.yml": """\
Parameters:
  binding: {Type: OrganizationBinding}
  suffix: {Type: String}
Stage:
  Type: update-stacks
  Template: ./template.yml
  StackName: !Sub 'stage-${suffix}'
  DefaultOrganizationBinding: !Ref binding
""",
            "template.yml": TEMPLATE,
        },
    )
    project, diagnostics = load(tmp_project / "main.yml", tmp_project)
    assert diagnostics == [
        "main.yml:17:7: error[E350]: Regoin is not a binding attribute (did you mean Region?); "
        "a binding takes Account, OrganizationalUnit, ExcludeAccount, "
        "ExcludeOrganizationalUnit, IncludeMasterAccount, AccountsWithTag, Region"
    ]
    assert project is not None
    dev, prod = project.tasks["Dev-Stage"], project.tasks["Prod-Stage"]
    assert isinstance(dev, StacksTask)
    assert isinstance(prod, StacksTask)
    assert dev.default_binding == _binding(
        organizational_units=("WorkloadsOU",), regions=("eu-west-1",), regions_given=True
    )
    assert prod.default_binding == _binding(accounts=("ProdAccount",))
    assert prod.default_binding.ref_spans == {"ProdAccount": Span("main.yml", 16, 16)}


def test_includes_hand_down_their_attributes(tmp_project: Path) -> None:
    write(
        tmp_project,
        {
            "main.yml": """\
First:
  Type: update-stacks
  Template: ./template.yml
  StackName: first
Inner:
  Type: include
  Path: ./inner.yml
  DependsOn: First
  ForceDeploy: true
  TaskRoleName: DeployRole
  TemplatingContext: {tier: gold}
""",
            "inner.yml": """\
Setup:
  Type: update-organization
  Template: ./organization.yml
Own:
  Type: update-stacks
  Template: ./template.yml
  StackName: own
  DependsOn: Setup
  ForceDeploy: false
  TaskRoleName: OwnRole
  TemplatingContext: {tier: silver}
Inherits:
  Type: update-stacks
  Template: ./template.yml
  StackName: inherits
""",
            "organization.yml": "Organization: {}\n",
            "template.yml": TEMPLATE,
        },
    )
    project, diagnostics = load(tmp_project / "main.yml", tmp_project)
    assert diagnostics == []
    assert project is not None
    assert project.organization == OrganizationTask(
        name="Inner-Setup",
        type="update-organization",
        file="inner.yml",
        template=tmp_project / "organization.yml",
        force_deploy=True,
        task_role_name="DeployRole",
        group=("Inner",),
    )
    own, inherits = project.tasks["Inner-Own"], project.tasks["Inner-Inherits"]
    assert isinstance(own, StacksTask)
    assert isinstance(inherits, StacksTask)
    # DependsOn the organization task is implicit; the include's own DependsOn applies.
    assert own.depends_on == inherits.depends_on == ("First",)
    assert (own.force_deploy, own.task_role_name, own.templating_context) == (
        False,
        "OwnRole",
        {"tier": "silver"},
    )
    # The include's TemplatingContext rendered inner.yml; its tasks' templates are their own.
    assert (inherits.force_deploy, inherits.task_role_name, inherits.templating_context) == (
        True,
        "DeployRole",
        None,
    )


# --- what a path means ----------------------------------------------------------------------


def test_a_directory_picks_the_file_with_the_update_organization_task(tmp_project: Path) -> None:
    write(
        tmp_project,
        {
            # Mentions the task type but is no task file: probing it reports nothing.
            "a-notes.yml": "text: [update-organization\n",
            "b-tasks.yml": "Update:\n  Type: update-organization\n  Template: ./organization.yml\n",
            "organization.yml": "Organization: {}\n",
        },
    )
    project, diagnostics = load(tmp_project, tmp_project)
    assert diagnostics == []
    assert project == Project(
        file="b-tasks.yml",
        organization=OrganizationTask(
            name="Update",
            type="update-organization",
            file="b-tasks.yml",
            template=tmp_project / "organization.yml",
        ),
        tasks={},
        includes={},
    )


@pytest.mark.parametrize("target", [".", "organization.yml"])
def test_an_organization_file_alone_is_a_project_without_tasks(
    tmp_project: Path, target: str
) -> None:
    write(tmp_project, {"organization.yml": "Organization: {}\n"})
    project, diagnostics = load(tmp_project / target, tmp_project)
    assert diagnostics == []
    assert project == Project(
        file="organization.yml",
        organization=OrganizationTask(
            name=ORGANIZATION_TASK_NAME,
            type="update-organization",
            file="organization.yml",
            template=tmp_project / "organization.yml",
        ),
        tasks={},
        includes={},
    )


def test_nothing_usable_gives_no_project(tmp_project: Path) -> None:
    assert load(tmp_project, tmp_project) == (
        None,
        [
            "orgc: error[E110]: . holds no task file with an update-organization task and no "
            "organization.yml"
        ],
    )
    assert load(tmp_project / "missing.yml", tmp_project) == (
        None,
        ["orgc: error[E100]: no such file: missing.yml"],
    )


def test_a_task_file_without_update_organization_has_no_organization(tmp_project: Path) -> None:
    write(
        tmp_project,
        {
            "main.yml": "Stacks:\n  Type: update-stacks\n  Template: ./template.yml\n"
            "  StackName: stacks\n",
            "template.yml": TEMPLATE,
        },
    )
    project, diagnostics = load(tmp_project / "main.yml", tmp_project)
    assert diagnostics == []
    assert project is not None
    assert project.organization is None
    assert list(project.tasks) == ["Stacks"]


def test_a_dependency_cycle_through_an_include_shows_its_path(tmp_project: Path) -> None:
    write(
        tmp_project,
        {
            "main.yml": """\
Setup:
  Type: update-stacks
  Template: ./template.yml
  StackName: setup
  DependsOn: Inner
Inner:
  Type: include
  Path: ./inner.yml
  DependsOn: Setup
""",
            "inner.yml": "Work:\n  Type: update-stacks\n  Template: ./template.yml\n"
            "  StackName: work\n",
            "template.yml": TEMPLATE,
        },
    )
    _, diagnostics = load(tmp_project / "main.yml", tmp_project)
    assert diagnostics == [
        "main.yml:9:14: error[E331]: DependsOn makes a cycle: Inner-Work → Setup → Inner-Work; "
        "remove one of these dependencies"
    ]


# --- intrinsics -----------------------------------------------------------------------------


def _evaluate(value: Any, **values: Any) -> Any:
    result, problems = evaluate(value, Scope(values=values))
    assert problems == ()
    return result


def test_sub_substitutes_what_it_knows_and_keeps_the_rest() -> None:
    assert _evaluate({"Fn::Sub": "${a}-${!b}"}, a="x") == "x-${b}"
    # Text that looks like a variable stays text when the result is still a Sub.
    assert _evaluate({"Fn::Sub": "${a}-${AWS::Region}-${!b}"}, a="p${q}") == {
        "Fn::Sub": "p${!q}-${AWS::Region}-${!b}"
    }
    assert _evaluate({"Fn::Sub": "n=${n}, on=${on}"}, n=2.0, on=True) == "n=2, on=true"


def test_sub_writes_references_into_its_template() -> None:
    value = {
        "Fn::Sub": [
            "${ref}/${att}/${copy}/${inner}",
            {
                "ref": {"Ref": "Account"},
                "att": {"Fn::GetAtt": ["CurrentAccount", "Tags.team"]},
                "copy": {"Fn::CopyValue": "export"},
                "inner": {"Fn::Sub": "${bucket}-x"},
            },
        ]
    }
    assert _evaluate(value, bucket={"Fn::Sub": "${ORG::StateBucketName}-b"}) == {
        "Fn::Sub": [
            "${Account}/${CurrentAccount.Tags.team}/${copy}/${ORG::StateBucketName}-b-x",
            {"copy": {"Fn::CopyValue": "export"}},
        ]
    }


def test_join_select_and_find_in_map() -> None:
    assert _evaluate({"Fn::Join": ["-", ["a", 1, True]]}) == "a-1-true"
    assert _evaluate({"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]}) == {
        "Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]
    }
    assert _evaluate({"Fn::Select": ["1", {"Ref": "list"}]}, list=["a", "b"]) == "b"
    mappings = {"Map": {"Top": {"Key": ["v"]}, "Other": {"Key": "w"}}}
    scope = Scope(values={"key": "Key"}, mappings=mappings)
    assert evaluate({"Fn::FindInMap": ["Map", "Top", {"Ref": "key"}]}, scope) == (["v"], ())
    assert evaluate({"Fn::FindInMap": ["Map", "Top", {"Ref": "AWS::Region"}]}, scope) == (
        {"Fn::FindInMap": [{"Top": {"Key": ["v"]}}, "Top", {"Ref": "AWS::Region"}]},
        (),
    )


def test_json_string_and_md5() -> None:
    assert _evaluate({"Fn::JsonString": {"a": [1, "é"]}}) == '{"a":[1,"é"]}'
    assert _evaluate({"Fn::JsonString": ['{"a": 1}', "pretty-print"]}) == '{\n  "a": 1\n}'
    assert _evaluate({"Fn::MD5": "abc"}) == "900150983cd24fb0d6963f7d28e17f72"
    assert _evaluate({"Fn::MD5": {"a": 1}}) == hashlib.md5(b'{"a":1}').hexdigest()
    assert _evaluate({"Fn::MD5": {"Ref": "AWS::AccountId"}}) == {
        "Fn::MD5": {"Ref": "AWS::AccountId"}
    }


def test_problems_name_the_node_they_are_about() -> None:
    scope = Scope(mappings={"Map": {"Top": {"Key": "v"}}})
    value = {"Parameters": {"x": {"Fn::FindInMap": ["Mop", "Top", "Key"]}}}
    result, problems = evaluate(value, scope, ("Task",))
    assert result == value
    assert problems == (
        Problem(
            MAPPING,
            "!FindInMap names the map 'Mop', which Mappings does not declare (did you mean "
            "Map?); declared maps: Map",
            ("Task", "Parameters", "x", "Fn::FindInMap", 0),
        ),
    )
    _, problems = evaluate({"Fn::Select": [3, ["a"]]}, scope)
    assert problems == (
        Problem(ARGUMENT, "!Select index 3 is out of range for a list of 1 item", ()),
    )


def test_evaluation_copies_what_it_substitutes() -> None:
    shared = ["a", "b"]
    result = _evaluate({"x": {"Ref": "list"}}, list=shared)
    result["x"].append("c")
    assert shared == ["a", "b"]
    assert is_known(result)
    assert not is_known({"y": [{"Ref": "z"}]})
    assert describe({"Fn::GetAtt": ["A", "b"]}) == "!GetAtt A.b"


# --- copy-to-s3 objects, as compile_organization makes them -----------------------------------

COPY_ORGANIZATION = """\
AWSTemplateFormatVersion: '2010-09-09-OC'
Organization:
  Management:
    Type: OC::ORG::MasterAccount
    Properties: {AccountName: management, AccountId: '111111111111'}
  Shop:
    Type: OC::ORG::Account
    Properties: {AccountName: shop, AccountId: '222222222222', RootEmail: shop@example.com}
"""


def _copy_project(root: Path, remote_path: str) -> Path:
    write(
        root,
        {
            "organization.yml": COPY_ORGANIZATION,
            "site/index.html": "<p>shop</p>\n",
            "tasks.yml": (
                "OrganizationUpdate:\n"
                "  Type: update-organization\n"
                "  Template: ./organization.yml\n"
                "Upload:\n"
                "  Type: copy-to-s3\n"
                "  LocalPath: ./site/index.html\n"
                f"  RemotePath: {remote_path}\n"
                "  OrganizationBinding:\n"
                "    Account: !Ref Shop\n"
                "    Region: eu-west-1\n"
            ),
        },
    )
    return root / "tasks.yml"


def test_a_copy_to_s3_path_takes_the_targets_values(tmp_project: Path) -> None:
    tasks = _copy_project(
        tmp_project,
        "!Sub 's3://site-${CurrentAccount.AccountName}/${AWS::AccountId}/${Management}.html'",
    )
    [wanted] = compile_organization(tasks, root=tmp_project).objects
    assert (wanted.url, wanted.account, wanted.account_id, wanted.role_name) == (
        "s3://site-shop/222222222222/111111111111.html",
        "Shop",
        "222222222222",
        "OrganizationAccountAccessRole",
    )


def test_a_copy_to_s3_path_of_unknown_values_is_refused(tmp_project: Path) -> None:
    tasks = _copy_project(tmp_project, "!Sub 's3://site-${CurrentAccount.Colour}/index.html'")
    with pytest.raises(StageError) as raised:
        compile_organization(tasks, root=tmp_project)
    assert [str(d) for d in raised.value.diagnostics] == [
        "tasks.yml:4:1: error[E343]: RemotePath of task Upload: ${CurrentAccount.Colour}: "
        "accounts have no attribute Colour; use AccountName, AccountId, Alias, RootEmail, "
        "Tags.<key>, OrganizationAccessRoleName, BuildAccessRoleName"
    ]


def test_a_copy_to_s3_source_that_cannot_be_read_is_a_diagnostic(
    tmp_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = _copy_project(tmp_project, "s3://site-${AWS::Region}/index.html")
    assert [o.url for o in compile_organization(tasks, root=tmp_project).objects] == [
        "s3://site-eu-west-1/index.html"
    ]

    # Reading the file fails once the task files are read (its permissions, say; a test that
    # runs as root cannot take them away for real). Path.read_bytes is patched, not the module
    # that reads the upload, so that the test holds wherever that code lives.
    source = tmp_project / "site" / "index.html"
    read_bytes = Path.read_bytes

    def unreadable(path: Path) -> bytes:
        if path == source:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    with pytest.raises(StageError) as raised:
        compile_organization(tasks, root=tmp_project)
    (refused,) = raised.value.diagnostics
    assert refused.code == "E344"
    assert refused.message == "cannot read site/index.html: Permission denied"
    assert str(refused.span) == "tasks.yml:4:1"
