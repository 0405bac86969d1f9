"""Carry relay commands from the outbox to the meters and confirm them (C4, A1, B5, B6).

A command goes through three steps, because a transaction must never be held open across
bus traffic that can take seconds: :func:`recheck_relay_command` (one unit of work: is a
trip still wanted, or did a top-up win meanwhile?), :func:`carry_out_relay_command` (the bus:
send 1CH, read status word 3 back), and :func:`record_relay_outcome` (one unit of work:
confirmed, retry later with back-off, or failed with an alarm). :func:`due_relay_commands`
finds the work.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.application.headend.ports import RelayOutcome
from wattbook.application.notifications import ports as sms_ports
from wattbook.application.prepaid.rules import CALENDAR_HORIZON
from wattbook.domain import prepaid
from wattbook.domain.alarms import Alarm, AlarmKind
from wattbook.domain.headend import (
    RelayCommand,
    RelayCommandStatus,
    RelayOperation,
    RelayReason,
)
from wattbook.domain.values import OPERATOR_NAME_MAX, MeterNumber, local_date

logger = logging.getLogger(__name__)

# Trips the prepaid rules queue, rechecked just before they are sent; operators' are not.
_RECHECKED = (RelayReason.ARREARS, RelayReason.WARNING_CUT)
# Closes that may end an arrears cut; the resident is told only if one really did.
_RESTORING = (RelayReason.ARREARS_CLEARED, RelayReason.KEEP_POWER)


class InvalidOperatorOrder(ValueError):
    """Raise when an operator's relay order lacks who gave it or why, or the name is too long."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DueCommand:
    """A relay command that is due, and the bus its meter hangs on (None: on no bus)."""

    command: RelayCommand
    bus: str | None


async def due_relay_commands(
    *, uow: ports.UnitOfWork, clock: ports.Clock, limit: int = 100
) -> tuple[DueCommand, ...]:
    """Return the pending relay commands due now, oldest first, each with its meter's bus."""
    async with uow:
        commands = await uow.headend.due_relay_commands(at=clock.now(), limit=limit)
        buses = await uow.headend.bus_of({command.meter_number for command in commands})
    return tuple(DueCommand(command=c, bus=buses.get(c.meter_number)) for c in commands)


async def recheck_relay_command(
    *, uow: ports.UnitOfWork, clock: ports.Clock, command: RelayCommand
) -> bool:
    """Test whether a trip the prepaid rules queued is still wanted, just before sending it.

    A top-up that arrived since the trip was queued wins: the trip is cancelled (and so is a
    warning cut's scheduled close, which would then have nothing to close). A trip that a
    holiday or a keep-power order now holds back is cancelled too, and the account is marked
    to be looked at again when the cut is allowed. Anything else (closes, keep-power orders,
    operators' trips) is always wanted.
    """
    if command.operation is not RelayOperation.TRIP or command.reason not in _RECHECKED:
        return True
    now = clock.now()
    account = command.account_number
    reason = prepaid.TripReason(command.reason.value)
    async with uow:
        balance = (await uow.ledger.balances((account,)))[account]
        snapshot = (await uow.prepaid.snapshots((account,), at=now))[account]
        settings = await uow.prepaid.settings(on=local_date(now))
        price = (await uow.tariffs.history()).at(now).reference_price
        today = local_date(now)
        # From yesterday: the morning after a no-cut day waits for the deferred trip time.
        calendar = await uow.prepaid.calendar(
            first_date=today - timedelta(days=1), last_date=today + CALENDAR_HORIZON
        )
        check = prepaid.recheck_trip(
            reason=reason,
            balance=balance,
            price=price,
            now=now,
            calendar=calendar,
            keep_power=snapshot.keep_power,
            settings=settings,
        )
        if check.send:
            return True
        await uow.headend.update_relay_command(
            command.id,
            status=RelayCommandStatus.CANCELLED,
            at=now,
            error="top-up arrived first" if not check.wanted else f"cut held ({check.held})",
        )
        await uow.headend.cancel_pending_closes(command, at=now)
        if check.wanted:
            # Held, not forgotten: the rules cut again when it is allowed (a held warning cut
            # is re-armed, a held arrears trip no longer counts as made).
            state = dataclasses.replace(snapshot.state, tripped_for_arrears=False)
            if reason is prepaid.TripReason.WARNING_CUT:
                state = dataclasses.replace(
                    state, warning_cut_done=False, warning_close_due_at=None
                )
            await uow.prepaid.save_states({account: (state, check.look_again_at)})
        await uow.commit()
    logger.info("relay command %d for meter %s cancelled", command.id, command.meter_number)
    return False


