"""A household driven through the use cases on a fake clock, against a real database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.fakes.top_up import top_up

from wattbook.adapters import db
from wattbook.application import queries
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.metering.record_readings import ReadingReport, record_readings
from wattbook.application.prepaid.apply_prepaid_policy import apply_prepaid_policy
from wattbook.application.prepaid.keep_power import order_keep_power
from wattbook.domain import accounts, billing, metering, prepaid
from wattbook.domain.values import (
    SHANGHAI,
    AccountNumber,
    Energy,
    MeterNumber,
    Money,
    Period,
    RegisterSet,
)

NUMBER = "051600001234"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Return an aware Asia/Shanghai time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


class Household:
    """One account with one meter; every step is one use case call."""

    def __init__(self, engine: Engine, clock: FakeClock, number: str = NUMBER) -> None:
        self.engine = engine
        self.clock = clock
        self.number = AccountNumber(value=number)
        self.meter = MeterNumber(value=number)
        self.registers = RegisterSet.zero()
        self._uow_factory = db.unit_of_work_factory(engine)
        self._top_ups = 0

    def uow(self) -> db.SqlUnitOfWork:
        return self._uow_factory()

    async def open(self, *, opening: Money | None = None, migration: Energy | None = None) -> None:
        await open_account(
            uow=self.uow(),
            clock=self.clock,
            number=self.number,
            holder=accounts.Holder(name="张三"),
            phone=accounts.PhoneNumber(digits="13800138000"),
            address=accounts.Address(text="丙6-1-801"),
            opening_balance=opening,
            migration_energy=migration,
        )
        await install_meter(
            uow=self.uow(),
            clock=self.clock,
            number=self.number,
            meter_number=self.meter,
            bus="tcp://127.0.0.1:7001",
            initial=self.registers,
        )

    async def use(self, wh: int, *, over: timedelta = timedelta(hours=1)) -> ReadingReport:
        """Consume ``wh`` (all on the flat register) over ``over`` and deliver the reading."""
        self.clock.advance(over)
        self.registers = RegisterSet(
            total_wh=self.registers.total_wh + wh,
            sharp_wh=self.registers.sharp_wh,
            peak_wh=self.registers.peak_wh,
            flat_wh=self.registers.flat_wh + wh,
            valley_wh=self.registers.valley_wh,
        )
        return await self.deliver(self.reading())

    def reading(self) -> metering.Reading:
        return metering.Reading(
            meter_number=self.meter,
            registers=self.registers,
            meter_time_at=self.clock.now(),
            received_at=self.clock.now(),
        )

    async def deliver(self, *readings: metering.Reading) -> ReadingReport:
        return await record_readings(uow=self.uow(), clock=self.clock, readings=readings)

    async def top_up(self, fen: int) -> None:
        self._top_ups += 1
        await top_up(
            uow=self.uow(),
            clock=self.clock,
            number=self.number,
            amount=Money(fen=fen),
            reference=f"TEST:{self.number}:{self._top_ups}",
        )

    async def keep_power(self, period: Period) -> tuple[prepaid.Command, ...]:
        return await order_keep_power(
            uow=self.uow(),
            clock=self.clock,
            number=self.number,
            period=period,
            ordered_by="duty officer 7",
            reason="resident on oxygen concentrator",
        )

    async def run_policy(self) -> tuple[prepaid.Command, ...]:
        return await apply_prepaid_policy(uow=self.uow(), clock=self.clock)

    async def statement(self) -> tuple[billing.StatementLine, ...]:
        return await queries.monthly_statement(uow=self.uow(), number=self.number)

    def rows(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))

    def balance_fen(self) -> int:
        (fen,) = self.rows("SELECT balance_fen FROM balances")[0]
        return int(fen)

    def sms(self) -> list[Any]:
        return self.rows("SELECT kind, phone, balance_fen FROM sms_outbox ORDER BY id")

    def relay(self) -> list[tuple[str, str]]:
        rows = self.rows("SELECT action, reason FROM relay_commands ORDER BY id")
        return [(action, reason) for action, reason in rows]

    def journal_fen(self) -> int:
        return int(self.rows("SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries")[0][0])
