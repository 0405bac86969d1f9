"""Unit tests of wattbook.domain.prepaid: the rules B4-B7 and keep-power (A3)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from wattbook.domain import prepaid
from wattbook.domain.values import (
    DEFAULT_PRICE,
    SHANGHAI,
    AccountNumber,
    CalendarNotCovered,
    Energy,
    Money,
    NaiveDatetime,
    Period,
    Price,
    WorkingCalendar,
)

NUMBER = AccountNumber(value="051600001234")
CALENDAR = WorkingCalendar.from_chinese_calendar(
    first_date=date(2024, 1, 1), last_date=date(2025, 12, 31)
)
SETTINGS = prepaid.PrepaidSettings()

WORKING_WEDNESDAY = "2024-10-09T14:00"
NATIONAL_DAY = "2024-10-01T14:00"
ADJUSTED_WORKING_SATURDAY = "2024-10-12T14:00"
ORDINARY_SATURDAY = "2024-10-19T14:00"

# At 0.5283 yuan/kWh, 20 kWh is worth 1056.6 fen and 5 kWh 264.15 fen; a low spell ends at
# 21 kWh worth (1109.43 fen): 1110 fen ends it, 1109 does not.
SPELL_ENDED = Money(fen=1110)
SPELL_GOES_ON = Money(fen=1109)
HIGH = Money(fen=1057)
LOW = Money(fen=1056)
ABOVE_WARNING = Money(fen=265)
WARNING = Money(fen=264)
ZERO = Money.zero()
NEGATIVE = Money(fen=-1)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def decide(
    balance: Money,
    *,
    at: str = WORKING_WEDNESDAY,
    state: prepaid.RuleState | None = None,
    relay: prepaid.RelayState = prepaid.RelayState.CLOSED,
    keep_power: tuple[Period, ...] = (),
    settings: prepaid.PrepaidSettings = SETTINGS,
    price: Price = DEFAULT_PRICE,
) -> prepaid.PrepaidDecision:
    return prepaid.evaluate(
        account_number=NUMBER,
        balance=balance,
        price=price,
        now=local(at),
        relay=relay,
        state=state or prepaid.RuleState.initial(),
        calendar=CALENDAR,
        keep_power=keep_power,
        settings=settings,
    )


def kinds(decision: prepaid.PrepaidDecision) -> list[str]:
    names = []
    for command in decision.commands:
        if isinstance(command, prepaid.SendSms):
            names.append("sms")
        elif isinstance(command, prepaid.TripRelay):
            names.append(f"trip:{command.reason.value}")
        elif isinstance(command, prepaid.CloseRelay):
            names.append(f"close:{command.reason.value}")
        else:
            names.append("cancel-close")
    return names


NOTIFIED = prepaid.RuleState(low_balance_notified=True)
WARNED = prepaid.RuleState(low_balance_notified=True, warning_cut_done=True)
TRIPPED = prepaid.RuleState(
    low_balance_notified=True, warning_cut_done=True, tripped_for_arrears=True
)


class TestLowBalanceSms:
    def test_sends_below_twenty_kwh_worth(self) -> None:
        decision = decide(LOW)

        assert kinds(decision) == ["sms"]
        assert decision.state.low_balance_notified

    def test_sends_nothing_at_exactly_enough_for_twenty_kwh(self) -> None:
        assert kinds(decide(HIGH)) == []

    def test_sends_once_per_crossing(self) -> None:
        assert kinds(decide(Money(fen=900), state=NOTIFIED)) == []

    def test_is_rearmed_when_the_low_spell_ends(self) -> None:
        topped_up = decide(SPELL_ENDED, state=NOTIFIED)

        again = decide(LOW, state=topped_up.state)

        assert not topped_up.state.low_balance_notified
        assert kinds(again) == ["sms"]

    def test_is_not_rearmed_just_above_the_threshold(self) -> None:
        topped_up = decide(SPELL_GOES_ON, state=NOTIFIED)

        assert topped_up.state.low_balance_notified
        assert kinds(decide(LOW, state=topped_up.state)) == []

    def test_is_not_rearmed_by_one_fen_top_ups_across_the_threshold(self) -> None:
        state = decide(LOW).state
        sent = []
        for _ in range(8):  # a fen in, a fen used, eight times over
            state = decide(HIGH, state=state).state
            sent += kinds(decide(LOW, state=state))

        assert sent == []

    def test_is_not_rearmed_by_a_top_up_that_stays_below(self) -> None:
        assert decide(Money(fen=1000), state=NOTIFIED).state.low_balance_notified

    def test_still_sends_on_a_holiday(self) -> None:
        assert kinds(decide(LOW, at=NATIONAL_DAY)) == ["sms"]

    def test_carries_balance_and_price(self) -> None:
        command = decide(LOW).commands[0]

        assert command == prepaid.SendSms(
            account_number=NUMBER,
            kind=prepaid.SmsKind.LOW_BALANCE,
            balance=LOW,
            price=DEFAULT_PRICE,
        )


class TestWarningCut:
    def test_trips_and_schedules_the_close_two_minutes_later(self) -> None:
        decision = decide(WARNING, state=NOTIFIED)

        assert decision.commands == (
            prepaid.TripRelay(account_number=NUMBER, reason=prepaid.TripReason.WARNING_CUT),
            prepaid.CloseRelay(
                account_number=NUMBER,
                reason=prepaid.CloseReason.WARNING_CUT_ENDED,
                not_before_at=local("2024-10-09T14:02"),
            ),
        )
        assert decision.state.warning_close_due_at == local("2024-10-09T14:02")
        assert decision.state.warning_cut_done

    def test_cuts_nothing_at_exactly_five_kwh_worth(self) -> None:
        assert kinds(decide(ABOVE_WARNING, state=NOTIFIED)) == []

    def test_cuts_at_zero(self) -> None:
        assert kinds(decide(ZERO, state=NOTIFIED)) == [
            "trip:WARNING_CUT",
            "close:WARNING_CUT_ENDED",
        ]

    def test_sends_the_sms_and_cuts_when_falling_straight_through(self) -> None:
        assert kinds(decide(WARNING)) == ["sms", "trip:WARNING_CUT", "close:WARNING_CUT_ENDED"]

    def test_cuts_once_per_crossing(self) -> None:
        first = decide(WARNING, state=NOTIFIED)

        later = decide(Money(fen=100), at="2024-10-09T15:00", state=first.state)

        assert kinds(later) == []
        assert later.state.warning_close_due_at is None

    def test_is_rearmed_when_the_low_spell_ends(self) -> None:
        topped_up = decide(SPELL_ENDED, state=WARNED)

        assert not topped_up.state.warning_cut_done
        assert kinds(decide(WARNING, state=topped_up.state)) == [
            "sms",
            "trip:WARNING_CUT",
            "close:WARNING_CUT_ENDED",
        ]

    def test_is_not_rearmed_by_a_top_up_that_leaves_the_balance_low(self) -> None:
        topped_up = decide(Money(fen=1000), state=WARNED)

        assert topped_up.state.warning_cut_done
        assert kinds(decide(WARNING, state=topped_up.state)) == []

    def test_is_not_rearmed_by_one_fen_top_ups_across_its_threshold(self) -> None:
        state = decide(WARNING, state=NOTIFIED).state
        cuts = []
        for _ in range(8):
            state = decide(ABOVE_WARNING, state=state).state
            cuts += kinds(decide(WARNING, state=state))

        assert cuts == []

    def test_waits_for_the_next_working_day_on_a_holiday(self) -> None:
        decision = decide(WARNING, at=NATIONAL_DAY, state=NOTIFIED)

        assert kinds(decision) == []
        assert decision.held is prepaid.CutHold.HOLIDAY
        assert decision.re_evaluate_at == local("2024-10-08T08:00")
        assert not decision.state.warning_cut_done

    def test_waits_for_the_morning_after_a_holiday(self) -> None:
        # 8 October 2024 is the first working day after National Day: no cut at midnight.
        decision = decide(WARNING, at="2024-10-08T00:15", state=NOTIFIED)

        assert kinds(decision) == []
        assert decision.held is prepaid.CutHold.HOLIDAY
        assert decision.re_evaluate_at == local("2024-10-08T08:00")

    def test_cuts_from_the_deferred_trip_time_after_a_holiday(self) -> None:
        decision = decide(WARNING, at="2024-10-08T08:00", state=NOTIFIED)

        assert kinds(decision) == ["trip:WARNING_CUT", "close:WARNING_CUT_ENDED"]

    def test_uses_the_configured_delay(self) -> None:
        settings = replace(SETTINGS, reclose_delay=timedelta(minutes=5))

        decision = decide(WARNING, state=NOTIFIED, settings=settings)

        assert decision.state.warning_close_due_at == local("2024-10-09T14:05")


class TestArrearsTrip:
    def test_trips_below_zero(self) -> None:
        decision = decide(NEGATIVE, state=WARNED)

        assert kinds(decision) == ["trip:ARREARS"]
        assert decision.state.tripped_for_arrears
        assert decision.commands[0].event_name == "prepaid.arrears.trip-ordered"

    def test_trips_straight_away_when_falling_from_high(self) -> None:
        decision = decide(Money(fen=-500))

        assert kinds(decision) == ["sms", "trip:ARREARS"]
        assert decision.state.warning_cut_done

    def test_stays_tripped_without_repeating_itself(self) -> None:
        decision = decide(NEGATIVE, state=TRIPPED, relay=prepaid.RelayState.OPEN)

        assert kinds(decision) == []
        assert decision.state == TRIPPED

    def test_trips_again_if_the_relay_was_closed_behind_its_back(self) -> None:
        assert kinds(decide(NEGATIVE, state=TRIPPED, relay=prepaid.RelayState.CLOSED)) == [
            "trip:ARREARS"
        ]

    def test_does_not_repeat_while_the_relay_state_is_unknown(self) -> None:
        assert kinds(decide(NEGATIVE, state=TRIPPED, relay=prepaid.RelayState.UNKNOWN)) == []

    def test_cancels_the_pending_warning_close(self) -> None:
        warned = decide(WARNING, state=NOTIFIED)

        decision = decide(
            NEGATIVE, at="2024-10-09T14:01", state=warned.state, relay=prepaid.RelayState.OPEN
        )

        assert kinds(decision) == ["cancel-close", "trip:ARREARS"]
        assert decision.state.warning_close_due_at is None

    def test_needs_no_cancel_once_the_warning_close_is_due(self) -> None:
        warned = decide(WARNING, state=NOTIFIED)

        decision = decide(NEGATIVE, at="2024-10-09T14:02", state=warned.state)

        assert kinds(decision) == ["trip:ARREARS"]

    @pytest.mark.parametrize(
        ("at", "re_evaluate_at"),
        [
            (NATIONAL_DAY, "2024-10-08T08:00"),
            ("2024-10-01T00:00", "2024-10-08T08:00"),
            ("2024-10-07T23:59", "2024-10-08T08:00"),
            (ORDINARY_SATURDAY, "2024-10-21T08:00"),
            ("2024-09-28T10:00", "2024-09-29T08:00"),  # Saturday; Sunday 29th is worked
        ],
    )
    def test_waits_for_the_next_working_day(self, at: str, re_evaluate_at: str) -> None:
        decision = decide(NEGATIVE, at=at, state=WARNED)

        assert kinds(decision) == []
        assert decision.held is prepaid.CutHold.HOLIDAY
        assert decision.re_evaluate_at == local(re_evaluate_at)
        assert not decision.state.tripped_for_arrears

    @pytest.mark.parametrize(
        "at", [ADJUSTED_WORKING_SATURDAY, "2024-09-30T23:59", "2024-10-08T08:00"]
    )
    def test_trips_on_working_days_including_an_adjusted_saturday(self, at: str) -> None:
        assert kinds(decide(NEGATIVE, at=at, state=WARNED)) == ["trip:ARREARS"]

    def test_trips_on_an_ordinary_weekend_if_only_statutory_holidays_are_protected(self) -> None:
        settings = replace(SETTINGS, holiday_rule=prepaid.HolidayRule.STATUTORY_HOLIDAYS_ONLY)

        assert kinds(decide(NEGATIVE, at=ORDINARY_SATURDAY, state=WARNED, settings=settings)) == [
            "trip:ARREARS"
        ]
        held = decide(NEGATIVE, at=NATIONAL_DAY, state=WARNED, settings=settings)
        assert held.re_evaluate_at == local("2024-10-08T08:00")

    def test_trips_when_re_evaluated_at_the_deferred_time(self) -> None:
        held = decide(NEGATIVE, at=NATIONAL_DAY, state=WARNED)

        assert held.re_evaluate_at is not None
        decision = prepaid.evaluate(
            account_number=NUMBER,
            balance=NEGATIVE,
            price=DEFAULT_PRICE,
            now=held.re_evaluate_at,
            relay=prepaid.RelayState.CLOSED,
            state=held.state,
            calendar=CALENDAR,
            keep_power=(),
            settings=SETTINGS,
        )
        assert kinds(decision) == ["trip:ARREARS"]

    def test_keeps_a_relay_already_off_when_a_holiday_starts(self) -> None:
        decision = decide(NEGATIVE, at=NATIONAL_DAY, state=TRIPPED, relay=prepaid.RelayState.OPEN)

        assert kinds(decision) == []
        assert decision.state.tripped_for_arrears


class TestRestore:
    def test_closes_when_a_top_up_brings_the_balance_to_zero(self) -> None:
        decision = decide(ZERO, state=TRIPPED, relay=prepaid.RelayState.OPEN)

        assert decision.commands == (
            prepaid.CloseRelay(
                account_number=NUMBER,
                reason=prepaid.CloseReason.ARREARS_CLEARED,
                not_before_at=local(WORKING_WEDNESDAY),
            ),
        )
        assert not decision.state.tripped_for_arrears

    def test_does_not_warning_cut_right_after_restoring(self) -> None:
        inconsistent = replace(TRIPPED, warning_cut_done=False)

        assert kinds(decide(WARNING, state=inconsistent, relay=prepaid.RelayState.OPEN)) == [
            "close:ARREARS_CLEARED"
        ]

    def test_rearms_everything_after_a_large_top_up(self) -> None:
        decision = decide(Money(fen=10_000), state=TRIPPED, relay=prepaid.RelayState.OPEN)

        assert kinds(decision) == ["close:ARREARS_CLEARED"]
        assert decision.state == prepaid.RuleState.initial()

    def test_closes_on_a_holiday_too(self) -> None:
        assert kinds(decide(Money(fen=5000), at=NATIONAL_DAY, state=TRIPPED)) == [
            "close:ARREARS_CLEARED"
        ]


class TestKeepPower:
    order = Period(start_at=local("2024-10-09T12:00"), end_at=local("2024-10-10T12:00"))

    def test_holds_the_trip_until_the_order_ends(self) -> None:
        decision = decide(NEGATIVE, state=WARNED, keep_power=(self.order,))

        assert kinds(decision) == []
        assert decision.held is prepaid.CutHold.KEEP_POWER
        assert decision.re_evaluate_at == local("2024-10-10T12:00")

    def test_holds_the_warning_cut(self) -> None:
        assert kinds(decide(WARNING, state=NOTIFIED, keep_power=(self.order,))) == []

    def test_closes_a_relay_tripped_for_arrears(self) -> None:
        decision = decide(
            NEGATIVE, state=TRIPPED, relay=prepaid.RelayState.OPEN, keep_power=(self.order,)
        )

        assert kinds(decision) == ["close:KEEP_POWER"]
        assert not decision.state.tripped_for_arrears

    def test_waits_past_a_holiday_when_the_order_ends_on_one(self) -> None:
        order = Period(start_at=local("2024-09-30T12:00"), end_at=local("2024-10-02T12:00"))

        decision = decide(NEGATIVE, at="2024-09-30T14:00", state=WARNED, keep_power=(order,))

        assert decision.re_evaluate_at == local("2024-10-08T08:00")

    def test_has_no_end_when_the_order_is_open_ended(self) -> None:
        order = Period(start_at=local("2024-10-01T00:00"))

        decision = decide(NEGATIVE, state=WARNED, keep_power=(order,))

        assert decision.held is prepaid.CutHold.KEEP_POWER
        assert decision.re_evaluate_at is None

    def test_is_half_open(self) -> None:
        assert kinds(
            decide(NEGATIVE, at="2024-10-10T12:00", state=WARNED, keep_power=(self.order,))
        ) == ["trip:ARREARS"]


class TestEvaluateInputs:
    def test_refuses_a_naive_time(self) -> None:
        with pytest.raises(NaiveDatetime):
            prepaid.evaluate(
                account_number=NUMBER,
                balance=HIGH,
                price=DEFAULT_PRICE,
                now=datetime(2024, 10, 9, 14, 0),
                relay=prepaid.RelayState.CLOSED,
                state=prepaid.RuleState.initial(),
                calendar=CALENDAR,
                keep_power=(),
                settings=SETTINGS,
            )

    def test_refuses_a_date_the_calendar_does_not_cover(self) -> None:
        with pytest.raises(CalendarNotCovered):
            decide(NEGATIVE, at="2026-01-05T10:00")

    def test_compares_in_local_time(self) -> None:
        # 2024-09-30T16:30Z is 00:30 on National Day in Shanghai.
        decision = prepaid.evaluate(
            account_number=NUMBER,
            balance=NEGATIVE,
            price=DEFAULT_PRICE,
            now=datetime(2024, 9, 30, 16, 30, tzinfo=UTC),
            relay=prepaid.RelayState.CLOSED,
            state=WARNED,
            calendar=CALENDAR,
            keep_power=(),
            settings=SETTINGS,
        )

        assert decision.held is prepaid.CutHold.HOLIDAY

    def test_refuses_inconsistent_settings(self) -> None:
        with pytest.raises(ValueError, match="thresholds"):
            replace(SETTINGS, warning_cut_energy=replace(SETTINGS.low_balance_energy, wh=30_000))


BALANCES = (
    SPELL_ENDED,
    SPELL_GOES_ON,
    HIGH,
    LOW,
    ABOVE_WARNING,
    WARNING,
    ZERO,
    NEGATIVE,
    Money(fen=-10_000),
)
STATES = tuple(
    prepaid.RuleState(
        low_balance_notified=notified,
        warning_cut_done=done,
        warning_close_due_at=local("2024-10-09T14:01") if pending else None,
        tripped_for_arrears=tripped,
    )
    for notified, done, pending, tripped in itertools.product((False, True), repeat=4)
)
TIMES = (WORKING_WEDNESDAY, NATIONAL_DAY, ADJUSTED_WORKING_SATURDAY, ORDINARY_SATURDAY)
KEEP_POWER = ((), (Period(start_at=local("2024-09-01T00:00"), end_at=local("2024-11-01T00:00")),))


@st.composite
def times(draw: st.DrawFn) -> datetime:
    day = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2025, 12, 30)))
    seconds = draw(st.integers(0, 24 * 3600 - 1))
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(seconds=seconds)


# The manual's numbers (B2, B4, B5), written as it states them: not the rules' own line.
MANUAL_PRICE = Decimal("0.5283")  # yuan per kWh


def buys_kwh(balance: Money) -> Decimal:
    """Return how many kWh the balance buys at the manual's price, exactly."""
    return Decimal(balance.fen) / 100 / MANUAL_PRICE


