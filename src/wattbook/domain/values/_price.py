"""Price: an exact unit price in yuan per kWh, as the tariff states it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Self

from wattbook.domain.values._energy import Energy
from wattbook.domain.values._money import Money
from wattbook.domain.values._rounding import RoundingMode, divide_half_up

# A price is stored as the integer yuan/kWh x 10^4 (0.5283 -> 5283).
PRICE_SCALE = 10_000
WH_PER_KWH = 1000
FEN_PER_YUAN = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargeRounding:
    """How energy at a price becomes whole fen: ``Wh x price x 10^4 / divisor``, rounded.

    The one definition of a charge's arithmetic (CONVENTIONS §4). The domain calls ``fen``
    (billing.amount_due, Price.cost_of); the set-based SQL of the ingest is built from
    ``divisor`` and ``offset``, and the prepaid threshold and 64-bit bounds use ``divisor``,
    so changing this definition changes every path at once.

    ``offset`` is what makes floor division round: for a non-negative numerator ``n``,
    ``(n + offset) // divisor == fen(n)``. The divisor must therefore be even (half of it an
    integer), and ``HALF_UP`` is the only mode a bill knows.
    """

    divisor: int
    mode: RoundingMode

    def __post_init__(self) -> None:
        if isinstance(self.divisor, bool) or not isinstance(self.divisor, int):
            raise TypeError(f"the divisor is an int, not {type(self.divisor).__name__}")
        if self.divisor <= 0 or self.divisor % 2:
            raise ValueError(f"the divisor must be a positive even number, not {self.divisor}")
        if not isinstance(self.mode, RoundingMode):
            raise TypeError(f"the mode is a RoundingMode, not {self.mode!r}")

    @property
    def offset(self) -> int:
        """Return what floor division needs added to round a non-negative numerator."""
        return self.divisor // 2

    def exact(self, numerator: int) -> Fraction:
        """Return ``numerator / divisor`` exactly (fen, unrounded)."""
        return Fraction(numerator, self.divisor)

    def fen(self, numerator: int) -> int:
        """Return ``numerator / divisor`` rounded by the mode (fen)."""
        return divide_half_up(numerator, self.divisor)

    def charge_fen(self, *, energy_wh: int, price_scaled: int) -> int:
        """Return the rounded value in fen of ``energy_wh`` at the scaled price."""
        return self.fen(energy_wh * price_scaled)


# Wh x (yuan/kWh x 10^4) -> fen: / 1000 (Wh per kWh) / 10^4 (scale) x 100 (fen per yuan).
CHARGE_ROUNDING = ChargeRounding(
    divisor=WH_PER_KWH * PRICE_SCALE // FEN_PER_YUAN, mode=RoundingMode.HALF_UP
)


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
        return CHARGE_ROUNDING.exact(energy.wh * self.scaled)

    def cost_of(self, energy: Energy) -> Money:
        """Return the value of ``energy`` at this price, rounded half up to the fen.

        Use it for one-off amounts (the B8 migration credit). Running charges are rounded from
        cumulative totals instead (billing.charge_consumption).
        """
        return Money(fen=CHARGE_ROUNDING.charge_fen(energy_wh=energy.wh, price_scaled=self.scaled))

    def buys_less_than(self, *, balance: Money, energy: Energy) -> bool:
        """Test whether ``balance`` buys less than ``energy`` at this price, exactly.

        No rounding: 20 kWh at 0.5283 is worth 1056.6 fen, so 1056 fen buys less and 1057 does
        not (B4, B5).
        """
        return Fraction(balance.fen) < self.exact_fen(energy)

    def __str__(self) -> str:
        return f"{self.yuan_per_kwh} yuan/kWh"


DEFAULT_PRICE = Price(yuan_per_kwh=Decimal("0.5283"))
