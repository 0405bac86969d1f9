"""`wattbook headend`: collect from every configured bus and control every relay (issue 4).

``wattbook headend run`` polls the buses stored in the database until interrupted;
``wattbook headend add-bus`` stores a bus (URL, baud rate, meters) for it to poll.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sys

from wattbook import bootstrap
from wattbook.application.headend_ports import BusConfig, BusMeter
from wattbook.domain.values import InvalidMeterNumber, MeterNumber
from wattbook.interfaces.cli import _args
from wattbook.settings import DATABASE_URL_VARIABLE

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = _args.EXIT_USAGE
MAX_RANGE = 10_000
MAX_TIMEOUT_MS = 60_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `headend` sub-command to the parser."""
    parser = sub.add_parser(
        "headend",
        help="poll the meter buses, carry out relay commands, raise alarms",
        description="The head-end: one task per bus stored in the database.",
        epilog=_args.EXIT_CODES_EPILOG,
    )
    parser.add_argument("--database-url", help=f"overrides {DATABASE_URL_VARIABLE}")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="poll until interrupted", epilog=_args.EXIT_CODES_EPILOG)
    run.add_argument("--bus", action="append", help="only this bus (repeatable)")
    run.add_argument(
        "--duration",
        type=_args.positive_float(maximum=366 * 24 * 3600),
        help="stop after this many seconds",
    )
    run.add_argument(
        "--no-jobs",
        action="store_true",
        help="do not run the scheduled jobs (held cuts, kiosk recovery, auto top-up, holiday "
        "check, SMS worker) here: another process (wattbook serve) runs them",
    )
    run.set_defaults(handler=_run)
    add = actions.add_parser(
        "add-bus", help="store a bus and its meters", epilog=_args.EXIT_CODES_EPILOG
    )
    add.add_argument("name")
    add.add_argument("url", help="tcp://HOST:PORT (port 1-65535) or serial:///dev/ttyX")
    add.add_argument("--baud", type=int, default=2400, help="1200, 2400, 4800, 9600 or 19200")
    add.add_argument(
        "--timeout-ms",
        type=_args.bounded_int(minimum=1, maximum=MAX_TIMEOUT_MS),
        default=1000,
        help=f"reply timeout, 1 to {MAX_TIMEOUT_MS} (1000)",
    )
    add.add_argument(
        "--meters", required=True, help="meter numbers and ranges: 051600000001-051600000032,..."
    )
    add.set_defaults(handler=_add_bus)


def parse_meter_numbers(text: str) -> tuple[MeterNumber, ...]:
    """Return the meter numbers of "A-B,C,...".

    :raises ValueError: if a number is not 12 digits or a range is backwards or too large.
    """
    numbers: list[MeterNumber] = []
    for part in (item.strip() for item in text.split(",") if item.strip()):
        first, dash, last = part.partition("-")
        if not dash:
            numbers.append(MeterNumber(value=first))
            continue
        low, high = MeterNumber(value=first), MeterNumber(value=last)
        if not 0 <= int(str(high)) - int(str(low)) < MAX_RANGE:
            raise ValueError(f"meter range {part} is backwards or too large")
        numbers.extend(
            MeterNumber(value=f"{n:012d}") for n in range(int(str(low)), int(str(high)) + 1)
        )
    return tuple(numbers)


def _add_bus(args: argparse.Namespace) -> int:
    try:
        bus = BusConfig(
            name=args.name,
            url=args.url,
            baud=args.baud,
            response_timeout=dt.timedelta(milliseconds=args.timeout_ms),
            meters=tuple(BusMeter(meter_number=n) for n in parse_meter_numbers(args.meters)),
        )
    except (ValueError, InvalidMeterNumber) as exc:
        print(f"wattbook headend add-bus: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        asyncio.run(bootstrap.add_bus(bus=bus, database_url=args.database_url))
    except Exception:
        logger.exception("Unable to store bus %s", args.name)
        return EXIT_FAILED
    print(f"bus {bus.name}: {bus.url} at {bus.baud} baud, {len(bus.meters)} meters")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve(args))
    except Exception:
        logger.exception("Unable to run the head-end")
        return EXIT_FAILED


async def _serve(args: argparse.Namespace) -> int:
    runtime = await bootstrap.build_headend(database_url=args.database_url, buses=args.bus)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    buses = runtime.headend.buses
    print(f"head-end: {len(buses)} bus(es), {sum(len(b.meters) for b in buses)} meters")
    tasks = [asyncio.create_task(runtime.headend.run(stop))]
    if not args.no_jobs:
        jobs = bootstrap.build_scheduled_jobs(storage=runtime.storage)
        tasks.append(asyncio.create_task(jobs.run(stop)))
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        runtime.close()
    return EXIT_OK
