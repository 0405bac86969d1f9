"""Change an account's holder, phone or address, keeping the history (A2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from wattbook.application import ports
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber


async def _change(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    change: Callable[[accounts.Account, datetime], accounts.AccountUpdate],
) -> accounts.Account:
    """Load the account, apply one domain change, save it with its history row, commit."""
    async with uow:
        update = change(await uow.accounts.get(number), clock.now())
        await uow.accounts.save(update)
        await uow.commit()
    return update.account


async def change_holder(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    holder: accounts.Holder,
    changed_by: str,
    document_note: str,
    attachment_ref: str,
) -> accounts.Account:
    """Change the holder; the documents shown are kept with the history row.

    :raises UnknownAccount: if there is no such account.
    :raises accounts.DocumentsRequired: if the note or the attachment is blank.
    :raises accounts.AccountClosed: if the account is closed.
    :raises accounts.OperatorRequired: if ``changed_by`` (who made the change) is blank.
    """
    return await _change(
        uow=uow,
        clock=clock,
        number=number,
        change=lambda account, at: accounts.change_holder(
            account=account,
            holder=holder,
            at=at,
            changed_by=changed_by,
            document_note=document_note,
            attachment_ref=attachment_ref,
        ),
    )


async def change_phone(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    phone: accounts.PhoneNumber | None,
    changed_by: str,
    document_note: str = "",
) -> accounts.Account:
    """Change (or remove) the phone number that receives SMS.

    :raises UnknownAccount: if there is no such account.
    :raises accounts.AccountClosed: if the account is closed.
    :raises accounts.OperatorRequired: if ``changed_by`` (who made the change) is blank.
    """
    return await _change(
        uow=uow,
        clock=clock,
        number=number,
        change=lambda account, at: accounts.change_phone(
            account=account,
            phone=phone,
            at=at,
            changed_by=changed_by,
            document_note=document_note,
        ),
    )


async def change_address(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    address: accounts.Address,
    changed_by: str,
    document_note: str = "",
) -> accounts.Account:
    """Change the address.

    :raises UnknownAccount: if there is no such account.
    :raises accounts.AccountClosed: if the account is closed.
    :raises accounts.OperatorRequired: if ``changed_by`` (who made the change) is blank.
    """
    return await _change(
        uow=uow,
        clock=clock,
        number=number,
        change=lambda account, at: accounts.change_address(
            account=account,
            address=address,
            at=at,
            changed_by=changed_by,
            document_note=document_note,
        ),
    )
