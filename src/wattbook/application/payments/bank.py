"""Bank auto top-up (P3): agreements, debit requests, the bank's callbacks, reconciliation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from wattbook.application import alarm_ports, ports
from wattbook.application.notifications import ports as sms_ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.payments._credit import Credited, TopUp, credit_top_ups
from wattbook.domain import billing, payments
from wattbook.domain.values import local_date

logger = logging.getLogger(__name__)


async def register_agreement(
    *, uow: ports.UnitOfWork, clock: ports.Clock, agreement: payments.Agreement
) -> None:
    """Store an agreement the bank signed (effective the day signed).

    :raises payments.InvalidAgreement: if its number is taken.
    :raises UnknownAccount: if it names an account that does not exist.
    """
    now = clock.now()
    async with uow:
        await uow.payments.add_agreement(agreement, at=now)
        await uow.payments.audit(
            (
                payment_ports.AuditEntry(
                    at=now,
                    actor="bank",
                    action="payments.agreement.signed",
                    receipt_number=None,
                    detail=f"{agreement.agreement_number} card {agreement.card_masked} for "
                    + ",".join(str(n) for n in agreement.account_numbers),
                ),
            )
        )
        await uow.commit()


async def cancel_agreement(
    *, uow: ports.UnitOfWork, clock: ports.Clock, agreement_number: str, on: date | None = None
) -> payments.Agreement:
    """Cancel an agreement from a local date (today by default) and return it.

    :raises payments.UnknownAgreement: if there is none.
    """
    now = clock.now()
    async with uow:
        agreement = await uow.payments.cancel_agreement(
            agreement_number, on=on if on is not None else local_date(now)
        )
        await uow.payments.audit(
            (
                payment_ports.AuditEntry(
                    at=now,
                    actor="bank",
                    action="payments.agreement.cancelled",
                    receipt_number=None,
                    detail=f"{agreement_number} from {agreement.cancelled_on}",
                ),
            )
        )
        await uow.commit()
    return agreement


@dataclass(frozen=True, slots=True, kw_only=True)
class DebitRun:
    """What one run of auto top-up did.

    ``held`` are the debits still awaiting the bank's word whose account is below its
    threshold again: no new debit is requested for such an account until the bank settles
    the pending one (or it fails), so a late settlement can never mean two debits.
    """

    requested: tuple[payments.DebitRequest, ...]
    sent: tuple[str, ...]
    refused: tuple[str, ...]
    unsent: tuple[str, ...]
    held: tuple[payments.DebitRequest, ...]
    # Debits the bank has not answered within payments.DEBIT_ANSWER_DUE: each has an alarm.
    unanswered: tuple[payments.DebitRequest, ...] = ()


async def run_auto_top_up(
    *,
    uow_factory: ports.UnitOfWorkFactory,
    clock: ports.Clock,
    bank: payment_ports.BankGateway,
    limit: int = 500,
) -> DebitRun:
    """Request today's debits for balances below their threshold, then hand them to the bank.

    Run daily and every minute or so (the immediate trigger): the once-a-day rule is the
    debit's unique (account, day), so running often never debits twice. Debits are stored
    before the bank hears of them; one the bank could not be told about is sent next run.
    An account whose earlier debit still awaits the bank's word gets no new one: it is
    reported in ``held`` and debited again once that debit is settled or has failed.
    """
    now = clock.now()
    today = local_date(now)
    async with uow_factory() as uow:
        numbers = await uow.payments.below_threshold(on=today, limit=limit)
        held = await uow.payments.held_by_pending(on=today, limit=limit)
        requested: tuple[payments.DebitRequest, ...] = ()
        if numbers:
            requested = payments.due_debits(
                agreements=await uow.payments.agreements(on=today, numbers=numbers),
                balances=await uow.ledger.balances(numbers),
                requested_today=(),
                awaiting_bank={debit.account_number for debit in held},
                at=now,
            )
            await uow.payments.add_debits(requested, at=now)
        unsent = await uow.payments.unsent_debits(limit=limit)
        unanswered = await _alarm_unanswered(uow, now=now, limit=limit)
        await uow.commit()
    sent: list[str] = []
    refused: list[str] = []
    failed: list[str] = []
    for debit in unsent:
        try:
            await bank.request_debit(debit)
        except payment_ports.DebitRefused as error:
            logger.warning("Bank refused debit %s: %s", debit.debit_id, error)
            refused.append(debit.debit_id)
        except payment_ports.BankUnavailable as error:
            logger.warning("Bank unavailable for debit %s: %s", debit.debit_id, error)
            failed.append(debit.debit_id)
            break
        else:
            sent.append(debit.debit_id)
    async with uow_factory() as uow:
        await uow.payments.mark_sent(sent, at=now)
        if refused:
            await uow.payments.settle_debits(
                [
                    payment_ports.DebitSettlement(
                        debit_id=debit_id,
                        status=payments.DebitStatus.REFUSED,
                        bank_serial=f"REFUSED:{debit_id}",
                        at=now,
                        detail="refused by the bank",
                    )
                    for debit_id in refused
                ]
            )
        await uow.commit()
    remaining = tuple(d.debit_id for d in unsent if d.debit_id not in sent + refused)
    return DebitRun(
        requested=requested,
        sent=tuple(sent),
        refused=tuple(refused),
        unsent=remaining,
        held=held,
        unanswered=unanswered,
    )


async def _alarm_unanswered(
    uow: ports.UnitOfWork, *, now: datetime, limit: int
) -> tuple[payments.DebitRequest, ...]:
    """Keep one open alarm per debit the bank left unanswered too long, and end the alarms of
    debits it has answered since. Without this, an account whose debit the bank never answers
    would silently get no auto top-up again."""
    kind = alarm_ports.AlarmKind.BANK_DEBIT_UNANSWERED
    unanswered = await uow.payments.unanswered_debits(
        requested_before=payments.answer_overdue_before(now), limit=limit
    )
    for debit in unanswered:
        await uow.alarms.raise_alarm(
            kind=kind,
            subject=debit.debit_id,
            detail=f"{debit.amount.yuan()} yuan for account {debit.account_number} of"
            f" {debit.day}: no word from the bank after {payments.DEBIT_ANSWER_DUE}; its auto"
            " top-up is held until the bank answers (check its statement)",
            at=now,
        )
    overdue = {debit.debit_id for debit in unanswered}
    if len(unanswered) < limit:  # a full page may leave older alarms unseen: keep them
        for alarm in await uow.alarms.alarms():
            if alarm.kind is kind and alarm.subject not in overdue:
                await uow.alarms.end_alarm(kind=kind, subject=alarm.subject, at=now)
    return unanswered


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackOutcome:
    """The answer to one callback: what it did and the receipt number, if it credited."""

    serial: str
    settlement: payments.Settlement
    receipt_number: str | None


async def settle_bank_callbacks(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    callbacks: Sequence[payments.BankCallback],
    window: timedelta = payments.CALLBACK_WINDOW,
) -> tuple[CallbackOutcome, ...]:
    """Apply a batch of verified bank callbacks in one transaction; replays credit nothing.

    Each debit is a state machine (``payments.settle``): callbacks may arrive late, twice,
    or out of order, and a debit is credited at most once whatever the serials. Only a
    transition that credits adds a top-up (the ledger reference is its serial, so the
    database refuses a second credit under a race), and every accepted word is journalled,
    so a replay is known as one whatever came after it. A batch is how the web endpoint
    keeps up: concurrent callbacks share one commit.

    :raises payments.UnknownDebit: if a callback names a debit never requested.
    :raises payments.CallbackMismatch: if a callback's amount differs from its debit's.
    :raises payments.CallbackConflict: if a callback contradicts a debit already credited.
    :raises payments.CallbackOutsideWindow: if a callback is dated outside ``window``.
    """
    now = clock.now()
    async with uow:
        debits = await uow.payments.debits({c.debit_id for c in callbacks})
        state = {debit_id: d.history for debit_id, d in debits.items()}
        decided: list[tuple[payments.BankCallback, payments.Settlement]] = []
        top_ups: list[TopUp] = []
        settlements: list[payment_ports.DebitSettlement] = []
        records: list[payment_ports.CallbackRecord] = []
        failures: list[payments.BankCallback] = []
        for callback in callbacks:
            debit = debits.get(callback.debit_id)
            if debit is None:
                raise payments.UnknownDebit(callback.debit_id)
            try:
                transition = payments.settle(
                    debit=debit.request,
                    history=state[callback.debit_id],
                    callback=callback,
                    now=now,
                    window=window,
                )
            except (payments.CallbackConflict, payments.CallbackOutsideWindow) as error:
                logger.warning("Refused bank callback %s: %s", callback.serial, error)
                raise
            decided.append((callback, transition.settlement))
            if transition.settlement is payments.Settlement.REPLAY:
                continue
            state[callback.debit_id] = transition.history
            records.append(
                payment_ports.CallbackRecord(
                    serial=callback.serial,
                    status=callback.status,
                    debit_id=callback.debit_id,
                    amount=callback.amount,
                    callback_at=callback.at,
                    received_at=now,
                    settlement=transition.settlement,
                )
            )
            if transition.credits:
                top_ups.append(
                    TopUp(
                        account_number=debit.request.account_number,
                        amount=callback.amount,
                        channel=payments.Channel.BANK_AUTO,
                        channel_reference=callback.serial,
                        note=f"debit {callback.debit_id}",
                    )
                )
            elif transition.settlement is payments.Settlement.RECORD_FAILURE:
                failures.append(callback)
            if transition.settlement is payments.Settlement.REPEATED_FAILURE:
                continue  # the first failure stays the debit's word
            settlements.append(
                payment_ports.DebitSettlement(
                    debit_id=callback.debit_id,
                    status=callback.status,
                    bank_serial=callback.serial,
                    at=now,
                    detail="success after a failure notice"
                    if transition.settlement is payments.Settlement.LATE_SUCCESS
                    else "",
                )
            )
        # Read once for the rules and the SMS; a batch of replays only needs neither.
        tariffs = await uow.tariffs.history() if settlements else None
        credited = await credit_top_ups(uow, top_ups=top_ups, now=now, tariffs=tariffs)
        await uow.payments.settle_debits(settlements)
        await uow.payments.record_callbacks(records)
        await _notify(
            uow, credited=credited, failures=failures, debits=debits, tariffs=tariffs, now=now
        )
        # A replay of a credit answers with the first receipt.
        replayed = [
            c.serial
            for c, settlement in decided
            if settlement is payments.Settlement.REPLAY
            and c.status is payments.DebitStatus.SUCCEEDED
        ]
        receipts = {
            serial: str(payment.receipt_number)
            for serial, payment in (
                await uow.payments.by_channel_reference(payments.Channel.BANK_AUTO, replayed)
                if replayed
                else {}
            ).items()
        }
        receipts.update({p.channel_reference: str(p.receipt_number) for p in credited.payments})
        await uow.commit()
    return tuple(
        CallbackOutcome(
            serial=callback.serial,
            settlement=settlement,
            receipt_number=receipts.get(callback.serial)
            if callback.status is payments.DebitStatus.SUCCEEDED
            else None,
        )
        for callback, settlement in decided
    )


async def report_refused_callback(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    callback: payments.BankCallback,
    error: payments.PaymentError,
) -> bool:
    """Raise a staff alarm for a signed callback that was refused; return whether it opened.

    A refusal changes no money, but the bank said something about a cardholder's money that
    we did not accept (a contradiction, an old or future date, an unknown debit, another
    amount): someone must look, so it is an alarm on the staff's screen, not only a log line.
    The same refused callback sent again keeps its one open alarm.
    """
    now = clock.now()
    detail = (
        f"debit {callback.debit_id}: {callback.status.value} {callback.amount.yuan()} yuan"
        f" dated {callback.at.isoformat()} refused ({type(error).__name__}: {error})"
    )
    async with uow:
        opened = await uow.alarms.raise_alarm(
            kind=alarm_ports.AlarmKind.BANK_CALLBACK_REFUSED,
            subject=callback.serial,
            detail=detail,
            at=now,
        )
        await uow.commit()
    return opened


async def _notify(
    uow: ports.UnitOfWork,
    *,
    credited: Credited,
    failures: Sequence[payments.BankCallback],
    debits: dict[str, payment_ports.DebitState],
    tariffs: billing.TariffHistory | None,
    now: datetime,
) -> None:
    """Queue the N1 SMS: each auto top-up, and each failed debit (the cardholder's risk)."""
    fresh = credited.fresh
    if not fresh and not failures:
        return
    history = tariffs if tariffs is not None else await uow.tariffs.history()
    price = history.at(now).reference_price
    # A top-up's payment carries its balance after; only failed debits need a read.
    balances = (
        await uow.ledger.balances({debits[c.debit_id].request.account_number for c in failures})
        if failures
        else {}
    )
    requests = [
        sms_ports.SmsRequest(
            account_number=p.account_number,
            kind=sms_ports.NotificationKind.AUTO_TOP_UP_SUCCEEDED,
            balance=p.balance_after,
            price=price,
            amount=p.amount,
            dedup_key=f"BANK:{p.channel_reference}",
        )
        for p in fresh
    ] + [
        sms_ports.SmsRequest(
            account_number=debits[c.debit_id].request.account_number,
            kind=sms_ports.NotificationKind.AUTO_TOP_UP_FAILED,
            balance=balances[debits[c.debit_id].request.account_number],
            price=price,
            amount=c.amount,
            dedup_key=f"BANK:{c.serial}",
        )
        for c in failures
    ]
    await uow.sms.enqueue(requests, at=now)


async def reconcile_bank_statement(
    *, uow: ports.UnitOfWork, day: date, statement: Sequence[payments.StatementLine]
) -> tuple[payments.Mismatch, ...]:
    """Compare the bank's statement of a local day with the journal; return every mismatch,
    and every debit of that day credited twice or credited while it failed."""
    async with uow:
        journal = await uow.payments.bank_credits(day=day)
        debits = await uow.payments.debit_credits(day=day)
    return payments.reconcile_statement(
        statement=statement, journal=journal
    ) + payments.check_debits(debits=debits, statement=statement)
