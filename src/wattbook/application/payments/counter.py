"""The counter (P1): staff take cash during working hours, or when an administrator opened it."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments._credit import TopUp, credit_top_ups
from wattbook.application.payments._opening import require_counter_open
from wattbook.application.payments.ports import Receipt, receipt_for
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money, Period


async def pay_at_counter(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    number: AccountNumber,
    amount: Money,
    operator: str,
    reference: str,
) -> Receipt:
    """Credit cash taken at the counter by ``operator`` and return the receipt.

    ``reference`` is the counter form's one-time token: submitting the same form twice
    returns the first receipt instead of crediting twice.

    :raises payments.CounterClosed: outside working hours, unless an administrator opened it.
    :raises payments.DuplicatePayment: if the token was used for another payment.
    :raises UnknownAccount: if there is no such account.
    :raises ledger.SignRuleViolated: if the amount is not positive.
    """
    if not operator.strip():
        raise ValueError("the operator taking the cash must be named")
    now = clock.now()
    async with uow:
        account = await uow.accounts.get(number)
        earlier = await uow.payments.by_channel_reference(payments.Channel.COUNTER, (reference,))
        if reference not in earlier:
            await require_counter_open(uow, at=now)
        credited = await credit_top_ups(
            uow,
            top_ups=(
                TopUp(
                    account_number=number,
                    amount=amount,
                    channel=payments.Channel.COUNTER,
                    channel_reference=reference,
                    operator=operator,
                ),
            ),
            now=now,
        )
        await uow.commit()
    return receipt_for(credited.payments[0], account)


async def open_counter(
    *, uow: ports.UnitOfWork, clock: ports.Clock, period: Period, opened_by: str, reason: str
) -> None:
    """Record an administrator's order that opens the counter for ``period`` (P1, A4).

    :raises ValueError: if the period is open-ended, or who or why is missing.
    """
    if period.end_at is None:
        raise ValueError("an opening order ends")
    if not opened_by.strip() or not reason.strip():
        raise ValueError("an opening order names the administrator and the reason")
    now = clock.now()
    async with uow:
        await uow.payments.add_counter_opening(
            payment_ports.CounterOpening(
                period=period, opened_by=opened_by, reason=reason, created_at=now
            )
        )
        await uow.payments.audit(
            (
                payment_ports.AuditEntry(
                    at=now,
                    actor=opened_by,
                    action="payments.counter.opened",
                    receipt_number=None,
                    detail=f"{period.start_at.isoformat()}..{period.end_at.isoformat()}: {reason}",
                ),
            )
        )
        await uow.commit()
