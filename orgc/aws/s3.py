"""S3 verbs, always with the management account's own credentials: the state store and
CloudFormation templates too large to send inline."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from orgc.aws.errors import AwsError, PreconditionFailed
from orgc.aws.session import ProviderCore
from orgc.observed import BucketFacts, ObjectVersion

if TYPE_CHECKING:
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import PutObjectOutputTypeDef

# S3 answers a lost conditional write with 412, or 409 when another conditional write to the same
# key is in flight at that moment.
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
# What S3 answers for a bucket setting that was never made.
_NO_ENCRYPTION = "ServerSideEncryptionConfigurationNotFoundError"
_NO_PUBLIC_ACCESS_BLOCK = "NoSuchPublicAccessBlockConfiguration"
_NO_POLICY = "NoSuchBucketPolicy"
_PUBLIC_GROUPS = frozenset(
    {
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    }
)


class S3Verbs(ProviderCore):
    """Buckets and objects in the management account."""

    def ensure_bucket(self, bucket: str, region: str) -> None:
        """Make sure `bucket` exists in the credentials' account, versioned and not public.

        Idempotent: an existing bucket is left as it is.
        """
        s3 = self._s3(region)
        try:
            self._call("S3.HeadBucket", lambda: s3.head_bucket(Bucket=bucket))
        except AwsError as error:
            if error.code not in _MISSING_BUCKET_CODES:
                raise
        else:
            return
        self.create_bucket(bucket, region)

    def create_bucket(self, bucket: str, region: str) -> None:
        """Create `bucket` versioned, encrypted by default and with all public access blocked."""
        s3 = self._s3(region)
        try:
            if region == "us-east-1":
                # us-east-1 is S3's default location and refuses it as an explicit constraint.
                self._call("S3.CreateBucket", lambda: s3.create_bucket(Bucket=bucket))
            else:
                constraint = cast("BucketLocationConstraintType", region)
                self._call(
                    "S3.CreateBucket",
                    lambda: s3.create_bucket(
                        Bucket=bucket,
                        CreateBucketConfiguration={"LocationConstraint": constraint},
                    ),
                )
        except AwsError as error:
            # Another orgc run created it between our check and our create: configure it anyway,
            # the settings below are idempotent.
            if error.code != "BucketAlreadyOwnedByYou":
                raise
        self.enable_bucket_versioning(bucket, region)
        self.block_bucket_public_access(bucket, region)
        self.enable_bucket_encryption(bucket, region)

    def describe_bucket(
        self, bucket: str, region: str, *, setup: bool = True
    ) -> BucketFacts | None:
        """How `bucket` is set up, or None when no bucket of that name exists.

        Without `setup` the settings that only orgc's own setup makes (versioning, default
        encryption) are not read and stay at their defaults: what may make the bucket unsafe to
        read from (owner, public access, policy) is always read.

        Ownership is read from the caller's own bucket list (a bucket of another account can
        still answer HeadBucket when its policy lets the caller in). Public grants of the ACL
        are read only where the public access block does not make S3 ignore them, and S3's
        verdict on the policy only where the block does not restrict public policies: what S3
        does not honour cannot make the bucket public.
        """
        s3 = self._s3(region)
        listed = self._call("S3.ListBuckets", lambda: s3.list_buckets(Prefix=bucket))
        if bucket not in {b.get("Name") for b in listed.get("Buckets", [])}:
            owner = self.management_account_id()
            try:
                self._call(
                    "S3.HeadBucket",
                    lambda: s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner),
                )
            except AwsError as error:
                if error.code in _MISSING_BUCKET_CODES:
                    return None
                if error.code not in {"403", "AccessDenied"}:
                    raise
            # It exists (S3 answers, or says 403 rather than 404) but it is not the caller's.
            return BucketFacts(owned=False)
        versioning: Any = {}
        encrypted: Any = None
        if setup:
            versioning = self._call(
                "S3.GetBucketVersioning", lambda: s3.get_bucket_versioning(Bucket=bucket)
            )
            encrypted = self._bucket_setting(
                "S3.GetBucketEncryption",
                lambda: s3.get_bucket_encryption(Bucket=bucket),
                _NO_ENCRYPTION,
            )
        block = self._bucket_setting(
            "S3.GetPublicAccessBlock",
            lambda: s3.get_public_access_block(Bucket=bucket),
            _NO_PUBLIC_ACCESS_BLOCK,
        )
        flags = (
            {k: bool(v) for k, v in block["PublicAccessBlockConfiguration"].items()}
            if block is not None
            else None
        )
        grants: list[Any] = []
        if not (flags or {}).get("IgnorePublicAcls"):
            acl = self._call("S3.GetBucketAcl", lambda: s3.get_bucket_acl(Bucket=bucket))
            grants = list(acl.get("Grants", []))
        policy = self._bucket_setting(
            "S3.GetBucketPolicy", lambda: s3.get_bucket_policy(Bucket=bucket), _NO_POLICY
        )
        status = (
            self._bucket_setting(
                "S3.GetBucketPolicyStatus",
                lambda: s3.get_bucket_policy_status(Bucket=bucket),
                _NO_POLICY,
            )
            if policy is not None and not (flags or {}).get("RestrictPublicBuckets")
            else None
        )
        try:
            document = json.loads(policy["Policy"]) if policy is not None else None
        except ValueError:
            document = {"unreadable": policy["Policy"] if policy is not None else ""}
        return BucketFacts(
            owned=True,
            versioning=str(versioning.get("Status", "")),
            encrypted=bool(
                encrypted and encrypted["ServerSideEncryptionConfiguration"].get("Rules")
            ),
            public_access_block=flags,
            public_grants=tuple(
                sorted(
                    str(grant.get("Permission"))
                    for grant in grants
                    if grant.get("Grantee", {}).get("URI") in _PUBLIC_GROUPS
                )
            ),
            policy=document if isinstance(document, dict) else None,
            policy_public=bool(status and status["PolicyStatus"].get("IsPublic")),
        )

    def _bucket_setting(self, operation: str, request: Any, missing_code: str) -> Any:
        """The answer of a bucket-setting read, or None when the setting was never made."""
        try:
            return self._call(operation, request)
        except AwsError as error:
            if error.code == missing_code:
                return None
            raise

    def enable_bucket_versioning(self, bucket: str, region: str) -> None:
        s3 = self._s3(region)
        self._call(
            "S3.PutBucketVersioning",
            lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
        )

    def block_bucket_public_access(self, bucket: str, region: str) -> None:
        s3 = self._s3(region)
        self._call(
            "S3.PutPublicAccessBlock",
            lambda: s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            ),
        )

    def enable_bucket_encryption(self, bucket: str, region: str) -> None:
        """Default encryption with S3-managed keys (SSE-S3)."""
        s3 = self._s3(region)
        self._call(
            "S3.PutBucketEncryption",
            lambda: s3.put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
            ),
        )

    def list_object_versions(self, bucket: str, key: str) -> list[ObjectVersion]:
        """Every stored version of `key` (not its delete markers), newest first."""
        s3 = self._s3(self._region)
        versions: list[ObjectVersion] = []
        paginator = s3.get_paginator("list_object_versions")

        def read() -> None:
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                for entry in page.get("Versions", []):
                    if entry.get("Key") != key:
                        continue
                    versions.append(
                        ObjectVersion(
                            version_id=str(entry.get("VersionId")),
                            last_modified=entry["LastModified"].isoformat(timespec="seconds"),
                            size=int(entry.get("Size", 0)),
                            latest=bool(entry.get("IsLatest")),
                        )
                    )

        self._call("S3.ListObjectVersions", read)
        return versions  # S3 lists the versions of a key newest first

    def get_object_version(self, bucket: str, key: str, version_id: str) -> bytes | None:
        """The body of one version of an object, or None when there is no such version."""
        s3 = self._s3(self._region)

        def read() -> bytes:
            response = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
            return response["Body"].read()

        try:
            return self._call("S3.GetObject", read)
        except AwsError as error:
            if error.code in {"NoSuchKey", "NoSuchVersion", "InvalidArgument", "404"}:
                return None
            raise

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str] | None:
        """(body, ETag) of an object, or None when the key does not exist.

        A missing bucket raises `AwsError` with code `NoSuchBucket`.
        """
        s3 = self._s3(self._region)

        def read() -> tuple[bytes, str]:
            response = s3.get_object(Bucket=bucket, Key=key)
            return response["Body"].read(), response["ETag"]

        try:
            return self._call("S3.GetObject", read)
        except AwsError as error:
            if error.code == "NoSuchKey":
                return None
            raise

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        """Write an object; return its new ETag.

        `if_match` writes only over that exact version (ETag); `if_none_match` writes only when
        the key does not exist. A lost condition raises `PreconditionFailed`.
        """
        if if_match is not None and if_none_match:
            raise ValueError("if_match and if_none_match are exclusive")
        s3 = self._s3(self._region)
        operation = "S3.PutObject"

        def request() -> PutObjectOutputTypeDef:
            if if_match is not None:
                return s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=if_match)
            if if_none_match:
                return s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return s3.put_object(Bucket=bucket, Key=key, Body=body)

        try:
            response = self._call(operation, request)
        except AwsError as error:
            # With IfMatch, a key that vanished is a lost condition too (S3 says NoSuchKey).
            lost = error.code in _PRECONDITION_CODES or (
                if_match is not None and error.code == "NoSuchKey"
            )
            if lost:
                raise PreconditionFailed(
                    code=error.code, operation=operation, message=error.message
                ) from error
            raise
        return response["ETag"]

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete an object (a no-op for a missing key, as in S3)."""
        s3 = self._s3(self._region)
        self._call("S3.DeleteObject", lambda: s3.delete_object(Bucket=bucket, Key=key))

    def put_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        body: bytes,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
        server_side_encryption: str | None = None,
    ) -> str:
        """Put an object with the management account's own credentials, or as `account_id`
        through `role_name` (with the ACL bucket-owner-full-control, so that the bucket's owner
        may read what another account put); return its ETag."""
        s3 = self._s3_as(region, account_id, role_name)
        request: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body}
        if account_id is not None:
            request["ACL"] = "bucket-owner-full-control"
        if server_side_encryption:
            request["ServerSideEncryption"] = server_side_encryption
        response = self._call(
            "S3.PutObject", lambda: s3.put_object(**request), account_id=account_id
        )
        return cast(str, response["ETag"])

    def delete_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> None:
        """Delete a copy-to-s3 object with the credentials it was put with."""
        s3 = self._s3_as(region, account_id, role_name)
        self._call(
            "S3.DeleteObject",
            lambda: s3.delete_object(Bucket=bucket, Key=key),
            account_id=account_id,
        )

    def _s3_as(self, region: str, account_id: str | None, role_name: str | None) -> Any:
        if account_id is None or role_name is None:
            return self._s3(region)
        return self._in_account("s3", region, account_id, role_name)

    def head_s3_object(
        self,
        *,
        bucket: str,
        key: str,
        region: str,
        account_id: str | None = None,
        role_name: str | None = None,
    ) -> str | None:
        """The object's ETag, or None when it does not exist."""
        s3 = self._s3_as(region, account_id, role_name)
        try:
            response = self._call(
                "S3.HeadObject",
                lambda: s3.head_object(Bucket=bucket, Key=key),
                account_id=account_id,
            )
        except AwsError as error:
            # HEAD has no body, so S3 can say no more than "404" for a missing key or bucket.
            if error.code in _MISSING_OBJECT_CODES:
                return None
            raise
        return cast(str, response["ETag"])
