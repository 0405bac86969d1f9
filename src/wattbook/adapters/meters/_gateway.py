"""The meter gateway over DL/T 645-2007: one bus, one :class:`wattbook.dlt645.Client`.

It translates between the head-end's port and the protocol library: data identifiers become
port values in integer units, meter-local clock values get the meter's zone (and the drift
the last clock reading found), and every dlt645 error becomes :class:`MeterUnreachable` or
:class:`MeterRefused`. Relay orders (and their confirmation) take the bus before waiting polls.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from types import TracebackType
from typing import TypeVar
from zoneinfo import ZoneInfo

from wattbook import dlt645
from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.domain import metering
from wattbook.domain.headend import MeterEventKind, MeterStatus, RelayOperation
from wattbook.domain.values import SHANGHAI, MeterNumber, RegisterSet

logger = logging.getLogger(__name__)

T = TypeVar("T")

DI_ENERGY_BLOCK = 0x0001FF00
DI_VOLTAGE = 0x02010100
DI_CURRENT = 0x02020100
DI_POWER = 0x02030000
DI_DATE = 0x04000101
DI_TIME = 0x04000102
DI_STATUS_3 = 0x04000503
DEFAULT_PASSWORD = dlt645.Password(level=0x02, digits="123456")
# The operator code the head-end writes into the meter's records of what it did.
HEADEND_OPERATOR = 0x00004A01
# How long a relay order stays valid on the meter clock (N3..N8): long enough for a clock
# that is minutes off, short enough that a delayed order is not carried out hours later.
ORDER_VALIDITY = dt.timedelta(hours=1)
# The standard's longest gap between two bytes of one frame.
MAX_BYTE_GAP_S = 0.5

# Event kind -> (count DI, DI of the most recent record; record n is that DI + n - 1).
EVENT_DIS: dict[MeterEventKind, tuple[int, int]] = {
    MeterEventKind.METER_COVER_OPENED: (0x03300D00, 0x03300D01),
    MeterEventKind.TERMINAL_COVER_OPENED: (0x03300E00, 0x03300E01),
    MeterEventKind.POWER_DOWN: (0x03110000, 0x03110001),
    MeterEventKind.OVER_CURRENT: (0x19010001, 0x1901FF01),
    MeterEventKind.RELAY_TRIPPED: (0x1D000001, 0x1D00FF01),
    MeterEventKind.RELAY_CLOSED: (0x1E000001, 0x1E00FF01),
}
RELAY_ACTIONS = {
    RelayOperation.TRIP: dlt645.RelayAction.TRIP,
    # B6 closes automatically: a direct close, not "close allowed" (button press).
    RelayOperation.CLOSE: dlt645.RelayAction.DIRECT_CLOSE,
    RelayOperation.KEEP_POWER_ON: dlt645.RelayAction.KEEP_POWER,
    RelayOperation.KEEP_POWER_OFF: dlt645.RelayAction.KEEP_POWER_RELEASE,
}


def _wh(kwh: Decimal) -> int:
    """Return kWh with two decimals as exact Wh (the meter resolves 10 Wh)."""
    wh = kwh * 1000
    if wh != wh.to_integral_value():
        raise dlt645.DataError(f"{kwh} kWh is not a whole number of Wh")
    return int(wh)


def _registers(block: object) -> RegisterSet:
    if not isinstance(block, dlt645.EnergyBlock) or len(block.tariffs) < 4:
        raise dlt645.DataError(f"expected a block of total and four tariffs, got {block!r}")
    sharp, peak, flat, valley = (_wh(value) for value in block.tariffs[:4])
    return RegisterSet(
        total_wh=_wh(block.total), sharp_wh=sharp, peak_wh=peak, flat_wh=flat, valley_wh=valley
    )


def _milli(value: object) -> int:
    if not isinstance(value, Decimal):
        raise dlt645.DataError(f"expected a decimal value, got {value!r}")
    return int((value * 1000).to_integral_value())


class _Arbiter:
    """Give the bus to one request at a time, urgent requests before waiting polls.

    Waiters queue in two lines, urgent and normal, each first come first served; the turn is
    handed straight to the next waiter (urgent first), and a free bus is taken without
    waiting at all. The bus is taken once per request, thousands of times a second in a large
    head-end, hence no condition variable and no generator-based context manager here.
    """

    def __init__(self) -> None:
        self._busy = False
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._normal: collections.deque[asyncio.Future[None]] = collections.deque()
        self._turns = {True: _Turn(self, urgent=True), False: _Turn(self, urgent=False)}

    def turn(self, *, urgent: bool) -> _Turn:
        """Return the context manager that holds the bus: ``async with arbiter.turn(...)``."""
        return self._turns[urgent]

    async def acquire(self, *, urgent: bool) -> None:
        """Wait for the bus: urgent waiters go before normal ones; then hold it."""
        if not self._busy and not self._urgent and (urgent or not self._normal):
            self._busy = True
            return
        line = self._urgent if urgent else self._normal
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the bus, then cancelled: pass it on
            elif waiter in line:  # release() may have dropped it already
                line.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the bus to the next waiter (urgent first), or leave it free."""
        for line in (self._urgent, self._normal):
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the bus stays busy: it is the waiter's now
                    return
        self._busy = False


