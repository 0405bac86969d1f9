"""Corrections at the counter (P4): move a mistaken top-up, refund it, reprint a receipt.

Each is new journal entries and a new payment record pointing at the corrected receipt, with
the operator and the ID shown written to the payment audit; nothing is edited. They are
counter work, so they follow the counter's rule (P1): working hours on working days, or an
administrator's opening order, which the audit line then names.
"""

from __future__ import annotations

from wattbook.application import ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments._opening import opening_note, require_counter_open
from wattbook.application.payments.ports import Receipt, receipt_for
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber


async def _original(uow: ports.UnitOfWork, receipt_number: str) -> payment_ports.Payment:
    original = await uow.payments.by_receipt(receipt_number)
    if original.kind is not payments.PaymentKind.TOP_UP:
        raise payments.CannotCorrect(f"{receipt_number} is a {original.kind}, not a top-up")
    if await uow.payments.corrections_of(receipt_number):
        raise payments.CannotCorrect(f"{receipt_number} was corrected before")
    return original


def _audit(
    *,
    at: ports.Clock,
    operator: str,
    action: str,
    receipt_number: str,
    identity: payments.IdentityShown,
    detail: str,
    opening: payment_ports.CounterOpening | None,
) -> payment_ports.AuditEntry:
    parts = [f"ID {identity.document_type} {identity.number_masked}", detail, opening_note(opening)]
    return payment_ports.AuditEntry(
        at=at.now(),
        actor=operator,
        action=action,
        receipt_number=receipt_number,
        detail="; ".join(part for part in parts if part),
    )


async def move_top_up(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    receipt_number: str,
    to: AccountNumber,
    operator: str,
    identity: payments.IdentityShown,
    reason: str,
) -> Receipt:
    """Move a top-up credited to the wrong account to ``to``; return the new receipt.

    :raises payments.UnknownReceipt: if there is no such receipt.
    :raises payments.CannotCorrect: if it is not a top-up, was corrected before, or ``to``
        is the same account.
    :raises UnknownAccount: if ``to`` does not exist.
    :raises payments.CounterClosed: outside working hours, unless an administrator opened it.
    """
    now = clock.now()
    async with uow:
        opening = await require_counter_open(uow, at=now)
        original = await _original(uow, receipt_number)
        entry = await uow.ledger.get(original.entry_reference)
        assert entry is not None  # noqa: S101 - a payment always points at its entry
        target = await uow.accounts.get(to)
        correction = payments.move_top_up(
            original=entry,
            to=to,
            reference=f"MOVE:{receipt_number}",
            at=now,
            note=f"moved by {operator}: {reason}",
        )
        assert correction.credit is not None  # noqa: S101 - a move credits the right account
        await uow.ledger.post((correction.reversal, correction.credit))
        recorded = await uow.payments.record(
            [
                payment_ports.NewPayment(
                    entry_reference=correction.reversal.reference,
                    channel=payments.Channel.COUNTER,
                    channel_reference=receipt_number,
                    kind=payments.PaymentKind.MOVE_OUT,
                    operator=operator,
                    corrects_receipt=receipt_number,
                    note=f"to {to}: {reason}",
                ),
                payment_ports.NewPayment(
                    entry_reference=correction.credit.reference,
                    channel=payments.Channel.COUNTER,
                    channel_reference=receipt_number,
                    kind=payments.PaymentKind.MOVE_IN,
                    operator=operator,
                    corrects_receipt=receipt_number,
                    note=f"from {original.account_number}: {reason}",
                ),
            ]
        )
        await apply_prepaid_rules(uow, numbers={original.account_number, to}, now=now)
        await uow.payments.audit(
            (
                _audit(
                    at=clock,
                    operator=operator,
                    action="payments.top-up.moved",
                    receipt_number=receipt_number,
                    identity=identity,
                    detail=f"{original.account_number} -> {to} as {recorded[1].receipt_number}:"
                    f" {reason}",
                    opening=opening,
                ),
            )
        )
        await uow.commit()
    return receipt_for(recorded[1], target)


async def refund_top_up(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    receipt_number: str,
    operator: str,
    identity: payments.IdentityShown,
    reason: str,
) -> Receipt:
    """Refund a mistaken top-up in cash at the counter; return the refund's receipt.

    :raises payments.UnknownReceipt: if there is no such receipt.
    :raises payments.CannotCorrect: if it is not a top-up or was corrected before.
    :raises payments.CounterClosed: outside working hours, unless an administrator opened it.
    """
    now = clock.now()
    async with uow:
        opening = await require_counter_open(uow, at=now)
        original = await _original(uow, receipt_number)
        entry = await uow.ledger.get(original.entry_reference)
        assert entry is not None  # noqa: S101 - a payment always points at its entry
        correction = payments.refund_top_up(
            original=entry,
            reference=f"REFUND:{receipt_number}",
            at=now,
            note=f"refunded by {operator}: {reason}",
        )
        await uow.ledger.post((correction.reversal,))
        (recorded,) = await uow.payments.record(
            [
                payment_ports.NewPayment(
                    entry_reference=correction.reversal.reference,
                    channel=payments.Channel.COUNTER,
                    channel_reference=receipt_number,
                    kind=payments.PaymentKind.REFUND,
                    operator=operator,
                    corrects_receipt=receipt_number,
                    note=reason,
                )
            ]
        )
        await apply_prepaid_rules(uow, numbers={original.account_number}, now=now)
        await uow.payments.audit(
            (
                _audit(
                    at=clock,
                    operator=operator,
                    action="payments.top-up.refunded",
                    receipt_number=receipt_number,
                    identity=identity,
                    detail=f"as {recorded.receipt_number}: {reason}",
                    opening=opening,
                ),
            )
        )
        account = await uow.accounts.get(original.account_number)
        await uow.commit()
    return receipt_for(recorded, account)


async def reprint_receipt(
    *, uow: ports.UnitOfWork, clock: ports.Clock, receipt_number: str, operator: str
) -> Receipt:
    """Return a receipt again, marked as a reprint, and record who asked for it.

    :raises payments.UnknownReceipt: if there is no such receipt.
    :raises payments.CounterClosed: outside working hours, unless an administrator opened it.
    """
    now = clock.now()
    async with uow:
        opening = await require_counter_open(uow, at=now)
        payment = await uow.payments.by_receipt(receipt_number)
        account = await uow.accounts.get(payment.account_number)
        await uow.payments.audit(
            (
                payment_ports.AuditEntry(
                    at=now,
                    actor=operator,
                    action="payments.receipt.reprinted",
                    receipt_number=receipt_number,
                    detail=opening_note(opening),
                ),
            )
        )
        await uow.commit()
    return receipt_for(payment, account, reprint=True)
