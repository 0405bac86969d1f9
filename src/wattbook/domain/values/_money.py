"""Money: integer fen, exact, and the only way amounts travel through the code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

_YUAN = re.compile(r"^(?P<sign>-)?(?P<yuan>\d+)(?:\.(?P<fen>\d{1,2}))?$")


class InvalidAmount(ValueError):
    """Raise when an amount is not a whole number of fen or not a well-formed yuan string."""


def _require_int(value: object, *, what: str) -> int:
    # bool is an int subclass; True fen is a bug, not an amount.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{what} must be an int, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Money:
    """An amount of money in integer fen (1 yuan = 100 fen).

    It adds and subtracts only with Money, multiplies only by int, and never meets a float.
    """

    fen: int

    def __post_init__(self) -> None:
        _require_int(self.fen, what="fen")

    @classmethod
    def zero(cls) -> Self:
        """Return zero fen."""
        return cls(fen=0)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Return the amount written as a yuan string such as ``"12.34"`` or ``"-0.5"``.

        :raises InvalidAmount: if the text is not digits with at most 2 decimal places.
        """
        match = _YUAN.match(text.strip())
        if match is None:
            raise InvalidAmount(f"not a yuan amount with at most 2 decimal places: {text!r}")
        fen = int(match["yuan"]) * 100 + int((match["fen"] or "0").ljust(2, "0"))
        return cls(fen=-fen if match["sign"] else fen)

    def yuan(self) -> str:
        """Return the amount as a yuan string with exactly 2 decimals, e.g. ``"-0.50"``."""
        sign = "-" if self.fen < 0 else ""
        whole, fen = divmod(abs(self.fen), 100)
        return f"{sign}{whole}.{fen:02d}"

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(fen=self.fen + other.fen)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(fen=self.fen - other.fen)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Money(fen=self.fen * factor)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(fen=-self.fen)

    def __bool__(self) -> bool:
        return self.fen != 0

    def __str__(self) -> str:
        return self.yuan()
