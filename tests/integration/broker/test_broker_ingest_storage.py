"""Ingest on both engines: the same readings written by two workers at once are charged once."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import broker_ports as bp
from wattbook.application.headend.broker_ingest import ingest
from wattbook.domain import accounts, metering
from wattbook.domain.values import AccountNumber, MeterNumber, Money, RegisterSet

START = dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)  # a Tuesday, 10:00 in Shanghai
METERS = [MeterNumber(value=f"05160000{n:04d}") for n in range(1, 21)]


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at


@dataclass
class Delivery:
    item: bp.Collected
    delivered: int = 1
    answer: str = ""

    async def ack(self) -> None:
        self.answer = "ack"

    async def retry(self, *, delay_s: float) -> None:
        self.answer = "retry"


def _flat(wh: int) -> RegisterSet:
    return RegisterSet(total_wh=wh, sharp_wh=0, peak_wh=0, flat_wh=wh, valley_wh=0)


async def test_two_workers_holding_the_same_readings_charge_them_once(engine: Engine) -> None:
    uow_factory = db.unit_of_work_factory(engine)
    clock = Clock(START)
    for meter in METERS:
        number = AccountNumber(value=str(meter))
        await open_account(
            uow=uow_factory(),
            clock=clock,
            number=number,
            holder=accounts.Holder(name="住户"),
            phone=None,
            address=accounts.Address(text="丙6-1-801"),
            opening_balance=Money(fen=100_000),
        )
        await install_meter(
            uow=uow_factory(),
            clock=clock,
            number=number,
            meter_number=meter,
            bus="b1",
            initial=_flat(0),
        )
    clock.at = START + dt.timedelta(hours=1)
    # Each meter's next readings in two messages; the second worker holds copies of both
    # (a redelivery) and also a batch with both at once (the per-reading path).
    one = tuple(_reading(meter, 1_000, minutes=30) for meter in METERS)
    two = tuple(_reading(meter, 2_500, minutes=45) for meter in METERS)

    def deliveries(*batches: tuple[metering.Reading, ...]) -> list[Delivery]:
        return [Delivery(bp.ReadingsCollected(headend="h1", readings=b)) for b in batches]

    first, second, third = deliveries(one, two), deliveries(two, one), deliveries(one + two)
    await asyncio.gather(
        *(
            ingest(uow_factory=uow_factory, clock=clock, deliveries=batch)  # type: ignore[arg-type]
            for batch in (first, second, third)
        )
    )
    # A deadlock between two writers hands a message back: write those again.
    for batch in (first, second, third):
        again = [d for d in batch if d.answer != "ack"]
        if again:
            await ingest(uow_factory=uow_factory, clock=clock, deliveries=again)  # type: ignore[arg-type]

    with engine.connect() as connection:
        usage = dict(
            connection.execute(
                sa.text(
                    "SELECT a.account_number, sum(u.total_wh) FROM usage_yearly u "
                    "JOIN accounts a ON a.id = u.account_id GROUP BY a.account_number"
                )
            ).all()
        )
        charged = connection.execute(
            sa.text("SELECT count(*), sum(-amount_fen) FROM ledger_entries WHERE kind = 'CHARGE'")
        ).one()
        stored = connection.execute(sa.text("SELECT count(*) FROM readings")).scalar_one()
    assert usage == {str(meter): 2_500 for meter in METERS}
    assert stored == 2 * len(METERS)
    reference = await _charged_alone(engine)
    assert charged[1] == reference


def _reading(meter: MeterNumber, wh: int, *, minutes: int) -> metering.Reading:
    at = START + dt.timedelta(minutes=minutes)
    return metering.Reading(
        meter_number=meter, registers=_flat(wh), meter_time_at=at, received_at=at
    )


async def _charged_alone(engine: Engine) -> int:
    """What one writer charges for 2.5 kWh on each meter: the price times the energy."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT sum(charged_fen) FROM charge_totals")
        ).scalar_one()
    return int(rows)