class _Turn:
    """Hold the bus for one ``async with`` block."""

    __slots__ = ("_arbiter", "_urgent")

    def __init__(self, arbiter: _Arbiter, *, urgent: bool) -> None:
        self._arbiter = arbiter
        self._urgent = urgent

    async def __aenter__(self) -> None:
        await self._arbiter.acquire(urgent=self._urgent)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._arbiter.release()


class Dlt645Gateway:
    """The :class:`MeterGateway` of one bus, over a dlt645 client.

    ``clock`` gives true time; ``zone`` is the zone the meters keep local time in.
    """

    def __init__(
        self,
        *,
        bus: str,
        client: dlt645.Client,
        clock: ports.Clock,
        authoriser: dlt645.RelayAuthoriser,
        write_password: dlt645.Password = DEFAULT_PASSWORD,
        operator_code: int = HEADEND_OPERATOR,
        zone: ZoneInfo = SHANGHAI,
        line_open: bool = True,
    ) -> None:
        self._bus = bus
        self._client = client
        self._clock = clock
        self._authoriser = authoriser
        self._write_password = write_password
        self._operator_code = operator_code
        self._zone = zone
        self._drift: dict[MeterNumber, dt.timedelta] = {}
        self._arbiter = _Arbiter()
        # A line that could not be opened (or dropped) is dialled again by the next request.
        self._broken = not line_open

    @property
    def bus(self) -> str:
        """Return the bus's name."""
        return self._bus

    @property
    def client(self) -> dlt645.Client:
        """Return the protocol client (for its traffic counters)."""
        return self._client

    def drift(self, meter: MeterNumber) -> dt.timedelta:
        """Return the drift the last clock reading found (zero if none yet)."""
        return self._drift.get(meter, dt.timedelta(0))

    async def _dial(self) -> None:
        """Open the line again if it is down (the caller holds the bus).

        :raises BusUnreachable: if it cannot be opened.
        """
        if not self._broken:
            return
        transport = self._client.transport
        try:
            await transport.close()
            await transport.open()
        except (dlt645.DLT645Error, OSError) as exc:
            raise hp.BusUnreachable(self._bus, f"cannot open the line: {exc}") from exc
        self._broken = False

    async def connect(self) -> None:
        """Make sure the line is open: dial it again if it could not be opened or dropped.

        :raises BusUnreachable: if the line cannot be opened.
        """
        async with self._arbiter.turn(urgent=False):
            await self._dial()

    async def _call(
        self, meter: str, call: Callable[[], Awaitable[T]], *, urgent: bool = False
    ) -> T:
        async with self._arbiter.turn(urgent=urgent):
            # A serial-to-TCP server that dropped the line: dial again before giving up.
            if self._broken:
                await self._dial()
            try:
                return await call()
            except dlt645.AbnormalResponse as exc:
                raise hp.MeterRefused(meter, f"{type(exc).__name__}: {exc}") from exc
            except dlt645.TransportError as exc:
                self._broken = True
                raise hp.MeterUnreachable(meter, f"{type(exc).__name__}: {exc}") from exc
            except (dlt645.DLT645Error, OSError) as exc:
                raise hp.MeterUnreachable(meter, f"{type(exc).__name__}: {exc}") from exc

    async def _read(self, meter: MeterNumber, di: int, *, urgent: bool = False) -> object:
        return await self._call(
            str(meter), lambda: self._client.read(address=str(meter), di=di), urgent=urgent
        )

    def _local(self, meter_at: dt.datetime) -> dt.datetime:
        return meter_at.replace(tzinfo=self._zone)

    def _meter_now(self) -> dt.datetime:
        return self._clock.now().astimezone(self._zone).replace(tzinfo=None)

    # ------------------------------------------------------------------ reads

    async def read_registers(self, meter: MeterNumber) -> metering.Reading:
        """Return the five registers (0001FF00), placed at the meter's time.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        block = await self._read(meter, DI_ENERGY_BLOCK)
        now = self._clock.now()
        try:
            registers = _registers(block)
        except dlt645.DataError as exc:
            raise hp.MeterUnreachable(str(meter), str(exc)) from exc
        return metering.Reading(
            meter_number=meter,
            registers=registers,
            meter_time_at=now + self.drift(meter),
            received_at=now,
        )

    async def read_settlement(self, meter: MeterNumber, *, months_back: int = 1) -> RegisterSet:
        """Return the registers frozen at a past settlement (0001FF01: last month).

        :raises ValueError: unless ``months_back`` is 1 to 12.
        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        if not 1 <= months_back <= 12:
            raise ValueError("a meter keeps 12 settlements")
        block = await self._read(meter, DI_ENERGY_BLOCK + months_back)
        try:
            return _registers(block)
        except dlt645.DataError as exc:
            raise hp.MeterUnreachable(str(meter), str(exc)) from exc

    async def read_status(self, meter: MeterNumber, *, urgent: bool = False) -> MeterStatus:
        """Return run status word 3.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        status = await self._read(meter, DI_STATUS_3, urgent=urgent)
        if not isinstance(status, dlt645.RunStatus3):
            raise hp.MeterUnreachable(str(meter), f"status word 3 decoded as {status!r}")
        return MeterStatus(
            relay_open=status.relay_open,
            relay_command_open=status.relay_command_open,
            keep_power=status.keep_power,
        )

    async def read_instant_values(self, meter: MeterNumber) -> hp.InstantValues:
        """Return voltage, current and active power in milli-units.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        voltage = await self._read(meter, DI_VOLTAGE)
        current = await self._read(meter, DI_CURRENT)
        power = await self._read(meter, DI_POWER)
        try:
            return hp.InstantValues(
                voltage_mv=_milli(voltage),
                current_ma=_milli(current),
                # kW with 4 decimals: x 10^6 gives mW exactly.
                active_power_mw=_milli(power) * 1000,
            )
        except dlt645.DataError as exc:
            raise hp.MeterUnreachable(str(meter), str(exc)) from exc

    async def read_event_count(self, meter: MeterNumber, kind: MeterEventKind) -> int:
        """Return how often an event kind happened since the meter was made.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        count = await self._read(meter, EVENT_DIS[kind][0])
        if not isinstance(count, int):
            raise hp.MeterUnreachable(str(meter), f"event count decoded as {count!r}")
        return count

    async def read_event(
        self, meter: MeterNumber, kind: MeterEventKind, *, index: int
    ) -> hp.MeterEvent | None:
        """Return the ``index``-th most recent record (1-10), or None for an empty slot.

        :raises ValueError: unless ``index`` is 1 to 10.
        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        if not 1 <= index <= hp.RECORDS_KEPT:
            raise ValueError(f"a meter keeps records 1 to {hp.RECORDS_KEPT}")
        record = await self._read(meter, EVENT_DIS[kind][1] + index - 1)
        started: dt.datetime | None
        ended: dt.datetime | None = None
        detail = ""
        match record:
            case dlt645.CoverOpenRecord() | dlt645.PowerDownRecord():
                started, ended = record.started_at, record.ended_at
            case dlt645.OverCurrentRecord():
                started = record.started_at
                detail = f"forward active {record.forward_active_at_start} kWh at start"
            case dlt645.RelayEventRecord():
                started = record.occurred_at
                detail = f"operator {record.operator_code:08X}"
            case _:
                raise hp.MeterUnreachable(str(meter), f"event record decoded as {record!r}")
        if started is None:
            return None
        return hp.MeterEvent(
            meter_number=meter,
            kind=kind,
            occurred_at=self._local(started),
            ended_at=None if ended is None else self._local(ended),
            detail=detail,
        )

    async def read_clock(self, meter: MeterNumber) -> hp.ClockCheck:
        """Return the meter's clock against true time and remember the drift for readings.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses.
        """
        day = await self._read(meter, DI_DATE)
        time_of_day = await self._read(meter, DI_TIME)
        checked_at = self._clock.now()
        if not isinstance(day, dt.date) or not isinstance(time_of_day, dt.time):
            raise hp.MeterUnreachable(str(meter), f"clock decoded as {day!r} {time_of_day!r}")
        meter_at = self._local(dt.datetime.combine(day, time_of_day))
        # The date was read before the time: a time just past midnight belongs to the next day.
        if meter_at - checked_at < dt.timedelta(hours=-12):
            meter_at += dt.timedelta(days=1)
        check = hp.ClockCheck(meter_number=meter, checked_at=checked_at, meter_at=meter_at)
        self._drift[meter] = check.drift
        return check

    # ------------------------------------------------------------------ commands

    async def set_clock(self, meter: MeterNumber) -> None:
        """Set one meter's clock to the true time with two password-protected writes.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses (e.g. the password).
        """

        async def write() -> None:
            now = self._meter_now()
            await self._client.write(
                address=str(meter),
                di=DI_DATE,
                value=now.date(),
                password=self._write_password,
                operator_code=self._operator_code,
            )
            await self._client.write(
                address=str(meter),
                di=DI_TIME,
                value=self._meter_now().time().replace(microsecond=0),
                password=self._write_password,
                operator_code=self._operator_code,
            )

        await self._call(str(meter), write, urgent=True)
        self._drift[meter] = dt.timedelta(0)

    async def broadcast_time(self) -> None:
        """Send the true time to every meter of the bus (08H; nobody answers).

        :raises MeterUnreachable: if the bus itself fails.
        """
        await self._call(
            self._bus,
            # Meter clocks show whole seconds; the frame carries no fraction.
            lambda: self._client.broadcast_time(
                meter_time=self._meter_now().replace(microsecond=0)
            ),
        )

    async def operate_relay(self, meter: MeterNumber, operation: RelayOperation) -> None:
        """Send a relay order (1CH) and await the meter's acknowledgement.

        :raises MeterUnreachable: if the meter cannot be heard.
        :raises MeterRefused: if the meter refuses (password, keep-power, expired order).
        """
        order = dlt645.RelayOrder(
            action=RELAY_ACTIONS[operation],
            operator_code=self._operator_code,
            valid_until=(self._meter_now() + ORDER_VALIDITY).replace(microsecond=0),
        )
        await self._call(
            str(meter),
            lambda: self._client.control_relay(
                address=str(meter), order=order, authoriser=self._authoriser
            ),
            urgent=True,
        )