def cuts_allowed(at: datetime) -> bool:
    """Test whether a cut for lack of money may be made at ``at`` (B7; ADR 3): on a working
    day, and after a day off not before 08:00."""
    day = at.astimezone(SHANGHAI).date()
    if not CALENDAR.is_working_day(day):
        return False
    after_day_off = not CALENDAR.is_working_day(day - timedelta(days=1))
    return not (after_day_off and at.astimezone(SHANGHAI).hour < 8)


@dataclass(frozen=True)
class Situation:
    """One evaluation's inputs, drawn at random (the state's pending close a minute ahead)."""

    balance: Money
    state: prepaid.RuleState
    relay: prepaid.RelayState
    now: datetime
    keep_power: tuple[Period, ...]

    @property
    def day_off(self) -> bool:
        return not cuts_allowed(self.now)

    def decide(self) -> prepaid.PrepaidDecision:
        return prepaid.evaluate(
            account_number=NUMBER,
            balance=self.balance,
            price=DEFAULT_PRICE,
            now=self.now,
            relay=self.relay,
            state=self.state,
            calendar=CALENDAR,
            keep_power=self.keep_power,
            settings=SETTINGS,
        )


ANY_BALANCE = st.one_of(
    # The manual's lines and their neighbours come up often, not only by chance.
    st.sampled_from(BALANCES),
    st.builds(Money, fen=st.integers(-20_000, 20_000)),
)
IN_ARREARS = st.builds(Money, fen=st.integers(-20_000, -1))


