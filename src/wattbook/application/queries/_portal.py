"""The residents' portal's pages (Q2-Q6): each a read of the resident's own household.

The account number always comes from the resident's session (the interface checks that);
these functions read nothing of any other household.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

from wattbook.application import read_ports
from wattbook.application.accounts.ports import UnknownAccount
from wattbook.application.notifications.templates import energy_bought
from wattbook.application.payments.ports import Payment
from wattbook.application.queries.resident_ports import (
    KeepPowerSpell,
    PaymentPage,
    RelayRecord,
    ResidentProfile,
    ResidentReader,
    TextPage,
    UsageRow,
)
from wattbook.domain import accounts, billing, prepaid
from wattbook.domain.headend import RelayCommandStatus, RelayOperation, RelayReason
from wattbook.domain.values import (
    AccountNumber,
    BillingMonth,
    Energy,
    Money,
    RegisterSet,
    local_date,
)

# The most rows one page shows; a longer page is refused by the interface.
MAX_PAGE_SIZE = 100
# How far back "Why was my power off?" looks, and the most events it explains.
POWER_STORY_DAYS = 366
POWER_STORY_LIMIT = 200


class InvalidPage(ValueError):
    """A page number or size out of range (the portal's pages, the API's feeds), or a date
    range that ends before it starts."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ResidentHome:
    """The home page: the profile, arrears, and the days the balance lasts at recent use."""

    profile: ResidentProfile
    arrears: Money
    used_wh: int
    over_days: int
    energy_left: Energy
    days_left: int | None


