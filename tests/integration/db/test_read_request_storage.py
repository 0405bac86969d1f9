"""Read-now requests, the same on the fake, SQLite and PostgreSQL: stored pending, joined while
pending, expired when stale (at the domain's limit exactly), finished once with the values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.fakes import FakeClock, FakeDatabase
from tests.functional.household import local
from tests.integration.db.databases import BACKENDS, Templates

from wattbook.adapters import db
from wattbook.application import ports
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus
from wattbook.application.headend.read_now import (
    MeterOnNoBus,
    due_read_requests,
    meter_read_requests,
    record_read_outcome,
    request_meter_read,
)
from wattbook.domain import accounts, metering
from wattbook.domain.headend import (
    READ_REQUEST_EXPIRES_AFTER,
    MeterStatus,
    ReadRequestStatus,
    ReadValues,
)
from wattbook.domain.values import AccountNumber, MeterNumber, RegisterSet

Factory = Callable[[], ports.UnitOfWork]
AT = local(2025, 6, 10, 9)
NUMBER = AccountNumber(value="051600000001")
METER = MeterNumber(value="051600000001")
ZERO = RegisterSet(total_wh=0, sharp_wh=0, peak_wh=0, flat_wh=0, valley_wh=0)


@pytest.fixture(params=[pytest.param("fake", id="fake"), *BACKENDS])
def storage(
    request: pytest.FixtureRequest, tmp_path: Path, database_templates: Templates
) -> Iterator[Factory]:
    """Yield a unit-of-work factory over the fake, then over each real backend."""
    if request.param == "fake":
        yield FakeDatabase()
        return
    with database_templates.migrated(request.param, tmp_path) as engine:
        yield db.unit_of_work_factory(engine)


async def _installed(storage: Factory, clock: FakeClock, *, on_bus: bool = True) -> None:
    await open_account(
        uow=storage(),
        clock=clock,
        number=NUMBER,
        holder=accounts.Holder(name="张三"),
        phone=None,
        address=accounts.Address(text="丙6-1-801"),
    )
    await install_meter(
        uow=storage(), clock=clock, number=NUMBER, meter_number=METER, bus="b1", initial=ZERO
    )
    if on_bus:
        await configure_bus(
            uow=storage(),
            bus=hp.BusConfig(
                name="b1", url="tcp://127.0.0.1:7001", meters=(hp.BusMeter(meter_number=METER),)
            ),
        )


async def _ask(storage: Factory, clock: FakeClock, who: str = "eng1") -> tuple[int, bool]:
    asked = await request_meter_read(uow=storage(), clock=clock, meter=METER, requested_by=who)
    return asked.request_id, asked.coalesced


class TestReadRequests:
    async def test_a_request_is_pending_and_a_second_joins_it(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock)

        first, joined_first = await _ask(storage, clock)
        clock.advance(timedelta(minutes=3))
        second, joined_second = await _ask(storage, clock, who="admin")

        (stored,) = await meter_read_requests(uow=storage(), meter=METER)
        assert (first, joined_first, joined_second) == (second, False, True)
        assert (stored.status, stored.requested_by, stored.requested_at) == (
            ReadRequestStatus.PENDING,
            "eng1",
            AT,
        )
        assert (stored.done_at, stored.error, stored.values) == (None, "", None)

    async def test_the_head_end_sees_it_with_its_bus(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock)
        request_id, _ = await _ask(storage, clock)

        (due,) = await due_read_requests(uow=storage(), clock=clock)

        assert (due.request.id, due.request.meter_number, due.bus) == (request_id, METER, "b1")

    async def test_stale_requests_expire_at_the_limit_exactly(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock)
        await _ask(storage, clock)
        clock.advance(READ_REQUEST_EXPIRES_AFTER - timedelta(seconds=1))
        assert len(await due_read_requests(uow=storage(), clock=clock)) == 1
        clock.advance(timedelta(seconds=1))

        assert await due_read_requests(uow=storage(), clock=clock) == ()

        (stored,) = await meter_read_requests(uow=storage(), meter=METER)
        assert (stored.status, stored.done_at) == (ReadRequestStatus.EXPIRED, clock.now())
        # A new ask then makes a new request rather than joining the expired one.
        _, joined = await _ask(storage, clock)
        assert not joined
        newest, _ = await meter_read_requests(uow=storage(), meter=METER)
        assert newest.status is ReadRequestStatus.PENDING

    async def test_a_done_request_keeps_the_values_read(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock)
        await _ask(storage, clock)
        (due,) = await due_read_requests(uow=storage(), clock=clock)
        clock.advance(timedelta(seconds=4))
        collection = hp.MeterCollection(
            meter_number=METER,
            bus="b1",
            visited_at=clock.now(),
            succeeded=True,
            reading=metering.Reading(
                meter_number=METER,
                registers=RegisterSet(
                    total_wh=12_345, sharp_wh=0, peak_wh=0, flat_wh=12_345, valley_wh=0
                ),
                meter_time_at=clock.now(),
                received_at=clock.now(),
            ),
            latest=hp.LatestValues(
                meter_number=METER,
                read_at=clock.now(),
                status=MeterStatus(relay_open=False, relay_command_open=False, keep_power=True),
                values=hp.InstantValues(voltage_mv=229_800, current_ma=4_120, active_power_mw=1),
            ),
        )

        status = await record_read_outcome(
            uow=storage(), clock=clock, request=due.request, collection=collection
        )

        (stored,) = await meter_read_requests(uow=storage(), meter=METER)
        assert status is stored.status is ReadRequestStatus.DONE
        assert stored.done_at == clock.now()
        assert stored.values == ReadValues(
            read_at=clock.now(),
            total_wh=12_345,
            relay_open=False,
            active_power_mw=1,
            voltage_mv=229_800,
            current_ma=4_120,
        )
        # Finished once: a second outcome for it changes nothing.
        again = await record_read_outcome(
            uow=storage(), clock=clock, request=due.request, collection=None, error="late"
        )
        assert again is ReadRequestStatus.EXPIRED
        (unchanged,) = await meter_read_requests(uow=storage(), meter=METER)
        assert unchanged == stored

    async def test_a_failed_request_keeps_why(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock)
        await _ask(storage, clock)
        (due,) = await due_read_requests(uow=storage(), clock=clock)
        collection = hp.MeterCollection(
            meter_number=METER, bus="b1", visited_at=AT, succeeded=False, error="NoResponse"
        )

        await record_read_outcome(
            uow=storage(), clock=clock, request=due.request, collection=collection
        )

        (stored,) = await meter_read_requests(uow=storage(), meter=METER)
        assert (stored.status, stored.error, stored.values) == (
            ReadRequestStatus.FAILED,
            "NoResponse",
            None,
        )

    async def test_a_meter_on_no_bus_is_refused(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock, on_bus=False)

        with pytest.raises(MeterOnNoBus):
            await _ask(storage, clock)

        assert await meter_read_requests(uow=storage(), meter=METER) == ()

    async def test_the_store_keeps_one_pending_request_per_meter(self, storage: Factory) -> None:
        clock = FakeClock(AT)
        await _installed(storage, clock)
        # Two asks that both looked before either queued: the second gets the first's id.
        async with storage() as uow:
            first = await uow.headend.add_read_request(METER, requested_by="eng1", at=AT)
            second = await uow.headend.add_read_request(METER, requested_by="admin", at=AT)
            await uow.commit()

        (stored,) = await meter_read_requests(uow=storage(), meter=METER)
        assert first == second == stored.id
        assert stored.requested_by == "eng1"