@st.composite
def situations(
    draw: st.DrawFn,
    *,
    keep_power: bool | None = None,
    balances: st.SearchStrategy[Money] = ANY_BALANCE,
    day_off: bool | None = None,
    states: tuple[prepaid.RuleState, ...] = STATES,
) -> Situation:
    now = draw(times().filter(lambda at: day_off is None or day_off != cuts_allowed(at)))
    state = draw(st.sampled_from(states))
    if state.warning_close_due_at is not None:
        state = replace(state, warning_close_due_at=now + timedelta(minutes=1))
    ordered = draw(st.booleans()) if keep_power is None else keep_power
    order = (Period(start_at=now - timedelta(hours=1), end_at=None),) if ordered else ()
    return Situation(
        balance=draw(balances),
        state=state,
        relay=draw(st.sampled_from(tuple(prepaid.RelayState))),
        now=now,
        keep_power=order,
    )


def trips(decision: prepaid.PrepaidDecision) -> list[prepaid.TripRelay]:
    return [c for c in decision.commands if isinstance(c, prepaid.TripRelay)]


def closes(decision: prepaid.PrepaidDecision) -> list[prepaid.CloseRelay]:
    return [c for c in decision.commands if isinstance(c, prepaid.CloseRelay)]


def texts(decision: prepaid.PrepaidDecision) -> list[prepaid.SendSms]:
    return [c for c in decision.commands if isinstance(c, prepaid.SendSms)]


