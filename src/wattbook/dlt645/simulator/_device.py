"""A virtual meter on the bus: DL/T 645 requests in, replies (or faults) out.

:class:`MeterDevice` is a :class:`wattbook.dlt645.server.Device`: the bus hands it each request
addressed to it and puts what it returns on the line, paced at the bus's baud rate by the
serving loop. Value codecs and reply builders come from ``dataids`` and ``messages``; this
module only decides what the meter answers.

What it refuses, and how (the error word of the abnormal reply):

- a wrong password (write, plaintext control), a plaintext control to a meter in secure mode,
  a ciphertext control without an authenticated session or with a bad MAC: bit 2 (04H);
- a control whose valid-until time has passed on the meter clock, a trip under keep-power, a
  write or control sent to a wildcard address, an unsupported function: bit 0 (01H);
- a read or write of a data identifier it does not have, and a follow-up read (12H) that does
  not continue the last split read (other DI, SEQ beyond its last frame): bit 1 (02H).

Long items: every item of the table fits one frame, so by default a meter answers each read in
one frame. With ``max_reply_data`` set, an item whose data is longer is split as a meter with
a smaller buffer would: the 11H reply (B1H) carries the first ``max_reply_data`` bytes, and
12H with SEQ 1, 2, ... gets the next parts (B2H while more follow, 92H for the last). The parts
come from a snapshot taken at the 11H, so a value that changes in between stays whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Sequence
from decimal import Decimal

from wattbook.dlt645 import dataids, messages
from wattbook.dlt645.errors import ERR_NO_DATA, ERR_OTHER, ERR_PASSWORD, DataError
from wattbook.dlt645.frame import (
    BROADCAST_ADDRESS,
    DEFAULT_PREAMBLE,
    FN_BROADCAST_TIME,
    FN_CONTROL,
    FN_READ,
    FN_READ_ADDRESS,
    FN_READ_FOLLOW_UP,
    FN_SECURITY,
    FN_WRITE,
    Frame,
)
from wattbook.dlt645.server import Delay, RawReply, ReplyPart
from wattbook.dlt645.simulator._meter import KeepPowerInForce, VirtualMeter
from wattbook.dlt645.simulator._records import (
    PROGRAMMED_DIS_KEPT,
    RECORDS_KEPT,
    SETTLEMENTS_KEPT,
    EventKind,
    EventRecord,
    Registers,
)

DI_DATE = 0x04000101
DI_TIME = 0x04000102
DEFAULT_PASSWORD = messages.Password(level=0x02, digits="123456")
ASSET_CODE_PREFIX = "WASION-DDZY102-"
# A follow-up reply's data field holds the DI (4), the part and the SEQ (1) within L <= 255.
MAX_REPLY_DATA_LIMIT = 250
# What fills a programming record's unused DI slots; FFFFFFFFH is the common filler.
UNUSED_DI_SLOT = 0xFFFFFFFF

# Event kind -> (count DI, DI of the most recent record); records n = 1..10 follow it.
EVENT_DIS: dict[EventKind, tuple[int, int]] = {
    EventKind.COVER_OPEN: (0x03300D00, 0x03300D01),
    EventKind.TERMINAL_COVER_OPEN: (0x03300E00, 0x03300E01),
    EventKind.POWER_DOWN: (0x03110000, 0x03110001),
    EventKind.CLOCK_CHANGE: (0x03300400, 0x03300401),
    EventKind.PROGRAMMING: (0x03300000, 0x03300001),
    EventKind.RELAY_TRIP: (0x1D000001, 0x1D00FF01),
    EventKind.RELAY_CLOSE: (0x1E000001, 0x1E00FF01),
    EventKind.OVER_CURRENT: (0x19010001, 0x1901FF01),
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """What goes wrong with one meter's answers, each a probability from 0 (never) to 1.

    ``silent``: the request never reaches the meter (unreachable; 1 = offline, but energy and
    events go on being recorded). ``drop``: the meter acts on the request but its reply is
    lost. ``garble``: the reply arrives corrupted. ``slow``: the reply comes ``slow_delay_s``
    late (longer than a master's timeout by default).
    """

    silent: float = 0.0
    drop: float = 0.0
    garble: float = 0.0
    slow: float = 0.0
    slow_delay_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("silent", "drop", "garble", "slow"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"fault probability {name}={value} is not between 0 and 1")
        if self.slow_delay_s < 0:
            raise ValueError("a slow answer cannot come early")


NO_FAULTS = Faults()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Security:
    """How a meter checks writes and relay orders.

    ``control_password`` is the level-02 or level-03 password of plaintext 1CH orders;
    ``write_password`` that of 14H writes. With ``secure`` set, plaintext orders are refused and
    only PA=98H orders opened by ``module`` (the meter's simulated ESAM) are obeyed.
    """

    control_password: messages.Password = DEFAULT_PASSWORD
    write_password: messages.Password = DEFAULT_PASSWORD
    secure: bool = False
    module: messages.SimulatedSecurityModule | None = None

    def __post_init__(self) -> None:
        if self.control_password.level not in (0x02, 0x03):
            raise ValueError("plaintext relay orders use a level 02 or 03 password")
        if self.secure and self.module is None:
            raise ValueError("secure mode needs a security module")


class _Refused(Exception):
    """Raised inside the device to answer with an abnormal reply."""

    def __init__(self, error_word: int) -> None:
        super().__init__(error_word)
        self.error_word = error_word


def _kwh(wh: int) -> Decimal:
    """Return a register as the meter shows it: 0.01 kWh, truncated."""
    return Decimal(wh // 10).scaleb(-2)


def _garble(raw: bytes, rng: random.Random) -> bytes:
    """Return a reply damaged on the line: a flipped checksum and one more flipped byte."""
    damaged = bytearray(raw)
    damaged[-2] ^= 0x5A
    position = rng.randrange(DEFAULT_PREAMBLE, len(damaged) - 2)
    damaged[position] ^= 1 << rng.randrange(8)
    return bytes(damaged)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _SplitRead:
    """The data of a read being served in parts, and the size of each part."""

    di: int
    data: bytes
    part_size: int


class MeterDevice:
    """Put a :class:`VirtualMeter` on a bus, with its security and its faults.

    ``max_reply_data`` is the most item data one reply frame carries; longer items are served
    in follow-up frames (see the module docstring). None (the default) never splits.

    :raises ValueError: if ``max_reply_data`` is not 1 to 250.
    """

    def __init__(
        self,
        *,
        meter: VirtualMeter,
        security: Security | None = None,
        faults: Faults = NO_FAULTS,
        seed: int = 0,
        max_reply_data: int | None = None,
    ) -> None:
        if max_reply_data is not None and not 1 <= max_reply_data <= MAX_REPLY_DATA_LIMIT:
            raise ValueError(
                f"a reply carries 1 to {MAX_REPLY_DATA_LIMIT} bytes of data, not {max_reply_data}"
            )
        self.meter = meter
        self.security = security or Security()
        self.faults = faults
        self.max_reply_data = max_reply_data
        self._split: _SplitRead | None = None
        self._rng = random.Random(f"{seed}:{meter.address}")
        self._handlers: dict[int, Callable[[Frame], Frame]] = {
            FN_READ: self._read,
            FN_READ_FOLLOW_UP: self._read_follow_up,
            FN_READ_ADDRESS: self._read_address,
            FN_WRITE: self._write,
            FN_SECURITY: self._authenticate,
            FN_CONTROL: self._control,
        }

    @property
    def address(self) -> str:
        """Return the meter's communication address."""
        return self.meter.address

    def handle(self, request: Frame) -> Sequence[ReplyPart]:
        """Return what the meter puts on the bus for a request (nothing for a broadcast)."""
        if not self.meter.powered or self._happens(self.faults.silent):
            return ()
        if request.function == FN_BROADCAST_TIME:
            self._broadcast_time(request)
            return ()
        if request.address == BROADCAST_ADDRESS:
            return ()
        handler = self._handlers.get(request.function)
        try:
            if handler is None:
                raise _Refused(ERR_OTHER)
            reply = handler(request)
        except _Refused as refusal:
            reply = messages.abnormal_reply(request, refusal.error_word, address=self.address)
        if self._happens(self.faults.drop):
            return ()
        parts: list[ReplyPart] = []
        if self._happens(self.faults.slow):
            parts.append(Delay(seconds=self.faults.slow_delay_s))
        if self._happens(self.faults.garble):
            parts.append(RawReply(data=_garble(reply.encode(), self._rng)))
        else:
            parts.append(reply)
        return parts

    def _happens(self, probability: float) -> bool:
        return probability >= 1 or (probability > 0 and self._rng.random() < probability)

    # ------------------------------------------------------------ functions

    def _read(self, request: Frame) -> Frame:
        self._split = None  # a new read ends any split one: its follow-ups are refused
        di = request.di
        if di is None:
            raise _Refused(ERR_OTHER)
        value = self._value(di)
        if value is None or di not in dataids.ITEMS:
            raise _Refused(ERR_NO_DATA)
        data = dataids.encode_value(di, value)
        part_size = self.max_reply_data
        if part_size is None or len(data) <= part_size:
            return messages.read_reply(request, data, address=self.address)
        self._split = _SplitRead(di=di, data=data, part_size=part_size)
        return messages.read_reply(request, data[:part_size], follow_up=True, address=self.address)

    def _read_follow_up(self, request: Frame) -> Frame:
        split = self._split
        if len(request.data) != 5:
            raise _Refused(ERR_OTHER)
        seq = request.data[4]
        if split is None or request.di != split.di or seq == 0:
            raise _Refused(ERR_NO_DATA)
        start = seq * split.part_size
        if start >= len(split.data):
            raise _Refused(ERR_NO_DATA)
        end = start + split.part_size
        return messages.read_reply(
            request,
            split.data[start:end],
            follow_up=end < len(split.data),
            address=self.address,
        )

    def _read_address(self, request: Frame) -> Frame:
        return messages.address_reply(request, address=self.address)

    def _write(self, request: Frame) -> Frame:
        if "A" in request.address:
            raise _Refused(ERR_OTHER)
        try:
            command = messages.parse_write_data(request.data)
        except DataError:
            raise _Refused(ERR_OTHER) from None
        if command.password != self.security.write_password:
            raise _Refused(ERR_PASSWORD)
        if command.di not in (DI_DATE, DI_TIME):
            raise _Refused(ERR_NO_DATA)
        try:
            value = dataids.decode_value(command.di, command.data)
        except DataError:
            raise _Refused(ERR_OTHER) from None
        shown = self.meter.meter_time().replace(microsecond=0)
        if isinstance(value, dt.date) and command.di == DI_DATE:
            new = dt.datetime.combine(value, shown.time())
        elif isinstance(value, dt.time):
            new = dt.datetime.combine(shown.date(), value)
        else:  # pragma: no cover - the codec returns the types above
            raise _Refused(ERR_OTHER)
        # Recorded first, so the programming record carries the clock of before the write.
        self.meter.record_programming(data_id=command.di, operator_code=command.operator_code)
        self.meter.set_meter_time(new, operator_code=command.operator_code)
        return messages.normal_reply(request, address=self.address)

    def _broadcast_time(self, request: Frame) -> None:
        try:
            meter_at = messages.parse_broadcast_time(request.data)
        except DataError:
            return  # a damaged broadcast is ignored: nobody may answer a broadcast
        self.meter.broadcast_time(meter_at)

    def _authenticate(self, request: Frame) -> Frame:
        module = self.security.module
        if module is None:
            raise _Refused(ERR_OTHER)
        try:
            data = module.authenticate(
                address=self.address, data=request.data, meter_time=self._meter_second()
            )
        except messages.SecurityError as exc:
            raise _Refused(exc.error_word) from None
        return messages.normal_reply(request, data, address=self.address)

    def _control(self, request: Frame) -> Frame:
        if "A" in request.address:
            raise _Refused(ERR_OTHER)
        order = self._open_order(request.data)
        meter = self.meter
        action = messages.RelayAction
        try:
            match order.action:
                case action.TRIP:
                    meter.trip(operator_code=order.operator_code)
                case action.CLOSE_ALLOWED:
                    meter.allow_close(operator_code=order.operator_code)
                case action.DIRECT_CLOSE:
                    meter.close(operator_code=order.operator_code)
                case action.ALARM | action.ALARM_RELEASE:
                    meter.set_alarm(on=order.action == action.ALARM)
                case action.KEEP_POWER | action.KEEP_POWER_RELEASE:
                    meter.set_keep_power(
                        on=order.action == action.KEEP_POWER, operator_code=order.operator_code
                    )
        except KeepPowerInForce:
            raise _Refused(ERR_OTHER) from None
        return messages.normal_reply(request, address=self.address)

    def _open_order(self, data: bytes) -> messages.RelayOrder:
        security = self.security
        meter_time = self._meter_second()
        if messages.is_secure_control_data(data):
            if security.module is None:
                raise _Refused(ERR_PASSWORD)
            try:
                return security.module.open_control(
                    address=self.address, data=data, meter_time=meter_time
                )
            except messages.SecurityError as exc:
                raise _Refused(exc.error_word) from None
        if security.secure:
            raise _Refused(ERR_PASSWORD)
        try:
            password, order = messages.parse_control_data(data)
        except DataError:
            raise _Refused(ERR_OTHER) from None
        if password != security.control_password:
            raise _Refused(ERR_PASSWORD)
        if not order.is_valid_at(meter_time):
            raise _Refused(messages.OrderExpired.error_word)
        return order

    def _meter_second(self) -> dt.datetime:
        return self.meter.meter_time().replace(microsecond=0)

    # ------------------------------------------------------------ values

    def _value(self, di: int) -> object | None:
        """Return the value of a data identifier as ``dataids`` encodes it, or None."""
        di3 = di >> 24
        if di3 == 0x00:
            return self._energy(di)
        if di in EVENT_COUNT_DIS:
            return self.meter.events(EVENT_COUNT_DIS[di]).count
        if di in EVENT_RECORD_DIS:
            kind, index = EVENT_RECORD_DIS[di]
            records = self.meter.events(kind).records
            return _record_value(kind, records[index] if index < len(records) else None)
        simple = self._simple_values()
        getter = simple.get(di)
        return None if getter is None else getter()

    def _energy(self, di: int) -> object | None:
        quantity, tariff, settlement = di >> 16 & 0xFF, di >> 8 & 0xFF, di & 0xFF
        if quantity not in (0x00, 0x01, 0x02) or settlement > SETTLEMENTS_KEPT:
            return None
        if tariff not in (0, 1, 2, 3, 4, 0xFF):
            return None
        if quantity == 0x02:  # a household never exports: reverse energy stays zero
            values = (0, 0, 0, 0, 0)
        elif settlement == 0:
            values = self.meter.registers().as_tuple()
        else:
            frozen = self.meter.settlements()
            # Settlements not reached yet (a meter younger than a year) read as zero.
            values = (
                frozen[settlement - 1].registers.as_tuple()
                if settlement <= len(frozen)
                else Registers.from_tuple((0,) * 5).as_tuple()
            )
        if tariff == 0xFF:
            return dataids.EnergyBlock(
                total=_kwh(values[0]), tariffs=tuple(_kwh(v) for v in values[1:])
            )
        return _kwh(values[tariff])

    def _simple_values(self) -> dict[int, Callable[[], object]]:
        meter = self.meter

        def status3() -> dataids.RunStatus3:
            return dataids.RunStatus3.from_word(
                meter.status_word_3(authenticated=self._authenticated())
            )

        def status7() -> dataids.RunStatus7:
            return dataids.RunStatus7(
                meter_cover_open=meter.cover_open,
                terminal_cover_open=meter.terminal_cover_open,
            )

        def status_block() -> object:
            return dataids.RunStatusBlock(word3=status3(), word7=status7())

        def power() -> object:
            return Decimal(meter.measurements().active_power_mw // 100).scaleb(-4)

        return {
            0x02010100: lambda: Decimal(meter.measurements().voltage_mv // 100).scaleb(-1),
            0x02020100: lambda: Decimal(meter.measurements().current_ma).scaleb(-3),
            0x02030000: power,
            0x02030100: power,
            0x02060000: lambda: Decimal(meter.measurements().power_factor_permille).scaleb(-3),
            0x02800002: lambda: Decimal(meter.measurements().frequency_chz).scaleb(-2),
            DI_DATE: lambda: meter.meter_time().date(),
            DI_TIME: lambda: meter.meter_time().time().replace(microsecond=0),
            0x04000204: lambda: 4,
            0x04000401: lambda: meter.address,
            0x04000402: lambda: meter.meter_number,
            0x04000403: lambda: ASSET_CODE_PREFIX + meter.meter_number,
            0x0400040E: lambda: meter.account_number,
            0x04000501: dataids.RunStatus1,
            0x04000502: dataids.RunStatus2,
            0x04000503: status3,
            0x04000504: dataids.PhaseFaultStatus,
            0x04000505: dataids.PhaseFaultStatus,
            0x04000506: dataids.PhaseFaultStatus,
            0x04000507: status7,
            0x040005FF: status_block,
        }

    def _authenticated(self) -> bool:
        module = self.security.module
        return module is not None and module.is_authenticated(
            address=self.address, meter_time=self._meter_second()
        )


EVENT_COUNT_DIS: dict[int, EventKind] = {count: kind for kind, (count, _) in EVENT_DIS.items()}
EVENT_RECORD_DIS: dict[int, tuple[EventKind, int]] = {
    first + index: (kind, index)
    for kind, (_, first) in EVENT_DIS.items()
    for index in range(RECORDS_KEPT)
}


def _snapshot(wh: int | None) -> dataids.EnergySnapshot:
    zero = Decimal("0.00")
    return dataids.EnergySnapshot(
        forward_active=zero if wh is None else _kwh(wh),
        reverse_active=zero,
        reactive_q1=zero,
        reactive_q2=zero,
        reactive_q3=zero,
        reactive_q4=zero,
    )


def _record_value(kind: EventKind, record: EventRecord | None) -> object:
    """Return an event record in the form ``dataids`` encodes (empty slots all zeros)."""
    started = None if record is None else record.started_at
    ended = None if record is None else record.ended_at
    operator = 0 if record is None else record.operator_code
    before = None if record is None else record.energy_before_wh
    after = None if record is None else record.energy_after_wh
    match kind:
        case EventKind.COVER_OPEN | EventKind.TERMINAL_COVER_OPEN:
            return dataids.CoverOpenRecord(
                started_at=started, ended_at=ended, before=_snapshot(before), after=_snapshot(after)
            )
        case EventKind.POWER_DOWN:
            return dataids.PowerDownRecord(started_at=started, ended_at=ended)
        case EventKind.CLOCK_CHANGE:
            return dataids.ClockChangeRecord(operator_code=operator, before=started, after=ended)
        case EventKind.PROGRAMMING:
            written = () if record is None else record.data_ids
            filler = 0 if record is None else UNUSED_DI_SLOT
            return dataids.ProgrammingRecord(
                occurred_at=started,
                operator_code=operator,
                data_ids=written + (filler,) * (PROGRAMMED_DIS_KEPT - len(written)),
            )
        case EventKind.RELAY_TRIP | EventKind.RELAY_CLOSE:
            return dataids.RelayEventRecord(
                occurred_at=started, operator_code=operator, energy=_snapshot(before)
            )
        case EventKind.OVER_CURRENT:
            return dataids.OverCurrentRecord(
                started_at=started,
                forward_active_at_start=_snapshot(before).forward_active,
                reverse_active_at_start=Decimal("0.00"),
            )
