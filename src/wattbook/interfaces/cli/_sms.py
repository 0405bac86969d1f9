"""`wattbook sms worker | no-phone | failed` and `wattbook modem-sim`: the outbox and modem."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from wattbook import bootstrap
from wattbook.application.send_pending_sms import SmsRunReport
from wattbook.settings import (
    DATABASE_URL_VARIABLE,
    MODEM_BAUD_VARIABLE,
    MODEM_MODE_VARIABLE,
    MODEM_VARIABLE,
    SMS_SENDER_VARIABLE,
    InvalidSetting,
    Settings,
)

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CANNOT_LISTEN = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `sms` and `modem-sim` sub-commands to the parser."""
    parser = sub.add_parser("sms", help="send the SMS outbox; list residents SMS cannot reach")
    actions = parser.add_subparsers(dest="sms_action", metavar="ACTION", required=True)
    worker = actions.add_parser(
        "worker",
        help="send pending SMS until stopped (Ctrl-C)",
        description=f"The sender is {SMS_SENDER_VARIABLE} (modem or log, default log); the "
        f"modem is {MODEM_VARIABLE} (a serial device or tcp://host:port) at "
        f"{MODEM_BAUD_VARIABLE} baud in {MODEM_MODE_VARIABLE} (pdu or text) mode. The "
        f"database comes from {DATABASE_URL_VARIABLE}.",
    )
    worker.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    worker.add_argument("--idle", type=float, default=5.0, help="seconds between empty polls")
    worker.set_defaults(handler=_worker)
    no_phone = actions.add_parser(
        "no-phone",
        help="list open accounts with no mobile number on file (N2)",
        description="One line per account: number, holder, address, balance and how many "
        "notifications failed for want of a number.",
    )
    no_phone.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    no_phone.add_argument("--after", help="start after this account number")
    no_phone.add_argument("--limit", type=int, default=1000)
    no_phone.set_defaults(handler=_no_phone)

    failed = actions.add_parser(
        "failed",
        help="list SMS that failed for good, newest first, with why",
        description="One line per message: id, account, kind, phone, failed at (UTC), "
        "attempts, error.",
    )
    failed.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    failed.add_argument("--days", type=int, default=7, help="look back this many days")
    failed.add_argument("--limit", type=int, default=1000)
    failed.set_defaults(handler=_failed)

    sim = sub.add_parser(
        "modem-sim",
        help="run a simulated GSM SMS modem (AT commands) on TCP or a pseudo-terminal",
        description="Prints every message it accepts, as the handset would show it.",
    )
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=7100)
    sim.add_argument("--pty", action="store_true", help="serve a pseudo-terminal, not TCP")
    sim.add_argument("--no-sim", action="store_true", help="answer +CME ERROR: 10 (no SIM)")
    sim.add_argument(
        "--registration", type=int, default=1, help="+CREG status (1 home, 0/2 no network)"
    )
    sim.add_argument(
        "--fail",
        type=int,
        action="append",
        default=[],
        metavar="CODE",
        help="answer the next send with +CMS ERROR: CODE (repeatable)",
    )
    sim.set_defaults(handler=_modem_sim)


def _settings(args: argparse.Namespace) -> Settings | None:
    settings = Settings.from_environment()
    if args.database_url:
        return Settings(
            database_url=args.database_url,
            sms_sender=settings.sms_sender,
            modem_device=settings.modem_device,
            modem_baud=settings.modem_baud,
            modem_pdu_mode=settings.modem_pdu_mode,
            modem_storage=settings.modem_storage,
        )
    return settings


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)


def _worker(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except InvalidSetting as error:
        print(f"wattbook sms worker: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    worker = bootstrap.build_sms_worker(settings)

    async def run() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        print(f"sending SMS through {worker.sender.name}; Ctrl-C stops", flush=True)
        await worker.run(stop, idle_s=args.idle, on_run=_print_run)

    try:
        asyncio.run(run())
    except Exception:
        logger.exception("Unable to run the SMS worker")
        return EXIT_FAILED
    finally:
        worker.storage.close()
    print("stopped", flush=True)
    return EXIT_OK


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
    try:
        settings = _settings(args)
        found = asyncio.run(
            bootstrap.accounts_without_phone(settings=settings, after=args.after, limit=args.limit)
        )
    except (InvalidSetting, ValueError) as error:
        print(f"wattbook sms no-phone: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:
        logger.exception("Unable to list accounts without a phone number")
        return EXIT_FAILED
    for account in found:
        print(
            f"{account.account_number}\t{account.holder}\t{account.address}\t"
            f"{account.balance.yuan()}\t{account.unsent}"
        )
    print(f"{len(found)} account(s) without a mobile number", file=sys.stderr)
    return EXIT_OK


def _failed(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        found = asyncio.run(
            bootstrap.failed_sms(settings=settings, days=args.days, limit=args.limit)
        )
    except InvalidSetting as error:
        print(f"wattbook sms failed: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:
        logger.exception("Unable to list failed SMS")
        return EXIT_FAILED
    for message in found:
        print(
            f"{message.id}\t{message.account_number}\t{message.kind}\t{message.phone or '-'}\t"
            f"{message.failed_at.isoformat()}\t{message.attempts}\t{message.error}"
        )
    print(f"{len(found)} failed SMS in the last {args.days} day(s)", file=sys.stderr)
    return EXIT_OK


def _modem_sim(args: argparse.Namespace) -> int:
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
        print(f"wattbook modem-sim: {error}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    print("stopped", flush=True)
    return EXIT_OK
