"""The one rounding function of the project (CONVENTIONS §4)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


def round_half_up(value: int | Fraction | Decimal, /) -> int:
    """Return ``value`` rounded to the nearest integer, ties away from zero (四舍五入).

    The input is an exact rational (an int, a Fraction or a finite Decimal), never a float, so
    the result does not depend on binary representation. Python's ``round`` and Decimal's
    default context round half to even, which is not what a Chinese bill does.

    :raises TypeError: if ``value`` is a float or a bool.
    :raises ValueError: if ``value`` is a non-finite Decimal.
    """
    if isinstance(value, bool) or not isinstance(value, int | Fraction | Decimal):
        raise TypeError(f"round_half_up takes an exact rational, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"cannot round {value}")
    numerator, denominator = value.as_integer_ratio()
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient
