"""A bus whose serial-to-TCP server cannot be reached (C2): the bus alarm and its meters' alarms.

The server is a real TCP port: first nothing listens on it (connections are refused), then
the simulated bus comes up on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import socket

from sqlalchemy.engine import Engine
from tests.integration.headend.campus import PLAN, START, SharedClock, Site, bus_spec
from tests.waiting import until

from wattbook.adapters import meters
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus, load_buses
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.dlt645 import simulator
from wattbook.domain.values import MeterNumber

BUS = "block-9"
METERS = ("051600000091", "051600000092")
MINUTE = dt.timedelta(minutes=1)


def refused_port() -> int:
    """Return a local TCP port nothing listens on (a connection to it is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def site_behind(
    engine: Engine, port: int, time_source: simulator.TimeSource
) -> tuple[Site, simulator.Campus]:
    """Return the campus (not serving yet) on ``port``, its accounts and its bus configured."""
    spec = dataclasses.replace(bus_spec(BUS, METERS), port=port)
    campus = simulator.Campus.from_spec(
        simulator.CampusSpec(buses=(spec,), seed=5), time_source=time_source
    )
    place = Site(engine, campus, SharedClock(time_source))  # type: ignore[arg-type]
    await place.open_accounts()
    await configure_bus(
        uow=place.uow_factory(),
        bus=hp.BusConfig(
            name=BUS,
            url=f"tcp://127.0.0.1:{port}",
            baud=19200,
            response_timeout=dt.timedelta(milliseconds=40),
            meters=tuple(hp.BusMeter(meter_number=MeterNumber(value=m), plan=PLAN) for m in METERS),
        ),
    )
    return place, campus


def bus_alarms(place: Site) -> list[tuple[str, bool]]:
    rows = place.rows(
        "SELECT subject, ended_at FROM alarms WHERE kind = 'BUS_UNREACHABLE' ORDER BY id"
    )
    return [(str(subject), ended_at is None) for subject, ended_at in rows]


def silent_meters(place: Site) -> list[str]:
    rows = place.rows(
        "SELECT meter_number FROM alarms WHERE kind = 'NO_COMMUNICATION' "
        "AND ended_at IS NULL ORDER BY meter_number"
    )
    return [str(number) for (number,) in rows]


class TestBusThatCannotBeReached:
    async def test_raises_the_bus_alarm_and_its_meters_alarms_and_ends_them(
        self, engine: Engine
    ) -> None:
        port = refused_port()
        place, campus = await site_behind(engine, port, simulator.ManualTimeSource(start_at=START))
        async with place.running():
            await place.step(dt.timedelta(0))  # visit 1 fails: the line is refused
            after_first = (bus_alarms(place), silent_meters(place))
            await place.step(5 * MINUTE)  # visit 2 (a silent meter waits 5, then 10 minutes)
            after_second = silent_meters(place)
            await place.step(10 * MINUTE)  # visit 3: C2's third failure in a row
            after_third = (bus_alarms(place), silent_meters(place))
            async with campus.serving():
                await place.step(15 * MINUTE)  # the line opens; the meters answer
                after_return = (bus_alarms(place), silent_meters(place))

        assert after_first == ([(BUS, True)], [])
        assert after_second == []
        assert after_third == ([(BUS, True)], list(METERS))
        assert after_return == ([(BUS, False)], [])

    async def test_a_line_that_drops_raises_the_bus_alarm(self, engine: Engine) -> None:
        port = refused_port()
        place, campus = await site_behind(engine, port, simulator.ManualTimeSource(start_at=START))
        async with place.running() as headend:
            async with campus.serving():
                await place.step(dt.timedelta(0))
                while_up = bus_alarms(place)
            # The server has gone and its connection with it (Python 3.11's server keeps
            # accepted connections open when it closes, so drop ours by hand).
            gateway = headend.pollers[BUS].gateway
            assert isinstance(gateway, meters.Dlt645Gateway)
            await gateway.client.transport.close()
            await place.step(15 * MINUTE)  # the first request finds the line down; a redial fails

        assert while_up == []
        assert bus_alarms(place) == [(BUS, True)]

    async def test_the_running_head_end_raises_and_ends_the_bus_alarm(self, engine: Engine) -> None:
        port = refused_port()
        place, campus = await site_behind(engine, port, simulator.SystemTimeSource())
        headend = Headend(
            buses=await load_buses(uow=place.uow_factory()),
            gateway_factory=meters.Dlt645GatewayFactory(clock=place.clock),
            sink=InProcessCore(uow_factory=place.uow_factory, clock=place.clock),
            uow_factory=place.uow_factory,
            clock=place.clock,
            command_poll_s=0.05,
            redial_every=dt.timedelta(milliseconds=50),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(headend.run(stop))
        try:
            await until(lambda: bus_alarms(place) == [(BUS, True)], "the bus alarm is raised")
            # Each meter's visit counts as failed while the line is down (how many visits
            # fell due by now depends on the machine's load).
            await until(
                lambda: (
                    len(
                        place.rows(
                            "SELECT 1 FROM meter_communication WHERE consecutive_failures >= 1"
                        )
                    )
                    == 2
                ),
                "both meters count a failed visit",
            )
            async with campus.serving():
                await until(lambda: bus_alarms(place) == [(BUS, False)], "the bus alarm ends")
        finally:
            stop.set()
            await asyncio.wait_for(running, timeout=10)
