"""Verbs inside an account: its IAM alias and password policy, through the account's role
(the management account with the base credentials)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orgc.aws.errors import AwsError
from orgc.aws.session import ACCESS_DENIED_CODES, ProviderCore
from orgc.observed import PasswordPolicySettings

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import PasswordPolicyTypeDef


class AccountVerbs(ProviderCore):
    """IAM settings of one account, read and written inside it."""

    def set_password_policy(
        self, account_id: str, role_name: str, settings: PasswordPolicySettings | None
    ) -> None:
        """Make the account's IAM password policy `settings`; None removes it (idempotent).

        IAM resets every setting left out of an update to its default, so the whole policy is
        sent each time.
        """
        iam = self._iam(account_id, role_name)
        if settings is None:
            try:
                self._call("IAM.DeleteAccountPasswordPolicy", iam.delete_account_password_policy)
            except AwsError as error:
                if error.code != "NoSuchEntity":
                    raise
            return
        optional: dict[str, int] = {}
        if settings.max_password_age is not None:
            optional["MaxPasswordAge"] = settings.max_password_age
        if settings.password_reuse_prevention is not None:
            optional["PasswordReusePrevention"] = settings.password_reuse_prevention
        self._call(
            "IAM.UpdateAccountPasswordPolicy",
            lambda: iam.update_account_password_policy(
                MinimumPasswordLength=settings.minimum_password_length,
                RequireSymbols=settings.require_symbols,
                RequireNumbers=settings.require_numbers,
                RequireUppercaseCharacters=settings.require_uppercase_characters,
                RequireLowercaseCharacters=settings.require_lowercase_characters,
                AllowUsersToChangePassword=settings.allow_users_to_change_password,
                HardExpiry=settings.hard_expiry,
                **optional,
            ),
        )

    def set_account_alias(self, account_id: str, role_name: str, alias: str | None) -> None:
        """Make the account's IAM alias `alias` (None: no alias).

        An account has at most one alias: the old one is deleted before the new one is created.
        Nothing is called beyond the read when the alias is already right.
        """
        iam = self._iam(account_id, role_name)
        current = self._list_aliases(iam)
        if current == ([alias] if alias is not None else []):
            return
        for old in current:
            self._delete_alias(iam, old)
        if alias is not None:
            self._call(
                "IAM.CreateAccountAlias", lambda: iam.create_account_alias(AccountAlias=alias)
            )

    def _delete_alias(self, iam: IAMClient, alias: str) -> None:
        try:
            self._call(
                "IAM.DeleteAccountAlias", lambda: iam.delete_account_alias(AccountAlias=alias)
            )
        except AwsError as error:
            if error.code != "NoSuchEntity":
                raise

    # --- reading ----------------------------------------------------------------------------

    def _read_account_details(
        self, account_id: str, role_name: str, management_id: str
    ) -> tuple[str | None, PasswordPolicySettings | None, bool]:
        """(alias, password policy, details_read) read inside the account."""
        try:
            iam = self._iam(account_id, role_name)
            aliases = self._list_aliases(iam)
            policy = self._get_password_policy(iam)
        except AwsError as error:
            # An account orgc cannot reach (an invited account without the role, a role that
            # denies IAM reads) is reported as unread rather than failing the whole read; the
            # management account is always reachable, so a denial there is a real error.
            if error.code in ACCESS_DENIED_CODES and account_id != management_id:
                return None, None, False
            raise
        return (aliases[0] if aliases else None), policy, True

    def _list_aliases(self, iam: IAMClient) -> list[str]:
        return self._call(
            "IAM.ListAccountAliases",
            lambda: [
                alias
                for page in iam.get_paginator("list_account_aliases").paginate()
                for alias in page["AccountAliases"]
            ],
        )

    def _get_password_policy(self, iam: IAMClient) -> PasswordPolicySettings | None:
        try:
            response = self._call("IAM.GetAccountPasswordPolicy", iam.get_account_password_policy)
        except AwsError as error:
            if error.code == "NoSuchEntity":
                return None
            raise
        return _password_policy_settings(response["PasswordPolicy"])


def _password_policy_settings(policy: PasswordPolicyTypeDef) -> PasswordPolicySettings:
    defaults = PasswordPolicySettings()
    return PasswordPolicySettings(
        minimum_password_length=policy.get(
            "MinimumPasswordLength", defaults.minimum_password_length
        ),
        require_symbols=policy.get("RequireSymbols", False),
        require_numbers=policy.get("RequireNumbers", False),
        require_uppercase_characters=policy.get("RequireUppercaseCharacters", False),
        require_lowercase_characters=policy.get("RequireLowercaseCharacters", False),
        allow_users_to_change_password=policy.get("AllowUsersToChangePassword", False),
        # IAM reports 0 (or leaves the field out) for "never expires" / "no reuse check".
        max_password_age=policy.get("MaxPasswordAge") or None,
        password_reuse_prevention=policy.get("PasswordReusePrevention") or None,
        hard_expiry=policy.get("HardExpiry", False),
    )
