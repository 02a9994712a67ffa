"""Templates that live outside the project: `Template: s3://bucket/key` or an https:// URL.

OrgFormation reads such a template when the task runs. orgc needs it to plan, so it is read
while the files are compiled, and only by plan and apply (and by render and graph when they
read the organization from AWS, as plan does): `orgc validate` makes no AWS call and
no network request, so there a remote template is not read (W451) unless a copy-to-s3 task of
the same files puts that very s3 object, whose LocalPath is then read instead (the object need
not exist before the first apply that puts it; plan and apply read the local file too, so a
template and the task that uploads it change together).

Reading is a read only: S3 GetObject with the management account's own credentials, or an
HTTPS GET; nothing is written before the plan is made and approved. Plain http:// is refused
(E451); `ORGC_ALLOW_LOOPBACK_HTTP=1` lets http:// to 127.0.0.1 or localhost through, which is
for tests against a local server. A read that fails is E450 at the task's Template.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orgc.diagnostics import Diagnostics, Span
from orgc.limits import limit
from orgc.load import LoadedFile, LoadOptions, decode_text, load_file, read_source, resolved

if TYPE_CHECKING:
    from orgc.provider import Provider

REMOTE_SCHEMES = ("s3://", "https://", "http://")
LOOPBACK_SWITCH = "ORGC_ALLOW_LOOPBACK_HTTP"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_TIMEOUT_SECONDS = 20.0


def is_remote(value: str) -> bool:
    return value.startswith(REMOTE_SCHEMES)


def location_problem(url: str) -> str | None:
    """Why `url` cannot be a template location, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc or not parts.path.strip("/"):
            return f"{url!r} names no object: write s3://bucket/key"
        return None
    if not parts.hostname:
        return f"{url!r} names no host"
    if parts.scheme == "http":
        loopback = parts.hostname in _LOOPBACK_HOSTS
        if not (loopback and os.environ.get(LOOPBACK_SWITCH) == "1"):
            return (
                f"{url!r} is plain http, which would carry the template unprotected; use "
                f"https:// (http:// to 127.0.0.1 is allowed with {LOOPBACK_SWITCH}=1, for tests)"
            )
    return None


def s3_parts(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, parts.path.lstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteTemplates:
    """How the compile reads remote templates: `provider` for S3 and HTTPS (None: offline,
    as validate is), and the files that copy-to-s3 tasks put, by s3 URL."""

    provider: Provider | None = None
    local_copies: Mapping[str, Path] = field(default_factory=dict)

    def with_copies(self, copies: Mapping[str, Path]) -> RemoteTemplates:
        return RemoteTemplates(provider=self.provider, local_copies=dict(copies))

    def read(
        self, url: str, where: Span | None, diagnostics: Diagnostics
    ) -> tuple[str, Path | None] | None:
        """The template's text and, when it was read from the project, the file it came from;
        None when it was not read (reported: W451 offline, E450 when the read failed)."""
        local = self.local_copies.get(url)
        if local is not None:
            text = read_source(local, where, diagnostics)
            return None if text is None else (text, local)
        if self.provider is None:
            diagnostics.add(
                "W451",
                f"{url} is read by plan and apply, not by validate, which calls no AWS and "
                "fetches nothing; it was not checked",
                where,
            )
            return None
        body = self._fetch(url, where, diagnostics)
        if body is None:
            return None
        most = limit("CLOUDFORMATION.templateBodyS3")
        if len(body) > most:
            diagnostics.add(
                "E450",
                f"{url} is {len(body):,} bytes, more than CloudFormation reads ({most:,})",
                where,
            )
            return None
        text = decode_text(body, url, where, diagnostics)
        return None if text is None else (text, None)

    def _fetch(self, url: str, where: Span | None, diagnostics: Diagnostics) -> bytes | None:
        from orgc.aws import AwsError

        assert self.provider is not None
        if url.startswith("s3://"):
            bucket, key = s3_parts(url)
            try:
                found = self.provider.get_object(bucket, key)
            except AwsError as error:
                diagnostics.add(
                    "E450",
                    f"cannot read {url} (S3 GetObject in the management account): "
                    f"{error.code}: {error.message}",
                    where,
                )
                return None
            if found is None:
                diagnostics.add(
                    "E450",
                    f"cannot read {url}: bucket {bucket} holds no object {key}; upload it, or "
                    "put it with a copy-to-s3 task of these files",
                    where,
                )
                return None
            return found[0]
        return _http_get(url, where, diagnostics)


def _http_get(url: str, where: Span | None, diagnostics: Diagnostics) -> bytes | None:
    most = limit("CLOUDFORMATION.templateBodyS3")
    request = urllib.request.Request(url, headers={"User-Agent": "orgc"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(most + 1)
    except urllib.error.HTTPError as error:
        diagnostics.add(
            "E450", f"cannot read {url}: the server answered {error.code} {error.reason}", where
        )
        return None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        diagnostics.add("E450", f"cannot read {url}: {reason}", where)
        return None
    return body


def remote_organization_path(root: Path) -> Path:
    """Where an organization file read from S3 is taken to lie (never written): at the project
    root, so that what it reads with !ReadFile or !Include is found as OrgFormation finds it."""
    return resolved(root) / "organization.remote.yml"


def organization_file_argument(value: str) -> Path | str:
    """--organization-file as given: a path, or an s3://bucket/key URL kept as text."""
    return value if value.startswith("s3://") else Path(value)


def load_remote_organization(
    url: str,
    remote: RemoteTemplates,
    options: LoadOptions,
    diagnostics: Diagnostics,
    *,
    where: Span | None = None,
) -> LoadedFile | None:
    """The organization file OrgFormation's `--organization-file s3://bucket/key` names, read
    through `remote` (S3 GetObject of the management account; not offline: W451) and loaded as
    if it lay at the project root, named by its URL in diagnostics. As in OrgFormation, it is
    not text templated. None when it cannot be read (reported)."""
    problem = location_problem(url)
    if problem is not None:
        diagnostics.add("E451", f"the organization file: {problem}", where)
        return None
    found = remote.read(url, where, diagnostics)
    if found is None:
        return None
    text, local = found
    path = local or remote_organization_path(options.root)
    return load_file(path, options, diagnostics, text=text, display=None if local else url)
