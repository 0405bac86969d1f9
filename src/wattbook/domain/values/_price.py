"""Price: an exact unit price in yuan per kWh, as the tariff states it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Self

from wattbook.domain.values._energy import Energy
from wattbook.domain.values._money import Money
from wattbook.domain.values._rounding import round_half_up

# A price is stored as the integer yuan/kWh x 10^4 (0.5283 -> 5283).
PRICE_SCALE = 10_000
# Wh x (yuan/kWh x 10^4) -> fen: / 1000 (Wh per kWh) / 10^4 (scale) x 100 (fen per yuan).
_FEN_DIVISOR = 1000 * PRICE_SCALE // 100


class InvalidPrice(ValueError):
    """Raise when a price is negative, not a number, or finer than 4 decimal places."""


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Price:
    """A unit price in yuan per kWh: an exact Decimal with at most 4 decimal places."""

    yuan_per_kwh: Decimal

    def __post_init__(self) -> None:
        value = self.yuan_per_kwh
        if not isinstance(value, Decimal) or not value.is_finite():
            raise InvalidPrice(f"price must be a finite Decimal, not {value!r}")
        if value < 0:
            raise InvalidPrice(f"price must not be negative: {value}")
        if value * PRICE_SCALE != (value * PRICE_SCALE).to_integral_value():
            raise InvalidPrice(f"price has more than 4 decimal places: {value}")

    @classmethod
    def parse(cls, text: str) -> Self:
        """Return the price written as ``"0.5283"`` (yuan per kWh).

        :raises InvalidPrice: if the text is not a non-negative number with ≤ 4 decimals.
        """
        try:
            value = Decimal(text.strip())
        except InvalidOperation as error:
            raise InvalidPrice(f"not a price: {text!r}") from error
        return cls(yuan_per_kwh=value)

    @classmethod
    def from_scaled(cls, scaled: int) -> Self:
        """Return the price stored as yuan/kWh x 10^4 (5283 -> 0.5283).

        :raises InvalidPrice: if ``scaled`` is not a non-negative int.
        """
        if isinstance(scaled, bool) or not isinstance(scaled, int):
            raise InvalidPrice(f"scaled price must be an int, not {type(scaled).__name__}")
        return cls(yuan_per_kwh=Decimal(scaled).scaleb(-4))

    @property
    def scaled(self) -> int:
        """Return the price as the integer yuan/kWh x 10^4, the stored form."""
        return int(self.yuan_per_kwh * PRICE_SCALE)

    def exact_fen(self, energy: Energy) -> Fraction:
        """Return the exact, unrounded value of ``energy`` at this price, in fen."""
        return Fraction(energy.wh * self.scaled, _FEN_DIVISOR)

    def cost_of(self, energy: Energy) -> Money:
        """Return the value of ``energy`` at this price, rounded half up to the fen.

        Use it for one-off amounts (the B8 migration credit). Running charges are rounded from
        cumulative totals instead (billing.charge_consumption).
        """
        return Money(fen=round_half_up(self.exact_fen(energy)))

    def buys_less_than(self, *, balance: Money, energy: Energy) -> bool:
        """Test whether ``balance`` buys less than ``energy`` at this price, exactly.

        No rounding: 20 kWh at 0.5283 is worth 1056.6 fen, so 1056 fen buys less and 1057 does
        not (B4, B5).
        """
        return Fraction(balance.fen) < self.exact_fen(energy)

    def __str__(self) -> str:
        return f"{self.yuan_per_kwh} yuan/kWh"


DEFAULT_PRICE = Price(yuan_per_kwh=Decimal("0.5283"))
