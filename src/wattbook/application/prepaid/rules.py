"""Ask the prepaid rules about accounts whose money changed, and queue what they decide.

Shared by the use cases that move money; the decisions are outbox rows written in the caller's
unit of work, so they commit or vanish with the money.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from wattbook.application import ports
from wattbook.domain import billing, prepaid
from wattbook.domain.values import AccountNumber, MeterNumber, Money, local_date

# How far ahead the rules look for the next day a held cut is allowed; a search that runs
# past it (a long keep-power order) looks again then. The calendar answers every date (a
# provisional fallback where the official schedule is not known), so it never runs out.
CALENDAR_HORIZON = timedelta(days=45)


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
    start when a meter is installed.
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
    today = local_date(now)
    # From yesterday: the morning after a no-cut day waits for the deferred trip time.
    calendar = await uow.prepaid.calendar(
        first_date=today - timedelta(days=1), last_date=today + CALENDAR_HORIZON
    )
    commands: list[prepaid.Command] = []
    states: dict[AccountNumber, tuple[prepaid.RuleState, datetime | None]] = {}
    for number in sorted(snapshots):
        snapshot = snapshots[number]
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
        commands.extend(decision.commands)
        states[number] = (decision.state, decision.re_evaluate_at)
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
