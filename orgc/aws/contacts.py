"""Account Management verbs: the alternate contacts and names of accounts, set through the
management account (`AccountId=` names a member account; the management account itself is addressed
without it, as AWS requires)."""

from __future__ import annotations

from typing import Any

from orgc.aws.errors import AwsError
from orgc.aws.session import ProviderCore
from orgc.observed import CONTACT_TYPES, ContactDetails


def _account_param(account_id: str | None) -> dict[str, str]:
    return {} if account_id is None else {"AccountId": account_id}


class ContactVerbs(ProviderCore):
    def _account(self) -> Any:
        return self._client("account", self._region, None, None)

    def get_alternate_contacts(self, account_id: str | None) -> dict[str, ContactDetails]:
        client = self._account()
        found: dict[str, ContactDetails] = {}
        for contact_type in CONTACT_TYPES:
            contact = self._get_contact(client, account_id, contact_type)
            if contact is None:
                continue
            found[contact_type] = ContactDetails(
                name=contact.get("Name", ""),
                title=contact.get("Title", ""),
                email_address=contact.get("EmailAddress", ""),
                phone_number=contact.get("PhoneNumber", ""),
            )
        return found

    def _get_contact(
        self, client: Any, account_id: str | None, contact_type: str
    ) -> dict[str, Any] | None:
        """The contact of one type, or None when the account has none."""
        try:
            response: dict[str, Any] = self._call(
                "Account.GetAlternateContact",
                lambda: client.get_alternate_contact(
                    AlternateContactType=contact_type, **_account_param(account_id)
                ),
            )
        except AwsError as error:
            if error.code != "ResourceNotFoundException":
                raise
            return None
        contact: dict[str, Any] = response["AlternateContact"]
        return contact

    def put_alternate_contact(
        self, account_id: str | None, contact_type: str, details: ContactDetails
    ) -> None:
        client = self._account()
        self._call(
            "Account.PutAlternateContact",
            lambda: client.put_alternate_contact(
                AlternateContactType=contact_type,
                Name=details.name,
                Title=details.title,
                EmailAddress=details.email_address,
                PhoneNumber=details.phone_number,
                **_account_param(account_id),
            ),
        )

    def delete_alternate_contact(self, account_id: str | None, contact_type: str) -> None:
        client = self._account()
        try:
            self._call(
                "Account.DeleteAlternateContact",
                lambda: client.delete_alternate_contact(
                    AlternateContactType=contact_type, **_account_param(account_id)
                ),
            )
        except AwsError as error:
            if error.code != "ResourceNotFoundException":  # gone already: what was asked
                raise

    def rename_account(self, account_id: str | None, name: str) -> None:
        client = self._account()
        self._call(
            "Account.PutAccountName",
            lambda: client.put_account_name(AccountName=name, **_account_param(account_id)),
        )
