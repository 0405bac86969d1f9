"""`wattbook ledger reconcile`: recompute every balance from the journal."""

from __future__ import annotations

import argparse
import asyncio

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._exits import Exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `ledger` sub-command and its `reconcile` action to the parser."""
    parser = _args.add_command(sub, "ledger", help="check the money ledger")
    actions = parser.add_subparsers(dest="ledger_action", metavar="ACTION", required=True)
    reconcile = _args.add_command(
        actions,
        "reconcile",
        help="recompute every balance from the journal and report differences",
        exits=(Exit.DIFFERENCES,),
        database=True,
    )
    reconcile.set_defaults(handler=_reconcile)


def _reconcile(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.billing.reconcile import reconcile_ledger

    storage = bootstrap.build_storage(_args.settings(args))
    try:
        report = asyncio.run(reconcile_ledger(uow=storage.reader_factory()))
    finally:
        storage.close()
    for difference in report.balances:
        print(
            f"{difference.account_number}: cached {difference.cached.yuan()} "
            f"journal {difference.journal.yuan()}"
        )
    for mismatch in report.debits:
        journal_amount = "-" if mismatch.journal_amount is None else mismatch.journal_amount.yuan()
        print(
            f"{mismatch.kind}\t{mismatch.debit_id}\t{mismatch.serial}\t"
            f"journal {journal_amount}\t{mismatch.detail}"
        )
    if report:
        print(
            f"{len(report.balances)} balance(s) differ from the journal, "
            f"{len(report.debits)} bank debit problem(s)"
        )
        return Exit.DIFFERENCES
    print("every balance equals the sum of its journal; every bank debit credited at most once")
    return Exit.OK