class TestTheManualsRules:
    """B4-B7 and A3 as the manual and ADR 3 state them, over every state, relay, day and order."""

    @given(situations())
    def test_a_balance_buying_twenty_kwh_or_more_is_never_texted(self, s: Situation) -> None:
        assume(buys_kwh(s.balance) >= 20)

        assert texts(s.decide()) == []

    @given(situations())
    def test_a_low_balance_is_texted_once_per_spell(self, s: Situation) -> None:
        assume(buys_kwh(s.balance) < 20)

        decision = s.decide()

        assert len(texts(decision)) == (0 if s.state.low_balance_notified else 1)
        assert decision.state.low_balance_notified

    @given(situations(day_off=True))
    def test_no_cut_on_a_day_off(self, s: Situation) -> None:
        assert trips(s.decide()) == []

    @given(situations(keep_power=True))
    def test_no_cut_under_keep_power(self, s: Situation) -> None:
        assert trips(s.decide()) == []

    @given(situations())
    def test_a_warning_cut_only_below_five_kwh_and_not_in_arrears(self, s: Situation) -> None:
        cut = [t for t in trips(s.decide()) if t.reason is prepaid.TripReason.WARNING_CUT]

        if cut:
            assert 0 <= buys_kwh(s.balance) < 5
            assert not s.state.warning_cut_done

    @given(situations())
    def test_a_warning_cut_closes_again_two_minutes_later(self, s: Situation) -> None:
        decision = s.decide()
        cut = [t for t in trips(decision) if t.reason is prepaid.TripReason.WARNING_CUT]
        ended = [c for c in closes(decision) if c.reason is prepaid.CloseReason.WARNING_CUT_ENDED]

        assert len(ended) == len(cut)
        assert all(c.not_before_at == s.now + timedelta(minutes=2) for c in ended)

    @given(situations())
    def test_an_arrears_trip_only_below_zero(self, s: Situation) -> None:
        arrears = [t for t in trips(s.decide()) if t.reason is prepaid.TripReason.ARREARS]

        if arrears:
            assert s.balance.fen < 0

    @given(situations(keep_power=False, balances=IN_ARREARS, day_off=False))
    def test_below_zero_on_a_working_day_the_power_goes_off(self, s: Situation) -> None:
        assume(s.relay is prepaid.RelayState.CLOSED or not s.state.tripped_for_arrears)

        decision = s.decide()

        assert [t.reason for t in trips(decision)] == [prepaid.TripReason.ARREARS]
        assert decision.state.tripped_for_arrears

    @given(situations(keep_power=False))
    def test_power_cut_for_arrears_comes_back_at_zero_or_above(self, s: Situation) -> None:
        assume(s.state.tripped_for_arrears and s.balance.fen >= 0)

        decision = s.decide()

        assert prepaid.CloseReason.ARREARS_CLEARED in [c.reason for c in closes(decision)]
        assert trips(decision) == []
        assert not decision.state.tripped_for_arrears

    @given(
        situations(
            keep_power=False,
            balances=IN_ARREARS,
            day_off=True,
            states=tuple(state for state in STATES if not state.tripped_for_arrears),
        )
    )
    def test_a_cut_held_for_a_day_off_is_looked_at_again_at_eight_on_a_working_day(
        self, s: Situation
    ) -> None:
        decision = s.decide()

        assert decision.held is prepaid.CutHold.HOLIDAY
        again = decision.re_evaluate_at
        assert again is not None
        local_again = again.astimezone(SHANGHAI)
        assert again > s.now
        assert local_again.time() == SETTINGS.deferred_trip_time
        assert CALENDAR.is_working_day(local_again.date())

    @given(situations())
    def test_every_command_names_the_account_evaluated(self, s: Situation) -> None:
        assert {c.account_number for c in s.decide().commands} <= {NUMBER}


