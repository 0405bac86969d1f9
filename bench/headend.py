"""Claims: the head-end keeps many 2400-baud buses >= 90 % busy, and one core drives >= 1,000.

Method
------
A simulator *process* (``wattbook simulate --campus``) serves ``--buses`` buses of
``--meters`` virtual DDZY102 meters each on TCP, paced at 2400 baud 8E1 (11 bits a byte) with
the standard's minimum 20 ms answer delay, like serial-to-TCP servers in front of real lines.
This process runs the head-end's real loop on them: one :class:`BusPoller` per bus, through
the DL/T 645 meter gateway, with a poll plan that reads the energy block (0001FF00) of every
meter on every sweep; what is collected goes to the collection-sink port, here a counting sink
(the core's cost is not the head-end's: it runs in the core, in-process or behind a broker).

(a) reads/s per bus as a fraction of the bus limit. The limit is computed from the frames:
20 request bytes + 40 reply bytes at 2400 baud is 275 ms of wire time, plus the 20 ms answer
delay a meter needs at least, so 3.39 reads/s ("wire+Td"); the wire-only bound (3.64/s) is
reported too. Reads are counted as frames sent (the client's counters), so the window edge
may count one read per bus in flight: about +-3 % at 10 s. A bare dlt645 client loop on the
same buses, measured in the same run, is the
baseline: the head-end should match it.

(b) buses per core. The head-end process's CPU time (user + system, ``getrusage``) over the
measuring window, divided by the reads made, is the CPU cost of one bus read in the head-end
loop (the simulator's cost is in its own process and excluded). A bus at 90 % of its limit
needs ``cpu_per_read x 0.9 x limit`` core-seconds per second, so one core saturates, and the
fraction starts to fall below 0.9, at ``1 / (cpu_per_read x 0.9 x limit)`` buses.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from wattbook import dlt645
from wattbook.adapters.clock import SystemClock
from wattbook.adapters.meters import Dlt645GatewayFactory
from wattbook.application import ports
from wattbook.application.headend import ports as hp
from wattbook.application.headend.poller import BusPoller
from wattbook.domain import metering
from wattbook.domain.values import MeterNumber

BAUD = 2400
BITS_PER_BYTE = 11
ANSWER_DELAY_S = 0.02
REQUEST_BYTES = 20  # 4 FEH + 16
REPLY_BYTES = 40  # 4 FEH + 12 + L (24: DI + 5 x 4-byte registers)
PORT_BASE = 27100
FIRST_METER = 51600000001
# Every sweep reads every meter's energy block; the rest is read once and not again.
PLAN = hp.PollPlan(
    energy_every=dt.timedelta(microseconds=1),
    status_every=dt.timedelta(days=30),
    clock_every=dt.timedelta(days=30),
)


def wire_s(byte_count: int) -> float:
    return byte_count * BITS_PER_BYTE / BAUD


class CountingSink:
    """A collection sink that only counts (the core's work is not the head-end's)."""

    def __init__(self) -> None:
        self.readings = 0

    async def record_readings(self, readings: Sequence[metering.Reading]) -> None:
        self.readings += len(readings)

    async def record_meter_events(self, collection: hp.MeterCollection) -> None:
        return None

    async def record_communication(
        self, bus: str, outcomes: Sequence[hp.CommunicationOutcome]
    ) -> None:
        return None


def campus_file(path: Path, *, buses: int, meters: int) -> list[tuple[str, int, list[str]]]:
    layout = []
    lines = ["seed = 3", "history_months = 1", ""]
    number = FIRST_METER
    for index in range(buses):
        addresses = [f"{number + i:012d}" for i in range(meters)]
        number += meters
        port = PORT_BASE + index
        layout.append((f"bus-{index + 1}", port, addresses))
        lines += [
            "[[bus]]",
            f'name = "bus-{index + 1}"',
            f'listen = "127.0.0.1:{port}"',
            f"baud = {BAUD}",
            f'meters = ["{addresses[0]}-{addresses[-1]}"]',
            "",
        ]
    path.write_text("\n".join(lines))
    return layout


def wait_for_ports(ports: Sequence[int], *, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    for port in ports:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def bare_client(layout: list[tuple[str, int, list[str]]], seconds: float) -> int:
    """Return the reads made by plain dlt645 clients, one per bus, for the baseline."""
    reads = 0

    async def one(port: int, addresses: list[str]) -> None:
        nonlocal reads
        transport = dlt645.TcpTransport(host="127.0.0.1", port=port, baud=BAUD)
        client = dlt645.Client(transport, timeout=1.0, retries=1)
        async with transport:
            await client.read(address=addresses[0], di=0x0001FF00)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for address in addresses:
                    await client.read(address=address, di=0x0001FF00)
                    if time.monotonic() > end:
                        return  # only reads done inside the window count
                    reads += 1

    await asyncio.gather(*(one(port, addresses) for _, port, addresses in layout))
    return reads


async def headend(layout: list[tuple[str, int, list[str]]], seconds: float) -> tuple[int, float]:
    """Return the reads the head-end's pollers made in the window and the CPU they took."""
    clock = SystemClock()
    factory = Dlt645GatewayFactory(clock=clock)
    sink = CountingSink()
    configs = [
        hp.BusConfig(
            name=name,
            url=f"tcp://127.0.0.1:{port}",
            baud=BAUD,
            response_timeout=dt.timedelta(seconds=1),
            meters=tuple(
                hp.BusMeter(meter_number=MeterNumber(value=a), plan=PLAN) for a in addresses
            ),
        )
        for name, port, addresses in layout
    ]
    started = asyncio.Event()
    stop = asyncio.Event()
    ready: list[str] = []
    clients: list[dlt645.Client] = []

    async def run(bus: hp.BusConfig) -> None:
        async with factory(bus) as gateway:
            poller = BusPoller(
                bus=bus, gateway=gateway, sink=sink, clock=clock, uow_factory=_no_database
            )
            await poller.sweep()  # first contact: status, events, clock of every meter
            clients.append(gateway.client)
            ready.append(bus.name)
            await started.wait()
            while not stop.is_set():
                await poller.sweep()

    tasks = [asyncio.create_task(run(bus)) for bus in configs]
    # Let every bus finish its first-contact sweep, then measure steady polling only.
    while len(ready) < len(tasks) and not any(task.done() for task in tasks):
        await asyncio.sleep(0.1)

    def requests() -> int:
        # Frames on the wire, counted as they go: a sweep's readings reach the sink only at
        # its end, which would cut the window short by up to one sweep per bus.
        return sum(client.counters.requests for client in clients)

    begin_reads, begin_cpu = requests(), cpu_s()
    started.set()
    await asyncio.sleep(seconds)
    reads, used = requests() - begin_reads, cpu_s() - begin_cpu
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return reads, used


