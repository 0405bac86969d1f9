"""Parse the command line and hand over to the sub-command's module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import wattbook

# Each sub-command module exposes ``register(subparsers) -> None``; registration sets
# ``handler`` (args -> exit code) on its parser.
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    from wattbook.interfaces.cli import (
        _bank,
        _calendar,
        _demo,
        _headend,
        _kiosk,
        _ledger,
        _meter,
        _migrate,
        _serve,
        _simulate,
        _sms,
    )

    return [
        _demo.register,
        _headend.register,
        _simulate.register,
        _meter.register,
        _migrate.register,
        _ledger.register,
        _sms.register,
        _serve.register,
        _bank.register,
        _calendar.register,
        _kiosk.register,
    ]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `wattbook` command."""
    parser = argparse.ArgumentParser(
        prog="wattbook",
        description="Prepaid electricity metering and billing for DL/T 645-2007 meters.",
    )
    parser.add_argument("--version", action="version", version=f"wattbook {wattbook.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `wattbook` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code: int = handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
