"""The errors the accounts package raises on purpose."""

from __future__ import annotations


class AccountError(Exception):
    """Base of the anticipated account failures."""


class AccountClosed(AccountError):
    """Raise when a closed account is asked to change."""

    def __init__(self, account_number: str) -> None:
        super().__init__(f"account {account_number} is closed")
        self.account_number = account_number


class DocumentsRequired(AccountError):
    """Raise when a change of holder lacks its document note or attachment reference (A2)."""


class BalanceNotSettled(AccountError):
    """Raise when an account with a non-zero balance is to be closed."""


class InvalidHolder(AccountError, ValueError):
    """Raise when a holder name is blank, too long or has control characters."""


class InvalidPhoneNumber(AccountError, ValueError):
    """Raise when a phone number is not an 11-digit mainland mobile number."""


class InvalidAddress(AccountError, ValueError):
    """Raise when an address is blank, too long or has control characters."""


class MeterNotOnAccount(AccountError):
    """Raise when a meter operation names a meter that is not installed on the account."""


class OperatorRequired(AccountError, ValueError):
    """Raise when a change does not say who made it (A2, A4)."""
