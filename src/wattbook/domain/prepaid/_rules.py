"""The prepaid rules (B4-B7, A3) as a pure state machine.

Given the balance, the price, the calendar, keep-power orders, the relay state, the time and the
account's rule state, ``evaluate`` returns the commands to queue (SMS, trip, close) and the new
rule state. The application writes the commands to outbox tables in the same transaction as the
money, and calls ``evaluate`` again after every change of balance, when a keep-power order starts
or ends, and at ``re_evaluate_at``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from wattbook.domain.values import (
    AccountNumber,
    Energy,
    Money,
    Period,
    Price,
    WorkingCalendar,
    local_date,
    local_datetime,
    require_aware,
)

# Far more than any run of holidays (the longest is the 8-9 day Spring Festival or National Day
# break) plus chained keep-power orders; reaching it means the inputs are wrong.
_MAX_DEFERRAL_STEPS = 400


# The manual, 4.2: 电量低于 20 度 ... 短信低值提醒；电量低于 5 度，断电一次，2 分钟后自动合闸.
LOW_BALANCE_ENERGY = Energy(wh=20_000)
WARNING_CUT_ENERGY = Energy(wh=5_000)
# A low spell ends only when the balance buys this much more than the SMS threshold: a top-up
# of a few fen across the line must not re-arm the SMS and the warning cut (no chatter).
LOW_SPELL_END_MARGIN = Energy(wh=1_000)


class RelayState(StrEnum):
    """The meter relay as last confirmed by reading it back (C4)."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    UNKNOWN = "UNKNOWN"


class HolidayRule(StrEnum):
    """Which days have no cut for lack of money (B7, 节假日无费用不断电)."""

    NON_WORKING_DAYS = "NON_WORKING_DAYS"
    STATUTORY_HOLIDAYS_ONLY = "STATUTORY_HOLIDAYS_ONLY"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepaidSettings:
    """The policy values, defaulting to the manual (4.2): 20 kWh, 5 kWh, 2 minutes.

    ``deferred_trip_time`` is when, on the next day cuts are allowed, a deferred trip may
    happen: 08:00 by default, so nobody is cut at midnight and the counter is open.
    ``low_spell_end_margin``: a low spell (one SMS, one warning cut) ends only when the balance
    buys at least ``low_balance_energy`` plus this margin (hysteresis, ADR 3).
    """

    low_balance_energy: Energy = LOW_BALANCE_ENERGY
    warning_cut_energy: Energy = WARNING_CUT_ENERGY
    reclose_delay: timedelta = timedelta(minutes=2)
    holiday_rule: HolidayRule = HolidayRule.NON_WORKING_DAYS
    deferred_trip_time: time = time(8, 0)
    low_spell_end_margin: Energy = LOW_SPELL_END_MARGIN

    def __post_init__(self) -> None:
        if self.warning_cut_energy.wh < 0 or self.low_balance_energy < self.warning_cut_energy:
            raise ValueError("thresholds must satisfy 0 <= warning cut <= low balance")
        if self.low_spell_end_margin.wh < 0:
            raise ValueError("the low spell's end margin must not be negative")
        if self.reclose_delay <= timedelta(0):
            raise ValueError("the re-close delay must be positive")
        if self.deferred_trip_time.tzinfo is not None:
            raise ValueError("deferred_trip_time is a local wall-clock time")


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleState:
    """What the rules remember per account between evaluations.

    - ``low_balance_notified``: the SMS for the current low spell went;
    - ``warning_cut_done``: the warning cut for the current low spell is done (or was
      superseded by an arrears trip);
    - ``warning_close_due_at``: when the scheduled close after a warning cut is due;
    - ``tripped_for_arrears``: the rules tripped the relay because the balance was negative.
    """

    low_balance_notified: bool = False
    warning_cut_done: bool = False
    warning_close_due_at: datetime | None = None
    tripped_for_arrears: bool = False

    @classmethod
    def initial(cls) -> RuleState:
        """Return the state of an account the rules have never acted on."""
        return cls()


class SmsKind(StrEnum):
    """Which SMS the rules ask for."""

    LOW_BALANCE = "LOW_BALANCE"


class TripReason(StrEnum):
    """Why the rules trip a relay."""

    WARNING_CUT = "WARNING_CUT"
    ARREARS = "ARREARS"


class CloseReason(StrEnum):
    """Why the rules close a relay."""

    WARNING_CUT_ENDED = "WARNING_CUT_ENDED"
    ARREARS_CLEARED = "ARREARS_CLEARED"
    KEEP_POWER = "KEEP_POWER"


