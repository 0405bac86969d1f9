"""`wattbook billing month-end` and `wattbook billing statements`: write a month's statements
to the database once, and list what was written."""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import TYPE_CHECKING

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

if TYPE_CHECKING:
    from wattbook.application.billing.ports import MonthEndRun
    from wattbook.domain.billing import StatementLine
    from wattbook.domain.values import AccountNumber

    Page = tuple[tuple[AccountNumber, tuple[StatementLine, ...]], ...]

_MONTH = re.compile(r"\d{4}-\d{2}")


def billing_month(text: str) -> str:
    """Parse a billing month written ``YYYY-MM`` (checked again by the domain when used)."""
    if not _MONTH.fullmatch(text) or not 1 <= int(text[5:]) <= 12:
        raise argparse.ArgumentTypeError(f"a month is written YYYY-MM, not {text!r}")
    return text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `billing` sub-command and its `month-end` and `statements` actions."""
    parser = _args.add_command(sub, "billing", help="month-end statements (B3)")
    actions = parser.add_subparsers(dest="billing_action", metavar="ACTION", required=True)
    month_end = _args.add_command(
        actions,
        "month-end",
        help="write every account's statement lines of a month that has ended, once",
        description="Write the statement lines (month, item, price, kWh, amount, paid or "
        "unpaid) of every account charged or credited in MONTH, with the status as of now. "
        "A sample of accounts is recomputed by the domain first; if any differs, nothing is "
        "written. Run again for the same month, it writes nothing and shows the first run.",
        exits=(Exit.DIFFERENCES,),
        database=True,
    )
    month_end.add_argument("month", type=billing_month, metavar="MONTH", help="YYYY-MM")
    month_end.add_argument(
        "--sample",
        type=_args.non_negative_int(maximum=100_000),
        default=200,
        help="accounts the domain recomputes before committing (default 200, plus as many "
        "with arrears)",
    )
    month_end.set_defaults(handler=_month_end)
    statements = _args.add_command(
        actions,
        "statements",
        help="list the statement lines a month-end wrote, by account number",
        database=True,
    )
    statements.add_argument("month", type=billing_month, metavar="MONTH", help="YYYY-MM")
    statements.add_argument("--after", metavar="ACCOUNT", help="start after this account number")
    statements.add_argument(
        "--limit",
        type=_args.positive_int(maximum=100_000),
        default=50,
        help="accounts to list (default 50)",
    )
    statements.set_defaults(handler=_statements)


def _describe(run: MonthEndRun) -> str:
    from wattbook.domain.values import to_local  # here, so the parser stays light

    written = to_local(run.written_at)
    return (
        f"{run.month}: {run.accounts} accounts, {run.lines} lines, {run.amount.yuan()} yuan, "
        f"{run.unpaid_lines} unpaid lines (written {written:%Y-%m-%d %H:%M:%S} Beijing time)"
    )


def _month_end(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.billing import month_end
    from wattbook.domain.values import BillingMonth

    storage = bootstrap.build_storage(_args.settings(args))
    try:
        outcome = asyncio.run(
            month_end.write_month_end(
                uow_factory=storage.month_end_factory,
                clock=storage.clock,
                month=BillingMonth.parse(args.month),
                sample_size=args.sample,
            )
        )
    except month_end.MonthNotOver as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    except month_end.MonthEndMismatch as error:
        for number in error.accounts:
            print(f"{number}: written lines differ from the domain's")
        print(str(error))
        return Exit.DIFFERENCES
    finally:
        storage.close()
    if outcome.written:
        print(f"wrote {_describe(outcome.run)}; the domain agreed on {outcome.checked} accounts")
    else:
        print(f"already written, nothing changed: {_describe(outcome.run)}")
    return Exit.OK


def _statements(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.domain.values import AccountNumber, BillingMonth

    month = BillingMonth.parse(args.month)
    try:
        after = None if args.after is None else AccountNumber(value=args.after)
    except ValueError as error:
        raise CommandFailed(f"--after: {error}", Exit.BAD_INPUT) from error
    storage = bootstrap.build_storage(_args.settings(args))

    async def read() -> tuple[MonthEndRun | None, Page]:
        async with storage.month_end_factory() as uow:
            run = await uow.statements.run(month)
            page = await uow.statements.lines(month=month, after=after, limit=args.limit)
        return run, page

    try:
        run, page = asyncio.run(read())
    finally:
        storage.close()
    if run is None:
        raise CommandFailed(
            f"no statements written for {month}: run `wattbook billing month-end {month}`",
            Exit.BAD_INPUT,
        )
    print(_describe(run))
    for number, lines in page:
        for line in lines:
            price = "-" if line.price is None else str(line.price.yuan_per_kwh)
            print(
                f"{number}\t{line.item}\t{price}\t{line.energy.kwh}\t"
                f"{line.amount.yuan()}\t{line.status.value}"
            )
    return Exit.OK
