"""SMS-SUBMIT PDUs (3GPP TS 23.040) with the GSM 7-bit alphabet or UCS-2 (TS 23.038).

A text that fits the GSM 7-bit default alphabet (with its extension table) goes out 7-bit,
160 septets a message or 153 a part; anything else (Chinese) goes out UCS-2, 70 characters a
message or 67 a part. Long texts are split into parts carrying a concatenation header
(IEI 00: 8-bit reference, total, sequence). The decoder exists for the modem simulator and the
tests, so that what a handset would show can be checked from the bytes on the wire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum


class PduError(ValueError):
    """A PDU or a value going into one is malformed."""


# 3GPP TS 23.038 6.2.1: the default alphabet, indexed by septet. 0x1B escapes to the extension.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_ESCAPE = 0x1B
_TO_BASIC = {char: code for code, char in enumerate(_BASIC) if code != _ESCAPE}
_TO_EXTENSION = {char: code for code, char in _EXTENSION.items()}

# Octets of user data in one message; septets are 160 in the same 140 octets.
_MAX_OCTETS = 140
_MAX_SEPTETS = 160
# The concatenation header: UDHL 05, IEI 00, IEDL 03, reference, total, sequence.
_CONCAT_HEADER_OCTETS = 6
_CONCAT_SEPTETS = 153  # 160 less the 6 header octets and 1 fill bit, as whole septets
_CONCAT_UCS2_UNITS = 67  # (140 - 6) / 2
_MAX_PARTS = 255


class Coding(IntEnum):
    """The data coding scheme (TP-DCS) of a message: general data coding, class none."""

    GSM7 = 0x00
    UCS2 = 0x08


def gsm7_septets(text: str) -> list[int] | None:
    """Return ``text`` as GSM 7-bit septets, or None if a character is not in the alphabet."""
    septets: list[int] = []
    for char in text:
        code = _TO_BASIC.get(char)
        if code is not None:
            septets.append(code)
            continue
        extension = _TO_EXTENSION.get(char)
        if extension is None:
            return None
        septets.extend((_ESCAPE, extension))
    return septets


def gsm7_text(septets: list[int]) -> str:
    """Return the text of GSM 7-bit septets.

    :raises PduError: if an escape is left dangling or names no extension character.
    """
    chars: list[str] = []
    escaped = False
    for septet in septets:
        if escaped:
            if septet not in _EXTENSION:
                raise PduError(f"unknown GSM 7-bit extension character 0x{septet:02X}")
            chars.append(_EXTENSION[septet])
            escaped = False
        elif septet == _ESCAPE:
            escaped = True
        else:
            chars.append(_BASIC[septet])
    if escaped:
        raise PduError("GSM 7-bit text ends in an escape")
    return "".join(chars)


def pack_septets(septets: list[int], *, fill_bits: int = 0) -> bytes:
    """Pack septets little-endian into octets after ``fill_bits`` zero bits (TS 23.038 6.1.2.1)."""
    accumulator = 0
    bits = fill_bits
    out = bytearray()
    for septet in septets:
        accumulator |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            bits -= 8
    if bits:
        out.append(accumulator & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, *, count: int, fill_bits: int = 0) -> list[int]:
    """Return ``count`` septets packed in ``data`` after ``fill_bits`` bits.

    :raises PduError: if ``data`` is too short for ``count`` septets.
    """
    if fill_bits + 7 * count > 8 * len(data):
        raise PduError(f"{len(data)} octets cannot hold {count} septets")
    value = int.from_bytes(data, "little")
    return [(value >> (fill_bits + 7 * index)) & 0x7F for index in range(count)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Concatenation:
    """One part's concatenation header (IEI 00)."""

    reference: int
    total: int
    sequence: int


def _ucs2_units(text: str) -> list[bytes]:
    encoded = text.encode("utf-16-be")
    return [encoded[index : index + 2] for index in range(0, len(encoded), 2)]


def split_text(text: str) -> tuple[Coding, tuple[str, ...]]:
    """Return the coding ``text`` needs and the text of each part it is sent in.

    A part never splits a GSM escape pair or a UTF-16 surrogate pair.

    :raises PduError: if the text is empty or needs more than 255 parts.
    """
    if not text:
        raise PduError("an SMS needs some text")
    septets = gsm7_septets(text)
    if septets is not None:
        if len(septets) <= _MAX_SEPTETS:
            return Coding.GSM7, (text,)
        parts = _split_by_cost(
            text, budget=_CONCAT_SEPTETS, cost=lambda c: len(gsm7_septets(c) or [])
        )
        return Coding.GSM7, _checked(parts)
    units = _ucs2_units(text)
    if len(units) * 2 <= _MAX_OCTETS:
        return Coding.UCS2, (text,)
    parts = _split_by_cost(text, budget=_CONCAT_UCS2_UNITS, cost=lambda c: len(_ucs2_units(c)))
    return Coding.UCS2, _checked(parts)