class CutHold(StrEnum):
    """Why a cut the balance calls for is not made now."""

    HOLIDAY = "HOLIDAY"
    KEEP_POWER = "KEEP_POWER"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSms:
    """Queue an SMS to the account's phone (N1)."""

    account_number: AccountNumber
    kind: SmsKind
    balance: Money
    price: Price

    @property
    def event_name(self) -> str:
        """Return the dotted event name."""
        return "prepaid.low-balance.sms-queued"


@dataclass(frozen=True, slots=True, kw_only=True)
class TripRelay:
    """Queue a trip (拉闸) of the account's meter relay, to execute now."""

    account_number: AccountNumber
    reason: TripReason

    @property
    def event_name(self) -> str:
        """Return the dotted event name."""
        if self.reason is TripReason.WARNING_CUT:
            return "prepaid.warning-cut.started"
        return "prepaid.arrears.trip-ordered"


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseRelay:
    """Queue a close (合闸) of the account's meter relay, not before ``not_before_at``."""

    account_number: AccountNumber
    reason: CloseReason
    not_before_at: datetime

    @property
    def event_name(self) -> str:
        """Return the dotted event name."""
        return {
            CloseReason.WARNING_CUT_ENDED: "prepaid.warning-cut.close-scheduled",
            CloseReason.ARREARS_CLEARED: "prepaid.arrears.close-ordered",
            CloseReason.KEEP_POWER: "prepaid.keep-power.close-ordered",
        }[self.reason]


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelScheduledClose:
    """Cancel a queued close that has not executed yet (an arrears trip overtook a warning cut)."""

    account_number: AccountNumber
    reason: CloseReason

    @property
    def event_name(self) -> str:
        """Return the dotted event name."""
        return "prepaid.warning-cut.close-cancelled"


Command = SendSms | TripRelay | CloseRelay | CancelScheduledClose


@dataclass(frozen=True, slots=True, kw_only=True)
class PrepaidDecision:
    """The commands to queue, the new rule state, and when to evaluate again.

    ``re_evaluate_at`` is set when a cut is held back (``held``): the earliest time it may be
    made. None means: only when an input changes.
    """

    commands: tuple[Command, ...]
    state: RuleState
    re_evaluate_at: datetime | None = None
    held: CutHold | None = None


def is_low(balance: Money, price: Price, settings: PrepaidSettings) -> bool:
    """Test whether the balance buys less than the SMS threshold (B4), exactly."""
    return price.buys_less_than(balance=balance, energy=settings.low_balance_energy)


def low_balance_line_fen(price: Price, settings: PrepaidSettings) -> int:
    """Return the smallest whole-fen balance that is not low (B4) at ``price``.

    ``is_low(balance)`` is exactly ``balance.fen < low_balance_line_fen(...)``; set-based SQL
    takes its line from here rather than working the threshold out again.
    """
    return math.ceil(price.exact_fen(settings.low_balance_energy))


def ends_low_spell(balance: Money, price: Price, settings: PrepaidSettings) -> bool:
    """Test whether the balance is far enough above the SMS threshold to end a low spell.

    While a spell lasts, the SMS and the warning cut are not repeated; a top-up of a few fen
    across the threshold does not end it (ADR 3).
    """
    return not price.buys_less_than(
        balance=balance, energy=settings.low_balance_energy + settings.low_spell_end_margin
    )


def arrears_line_fen() -> int:
    """Return the balance below which an account is in arrears (B6): zero fen.

    ``in_arrears(balance)`` is exactly ``balance.fen < arrears_line_fen()``; the arrears
    list's SQL takes its line from here.
    """
    return 0


def in_arrears(balance: Money) -> bool:
    """Test whether the balance is below zero (B6: 电量低于0度切断供电; zero is not below)."""
    return balance.fen < arrears_line_fen()


def in_warning_band(balance: Money, price: Price, settings: PrepaidSettings) -> bool:
    """Test whether 0 <= balance < the warning cut's worth (B5)."""
    return not in_arrears(balance) and price.buys_less_than(
        balance=balance, energy=settings.warning_cut_energy
    )


def _no_cut_day(day: date, *, calendar: WorkingCalendar, settings: PrepaidSettings) -> bool:
    if settings.holiday_rule is HolidayRule.STATUTORY_HOLIDAYS_ONLY:
        return calendar.is_statutory_holiday(day)
    return not calendar.is_working_day(day)


