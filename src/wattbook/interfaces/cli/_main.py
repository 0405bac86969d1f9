"""Parse the command line and hand over to the sub-command's module.

Building the parser imports only the sub-commands' light parser modules: each handler imports
what it needs (SQLAlchemy, FastAPI, the protocol library) when it runs, so ``wattbook --help``
and the meter field tools start fast (a test holds this; ``bench/cli_start.py`` measures it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import wattbook
from wattbook.interfaces.cli import _args, _errors
from wattbook.interfaces.cli._exits import Exit

if TYPE_CHECKING:
    from wattbook.bootstrap import WebLoader

# Each sub-command module exposes ``register(subparsers) -> None``; registration sets
# ``handler`` (args -> exit code) on its parser.
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    from wattbook.interfaces.cli import (
        _admin,
        _api,
        _bank,
        _billing,
        _calendar,
        _demo_args,
        _headend,
        _import,
        _ingest,
        _kiosk,
        _ledger,
        _meter_args,
        _migrate,
        _partitions,
        _serve,
        _simulate,
        _sms,
    )

    return [
        _demo_args.register,
        _headend.register,
        _ingest.register,
        _simulate.register,
        _meter_args.register,
        _migrate.register,
        _partitions.register,
        _ledger.register,
        _billing.register,
        _sms.register,
        _serve.register,
        _bank.register,
        _calendar.register,
        _kiosk.register,
        _import.register,
        _api.register,
        _admin.register,
    ]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `wattbook` command."""
    parser = argparse.ArgumentParser(
        prog="wattbook",
        description="Prepaid electricity metering and billing for DL/T 645-2007 meters.",
        epilog="Each command's --help lists the exit codes it can return; README.md has the "
        "whole table.",
    )
    parser.add_argument("--version", action="version", version=f"wattbook {wattbook.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def _checked(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Return ``handler`` preceded by the database check its command asked for."""

    def run(args: argparse.Namespace) -> int:
        if getattr(args, "database_check", False):
            from wattbook import bootstrap

            bootstrap.check_database(_args.settings(args))
        return handler(args)

    return run


def main(argv: Sequence[str] | None = None, *, web: WebLoader | None = None) -> int:
    """Run the `wattbook` command and return its exit code.

    ``web`` loads the web interface for `serve` and `demo`; the process's entry point
    (``wattbook.__main__``) provides it, so this package never imports the web interface.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return Exit.BAD_INPUT
    args.load_web = web
    return _errors.run(args, _checked(handler))