async def relay_order_current(*, uow: ports.UnitOfWork, command: RelayCommand) -> bool:
    """Test whether a relay order is still the command's current attempt (pending, with the
    attempts the order was made at).

    A head-end asks before carrying out an order delivered again: one whose outcome was
    recorded meanwhile must not be carried out a second time, after a later order for the
    same meter (a trip again after its close).
    """
    async with uow:
        state = await uow.headend.relay_command_state(command.id)
    return state == (RelayCommandStatus.PENDING, command.attempts)


async def carry_out_relay_command(
    *, gateway: hp.MeterGateway, command: RelayCommand
) -> RelayOutcome:
    """Send the command (1CH) and confirm it by reading run status word 3 back.

    Both go before any waiting poll on the bus. A refused or unanswered order, or a status
    that does not show it done, is an unconfirmed outcome, never an exception.
    """
    try:
        await gateway.operate_relay(command.meter_number, command.operation)
    except hp.MeterError as exc:
        # The order may have been obeyed with its acknowledgement lost: look before retrying.
        error = exc.detail
    else:
        error = ""
    try:
        status = await gateway.read_status(command.meter_number, urgent=True)
    except hp.MeterError as exc:
        return RelayOutcome(confirmed=False, error=error or exc.detail)
    if status.confirms(command.operation):
        return RelayOutcome(confirmed=True, status=status)
    return RelayOutcome(
        confirmed=False,
        status=status,
        error=error or f"status word 3 does not show {command.operation.value.lower()}",
    )


async def record_relay_outcome(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    command: RelayCommand,
    outcome: RelayOutcome,
    plan: hp.PollPlan,
) -> RelayCommandStatus:
    """Mark the command confirmed, due again after a back-off, or failed with an alarm.

    A confirmed trip or close is stored as the account's relay state for the prepaid rules.
    A confirmed arrears trip queues the cut-off SMS, and a confirmed close that ends an
    arrears cut the power-restored SMS (B6), in the same transaction; the command's id is
    the dedup key, so a command is never texted about twice. Warning cuts get no SMS.
    The back-off doubles with each attempt; after the plan's last attempt the command fails
    and a relay-not-confirmed alarm is raised (C4: never forgotten, never silently dropped).
    """
    async with uow:
        status = await _record_outcome(
            uow, now=clock.now(), command=command, outcome=outcome, plan=plan
        )
        await uow.commit()
    return status


async def record_relay_done(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    command: RelayCommand,
    outcome: RelayOutcome,
    plan: hp.PollPlan,
) -> RelayCommandStatus | None:
    """Record an outcome that came through a broker, once: as :func:`record_relay_outcome`
    does, but only while the command is still pending at the attempt the outcome answers.

    A redelivered outcome, or one that a second ingest worker holds too, finds the command
    moved on (its row is locked while it is read) and changes nothing: return None then.
    """
    async with uow:
        state = await uow.headend.relay_command_state(command.id)
        if state != (RelayCommandStatus.PENDING, command.attempts):
            logger.info(
                "relay command %d: outcome of attempt %d already recorded",
                command.id,
                command.attempts + 1,
            )
            return None
        status = await _record_outcome(
            uow, now=clock.now(), command=command, outcome=outcome, plan=plan
        )
        await uow.commit()
    return status


