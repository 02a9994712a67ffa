"""Write a large organization in OrgFormation's format, for measuring orgc at scale.

The shape is the same for every size, so runs of different sizes compare:

    root ─┬─ core ────── SharedServicesAccount, LogArchiveAccount, AuditAccount
          └─ workloads ─┬─ prod ──── team0001-prod, team0002-prod, ...
                        ├─ staging ─ team0001-staging, ...
                        ├─ dev ───── ...
                        └─ sandbox ─ ...

`--accounts` counts every member account: the three central accounts plus one account per team
per environment, filled team by team (the last team may lack some environments). Every account
carries `team` and `environment` tags and a password policy; two SCPs are attached.

`tasks.yml` holds the `update-organization` task and `--tasks` update-stacks tasks, each with its
own template under `templates/`, cycling over six kinds that between them use every construct that
makes compiling expensive: bindings by account, by OU and by account list, `CurrentAccount`
attributes, `Fn::EnumTargetAccounts` and `ForeachAccount` loops, and a cross-account `!GetAtt`
that turns into a generated output, a parameter and an edge between stacks.

    kind           binds                                   template
    all-regions    every account x every region           S3 bucket, SSM parameter
    one-region     every account x the first region       IAM role
    environment    one environment's OU x every region    S3 bucket
    team           one team's accounts x two regions      SNS topic, SSM parameter
    central-loop   SharedServicesAccount x first region   bucket policy naming the first 200
                                                          accounts (Fn::EnumTargetAccounts of
                                                          an account-list binding), one SSM
                                                          parameter per account of a team
                                                          (ForeachAccount)
    cross-account  every account x the first region       SSM parameter holding the ARN of a
                                                          topic in SharedServicesAccount

The central-loop policy names at most 200 accounts (POLICY_ACCOUNTS): naming every account would
pass CloudFormation's 51,200-byte inline template body above about a thousand accounts, which
validate and plan refuse (E365), and S3's 20 KB bucket-policy limit well before that.

usage: generate.py --accounts 1000 --tasks 30 --regions 4 --out DIR
Prints the number of stacks the project compiles to (offline, with the ids the files know).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MANAGEMENT_ACCOUNT_ID = "123456789012"
REGIONS = (
    "eu-west-1",
    "us-east-1",
    "eu-central-1",
    "us-west-2",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
)
ENVIRONMENTS = ("prod", "staging", "dev", "sandbox")
CENTRAL_ACCOUNTS = (
    ("SharedServicesAccount", "shared-services"),
    ("LogArchiveAccount", "log-archive"),
    ("AuditAccount", "audit"),
)
CENTRAL = CENTRAL_ACCOUNTS[0][0]  # where the central-loop and cross-account resources live
# The accounts the central-loop bucket policy names (the central ones first, then team accounts
# in order): bounded, so its template stays under CloudFormation's 51,200-byte inline body at
# every size, as validate and plan check (E365), and its policy under S3's 20 KB.
POLICY_ACCOUNTS = 200
KINDS = ("all-regions", "one-region", "environment", "team", "central-loop", "cross-account")


@dataclass(frozen=True, slots=True)
class Shape:
    """How big the generated organization is."""

    accounts: int  # member accounts, central ones included
    tasks: int  # update-stacks tasks (the update-organization task comes on top)
    regions: int

    @property
    def region_names(self) -> tuple[str, ...]:
        return REGIONS[: self.regions]

    @property
    def two_regions(self) -> tuple[str, ...]:
        return REGIONS[: min(2, self.regions)]


@dataclass(frozen=True, slots=True)
class TeamAccount:
    logical_id: str
    name: str
    team: str
    environment: str


@dataclass(frozen=True, slots=True)
class Task:
    """One update-stacks task: its place in the kind cycle and what it binds."""

    index: int  # 1-based
    kind: str
    environment: str  # the environment an `environment` task binds
    team: str  # the team a `team` or `central-loop` task names

    @property
    def slug(self) -> str:
        return f"t{self.index:03d}-{self.kind}"

    @property
    def logical_name(self) -> str:
        words = self.kind.split("-")
        return f"T{self.index:03d}" + "".join(word.capitalize() for word in words)


def team_accounts(shape: Shape) -> list[TeamAccount]:
    """One account per team per environment, team by team, up to the member-account count."""
    count = shape.accounts - len(CENTRAL_ACCOUNTS)
    accounts = []
    for position in range(count):
        team = f"team{position // len(ENVIRONMENTS) + 1:04d}"
        environment = ENVIRONMENTS[position % len(ENVIRONMENTS)]
        accounts.append(
            TeamAccount(
                logical_id=team.capitalize() + environment.capitalize(),
                name=f"{team}-{environment}",
                team=team,
                environment=environment,
            )
        )
    return accounts


def plan_tasks(shape: Shape, accounts: Sequence[TeamAccount]) -> list[Task]:
    """The tasks, cycling over the kinds; each cycle picks another environment and team."""
    teams = sorted({account.team for account in accounts})
    tasks = []
    for position in range(shape.tasks):
        cycle = position // len(KINDS)
        tasks.append(
            Task(
                index=position + 1,
                kind=KINDS[position % len(KINDS)],
                environment=ENVIRONMENTS[cycle % len(ENVIRONMENTS)],
                team=teams[(cycle * 7) % len(teams)],
            )
        )
    return tasks


def ou_name(environment: str) -> str:
    return environment.capitalize() + "OU"


def organization_yaml(shape: Shape, accounts: Sequence[TeamAccount]) -> str:
    """organization.yml: the OU tree, the accounts, two SCPs and a password policy."""
    lines = [
        "AWSTemplateFormatVersion: '2010-09-09-OC'",
        f"Description: benchmark organization, {shape.accounts} member accounts",
        "",
        "Organization:",
        "  ManagementAccount:",
        "    Type: OC::ORG::MasterAccount",
        "    Properties:",
        "      AccountName: management",
        f"      AccountId: '{MANAGEMENT_ACCOUNT_ID}'",
        "      RootEmail: aws-management@bench.example.com",
        "      PasswordPolicy: !Ref BenchPasswordPolicy",
        "",
        "  OrganizationRoot:",
        "    Type: OC::ORG::OrganizationRoot",
        "    Properties:",
        "      DefaultOrganizationAccessRoleName: OrganizationAccountAccessRole",
        "      ServiceControlPolicies: !Ref DenyLeaveOrganizationSCP",
        "",
        "  CoreOU:",
        "    Type: OC::ORG::OrganizationalUnit",
        "    Properties:",
        "      OrganizationalUnitName: core",
        "      Accounts:",
        *[f"        - !Ref {logical_id}" for logical_id, _ in CENTRAL_ACCOUNTS],
        "",
        "  WorkloadsOU:",
        "    Type: OC::ORG::OrganizationalUnit",
        "    Properties:",
        "      OrganizationalUnitName: workloads",
        "      OrganizationalUnits:",
        *[f"        - !Ref {ou_name(environment)}" for environment in ENVIRONMENTS],
    ]
    for environment in ENVIRONMENTS:
        members = [a.logical_id for a in accounts if a.environment == environment]
        lines += [
            "",
            f"  {ou_name(environment)}:",
            "    Type: OC::ORG::OrganizationalUnit",
            "    Properties:",
            f"      OrganizationalUnitName: {environment}",
        ]
        if environment == "prod":
            lines.append("      ServiceControlPolicies: !Ref DenyRootUserSCP")
        if members:
            lines.append("      Accounts:")
            lines += [f"        - !Ref {logical_id}" for logical_id in members]
    lines += _policies()
    for logical_id, name in CENTRAL_ACCOUNTS:
        lines += _account(logical_id, name, team="platform", environment="shared")
    for account in accounts:
        lines += _account(
            account.logical_id, account.name, team=account.team, environment=account.environment
        )
    return "\n".join(lines) + "\n"


def _policies() -> list[str]:
    return [
        "",
        "  DenyLeaveOrganizationSCP:",
        "    Type: OC::ORG::ServiceControlPolicy",
        "    Properties:",
        "      PolicyName: DenyLeaveOrganization",
        "      Description: accounts may not leave the organization",
        "      PolicyDocument:",
        "        Version: '2012-10-17'",
        "        Statement:",
        "          - Effect: Deny",
        "            Action: organizations:LeaveOrganization",
        "            Resource: '*'",
        "",
        "  DenyRootUserSCP:",
        "    Type: OC::ORG::ServiceControlPolicy",
        "    Properties:",
        "      PolicyName: DenyRootUser",
        "      Description: no root user sessions in production accounts",
        "      PolicyDocument:",
        "        Version: '2012-10-17'",
        "        Statement:",
        "          - Effect: Deny",
        "            Action: '*'",
        "            Resource: '*'",
        "            Condition:",
        "              StringLike:",
        "                aws:PrincipalArn: arn:aws:iam::*:root",
        "",
        "  BenchPasswordPolicy:",
        "    Type: OC::ORG::PasswordPolicy",
        "    Properties:",
        "      MaxPasswordAge: 90",
        "      MinimumPasswordLength: 14",
        "      RequireLowercaseCharacters: true",
        "      RequireNumbers: true",
        "      RequireSymbols: true",
        "      RequireUppercaseCharacters: true",
        "      PasswordReusePrevention: 5",
        "      AllowUsersToChangePassword: true",
    ]


def _account(logical_id: str, name: str, *, team: str, environment: str) -> list[str]:
    return [
        "",
        f"  {logical_id}:",
        "    Type: OC::ORG::Account",
        "    Properties:",
        f"      AccountName: {name}",
        f"      RootEmail: aws+{name}@bench.example.com",
        "      PasswordPolicy: !Ref BenchPasswordPolicy",
        "      Tags:",
        f"        team: {team}",
        f"        environment: {environment}",
    ]


def task_file(shape: Shape, tasks: Sequence[Task]) -> str:
    """tasks.yml: the organization, then every update-stacks task."""
    lines = [
        f"# benchmark task file: {len(tasks)} update-stacks tasks over {shape.regions} regions",
        "Parameters:",
        "  prefix:",
        "    Type: String",
        "    Default: bench",
        "",
        "OrganizationUpdate:",
        "  Type: update-organization",
        "  Template: ./organization.yml",
    ]
    names = {task.index: task.logical_name for task in tasks}
    for task in tasks:
        lines += [
            "",
            f"{task.logical_name}:",
            "  Type: update-stacks",
            f"  Template: ./templates/{task.slug}.yml",
            f"  StackName: !Sub '${{prefix}}-{task.slug}'",
        ]
        if task.kind == "all-regions":
            lines.append(f"  DefaultOrganizationBindingRegion: [{', '.join(shape.region_names)}]")
        # The consumer of a cycle waits for the loop task before it, so the DAG has task edges.
        if task.kind == "cross-account" and task.index - 1 in names:
            lines.append(f"  DependsOn: {names[task.index - 1]}")
        lines += ["  Parameters:", "    prefix: !Ref prefix"]
    return "\n".join(lines) + "\n"


def template_yaml(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> str:
    """The template of one task, by its kind."""
    header = [
        "AWSTemplateFormatVersion: '2010-09-09-OC'",
        f"Description: benchmark task {task.index} ({task.kind})",
        "Parameters:",
        "  prefix:",
        "    Type: String",
    ]
    body = _BODIES[task.kind](task, shape, accounts)
    return "\n".join(header + body) + "\n"


def _all_regions(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> list[str]:
    return [
        "DefaultOrganizationBinding:",
        "  Account: '*'",
        "Resources:",
        "  Bucket:",
        "    Type: AWS::S3::Bucket",
        "    Properties:",
        f"      BucketName: !Sub '${{prefix}}-{task.slug}-${{AWS::AccountId}}-${{AWS::Region}}'",
        "      Tags:",
        "        - Key: team",
        "          Value: !GetAtt CurrentAccount.Tags.team",
        "  BucketNameParameter:",
        "    Type: AWS::SSM::Parameter",
        "    Properties:",
        f"      Name: /bench/{task.slug}/bucket-name",
        "      Type: String",
        "      Value: !Ref Bucket",
        "      Description: !Sub 'the bucket of ${CurrentAccount.AccountName}'",
        "Outputs:",
        "  BucketName:",
        "    Value: !Ref Bucket",
    ]


def _one_region(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> list[str]:
    return [
        "DefaultOrganizationBinding:",
        "  Account: '*'",
        f"  Region: {shape.region_names[0]}",
        "Resources:",
        "  ReadOnlyRole:",
        "    Type: AWS::IAM::Role",
        "    Properties:",
        f"      RoleName: !Sub '${{prefix}}-{task.slug}-read-only'",
        "      AssumeRolePolicyDocument:",
        "        Version: '2012-10-17'",
        "        Statement:",
        "          - Effect: Allow",
        "            Principal:",
        "              AWS: !Sub 'arn:aws:iam::${ManagementAccount}:root'",
        "            Action: sts:AssumeRole",
        "      ManagedPolicyArns:",
        "        - arn:aws:iam::aws:policy/ReadOnlyAccess",
        "      Tags:",
        "        - Key: environment",
        "          Value: !GetAtt CurrentAccount.Tags.environment",
    ]


def _environment(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> list[str]:
    return [
        "DefaultOrganizationBinding:",
        f"  OrganizationalUnit: !Ref {ou_name(task.environment)}",
        f"DefaultOrganizationBindingRegion: [{', '.join(shape.region_names)}]",
        "Resources:",
        "  ArtifactBucket:",
        "    Type: AWS::S3::Bucket",
        "    Properties:",
        f"      BucketName: !Sub '${{prefix}}-{task.slug}-${{AWS::AccountId}}-${{AWS::Region}}'",
        "      VersioningConfiguration:",
        "        Status: Enabled",
        "      Tags:",
        "        - Key: environment",
        "          Value: !GetAtt CurrentAccount.Tags.environment",
    ]


def _team(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> list[str]:
    members = [a.logical_id for a in accounts if a.team == task.team]
    return [
        "OrganizationBindings:",
        "  TeamBinding:",
        f"    Account: [{', '.join(f'!Ref {m}' for m in members)}]",
        f"    Region: [{', '.join(shape.two_regions)}]",
        "Resources:",
        "  AlertsTopic:",
        "    Type: AWS::SNS::Topic",
        "    OrganizationBinding: !Ref TeamBinding",
        "    Properties:",
        f"      TopicName: !Sub '${{prefix}}-{task.slug}-{task.team}-alerts'",
        "  AlertsTopicParameter:",
        "    Type: AWS::SSM::Parameter",
        "    OrganizationBinding: !Ref TeamBinding",
        "    Properties:",
        f"      Name: /bench/{task.slug}/alerts-topic",
        "      Type: String",
        "      Value: !Ref AlertsTopic",
    ]


def _central_loop(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> list[str]:
    members = [a.logical_id for a in accounts if a.team == task.team]
    readers = [logical_id for logical_id, _ in CENTRAL_ACCOUNTS] + [a.logical_id for a in accounts]
    readers = readers[:POLICY_ACCOUNTS]
    region = shape.region_names[0]
    return [
        "OrganizationBindings:",
        "  CentralBinding:",
        f"    Account: !Ref {CENTRAL}",
        f"    Region: {region}",
        "  ReaderBinding:",
        f"    Account: [{', '.join(f'!Ref {r}' for r in readers)}]",
        f"    Region: {region}",
        "Resources:",
        "  SharedBucket:",
        "    Type: AWS::S3::Bucket",
        "    OrganizationBinding: !Ref CentralBinding",
        "    Properties:",
        f"      BucketName: !Sub '${{prefix}}-{task.slug}-${{AWS::AccountId}}'",
        "  SharedBucketPolicy:",
        "    Type: AWS::S3::BucketPolicy",
        "    OrganizationBinding: !Ref CentralBinding",
        "    Properties:",
        "      Bucket: !Ref SharedBucket",
        "      PolicyDocument:",
        "        Version: '2012-10-17'",
        "        Statement:",
        "          - Effect: Allow",
        "            Principal:",
        "              AWS: Fn::EnumTargetAccounts ReaderBinding 'arn:aws:iam::${AccountId}:root'",
        "            Action: s3:GetObject",
        "            Resource: !Sub '${SharedBucket.Arn}/*'",
        "  TeamAccountParameter:",
        "    Type: AWS::SSM::Parameter",
        "    OrganizationBinding: !Ref CentralBinding",
        "    ForeachAccount:",
        f"      Account: [{', '.join(f'!Ref {m}' for m in members)}]",
        "    Properties:",
        f"      Name: !Sub '/bench/{task.slug}/accounts/${{CurrentAccount.AccountName}}'",
        "      Type: String",
        "      Value: !Ref CurrentAccount",
    ]


def _cross_account(task: Task, shape: Shape, accounts: Sequence[TeamAccount]) -> list[str]:
    region = shape.region_names[0]
    return [
        "OrganizationBindings:",
        "  CentralBinding:",
        f"    Account: !Ref {CENTRAL}",
        f"    Region: {region}",
        "  EveryAccountBinding:",
        "    Account: '*'",
        f"    Region: {region}",
        "Resources:",
        "  EventsTopic:",
        "    Type: AWS::SNS::Topic",
        "    OrganizationBinding: !Ref CentralBinding",
        "    Properties:",
        f"      TopicName: !Sub '${{prefix}}-{task.slug}-events'",
        "  EventsTopicArnParameter:",
        "    Type: AWS::SSM::Parameter",
        "    OrganizationBinding: !Ref EveryAccountBinding",
        "    Properties:",
        f"      Name: /bench/{task.slug}/events-topic-arn",
        "      Type: String",
        f"      Value: !GetAtt {CENTRAL}.Resources.EventsTopic.TopicArn",
    ]


_BODIES = {
    "all-regions": _all_regions,
    "one-region": _one_region,
    "environment": _environment,
    "team": _team,
    "central-loop": _central_loop,
    "cross-account": _cross_account,
}


def write_project(out: Path, shape: Shape) -> Path:
    """Write organization.yml, tasks.yml and templates/ into `out`; returns tasks.yml's path."""
    if shape.accounts <= len(CENTRAL_ACCOUNTS):
        raise ValueError(f"--accounts must be more than {len(CENTRAL_ACCOUNTS)} (central ones)")
    if not 1 <= shape.regions <= len(REGIONS):
        raise ValueError(f"--regions must be 1 to {len(REGIONS)}")
    if shape.tasks < 1:
        raise ValueError("--tasks must be at least 1")
    accounts = team_accounts(shape)
    tasks = plan_tasks(shape, accounts)
    templates = out / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    for stale in templates.glob("t*.yml"):
        stale.unlink()
    (out / "organization.yml").write_text(organization_yaml(shape, accounts), encoding="utf-8")
    for task in tasks:
        (templates / f"{task.slug}.yml").write_text(
            template_yaml(task, shape, accounts), encoding="utf-8"
        )
    tasks_path = out / "tasks.yml"
    tasks_path.write_text(task_file(shape, tasks), encoding="utf-8")
    return tasks_path


