"""The table of DL/T 645-2007 data identifiers (DIs) this project uses, kept as data.

Each :class:`DataItem` names a DI, its format and its length; :func:`decode_value` and
:func:`encode_value` convert the data that follows the DI in a frame, both ways, exactly:

- fixed-point numbers (energy kWh, V, A, kW) are :class:`~decimal.Decimal`, never ``float``;
  signed formats carry the sign in bit 7 of the most significant byte;
- energy blocks (``xxxxFFxx``) are :class:`EnergyBlock` for any number of tariffs;
- dates, times and event time stamps are *meter-local* naive values (the meter knows no zone);
- 12-digit numbers (address, meter number, account number) are ``str``, leading zeros kept;
- run status words are frozen dataclasses of named flags plus ``raw``;
- event records are frozen dataclasses (see each class for the layout and how sure it is).

Energy identifiers are generated from the standard's structure (DI3=00, DI2 quantity, DI1 tariff,
DI0 settlement index) rather than typed out; see ``_energy_items``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import IntEnum, StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeVar

from wattbook.dlt645.bcd import (
    bcd_to_int,
    decode_date_weekday,
    decode_datetime,
    decode_decimal,
    decode_time_of_day,
    encode_clock_fields,
    encode_datetime,
    encode_decimal,
    int_to_bcd,
)
from wattbook.dlt645.errors import DataError, UnknownDataIdentifier

_MAX_DI = 0xFFFFFFFF
_T = TypeVar("_T")


class Fmt(StrEnum):
    """Name the data format of an item, written as the standard writes it where it can."""

    ENERGY = "XXXXXX.XX"
    SIGNED_ENERGY = "±XXXXXX.XX"
    ENERGY_BLOCK = "XXXXXX.XX*(1+n)"
    SIGNED_ENERGY_BLOCK = "±XXXXXX.XX*(1+n)"
    VOLTAGE = "XXX.X"
    CURRENT = "±XXX.XXX"
    POWER = "±XX.XXXX"
    POWER_FACTOR = "±X.XXX"
    FREQUENCY = "XX.XX"
    DATE_WEEKDAY = "YYMMDDWW"
    TIME = "hhmmss"
    DIGITS = "NNNNNNNNNNNN"
    ASCII = "ASCII"
    COUNT = "XXXXXX"
    NUMBER = "NN"
    RUN_STATUS_1 = "XXXX (run status word 1)"
    RUN_STATUS_2 = "XXXX (run status word 2)"
    RUN_STATUS_3 = "XXXX (run status word 3)"
    PHASE_FAULT_STATUS = "XXXX (run status words 4-6)"
    RUN_STATUS_7 = "XXXX (run status word 7)"
    RUN_STATUS_BLOCK = "XXXX*7 (run status words 1-7)"
    COVER_RECORD = "cover-open record"
    POWER_DOWN_RECORD = "power-down record"
    PROGRAMMING_RECORD = "programming record"
    CLOCK_CHANGE_RECORD = "clock-change record"
    RELAY_RECORD = "relay trip/close record"
    OVER_CURRENT_RECORD = "over-current record"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DataItem:
    """Describe one data identifier: what it is, its format and its length in bytes.

    ``length`` is the exact length of a fixed item. For a ``variable`` item it is the length
    a DDZY102 is expected to use (an energy block with 4 tariffs is 20 bytes); the codec says
    which other lengths it accepts.
    """

    di: int
    name: str
    label: str
    fmt: Fmt
    unit: str
    length: int
    variable: bool = False


# ---------------------------------------------------------------- value types


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EnergyBlock:
    """Hold an energy block read (``xxxxFFxx``): the total, then each tariff in order.

    On the DDZY102 tariffs 1..4 are expected to be sharp, peak, flat, valley (unconfirmed).
    """

    total: Decimal
    tariffs: tuple[Decimal, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EnergySnapshot:
    """Hold the six energy totals an event record captures (kWh / kvarh, Decimal)."""

    forward_active: Decimal
    reverse_active: Decimal
    reactive_q1: Decimal
    reactive_q2: Decimal
    reactive_q3: Decimal
    reactive_q4: Decimal


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CoverOpenRecord:
    """Hold one meter-cover (or terminal-cover) opening record, 60 bytes.

    Layout (standard table A.4): start 6 + end 6 + energies before (6 x 4) + after (6 x 4),
    each snapshot in the order forward active, reverse active, reactive Q1..Q4. A time of all
    zeros means "not recorded" (the event is still going on, or the slot is empty) and is None.
    """

    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    before: EnergySnapshot
    after: EnergySnapshot


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PowerDownRecord:
    """Hold one power-down record, 12 bytes: start 6 + end 6 (all zeros = None)."""

    started_at: dt.datetime | None
    ended_at: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProgrammingRecord:
    """Hold one programming record, 50 bytes: time 6 + operator code 4 + 10 DIs of 4.

    ``data_ids`` keeps all ten slots as sent; meters fill unused slots (often FFFFFFFFH).
    """

    occurred_at: dt.datetime | None
    operator_code: int
    data_ids: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClockChangeRecord:
    """Hold one clock-change record, 16 bytes: operator 4 + time before 6 + time after 6."""

    operator_code: int
    before: dt.datetime | None
    after: dt.datetime | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RelayEventRecord:
    """Hold one relay trip (1D00FF0n) or close (1E00FF0n) record, 34 bytes.

    **Layout unconfirmed** (a 2013 extension; test benches expect 34 or 38 bytes). Chosen:
    time 6 + operator code 4 + forward active, reverse active, reactive Q1..Q4 totals (6 x 4)
    at the moment of the operation. A 38-byte answer is refused with DataError rather than
    guessed at; check against a real DDZY102.
    """

    occurred_at: dt.datetime | None
    operator_code: int
    energy: EnergySnapshot


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OverCurrentRecord:
    """Hold the start of one over-current record (1901FF0n), at least 14 bytes.

    **Layout unconfirmed** (a 2013 extension). Chosen: start time 6 + forward active total 4 +
    reverse active total 4 at the start, then ``rest`` kept undecoded (per-phase values, the end
    time and the energies at the end, whose order and length vary between documents).
    """

    started_at: dt.datetime | None
    forward_active_at_start: Decimal
    reverse_active_at_start: Decimal
    rest: bytes = b""


# ---------------------------------------------------------------- run status words


class PowerSupply(IntEnum):
    """Name the power supply mode of run status word 3, bits 1-2."""

    MAIN = 0
    AUXILIARY = 1
    BATTERY = 2
    RESERVED = 3


class MeterType(IntEnum):
    """Name the meter type of run status word 3, bits 8-9."""

    NOT_PREPAID = 0
    ENERGY_PREPAID = 1
    MONEY_PREPAID = 2
    RESERVED = 3


class _StatusWord:
    """Map a 16-bit status word to named fields and back.

    ``raw`` is the whole word. On construction the named fields win over ``raw`` for their bits
    and ``raw`` keeps the bits no field names (reserved or vendor bits), so a word read from a
    meter encodes back to the same bytes, and ``RunStatus3(relay_open=True)`` means 0010H.
    """

    __slots__ = ()
    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = ()
    _ENUMS: ClassVar[tuple[tuple[str, int, type[IntEnum]], ...]] = ()  # name, shift; 2 bits wide

    raw: int

    def __post_init__(self) -> None:
        if not 0 <= self.raw <= 0xFFFF:
            raise DataError(f"status word {self.raw} is not 16 bits")
        word = self.raw & ~self._named_mask()
        for name, bit in self._FLAGS:
            if getattr(self, name):
                word |= 1 << bit
        for name, shift, enum in self._ENUMS:
            try:
                value = enum(getattr(self, name))
            except ValueError as exc:
                raise DataError(f"{name} must be a {enum.__name__}") from exc
            object.__setattr__(self, name, value)
            word |= value << shift
        object.__setattr__(self, "raw", word)

    @classmethod
    def _named_mask(cls) -> int:
        mask = 0
        for _, bit in cls._FLAGS:
            mask |= 1 << bit
        for _, shift, _ in cls._ENUMS:
            mask |= 0b11 << shift
        return mask

    @classmethod
    def from_word(cls, word: int) -> Self:
        """Return the status of a 16-bit word.

        :raises DataError: if ``word`` is not 16 bits.
        """
        if not 0 <= word <= 0xFFFF:
            raise DataError(f"status word {word} is not 16 bits")
        fields: dict[str, Any] = {name: bool(word >> bit & 1) for name, bit in cls._FLAGS}
        for name, shift, enum in cls._ENUMS:
            fields[name] = enum(word >> shift & 0b11)
        fields["raw"] = word
        return cls(**fields)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus1(_StatusWord):
    """Hold run status word 1 (04000501): batteries, power direction, fault bits.

    Bits 8-15 are the 2013 fee-control additions as one public meter firmware names them.
    """

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("interval_demand", 1),
        ("clock_battery_low", 2),
        ("reading_battery_low", 3),
        ("active_power_reverse", 4),
        ("reactive_power_reverse", 5),
        ("control_circuit_error", 8),
        ("esam_error", 9),
        ("internal_program_error", 12),
        ("memory_fault", 13),
        ("overdraft", 14),
        ("clock_fault", 15),
    )

    interval_demand: bool = False
    clock_battery_low: bool = False
    reading_battery_low: bool = False
    active_power_reverse: bool = False
    reactive_power_reverse: bool = False
    control_circuit_error: bool = False
    esam_error: bool = False
    internal_program_error: bool = False
    memory_fault: bool = False
    overdraft: bool = False
    clock_fault: bool = False
    raw: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus2(_StatusWord):
    """Hold run status word 2 (04000502): per-phase power direction (1 = reverse).

    Bits 0-2 active A/B/C, bits 4-6 reactive A/B/C (from the standard as remembered; only bit 0
    is confirmed by a public firmware source).
    """

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("active_reverse_a", 0),
        ("active_reverse_b", 1),
        ("active_reverse_c", 2),
        ("reactive_reverse_a", 4),
        ("reactive_reverse_b", 5),
        ("reactive_reverse_c", 6),
    )

    active_reverse_a: bool = False
    active_reverse_b: bool = False
    active_reverse_c: bool = False
    reactive_reverse_a: bool = False
    reactive_reverse_b: bool = False
    reactive_reverse_c: bool = False
    raw: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus3(_StatusWord):
    """Hold run status word 3 (04000503): relay, keep-power, prepaid and account state.

    ``relay_open`` (bit 4) is the actual relay state; ``relay_command_open`` (bit 6) is what
    the meter was last told. Bits 12-15 are fee-control additions; the polarity of bits 14/15
    (1 = account opened) is unconfirmed: some State Grid texts may define 0 = opened.
    """

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("second_period_table", 0),
        ("programming_enabled", 3),
        ("relay_open", 4),
        ("second_time_zone_table", 5),
        ("relay_command_open", 6),
        ("pre_trip_alarm", 7),
        ("second_price_table", 10),
        ("second_step_table", 11),
        ("keep_power", 12),
        ("identity_authenticated", 13),
        ("local_account_opened", 14),
        ("remote_account_opened", 15),
    )
    _ENUMS: ClassVar[tuple[tuple[str, int, type[IntEnum]], ...]] = (
        ("power_supply", 1, PowerSupply),
        ("meter_type", 8, MeterType),
    )

    second_period_table: bool = False
    power_supply: PowerSupply = PowerSupply.MAIN
    programming_enabled: bool = False
    relay_open: bool = False
    second_time_zone_table: bool = False
    relay_command_open: bool = False
    pre_trip_alarm: bool = False
    meter_type: MeterType = MeterType.NOT_PREPAID
    second_price_table: bool = False
    second_step_table: bool = False
    keep_power: bool = False
    identity_authenticated: bool = False
    local_account_opened: bool = False
    remote_account_opened: bool = False
    raw: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PhaseFaultStatus(_StatusWord):
    """Hold one of run status words 4, 5, 6 (04000504..06): phase A, B or C faults."""

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("loss_of_voltage", 0),
        ("under_voltage", 1),
        ("over_voltage", 2),
        ("loss_of_current", 3),
        ("over_current", 4),
        ("overload", 5),
        ("reverse_power", 6),
        ("phase_break", 7),
        ("current_break", 8),
    )

    loss_of_voltage: bool = False
    under_voltage: bool = False
    over_voltage: bool = False
    loss_of_current: bool = False
    over_current: bool = False
    overload: bool = False
    reverse_power: bool = False
    phase_break: bool = False
    current_break: bool = False
    raw: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunStatus7(_StatusWord):
    """Hold run status word 7 (04000507): combined-phase faults and cover switches."""

    _FLAGS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("voltage_reverse_sequence", 0),
        ("current_reverse_sequence", 1),
        ("voltage_imbalance", 2),
        ("current_imbalance", 3),
        ("auxiliary_power_lost", 4),
        ("power_down", 5),
        ("demand_over_limit", 6),
        ("power_factor_below_limit", 7),
        ("current_severe_imbalance", 8),
        ("meter_cover_open", 9),
        ("terminal_cover_open", 10),
    )

    voltage_reverse_sequence: bool = False
    current_reverse_sequence: bool = False
    voltage_imbalance: bool = False
    current_imbalance: bool = False
    auxiliary_power_lost: bool = False
    power_down: bool = False
    demand_over_limit: bool = False
    power_factor_below_limit: bool = False
    current_severe_imbalance: bool = False
    meter_cover_open: bool = False
    terminal_cover_open: bool = False
    raw: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunStatusBlock:
    """Hold the run status word block (040005FF): words 1 to 7, 14 bytes."""

    word1: RunStatus1 = dataclasses.field(default_factory=RunStatus1)
    word2: RunStatus2 = dataclasses.field(default_factory=RunStatus2)
    word3: RunStatus3 = dataclasses.field(default_factory=RunStatus3)
    phase_a: PhaseFaultStatus = dataclasses.field(default_factory=PhaseFaultStatus)
    phase_b: PhaseFaultStatus = dataclasses.field(default_factory=PhaseFaultStatus)
    phase_c: PhaseFaultStatus = dataclasses.field(default_factory=PhaseFaultStatus)
    word7: RunStatus7 = dataclasses.field(default_factory=RunStatus7)


# ---------------------------------------------------------------- codecs

_Decoder = Callable[[bytes, DataItem], object]
_Encoder = Callable[[object, DataItem], bytes]


def _as(value: object, kind: type[_T], item: DataItem) -> _T:
    # bool is an int, but never what a number format means.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(f"{item.di:08X} ({item.name}) cannot encode {type(value).__name__}")
    return value


def _as_number(value: object, what: str) -> Decimal | int:
    # A float would carry binary noise into a decimal register, so it is refused outright.
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise DataError(f"{what} takes a Decimal or int, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise DataError(f"{what} cannot encode {value}")
    return value


def _decimal_codec(length: int, decimals: int, *, signed: bool) -> tuple[_Decoder, _Encoder]:
    def decode(payload: bytes, item: DataItem) -> object:
        return decode_decimal(payload, decimals=decimals, signed=signed)

    def encode(value: object, item: DataItem) -> bytes:
        number = _as_number(value, f"{item.di:08X} ({item.name})")
        return encode_decimal(number, length=length, decimals=decimals, signed=signed)

    return decode, encode


def _block_codec(*, signed: bool) -> tuple[_Decoder, _Encoder]:
    _, one_encode = _decimal_codec(4, 2, signed=signed)

    def decode(payload: bytes, item: DataItem) -> object:
        if not payload or len(payload) % 4:
            raise DataError(
                f"{item.di:08X} ({item.name}) needs 4 x (1 + tariffs) bytes, got {len(payload)}"
            )
        values = [
            decode_decimal(payload[i : i + 4], decimals=2, signed=signed)
            for i in range(0, len(payload), 4)
        ]
        return EnergyBlock(total=values[0], tariffs=tuple(values[1:]))

    def encode(value: object, item: DataItem) -> bytes:
        block = _as(value, EnergyBlock, item)
        return b"".join(one_encode(v, item) for v in (block.total, *block.tariffs))

    return decode, encode


def _decode_date(payload: bytes, item: DataItem) -> object:
    return decode_date_weekday(payload)


def _encode_date(value: object, item: DataItem) -> bytes:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise DataError(f"{item.di:08X} takes a datetime.date, not {type(value).__name__}")
    if not 2000 <= value.year <= 2099:
        raise DataError(f"year {value.year} cannot be sent as two digits")
    fields = {
        "YY": value.year - 2000,
        "MM": value.month,
        "DD": value.day,
        "WW": value.isoweekday() % 7,
    }
    return encode_clock_fields(fields, "YYMMDDWW")


def _decode_time(payload: bytes, item: DataItem) -> object:
    return decode_time_of_day(payload)


def _encode_time(value: object, item: DataItem) -> bytes:
    value = _as(value, dt.time, item)
    if value.tzinfo is not None or value.microsecond:
        raise DataError("meter times are naive and whole seconds")
    return encode_clock_fields({"hh": value.hour, "mm": value.minute, "ss": value.second}, "hhmmss")


def _decode_digits(payload: bytes, item: DataItem) -> object:
    return f"{bcd_to_int(payload):0{2 * len(payload)}d}"


def _encode_digits(value: object, item: DataItem) -> bytes:
    digits = 2 * item.length
    if (
        not isinstance(value, str)
        or len(value) != digits
        or not value.isascii()
        or not value.isdigit()
    ):
        raise DataError(
            f"{item.di:08X} ({item.name}) takes a string of {digits} digits, not {value!r}"
        )
    return int_to_bcd(int(value), item.length)


# ASCII items travel like every other item, low byte first, so the text is reversed on the wire;
# padding is NUL. Both unconfirmed against a real meter: check 04000403 on a DDZY102.
_ASCII_PAD = b"\x00"


def _decode_ascii(payload: bytes, item: DataItem) -> object:
    text = payload[::-1].rstrip(_ASCII_PAD)
    try:
        return text.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataError(f"{item.di:08X} ({item.name}) is not ASCII: {payload.hex(' ')}") from exc


def _encode_ascii(value: object, item: DataItem) -> bytes:
    value = _as(value, str, item)
    if not value.isascii() or _ASCII_PAD.decode() in value or len(value) > item.length:
        raise DataError(f"{item.di:08X} ({item.name}) takes up to {item.length} ASCII characters")
    return value.encode("ascii").ljust(item.length, _ASCII_PAD)[::-1]


def _decode_count(payload: bytes, item: DataItem) -> object:
    return bcd_to_int(payload)


def _encode_count(value: object, item: DataItem) -> bytes:
    value = _as(value, int, item)
    return int_to_bcd(value, item.length)


def _status_codec(cls: type[_StatusWord]) -> tuple[_Decoder, _Encoder]:
    def decode(payload: bytes, item: DataItem) -> object:
        return cls.from_word(int.from_bytes(payload, "little"))

    def encode(value: object, item: DataItem) -> bytes:
        value = _as(value, cls, item)
        return value.raw.to_bytes(2, "little")

    return decode, encode


_BLOCK_WORDS: tuple[tuple[str, type[_StatusWord]], ...] = (
    ("word1", RunStatus1),
    ("word2", RunStatus2),
    ("word3", RunStatus3),
    ("phase_a", PhaseFaultStatus),
    ("phase_b", PhaseFaultStatus),
    ("phase_c", PhaseFaultStatus),
    ("word7", RunStatus7),
)


def _decode_status_block(payload: bytes, item: DataItem) -> object:
    words = [int.from_bytes(payload[i : i + 2], "little") for i in range(0, 14, 2)]
    return RunStatusBlock(
        word1=RunStatus1.from_word(words[0]),
        word2=RunStatus2.from_word(words[1]),
        word3=RunStatus3.from_word(words[2]),
        phase_a=PhaseFaultStatus.from_word(words[3]),
        phase_b=PhaseFaultStatus.from_word(words[4]),
        phase_c=PhaseFaultStatus.from_word(words[5]),
        word7=RunStatus7.from_word(words[6]),
    )


def _encode_status_block(value: object, item: DataItem) -> bytes:
    value = _as(value, RunStatusBlock, item)
    out = bytearray()
    for name, cls in _BLOCK_WORDS:
        word = getattr(value, name)
        if type(word) is not cls:
            raise DataError(f"{name} of a run status block must be {cls.__name__}")
        out += word.raw.to_bytes(2, "little")
    return bytes(out)


# ---------------------------------------------------------------- event record helpers

_NO_TIME = bytes(6)


def _time_from(raw: bytes) -> dt.datetime | None:
    return None if raw == _NO_TIME else decode_datetime(raw)


def _time_to(value: object) -> bytes:
    if value is None:
        return _NO_TIME
    if not isinstance(value, dt.datetime):
        raise DataError(f"event times are datetimes or None, not {type(value).__name__}")
    if value.microsecond:
        raise DataError("meter times are whole seconds")
    return encode_datetime(value)


def _kwh_from(raw: bytes) -> Decimal:
    return decode_decimal(raw, decimals=2)


def _kwh_to(value: object) -> bytes:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise DataError(f"energies are Decimal kWh, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise DataError(f"cannot encode energy {value}")
    return encode_decimal(value, length=4, decimals=2)


def _operator_from(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _operator_to(value: object) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise DataError(f"an operator code is an int of 4 bytes, not {value!r}")
    return value.to_bytes(4, "little")


_SNAPSHOT_FIELDS = (
    "forward_active",
    "reverse_active",
    "reactive_q1",
    "reactive_q2",
    "reactive_q3",
    "reactive_q4",
)


def _snapshot_from(raw: bytes) -> EnergySnapshot:
    values = {name: _kwh_from(raw[4 * i : 4 * i + 4]) for i, name in enumerate(_SNAPSHOT_FIELDS)}
    return EnergySnapshot(**values)


def _snapshot_to(value: object) -> bytes:
    if not isinstance(value, EnergySnapshot):
        raise DataError(f"expected an EnergySnapshot, not {type(value).__name__}")
    return b"".join(_kwh_to(getattr(value, name)) for name in _SNAPSHOT_FIELDS)


def _decode_cover(payload: bytes, item: DataItem) -> object:
    return CoverOpenRecord(
        started_at=_time_from(payload[0:6]),
        ended_at=_time_from(payload[6:12]),
        before=_snapshot_from(payload[12:36]),
        after=_snapshot_from(payload[36:60]),
    )


def _encode_cover(value: object, item: DataItem) -> bytes:
    value = _as(value, CoverOpenRecord, item)
    return (
        _time_to(value.started_at)
        + _time_to(value.ended_at)
        + _snapshot_to(value.before)
        + _snapshot_to(value.after)
    )


def _decode_power_down(payload: bytes, item: DataItem) -> object:
    return PowerDownRecord(started_at=_time_from(payload[0:6]), ended_at=_time_from(payload[6:12]))


def _encode_power_down(value: object, item: DataItem) -> bytes:
    value = _as(value, PowerDownRecord, item)
    return _time_to(value.started_at) + _time_to(value.ended_at)


_PROGRAMMED_DIS = 10


def _decode_programming(payload: bytes, item: DataItem) -> object:
    return ProgrammingRecord(
        occurred_at=_time_from(payload[0:6]),
        operator_code=_operator_from(payload[6:10]),
        data_ids=tuple(
            int.from_bytes(payload[10 + 4 * i : 14 + 4 * i], "little")
            for i in range(_PROGRAMMED_DIS)
        ),
    )


def _encode_programming(value: object, item: DataItem) -> bytes:
    value = _as(value, ProgrammingRecord, item)
    if len(value.data_ids) != _PROGRAMMED_DIS:
        raise DataError(
            f"a programming record holds {_PROGRAMMED_DIS} DIs, not {len(value.data_ids)}"
        )
    if any(
        isinstance(di, bool) or not isinstance(di, int) or not 0 <= di <= _MAX_DI
        for di in value.data_ids
    ):
        raise DataError("programmed DIs must be ints of 4 bytes")
    return (
        _time_to(value.occurred_at)
        + _operator_to(value.operator_code)
        + b"".join(di.to_bytes(4, "little") for di in value.data_ids)
    )


def _decode_clock_change(payload: bytes, item: DataItem) -> object:
    return ClockChangeRecord(
        operator_code=_operator_from(payload[0:4]),
        before=_time_from(payload[4:10]),
        after=_time_from(payload[10:16]),
    )


def _encode_clock_change(value: object, item: DataItem) -> bytes:
    value = _as(value, ClockChangeRecord, item)
    return _operator_to(value.operator_code) + _time_to(value.before) + _time_to(value.after)


def _decode_relay(payload: bytes, item: DataItem) -> object:
    return RelayEventRecord(
        occurred_at=_time_from(payload[0:6]),
        operator_code=_operator_from(payload[6:10]),
        energy=_snapshot_from(payload[10:34]),
    )


def _encode_relay(value: object, item: DataItem) -> bytes:
    value = _as(value, RelayEventRecord, item)
    return (
        _time_to(value.occurred_at) + _operator_to(value.operator_code) + _snapshot_to(value.energy)
    )


_OVER_CURRENT_HEAD = 14


def _decode_over_current(payload: bytes, item: DataItem) -> object:
    if len(payload) < _OVER_CURRENT_HEAD:
        raise DataError(
            f"{item.di:08X} ({item.name}) needs at least {_OVER_CURRENT_HEAD} bytes, "
            f"got {len(payload)}"
        )
    return OverCurrentRecord(
        started_at=_time_from(payload[0:6]),
        forward_active_at_start=_kwh_from(payload[6:10]),
        reverse_active_at_start=_kwh_from(payload[10:14]),
        rest=payload[14:],
    )


def _encode_over_current(value: object, item: DataItem) -> bytes:
    value = _as(value, OverCurrentRecord, item)
    if not isinstance(value.rest, bytes):
        raise DataError("the undecoded rest of an over-current record is bytes")
    return (
        _time_to(value.started_at)
        + _kwh_to(value.forward_active_at_start)
        + _kwh_to(value.reverse_active_at_start)
        + value.rest
    )


_CODECS: Mapping[Fmt, tuple[_Decoder, _Encoder]] = {
    Fmt.ENERGY: _decimal_codec(4, 2, signed=False),
    Fmt.SIGNED_ENERGY: _decimal_codec(4, 2, signed=True),
    Fmt.ENERGY_BLOCK: _block_codec(signed=False),
    Fmt.SIGNED_ENERGY_BLOCK: _block_codec(signed=True),
    Fmt.VOLTAGE: _decimal_codec(2, 1, signed=False),
    Fmt.CURRENT: _decimal_codec(3, 3, signed=True),
    Fmt.POWER: _decimal_codec(3, 4, signed=True),
    Fmt.POWER_FACTOR: _decimal_codec(2, 3, signed=True),
    Fmt.FREQUENCY: _decimal_codec(2, 2, signed=False),
    Fmt.DATE_WEEKDAY: (_decode_date, _encode_date),
    Fmt.TIME: (_decode_time, _encode_time),
    Fmt.DIGITS: (_decode_digits, _encode_digits),
    Fmt.ASCII: (_decode_ascii, _encode_ascii),
    Fmt.COUNT: (_decode_count, _encode_count),
    Fmt.NUMBER: (_decode_count, _encode_count),
    Fmt.RUN_STATUS_1: _status_codec(RunStatus1),
    Fmt.RUN_STATUS_2: _status_codec(RunStatus2),
    Fmt.RUN_STATUS_3: _status_codec(RunStatus3),
    Fmt.PHASE_FAULT_STATUS: _status_codec(PhaseFaultStatus),
    Fmt.RUN_STATUS_7: _status_codec(RunStatus7),
    Fmt.RUN_STATUS_BLOCK: (_decode_status_block, _encode_status_block),
    Fmt.COVER_RECORD: (_decode_cover, _encode_cover),
    Fmt.POWER_DOWN_RECORD: (_decode_power_down, _encode_power_down),
    Fmt.PROGRAMMING_RECORD: (_decode_programming, _encode_programming),
    Fmt.CLOCK_CHANGE_RECORD: (_decode_clock_change, _encode_clock_change),
    Fmt.RELAY_RECORD: (_decode_relay, _encode_relay),
    Fmt.OVER_CURRENT_RECORD: (_decode_over_current, _encode_over_current),
}


# ---------------------------------------------------------------- the table

# Tariff registers generated per quantity. The standard allows tariffs 1..63 (DI1 01..3F); the
# DDZY102 uses four (sharp, peak, flat, valley), so only those are listed.
TARIFF_COUNT = 4
# DI0 00 = current, 01..0C = 1st..12th previous settlement day.
SETTLEMENTS = 12

_ORDINALS = {1: "1st", 2: "2nd", 3: "3rd"}


def _settlement_words(index: int) -> tuple[str, str]:
    if index == 0:
        return "", "current"
    return f"_settlement_{index}", f"{_ORDINALS.get(index, f'{index}th')} previous settlement"


def _energy_items() -> list[DataItem]:
    # Combined active (DI2=00) is forward +/- reverse per the meter's mode word and may be
    # negative, so the standard gives it a sign bit; forward and reverse are plain magnitudes.
    quantities = (
        (0x00, "combined_active", "Combined active energy", True),
        (0x01, "forward_active", "Forward active energy", False),
        (0x02, "reverse_active", "Reverse active energy", False),
    )
    items = []
    for di2, name, label, signed in quantities:
        for index in range(SETTLEMENTS + 1):
            suffix, when = _settlement_words(index)
            base = di2 << 16 | index
            items.append(
                DataItem(
                    di=base,
                    name=f"{name}_total{suffix}",
                    label=f"{label}, total, {when}",
                    fmt=Fmt.SIGNED_ENERGY if signed else Fmt.ENERGY,
                    unit="kWh",
                    length=4,
                )
            )
            items.extend(
                DataItem(
                    di=base | tariff << 8,
                    name=f"{name}_tariff_{tariff}{suffix}",
                    label=f"{label}, tariff {tariff}, {when}",
                    fmt=Fmt.SIGNED_ENERGY if signed else Fmt.ENERGY,
                    unit="kWh",
                    length=4,
                )
                for tariff in range(1, TARIFF_COUNT + 1)
            )
            items.append(
                DataItem(
                    di=base | 0xFF << 8,
                    name=f"{name}_block{suffix}",
                    label=f"{label}, total and tariffs, {when}",
                    fmt=Fmt.SIGNED_ENERGY_BLOCK if signed else Fmt.ENERGY_BLOCK,
                    unit="kWh",
                    length=4 * (1 + TARIFF_COUNT),
                    variable=True,
                )
            )
    return items


_RECORDS = 10  # the meter keeps the last ten records of each event


def _event_items(
    *,
    count_di: int,
    first_record_di: int,
    name: str,
    label: str,
    fmt: Fmt,
    length: int,
    variable: bool = False,
) -> list[DataItem]:
    items = [
        DataItem(
            di=count_di,
            name=f"{name}_count",
            label=f"{label}, count",
            fmt=Fmt.COUNT,
            unit="",
            length=3,
        )
    ]
    for n in range(1, _RECORDS + 1):
        ordinal = _ORDINALS.get(n, f"{n}th")
        items.append(
            DataItem(
                di=first_record_di - 1 + n,
                name=f"{name}_record_{n}",
                label=f"{label}, {ordinal} most recent record",
                fmt=fmt,
                unit="",
                length=length,
                variable=variable,
            )
        )
    return items


def _fixed_items() -> list[DataItem]:
    def item(di: int, name: str, label: str, fmt: Fmt, unit: str, length: int) -> DataItem:
        return DataItem(di=di, name=name, label=label, fmt=fmt, unit=unit, length=length)

    items = [
        item(0x02010100, "voltage_a", "Phase A voltage", Fmt.VOLTAGE, "V", 2),
        item(0x02020100, "current_a", "Phase A current", Fmt.CURRENT, "A", 3),
        item(
            0x02030000, "active_power_total", "Instantaneous total active power", Fmt.POWER, "kW", 3
        ),
        item(0x02030100, "active_power_a", "Phase A active power", Fmt.POWER, "kW", 3),
        item(0x02060000, "power_factor_total", "Total power factor", Fmt.POWER_FACTOR, "", 2),
        item(0x02800002, "frequency", "Grid frequency", Fmt.FREQUENCY, "Hz", 2),
        item(0x04000101, "date", "Date and weekday", Fmt.DATE_WEEKDAY, "", 4),
        item(0x04000102, "time", "Time of day", Fmt.TIME, "", 3),
        item(0x04000204, "tariff_count", "Number of tariffs", Fmt.NUMBER, "", 1),
        item(0x04000401, "communication_address", "Communication address", Fmt.DIGITS, "", 6),
        item(0x04000402, "meter_number", "Meter number", Fmt.DIGITS, "", 6),
        item(0x04000403, "asset_code", "Asset management code", Fmt.ASCII, "", 32),
        # 0400040E is a State Grid extension (unconfirmed for the DDZY102).
        item(0x0400040E, "account_number", "Customer (account) number", Fmt.DIGITS, "", 6),
        item(0x04000501, "run_status_1", "Run status word 1", Fmt.RUN_STATUS_1, "", 2),
        item(0x04000502, "run_status_2", "Run status word 2", Fmt.RUN_STATUS_2, "", 2),
        item(0x04000503, "run_status_3", "Run status word 3", Fmt.RUN_STATUS_3, "", 2),
        item(
            0x04000504,
            "run_status_4",
            "Run status word 4 (phase A faults)",
            Fmt.PHASE_FAULT_STATUS,
            "",
            2,
        ),
        item(
            0x04000505,
            "run_status_5",
            "Run status word 5 (phase B faults)",
            Fmt.PHASE_FAULT_STATUS,
            "",
            2,
        ),
        item(
            0x04000506,
            "run_status_6",
            "Run status word 6 (phase C faults)",
            Fmt.PHASE_FAULT_STATUS,
            "",
            2,
        ),
        item(0x04000507, "run_status_7", "Run status word 7", Fmt.RUN_STATUS_7, "", 2),
        item(0x040005FF, "run_status_block", "Run status words 1-7", Fmt.RUN_STATUS_BLOCK, "", 14),
    ]
    items += _event_items(
        count_di=0x03300D00,
        first_record_di=0x03300D01,
        name="meter_cover_open",
        label="Meter cover opened",
        fmt=Fmt.COVER_RECORD,
        length=60,
    )
    items += _event_items(
        count_di=0x03300E00,
        first_record_di=0x03300E01,
        name="terminal_cover_open",
        label="Terminal cover opened",
        fmt=Fmt.COVER_RECORD,
        length=60,
    )
    items += _event_items(
        count_di=0x03110000,
        first_record_di=0x03110001,
        name="power_down",
        label="Power down",
        fmt=Fmt.POWER_DOWN_RECORD,
        length=12,
    )
    items += _event_items(
        count_di=0x03300000,
        first_record_di=0x03300001,
        name="programming",
        label="Programming",
        fmt=Fmt.PROGRAMMING_RECORD,
        length=50,
    )
    items += _event_items(
        count_di=0x03300400,
        first_record_di=0x03300401,
        name="clock_change",
        label="Clock change",
        fmt=Fmt.CLOCK_CHANGE_RECORD,
        length=16,
    )
    items += _event_items(
        count_di=0x1D000001,
        first_record_di=0x1D00FF01,
        name="relay_trip",
        label="Relay trip",
        fmt=Fmt.RELAY_RECORD,
        length=34,
    )
    items += _event_items(
        count_di=0x1E000001,
        first_record_di=0x1E00FF01,
        name="relay_close",
        label="Relay close",
        fmt=Fmt.RELAY_RECORD,
        length=34,
    )
    items += _event_items(
        count_di=0x19010001,
        first_record_di=0x1901FF01,
        name="over_current_a",
        label="Phase A over-current",
        fmt=Fmt.OVER_CURRENT_RECORD,
        length=_OVER_CURRENT_HEAD,
        variable=True,
    )
    return items


def _build_table() -> Mapping[int, DataItem]:
    table: dict[int, DataItem] = {}
    for item in _energy_items() + _fixed_items():
        if item.di in table:  # a typo in the table must fail at import, not shadow an item
            raise DataError(f"data identifier {item.di:08X} listed twice")
        table[item.di] = item
    return MappingProxyType(table)


ITEMS: Mapping[int, DataItem] = _build_table()
"""Every known data identifier, by its 32-bit value (DI3 DI2 DI1 DI0 read as one number)."""


def lookup(di: int) -> DataItem:
    """Return the table entry for a data identifier.

    :raises UnknownDataIdentifier: if the identifier is not in :data:`ITEMS`.
    """
    try:
        return ITEMS[di]
    except KeyError:
        raise UnknownDataIdentifier(di) from None


def _check_length(item: DataItem, size: int) -> None:
    if not item.variable and size != item.length:
        raise DataError(
            f"{item.di:08X} ({item.name}) has {item.length} byte(s) of data, got {size}"
        )


def decode_value(di: int, payload: bytes) -> object:
    """Return the value of a data item from the bytes that follow its DI (33H removed).

    :raises UnknownDataIdentifier: if the identifier is not in :data:`ITEMS`.
    :raises DataError: if the length is wrong or the bytes are not valid in the item's format.
    """
    item = lookup(di)
    payload = bytes(payload)
    _check_length(item, len(payload))
    decode, _ = _CODECS[item.fmt]
    return decode(payload, item)


def encode_value(di: int, value: object) -> bytes:
    """Return the bytes that carry ``value`` after the DI (before 33H is added).

    :raises UnknownDataIdentifier: if the identifier is not in :data:`ITEMS`.
    :raises DataError: if the value has the wrong type, does not fit, or would lose precision.
    """
    item = lookup(di)
    _, encode = _CODECS[item.fmt]
    raw = encode(value, item)
    _check_length(item, len(raw))
    return raw