def _split_by_cost(text: str, *, budget: int, cost: Callable[[str], int]) -> tuple[str, ...]:
    # A Python str holds code points, so neither an escape pair nor a surrogate pair can be
    # cut: each character is placed whole, whatever it costs.
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        size: int = cost(char)
        if used + size > budget:
            parts.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += size
    parts.append("".join(current))
    return tuple(parts)


def _checked(parts: tuple[str, ...]) -> tuple[str, ...]:
    if len(parts) > _MAX_PARTS:
        raise PduError(f"the text needs {len(parts)} parts; at most {_MAX_PARTS} can be joined")
    return parts


def _address_field(number: str) -> bytes:
    """Return TP-DA: digit count, type of address, swapped semi-octets (F-padded)."""
    international = number.startswith("+")
    digits = number[1:] if international else number
    if not digits or not digits.isdigit() or len(digits) > 20:
        raise PduError(f"not a phone number: {number!r}")
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))
    type_of_address = 0x91 if international else 0x81
    return bytes((len(digits), type_of_address)) + swapped


def _address_from(data: bytes, offset: int) -> tuple[str, int]:
    digit_count = data[offset]
    type_of_address = data[offset + 1]
    octets = (digit_count + 1) // 2
    raw = data[offset + 2 : offset + 2 + octets]
    if len(raw) != octets:
        raise PduError("truncated address")
    digits = "".join(f"{octet & 0x0F:X}{octet >> 4:X}" for octet in raw)[:digit_count].rstrip("F")
    if not digits.isdigit():
        raise PduError(f"address has non-digit semi-octets: {digits!r}")
    prefix = "+" if type_of_address & 0x70 == 0x10 else ""
    return prefix + digits, offset + 2 + octets


def validity_octet(period: timedelta) -> int:
    """Return the relative validity period (TP-VP) that covers ``period``, rounded down.

    :raises PduError: if the period is shorter than 5 minutes or longer than 63 weeks.
    """
    minutes = int(period.total_seconds()) // 60
    if minutes < 5 or period > timedelta(weeks=63):
        raise PduError(f"validity period out of range: {period}")
    if minutes <= 720:
        return minutes // 5 - 1
    if minutes <= 1440:
        return 143 + (minutes - 720) // 30
    days = minutes // 1440
    if days <= 30:
        return 166 + days
    return 192 + days // 7


def validity_period(octet: int) -> timedelta:
    """Return the period a relative TP-VP octet stands for."""
    if octet <= 143:
        return timedelta(minutes=(octet + 1) * 5)
    if octet <= 167:
        return timedelta(hours=12, minutes=(octet - 143) * 30)
    if octet <= 196:
        return timedelta(days=octet - 166)
    return timedelta(weeks=octet - 192)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitPdu:
    """One encoded SMS-SUBMIT: the hex the modem takes and the TPDU length AT+CMGS needs."""

    hex: str
    tpdu_length: int


def encode_submit(
    *,
    number: str,
    text: str,
    coding: Coding,
    concatenation: Concatenation | None = None,
    validity: timedelta = timedelta(days=1),
) -> SubmitPdu:
    """Return the SMS-SUBMIT PDU sending ``text`` (one part) to ``number``.

    The service centre address is left empty (the modem's stored SMSC is used) and TP-MR is 0
    (the modem numbers its messages itself). No status report is requested: the modem only
    sends (N1).

    :raises PduError: if the number is malformed, or the text does not fit one message in
        ``coding``.
    """
    if concatenation is not None and not (
        0 <= concatenation.reference <= 255
        and 1 <= concatenation.sequence <= concatenation.total <= _MAX_PARTS
    ):
        raise PduError(f"bad concatenation header {concatenation}")
    header = b""
    if concatenation is not None:
        header = bytes(
            (
                _CONCAT_HEADER_OCTETS - 1,
                0x00,
                0x03,
                concatenation.reference,
                concatenation.total,
                concatenation.sequence,
            )
        )
    if coding is Coding.GSM7:
        septets = gsm7_septets(text)
        if septets is None:
            raise PduError("the text has characters outside the GSM 7-bit alphabet")
        fill = (7 - (len(header) * 8) % 7) % 7
        header_septets = (len(header) * 8 + fill) // 7
        if header_septets + len(septets) > _MAX_SEPTETS:
            raise PduError(f"{len(septets)} septets do not fit one message")
        user_data = header + pack_septets(septets, fill_bits=fill)
        user_data_length = header_septets + len(septets)
    else:
        body = text.encode("utf-16-be")
        if len(header) + len(body) > _MAX_OCTETS:
            raise PduError(f"{len(body)} octets of UCS-2 do not fit one message")
        user_data = header + body
        user_data_length = len(user_data)
    # TP-MTI 01 (SUBMIT), TP-VPF 10 (relative), TP-UDHI when a header is present.
    first_octet = 0x01 | 0x10 | (0x40 if header else 0)
    tpdu = (
        bytes((first_octet, 0x00))
        + _address_field(number)
        + bytes((0x00, int(coding), validity_octet(validity), user_data_length))
        + user_data
    )
    return SubmitPdu(hex="00" + tpdu.hex().upper(), tpdu_length=len(tpdu))


