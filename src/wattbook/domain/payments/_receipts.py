"""Channels, receipt numbers, payment kinds and the masking of personal details on receipts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Self

from wattbook.domain.payments._errors import UnknownReceipt


class Channel(StrEnum):
    """Where money comes in (P1-P3)."""

    COUNTER = "COUNTER"
    KIOSK = "KIOSK"
    BANK_AUTO = "BANK_AUTO"

    @property
    def code(self) -> str:
        """Return the two letters that start this channel's receipt numbers."""
        return _CODES[self]


_CODES = {Channel.COUNTER: "CT", Channel.KIOSK: "KS", Channel.BANK_AUTO: "BK"}
_BY_CODE = {code: channel for channel, code in _CODES.items()}
_RECEIPT = re.compile(r"^(?P<code>[A-Z]{2})(?P<day>\d{8})(?P<seq>\d{6})$")


class PaymentKind(StrEnum):
    """The business type of a payment record (P5)."""

    TOP_UP = "TOP_UP"
    # P4: a mistaken top-up leaves the wrong account (MOVE_OUT) and reaches the right one.
    MOVE_OUT = "MOVE_OUT"
    MOVE_IN = "MOVE_IN"
    REFUND = "REFUND"


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class ReceiptNumber:
    """Channel code + local date + daily sequence, e.g. ``KS20250610000042`` (unique)."""

    channel: Channel
    day: date
    sequence: int

    def __post_init__(self) -> None:
        if not 1 <= self.sequence <= 999_999:
            raise ValueError(f"daily receipt sequence out of range: {self.sequence}")

    def __str__(self) -> str:
        return f"{self.channel.code}{self.day:%Y%m%d}{self.sequence:06d}"

    @classmethod
    def parse(cls, text: str) -> Self:
        """Return the receipt number written as ``text``.

        :raises UnknownReceipt: if the text is not a well-formed receipt number.
        """
        match = _RECEIPT.match(text.strip().upper())
        if match is None or match["code"] not in _BY_CODE:
            raise UnknownReceipt(f"not a receipt number: {text!r}")
        try:
            day = date(int(match["day"][:4]), int(match["day"][4:6]), int(match["day"][6:]))
            return cls(channel=_BY_CODE[match["code"]], day=day, sequence=int(match["seq"]))
        except ValueError as error:
            raise UnknownReceipt(f"not a receipt number: {text!r}") from error


def ledger_reference(*, channel: Channel, channel_reference: str) -> str:
    """Return the ledger reference of a payment: unique per channel and channel reference.

    The channel's own reference (kiosk transaction id, bank serial, counter form token) is
    what makes a replay harmless: the ledger refuses a second entry with the same reference.
    """
    if not channel_reference or len(channel_reference) > 80:
        raise ValueError("a channel reference has 1 to 80 characters")
    return f"PAY:{channel.value}:{channel_reference}"


def mask_name(name: str) -> str:
    """Return the holder's name with all but the first (and, from 3 characters, last) hidden."""
    name = name.strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(number: str) -> str:
    """Return an ID document number showing only its first 6 and last 4 characters."""
    number = number.strip()
    if len(number) <= 10:
        return "*" * max(len(number) - 2, 0) + number[-2:]
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_card(number: str) -> str:
    """Return a bank card number showing its first 4 and last 4 digits only."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 12:
        raise ValueError("a bank card number has at least 12 digits")
    return f"{digits[:4]} **** **** {digits[-4:]}"


def mask_phone(digits: str) -> str:
    """Return a mobile number as ``138****8000``."""
    return digits[:3] + "****" + digits[-4:] if len(digits) == 11 else "*" * len(digits)
