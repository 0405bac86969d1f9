"""A reading is handed to the core within a minute, not after the rest of a slow sweep."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock, FakeMeter, FakeMeterGateway

from wattbook.adapters import db
from wattbook.application.headend import ports as hp
from wattbook.application.headend.poller import READING_WAIT, BusPoller
from wattbook.domain import metering
from wattbook.domain.values import MeterNumber

METERS = [MeterNumber(value=f"05160000000{n}") for n in range(1, 5)]


class SlowBus(FakeMeterGateway):
    """Every register read takes 40 s of the clock, like a long first visit at 2400 baud."""

    async def read_registers(self, meter: MeterNumber) -> metering.Reading:
        self.clock.advance(dt.timedelta(seconds=40))  # type: ignore[attr-defined]
        return await super().read_registers(meter)


class Batches:
    """A collection sink that remembers how the readings arrived."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def record_readings(self, readings: Sequence[metering.Reading]) -> None:
        self.batches.append(len(readings))

    async def record_meter_events(self, collection: hp.MeterCollection) -> None:
        return None

    async def record_communication(
        self, bus: str, outcomes: Sequence[hp.CommunicationOutcome]
    ) -> None:
        return None


@pytest.mark.parametrize(
    ("wait", "batches"), [(READING_WAIT, [3, 1]), (dt.timedelta(hours=1), [4])]
)
async def test_readings_wait_at_most_the_reading_wait(
    engine: Engine, wait: dt.timedelta, batches: list[int]
) -> None:
    clock = FakeClock(dt.datetime(2027, 1, 5, 1, 0, tzinfo=dt.UTC))
    sink = Batches()
    poller = BusPoller(
        bus=hp.BusConfig(
            name="bus-1",
            url="tcp://127.0.0.1:1",
            meters=tuple(hp.BusMeter(meter_number=m) for m in METERS),
        ),
        gateway=SlowBus(clock, {m: FakeMeter() for m in METERS}),
        sink=sink,
        clock=clock,
        uow_factory=db.unit_of_work_factory(engine),
        reading_wait=wait,
    )

    await poller.sweep()

    # With the minute's wait, the first reading (read at +40 s) goes after the visit that ends
    # at +120 s: it waited one minute plus the visit in progress, not the whole sweep.
    assert sink.batches == batches
