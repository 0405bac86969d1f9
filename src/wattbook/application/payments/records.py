"""Payment records (P5) for the portal and the console: the read side of payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from wattbook.application import read_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments.ports import Receipt, receipt_for
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money, local_date


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentRecord:
    """One line of the payment records: business type, date, amounts, method, cumulative."""

    receipt_number: str
    kind: payments.PaymentKind
    channel: payments.Channel
    at_date: date
    amount_due: Money
    amount_paid: Money
    balance_after: Money
    cumulative_paid: Money
    payment: payment_ports.Payment


def amount_due(payment: payment_ports.Payment) -> Money:
    """Return what the account owed when ``payment`` came: its arrears, zero when in credit."""
    return max(-payment.balance_before, Money.zero())


async def payment_records(
    *,
    uow: read_ports.ReadOnlyUnitOfWork,
    number: AccountNumber,
    first_date: date | None = None,
    last_date: date | None = None,
) -> tuple[PaymentRecord, ...]:
    """Return the account's payment records between two local dates, oldest first.

    The amount due is what the account owed when the money came (the arrears, zero when in
    credit); the cumulative amount paid counts every payment since the account opened,
    corrections included (a refund or a move out lowers it).

    :raises UnknownAccount: if there is no such account.
    """
    async with uow:
        await uow.accounts.get(number)
        history = await uow.payments.history(number, first_date=first_date, last_date=last_date)
        cumulative = (
            await uow.payments.paid_before(number, before=history[0].at)
            if history
            else Money.zero()
        )
    records: list[PaymentRecord] = []
    for payment in history:
        cumulative = cumulative + payment.amount
        records.append(
            PaymentRecord(
                receipt_number=str(payment.receipt_number),
                kind=payment.kind,
                channel=payment.channel,
                at_date=local_date(payment.at),
                amount_due=amount_due(payment),
                amount_paid=payment.amount,
                balance_after=payment.balance_after,
                cumulative_paid=cumulative,
                payment=payment,
            )
        )
    return tuple(records)


async def receipt(*, uow: read_ports.ReadOnlyUnitOfWork, receipt_number: str) -> Receipt:
    """Return a receipt to show (not a reprint: nothing is recorded).

    :raises payments.UnknownReceipt: if there is none.
    """
    async with uow:
        payment = await uow.payments.by_receipt(receipt_number)
        account = await uow.accounts.get(payment.account_number)
    return receipt_for(payment, account)
