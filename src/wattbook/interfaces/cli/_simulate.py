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
import logging
import signal
import sys
from pathlib import Path

from wattbook.dlt645 import simulator
from wattbook.dlt645.errors import TransportError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CANNOT_LISTEN = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `simulate` sub-command to the parser."""
    parser = sub.add_parser(
        "simulate",
        help="serve virtual DDZY102 meters on TCP (one port per RS-485 bus)",
        description="Serve buses of virtual DDZY102 meters speaking DL/T 645-2007 over TCP.",
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
    parser.add_argument("--baud", type=int, default=2400, help="baud of the --listen bus")
    parser.add_argument(
        "--speed", type=int, default=1, help="simulated seconds per real second (e.g. 60)"
    )
    parser.add_argument("--state", type=Path, metavar="FILE", help="JSON state file to resume")
    parser.add_argument("--seed", type=int, default=None, help="seed of loads, drift, faults")
    parser.add_argument(
        "--save-every", type=float, default=30.0, metavar="S", help="state file interval"
    )
    parser.set_defaults(handler=run)


def _spec(args: argparse.Namespace) -> simulator.CampusSpec:
    """Return the campus the arguments describe.

    :raises CampusSpecError: if they do not describe a valid campus.
    :raises OSError: if the campus file cannot be read.
    """
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
    if args.speed < 1:
        print("wattbook simulate: --speed must be a positive integer", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        spec = _spec(args)
        campus = simulator.Campus.from_spec(
            spec, speed=args.speed, state_path=args.state, save_interval_s=args.save_every
        )
    except (simulator.CampusSpecError, simulator.StateFileError, OSError) as exc:
        print(f"wattbook simulate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        asyncio.run(_serve(campus, speed=args.speed, campus_file=args.campus, seed=args.seed))
    except TransportError as exc:
        print(f"wattbook simulate: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    return EXIT_OK


def _reload_faults(campus: simulator.Campus, campus_file: Path, seed: int | None) -> None:
    """Apply the faults the campus file now lists to the running meters (SIGHUP)."""
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