def _morning_after_no_cut_day(
    at: datetime, *, calendar: WorkingCalendar, settings: PrepaidSettings
) -> datetime | None:
    """Return when cuts resume if ``at`` is on a cut day before ``deferred_trip_time`` and the
    day before was a no-cut day (nobody is cut at midnight after a holiday), else None.

    A calendar that does not reach back to the day before gives None: callers that decide
    cuts load it from yesterday on.
    """
    day = local_date(at)
    before = day - timedelta(days=1)
    if before < calendar.first_date or not _no_cut_day(
        before, calendar=calendar, settings=settings
    ):
        return None
    resume_at = local_datetime(day, settings.deferred_trip_time)
    return resume_at if at < resume_at else None


def _keep_power_at(at: datetime, keep_power: tuple[Period, ...]) -> Period | None:
    for order in keep_power:
        if order.contains(at):
            return order
    return None


def next_cut_allowed_at(
    *,
    now: datetime,
    calendar: WorkingCalendar,
    keep_power: tuple[Period, ...],
    settings: PrepaidSettings,
) -> datetime | None:
    """Return the earliest instant from ``now`` at which a cut for lack of money is allowed.

    None if an open-ended keep-power order is in force then. A search that runs past the
    calendar's last date (a keep-power order ending beyond it) returns the instant it got to:
    the cut is looked at again then, with a calendar that reaches further. Never earlier than
    the true answer's first candidate, so nobody is cut early.
    """
    at = require_aware(now)
    for _step in range(_MAX_DEFERRAL_STEPS):
        order = _keep_power_at(at, keep_power)
        if order is not None:
            if order.end_at is None:
                return None
            at = order.end_at
            continue
        day = local_date(at)
        if day > calendar.last_date:
            return at
        morning = _morning_after_no_cut_day(at, calendar=calendar, settings=settings)
        if morning is not None and not _no_cut_day(day, calendar=calendar, settings=settings):
            at = morning
            continue
        if _no_cut_day(day, calendar=calendar, settings=settings):
            day += timedelta(days=1)
            while day <= calendar.last_date and _no_cut_day(
                day, calendar=calendar, settings=settings
            ):
                day += timedelta(days=1)
            at = max(at, local_datetime(day, settings.deferred_trip_time))
            continue
        return at
    raise ValueError("no time to cut found: keep-power orders or the calendar are inconsistent")


def cut_hold(
    *,
    now: datetime,
    calendar: WorkingCalendar,
    keep_power: tuple[Period, ...],
    settings: PrepaidSettings,
) -> CutHold | None:
    """Return why a cut for lack of money may not be made at ``now``, or None if it may (B7, A3).

    The one answer to "may we cut now?": the rules ask it when they decide, and the head-end
    asks it again just before it sends a trip.
    """
    if _keep_power_at(require_aware(now), keep_power) is not None:
        return CutHold.KEEP_POWER
    if _no_cut_day(local_date(now), calendar=calendar, settings=settings):
        return CutHold.HOLIDAY
    if _morning_after_no_cut_day(now, calendar=calendar, settings=settings) is not None:
        return CutHold.HOLIDAY
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TripRecheck:
    """Whether a queued trip is still to be sent now (``send``), and if not, why.

    ``wanted`` is False when the balance no longer calls for the cut (a top-up won); a wanted
    cut that may not be made now is ``held``, to be looked at again at ``look_again_at``
    (None: an open-ended keep-power order).
    """

    send: bool
    wanted: bool
    held: CutHold | None = None
    look_again_at: datetime | None = None


def recheck_trip(
    *,
    reason: TripReason,
    balance: Money,
    price: Price,
    now: datetime,
    calendar: WorkingCalendar,
    keep_power: tuple[Period, ...],
    settings: PrepaidSettings,
) -> TripRecheck:
    """Return whether a trip the rules queued earlier is still to be sent at ``now``.

    The same thresholds and the same hold as :func:`evaluate`: an arrears trip is wanted while
    the balance is below zero, a warning cut while it is in the warning band.
    """
    if reason is TripReason.ARREARS:
        wanted = in_arrears(balance)
    else:
        wanted = in_warning_band(balance, price, settings)
    if not wanted:
        return TripRecheck(send=False, wanted=False)
    held = cut_hold(now=now, calendar=calendar, keep_power=keep_power, settings=settings)
    if held is None:
        return TripRecheck(send=True, wanted=True)
    return TripRecheck(
        send=False,
        wanted=True,
        held=held,
        look_again_at=next_cut_allowed_at(
            now=now, calendar=calendar, keep_power=keep_power, settings=settings
        ),
    )


