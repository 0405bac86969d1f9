"""What every sub-command's parser shares: its help layout, exit codes, database option and
argument types.

Pass the types as argparse ``type=``: a bad value raises :class:`argparse.ArgumentTypeError`,
which argparse turns into a one-line usage error on stderr and exit code 2 (bad input), before
the command touches anything. This module is imported to build the parser, so it imports
nothing but the standard library and the settings' names.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wattbook.interfaces.cli import _exits
from wattbook.settings import DATABASE_URL_VARIABLE, Settings


class HelpFormatter(argparse.HelpFormatter):
    """Wrap one-paragraph texts as argparse does; keep texts with line breaks as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str | None = None,
    exits: Iterable[_exits.Exit] = (),
    database: bool = False,
    check_database: bool = True,
) -> argparse.ArgumentParser:
    """Add a sub-command whose ``--help`` ends with the exit codes it can return.

    With ``database`` it gets ``--database-url``, may return the database's exit codes, and
    (with ``check_database``) the database is checked reachable and migrated before it runs.
    """
    codes = [*exits, *(_exits.DATABASE if database else ())]
    parser = sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=_exits.epilog(codes),
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(command_path=parser.prog.removeprefix("wattbook "))
    if database:
        parser.add_argument(
            "--database-url", metavar="URL", help=f"the database; overrides {DATABASE_URL_VARIABLE}"
        )
        parser.set_defaults(database_check=check_database)
    return parser


def settings(args: argparse.Namespace) -> Settings:
    """Return the settings from the environment, with ``--database-url`` if given.

    :raises InvalidSetting: if a ``WATTBOOK_*`` variable holds a value wattbook cannot use.
    """
    found = Settings.from_environment()
    url = getattr(args, "database_url", None)
    return dataclasses.replace(found, database_url=url) if url else found


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


def non_negative_float(*, maximum: float) -> Callable[[str], float]:
    """Return a type for a finite number from 0 to ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or not 0 <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range: give a number from 0 to {maximum:g}"
            )
        return value

    return parse


def positive_int(*, maximum: int) -> Callable[[str], int]:
    """Return a type for a whole number from 1 to ``maximum``."""
    return bounded_int(minimum=1, maximum=maximum)


def non_negative_int(*, maximum: int) -> Callable[[str], int]:
    """Return a type for a whole number from 0 to ``maximum``."""
    return bounded_int(minimum=0, maximum=maximum)


def port(*, allow_zero: bool = False) -> Callable[[str], int]:
    """Return a type for a TCP port, 1-65535 (or 0, "any free port", if ``allow_zero``)."""
    return bounded_int(minimum=0 if allow_zero else 1, maximum=65535)


def host_port(*, allow_zero: bool = False) -> Callable[[str], tuple[str, int]]:
    """Return a type for ``HOST:PORT`` (an IPv6 host in brackets), the port as ``port()``."""
    parse_port = port(allow_zero=allow_zero)

    def parse(text: str) -> tuple[str, int]:
        host, colon, number = text.rpartition(":")
        if not colon or not host.strip("[]"):
            raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
        return host.strip("[]"), parse_port(number)

    return parse


def time_zone(text: str) -> str:
    """Return ``text`` if it names an IANA time zone, e.g. ``Asia/Shanghai``."""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a known time zone: give an IANA name such as Asia/Shanghai"
        ) from None
    return text


def iso_date(text: str) -> dt.date:
    """Return the calendar date ``text`` writes as YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: give YYYY-MM-DD") from None