def transport_url(bus: hp.BusConfig) -> str:
    """Return the bus URL with its baud rate, so the client can pace a TCP-served line."""
    parts = urllib.parse.urlsplit(bus.url)
    query = urllib.parse.parse_qs(parts.query)
    if "baud" in query:
        return bus.url
    joined = f"{parts.query}&baud={bus.baud}" if parts.query else f"baud={bus.baud}"
    return urllib.parse.urlunsplit(parts._replace(query=joined))


class Dlt645GatewayFactory:
    """Open buses as :class:`Dlt645Gateway`: ``async with factory(bus) as gateway``.

    ``authoriser`` signs relay orders (plain password by default; a security module where the
    meters need one); ``retries`` is how often a silent or garbled request is repeated.
    """

    def __init__(
        self,
        *,
        clock: ports.Clock,
        authoriser: dlt645.RelayAuthoriser | None = None,
        write_password: dlt645.Password = DEFAULT_PASSWORD,
        operator_code: int = HEADEND_OPERATOR,
        retries: int = 1,
    ) -> None:
        self._clock = clock
        self._authoriser = authoriser or dlt645.PlainPasswordAuthoriser(DEFAULT_PASSWORD)
        self._write_password = write_password
        self._operator_code = operator_code
        self._retries = retries

    @contextlib.asynccontextmanager
    async def __call__(self, bus: hp.BusConfig) -> AsyncIterator[Dlt645Gateway]:
        """Open the bus's line, yield its gateway, close the line.

        A line that cannot be opened yet (a serial-to-TCP server that is down) still gives a
        gateway: every request dials again and fails with ``BusUnreachable`` until it opens.

        :raises BusUnreachable: if the bus's URL names no line that could ever be opened.
        """
        try:
            transport = dlt645.transport_from_url(transport_url(bus))
        except dlt645.DLT645Error as exc:
            raise hp.BusUnreachable(bus.name, f"cannot open {bus.url}: {exc}") from exc
        line_open = True
        try:
            await transport.open()
        except dlt645.DLT645Error as exc:
            logger.warning("bus %s cannot be opened yet: %s", bus.name, exc)
            line_open = False
        try:
            timeout_s = bus.response_timeout.total_seconds()
            client = dlt645.Client(
                transport,
                timeout=timeout_s,
                retries=self._retries,
                # A garbled reply must not hold the bus longer than a silent one would.
                byte_timeout=min(timeout_s, MAX_BYTE_GAP_S),
            )
            yield Dlt645Gateway(
                bus=bus.name,
                client=client,
                clock=self._clock,
                authoriser=self._authoriser,
                write_password=self._write_password,
                operator_code=self._operator_code,
                line_open=line_open,
            )
        finally:
            await transport.close()


def relay_authoriser(
    *, password: str | None = None, level: int = 0x02, master_key: bytes | None = None
) -> dlt645.RelayAuthoriser:
    """Return how relay orders are signed: a plaintext password, or a security module.

    Without ``password`` the meters' factory default (level 02, 123456) is used.

    With ``master_key`` the orders go through the (simulated) security module: 03H identity
    authentication, then the 98H ciphertext form; a real encryption machine replaces it.

    :raises DataError: if the password is not six digits or the level not a byte.
    """
    if master_key is not None:
        return dlt645.SimulatedSecureAuthoriser(master_key)
    if password is None:
        return dlt645.PlainPasswordAuthoriser(DEFAULT_PASSWORD)
    return dlt645.PlainPasswordAuthoriser(dlt645.Password(level=level, digits=password))
