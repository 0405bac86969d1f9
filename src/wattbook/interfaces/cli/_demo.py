"""`wattbook demo`: the whole system on this machine, with a simulated campus.

It starts buses of virtual DDZY102 meters on TCP (like serial-to-TCP servers), polls every meter
over DL/T 645-2007 with wattbook's own client, one request in flight per bus, and shows what it
reads. It grows with the system: each part that lands (ledger, head-end, portal) joins it here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal

from wattbook import dlt645
from wattbook.dlt645 import simulator

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_CANNOT_LISTEN = 3

DI_ENERGY_BLOCK = 0x0001FF00
DI_POWER = 0x02030000
DI_STATUS_3 = 0x04000503
FIRST_ADDRESS = 51600000001  # 051600000001, the campus's first meter number


@dataclasses.dataclass(slots=True)
class MeterView:
    """What the demo last read from one meter."""

    address: str
    bus: str
    energy: dlt645.EnergyBlock | None = None
    power_kw: Decimal | None = None
    relay_open: bool | None = None
    error: str = ""


@dataclasses.dataclass(slots=True)
class BusView:
    """Traffic on one bus."""

    name: str
    url: str
    sweeps: int = 0
    reads: int = 0
    failures: int = 0


def campus_spec(
    *, buses: int, meters_per_bus: int, baud: int, port_base: int, seed: int
) -> simulator.CampusSpec:
    """Return the demo campus: ``buses`` buses of ``meters_per_bus`` meters, numbered on."""
    specs = []
    number = FIRST_ADDRESS
    for index in range(buses):
        addresses = [f"{number + i:012d}" for i in range(meters_per_bus)]
        number += meters_per_bus
        specs.append(
            simulator.BusSpec(
                name=f"bus-{index + 1}",
                host="127.0.0.1",
                port=port_base + index if port_base else 0,
                meters=simulator.meter_specs(addresses, seed=seed),
                baud=baud,
            )
        )
    return simulator.CampusSpec(buses=tuple(specs), seed=seed)


async def poll_bus(
    *,
    endpoint: simulator.Endpoint,
    addresses: Sequence[str],
    views: dict[str, MeterView],
    bus_view: BusView,
    pause_s: float,
) -> None:
    """Poll every meter of one bus forever: energy block, power, status word 3."""
    transport = dlt645.TcpTransport(host=endpoint.host, port=endpoint.port)
    client = dlt645.Client(transport, timeout=1.0, retries=1)
    async with transport:
        while True:
            for address in addresses:
                view = views[address]
                try:
                    energy = await client.read(address=address, di=DI_ENERGY_BLOCK)
                    power = await client.read(address=address, di=DI_POWER)
                    status = await client.read(address=address, di=DI_STATUS_3)
                except dlt645.DLT645Error as exc:
                    bus_view.failures += 1
                    view.error = type(exc).__name__
                    continue
                bus_view.reads += 3
                view.energy = energy if isinstance(energy, dlt645.EnergyBlock) else None
                view.power_kw = power if isinstance(power, Decimal) else None
                view.relay_open = (
                    status.relay_open if isinstance(status, dlt645.RunStatus3) else None
                )
                view.error = ""
            bus_view.sweeps += 1
            await asyncio.sleep(pause_s)


def render(views: Sequence[MeterView], buses: Sequence[BusView], *, meter_time: str) -> str:
    """Return the demo's screen as text."""
    lines = [
        f"wattbook demo - simulated campus, meter time {meter_time}",
        "",
        f"{'meter':<13} {'bus':<6} {'total kWh':>10} {'sharp':>8} {'peak':>8} {'flat':>8} "
        f"{'valley':>8} {'kW':>7}  relay",
    ]
    for view in views:
        if view.energy is None:
            lines.append(f"{view.address:<13} {view.bus:<6} {'(waiting)':>10} {view.error}")
            continue
        tariffs = [*view.energy.tariffs, *(Decimal(0),) * 4][:4]
        relay = "OPEN" if view.relay_open else "closed"
        lines.append(
            f"{view.address:<13} {view.bus:<6} {view.energy.total:>10} "
            + " ".join(f"{t:>8}" for t in tariffs)
            + f" {view.power_kw if view.power_kw is not None else '-':>7}  {relay}"
            + (f"  ({view.error})" if view.error else "")
        )
    lines.append("")
    for bus in buses:
        lines.append(
            f"{bus.name}: {bus.url}  sweeps {bus.sweeps}, reads {bus.reads}, "
            f"failed meters {bus.failures}"
        )
    return "\n".join(lines)


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo until interrupted or ``--duration`` has passed."""
    spec = campus_spec(
        buses=args.buses,
        meters_per_bus=args.meters,
        baud=args.baud,
        port_base=args.port_base,
        seed=args.seed,
    )
    campus = simulator.Campus.from_spec(spec, speed=args.speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with campus.serving() as endpoints:
        views: dict[str, MeterView] = {}
        bus_views: list[BusView] = []
        tasks = []
        for endpoint, bus_spec in zip(endpoints, spec.buses, strict=True):
            url = f"tcp://{endpoint.host}:{endpoint.port}"
            bus_view = BusView(name=endpoint.bus, url=url)
            bus_views.append(bus_view)
            addresses = [m.address for m in bus_spec.meters]
            for address in addresses:
                views[address] = MeterView(address=address, bus=endpoint.bus)
            tasks.append(
                asyncio.create_task(
                    poll_bus(
                        endpoint=endpoint,
                        addresses=addresses,
                        views=views,
                        bus_view=bus_view,
                        pause_s=args.interval,
                    )
                )
            )
        first = next(iter(views))
        print(
            f"wattbook demo: {len(views)} simulated DDZY102 meters on {len(endpoints)} bus(es), "
            f"clock x{args.speed}.\nTry, in another terminal:\n"
            f"  wattbook meter read --bus {bus_views[0].url} --address {first} energy tou status\n"
            f"  wattbook meter trip --bus {bus_views[0].url} --address {first}\n"
            "Ctrl-C stops.\n",
            flush=True,
        )
        try:
            deadline = loop.time() + args.duration if args.duration else None
            while not stop.is_set():
                timeout = args.refresh
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - loop.time()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=timeout)
                meter_time = campus.meter(first).meter_time().isoformat(sep=" ", timespec="seconds")
                print(render(list(views.values()), bus_views, meter_time=meter_time), flush=True)
                print(flush=True)
                if deadline is not None and loop.time() >= deadline:
                    break
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    failed = [t.exception() for t in tasks if not t.cancelled() and t.exception()]
    return EXIT_OK if not failed else 1


def _run(args: argparse.Namespace) -> int:
    if args.buses < 1 or args.meters < 1 or args.speed < 1:
        print("wattbook demo: --buses, --meters and --speed must be positive", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return asyncio.run(run_demo(args))
    except dlt645.TransportError as exc:
        print(
            f"wattbook demo: {exc}\nAnother program may use the port; try --port-base 0 "
            "(any free port) or another base.",
            file=sys.stderr,
        )
        return EXIT_CANNOT_LISTEN
    except KeyboardInterrupt:
        return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `demo` sub-command to the parser."""
    parser = sub.add_parser("demo", help="run the whole system on a simulated campus")
    parser.add_argument("--buses", type=int, default=2, help="simulated RS-485 buses (2)")
    parser.add_argument("--meters", type=int, default=8, help="meters per bus (8)")
    parser.add_argument("--baud", type=int, default=9600, help="bus baud rate (9600)")
    parser.add_argument("--speed", type=int, default=60, help="simulated seconds per second (60)")
    parser.add_argument(
        "--port-base",
        type=int,
        default=7001,
        help="first bus's TCP port, the next buses count up; 0 = any free port",
    )
    parser.add_argument(
        "--interval", type=float, default=2.0, help="pause between sweeps of a bus, seconds (2)"
    )
    parser.add_argument("--refresh", type=float, default=5.0, help="screen refresh, seconds (5)")
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (0 = run until Ctrl-C)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="seed of the simulated campus")
    parser.set_defaults(handler=_run)