class TestNoCutOnHolidaysProperty:
    @given(
        now=times(),
        fen=st.integers(-100_000, 100_000),
        scaled_price=st.integers(0, 20_000),
        state=st.sampled_from(STATES),
        relay=st.sampled_from(tuple(prepaid.RelayState)),
        rule=st.sampled_from(tuple(prepaid.HolidayRule)),
    )
    def test_never_cuts_for_lack_of_money_on_a_no_cut_day(
        self,
        now: datetime,
        fen: int,
        scaled_price: int,
        state: prepaid.RuleState,
        relay: prepaid.RelayState,
        rule: prepaid.HolidayRule,
    ) -> None:
        settings = replace(SETTINGS, holiday_rule=rule)
        day = now.date()
        protected = (
            CALENDAR.is_statutory_holiday(day)
            if rule is prepaid.HolidayRule.STATUTORY_HOLIDAYS_ONLY
            else not CALENDAR.is_working_day(day)
        )

        decision = prepaid.evaluate(
            account_number=NUMBER,
            balance=Money(fen=fen),
            price=Price.from_scaled(scaled_price),
            now=now,
            relay=relay,
            state=state,
            calendar=CALENDAR,
            keep_power=(),
            settings=settings,
        )

        if protected:
            assert not any(isinstance(c, prepaid.TripRelay) for c in decision.commands)
        if decision.re_evaluate_at is not None:
            assert decision.re_evaluate_at > now

    @given(
        now=times(),
        fen=st.integers(-100_000, 100_000),
        state=st.sampled_from(STATES),
        relay=st.sampled_from(tuple(prepaid.RelayState)),
        hours_before=st.integers(0, 72),
        hours_after=st.one_of(st.none(), st.integers(1, 72)),
    )
    def test_never_cuts_under_keep_power(
        self,
        now: datetime,
        fen: int,
        state: prepaid.RuleState,
        relay: prepaid.RelayState,
        hours_before: int,
        hours_after: int | None,
    ) -> None:
        order = Period(
            start_at=now - timedelta(hours=hours_before),
            end_at=None if hours_after is None else now + timedelta(hours=hours_after),
        )

        decision = prepaid.evaluate(
            account_number=NUMBER,
            balance=Money(fen=fen),
            price=DEFAULT_PRICE,
            now=now,
            relay=relay,
            state=state,
            calendar=CALENDAR,
            keep_power=(order,),
            settings=SETTINGS,
        )

        assert not any(isinstance(c, prepaid.TripRelay) for c in decision.commands)
        if decision.re_evaluate_at is not None and order.end_at is not None:
            assert decision.re_evaluate_at >= order.end_at


