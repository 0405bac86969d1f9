"""Read now against the simulator over TCP: the head-end that owns the bus serves a request
before the meter's schedule, stores the values it read, and a silent meter fails it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from sqlalchemy.engine import Engine
from tests.integration.headend.campus import Site, bus_spec, site
from tests.waiting import until

from wattbook.adapters import meters
from wattbook.application.headend.configure_bus import load_buses
from wattbook.application.headend.read_now import meter_read_requests, request_meter_read
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.dlt645 import simulator
from wattbook.domain.headend import ReadRequest, ReadRequestStatus
from wattbook.domain.values import MeterNumber

METER = "051600000031"
SILENT = "051600000032"
MINUTE = dt.timedelta(minutes=1)


def buses() -> list[simulator.BusSpec]:
    return [bus_spec("block-3", [METER, SILENT], faults={SILENT: simulator.Faults(silent=1.0)})]


async def ask(place: Site, meter: str) -> None:
    await request_meter_read(
        uow=place.uow_factory(),
        clock=place.clock,
        meter=MeterNumber(value=meter),
        requested_by="eng1",
    )


async def last_request(place: Site, meter: str) -> ReadRequest:
    (request, *_) = await meter_read_requests(
        uow=place.uow_factory(), meter=MeterNumber(value=meter)
    )
    return request


class TestReadNowOverTcp:
    async def test_a_request_is_served_before_the_schedule(self, engine: Engine) -> None:
        async with site(engine, buses()) as place, place.running() as headend:
            await headend.sweep()
            await place.step(MINUTE)  # nothing of the plan is due a minute later
            place.campus.meter(METER).set_extra_load(watts=3_000)
            place.clock.advance(3 * MINUTE)  # status is due every 5 minutes, energy every 15
            await ask(place, METER)

            visits = await headend.sweep()

            served = await last_request(place, METER)
            registers = place.campus.meter(METER).registers()
            assert visits == 0
            assert served.status is ReadRequestStatus.DONE
            assert served.done_at == place.clock.now()
            assert served.values is not None
            # DL/T 645 energy has 0.01 kWh resolution.
            assert served.values.total_wh == registers.total_wh // 10 * 10
            assert served.values.relay_open is False
            assert served.values.active_power_mw is not None
            assert served.values.active_power_mw >= 3_000_000
            # The reading reached the core at once, as the meter page shows it.
            assert place.last_total_wh(METER) == served.values.total_wh

    async def test_a_silent_meter_fails_the_request_with_the_reason(self, engine: Engine) -> None:
        async with site(engine, buses()) as place, place.running() as headend:
            await ask(place, SILENT)

            await headend.sweep()

            failed = await last_request(place, SILENT)
            assert failed.status is ReadRequestStatus.FAILED
            assert failed.error
            assert failed.values is None

    async def test_the_running_head_end_wakes_for_a_request(self, engine: Engine) -> None:
        async with site(engine, buses()) as place:
            headend = Headend(
                buses=await load_buses(uow=place.uow_factory()),
                gateway_factory=meters.Dlt645GatewayFactory(clock=place.clock),
                sink=InProcessCore(uow_factory=place.uow_factory, clock=place.clock),
                uow_factory=place.uow_factory,
                clock=place.clock,
                command_poll_s=0.05,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(headend.run(stop))
            try:
                # Let the first sweep of both meters end; then the bus naps (manual clock).
                await until(lambda: headend.activity["block-3"].reads_ok > 0, "a sweep ends")
                await ask(place, METER)

                async def served() -> bool:
                    request = await last_request(place, METER)
                    return request.status is not ReadRequestStatus.PENDING

                await until(served, "the read-now request is served", step_s=0.02)
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            request = await last_request(place, METER)

            assert request.status is ReadRequestStatus.DONE
            assert request.values is not None
