"""A kiosk receipt exchanged for an official one (P2), and the cash-up (P1, P4), on the fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.fakes.top_up import top_up
from tests.unit.application.world import World

from wattbook.application.headend.resolve_alarm import resolve_alarm
from wattbook.application.payments.cash_up import cash_up
from wattbook.application.payments.exchange_receipt import exchange_receipt
from wattbook.application.payments.set_counter_hours import parse_counter_hours, set_counter_hours
from wattbook.domain import payments
from wattbook.domain.alarms import AlarmKind, UnknownAlarm
from wattbook.domain.values import Money


async def _receipt(world: World, channel: payments.Channel, reference: str) -> str:
    account = await world.household()
    credited = await top_up(
        uow=world.uow(),
        clock=world.clock,
        number=account,
        amount=Money(fen=5_000),
        reference=reference,
        channel=channel,
    )
    return str(credited.payments[0].receipt_number)


class TestExchangeReceipt:
    async def test_records_the_official_number_once(self) -> None:
        world = World()
        receipt = await _receipt(world, payments.Channel.KIOSK, "TX-1:1")

        exchanged = await exchange_receipt(
            uow=world.uow(),
            clock=world.clock,
            receipt_number=receipt,
            official_number="A-000123",
            operator="li.na",
        )

        assert (exchanged.official_number, exchanged.exchanged_by) == ("A-000123", "li.na")
        with pytest.raises(payments.CannotExchange, match="before"):
            await exchange_receipt(
                uow=world.uow(),
                clock=world.clock,
                receipt_number=receipt,
                official_number="A-000124",
                operator="li.na",
            )
        assert len(world.db.tables.official_receipts) == 1

    @pytest.mark.parametrize("official", ["", "A 1", "x" * 33])
    async def test_refuses_a_malformed_official_number(self, official: str) -> None:
        world = World()
        receipt = await _receipt(world, payments.Channel.KIOSK, "TX-2:1")

        with pytest.raises(payments.CannotExchange):
            await exchange_receipt(
                uow=world.uow(),
                clock=world.clock,
                receipt_number=receipt,
                official_number=official,
                operator="li.na",
            )

        assert world.db.tables.official_receipts == []

    async def test_refuses_a_counter_receipt(self) -> None:
        world = World()
        receipt = await _receipt(world, payments.Channel.COUNTER, "counter-1")

        with pytest.raises(payments.CannotExchange, match="official already"):
            await exchange_receipt(
                uow=world.uow(),
                clock=world.clock,
                receipt_number=receipt,
                official_number="A-1",
                operator="li.na",
            )


class TestCashUp:
    async def test_sums_every_channel_and_balances_with_the_journal(self) -> None:
        world = World()
        await _receipt(world, payments.Channel.KIOSK, "TX-3:1")

        found = await cash_up(uow=world.uow(), day=world.clock.now().date())  # type: ignore[arg-type]

        assert found.balanced
        assert found.by_channel() == {payments.Channel.KIOSK: Money(fen=5_000)}
        assert found.counter_cash() == {}


class TestResolveAlarm:
    async def test_ends_an_open_alarm_acknowledging_it_and_refuses_it_twice(self) -> None:
        world = World()
        async with world.uow() as uow:
            await uow.alarms.raise_alarm(
                kind=AlarmKind.BUS_UNREACHABLE, subject="bus-1", detail="", at=world.clock.now()
            )
            await uow.commit()
        (alarm,) = world.db.tables.alarms
        assert alarm.id is not None

        await resolve_alarm(
            uow=world.uow(), clock=world.clock, alarm_id=alarm.id, by="wang.gong", note="修好了"
        )

        (ended,) = world.db.tables.alarms
        assert ended.ended_at == world.clock.now()
        assert ended.acknowledged_by == "wang.gong"
        with pytest.raises(UnknownAlarm):
            await resolve_alarm(
                uow=world.uow(), clock=world.clock, alarm_id=alarm.id, by="wang.gong", note="x"
            )


class TestCounterHours:
    def test_parses_weekday_ranges_into_shifts(self) -> None:
        hours = parse_counter_hours("1-5 08:00-12:00\n\n6 09:00-11:30\n")

        assert len(hours.shifts) == 6
        assert {s.weekday for s in hours.shifts} == {0, 1, 2, 3, 4, 5}

    @pytest.mark.parametrize("text", ["", "mon 8-12", "5-1 08:00-12:00", "1 25:00-26:00"])
    def test_refuses_a_bad_timetable(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"\w"):
            parse_counter_hours(text)

    async def test_a_new_timetable_starts_on_its_day_and_not_in_the_past(self) -> None:
        world = World()
        today = world.clock.now().date()
        hours = parse_counter_hours("1-7 07:00-22:00")

        with pytest.raises(ValueError, match="past"):
            await set_counter_hours(
                uow=world.uow(),
                clock=world.clock,
                effective_from=today - timedelta(days=1),
                hours=hours,
            )
        await set_counter_hours(
            uow=world.uow(), clock=world.clock, effective_from=today, hours=hours
        )

        assert world.db.tables.counter_hours[today] == hours
