"""A simulated campus served over TCP, the accounts for its meters, and a head-end on them.

The simulator and the head-end share one hand-stepped time: the test moves the world on and
sweeps the buses, so a day offline takes a fraction of a second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from wattbook.adapters import db, meters
from wattbook.application.accounts.install_meter import install_meter
from wattbook.application.accounts.open_account import open_account
from wattbook.application.headend import ports as hp
from wattbook.application.headend.configure_bus import configure_bus, load_buses
from wattbook.application.headend.runtime import Headend, InProcessCore
from wattbook.dlt645 import simulator
from wattbook.domain import accounts
from wattbook.domain.values import AccountNumber, MeterNumber, Money, RegisterSet

START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=simulator.SHANGHAI)  # a Monday
PLAN = hp.PollPlan(
    energy_every=dt.timedelta(minutes=15),
    status_every=dt.timedelta(minutes=5),
    clock_every=dt.timedelta(days=1),
    no_communication_after=3,
    relay_attempts=3,
    relay_backoff=dt.timedelta(seconds=30),
)


class SharedClock:
    """The head-end's Clock port, reading the simulated world's hand-stepped time."""

    def __init__(self, time_source: simulator.ManualTimeSource) -> None:
        self.time_source = time_source

    def now(self) -> dt.datetime:
        return self.time_source.now()

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        return self.time_source.advance(delta)


def bus_spec(
    name: str,
    addresses: Sequence[str],
    *,
    faults: dict[str, simulator.Faults] | None = None,
    offsets: dict[str, int] | None = None,
) -> simulator.BusSpec:
    specs = simulator.meter_specs(
        addresses, seed=5, history_months=2, drift_ppm_max=0, clock_offset_s_max=0
    )
    shifted = tuple(_shift(spec, (offsets or {}).get(spec.address, 0)) for spec in specs)
    return simulator.BusSpec(
        name=name,
        host="127.0.0.1",
        port=0,
        meters=shifted,
        baud=None,  # unpaced: the tests are about behaviour, the bench about the wire
        answer_delay_s=0.0,
        faults=tuple((faults or {}).items()),
    )


def _shift(spec: simulator.MeterSpec, seconds: int) -> simulator.MeterSpec:
    import dataclasses

    return dataclasses.replace(spec, clock_offset=dt.timedelta(seconds=seconds))


class Site:
    """The campus, its database and the head-end, driven step by step."""

    def __init__(self, engine: Engine, campus: simulator.Campus, clock: SharedClock) -> None:
        self.engine = engine
        self.campus = campus
        self.clock = clock
        self.uow_factory = db.unit_of_work_factory(engine)
        self.initial: dict[str, RegisterSet] = {}
        self.headend: Headend | None = None

    async def open_accounts(self, *, opening_fen: int = 10_000) -> None:
        for bus in self.campus.spec.buses:
            for spec in bus.meters:
                registers = self.campus.meter(spec.address).registers()
                initial = RegisterSet(
                    total_wh=registers.total_wh // 10 * 10,
                    sharp_wh=registers.sharp_wh // 10 * 10,
                    peak_wh=registers.peak_wh // 10 * 10,
                    flat_wh=registers.flat_wh // 10 * 10,
                    valley_wh=registers.valley_wh // 10 * 10,
                )
                self.initial[spec.address] = initial
                number = AccountNumber(value=spec.address)
                await open_account(
                    uow=self.uow_factory(),
                    clock=self.clock,
                    number=number,
                    holder=accounts.Holder(name="住户"),
                    phone=None,
                    address=accounts.Address(text="丙6-1-801"),
                    opening_balance=Money(fen=opening_fen) if opening_fen else None,
                )
                await install_meter(
                    uow=self.uow_factory(),
                    clock=self.clock,
                    number=number,
                    meter_number=MeterNumber(value=spec.address),
                    bus=bus.name,
                    initial=initial,
                )

    async def configure(self, *, timeout_ms: int = 40) -> None:
        for bus, endpoint in zip(self.campus.spec.buses, self.campus.endpoints, strict=True):
            await configure_bus(
                uow=self.uow_factory(),
                bus=hp.BusConfig(
                    name=bus.name,
                    url=f"tcp://{endpoint.host}:{endpoint.port}",
                    baud=19200,  # the simulated line is unpaced; short waits keep it quick
                    response_timeout=dt.timedelta(milliseconds=timeout_ms),
                    meters=tuple(
                        hp.BusMeter(meter_number=MeterNumber(value=spec.address), plan=PLAN)
                        for spec in bus.meters
                    ),
                ),
            )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Headend]:
        buses = await load_buses(uow=self.uow_factory())
        headend = Headend(
            buses=buses,
            gateway_factory=meters.Dlt645GatewayFactory(clock=self.clock),
            sink=InProcessCore(uow_factory=self.uow_factory, clock=self.clock),
            uow_factory=self.uow_factory,
            clock=self.clock,
        )
        async with headend.opened():
            self.headend = headend
            yield headend

    async def step(self, delta: dt.timedelta, *, sweeps: int = 1) -> None:
        assert self.headend is not None
        self.clock.advance(delta)
        for _ in range(sweeps):
            await self.headend.sweep()

    def rows(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(query), params))

    def execute(self, statement: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement))

    def balance_fen(self, number: str) -> int:
        return int(
            self.rows(
                "SELECT b.balance_fen FROM balances b JOIN accounts a ON a.id = b.account_id "
                "WHERE a.account_number = :n",
                n=number,
            )[0][0]
        )

    def last_total_wh(self, number: str) -> int:
        return int(
            self.rows(
                "SELECT r.total_wh FROM readings r JOIN meter_installations i "
                "ON i.id = r.installation_id WHERE i.meter_number = :n "
                "ORDER BY r.meter_time_at DESC LIMIT 1",
                n=number,
            )[0][0]
        )


@contextlib.asynccontextmanager
async def site(
    engine: Engine, buses: Sequence[simulator.BusSpec], *, opening_fen: int = 10_000
) -> AsyncIterator[Site]:
    time_source = simulator.ManualTimeSource(start_at=START)
    campus = simulator.Campus.from_spec(
        simulator.CampusSpec(buses=tuple(buses), seed=5), time_source=time_source
    )
    async with campus.serving():
        place = Site(engine, campus, SharedClock(time_source))
        await place.open_accounts(opening_fen=opening_fen)
        await place.configure()
        yield place