class LoginRefused(Exception):
    """No account has this number and holder name (the resident is not told which)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ResidentIdentity:
    """Who logged in: the account, and the phone a one-time code can go to (if on file)."""

    number: AccountNumber
    phone: accounts.PhoneNumber | None


async def identify_resident(
    *, uow: read_ports.ReadOnlyUnitOfWork, number: AccountNumber, holder: str
) -> ResidentIdentity:
    """Return the resident whose account number and holder name these are (Q1).

    :raises LoginRefused: if there is no such account or the name is not its holder's;
        the two are one error, so a log-in never confirms that an account exists.
    """
    async with uow:
        try:
            account = await uow.accounts.get(number)
        except UnknownAccount:
            raise LoginRefused(str(number)) from None
    if not account.holder.matches(holder):
        raise LoginRefused(str(number))
    return ResidentIdentity(number=number, phone=account.phone)


def _check_paging(page: int, per_page: int) -> None:
    if page < 1 or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise InvalidPage(f"page {page} of {per_page} rows")


async def resident_home(
    *,
    reader: ResidentReader,
    number: AccountNumber,
    now: datetime,
) -> ResidentHome:
    """Return the home page: balance, arrears, relay, days left at the last 14 days' use.

    The 14 days are the full local days before today, so a half-read today does not pull
    the average down.

    :raises UnknownAccount: if there is no such account.
    """
    today = local_date(now)
    window = prepaid.AVERAGE_WINDOW_DAYS
    facts = await reader.home(
        number, first_date=today - timedelta(days=window), last_date=today - timedelta(days=1)
    )
    profile, days = facts.profile, facts.recent_days
    price = facts.tariffs.at(now).reference_price
    used_wh = sum(max(0, row.registers.total_wh) for row in days)
    left = energy_bought(balance=profile.balance, price=price)
    return ResidentHome(
        profile=profile,
        arrears=Money(fen=max(0, -profile.balance.fen)),
        used_wh=used_wh,
        over_days=window,
        energy_left=left,
        days_left=prepaid.days_left(energy_left=left, used_wh=used_wh, over_days=window),
    )


async def resident_payments(
    *,
    reader: ResidentReader,
    number: AccountNumber,
    first_date: date | None,
    last_date: date | None,
    page: int,
    per_page: int,
) -> PaymentPage:
    """Return one page of the household's payments in a date range, newest first (Q3, P5).

    :raises InvalidPage: if the page is out of range or the range ends before it starts.
    """
    _check_paging(page, per_page)
    if first_date is not None and last_date is not None and last_date < first_date:
        raise InvalidPage(f"{last_date} is before {first_date}")
    return await reader.payments(
        number,
        first_date=first_date,
        last_date=last_date,
        offset=(page - 1) * per_page,
        limit=per_page,
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ChargePage:
    """One page of the monthly charge details, newest month first (Q4, B3)."""

    lines: tuple[billing.StatementLine, ...]
    total: int


async def resident_statement(
    *, reader: ResidentReader, number: AccountNumber
) -> tuple[billing.StatementLine, ...]:
    """Return the household's statement lines, oldest month first (B3; as ``monthly_statement``,
    in one read).

    :raises UnknownAccount: if there is no such account.
    """
    facts = await reader.statement(number)
    return billing.monthly_statement(
        totals=facts.totals,
        tariffs=facts.tariffs,
        migration_credits=facts.migration_credits,
        balance=facts.balance,
    )


async def resident_charges(
    *, reader: ResidentReader, number: AccountNumber, page: int, per_page: int
) -> ChargePage:
    """Return one page of the household's monthly charge lines, newest month first.

    :raises InvalidPage: if the page is out of range.
    :raises UnknownAccount: if there is no such account.
    """
    _check_paging(page, per_page)
    lines = await resident_statement(reader=reader, number=number)
    newest_first = tuple(reversed(lines))
    start = (page - 1) * per_page
    return ChargePage(lines=newest_first[start : start + per_page], total=len(lines))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ResidentUsage:
    """The usage page (Q5): today, this month, this year; a month by day; a year by month.

    ``month_days`` has every day of ``month`` (zero where nothing was read);
    ``year_months`` and ``last_year_months`` every month of ``year`` and the year before.
    """

    today: RegisterSet
    this_month: RegisterSet
    this_year: RegisterSet
    month: BillingMonth
    month_days: tuple[UsageRow, ...]
    year: int
    year_months: tuple[UsageRow, ...]
    last_year_months: tuple[UsageRow, ...]


def _filled(rows: Sequence[UsageRow], periods: Sequence[str]) -> tuple[UsageRow, ...]:
    found = {row.period: row.registers for row in rows}
    return tuple(
        UsageRow(period=period, registers=found.get(period, RegisterSet.zero()))
        for period in periods
    )


def _months_of(year: int) -> list[str]:
    return [f"{year:04d}-{month:02d}" for month in range(1, 13)]


async def resident_usage(
    *,
    reader: ResidentReader,
    number: AccountNumber,
    now: datetime,
    month: BillingMonth | None = None,
    year: int | None = None,
) -> ResidentUsage:
    """Return the usage page for ``month`` and ``year`` (default: the current ones), in one read.

    :raises InvalidPage: for a month or year more than 20 years back or in the future.
    """
    today = local_date(now)
    month = month or BillingMonth.of_date(today)
    year = year or today.year
    if not today.year - 20 <= year <= today.year or not today.year - 20 <= month.year <= today.year:
        raise InvalidPage(f"usage of {month} / {year}")
    current_month = BillingMonth.of_date(today)
    facts = await reader.usage(
        number,
        first_date=month.first_date,
        last_date=_last_day(month),
        first_month=f"{year - 1:04d}-01",
        last_month=f"{year:04d}-12",
        today=today,
        this_month=str(current_month),
        this_year=today.year,
    )
    days, months = facts.days, facts.months
    today_rows, this_month, totals = facts.today, facts.this_month, facts.this_year
    day_periods = [
        (month.first_date + timedelta(days=offset)).isoformat()
        for offset in range((_last_day(month) - month.first_date).days + 1)
    ]
    return ResidentUsage(
        today=today_rows[0].registers if today_rows else RegisterSet.zero(),
        this_month=this_month[0].registers if this_month else RegisterSet.zero(),
        this_year=totals[0].registers if totals else RegisterSet.zero(),
        month=month,
        month_days=_filled(days, day_periods),
        year=year,
        year_months=_filled(months, _months_of(year)),
        last_year_months=_filled(months, _months_of(year - 1)),
    )


def _last_day(month: BillingMonth) -> date:
    return date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])


class PowerEventKind(StrEnum):
    """What happened to the household's power, in words the page can say."""

    WARNING_CUT = "WARNING_CUT"
    ARREARS_CUT = "ARREARS_CUT"
    OPERATOR_CUT = "OPERATOR_CUT"
    WARNING_CUT_ENDED = "WARNING_CUT_ENDED"
    RESTORED_AFTER_PAYMENT = "RESTORED_AFTER_PAYMENT"
    RESTORED_BY_KEEP_POWER = "RESTORED_BY_KEEP_POWER"
    OPERATOR_RESTORE = "OPERATOR_RESTORE"
    KEEP_POWER_STARTED = "KEEP_POWER_STARTED"
    KEEP_POWER_ENDED = "KEEP_POWER_ENDED"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PowerEvent:
    """One cut, restore or keep-power order, with what explains it.

    ``done`` says whether the meter confirmed it (``at`` is then when); otherwise ``status``
    says where the command is (PENDING: about to happen; FAILED: staff were alerted).
    Keep-power orders are not commands: their ``status`` is None.
    ``payment`` is the top-up that lifted the balance, for a restore after payment.
    """

    kind: PowerEventKind
    at: datetime
    done: bool
    status: RelayCommandStatus | None
    balance_then: Money | None
    payment: Payment | None = None
    note: str = ""


