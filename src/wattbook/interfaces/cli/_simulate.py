"""`wattbook simulate`: serve buses of virtual DDZY102 meters on TCP, like serial-to-TCP servers.

    wattbook simulate --listen 127.0.0.1:7001 --meters 051600000001-051600000032
    wattbook simulate --campus campus.toml --speed 60 --state sim-state.json

Stops cleanly on Ctrl-C or SIGTERM, writing the state file (if any) on the way out. SIGHUP
re-reads the campus file's faults and applies them to the running meters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

if TYPE_CHECKING:
    from wattbook.dlt645 import simulator

MAX_SPEED = 100_000
MAX_BAUD = 115_200


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `simulate` sub-command to the parser."""
    parser = _args.add_command(
        sub,
        "simulate",
        help="serve virtual DDZY102 meters on TCP (one port per RS-485 bus)",
        description="Serve buses of virtual DDZY102 meters speaking DL/T 645-2007 over TCP.",
        exits=(Exit.CANNOT_LISTEN,),
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--campus", type=Path, metavar="FILE", help="TOML campus file (buses, meters, faults)"
    )
    where.add_argument("--listen", metavar="HOST:PORT", help="serve one bus on this address")
    parser.add_argument(
        "--meters",
        metavar="RANGES",
        help="meters of the --listen bus: 051600000001-051600000032,051600000100",
    )
    parser.add_argument(
        "--baud",
        type=_args.non_negative_int(maximum=MAX_BAUD),
        default=2400,
        help="baud of the --listen bus; 0 answers at once, unpaced (2400)",
    )
    parser.add_argument(
        "--speed",
        type=_args.positive_int(maximum=MAX_SPEED),
        default=1,
        help=f"simulated seconds per real second, 1 to {MAX_SPEED} (1)",
    )
    parser.add_argument("--state", type=Path, metavar="FILE", help="JSON state file to resume")
    parser.add_argument(
        "--seed",
        type=_args.non_negative_int(maximum=2**63 - 1),
        default=None,
        help="seed of loads, drift, faults",
    )
    parser.add_argument(
        "--save-every",
        type=_args.positive_float(maximum=24 * 3600),
        default=30.0,
        metavar="S",
        help="state file interval in seconds (30)",
    )
    parser.set_defaults(handler=run)


def _spec(args: argparse.Namespace) -> simulator.CampusSpec:
    """Return the campus the arguments describe.

    :raises CampusSpecError: if they do not describe a valid campus.
    :raises OSError: if the campus file cannot be read.
    """
    from wattbook.dlt645 import simulator

    if args.campus is not None:
        return simulator.campus_spec_from_toml(
            args.campus.read_text(encoding="utf-8"), seed=args.seed
        )
    if not args.meters:
        raise simulator.CampusSpecError("--listen needs --meters")
    host, port = simulator.parse_listen(args.listen)
    seed = args.seed or 0
    meters = simulator.meter_specs(simulator.parse_meters(args.meters), seed=seed)
    bus = simulator.BusSpec(
        name="bus-1", host=host, port=port, meters=meters, baud=args.baud or None
    )
    return simulator.CampusSpec(buses=(bus,), seed=seed)


def run(args: argparse.Namespace) -> int:
    """Run the simulator until interrupted and return the exit code."""
    from wattbook.dlt645 import simulator
    from wattbook.dlt645.errors import TransportError

    try:
        spec = _spec(args)
        campus = simulator.Campus.from_spec(
            spec, speed=args.speed, state_path=args.state, save_interval_s=args.save_every
        )
    except (simulator.CampusSpecError, simulator.StateFileError, OSError) as exc:
        raise CommandFailed(str(exc), Exit.BAD_INPUT) from exc
    try:
        asyncio.run(_serve(campus, speed=args.speed, campus_file=args.campus, seed=args.seed))
    except TransportError as exc:
        raise CommandFailed(str(exc), Exit.CANNOT_LISTEN) from exc
    return Exit.OK


def _reload_faults(campus: simulator.Campus, campus_file: Path, seed: int | None) -> None:
    """Apply the faults the campus file now lists to the running meters (SIGHUP)."""
    from wattbook.dlt645 import simulator

    try:
        spec = simulator.campus_spec_from_toml(campus_file.read_text(encoding="utf-8"), seed=seed)
    except (simulator.CampusSpecError, OSError) as exc:
        print(f"wattbook simulate: faults not reloaded: {exc}", file=sys.stderr, flush=True)
        return
    changed = 0
    for bus in spec.buses:
        for meter in bus.meters:
            if meter.address in campus.devices:
                campus.set_faults(meter.address, bus.faults_of(meter.address))
                changed += 1
    print(f"faults reloaded for {changed} meter(s)", flush=True)


async def _serve(
    campus: simulator.Campus, *, speed: int, campus_file: Path | None, seed: int | None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(signum, stop.set)
    if campus_file is not None and hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(signal.SIGHUP, _reload_faults, campus, campus_file, seed)
    async with campus.serving() as endpoints:
        for endpoint in endpoints:
            print(
                f"bus {endpoint.bus}: {endpoint.meter_count} meter(s) on "
                f"tcp://{endpoint.host}:{endpoint.port} at {endpoint.baud or 'unpaced'} baud",
                flush=True,
            )
        state = f", state in {campus.state_path}" if campus.state_path else ""
        print(f"simulating at {speed}x real time{state}; Ctrl-C stops", flush=True)
        await stop.wait()
    print("stopped", flush=True)
