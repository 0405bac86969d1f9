"""`wattbook headend`: collect from every configured bus and control every relay.

``wattbook headend run`` polls the buses stored in the database until interrupted, printing a
status line per bus every minute; ``wattbook headend add-bus`` stores a bus (URL, baud rate,
meters) for it to poll.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from wattbook.interfaces.cli import _args, _exits
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

if TYPE_CHECKING:
    from wattbook.application.headend.poller import BusActivity
    from wattbook.domain.values import MeterNumber

MAX_RANGE = 10_000
MAX_TIMEOUT_MS = 60_000
BAUD_RATES = (1200, 2400, 4800, 9600, 19200)
STATUS_EVERY_S = 60.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `headend` sub-command to the parser."""
    # --database-url is the parent's option; the actions list its exit codes too.
    parser = _args.add_command(
        sub,
        "headend",
        help="poll the meter buses, carry out relay commands, raise alarms",
        description="The head-end: one task per bus stored in the database.",
        database=True,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = _args.add_command(actions, "run", help="poll until interrupted", exits=_exits.DATABASE)
    run.add_argument("--bus", action="append", help="only this bus (repeatable)")
    run.add_argument(
        "--duration",
        type=_args.positive_float(maximum=366 * 24 * 3600),
        help="stop after this many seconds",
    )
    run.add_argument(
        "--status-every",
        type=_args.positive_float(maximum=24 * 3600),
        default=STATUS_EVERY_S,
        metavar="S",
        help=f"print a status line per bus every S seconds ({STATUS_EVERY_S:g})",
    )
    run.add_argument(
        "--no-jobs",
        action="store_true",
        help="do not run the scheduled jobs (held cuts, kiosk recovery, auto top-up, holiday "
        "check, SMS worker) here: another process (wattbook serve) runs them",
    )
    run.add_argument(
        "--broker",
        metavar="URL",
        help="publish collections to NATS JetStream at URL (nats://HOST:PORT) and take relay "
        "orders from it, instead of writing to the database (ADR 20); `wattbook ingest run` "
        "writes them",
    )
    run.add_argument(
        "--name",
        help="with --broker: this head-end's name, its subject on the broker (the host name)",
    )
    run.add_argument(
        "--spool",
        metavar="PATH",
        help="with --broker: the file kept while the broker cannot be reached "
        "(./wattbook-spool-NAME.jsonl)",
    )
    run.add_argument(
        "--spool-max-mb",
        type=_args.bounded_int(minimum=1, maximum=1024 * 1024),
        default=256,
        metavar="MB",
        help="with --broker: the spool's bound in MiB (256)",
    )
    run.set_defaults(handler=_run)
    add = _args.add_command(
        actions, "add-bus", help="store a bus and its meters", exits=_exits.DATABASE
    )
    add.add_argument("name")
    add.add_argument("url", help="tcp://HOST:PORT (port 1-65535) or serial:///dev/ttyX")
    add.add_argument(
        "--baud",
        type=int,
        choices=BAUD_RATES,
        default=2400,
        help=f"the bus's baud rate, one of {', '.join(map(str, BAUD_RATES))} (2400)",
    )
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
    from wattbook.domain.values import MeterNumber

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
    from wattbook import bootstrap
    from wattbook.application.headend.ports import BusConfig, BusMeter

    try:
        bus = BusConfig(
            name=args.name,
            url=args.url,
            baud=args.baud,
            response_timeout=dt.timedelta(milliseconds=args.timeout_ms),
            meters=tuple(BusMeter(meter_number=n) for n in parse_meter_numbers(args.meters)),
        )
    except ValueError as exc:  # InvalidMeterNumber is one
        raise CommandFailed(str(exc), Exit.BAD_INPUT) from exc
    asyncio.run(bootstrap.add_bus(bus=bus, database_url=_args.settings(args).database_url))
    print(f"bus {bus.name}: {bus.url} at {bus.baud} baud, {len(bus.meters)} meters")
    return Exit.OK


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


def status_line(name: str, now: BusActivity, before: BusActivity, *, at: dt.datetime) -> str:
    """Return one bus's status line: reachability, reads since ``before``, last reading's age."""
    if now.reachable is None:
        line = "not dialled yet"
    elif now.reachable:
        line = "reachable"
    else:
        line = f"UNREACHABLE ({now.error})" if now.error else "UNREACHABLE"
    ok = now.reads_ok - before.reads_ok
    failed = now.reads_failed - before.reads_failed
    if now.last_reading_at is None:
        age = "no reading yet"
    else:
        age = f"last reading {_age(at - now.last_reading_at)} ago"
    return f"bus {name}: {line}; reads ok {ok}, failed {failed} since the last line; {age}"


def _age(elapsed: dt.timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


async def _serve(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.headend.poller import BusActivity

    settings = _args.settings(args)
    if args.broker is None and (args.name or args.spool):
        raise CommandFailed("--name and --spool go with --broker", Exit.BAD_INPUT)
    runtime = await bootstrap.build_headend(
        database_url=settings.database_url,
        buses=args.bus,
        broker_url=args.broker,
        headend_name=args.name,
        spool_path=None if args.spool is None else Path(args.spool),
        spool_max_bytes=args.spool_max_mb * 1024 * 1024,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    headend = runtime.headend
    clock = runtime.storage.clock
    via = "" if runtime.link is None else f"; publishing to {args.broker} as {runtime.link.headend}"
    print(
        f"head-end: {len(headend.buses)} bus(es), "
        f"{sum(len(b.meters) for b in headend.buses)} meters; a status line per bus every "
        f"{args.status_every:g} s{via}",
        flush=True,
    )

    async def report() -> None:
        before = {name: BusActivity() for name, _ in headend.bus_activity()}
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=args.status_every)
            now = clock.now()
            for name, activity in headend.bus_activity():
                print(
                    status_line(name, activity, before.get(name, BusActivity()), at=now),
                    flush=True,
                )
                before[name] = activity

    tasks = [asyncio.create_task(runtime.run(stop)), asyncio.create_task(report())]
    if not args.no_jobs:
        jobs = bootstrap.build_scheduled_jobs(storage=runtime.storage)
        tasks.append(asyncio.create_task(jobs.run(stop)))
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        await runtime.aclose()
    return Exit.OK
