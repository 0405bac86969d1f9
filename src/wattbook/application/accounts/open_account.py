"""Open an account, with an opening balance or a migration credit (B8)."""

from __future__ import annotations

from datetime import datetime

from wattbook.application import ports
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import accounts, billing, ledger
from wattbook.domain.values import AccountNumber, Energy, Money


async def open_account(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    holder: accounts.Holder,
    phone: accounts.PhoneNumber | None,
    address: accounts.Address,
    opening_balance: Money | None = None,
    migration_energy: Energy | None = None,
    note: str = "",
) -> accounts.Account:
    """Open an account; post its opening balance and B8 migration credit, if any.

    The migration credit is priced at the tariff in force now and shown on statements as
    negative usage. References are derived from the account number, so opening the same
    account twice fails rather than crediting twice.

    :raises DuplicateAccount: if the number is taken.
    """
    now = clock.now()
    async with uow:
        account = accounts.open_account(
            number=number, holder=holder, phone=phone, address=address, at=now
        )
        await uow.accounts.add(account)
        tariffs = await uow.tariffs.history()
        await post_opening_amounts(
            uow,
            account=account,
            tariffs=tariffs,
            now=now,
            opening_balance=opening_balance,
            migration_energy=migration_energy,
            note=note,
        )
        await apply_prepaid_rules(uow, numbers=(number,), now=now, tariffs=tariffs)
        await uow.commit()
    return account


async def post_opening_amounts(
    uow: ports.UnitOfWork,
    *,
    account: accounts.Account,
    tariffs: billing.TariffHistory,
    now: datetime,
    opening_balance: Money | None,
    migration_energy: Energy | None,
    note: str,
) -> None:
    """Post a new account's opening balance and B8 migration credit, inside ``uow``.

    The migration credit is priced at the tariff in force ``now``. References are derived
    from the account number, so posting twice fails rather than crediting twice.
    """
    number = account.number
    entries: list[ledger.Entry] = []
    credit: accounts.MigrationCredit | None = None
    if opening_balance is not None and opening_balance:
        decision = accounts.opening_balance(
            account=account, amount=opening_balance, at=now, note=note
        )
        entries.append(ledger.entry_for_opening_balance(decision, reference=f"OPENING:{number}"))
    if migration_energy is not None:
        credit = accounts.migration_credit(
            account=account,
            energy=migration_energy,
            price=tariffs.at(now).reference_price,
            at=now,
            note=note,
        )
        entries.append(ledger.entry_for_migration_credit(credit, reference=f"MIGRATION:{number}"))
    if entries:
        await uow.ledger.post(entries)
    if credit is not None:
        await uow.ledger.record_migration_credit(credit, reference=f"MIGRATION:{number}")
