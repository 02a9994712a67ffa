"""What a plan reads: requests and wall clock of a default plan and a --refresh plan, by size.

For each size an organization of that many member accounts is applied on a fresh emulated
organization (moto on 127.0.0.1, started here): four OUs under the root, the accounts spread over
them, three SCPs (one on the root, two on OUs). Then, from the state that apply wrote, a default
plan (the guardrails compared live, per-account settings taken from the state) and a --refresh
plan (everything read, inside every account too) are made, each with a provider of its own so its
requests (AwsProvider.call_counts(): every page and every assumed role counts) and its wall clock
are its alone. Both must find nothing to change.

With --contacts the organization also declares trusted access for Account Management and a
security contact on the root, which every account inherits (a call per contact type per
account to read).

usage: plan_reads.py [--sizes 50,200,1000] [--contacts] [--out benchmarks/out/plan_reads.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from orgc.aws import AwsProvider
from orgc.emulator import Emulator, apply_emulator_environment
from orgc.pipeline import compile_organization, make_plan, plan_and_apply
from orgc.state import LocalStateStore

_OUS = ("security", "prod", "staging", "sandbox")
_DENY_LEAVE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}],
}
_DENY_ROOT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}},
        }
    ],
}
_DENY_REGIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "NotAction": ["iam:*", "organizations:*", "sts:*"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}},
        }
    ],
}


_CONTACTS = [
    "  AccountManagement:",
    "    Type: Orgc::ORG::ServiceAccess",
    "    Properties: {ServicePrincipal: account.amazonaws.com}",
    "  SecurityContact:",
    "    Type: Orgc::ORG::AlternateContacts",
    "    Properties:",
    "      Targets: !Ref Root",
    "      Security: {Name: Security team, Title: CISO, EmailAddress: security@example.com, "
    "PhoneNumber: '+1 555 0100'}",
]


def organization_file(accounts: int, *, contacts: bool = False) -> str:
    """An organization of `accounts` member accounts in four OUs, with three SCPs (and with
    `contacts`, a security contact on the root)."""
    lines = [
        "AWSTemplateFormatVersion: '2010-09-09-OC'",
        "Organization:",
        "  Management:",
        "    Type: OC::ORG::MasterAccount",
        "    Properties: {AccountName: master, AccountId: '123456789012', "
        "RootEmail: management@example.com}",
        "  Root:",
        "    Type: OC::ORG::OrganizationRoot",
        "    Properties: {ServiceControlPolicies: [!Ref DenyLeaveSCP]}",
    ]
    for index, name in enumerate(_OUS):
        members = [f"Account{n:04d}" for n in range(accounts) if n % len(_OUS) == index]
        scp = {"prod": "DenyRootSCP", "sandbox": "DenyRegionsSCP"}.get(name)
        lines += [
            f"  {name.title()}OU:",
            "    Type: OC::ORG::OrganizationalUnit",
            "    Properties:",
            f"      OrganizationalUnitName: {name}",
            f"      Accounts: [{', '.join(f'!Ref {m}' for m in members)}]",
        ]
        if scp:
            lines.append(f"      ServiceControlPolicies: !Ref {scp}")
    for n in range(accounts):
        lines += [
            f"  Account{n:04d}:",
            "    Type: OC::ORG::Account",
            f"    Properties: {{AccountName: account-{n:04d}, "
            f"RootEmail: account-{n:04d}@example.com, Tags: {{team: team-{n % 20:02d}}}}}",
        ]
    for logical_id, name, document in (
        ("DenyLeaveSCP", "deny-leave", _DENY_LEAVE),
        ("DenyRootSCP", "deny-root-user", _DENY_ROOT),
        ("DenyRegionsSCP", "deny-regions", _DENY_REGIONS),
    ):
        lines += [
            f"  {logical_id}:",
            "    Type: OC::ORG::ServiceControlPolicy",
            f"    Properties: {{PolicyName: {name}, PolicyDocument: {json.dumps(document)}}}",
        ]
    if contacts:
        lines += _CONTACTS
    return "\n".join(lines) + "\n"


def measure(emulator: Emulator, accounts: int, folder: Path, *, contacts: bool) -> dict[str, Any]:
    emulator.reset()
    emulator.bootstrap()
    (folder / "organization.yml").write_text(
        organization_file(accounts, contacts=contacts), encoding="utf-8"
    )
    store = LocalStateStore(folder / "state.json")
    inputs = compile_organization(folder / "organization.yml")
    started = time.monotonic()
    _, result = plan_and_apply(
        inputs, AwsProvider(endpoint_url=emulator.endpoint), store, confirm=lambda _: True
    )
    applied = time.monotonic() - started
    if result is None or not result.ok:
        raise SystemExit(f"apply of {accounts} accounts failed: {result}")
    row: dict[str, Any] = {"accounts": accounts, "apply_seconds": round(applied, 1)}
    for name, refresh in (("default", False), ("refresh", True)):
        provider = AwsProvider(endpoint_url=emulator.endpoint)
        started = time.monotonic()
        plan = make_plan(inputs, provider, store.read(), refresh=refresh)
        seconds = time.monotonic() - started
        if plan.changes:
            raise SystemExit(f"the {name} plan of {accounts} accounts is not empty")
        calls = provider.call_counts()
        row[name] = {
            "requests": sum(calls.values()),
            "seconds": round(seconds, 2),
            "by_operation": dict(sorted(calls.items())),
        }
    return row


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| accounts | default plan: requests | default plan: wall | --refresh: requests "
        "| --refresh: wall |",
        "|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {r['accounts']:,} | {r['default']['requests']:,} | {r['default']['seconds']:.2f} s "
        f"| {r['refresh']['requests']:,} | {r['refresh']['seconds']:.2f} s |"
        for r in rows
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--contacts", action="store_true", help="declare alternate contacts")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/plan_reads.json"))
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    with Emulator() as emulator, tempfile.TemporaryDirectory() as scratch:
        apply_emulator_environment(emulator.endpoint)
        for accounts in sizes:
            folder = Path(scratch) / str(accounts)
            folder.mkdir()
            rows.append(measure(emulator, accounts, folder, contacts=args.contacts))
            print(f"{accounts} accounts: {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
