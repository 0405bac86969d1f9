"""Credit a top-up (minimal: the payments work builds the real channels) and re-run the rules."""

from __future__ import annotations

from dataclasses import dataclass

from wattbook.application import ports
from wattbook.application._rules import apply_prepaid_rules
from wattbook.domain import ledger, prepaid
from wattbook.domain.values import AccountNumber, Money


@dataclass(frozen=True, slots=True, kw_only=True)
class TopUpResult:
    """The entry, the balance after it, and what the rules decided."""

    entry: ledger.Entry
    balance: Money
    commands: tuple[prepaid.Command, ...]


async def top_up(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    amount: Money,
    reference: str,
    note: str = "",
) -> TopUpResult:
    """Credit ``amount`` to the account and let the rules close the relay or re-arm the SMS.

    :raises UnknownAccount: if there is no such account.
    :raises ledger.DuplicateReference: if ``reference`` was credited before.
    :raises ledger.SignRuleViolated: if the amount is not positive.
    """
    now = clock.now()
    entry = ledger.Entry(
        account_number=number,
        reference=reference,
        kind=ledger.EntryKind.TOP_UP,
        amount=amount,
        at=now,
        note=note,
    )
    async with uow:
        await uow.accounts.get(number)
        balances = await uow.ledger.post((entry,))
        commands = await apply_prepaid_rules(uow, numbers=(number,), now=now)
        await uow.commit()
    return TopUpResult(entry=entry, balance=balances[number], commands=commands)