def evaluate(
    *,
    account_number: AccountNumber,
    balance: Money,
    price: Price,
    now: datetime,
    relay: RelayState,
    state: RuleState,
    calendar: WorkingCalendar,
    keep_power: tuple[Period, ...],
    settings: PrepaidSettings,
) -> PrepaidDecision:
    """Return what the prepaid rules decide for one account at ``now``.

    - B4: SMS when the balance buys less than 20 kWh (exact, ``balance < 20 kWh × price``),
      once per low spell. A spell ends only when the balance buys 20 kWh plus
      ``low_spell_end_margin`` (1 kWh), so a top-up of a few fen does not re-arm it.
    - B5: warning cut when 0 <= balance < 5 kWh worth: trip now and close at
      now + 2 minutes, once per low spell.
    - B6: trip when balance < 0; close when a top-up brings it back to >= 0 (the manual cuts
      "below 0", so 0 itself is not below and keeps the power on).
    - B7 / A3: no cut for lack of money on a no-cut day (``holiday_rule``) or under keep-power;
      the cut is held and ``re_evaluate_at`` says when it may be made. Keep-power also closes a
      relay the rules opened. A relay already off when a holiday starts stays off.

    :raises NaiveDatetime: if ``now`` is naive.
    :raises CalendarNotCovered: if the calendar does not include ``now``'s date.
    """
    require_aware(now)
    commands: list[Command] = []
    low_notified = state.low_balance_notified
    warning_done = state.warning_cut_done
    close_due_at = state.warning_close_due_at
    tripped = state.tripped_for_arrears
    re_evaluate_at: datetime | None = None
    held: CutHold | None = None

    if close_due_at is not None and now >= close_due_at:
        close_due_at = None  # the scheduled close has come due; the outbox executes it
    low = is_low(balance, price, settings)
    warning = price.buys_less_than(balance=balance, energy=settings.warning_cut_energy)
    arrears = in_arrears(balance)
    if ends_low_spell(balance, price, settings):
        low_notified = False
        warning_done = False

    if low and not low_notified:
        commands.append(
            SendSms(
                account_number=account_number,
                kind=SmsKind.LOW_BALANCE,
                balance=balance,
                price=price,
            )
        )
        low_notified = True

    keep_power_order = _keep_power_at(now, keep_power)
    if keep_power_order is not None:
        if tripped or relay is RelayState.OPEN:
            commands.append(
                CloseRelay(
                    account_number=account_number, reason=CloseReason.KEEP_POWER, not_before_at=now
                )
            )
            tripped = False
    elif tripped and not arrears:
        commands.append(
            CloseRelay(
                account_number=account_number, reason=CloseReason.ARREARS_CLEARED, not_before_at=now
            )
        )
        tripped = False
        # Restoring power only to cut it again for a warning would be perverse: the arrears
        # trip already stood for this crossing's warning cut.
        warning_done = warning_done or warning

    wants_arrears_trip = arrears and (not tripped or relay is RelayState.CLOSED)
    wants_warning_cut = (
        in_warning_band(balance, price, settings) and not warning_done and not tripped
    )
    if wants_arrears_trip or wants_warning_cut:
        held = cut_hold(now=now, calendar=calendar, keep_power=keep_power, settings=settings)
        if held is not None:
            re_evaluate_at = next_cut_allowed_at(
                now=now, calendar=calendar, keep_power=keep_power, settings=settings
            )
        elif wants_arrears_trip:
            if close_due_at is not None:
                # The warning cut's close must not restore power to an account now in arrears.
                commands.append(
                    CancelScheduledClose(
                        account_number=account_number, reason=CloseReason.WARNING_CUT_ENDED
                    )
                )
                close_due_at = None
            commands.append(TripRelay(account_number=account_number, reason=TripReason.ARREARS))
            tripped = True
            warning_done = True  # the arrears trip supersedes this crossing's warning cut
        else:
            close_due_at = now + settings.reclose_delay
            commands.append(TripRelay(account_number=account_number, reason=TripReason.WARNING_CUT))
            commands.append(
                CloseRelay(
                    account_number=account_number,
                    reason=CloseReason.WARNING_CUT_ENDED,
                    not_before_at=close_due_at,
                )
            )
            warning_done = True

    return PrepaidDecision(
        commands=tuple(commands),
        state=RuleState(
            low_balance_notified=low_notified,
            warning_cut_done=warning_done,
            warning_close_due_at=close_due_at,
            tripped_for_arrears=tripped,
        ),
        re_evaluate_at=re_evaluate_at,
        held=held,
    )
