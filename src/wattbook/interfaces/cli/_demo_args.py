"""`wattbook demo`: its options and start (light: the demo itself is in ``_demo``)."""

from __future__ import annotations

import argparse

from wattbook.interfaces.cli import _args, _loop
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

MAX_BUSES = 64
MAX_METERS = 1000
MAX_SPEED = 100_000
MAX_DAYS = 366
DAYS_SPEED = 8_640  # a simulated day in 10 seconds
BAUD_RATES = (1200, 2400, 4800, 9600, 19200)


def _run(args: argparse.Namespace) -> int:
    if args.load_web is None:
        raise CommandFailed(
            "this entry point has no web interface: run `wattbook demo`", Exit.FAILED
        )
    from wattbook import dlt645
    from wattbook.interfaces.cli import _demo

    try:
        _demo.parse_start(args.start)
    except ValueError as error:
        raise CommandFailed(
            f"--start must be auto, now or an ISO time, not {args.start!r}", Exit.BAD_INPUT
        ) from error
    try:
        return _loop.run(_demo.run_demo(args))
    except _demo.DemoAlreadyRunning as error:
        raise CommandFailed(str(error), Exit.FAILED) from error
    except (OSError, dlt645.TransportError) as error:  # the web's CannotListen is an OSError
        raise CommandFailed(
            f"{error}; another program may use the port: try --port-base 0 (any free port) "
            "or --web-port",
            Exit.CANNOT_LISTEN,
        ) from error
    except KeyboardInterrupt:
        return Exit.OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` sub-command to the parser."""
    parser = _args.add_command(
        sub,
        "demo",
        help="run the whole system on a simulated campus",
        description="Run the whole system in one process on SQLite: simulated RS-485 buses of "
        "meters, the head-end, the prepaid rules, the scheduled jobs, the SMS worker, a "
        "simulated bank and the web app, in accelerated time, on a campus scripted so that "
        "every rule fires in the first minutes. The folder keeps the campus: the next start "
        "goes on where the last one stopped (--fresh starts over).",
        exits=(Exit.CANNOT_LISTEN, Exit.DIFFERENCES),
    )
    parser.add_argument(
        "--buses",
        type=_args.positive_int(maximum=MAX_BUSES),
        default=8,
        help=f"simulated RS-485 buses, 1 to {MAX_BUSES} (8; a new campus only)",
    )
    parser.add_argument(
        "--meters",
        type=_args.positive_int(maximum=MAX_METERS),
        default=25,
        help=f"meters per bus, 1 to {MAX_METERS} (25; a new campus only)",
    )
    parser.add_argument(
        "--baud",
        type=int,
        choices=BAUD_RATES,
        default=19200,
        help="bus baud rate (19200: 25 meters a bus are swept in about 10 seconds)",
    )
    parser.add_argument(
        "--speed",
        type=_args.positive_int(maximum=MAX_SPEED),
        default=None,
        help=f"simulated seconds per second, 1 to {MAX_SPEED} (60; {DAYS_SPEED} with --days)",
    )
    parser.add_argument(
        "--start",
        default="auto",
        help="when a new campus's world starts: auto (23:00 on the evening before the next "
        "day without cuts), now, or an ISO time",
    )
    parser.add_argument(
        "--port-base",
        type=_args.port(allow_zero=True),
        default=7001,
        help="first bus's TCP port, the next buses count up; 0 = any free port",
    )
    parser.add_argument(
        "--web-port", type=_args.port(allow_zero=True), default=8000, help="web app port (8000)"
    )
    parser.add_argument(
        "--kiosk-port",
        type=_args.port(allow_zero=True),
        default=None,
        help="kiosk agent port (8400; any free port when --web-port is 0)",
    )
    parser.add_argument(
        "--data-dir", default="var/demo", help="the demo's folder: database, meters, script"
    )
    parser.add_argument(
        "--fresh", action="store_true", help="start a new campus (the folder's is deleted)"
    )
    parser.add_argument(
        "--days",
        type=_args.positive_int(maximum=MAX_DAYS),
        default=None,
        help="live this many simulated days, then print the month-end statements against the "
        f"journal and stop (1 to {MAX_DAYS})",
    )
    parser.add_argument(
        "--refresh",
        type=_args.positive_float(maximum=3600.0),
        default=5.0,
        help="seconds between status lines when the output is not a terminal (5)",
    )
    parser.add_argument(
        "--duration",
        type=_args.non_negative_float(maximum=366 * 24 * 3600.0),
        default=0.0,
        help="stop after this many seconds (0 = run until Ctrl-C)",
    )
    parser.add_argument(
        "--seed",
        type=_args.non_negative_int(maximum=2**63 - 1),
        default=2026,
        help="seed of the simulated campus",
    )
    parser.set_defaults(handler=_run)
