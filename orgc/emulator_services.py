"""Trusted access, delegated administrators and account names for the embedded emulator.

moto 5.2.5 keeps trusted service access and delegated administrators as AWS does for the calls
orgc makes (enable, disable, list; register, deregister, list by account and by principal), but
it accepts a delegated administrator for six services only (Config, GuardDuty, Access Analyzer,
Macie, Service Catalog, Systems Manager) and trusted access for its own list of principals.
`teach_service_principals()` extends both lists with the principals of
orgc/data/service_principals.json (administrators only where that file says AWS takes one), so
that Security Hub, Inspector, Detective and the rest can be delegated on the emulator too.

moto has no `PutAccountName` (Account Management API): `teach_service_principals()` adds it,
renaming the account in moto's Organizations backend (the management account's own without an
AccountId), so a rename applied by orgc is what ListAccounts reports afterwards.

What the emulator still does not prove: it accepts an administrator for a service whose trusted
access is off, and disabling access under a registered administrator; orgc's plan orders both
(`after`), and the in-memory fake of the test suite refuses them, so the order is proved there.
Like the StackSet patches (orgc.emulator_stacksets), this names moto's internals and refuses any
other moto version; the server process applies it before it serves.
"""

from __future__ import annotations

from typing import Any

from orgc.emulator_stacksets import patches_moto


@patches_moto
def teach_service_principals() -> None:
    """Patch moto, in this process, to accept every principal orgc knows. Applying it twice
    is applying it once. Raises UnsupportedMoto for any other moto version."""
    from moto.organizations import models

    from orgc.services import known_principals  # here: the server needs it once, at start

    known = known_principals()
    trusted = models.FakeServiceAccess.TRUSTED_SERVICES
    trusted.extend(sorted(set(known) - set(trusted)))
    delegable = models.FakeDelegatedAdministrator.SUPPORTED_SERVICES
    delegable.extend(
        sorted({p for p, k in known.items() if k.delegated_administration} - set(delegable))
    )
    _teach_account_names()


def _teach_account_names() -> None:
    from moto.account import responses, urls
    from moto.core.responses import EmptyResult
    from moto.organizations.models import organizations_backends

    def put_account_name(self: Any) -> Any:
        account_id = self._get_param("AccountId") or self.current_account
        backend = organizations_backends[self.current_account][self.partition]
        backend.get_account_by_id(account_id).name = self._get_param("AccountName")
        return EmptyResult()

    setattr(responses.AccountResponse, "put_account_name", put_account_name)  # noqa: B010 - moto looks the action up by name
    urls.url_paths["{0}/putAccountName$"] = responses.AccountResponse.dispatch
