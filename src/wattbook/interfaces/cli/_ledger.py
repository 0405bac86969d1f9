"""`wattbook ledger reconcile`: recompute every balance from the journal."""

from __future__ import annotations

import argparse
import asyncio
import logging

from wattbook import bootstrap
from wattbook.application.reconcile import reconcile_ledger
from wattbook.settings import DATABASE_URL_VARIABLE, Settings

logger = logging.getLogger(__name__)

EXIT_DIFFERENCES = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `ledger` sub-command and its `reconcile` action to the parser."""
    parser = sub.add_parser("ledger", help="check the money ledger")
    actions = parser.add_subparsers(dest="ledger_action", metavar="ACTION", required=True)
    reconcile = actions.add_parser(
        "reconcile",
        help="recompute every balance from the journal and report differences",
        description=f"Exit 0 if every cached balance equals the sum of its journal, "
        f"{EXIT_DIFFERENCES} if any differs. The database comes from {DATABASE_URL_VARIABLE}.",
    )
    reconcile.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    reconcile.set_defaults(handler=_reconcile)


def _reconcile(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    if args.database_url:
        settings = Settings(database_url=args.database_url)
    storage = bootstrap.build_storage(settings)
    try:
        report = asyncio.run(reconcile_ledger(uow=storage.uow_factory()))
    except Exception:
        logger.exception("Unable to reconcile the ledger")
        return 1
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
        return EXIT_DIFFERENCES
    print("every balance equals the sum of its journal; every bank debit credited at most once")
    return 0
