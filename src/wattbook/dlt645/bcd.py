"""BCD and the DL/T 645-2007 data formats, both ways, exactly.

Every multi-byte item travels low byte first. Numbers decode to ``int`` or ``Decimal``, never to
``float``. Signed formats carry the sign in bit 7 of the most significant byte (the last byte on
the wire) and the magnitude in BCD in the remaining bits. Clock values are *meter-local* naive
datetimes: the meter has no notion of a time zone, and the caller attaches one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from wattbook.dlt645.errors import DataError

_SIGN_BIT = 0x80
WILDCARD_NIBBLE = 0xA


def bcd_to_int(data: bytes) -> int:
    """Return the unsigned integer held in little-endian packed BCD.

    :raises DataError: if a nibble is not a decimal digit.
    """
    # Hex digits of packed BCD are the decimal digits; any a-f nibble is not BCD.
    text = data[::-1].hex()
    if not text.isdigit():
        if not data:
            return 0
        raise DataError(f"not BCD: {data.hex(' ').upper()}")
    return int(text)


def int_to_bcd(value: int, length: int) -> bytes:
    """Return ``value`` as ``length`` bytes of little-endian packed BCD.

    :raises DataError: if the value is negative or needs more than ``length`` bytes.
    """
    if value < 0 or value >= 100**length:
        raise DataError(f"{value} does not fit {length} BCD byte(s)")
    out = bytearray()
    for _ in range(length):
        value, pair = divmod(value, 100)
        out.append((pair // 10) << 4 | pair % 10)
    return bytes(out)


def signed_bcd_to_int(data: bytes) -> int:
    """Return the signed integer of a sign-and-magnitude BCD field (sign in bit 7 of MSB).

    :raises DataError: if the magnitude is not BCD.
    """
    if not data:
        raise DataError("empty signed field")
    negative = bool(data[-1] & _SIGN_BIT)
    magnitude = bcd_to_int(data[:-1] + bytes((data[-1] & 0x7F,)))
    return -magnitude if negative else magnitude


def int_to_signed_bcd(value: int, length: int) -> bytes:
    """Return ``value`` as sign-and-magnitude BCD (sign in bit 7 of the last byte).

    :raises DataError: if the magnitude needs the sign bit or more than ``length`` bytes.
    """
    magnitude = abs(value)
    if magnitude >= 8 * 10 ** (2 * length - 1):
        raise DataError(f"{value} does not fit {length} signed BCD byte(s)")
    raw = bytearray(int_to_bcd(magnitude, length))
    if value < 0:
        raw[-1] |= _SIGN_BIT
    return bytes(raw)


def decode_decimal(data: bytes, *, decimals: int, signed: bool = False) -> Decimal:
    """Return a fixed-point BCD field as an exact Decimal with ``decimals`` places.

    :raises DataError: if the field is not BCD.
    """
    if signed:
        return Decimal(signed_bcd_to_int(data)).scaleb(-decimals)
    text = data[::-1].hex()
    if not text.isdigit():
        raise DataError(f"not BCD: {data.hex(' ').upper()}")
    return Decimal(text).scaleb(-decimals)


def encode_decimal(
    value: Decimal | int, *, length: int, decimals: int, signed: bool = False
) -> bytes:
    """Return ``value`` as a fixed-point BCD field, refusing to drop precision.

    :raises DataError: if the value has more places than ``decimals`` or does not fit.
    """
    scaled = Decimal(value).scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise DataError(f"{value} has more than {decimals} decimal place(s)")
    raw = int(scaled)
    if signed:
        return int_to_signed_bcd(raw, length)
    if raw < 0:
        raise DataError(f"{value} is negative in an unsigned field")
    return int_to_bcd(raw, length)


# ---------------------------------------------------------------- addresses


def address_to_wire(address: str) -> bytes:
    """Return the 6 wire bytes (low byte first) of a 12-character label address.

    Digits are BCD; ``A`` marks a wildcard nibble (``AAAAAAAAAAAA`` reaches any meter).

    :raises DataError: if the address is not 12 characters of 0-9 or A.
    """
    if len(address) != 12:
        raise DataError(f"address must have 12 characters, not {address!r}")
    nibbles = []
    for char in address.upper():
        if "0" <= char <= "9":
            nibbles.append(ord(char) - 48)
        elif char == "A":
            nibbles.append(WILDCARD_NIBBLE)
        else:
            raise DataError(f"address may hold digits and A only, not {address!r}")
    pairs = [nibbles[i] << 4 | nibbles[i + 1] for i in range(0, 12, 2)]
    return bytes(reversed(pairs))


_NIBBLE_CHARS = "0123456789A"


def address_from_wire(raw: bytes) -> str:
    """Return the 12-character label address of 6 wire bytes (low byte first).

    :raises DataError: if a nibble is neither a digit nor the wildcard A.
    """
    if len(raw) != 6:
        raise DataError(f"address must be 6 bytes, not {len(raw)}")
    chars = []
    for byte in reversed(raw):
        high, low = byte >> 4, byte & 0x0F
        if high > WILDCARD_NIBBLE or low > WILDCARD_NIBBLE:
            raise DataError(f"address byte {byte:02X}H is neither BCD nor wildcard")
        chars.append(_NIBBLE_CHARS[high])
        chars.append(_NIBBLE_CHARS[low])
    return "".join(chars)


# ---------------------------------------------------------------- clock formats
# The standard writes formats most-significant first (YYMMDDhhmmss); on the wire the last field
# (ss) comes first. Years are two digits and mean 20YY.

_FIELDS = {"YY", "MM", "DD", "WW", "hh", "mm", "ss"}


def _split_format(fmt: str) -> list[str]:
    fields = [fmt[i : i + 2] for i in range(0, len(fmt), 2)]
    if len(fmt) % 2 or any(f not in _FIELDS for f in fields):
        raise DataError(f"unknown clock format {fmt!r}")
    return fields


def decode_clock_fields(data: bytes, fmt: str) -> dict[str, int]:
    """Return the named fields (YY, MM, DD, WW, hh, mm, ss) of a BCD clock value.

    :raises DataError: if the length does not match the format or a byte is not BCD.
    """
    fields = _split_format(fmt)
    if len(data) != len(fields):
        raise DataError(f"format {fmt} needs {len(fields)} byte(s), got {len(data)}")
    return {
        name: bcd_to_int(bytes((byte,))) for name, byte in zip(reversed(fields), data, strict=True)
    }


def encode_clock_fields(values: dict[str, int], fmt: str) -> bytes:
    """Return the BCD wire bytes of named clock fields in ``fmt`` (last field first).

    :raises DataError: if a field is missing or out of range.
    """
    fields = _split_format(fmt)
    try:
        return b"".join(int_to_bcd(values[name], 1) for name in reversed(fields))
    except KeyError as exc:
        raise DataError(f"clock field {exc.args[0]} missing for {fmt}") from exc


def decode_datetime(data: bytes, fmt: str = "YYMMDDhhmmss") -> dt.datetime:
    """Return a meter-local naive datetime from a BCD clock value (YYMMDDhhmm[ss]).

    :raises DataError: if the bytes are not BCD or not a real date and time.
    """
    f = decode_clock_fields(data, fmt)
    try:
        return dt.datetime(  # noqa: DTZ001 - meter-local by definition; the adapter adds the zone
            2000 + f["YY"], f["MM"], f["DD"], f.get("hh", 0), f.get("mm", 0), f.get("ss", 0)
        )
    except (KeyError, ValueError) as exc:
        raise DataError(f"not a date and time in {fmt}: {data.hex(' ').upper()}") from exc


def encode_datetime(value: dt.datetime, fmt: str = "YYMMDDhhmmss") -> bytes:
    """Return the BCD wire bytes of a meter-local datetime in ``fmt``.

    :raises DataError: if the value is aware (meters keep local wall time) or out of range.
    """
    if value.tzinfo is not None:
        raise DataError("meter clock values are naive meter-local times; convert first")
    if not 2000 <= value.year <= 2099:
        raise DataError(f"year {value.year} cannot be sent as two digits")
    fields = {
        "YY": value.year - 2000,
        "MM": value.month,
        "DD": value.day,
        "WW": (value.isoweekday() % 7),
        "hh": value.hour,
        "mm": value.minute,
        "ss": value.second,
    }
    return encode_clock_fields(fields, fmt)


def decode_date_weekday(data: bytes) -> dt.date:
    """Return the date of a YYMMDDWW value (WW, 0 = Sunday, is checked against the date).

    :raises DataError: if the bytes are not a real date or the weekday disagrees.
    """
    f = decode_clock_fields(data, "YYMMDDWW")
    try:
        day = dt.date(2000 + f["YY"], f["MM"], f["DD"])
    except ValueError as exc:
        raise DataError(f"not a date: {data.hex(' ').upper()}") from exc
    if f["WW"] != day.isoweekday() % 7:
        raise DataError(f"weekday {f['WW']} does not match {day.isoformat()}")
    return day


def decode_time_of_day(data: bytes) -> dt.time:
    """Return the time of an hhmmss value.

    :raises DataError: if the bytes are not a real time of day.
    """
    f = decode_clock_fields(data, "hhmmss")
    try:
        return dt.time(f["hh"], f["mm"], f["ss"])
    except ValueError as exc:
        raise DataError(f"not a time of day: {data.hex(' ').upper()}") from exc