def recheck(
    reason: prepaid.TripReason,
    balance: Money,
    *,
    at: str = WORKING_WEDNESDAY,
    keep_power: tuple[Period, ...] = (),
) -> prepaid.TripRecheck:
    return prepaid.recheck_trip(
        reason=reason,
        balance=balance,
        price=DEFAULT_PRICE,
        now=local(at),
        calendar=CALENDAR,
        keep_power=keep_power,
        settings=SETTINGS,
    )


class TestRecheckBeforeATrip:
    def test_sends_an_arrears_trip_still_in_arrears_on_a_working_day(self) -> None:
        assert recheck(prepaid.TripReason.ARREARS, NEGATIVE) == prepaid.TripRecheck(
            send=True, wanted=True
        )

    @pytest.mark.parametrize("balance", [ZERO, WARNING, HIGH])
    def test_drops_an_arrears_trip_once_a_top_up_won(self, balance: Money) -> None:
        assert recheck(prepaid.TripReason.ARREARS, balance) == prepaid.TripRecheck(
            send=False, wanted=False
        )

    @pytest.mark.parametrize(
        ("balance", "send"),
        [(WARNING, True), (ZERO, True), (ABOVE_WARNING, False), (NEGATIVE, False)],
    )
    def test_sends_a_warning_cut_only_in_the_warning_band(self, balance: Money, send: bool) -> None:
        assert recheck(prepaid.TripReason.WARNING_CUT, balance).send is send

    def test_holds_on_a_holiday_until_the_next_working_morning(self) -> None:
        result = recheck(prepaid.TripReason.ARREARS, NEGATIVE, at=NATIONAL_DAY)

        assert result == prepaid.TripRecheck(
            send=False,
            wanted=True,
            held=prepaid.CutHold.HOLIDAY,
            look_again_at=local("2024-10-08T08:00"),
        )

    def test_holds_under_keep_power_until_the_order_ends(self) -> None:
        order = Period(start_at=local("2024-10-09T00:00"), end_at=local("2024-10-09T18:00"))

        result = recheck(prepaid.TripReason.ARREARS, NEGATIVE, keep_power=(order,))

        assert (result.held, result.look_again_at) == (
            prepaid.CutHold.KEEP_POWER,
            local("2024-10-09T18:00"),
        )

    @given(st.integers(-2_000, 2_000), st.sampled_from(TIMES))
    def test_agrees_with_the_rules_on_whether_a_cut_is_made_now(self, fen: int, at: str) -> None:
        balance = Money(fen=fen)
        decision = decide(balance, at=at, state=NOTIFIED)

        rules_cut = [c.reason for c in decision.commands if isinstance(c, prepaid.TripRelay)]

        for reason in rules_cut:
            assert recheck(reason, balance, at=at).send
        if decision.held is not None:
            for reason in prepaid.TripReason:
                assert not recheck(reason, balance, at=at).send


class TestLowBalanceLine:
    @given(
        st.integers(-(10**9), 10**9),
        st.decimals(min_value="0.0001", max_value="99.9999", places=4),
        st.integers(0, 10**7),
    )
    def test_is_exactly_where_the_rules_stop_calling_a_balance_low(
        self, fen: int, yuan_per_kwh: object, low_wh: int
    ) -> None:
        price = Price(yuan_per_kwh=yuan_per_kwh)  # type: ignore[arg-type]
        settings = prepaid.PrepaidSettings(
            low_balance_energy=Energy(wh=low_wh), warning_cut_energy=Energy(wh=0)
        )
        balance = Money(fen=fen)

        assert prepaid.is_low(balance, price, settings) == (
            fen < prepaid.low_balance_line_fen(price, settings)
        )


class TestArrearsLine:
    @pytest.mark.parametrize("fen", [-1, 0, 1, -100_000])
    def test_in_arrears_is_below_the_line(self, fen: int) -> None:
        assert prepaid.in_arrears(Money(fen=fen)) == (fen < prepaid.arrears_line_fen())
