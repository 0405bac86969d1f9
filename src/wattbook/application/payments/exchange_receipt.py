"""Exchange a kiosk (or bank) receipt for an official campus receipt at the counter (P2)."""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments._opening import require_counter_open
from wattbook.domain import payments

# The campus receipt book's numbers: letters, digits and '-', at most 32.
MAX_OFFICIAL_NUMBER = 32


async def exchange_receipt(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    receipt_number: str,
    official_number: str,
    operator: str,
) -> payment_ports.OfficialReceipt:
    """Record that the receipt was exchanged for the official receipt ``official_number``.

    :raises payments.UnknownReceipt: if there is no such receipt.
    :raises payments.CannotExchange: if it is not a kiosk or bank top-up, was exchanged
        before, or the official number is taken or malformed.
    :raises payments.CounterClosed: outside working hours, unless an administrator opened it.
    """
    official = official_number.strip()
    if (
        not official
        or len(official) > MAX_OFFICIAL_NUMBER
        or not official.replace("-", "").isalnum()
    ):
        raise payments.CannotExchange(f"not an official receipt number: {official_number!r}")
    if not operator.strip():
        raise ValueError("an exchange names the operator")
    now = clock.now()
    async with uow:
        await require_counter_open(uow, at=now)
        payment = await uow.payments.by_receipt(receipt_number)
        if payment.kind is not payments.PaymentKind.TOP_UP or payment.channel not in (
            payments.Channel.KIOSK,
            payments.Channel.BANK_AUTO,
        ):
            raise payments.CannotExchange(
                f"{receipt_number} is a {payment.channel} {payment.kind}: the counter's own "
                "receipts are official already"
            )
        if await uow.payments.official_receipt(receipt_number=receipt_number) is not None:
            raise payments.CannotExchange(f"{receipt_number} was exchanged before")
        if await uow.payments.official_receipt(official_number=official) is not None:
            raise payments.CannotExchange(f"official receipt {official} is used already")
        exchanged = payment_ports.OfficialReceipt(
            official_number=official,
            receipt_number=receipt_number,
            exchanged_at=now,
            exchanged_by=operator,
        )
        await uow.payments.add_official_receipt(exchanged)
        await uow.commit()
    return exchanged
