"""The one alarm model and the head-end's relay ideas (domain.alarms, domain.headend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wattbook.domain import prepaid
from wattbook.domain.alarms import Alarm, AlarmKind, AlarmScope, kinds_of
from wattbook.domain.headend import MeterStatus, RelayOperation, RelayReason
from wattbook.domain.values import MeterNumber

AT = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
METER = MeterNumber(value="051600000001")


class TestAlarmKinds:
    def test_every_kind_belongs_to_exactly_one_scope(self) -> None:
        families = [set(kinds_of(scope)) for scope in AlarmScope]

        assert set().union(*families) == set(AlarmKind)
        assert sum(len(family) for family in families) == len(AlarmKind)

    def test_the_manuals_meter_alarms_and_the_safe_path_alarms_are_in_their_families(
        self,
    ) -> None:
        assert AlarmKind.METER_COVER_OPENED.scope is AlarmScope.METER
        assert AlarmKind.NO_COMMUNICATION.scope is AlarmScope.METER
        assert AlarmKind.IMPLAUSIBLE_JUMP.scope is AlarmScope.READING
        assert AlarmKind.HOLIDAY_SCHEDULE_UNCONFIRMED.scope is AlarmScope.SYSTEM
        assert AlarmKind.BANK_CALLBACK_REFUSED.scope is AlarmScope.SYSTEM


class TestAlarm:
    def test_a_meter_alarm_names_its_meter_as_its_subject(self) -> None:
        alarm = Alarm.on_meter(METER, AlarmKind.POWER_DOWN, started_at=AT)

        assert (alarm.subject, alarm.meter_number, alarm.is_open) == (str(METER), METER, True)

    def test_a_meter_alarm_without_its_meter_is_refused(self) -> None:
        with pytest.raises(ValueError, match="meter"):
            Alarm(kind=AlarmKind.POWER_DOWN, subject="bus-1", started_at=AT)

    def test_a_system_alarm_about_a_meter_is_refused(self) -> None:
        with pytest.raises(ValueError, match="system"):
            Alarm(
                kind=AlarmKind.BUS_UNREACHABLE,
                subject=str(METER),
                meter_number=METER,
                started_at=AT,
            )

    def test_an_alarm_that_ends_before_it_starts_or_names_nothing_is_refused(self) -> None:
        with pytest.raises(ValueError, match="end"):
            Alarm.on_meter(
                METER, AlarmKind.POWER_DOWN, started_at=AT, ended_at=AT - timedelta(seconds=1)
            )
        with pytest.raises(ValueError, match="subject"):
            Alarm(kind=AlarmKind.BUS_UNREACHABLE, subject="", started_at=AT)


class TestRelay:
    def test_the_rules_reasons_are_relay_reasons(self) -> None:
        rules = {reason.value for reason in (*prepaid.TripReason, *prepaid.CloseReason)}

        assert rules <= {reason.value for reason in RelayReason}
        assert {reason.value for reason in RelayReason} - rules == {"OPERATOR"}

    @pytest.mark.parametrize(
        ("status", "confirmed"),
        [
            (
                MeterStatus(relay_open=True, relay_command_open=True, keep_power=False),
                {"TRIP", "KEEP_POWER_OFF"},
            ),
            (
                MeterStatus(relay_open=False, relay_command_open=False, keep_power=True),
                {"CLOSE", "KEEP_POWER_ON"},
            ),
        ],
    )
    def test_the_read_back_confirms_what_the_status_word_shows(
        self, status: MeterStatus, confirmed: set[str]
    ) -> None:
        assert {op.value for op in RelayOperation if status.confirms(op)} == confirmed