def count_stacks(tasks_path: Path) -> int:
    """Compile the project offline and count its stacks; raises StageError on any mistake."""
    from orgc.pipeline import compile_organization, render_stacks

    inputs = compile_organization(tasks_path, root=tasks_path.parent)
    ids: dict[str, dict[str, str | None]] = {
        "accounts": {
            logical_id: account.account_id
            for logical_id, account in inputs.organization.accounts.items()
        },
        "organizationalUnits": dict.fromkeys(inputs.organization.organizational_units),
        "policies": dict.fromkeys(inputs.organization.policies),
    }
    return len(render_stacks(inputs, ids, None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000, help="member accounts (default 1000)")
    parser.add_argument("--tasks", type=int, default=30, help="update-stacks tasks (default 30)")
    parser.add_argument("--regions", type=int, default=4, help="regions (default 4)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    args = parser.parse_args(argv)
    shape = Shape(accounts=args.accounts, tasks=args.tasks, regions=args.regions)
    try:
        tasks_path = write_project(args.out, shape)
    except ValueError as error:
        parser.error(str(error))
    from orgc.diagnostics import StageError

    try:
        stacks = count_stacks(tasks_path)
    except StageError as error:
        for diagnostic in error.diagnostics:
            print(diagnostic, file=sys.stderr)
        print(f"{tasks_path}: orgc does not accept the generated project", file=sys.stderr)
        return 1
    print(
        f"{tasks_path}: {shape.accounts} accounts, {shape.tasks} tasks, "
        f"{shape.regions} regions: {stacks} stacks"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
