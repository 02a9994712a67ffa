"""S3 verbs, always with the management account's own credentials: the state store and
CloudFormation templates too large to send inline."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from orgc.aws.errors import AwsError, PreconditionFailed
from orgc.aws.session import ProviderCore

if TYPE_CHECKING:
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import PutObjectOutputTypeDef

# S3 answers a lost conditional write with 412, or 409 when another conditional write to the same
# key is in flight at that moment.
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


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
        self._call(
            "S3.PutBucketVersioning",
            lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
        )
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

    def put_s3_object(self, *, bucket: str, key: str, body: bytes, region: str) -> str:
        """Put an object with the management account's own credentials; return its ETag."""
        s3 = self._s3(region)
        response = self._call(
            "S3.PutObject", lambda: s3.put_object(Bucket=bucket, Key=key, Body=body)
        )
        return response["ETag"]

    def head_s3_object(self, *, bucket: str, key: str, region: str) -> str | None:
        """The object's ETag, or None when it does not exist."""
        s3 = self._s3(region)
        try:
            response = self._call("S3.HeadObject", lambda: s3.head_object(Bucket=bucket, Key=key))
        except AwsError as error:
            # HEAD has no body, so S3 can say no more than "404" for a missing key or bucket.
            if error.code in _MISSING_OBJECT_CODES:
                return None
            raise
        return response["ETag"]
