"""`wattbook bank-sim` (a simulated bank) and `wattbook bank reconcile` (statement vs journal)."""

from __future__ import annotations

import argparse
import asyncio
import socket
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

if TYPE_CHECKING:
    from wattbook.domain import payments
    from wattbook.domain.values import Money

MAX_DELAY_S = 3600.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `bank-sim` and `bank` sub-commands to the parser."""
    sim = _args.add_command(
        sub,
        "bank-sim",
        help="run a simulated bank for auto top-up",
        description="A bank that takes signed debit requests at POST /debits, debits its "
        "simulated cards (insufficient funds, closed cards), posts signed callbacks to "
        "wattbook (late, sometimes twice) and serves statements at GET /statements/YYYY-MM-DD.",
        exits=(Exit.CANNOT_LISTEN,),
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=_args.port(allow_zero=True), default=8701, help="(8701)")
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
    sim.add_argument(
        "--delay",
        type=_args.non_negative_float(maximum=MAX_DELAY_S),
        default=0.5,
        help=f"longest callback delay in seconds, 0 to {MAX_DELAY_S:g} (0.5)",
    )
    sim.add_argument(
        "--duplicates",
        type=_args.non_negative_float(maximum=1.0),
        default=0.0,
        help="share of callbacks sent twice, 0 to 1 (0)",
    )
    sim.add_argument("--seed", type=_args.non_negative_int(maximum=2**63 - 1))
    sim.set_defaults(handler=_simulate)

    tools = _args.add_command(sub, "bank", help="bank auto top-up tools")
    commands = tools.add_subparsers(dest="bank_command", metavar="COMMAND", required=True)
    reconcile = _args.add_command(
        commands,
        "reconcile",
        help="check the bank's daily statement file against the journal",
        description="Check the bank's daily statement file against the journal. An "
        "unreadable, binary or malformed statement file is bad input; mismatches are listed "
        "on stdout.",
        exits=(Exit.DIFFERENCES,),
        database=True,
    )
    reconcile.add_argument("statement", type=Path, help="the statement file (CSV)")
    reconcile.add_argument("--day", required=True, type=_args.iso_date, help="YYYY-MM-DD")
    reconcile.set_defaults(handler=_reconcile)


def _card(text: str) -> tuple[str, Money, bool]:
    """Return the token, balance and closed flag of ``TOKEN=YUAN[:closed]``.

    :raises CommandFailed: if the text is not of that form.
    """
    from wattbook.domain.values import InvalidAmount, Money

    token, equals, rest = text.partition("=")
    balance, colon, flag = rest.partition(":")
    try:
        if not token.strip() or not equals or (colon and flag != "closed"):
            raise ValueError("give TOKEN=YUAN or TOKEN=YUAN:closed")
        amount = Money.parse(balance or "0")
        if amount.fen < 0:
            raise ValueError("a card's balance cannot be negative")
    except (ValueError, InvalidAmount) as error:
        raise CommandFailed(f"bad --card {text!r}: {error}", Exit.BAD_INPUT) from error
    return token, amount, bool(colon)


def _agreement(text: str, signed_on: date) -> payments.Agreement:
    """Return the agreement ``NUMBER:TOKEN:ACCOUNTS:THRESHOLD:AMOUNT`` describes.

    :raises CommandFailed: if the text is not of that form or breaks the agreement rules.
    """
    from wattbook.domain import payments
    from wattbook.domain.values import AccountNumber, Money

    try:
        parts = text.split(":")
        if len(parts) != 5:
            raise ValueError("give NUMBER:TOKEN:ACCOUNTS:THRESHOLD:AMOUNT, five fields")
        number, token, accounts, threshold, amount = parts
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
    except (ValueError, payments.PaymentError) as error:
        # InvalidAmount, InvalidAccountNumber and InvalidAgreement are among these.
        raise CommandFailed(f"bad --agreement {text!r}: {error}", Exit.BAD_INPUT) from error


def _simulate(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.domain.values import local_date

    cards = {token: (balance, closed) for token, balance, closed in map(_card, args.card)}
    today = local_date(bootstrap.system_clock().now())
    agreements = [_agreement(text, today) for text in args.agreement]
    unknown = sorted({a.card_token for a in agreements} - set(cards))
    if unknown:
        raise CommandFailed(
            f"--agreement names card(s) {', '.join(unknown)} that no --card gives", Exit.BAD_INPUT
        )
    simulator = bootstrap.build_bank_simulator(
        secret=args.secret,
        cards=cards,
        agreements={a.agreement_number: a.card_token for a in agreements},
        delay_s=args.delay,
        duplicate_rate=args.duplicates,
        seed=args.seed,
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        listener = socket.create_server((args.host, args.port), family=family)
    except OSError as error:
        raise CommandFailed(
            f"cannot listen on {args.host}:{args.port}: {error}", Exit.CANNOT_LISTEN
        ) from error
    port = int(listener.getsockname()[1])
    import uvicorn

    async def main() -> None:
        if args.wattbook:
            for agreement in agreements:
                status = await bootstrap.push_agreement_to(
                    wattbook_url=args.wattbook, secret=args.secret, agreement=agreement
                )
                print(f"agreement {agreement.agreement_number}: wattbook answered {status}")
        config = uvicorn.Config(simulator.app, log_level="warning")
        print(f"bank-sim on http://{args.host}:{port}", flush=True)
        await uvicorn.Server(config).serve(sockets=[listener])

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return Exit.OK
    finally:
        listener.close()
    return Exit.OK


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
    from wattbook import bootstrap
    from wattbook.application.payments import bank

    try:
        statement = bootstrap.read_bank_statement(_statement_text(args.statement))
    except (OSError, NotAStatement, *bootstrap.BankMessageRejected) as error:
        raise CommandFailed(f"cannot read {args.statement}: {error}", Exit.BAD_INPUT) from error
    storage = bootstrap.build_storage(_args.settings(args))
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
    return Exit.DIFFERENCES if mismatches else Exit.OK