def encode_message(
    *, number: str, text: str, reference: int, validity: timedelta = timedelta(days=1)
) -> tuple[SubmitPdu, ...]:
    """Return the PDUs of every part of ``text``; several parts share ``reference``.

    :raises PduError: if the number is malformed or the text is empty or far too long.
    """
    coding, parts = split_text(text)
    if len(parts) == 1:
        return (encode_submit(number=number, text=parts[0], coding=coding, validity=validity),)
    return tuple(
        encode_submit(
            number=number,
            text=part,
            coding=coding,
            concatenation=Concatenation(
                reference=reference % 256, total=len(parts), sequence=sequence
            ),
            validity=validity,
        )
        for sequence, part in enumerate(parts, start=1)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodedSubmit:
    """What an SMS-SUBMIT PDU carries."""

    service_centre: str
    message_reference: int
    number: str
    coding: Coding
    validity: timedelta | None
    concatenation: Concatenation | None
    text: str
    tpdu_length: int
    status_report_requested: bool


def decode_submit(pdu_hex: str) -> DecodedSubmit:
    """Return the contents of an SMS-SUBMIT PDU given as hex with its SMSC field.

    :raises PduError: if the PDU is not a well-formed SMS-SUBMIT this codec understands.
    """
    try:
        data = bytes.fromhex(pdu_hex.strip())
    except ValueError as error:
        raise PduError(f"not hex: {pdu_hex!r}") from error
    try:
        return _decode(data)
    except IndexError as error:
        raise PduError("truncated PDU") from error


def _decode(data: bytes) -> DecodedSubmit:
    sca_length = data[0]
    service_centre = ""
    if sca_length:
        # The SMSC length counts octets (type of address included), not digits.
        centre = bytes((2 * (sca_length - 1),)) + data[1 : 1 + sca_length]
        service_centre, _ = _address_from(centre, 0)
    offset = 1 + sca_length
    tpdu_start = offset
    first_octet = data[offset]
    if first_octet & 0x03 != 0x01:
        raise PduError(f"not an SMS-SUBMIT: first octet 0x{first_octet:02X}")
    validity_format = (first_octet >> 3) & 0x03
    has_header = bool(first_octet & 0x40)
    message_reference = data[offset + 1]
    number, offset = _address_from(data, offset + 2)
    protocol_id = data[offset]
    if protocol_id != 0:
        raise PduError(f"unsupported protocol identifier 0x{protocol_id:02X}")
    dcs = data[offset + 1]
    if dcs not in (Coding.GSM7, Coding.UCS2):
        raise PduError(f"unsupported data coding scheme 0x{dcs:02X}")
    coding = Coding(dcs)
    offset += 2
    validity: timedelta | None = None
    if validity_format == 0b10:
        validity = validity_period(data[offset])
        offset += 1
    elif validity_format != 0b00:
        raise PduError("only relative validity periods are supported")
    user_data_length = data[offset]
    user_data = data[offset + 1 :]
    header_octets = 0
    concatenation: Concatenation | None = None
    if has_header:
        header_octets = user_data[0] + 1
        concatenation = _concatenation(user_data[1:header_octets])
    if coding is Coding.GSM7:
        fill = (7 - (header_octets * 8) % 7) % 7
        header_septets = (header_octets * 8 + fill) // 7
        count = user_data_length - header_septets
        septets = unpack_septets(user_data[header_octets:], count=count, fill_bits=fill)
        expected = (user_data_length * 7 + 7) // 8
        text = gsm7_text(septets)
    else:
        expected = user_data_length
        body = user_data[header_octets:user_data_length]
        if len(body) % 2:
            raise PduError("UCS-2 text has an odd number of octets")
        text = body.decode("utf-16-be")
    if len(user_data) != expected:
        raise PduError(f"user data is {len(user_data)} octets; its length says {expected}")
    return DecodedSubmit(
        service_centre=service_centre,
        message_reference=message_reference,
        number=number,
        coding=coding,
        validity=validity,
        concatenation=concatenation,
        text=text,
        tpdu_length=len(data) - tpdu_start,
        status_report_requested=bool(first_octet & 0x20),
    )


def _concatenation(header: bytes) -> Concatenation | None:
    offset = 0
    while offset < len(header):
        element, length = header[offset], header[offset + 1]
        value = header[offset + 2 : offset + 2 + length]
        if len(value) != length:
            raise PduError("truncated user data header")
        if element == 0x00 and length == 3:
            return Concatenation(reference=value[0], total=value[1], sequence=value[2])
        if element == 0x08 and length == 4:
            return Concatenation(
                reference=int.from_bytes(value[:2], "big"), total=value[2], sequence=value[3]
            )
        offset += 2 + length
    return None