# A reason the rules did not give (OPERATOR) is staff's cut or restore.
_TRIPS = {
    RelayReason.WARNING_CUT: PowerEventKind.WARNING_CUT,
    RelayReason.ARREARS: PowerEventKind.ARREARS_CUT,
}
_CLOSES = {
    RelayReason.WARNING_CUT_ENDED: PowerEventKind.WARNING_CUT_ENDED,
    RelayReason.ARREARS_CLEARED: PowerEventKind.RESTORED_AFTER_PAYMENT,
    RelayReason.KEEP_POWER: PowerEventKind.RESTORED_BY_KEEP_POWER,
}
# How long before a restore the top-up that caused it may lie (the close is queued in the
# top-up's own transaction, so normally at the same instant).
_PAYMENT_SLACK = timedelta(hours=1)


def _kind_of(record: RelayRecord) -> PowerEventKind | None:
    if record.action is RelayOperation.TRIP:
        return _TRIPS.get(record.reason, PowerEventKind.OPERATOR_CUT)
    if record.action is RelayOperation.CLOSE:
        return _CLOSES.get(record.reason, PowerEventKind.OPERATOR_RESTORE)
    return None  # keep-power on/off are shown from the orders themselves


def _payment_before(found: Sequence[Payment], at: datetime) -> Payment | None:
    candidates = [
        p
        for p in found
        if p.amount.fen > 0 and at - _PAYMENT_SLACK <= p.at <= at + timedelta(seconds=1)
    ]
    return max(candidates, key=lambda p: p.at) if candidates else None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PowerStory:
    """The relay now (``CLOSED``, ``OPEN``, ``UNKNOWN``) and what happened, newest first.

    ``held`` says why a cut the balance calls for is being held back now (a holiday, a
    keep-power order), and ``held_until`` the earliest time it may be made.
    """

    relay: str
    events: tuple[PowerEvent, ...]
    held: prepaid.CutHold | None = None
    held_until: datetime | None = None


async def power_story(
    *, reader: ResidentReader, number: AccountNumber, now: datetime
) -> PowerStory:
    """Return the relay now and every cut and restore of the household's meter in the last
    year, newest first, each with what explains it, and the keep-power orders beside them.

    Cancelled commands (a top-up that won the race with a trip) are left out: they never
    reached the meter.
    """
    since = now - timedelta(days=POWER_STORY_DAYS)
    facts = await reader.power(number, since=since, limit=POWER_STORY_LIMIT)
    records, spells = facts.records, facts.spells
    events: list[PowerEvent] = []
    for record in records:
        kind = _kind_of(record)
        if kind is None or record.status is RelayCommandStatus.CANCELLED:
            continue
        done = record.done_at is not None and record.status is RelayCommandStatus.CONFIRMED
        at = record.done_at if done and record.done_at is not None else record.not_before_at
        payment = (
            _payment_before(facts.top_ups, record.ordered_at)
            if kind is PowerEventKind.RESTORED_AFTER_PAYMENT
            else None
        )
        events.append(
            PowerEvent(
                kind=kind,
                at=at,
                done=done,
                status=record.status,
                balance_then=record.balance_then,
                payment=payment,
            )
        )
    events.extend(_spell_events(spells, now=now))
    held: prepaid.CutHold | None = None
    if facts.held_until is not None and facts.held_until > now:
        keeping = any(
            spell.start_at <= now and (spell.end_at is None or now < spell.end_at)
            for spell in spells
        )
        held = prepaid.CutHold.KEEP_POWER if keeping else prepaid.CutHold.HOLIDAY
    return PowerStory(
        relay=facts.relay,
        events=tuple(sorted(events, key=lambda event: event.at, reverse=True)),
        held=held,
        held_until=facts.held_until if held is not None else None,
    )


def _spell_events(spells: Sequence[KeepPowerSpell], *, now: datetime) -> list[PowerEvent]:
    found: list[PowerEvent] = []
    for spell in spells:
        found.append(
            PowerEvent(
                kind=PowerEventKind.KEEP_POWER_STARTED,
                at=spell.start_at,
                done=spell.start_at <= now,
                status=None,
                balance_then=None,
                note=spell.reason,
            )
        )
        if spell.end_at is not None:
            found.append(
                PowerEvent(
                    kind=PowerEventKind.KEEP_POWER_ENDED,
                    at=spell.end_at,
                    done=spell.end_at <= now,
                    status=None,
                    balance_then=None,
                )
            )
    return found


async def resident_texts(
    *, reader: ResidentReader, number: AccountNumber, page: int, per_page: int
) -> TextPage:
    """Return one page of the SMS sent to the household, newest first (N1, N2).

    :raises InvalidPage: if the page is out of range.
    """
    _check_paging(page, per_page)
    return await reader.texts(number, offset=(page - 1) * per_page, limit=per_page)


def receipt_belongs(payment: Payment, number: AccountNumber) -> bool:
    """Test whether a receipt is the household's own (a stranger's is "not found")."""
    return payment.account_number == number
