"""`wattbook bank-sim` (a simulated bank) and `wattbook bank reconcile` (statement vs journal)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date
from pathlib import Path

import uvicorn

from wattbook import bootstrap
from wattbook.application.payments import bank
from wattbook.domain import payments
from wattbook.domain.values import AccountNumber, Money, local_date
from wattbook.interfaces.cli import _args
from wattbook.settings import DATABASE_URL_VARIABLE, Settings

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = _args.EXIT_USAGE
EXIT_MISMATCHES = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `bank-sim` and `bank` sub-commands to the parser."""
    sim = sub.add_parser(
        "bank-sim",
        help="run a simulated bank for auto top-up",
        description="A bank that takes signed debit requests at POST /debits, debits its "
        "simulated cards (insufficient funds, closed cards), posts signed callbacks to "
        "wattbook (late, sometimes twice) and serves statements at GET /statements/YYYY-MM-DD.",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8701)
    sim.add_argument("--secret", required=True, help="the HMAC key shared with wattbook")
    sim.add_argument(
        "--card",
        action="append",
        default=[],
        metavar="TOKEN=YUAN[:closed]",
        help="a card and its balance, e.g. CARD1=500.00 or CARD2=0:closed",
    )
    sim.add_argument(
        "--agreement",
        action="append",
        default=[],
        metavar="NUMBER:TOKEN:ACCOUNTS:THRESHOLD:AMOUNT",
        help="an agreement, e.g. AG1:CARD1:051600001234,051600001235:20:50",
    )
    sim.add_argument("--wattbook", help="wattbook's URL: the agreements are pushed there first")
    sim.add_argument("--delay", type=float, default=0.5, help="longest callback delay (s)")
    sim.add_argument("--duplicates", type=float, default=0.0, help="share sent twice (0-1)")
    sim.add_argument("--seed", type=int)
    sim.set_defaults(handler=_simulate)

    tools = sub.add_parser("bank", help="bank auto top-up tools")
    commands = tools.add_subparsers(dest="bank_command", metavar="COMMAND", required=True)
    reconcile = commands.add_parser(
        "reconcile",
        help="check the bank's daily statement file against the journal",
        epilog="exit codes: 0 statement and journal agree; 1 failed unexpectedly (see the log); "
        "2 bad input (an unreadable, binary or malformed statement file; nothing was changed); "
        "3 mismatches found (listed on stdout)",
    )
    reconcile.add_argument("statement", type=Path, help="the statement file (CSV)")
    reconcile.add_argument("--day", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    reconcile.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    reconcile.set_defaults(handler=_reconcile)


def _agreement(text: str, signed_on: date) -> payments.Agreement:
    number, token, accounts, threshold, amount = text.split(":")
    return payments.Agreement(
        agreement_number=number,
        holder="bank-sim",
        id_number_masked=payments.mask_id_number("000000000000000000"),
        card_token=token,
        card_masked=f"6217 **** **** {token[-4:].rjust(4, '0')}",
        phone="13800138000",
        account_numbers=tuple(AccountNumber(value=n) for n in accounts.split(",")),
        threshold=Money.parse(threshold),
        amount=Money.parse(amount),
        signed_on=signed_on,
    )


def _simulate(args: argparse.Namespace) -> int:
    cards: dict[str, tuple[Money, bool]] = {}
    for text in args.card:
        token, _, rest = text.partition("=")
        balance, _, flag = rest.partition(":")
        cards[token] = (Money.parse(balance or "0"), flag == "closed")
    today = local_date(bootstrap.system_clock().now())
    agreements = [_agreement(text, today) for text in args.agreement]
    simulator = bootstrap.build_bank_simulator(
        secret=args.secret,
        cards=cards,
        agreements={a.agreement_number: a.card_token for a in agreements},
        delay_s=args.delay,
        duplicate_rate=args.duplicates,
        seed=args.seed,
    )

    async def main() -> None:
        if args.wattbook:
            for agreement in agreements:
                status = await bootstrap.push_agreement_to(
                    wattbook_url=args.wattbook, secret=args.secret, agreement=agreement
                )
                print(f"agreement {agreement.agreement_number}: wattbook answered {status}")
        config = uvicorn.Config(simulator.app, host=args.host, port=args.port, log_level="warning")
        print(f"bank-sim on http://{args.host}:{args.port}", flush=True)
        await uvicorn.Server(config).serve()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return 0
    return 0


class NotAStatement(Exception):
    """The statement file is not text: a binary file given by mistake."""


def _statement_text(path: Path) -> str:
    """Return the text of the statement file at ``path``.

    :raises OSError: if it cannot be read.
    :raises NotAStatement: if it is not UTF-8 text (a binary file, say).
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotAStatement(
            f"not a UTF-8 text file (byte {error.start} is {data[error.start]:#04x})"
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        raise NotAStatement(f"not a text file (a NUL byte at {nul})")
    return text


def _reconcile(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    if args.database_url:
        settings = Settings(database_url=args.database_url)
    try:
        statement = bootstrap.read_bank_statement(_statement_text(args.statement))
    except (OSError, NotAStatement, *bootstrap.BankMessageRejected) as error:
        print(f"wattbook bank reconcile: cannot read {args.statement}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    storage = bootstrap.build_storage(settings)
    try:
        mismatches = asyncio.run(
            bank.reconcile_bank_statement(
                uow=storage.uow_factory(), day=args.day, statement=statement
            )
        )
    finally:
        storage.close()
    for m in mismatches:
        bank_amount = "-" if m.bank_amount is None else m.bank_amount.yuan()
        journal_amount = "-" if m.journal_amount is None else m.journal_amount.yuan()
        print(f"{m.kind}\t{m.serial}\t{m.debit_id}\tbank {bank_amount}\tjournal {journal_amount}")
    print(f"{len(statement)} statement lines, {len(mismatches)} mismatches")
    return EXIT_MISMATCHES if mismatches else EXIT_OK