async def _record_outcome(
    uow: ports.UnitOfWork,
    *,
    now: datetime,
    command: RelayCommand,
    outcome: RelayOutcome,
    plan: hp.PollPlan,
) -> RelayCommandStatus:
    attempts = command.attempts + 1
    if outcome.confirmed:
        status = RelayCommandStatus.CONFIRMED
        await uow.headend.update_relay_command(command.id, status=status, at=now, attempts=attempts)
        relay = {
            RelayOperation.TRIP: prepaid.RelayState.OPEN,
            RelayOperation.CLOSE: prepaid.RelayState.CLOSED,
        }.get(command.operation)
        if relay is not None:
            await uow.prepaid.set_relay(command.account_number, relay)
        await _notify_switch(uow, command=command, now=now)
        await uow.alarms.end_open(
            str(command.meter_number), (AlarmKind.RELAY_NOT_CONFIRMED,), at=now
        )
    elif attempts >= plan.relay_attempts:
        status = RelayCommandStatus.FAILED
        await uow.headend.update_relay_command(
            command.id, status=status, at=now, attempts=attempts, error=outcome.error
        )
        await uow.alarms.record(
            (
                Alarm.on_meter(
                    command.meter_number,
                    AlarmKind.RELAY_NOT_CONFIRMED,
                    started_at=now,
                    detail=(
                        f"{command.operation.value} ({command.reason.value}) not confirmed "
                        f"after {attempts} attempts: {outcome.error}"
                    ),
                ),
            ),
            raised_at=now,
        )
        await uow.prepaid.set_relay(command.account_number, prepaid.RelayState.UNKNOWN)
    else:
        status = RelayCommandStatus.PENDING
        await uow.headend.update_relay_command(
            command.id,
            status=status,
            at=now,
            attempts=attempts,
            not_before_at=now + plan.relay_backoff * 2 ** (attempts - 1),
            error=outcome.error,
        )
    return status


async def _notify_switch(uow: ports.UnitOfWork, *, command: RelayCommand, now: datetime) -> None:
    """Queue the cut-off or power-restored SMS for a confirmed command, if it calls for one."""
    kind: sms_ports.NotificationKind | None = None
    if command.operation is RelayOperation.TRIP and command.reason is RelayReason.ARREARS:
        kind = sms_ports.NotificationKind.CUT_OFF
    elif command.operation is RelayOperation.CLOSE and command.reason in _RESTORING:
        # A close whose trip lost the race with a top-up, or a keep-power close after a
        # warning cut or an operator's trip, restores no arrears cut: no text then.
        last = await uow.headend.last_relay_switch(command.account_number, other_than=command.id)
        if last == (RelayOperation.TRIP, RelayReason.ARREARS):
            kind = sms_ports.NotificationKind.POWER_RESTORED
    if kind is None:
        return
    account = command.account_number
    balance = (await uow.ledger.balances((account,)))[account]
    price = (await uow.tariffs.history()).at(now).reference_price
    await uow.sms.enqueue(
        (
            sms_ports.SmsRequest(
                account_number=account,
                kind=kind,
                balance=balance,
                price=price,
                dedup_key=f"RELAY:{command.id}",
            ),
        ),
        at=now,
    )


async def order_relay(
    *,
    uow: ports.UnitOfWork,
    clock: ports.Clock,
    meter: MeterNumber,
    operation: RelayOperation,
    ordered_by: str,
    reason: str,
) -> int:
    """Queue an operator's relay command (A1), keep-power on/off included; return its id.

    The command's reason is ``RelayReason.OPERATOR``; who ordered it and why are kept whole.

    :raises NoMeterInstalled: if the meter is on no account.
    :raises InvalidOperatorOrder: if ``ordered_by`` or ``reason`` is blank, or ``ordered_by``
        is longer than ``OPERATOR_NAME_MAX`` (A4: everything an operator does is recorded
        with who did it and why).
    """
    who, why = ordered_by.strip(), reason.strip()
    if not who or not why:
        raise InvalidOperatorOrder("an operator's relay command records who ordered it and why")
    if len(who) > OPERATOR_NAME_MAX:
        raise InvalidOperatorOrder(
            f"an operator's name has at most {OPERATOR_NAME_MAX} characters, not {len(who)}"
        )
    async with uow:
        command_id = await uow.headend.add_relay_command(
            meter,
            operation,
            reason=RelayReason.OPERATOR,
            at=clock.now(),
            ordered_by=who,
            note=why,
        )
        await uow.commit()
    return command_id
