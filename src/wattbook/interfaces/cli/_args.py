"""Argument types shared by the sub-commands: each checks one kind of value.

Pass them as argparse ``type=``: a bad value raises :class:`argparse.ArgumentTypeError`, which
argparse turns into a one-line usage error on stderr and exit code :data:`EXIT_USAGE` (2),
before the command touches anything.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# argparse exits with 2 on a usage error; every sub-command uses 2 for bad input too.
EXIT_USAGE = 2

EXIT_CODES_EPILOG = (
    "exit codes: 0 done; 1 failed unexpectedly (see the log); 2 bad input (a bad option, "
    "setting or file; nothing was changed)"
)


def positive_float(*, maximum: float) -> Callable[[str], float]:
    """Return a type for a finite number greater than 0 and at most ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range: give a number greater than 0 and at most {maximum:g}"
            )
        return value

    return parse


def bounded_int(*, minimum: int, maximum: int) -> Callable[[str], int]:
    """Return a type for a whole number from ``minimum`` to ``maximum`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range: give a whole number from {minimum} to {maximum}"
            )
        return value

    return parse


def non_negative_int(*, maximum: int) -> Callable[[str], int]:
    """Return a type for a whole number from 0 to ``maximum``."""
    return bounded_int(minimum=0, maximum=maximum)


def port(*, allow_zero: bool = False) -> Callable[[str], int]:
    """Return a type for a TCP port, 1-65535 (or 0, "any free port", if ``allow_zero``)."""
    return bounded_int(minimum=0 if allow_zero else 1, maximum=65535)


def time_zone(text: str) -> str:
    """Return ``text`` if it names an IANA time zone, e.g. ``Asia/Shanghai``."""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a known time zone: give an IANA name such as Asia/Shanghai"
        ) from None
    return text