def _no_database() -> ports.UnitOfWork:
    raise RuntimeError("the bench queues no relay commands")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buses", type=int, default=40)
    parser.add_argument("--meters", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    limit = 1 / (wire_s(REQUEST_BYTES + REPLY_BYTES) + ANSWER_DELAY_S)
    wire_only = 1 / wire_s(REQUEST_BYTES + REPLY_BYTES)
    with tempfile.TemporaryDirectory() as directory:
        layout = campus_file(Path(directory) / "campus.toml", buses=args.buses, meters=args.meters)
        simulator_process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wattbook",
                "simulate",
                "--campus",
                str(Path(directory) / "campus.toml"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_for_ports([port for _, port, _ in layout])
            baseline_reads = asyncio.run(bare_client(layout, args.seconds / 2))
            reads, used = asyncio.run(headend(layout, args.seconds))
        finally:
            simulator_process.terminate()
            simulator_process.wait(timeout=10)
    baseline_per_bus = baseline_reads / (args.seconds / 2) / args.buses
    per_bus = reads / args.seconds / args.buses
    fraction = per_bus / limit
    cpu_per_read = used / reads
    buses_per_core = 1 / (cpu_per_read * 0.9 * limit)
    print(f"buses {args.buses} x {args.meters} meters at {BAUD} baud, {args.seconds} s")
    print(f"limit {limit:.3f} reads/s (wire+Td 20 ms), wire only {wire_only:.3f}")
    print(f"bare client: {baseline_per_bus:.3f} reads/s per bus ({baseline_per_bus / limit:.3f})")
    print(f"head-end:    {per_bus:.3f} reads/s per bus ({fraction:.3f} of the limit)")
    print(f"head-end CPU {used:.3f} s for {reads} reads: {cpu_per_read * 1e6:.1f} us per read")
    print(f"one core saturates at {buses_per_core:.0f} buses at 90 % of the limit")
    print(
        json.dumps(
            {
                "bench": "headend",
                "ratio": round(fraction, 3),
                "goal": 0.9,
                "reads_per_s_per_bus": round(per_bus, 3),
                "limit_reads_per_s": round(limit, 3),
                "wire_only_fraction": round(per_bus / wire_only, 3),
                "baseline_client_fraction": round(baseline_per_bus / limit, 3),
                "vs_baseline": round(per_bus / baseline_per_bus, 3),
                "buses": args.buses,
                "cpu_us_per_read": round(cpu_per_read * 1e6, 1),
                "buses_per_core": int(buses_per_core),
                "buses_per_core_goal": 1000,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
