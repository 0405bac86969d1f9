"""A glance at some accounts: balance and open meter alarms, for the demo and the console."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from wattbook.application import read_ports
from wattbook.domain.alarms import AlarmKind
from wattbook.domain.values import AccountNumber, MeterNumber, Money


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AccountGlance:
    """One account's balance and the kinds of alarm open on its meter."""

    number: AccountNumber
    balance: Money
    open_alarms: tuple[AlarmKind, ...]


async def account_glances(
    *, uow: read_ports.ReadOnlyUnitOfWork, accounts: Sequence[tuple[AccountNumber, MeterNumber]]
) -> tuple[AccountGlance, ...]:
    """Return each (account, meter)'s balance and open alarm kinds, in the order given."""
    async with uow:
        balances = await uow.ledger.balances([number for number, _ in accounts])
        alarms = await uow.alarms.alarms(open_only=True)
    open_by_meter: dict[MeterNumber, list[AlarmKind]] = {}
    for alarm in reversed(alarms):  # oldest first
        if alarm.meter_number is not None:
            open_by_meter.setdefault(alarm.meter_number, []).append(alarm.kind)
    return tuple(
        AccountGlance(
            number=number,
            balance=balances.get(number, Money(fen=0)),
            open_alarms=tuple(open_by_meter.get(meter, ())),
        )
        for number, meter in accounts
    )
