"""Readings through the SQL unit of work: idempotent, out of order, alarms, replacement."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import Household, local

from wattbook.adapters import db
from wattbook.application.accounts.install_meter import replace_meter
from wattbook.domain import metering
from wattbook.domain.values import MeterNumber, Money, RegisterSet


def _registers(total_wh: int) -> RegisterSet:
    return RegisterSet(total_wh=total_wh, sharp_wh=0, peak_wh=0, flat_wh=total_wh, valley_wh=0)


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608


@pytest.fixture
async def home(engine: Engine) -> Household:
    household = Household(engine, FakeClock(local(2025, 6, 10, 8)))
    await household.open(opening=Money(fen=100_000))
    return household


class TestRecordReadings:
    async def test_redelivered_batch_charges_nothing_more(self, home: Household) -> None:
        await home.use(3000)
        batch = (home.reading(),)
        await home.deliver(*batch)
        balance = home.balance_fen()

        report = await home.deliver(*batch)

        assert home.balance_fen() == balance == 100_000 - 158
        assert report.entries == ()
        assert _count(home.engine, "readings") == 1

    async def test_out_of_order_batch_charges_the_same_as_in_order(self, home: Household) -> None:
        start = home.clock.now()
        readings = [
            metering.Reading(
                meter_number=home.meter,
                registers=_registers(wh),
                meter_time_at=start + timedelta(hours=hour),
                received_at=start + timedelta(hours=3),
            )
            for hour, wh in ((3, 3000), (1, 1000), (2, 2000))
        ]
        home.clock.advance(timedelta(hours=3))

        await home.deliver(*readings)

        assert home.balance_fen() == 100_000 - 158  # round(3000 x 0.05283), once
        assert _count(home.engine, "readings") == 3

    async def test_late_reading_is_stored_without_charge(self, home: Household) -> None:
        early = home.clock.now() + timedelta(minutes=30)
        await home.use(2000)
        balance = home.balance_fen()

        report = await home.deliver(
            metering.Reading(
                meter_number=home.meter,
                registers=_registers(900),
                meter_time_at=early,
                received_at=home.clock.now(),
            )
        )

        assert report.count(metering.ReadingOutcome.LATE) == 1
        assert home.balance_fen() == balance

    async def test_register_going_backwards_alarms_and_credits_nothing(
        self, home: Household
    ) -> None:
        await home.use(2000)
        balance = home.balance_fen()
        home.clock.advance(timedelta(hours=1))

        await home.deliver(
            metering.Reading(
                meter_number=home.meter,
                registers=_registers(1500),
                meter_time_at=home.clock.now(),
                received_at=home.clock.now(),
            )
        )

        assert home.balance_fen() == balance
        assert home.rows("SELECT kind FROM alarms") == [("REGISTER_BACKWARDS",)]

    async def test_implausible_jump_is_held_with_an_alarm(self, home: Household) -> None:
        report = await home.use(500_000)  # 500 kWh in an hour on a 60 A meter

        assert report.count(metering.ReadingOutcome.IMPLAUSIBLE) == 1
        assert home.balance_fen() == 100_000
        assert home.rows("SELECT outcome FROM readings") == [("IMPLAUSIBLE",)]
        assert home.rows("SELECT kind FROM alarms") == [("IMPLAUSIBLE_JUMP",)]

    async def test_gap_is_charged_when_the_next_reading_arrives(self, home: Household) -> None:
        await home.use(1000)

        await home.use(9000, over=timedelta(hours=12))

        assert home.balance_fen() == 100_000 - 528  # round(10 kWh x 0.5283), not 53 + 475
        assert home.rows("SELECT SUM(total_wh) FROM usage_daily")[0][0] == 10_000

    async def test_meter_replacement_charges_old_then_new_once(self, home: Household) -> None:
        await home.use(2000)
        final_at = home.clock.advance(timedelta(hours=1))
        new_meter = MeterNumber(value="051600009999")

        await replace_meter(
            uow_factory=db.unit_of_work_factory(home.engine),
            clock=home.clock,
            number=home.number,
            final=_registers(3000),
            final_at=final_at,
            new_meter_number=new_meter,
            bus="tcp://127.0.0.1:7001",
            initial=_registers(0),
            installed_at=final_at + timedelta(minutes=30),
        )
        home.meter = new_meter
        home.registers = _registers(0)
        await home.use(1000)

        assert home.balance_fen() == 100_000 - 211  # 4 kWh in the month, rounded once
        assert _count(home.engine, "meter_installations") == 2


class TestReconcileFromStorage:
    async def test_reports_a_tampered_cached_balance(self, home: Household) -> None:
        await home.use(2000)
        with home.engine.begin() as connection:
            connection.execute(sa.text("UPDATE balances SET balance_fen = balance_fen + 1"))

        async with db.SqlUnitOfWork(home.engine) as uow:
            differences = await uow.ledger.reconcile()

        assert [(d.cached.fen - d.journal.fen) for d in differences] == [1]
