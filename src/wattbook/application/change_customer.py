"""Change an account's holder, phone or address, keeping the history (A2)."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber


async def change_holder(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    holder: accounts.Holder,
    document_note: str,
    attachment_ref: str,
) -> accounts.Account:
    """Change the holder; the documents shown are kept with the history row.

    :raises UnknownAccount: if there is no such account.
    :raises accounts.DocumentsRequired: if the note or the attachment is blank.
    :raises accounts.AccountClosed: if the account is closed.
    """
    async with uow:
        account = await uow.accounts.get(number)
        update = accounts.change_holder(
            account=account,
            holder=holder,
            at=clock.now(),
            document_note=document_note,
            attachment_ref=attachment_ref,
        )
        await uow.accounts.save(update)
        await uow.commit()
    return update.account


async def change_phone(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    phone: accounts.PhoneNumber | None,
    document_note: str = "",
) -> accounts.Account:
    """Change (or remove) the phone number that receives SMS.

    :raises UnknownAccount: if there is no such account.
    :raises accounts.AccountClosed: if the account is closed.
    """
    async with uow:
        account = await uow.accounts.get(number)
        update = accounts.change_phone(
            account=account, phone=phone, at=clock.now(), document_note=document_note
        )
        await uow.accounts.save(update)
        await uow.commit()
    return update.account


async def change_address(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    address: accounts.Address,
    document_note: str = "",
) -> accounts.Account:
    """Change the address.

    :raises UnknownAccount: if there is no such account.
    :raises accounts.AccountClosed: if the account is closed.
    """
    async with uow:
        account = await uow.accounts.get(number)
        update = accounts.change_address(
            account=account, address=address, at=clock.now(), document_note=document_note
        )
        await uow.accounts.save(update)
        await uow.commit()
    return update.account
