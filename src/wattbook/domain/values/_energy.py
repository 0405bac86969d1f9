"""Energy: integer watt-hours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Self

from wattbook.domain.values._rounding import round_half_up


class InvalidEnergy(ValueError):
    """Raise when an energy is not a whole number of Wh."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Energy:
    """An amount of energy in integer Wh.

    It may be negative: a B8 migration credit is shown as negative usage. The meter resolves
    0.01 kWh = 10 Wh, so integer Wh loses nothing.
    """

    wh: int

    def __post_init__(self) -> None:
        if isinstance(self.wh, bool) or not isinstance(self.wh, int):
            raise InvalidEnergy(f"wh must be an int, not {type(self.wh).__name__}")

    @classmethod
    def zero(cls) -> Self:
        """Return zero Wh."""
        return cls(wh=0)

    @classmethod
    def from_kwh(cls, kwh: Decimal | str | int) -> Self:
        """Return the energy of ``kwh`` kilowatt-hours, which must be a whole number of Wh.

        :raises InvalidEnergy: if it is not a number or not a whole number of Wh.
        """
        if isinstance(kwh, bool) or not isinstance(kwh, Decimal | str | int):
            raise InvalidEnergy(f"kWh must be Decimal, str or int, not {type(kwh).__name__}")
        try:
            exact = Decimal(kwh) * 1000
        except InvalidOperation as error:
            raise InvalidEnergy(f"not a number of kWh: {kwh!r}") from error
        if not exact.is_finite() or exact != exact.to_integral_value():
            raise InvalidEnergy(f"not a whole number of Wh: {kwh!r} kWh")
        return cls(wh=int(exact))

    @property
    def kwh(self) -> Decimal:
        """Return the energy in kWh with 2 decimal places, rounded half up, for display."""
        return Decimal(round_half_up(Fraction(self.wh, 10))).scaleb(-2)

    def __add__(self, other: Energy) -> Energy:
        if not isinstance(other, Energy):
            return NotImplemented
        return Energy(wh=self.wh + other.wh)

    def __sub__(self, other: Energy) -> Energy:
        if not isinstance(other, Energy):
            return NotImplemented
        return Energy(wh=self.wh - other.wh)

    def __mul__(self, factor: int) -> Energy:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Energy(wh=self.wh * factor)

    __rmul__ = __mul__

    def __neg__(self) -> Energy:
        return Energy(wh=-self.wh)

    def __str__(self) -> str:
        return f"{self.kwh} kWh"
