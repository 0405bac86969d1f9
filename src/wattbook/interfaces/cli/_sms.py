"""`wattbook sms worker | no-phone | failed` and `wattbook modem-sim`: the outbox and modem."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit
from wattbook.settings import (
    DATABASE_URL_VARIABLE,
    MODEM_BAUD_VARIABLE,
    MODEM_MODE_VARIABLE,
    MODEM_VARIABLE,
    SMS_SENDER_VARIABLE,
)

if TYPE_CHECKING:
    from wattbook.application.notifications.send_pending_sms import SmsRunReport

MAX_LIMIT = 100_000
MAX_DAYS = 3660
MAX_IDLE_S = 3600.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `sms` and `modem-sim` sub-commands to the parser."""
    parser = _args.add_command(
        sub, "sms", help="send the SMS outbox; list residents SMS cannot reach"
    )
    actions = parser.add_subparsers(dest="sms_action", metavar="ACTION", required=True)
    worker = _args.add_command(
        actions,
        "worker",
        help="send pending SMS until stopped (Ctrl-C)",
        description=f"Send pending SMS until stopped (Ctrl-C). The sender is "
        f"{SMS_SENDER_VARIABLE} (modem or log, default log); the modem is {MODEM_VARIABLE} (a "
        f"serial device or tcp://host:port) at {MODEM_BAUD_VARIABLE} baud in "
        f"{MODEM_MODE_VARIABLE} (pdu or text) mode. The database comes from "
        f"{DATABASE_URL_VARIABLE}.",
        database=True,
    )
    worker.add_argument(
        "--idle",
        type=_args.positive_float(maximum=MAX_IDLE_S),
        default=5.0,
        help=f"seconds between empty polls, more than 0 and at most {MAX_IDLE_S:g} (5)",
    )
    worker.set_defaults(handler=_worker)
    no_phone = _args.add_command(
        actions,
        "no-phone",
        help="list open accounts with no mobile number on file (N2)",
        description="One line per account: number, holder, address, balance and how many "
        "notifications failed for want of a number.",
        database=True,
    )
    no_phone.add_argument("--after", help="start after this account number")
    no_phone.add_argument(
        "--limit",
        type=_args.positive_int(maximum=MAX_LIMIT),
        default=1000,
        help=f"at most this many, 1 to {MAX_LIMIT} (1000)",
    )
    no_phone.set_defaults(handler=_no_phone)

    failed = _args.add_command(
        actions,
        "failed",
        help="list SMS that failed for good, newest first, with why",
        description="One line per message: id, account, kind, phone, failed at (UTC), "
        "attempts, error.",
        database=True,
    )
    failed.add_argument(
        "--days",
        type=_args.positive_int(maximum=MAX_DAYS),
        default=7,
        help=f"look back this many days, 1 to {MAX_DAYS} (7)",
    )
    failed.add_argument(
        "--limit",
        type=_args.positive_int(maximum=MAX_LIMIT),
        default=1000,
        help=f"at most this many, 1 to {MAX_LIMIT} (1000)",
    )
    failed.set_defaults(handler=_failed)

    sim = _args.add_command(
        sub,
        "modem-sim",
        help="run a simulated GSM SMS modem (AT commands) on TCP or a pseudo-terminal",
        description="Run a simulated GSM SMS modem. It prints every message it accepts, as "
        "the handset would show it.",
        exits=(Exit.CANNOT_LISTEN,),
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=_args.port(allow_zero=True), default=7100, help="(7100)")
    sim.add_argument("--pty", action="store_true", help="serve a pseudo-terminal, not TCP")
    sim.add_argument("--no-sim", action="store_true", help="answer +CME ERROR: 10 (no SIM)")
    sim.add_argument(
        "--registration",
        type=_args.bounded_int(minimum=0, maximum=5),
        default=1,
        help="+CREG status, 0 to 5 (1 home, 0/2 no network)",
    )
    sim.add_argument(
        "--fail",
        type=_args.bounded_int(minimum=0, maximum=999),
        action="append",
        default=[],
        metavar="CODE",
        help="answer the next send with +CMS ERROR: CODE, 0 to 999 (repeatable)",
    )
    sim.set_defaults(handler=_modem_sim)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)


def _worker(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    worker = bootstrap.build_sms_worker(_args.settings(args))

    async def run() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        print(f"sending SMS through {worker.sender.name}; Ctrl-C stops", flush=True)
        await worker.run(stop, idle_s=args.idle, on_run=_print_run)

    try:
        asyncio.run(run())
    finally:
        worker.storage.close()
    print("stopped", flush=True)
    return Exit.OK


def _print_run(report: SmsRunReport) -> None:
    counts = {
        "sent": report.sent,
        "retrying": report.retrying,
        "failed": report.failed,
        "deferred": report.deferred,
        "cancelled": report.cancelled,
    }
    done = ", ".join(f"{name} {len(ids)}" for name, ids in counts.items() if ids)
    if done:
        print(done, flush=True)
    if report.sender_unavailable:
        print(f"sender unavailable: {report.sender_unavailable}", file=sys.stderr, flush=True)


def _no_phone(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    try:
        found = asyncio.run(
            bootstrap.accounts_without_phone(
                settings=_args.settings(args), after=args.after, limit=args.limit
            )
        )
    except ValueError as error:  # InvalidAccountNumber of --after
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    for account in found:
        print(
            f"{account.account_number}\t{account.holder}\t{account.address}\t"
            f"{account.balance.yuan()}\t{account.unsent}"
        )
    print(f"{len(found)} account(s) without a mobile number", file=sys.stderr)
    return Exit.OK


def _failed(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    found = asyncio.run(
        bootstrap.failed_sms(settings=_args.settings(args), days=args.days, limit=args.limit)
    )
    for message in found:
        print(
            f"{message.id}\t{message.account_number}\t{message.kind}\t{message.phone or '-'}\t"
            f"{message.failed_at.isoformat()}\t{message.attempts}\t{message.error}"
        )
    print(f"{len(found)} failed SMS in the last {args.days} day(s)", file=sys.stderr)
    return Exit.OK


def _modem_sim(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    async def serve() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        simulator, where = await bootstrap.start_modem_simulator(
            host=args.host,
            port=args.port,
            pty=args.pty,
            sim_inserted=not args.no_sim,
            registration=args.registration,
            fail_codes=args.fail,
            listener=lambda message: print(
                f"SMS {message.reference} to {message.number}: {message.text}", flush=True
            ),
        )
        print(f"modem answering on {where}; Ctrl-C stops", flush=True)
        try:
            await stop.wait()
        finally:
            await simulator.close()

    try:
        asyncio.run(serve())
    except OSError as error:
        raise CommandFailed(str(error), Exit.CANNOT_LISTEN) from error
    print("stopped", flush=True)
    return Exit.OK
