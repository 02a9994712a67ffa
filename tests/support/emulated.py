"""Reading what the emulator holds with boto3 directly, never through orgc's own code, so that
a test checks orgc's effect and not orgc's reading of it.

Clients use the environment the `aws` fixture sets (the emulator's endpoint, fake credentials).
"""

from __future__ import annotations

from typing import Any

import boto3

MANAGEMENT_ACCOUNT_ID = "123456789012"
ACCESS_ROLE = "OrganizationAccountAccessRole"


def in_account(account_id: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client for `service` inside the account: through its access role, or with the
    base credentials for the management account."""
    session = boto3.Session()
    if account_id == MANAGEMENT_ACCOUNT_ID:
        return session.client(service, region_name=region)  # type: ignore[call-overload]
    credentials = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ACCESS_ROLE}", RoleSessionName="check"
    )["Credentials"]
    return session.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


# The groups the example organization in organization/ assigns permission sets to.
EXAMPLE_GROUPS = ("Platform", "Payments", "Search", "Data")


def create_groups(*names: str) -> dict[str, str]:
    """Groups created in the emulated identity store (as an identity provider's sync would), by
    display name → group id."""
    store_id = boto3.client("sso-admin", region_name="us-east-1").list_instances()["Instances"][0][
        "IdentityStoreId"
    ]
    identity = boto3.client("identitystore", region_name="us-east-1")
    return {
        name: identity.create_group(IdentityStoreId=store_id, DisplayName=name)["GroupId"]
        for name in names
    }
