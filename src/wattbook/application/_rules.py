"""Ask the prepaid rules about accounts whose money changed, and queue what they decide.

Shared by the use cases that move money; the decisions are outbox rows written in the caller's
unit of work, so they commit or vanish with the money.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta

from wattbook.application import ports
from wattbook.domain import billing, prepaid
from wattbook.domain.values import (
    AccountNumber,
    CalendarNotCovered,
    MeterNumber,
    Money,
    WorkingCalendar,
    local_date,
)

logger = logging.getLogger(__name__)

# How far ahead the rules may look for the next day a held cut is allowed.
CALENDAR_HORIZON = timedelta(days=45)
# When the calendar cannot answer, look again after this long (and cut nobody meanwhile).
CALENDAR_RETRY = timedelta(hours=1)


# The local days on which this process logged that the calendar does not reach far enough:
# once the look-ahead passes the end of the holiday data it does so for every account, so it
# is said once a day, not once per account (the accounts are still re-evaluated hourly).
_calendar_short_logged: set[date] = set()


def _log_calendar_short(today: date, numbers: Sequence[AccountNumber]) -> None:
    if today in _calendar_short_logged:
        return
    _calendar_short_logged.add(today)
    logger.error(
        "No holiday calendar far enough ahead on %s (e.g. for account %s, %d in this run):"
        " prepaid cuts postponed; logged once a day",
        today,
        numbers[0],
        len(numbers),
    )


async def _calendar(uow: ports.UnitOfWork, now: datetime) -> WorkingCalendar | None:
    today = local_date(now)
    for horizon in (CALENDAR_HORIZON, timedelta(0)):
        try:
            return await uow.prepaid.calendar(first_date=today, last_date=today + horizon)
        except CalendarNotCovered:
            continue
    return None


async def apply_prepaid_rules(
    uow: ports.UnitOfWork,
    *,
    numbers: Collection[AccountNumber],
    now: datetime,
    tariffs: billing.TariffHistory | None = None,
    meters: Mapping[AccountNumber, MeterNumber] | None = None,
    balances: Mapping[AccountNumber, Money] | None = None,
) -> tuple[prepaid.Command, ...]:
    """Evaluate the prepaid rules for ``numbers`` at ``now`` and queue the commands.

    ``balances``, if given, are the accounts' balances as just posted in this unit of work
    (saves reading them back). Accounts without a meter installed are left alone: the rules
    start when a meter is installed. Without a holiday calendar for today the rules cannot know
    whether a cut is allowed, so nobody is cut: the accounts are marked to be looked at again
    later and an error is logged.
    """
    if not numbers:
        return ()
    history = tariffs if tariffs is not None else await uow.tariffs.history()
    price = history.at(now).reference_price
    if balances is None or not balances.keys() >= set(numbers):
        balances = await uow.ledger.balances(numbers)
    every = await uow.prepaid.snapshots(numbers, at=now)
    snapshots = {n: s for n, s in every.items() if s.meter_number is not None}
    unmetered = {n: (s.state, None) for n, s in every.items() if s.meter_number is None}
    if unmetered:
        # Nothing to decide until a meter is installed (which asks the rules again).
        await uow.prepaid.save_states(unmetered)
    if not snapshots:
        return ()
    settings = await uow.prepaid.settings(on=local_date(now))
    calendar = await _calendar(uow, now)
    if calendar is None:
        logger.error("No holiday calendar for %s: prepaid cuts postponed", local_date(now))
        await uow.prepaid.save_states(
            {n: (snapshots[n].state, now + CALENDAR_RETRY) for n in snapshots}
        )
        return ()
    commands: list[prepaid.Command] = []
    states: dict[AccountNumber, tuple[prepaid.RuleState, datetime | None]] = {}
    short: list[AccountNumber] = []
    for number in sorted(snapshots):
        snapshot = snapshots[number]
        try:
            decision = prepaid.evaluate(
                account_number=number,
                balance=balances[number],
                price=price,
                now=now,
                relay=snapshot.relay,
                state=snapshot.state,
                calendar=calendar,
                keep_power=snapshot.keep_power,
                settings=settings,
            )
        except CalendarNotCovered:
            short.append(number)
            states[number] = (snapshot.state, now + CALENDAR_RETRY)
            continue
        commands.extend(decision.commands)
        states[number] = (decision.state, decision.re_evaluate_at)
    if short:
        _log_calendar_short(local_date(now), short)
    await uow.prepaid.save_states(states)
    if commands:
        meter_of = {
            number: snapshot.meter_number
            for number, snapshot in snapshots.items()
            if snapshot.meter_number is not None
        }
        meter_of.update(meters or {})
        await uow.outbox.add(
            commands,
            at=now,
            phones={number: snapshot.phone for number, snapshot in snapshots.items()},
            meters=meter_of,
        )
    return tuple(commands)
