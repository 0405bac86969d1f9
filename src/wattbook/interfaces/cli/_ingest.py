"""`wattbook ingest`: write what head-ends publish on the broker into the database (ADR 20).

``wattbook ingest run --broker nats://HOST:PORT`` takes the head-ends' collections in batches
from the one shared durable consumer and writes them through the core's use cases; it also
hands due relay commands to the head-ends. Run as many as the database can keep busy: they
share the work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from wattbook.interfaces.cli import _args, _exits
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

STATUS_EVERY_S = 60.0
MAX_BATCH = 10_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `ingest` sub-command to the parser."""
    parser = _args.add_command(
        sub,
        "ingest",
        help="write what head-ends publish on the broker into the database",
        description="The core's side of the broker: head-ends publish, ingest workers write.",
        database=True,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = _args.add_command(
        actions,
        "run",
        help="ingest until interrupted",
        exits=(*_exits.DATABASE, Exit.BROKER_UNREACHABLE),
    )
    run.add_argument(
        "--broker", required=True, metavar="URL", help="NATS JetStream at URL (nats://HOST:PORT)"
    )
    run.add_argument(
        "--batch",
        type=_args.bounded_int(minimum=1, maximum=MAX_BATCH),
        default=256,
        help="messages taken at once, written in one transaction per kind (256)",
    )
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
        help=f"print a status line every S seconds ({STATUS_EVERY_S:g})",
    )
    run.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.headend.broker_ports import BrokerUnavailable

    settings = _args.settings(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    try:
        async with bootstrap.ingest_worker(
            broker_url=args.broker, database_url=settings.database_url, batch=args.batch
        ) as runtime:
            worker = runtime.worker
            print(f"ingest: taking batches of {args.batch} from {args.broker}", flush=True)

            async def report() -> None:
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=args.status_every)
                    counts = worker.counts
                    print(
                        f"ingest: {counts.messages} messages, {counts.readings} readings, "
                        f"{counts.retried} handed back, {counts.orders} relay orders published",
                        flush=True,
                    )

            await asyncio.gather(worker.run(stop), report())
    except BrokerUnavailable as exc:
        raise CommandFailed(str(exc), Exit.BROKER_UNREACHABLE) from exc
    return Exit.OK
