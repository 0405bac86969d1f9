"""The one rounding rule of the project (CONVENTIONS §4): half up, ties away from zero."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from fractions import Fraction


class RoundingMode(StrEnum):
    """How an exact quotient becomes an integer. Bills know one mode: 四舍五入."""

    HALF_UP = "HALF_UP"  # to the nearest integer, ties away from zero


def divide_half_up(numerator: int, denominator: int, /) -> int:
    """Return ``numerator / denominator`` rounded half up (ties away from zero), in integers.

    :raises ZeroDivisionError: if ``denominator`` is zero.
    :raises ValueError: if ``denominator`` is negative.
    """
    if denominator < 0:
        raise ValueError("divide_half_up takes a positive denominator")
    quotient = (2 * abs(numerator) + denominator) // (2 * denominator)
    return quotient if numerator >= 0 else -quotient


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
    return divide_half_up(numerator, denominator)
