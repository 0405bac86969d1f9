"""The staff's reports (issue 12): collections, arrears and low balances, consumption,
collection success by bus, and meters whose use looks like theft or a fault.

Each report is one read-only unit of work over set-based SQL. Thresholds are never worked out
here or in SQL: the arrears and low-balance lines come from the prepaid rules' own functions
(``prepaid.arrears_line_fen``, ``prepaid.low_balance_line_fen``) at the tariff and policy in
force, and the theft-or-fault tests from ``metering``'s (``SuspicionLimits``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from wattbook.application import read_ports
from wattbook.application.queries import report_ports as rp
from wattbook.domain import metering, prepaid
from wattbook.domain.values import AccountNumber, Money, local_date, start_of_local_day

# The longest range a day-by-day report covers (a quarter), so one request stays cheap.
MAX_REPORT_DAYS = 92


class InvalidReportRange(ValueError):
    """The report's dates are reversed or span more than ``MAX_REPORT_DAYS`` days."""


def check_range(first_date: date, last_date: date) -> None:
    """Check a report's local-day range (inclusive).

    :raises InvalidReportRange: if it is reversed or longer than ``MAX_REPORT_DAYS``.
    """
    if last_date < first_date:
        raise InvalidReportRange(f"the last day {last_date} is before the first {first_date}")
    if (last_date - first_date).days + 1 > MAX_REPORT_DAYS:
        raise InvalidReportRange(f"a report covers at most {MAX_REPORT_DAYS} days")


def _limit(limit: int) -> int:
    if not 1 <= limit <= rp.MAX_PAGE:
        raise InvalidReportRange(f"ask for 1 to {rp.MAX_PAGE} rows")
    return limit


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectionReport:
    """Money taken per day, channel and operator, with the totals that must add up."""

    first_date: date
    last_date: date
    rows: tuple[rp.CollectionRow, ...]

    @property
    def total(self) -> Money:
        """Return the money taken over the whole range."""
        return Money(fen=sum(row.amount.fen for row in self.rows))

    def by(self, key: Callable[[rp.CollectionRow], str]) -> dict[str, Money]:
        """Return the totals grouped by ``key`` (a channel, an operator, a day)."""
        totals: dict[str, int] = {}
        for row in self.rows:
            totals[key(row)] = totals.get(key(row), 0) + row.amount.fen
        return {name: Money(fen=fen) for name, fen in sorted(totals.items())}


async def daily_collections(
    *, uow: read_ports.ReportingUnitOfWork, first_date: date, last_date: date
) -> CollectionReport:
    """Return the money taken per local day, channel and operator (corrections net).

    :raises InvalidReportRange: if the range is reversed or too long.
    """
    check_range(first_date, last_date)
    async with uow:
        rows = await uow.reports.collections(first_date=first_date, last_date=last_date)
    return CollectionReport(first_date=first_date, last_date=last_date, rows=rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class BalanceList:
    """Accounts below a line, lowest balance first, and the line itself."""

    line: Money
    rows: tuple[rp.AccountRow, ...]
    next_after: tuple[int, AccountNumber] | None


def _balance_list(line_fen: int, rows: tuple[rp.AccountRow, ...], limit: int) -> BalanceList:
    last = rows[-1] if len(rows) == limit else None
    return BalanceList(
        line=Money(fen=line_fen),
        rows=rows,
        next_after=None if last is None else (last.balance.fen, last.account_number),
    )


async def arrears_list(
    *,
    uow: read_ports.ReportingUnitOfWork,
    after: tuple[int, AccountNumber] | None = None,
    limit: int = rp.MAX_PAGE,
) -> BalanceList:
    """Return open accounts in arrears (B6), most owed first, a page after ``after``.

    :raises InvalidReportRange: if ``limit`` is out of range.
    """
    line = prepaid.arrears_line_fen()
    async with uow:
        rows = await uow.reports.balances_below(
            below_fen=line, at_least_fen=None, after=after, limit=_limit(limit)
        )
    return _balance_list(line, rows, limit)


async def low_balance_list(
    *,
    uow: read_ports.ReportingUnitOfWork,
    now: datetime,
    after: tuple[int, AccountNumber] | None = None,
    limit: int = rp.MAX_PAGE,
) -> BalanceList:
    """Return open accounts whose balance buys less than the SMS threshold (B4) but is not
    in arrears, lowest first; the line is the rules' own at the tariff and policy in force.

    :raises billing.NoTariffInForce: if no tariff is in force now.
    :raises InvalidReportRange: if ``limit`` is out of range.
    """
    async with uow:
        tariffs = await uow.tariffs.history()
        settings = await uow.prepaid.settings(on=local_date(now))
        line = prepaid.low_balance_line_fen(tariffs.at(now).reference_price, settings)
        rows = await uow.reports.balances_below(
            below_fen=line,
            at_least_fen=prepaid.arrears_line_fen(),
            after=after,
            limit=_limit(limit),
        )
    return _balance_list(line, rows, limit)


async def consumption_ranking(
    *,
    uow: read_ports.ReportingUnitOfWork,
    first_date: date,
    last_date: date,
    limit: int = 100,
) -> tuple[rp.UsageRow, ...]:
    """Return the accounts that used most between two local days, most first.

    :raises InvalidReportRange: if the range or ``limit`` is out of bounds.
    """
    check_range(first_date, last_date)
    async with uow:
        return await uow.reports.consumption_ranking(
            first_date=first_date, last_date=last_date, limit=_limit(limit)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BusSuccess:
    """A bus's collection success over the range (C2)."""

    bus: str
    attempts: int
    successes: int

    @property
    def percent(self) -> float | None:
        """Return the share of attempts that succeeded, in percent (None: no attempt)."""
        return None if not self.attempts else 100.0 * self.successes / self.attempts


async def collection_success_by_bus(
    *, uow: read_ports.ReportingUnitOfWork, first_date: date, last_date: date
) -> tuple[BusSuccess, ...]:
    """Return each bus's collection attempts and successes between two local days.

    :raises InvalidReportRange: if the range is reversed or too long.
    """
    check_range(first_date, last_date)
    async with uow:
        rows = await uow.reports.bus_success(first_date=first_date, last_date=last_date)
    return tuple(
        BusSuccess(bus=row.bus, attempts=row.attempts, successes=row.successes) for row in rows
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspectMeter:
    """A meter whose use looks like theft or a fault, and the figures that say so."""

    kind: metering.SuspectKind
    usage: rp.UsageAround


async def suspect_meters(
    *,
    uow: read_ports.ReportingUnitOfWork,
    now: datetime,
    limits: metering.SuspicionLimits | None = None,
) -> tuple[SuspectMeter, ...]:
    """Return the meters whose use looks like theft or a fault (M5), by kind then account.

    The window is the ``limits.window_days`` local days up to yesterday: no use in it though
    the window before shows occupancy (and the meter answered); a cover opened in the window
    before, compared over as many days either side of it (so the days after are all past);
    use while the relay stands open.
    """
    used = limits if limits is not None else metering.SuspicionLimits()
    days = used.window_days
    last = local_date(now) - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    async with uow:
        idle = await uow.reports.idle_meters(
            first_date=first, last_date=last, before_first_date=first - timedelta(days=days)
        )
        covers = await uow.reports.use_around_cover_events(
            since=start_of_local_day(first - timedelta(days=days)),
            until=start_of_local_day(first),
            days=days,
        )
        open_relays = await uow.reports.use_while_relay_open()
    found = [
        SuspectMeter(kind=metering.SuspectKind.ZERO_USE_WHILE_OCCUPIED, usage=row)
        for row in idle
        if metering.zero_use_while_occupied(before=row.before, during=row.after, limits=used)
    ]
    seen: set[AccountNumber] = set()
    for row in covers:
        if row.account_number not in seen and metering.sudden_drop(
            before=row.before, after=row.after, limits=used
        ):
            seen.add(row.account_number)
            found.append(SuspectMeter(kind=metering.SuspectKind.DROP_AFTER_COVER_OPENED, usage=row))
    found.extend(
        SuspectMeter(kind=metering.SuspectKind.USE_WHILE_RELAY_OPEN, usage=row)
        for row in open_relays
        if metering.use_while_relay_open(used=row.after, limits=used)
    )
    return tuple(found)
