"""The daily cash-up (P1, P4): each operator's and each channel's takings for a local day,
checked against the journal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from wattbook.application import read_ports
from wattbook.application.payments.ports import CashUpLine
from wattbook.domain import payments
from wattbook.domain.values import Money, start_of_local_day


@dataclass(frozen=True, slots=True, kw_only=True)
class CashUp:
    """One local day's payments, summed by channel, operator and kind, and the journal's
    money in for the same day. ``balanced`` is whether they add up."""

    day: date
    lines: tuple[CashUpLine, ...]
    journal_total: Money

    @property
    def total(self) -> Money:
        """Return the sum of every payment of the day (corrections are negative)."""
        return Money(fen=sum(line.amount.fen for line in self.lines))

    @property
    def balanced(self) -> bool:
        """Test whether the payments add up to the journal's money in."""
        return self.total == self.journal_total

    def by_channel(self) -> dict[payments.Channel, Money]:
        """Return the day's total per channel."""
        found: dict[payments.Channel, int] = {}
        for line in self.lines:
            found[line.channel] = found.get(line.channel, 0) + line.amount.fen
        return {channel: Money(fen=fen) for channel, fen in found.items()}

    def counter_cash(self) -> dict[str, Money]:
        """Return the cash each operator should hold: counter top-ups less cash refunds.

        A move between accounts takes no cash in or out, so it is not in the drawer.
        """
        found: dict[str, int] = {}
        for line in self.lines:
            if line.channel is not payments.Channel.COUNTER or line.operator is None:
                continue
            if line.kind in (payments.PaymentKind.TOP_UP, payments.PaymentKind.REFUND):
                found[line.operator] = found.get(line.operator, 0) + line.amount.fen
        return {operator: Money(fen=fen) for operator, fen in sorted(found.items())}


async def cash_up(*, uow: read_ports.ReadOnlyUnitOfWork, day: date) -> CashUp:
    """Return the cash-up of the local day ``day``."""
    start_at = start_of_local_day(day)
    end_at = start_of_local_day(day + timedelta(days=1))
    async with uow:
        lines = await uow.payments.cash_up_lines(start_at=start_at, end_at=end_at)
        journal = await uow.payments.journal_money_in(start_at=start_at, end_at=end_at)
    return CashUp(day=day, lines=lines, journal_total=journal)
