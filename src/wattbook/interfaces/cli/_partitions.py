"""`wattbook partitions ensure`: make the monthly partitions ahead (PostgreSQL, ADR 21)."""

from __future__ import annotations

import argparse
import asyncio

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._exits import Exit

# As application.keep_partitions.MONTHS_AHEAD; not imported, so --help stays light.
_DEFAULT_MONTHS_AHEAD = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `partitions` sub-command and its `ensure` action to the parser."""
    parser = _args.add_command(
        sub, "partitions", help="monthly partitions of readings and the ledger (PostgreSQL)"
    )
    actions = parser.add_subparsers(dest="partitions_action", metavar="ACTION", required=True)
    ensure = _args.add_command(
        actions,
        "ensure",
        help="make this month's and the next months' partitions; alarm if next month's is "
        "missing (nothing to do on SQLite)",
        exits=(Exit.DIFFERENCES,),
        database=True,
    )
    ensure.add_argument(
        "--months-ahead",
        type=int,
        default=_DEFAULT_MONTHS_AHEAD,
        help=f"months after this one to make (default {_DEFAULT_MONTHS_AHEAD}, at least 1)",
    )
    ensure.set_defaults(handler=_ensure)


def _ensure(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    if args.months_ahead < 1:
        print("--months-ahead must be at least 1: next month's partition is checked")
        return Exit.BAD_INPUT
    storage = bootstrap.build_storage(_args.settings(args))
    try:
        check = asyncio.run(
            bootstrap.keep_partitions(storage=storage, months_ahead=args.months_ahead)
        )
    finally:
        storage.close()
    for name in check.upkeep.created:
        print(f"created {name}")
    for refused in check.upkeep.refused:
        print(f"refused {refused.table} {refused.month}: {refused.reason}")
    if check.missing:
        print(f"no partition for {check.next_month}: {', '.join(check.missing)} (alarm raised)")
        return Exit.DIFFERENCES
    print(f"no partitioned table lacks its partition for {check.next_month} (SQLite has none)")
    return Exit.OK
