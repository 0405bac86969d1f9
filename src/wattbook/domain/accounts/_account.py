"""Accounts: opening, changes of holder/phone/address kept as history (A2), closing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from wattbook.domain.accounts._customer import Address, Holder, PhoneNumber
from wattbook.domain.accounts._errors import (
    AccountClosed,
    BalanceNotSettled,
    DocumentsRequired,
    OperatorRequired,
)
from wattbook.domain.values import OPERATOR_NAME_MAX, AccountNumber, Money, require_aware


class AccountStatus(StrEnum):
    """Whether an account is in use."""

    OPEN = "OPEN"
    CLOSED = "CLOSED"


class ChangeKind(StrEnum):
    """Which customer detail a history row changed."""

    HOLDER = "HOLDER"
    PHONE = "PHONE"
    ADDRESS = "ADDRESS"


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """A household's account; its number is the number of the meter first installed for it."""

    number: AccountNumber
    holder: Holder
    phone: PhoneNumber | None
    address: Address
    status: AccountStatus
    opened_at: datetime
    closed_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.opened_at)
        if (self.status is AccountStatus.CLOSED) != (self.closed_at is not None):
            raise ValueError("closed_at is set exactly when the account is closed")
        if self.closed_at is not None and require_aware(self.closed_at) < self.opened_at:
            raise ValueError("an account cannot close before it opens")

    @property
    def is_open(self) -> bool:
        """Test whether the account is open."""
        return self.status is AccountStatus.OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountChange:
    """One row of an account's history: what changed, from what, to what, on what evidence,
    and who made the change (the operator's name or login)."""

    account_number: AccountNumber
    kind: ChangeKind
    old_value: str | None
    new_value: str | None
    at: datetime
    changed_by: str
    document_note: str = ""
    attachment_ref: str = ""

    @property
    def event_name(self) -> str:
        """Return the dotted audit name, e.g. ``accounts.holder.changed``."""
        return f"accounts.{self.kind.value.lower()}.changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountUpdate:
    """The account after a change, and the history row that records it."""

    account: Account
    change: AccountChange


def open_account(
    *,
    number: AccountNumber,
    holder: Holder,
    phone: PhoneNumber | None,
    address: Address,
    at: datetime,
) -> Account:
    """Return a newly opened account.

    :raises NaiveDatetime: if ``at`` is naive.
    """
    return Account(
        number=number,
        holder=holder,
        phone=phone,
        address=address,
        status=AccountStatus.OPEN,
        opened_at=require_aware(at),
    )


def _require_open(account: Account) -> None:
    if not account.is_open:
        raise AccountClosed(str(account.number))


def _operator(changed_by: str) -> str:
    name = changed_by.strip()
    if not name:
        raise OperatorRequired("a change must say who made it")
    if len(name) > OPERATOR_NAME_MAX:
        raise OperatorRequired(f"an operator name is at most {OPERATOR_NAME_MAX} characters")
    return name


def change_holder(
    *,
    account: Account,
    holder: Holder,
    at: datetime,
    changed_by: str,
    document_note: str,
    attachment_ref: str,
) -> AccountUpdate:
    """Return the account with a new holder and the history row, which keeps the evidence.

    A change of holder needs documents (A2): the note says what was shown, the attachment
    reference points at the scanned copy.

    :raises AccountClosed: if the account is closed.
    :raises DocumentsRequired: if the note or the attachment reference is blank.
    :raises OperatorRequired: if ``changed_by`` is blank or too long.
    """
    _require_open(account)
    operator = _operator(changed_by)
    if not document_note.strip() or not attachment_ref.strip():
        raise DocumentsRequired("a change of holder needs a document note and an attachment")
    change = AccountChange(
        account_number=account.number,
        kind=ChangeKind.HOLDER,
        old_value=str(account.holder),
        new_value=str(holder),
        at=require_aware(at),
        changed_by=operator,
        document_note=document_note,
        attachment_ref=attachment_ref,
    )
    return AccountUpdate(account=replace(account, holder=holder), change=change)


def change_phone(
    *,
    account: Account,
    phone: PhoneNumber | None,
    at: datetime,
    changed_by: str,
    document_note: str = "",
    attachment_ref: str = "",
) -> AccountUpdate:
    """Return the account with a new (or no) phone number and the history row.

    :raises AccountClosed: if the account is closed.
    :raises OperatorRequired: if ``changed_by`` is blank or too long.
    """
    _require_open(account)
    operator = _operator(changed_by)
    change = AccountChange(
        account_number=account.number,
        kind=ChangeKind.PHONE,
        old_value=None if account.phone is None else str(account.phone),
        new_value=None if phone is None else str(phone),
        at=require_aware(at),
        changed_by=operator,
        document_note=document_note,
        attachment_ref=attachment_ref,
    )
    return AccountUpdate(account=replace(account, phone=phone), change=change)


def change_address(
    *,
    account: Account,
    address: Address,
    at: datetime,
    changed_by: str,
    document_note: str = "",
    attachment_ref: str = "",
) -> AccountUpdate:
    """Return the account with a new address and the history row.

    :raises AccountClosed: if the account is closed.
    :raises OperatorRequired: if ``changed_by`` is blank or too long.
    """
    _require_open(account)
    operator = _operator(changed_by)
    change = AccountChange(
        account_number=account.number,
        kind=ChangeKind.ADDRESS,
        old_value=str(account.address),
        new_value=str(address),
        at=require_aware(at),
        changed_by=operator,
        document_note=document_note,
        attachment_ref=attachment_ref,
    )
    return AccountUpdate(account=replace(account, address=address), change=change)


def close_account(*, account: Account, at: datetime, balance: Money) -> Account:
    """Return the account closed at ``at``.

    Money on a closed account would be stranded and arrears forgotten, so the balance must
    first be settled to zero (a refund or write-off is a ledger adjustment).

    :raises AccountClosed: if the account is already closed.
    :raises BalanceNotSettled: if the balance is not zero.
    """
    _require_open(account)
    if balance:
        raise BalanceNotSettled(f"account {account.number} still has a balance of {balance}")
    return replace(account, status=AccountStatus.CLOSED, closed_at=require_aware(at))
