"""The master client against a simulated campus over real TCP sockets."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from wattbook import dlt645
from wattbook.dlt645 import dataids, messages, simulator
from wattbook.dlt645.client import Client
from wattbook.dlt645.transport import TcpTransport

FIRST = "051600000001"
SECOND = "051600000002"
START = dt.datetime(2025, 3, 10, 12, 0, tzinfo=simulator.SHANGHAI)
PASSWORD = messages.Password(level=0x02, digits="123456")
MASTER_KEY = bytes(range(16))
VALID_UNTIL = dt.datetime(2099, 1, 1)


def campus_spec(
    *, baud: int | None = None, secure: bool = False, max_reply_data: int | None = None
) -> simulator.CampusSpec:
    meters = simulator.meter_specs(
        [FIRST, SECOND], seed=3, history_months=3, drift_ppm_max=0, clock_offset_s_max=0
    )
    module = simulator.Security(
        secure=secure,
        module=messages.SimulatedSecurityModule(MASTER_KEY) if secure else None,
    )
    bus = simulator.BusSpec(
        name="block-5",
        host="127.0.0.1",
        port=0,
        meters=meters,
        baud=baud,
        max_reply_data=max_reply_data,
    )
    return simulator.CampusSpec(buses=(bus,), seed=3, security=module)


@pytest.fixture
def clock() -> simulator.ManualTimeSource:
    return simulator.ManualTimeSource(start_at=START)


async def connected(
    campus: simulator.Campus, endpoints: tuple[simulator.Endpoint, ...]
) -> AsyncIterator[Client]:
    transport = TcpTransport(host=endpoints[0].host, port=endpoints[0].port)
    await transport.open()
    try:
        yield Client(transport, timeout=0.3, retries=1)
    finally:
        await transport.close()


@pytest.fixture
async def campus(clock: simulator.ManualTimeSource) -> AsyncIterator[simulator.Campus]:
    campus = simulator.Campus.from_spec(campus_spec(), time_source=clock)
    async with campus.serving():
        yield campus


@pytest.fixture
async def client(campus: simulator.Campus) -> AsyncIterator[Client]:
    async for client in connected(campus, campus.endpoints):
        yield client


def order(action: messages.RelayAction) -> messages.RelayOrder:
    return messages.RelayOrder(action=action, operator_code=0x1234, valid_until=VALID_UNTIL)


class TestReads:
    async def test_energy_block_matches_the_meter_registers(
        self, campus: simulator.Campus, client: Client
    ) -> None:
        registers = campus.meter(FIRST).registers()

        block = await client.read(address=FIRST, di=0x0001FF00)

        assert isinstance(block, dataids.EnergyBlock)
        assert block.total == Decimal(registers.total_wh // 10).scaleb(-2)
        assert block.tariffs[3] == Decimal(registers.valley_wh // 10).scaleb(-2)

    async def test_last_settlement_is_the_first_of_the_month_freeze(
        self, campus: simulator.Campus, client: Client
    ) -> None:
        frozen = campus.meter(FIRST).settlements()[0]

        total = await client.read(address=FIRST, di=0x00010001)

        assert frozen.frozen_at == dt.datetime(2025, 3, 1)
        assert total == Decimal(frozen.registers.total_wh // 10).scaleb(-2)

    async def test_identity_and_clock(self, client: Client) -> None:
        number = await client.read(address=SECOND, di=0x04000402)
        account = await client.read(address=SECOND, di=0x0400040E)
        date = await client.read(address=SECOND, di=0x04000101)

        assert (number, account, date) == (SECOND, SECOND, dt.date(2025, 3, 10))

    async def test_unknown_item_is_refused_as_no_such_data(self, client: Client) -> None:
        with pytest.raises(dlt645.NoSuchData):
            await client.read_payload(address=FIRST, di=0x04000C01)


class TestRelayOverTheBus:
    async def test_trip_then_status_word_3_shows_relay_open(self, client: Client) -> None:
        authoriser = messages.PlainPasswordAuthoriser(PASSWORD)

        await client.control_relay(
            address=FIRST, order=order(messages.RelayAction.TRIP), authoriser=authoriser
        )
        status = await client.read(address=FIRST, di=0x04000503)
        trips = await client.read(address=FIRST, di=0x1D000001)

        assert isinstance(status, dataids.RunStatus3)
        assert (status.relay_open, status.relay_command_open) == (True, True)
        assert trips == 1

    async def test_wrong_password_is_unauthorised(self, client: Client) -> None:
        authoriser = messages.PlainPasswordAuthoriser(
            messages.Password(level=0x02, digits="654321")
        )

        with pytest.raises(dlt645.Unauthorised):
            await client.control_relay(
                address=FIRST, order=order(messages.RelayAction.TRIP), authoriser=authoriser
            )

    async def test_expired_order_is_refused(self, client: Client) -> None:
        authoriser = messages.PlainPasswordAuthoriser(PASSWORD)
        expired = messages.RelayOrder(
            action=messages.RelayAction.TRIP,
            operator_code=1,
            valid_until=dt.datetime(2025, 3, 10, 11, 0),
        )

        with pytest.raises(dlt645.OtherMeterError):
            await client.control_relay(address=FIRST, order=expired, authoriser=authoriser)

    async def test_secure_meter_obeys_the_security_module_only(
        self, clock: simulator.ManualTimeSource
    ) -> None:
        campus = simulator.Campus.from_spec(campus_spec(secure=True), time_source=clock)
        async with campus.serving() as endpoints:
            async for client in connected(campus, endpoints):
                with pytest.raises(dlt645.Unauthorised):
                    await client.control_relay(
                        address=FIRST,
                        order=order(messages.RelayAction.TRIP),
                        authoriser=messages.PlainPasswordAuthoriser(PASSWORD),
                    )
                await client.control_relay(
                    address=FIRST,
                    order=order(messages.RelayAction.TRIP),
                    authoriser=messages.SimulatedSecureAuthoriser(MASTER_KEY),
                )

        assert not campus.meter(FIRST).relay_closed


class TestFaults:
    async def test_silent_meter_gives_no_response(
        self, campus: simulator.Campus, client: Client
    ) -> None:
        campus.set_faults(FIRST, simulator.Faults(silent=1.0))

        with pytest.raises(dlt645.NoResponse):
            await client.read(address=FIRST, di=0x00010000)

    async def test_garbling_meter_gives_garbled_response(
        self, campus: simulator.Campus, client: Client
    ) -> None:
        campus.set_faults(FIRST, simulator.Faults(garble=1.0))

        with pytest.raises(dlt645.GarbledResponse):
            await client.read(address=FIRST, di=0x00010000)

    async def test_offline_meter_keeps_events_for_later(
        self, campus: simulator.Campus, client: Client, clock: simulator.ManualTimeSource
    ) -> None:
        campus.set_faults(FIRST, simulator.Faults(silent=1.0))
        campus.meter(FIRST).open_cover()
        clock.advance(dt.timedelta(minutes=10))
        campus.meter(FIRST).close_cover()

        campus.set_faults(FIRST, simulator.NO_FAULTS)
        count = await client.read(address=FIRST, di=0x03300D00)
        record = await client.read(address=FIRST, di=0x03300D01)

        assert count == 1
        assert isinstance(record, dataids.CoverOpenRecord)
        assert (record.started_at, record.ended_at) == (
            dt.datetime(2025, 3, 10, 12, 0),
            dt.datetime(2025, 3, 10, 12, 10),
        )


class TestFollowUpReads:
    async def test_split_cover_record_decodes_like_an_unsplit_read(
        self, clock: simulator.ManualTimeSource
    ) -> None:
        campus = simulator.Campus.from_spec(campus_spec(max_reply_data=40), time_source=clock)
        campus.meter(FIRST).open_cover()
        clock.advance(dt.timedelta(minutes=10))
        campus.meter(FIRST).close_cover()
        async with campus.serving() as endpoints:
            async for client in connected(campus, endpoints):
                frames = await client.exchange(messages.read_request(address=FIRST, di=0x03300D01))
                split = await client.read(address=FIRST, di=0x03300D01)
                campus.devices[FIRST].max_reply_data = None
                whole = await client.read(address=FIRST, di=0x03300D01)

        # 60 bytes at 40 a frame: B1H with 40, then 12H SEQ 1 answered 92H with 20 (+ SEQ).
        assert [(f.control, len(f.payload)) for f in frames] == [(0xB1, 40), (0x92, 21)]
        assert isinstance(split, dataids.CoverOpenRecord)
        assert split == whole
        assert (split.started_at, split.ended_at) == (
            dt.datetime(2025, 3, 10, 12, 0),
            dt.datetime(2025, 3, 10, 12, 10),
        )
        assert split.after.forward_active > split.before.forward_active


class TestPacing:
    async def test_bus_at_2400_baud_is_no_faster_than_the_wire(
        self, clock: simulator.ManualTimeSource
    ) -> None:
        campus = simulator.Campus.from_spec(campus_spec(baud=2400), time_source=clock)
        async with campus.serving() as endpoints:
            async for client in connected(campus, endpoints):
                client.timeout = 1.0
                loop_time = asyncio.get_running_loop().time
                started = loop_time()
                await client.read(address=FIRST, di=0x0001FF00)
                elapsed = loop_time() - started

        # 20 request bytes + 40 reply bytes at 11 bits/byte and 2400 baud = 275 ms
        assert elapsed >= 0.27
