"""Claim: one head-end process keeps 1,000 buses at 2400 baud >= 90 % of what the wire allows.

What is measured
----------------
Simulator *processes* (``wattbook simulate --campus``, ``--simulators`` of them, each serving a
slice of the buses) serve ``--buses`` buses of ``--meters`` virtual DDZY102 meters each on TCP,
paced at 2400 baud 8E1 (11 bits a byte) with the standard's minimum 20 ms answer delay, like
serial-to-TCP servers in front of real lines. This process runs the head-end's real loop on
them: one :class:`BusPoller` per bus (``BusPoller.run``, as ``wattbook headend run`` does),
through the DL/T 645 meter gateway, with a poll plan that reads the energy block (0001FF00) of
every meter on every sweep. What is collected goes to the collection-sink port, here a sink
that only keeps each reading's time (the core's cost is not the head-end's: it runs in the
core, in-process or behind a broker). Bus alarms go to a real, migrated SQLite database.

The headline: the wire-only fraction
------------------------------------
One read is a request frame and a reply frame on a half-duplex line. Counted as they are on
the wire, with the 4 FEH wake-up bytes in front of each, the request for 0001FF00 is 20 bytes
and its reply 40 (12 bytes of frame + DI + 5 x 4-byte registers); at 2400 baud and 11 bits a
byte that is 60 x 11 / 2400 = 275 ms, so the wire alone allows 1 / 0.275 s = 3.636 reads per
second per bus. That is the limit. Nothing else is in it: not the meter's answer delay (the
simulated meters wait the standard's minimum, 20 ms, which a real line pays too), not the
head-end's turnaround, not TCP. So a fraction of 1.0 cannot be reached: with the 20 ms answer
delay the best any master can do is 275 / 295 = 0.932 ("ceiling" in the output).

    wire_only_fraction = (reads completed per second per bus) / (1 / 275 ms)

A read is completed when its reply has been decoded into a reading (each reading carries the
time it was received); the count is of readings received inside the window. The window opens
once every bus has finished its first-contact sweep (status, events, clock of every meter)
and its steady loop has run for a second; each bus starts that loop at a random moment within
one read, so the buses are not in step and the count has no bias at the window's edges.
Failed reads count nothing (they are printed and must be zero).

Buses per core, from CPU time
-----------------------------
The head-end's CPU time (user + system of this process, ``getrusage``) over the same window,
divided by the reads completed in it, is what one read costs the head-end while it drives
``--buses`` buses (1,000 by default) from this one process; the simulators' cost is in their
own processes and excluded. ``buses_per_core = 1 / (cpu_per_read x 0.9 x wire-only limit)``
is how many buses one core keeps at the goal at that cost. It is measured at 1,000 buses, not
carried over from a small campus, and it is read from CPU time, not wall time, so a loaded
machine changes it little. Two cautions: the cost per read falls somewhat when the process
is starved (more replies are handled per wake-up), so it is printed beside the measured
``cores_used``; and a loaded machine delays the head-end's and the simulators' turns on the
CPU, which lowers the wire-only fraction without any change in the code. How long each
process waited, runnable, for a CPU (``/proc/PID/schedstat``) is printed as a fraction of the
window (``run_queue_wait_fraction``) so a reader can tell the two apart. The claim "one core
drives 1,000 buses at 0.9 of the wire" holds for a run where ``wire_only_fraction`` >= 0.9
and ``cores_used`` <= 1 at ``buses`` = 1000.

The baseline, in the same run: a bare dlt645 client loop (one per bus, no poller, no gateway)
on the same buses, with its own fraction and CPU per read.

``--profile FILE`` runs the head-end's window under cProfile and writes its statistics (the
figures of such a run are not the claim: the profiler costs CPU). The last line printed is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from wattbook import bootstrap, dlt645
from wattbook.adapters.clock import SystemClock
from wattbook.adapters.meters import Dlt645GatewayFactory
from wattbook.application.headend import ports as hp
from wattbook.application.headend.poller import BusPoller
from wattbook.domain import metering
from wattbook.domain.values import MeterNumber
from wattbook.settings import Settings

BAUD = 2400
BITS_PER_BYTE = 11
ANSWER_DELAY_S = 0.02  # what the simulated meters wait before answering (the standard's least)
PREAMBLE = 4  # FEH wake-up bytes in front of every frame, both ways
DI = 0x0001FF00
REPLY_BYTES = PREAMBLE + 12 + 4 + 5 * 4  # frame + DI + total and four tariff registers
GOAL = 0.9  # of the wire-only limit
# Each bus starts its loop at a random moment within one read, so that the buses' reads are
# not in step and a count of the reads that end inside the window has no edge bias.
READ_PERIOD_S = 0.3
WARM_UP_S = 1.0
PORT_BASE = 27100
FIRST_METER = 51600000001
# Every sweep reads every meter's energy block; the rest is read once and not again.
PLAN = hp.PollPlan(
    energy_every=dt.timedelta(microseconds=1),
    status_every=dt.timedelta(days=30),
    clock_every=dt.timedelta(days=30),
)

Layout = list[tuple[str, int, list[str]]]


def request_bytes() -> int:
    """Return the bytes of one energy-block read request on the wire, preamble included."""
    request = dlt645.messages.read_request(address=f"{FIRST_METER:012d}", di=DI)
    return len(request.encode(preamble=PREAMBLE))


def wire_s(byte_count: int) -> float:
    return byte_count * BITS_PER_BYTE / BAUD


class TimingSink:
    """A collection sink that keeps each reading's receive time and nothing else."""

    def __init__(self) -> None:
        self.received: list[dt.datetime] = []

    async def record_readings(self, readings: Sequence[metering.Reading]) -> None:
        self.received.extend(reading.received_at for reading in readings)

    async def record_meter_events(self, collection: hp.MeterCollection) -> None:
        return None

    async def record_communication(
        self, bus: str, outcomes: Sequence[hp.CommunicationOutcome]
    ) -> None:
        return None

    def between(self, begin: dt.datetime, end: dt.datetime) -> int:
        return sum(1 for at in self.received if begin <= at < end)


def campus_files(directory: Path, *, buses: int, meters: int, simulators: int) -> Layout:
    """Write one campus file per simulator process (buses dealt out in turn); return the layout."""
    layout: Layout = []
    lines: list[list[str]] = [["seed = 3", "history_months = 1", ""] for _ in range(simulators)]
    number = FIRST_METER
    for index in range(buses):
        addresses = [f"{number + i:012d}" for i in range(meters)]
        number += meters
        port = PORT_BASE + index
        layout.append((f"bus-{index + 1}", port, addresses))
        lines[index % simulators] += [
            "[[bus]]",
            f'name = "bus-{index + 1}"',
            f'listen = "127.0.0.1:{port}"',
            f"baud = {BAUD}",
            f'meters = ["{addresses[0]}-{addresses[-1]}"]',
            "",
        ]
    for index, text in enumerate(lines):
        (directory / f"campus-{index}.toml").write_text("\n".join(text))
    return layout


def wait_for_ports(ports: Sequence[int], *, timeout_s: float = 120.0) -> None:
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


def system_s() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def process_cpu_s(pids: Sequence[int]) -> float:
    """Return the CPU seconds (user + system) other processes have used, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def run_queue_wait_s(pids: Sequence[int | str]) -> float:
    """Return how long processes have waited, runnable, for a CPU (/proc/PID/schedstat).

    Time a process spends ready to run but not running is time the machine, not the code,
    takes from the wire: it is printed beside the fraction it lowers.
    """
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


async def bare_client(
    layout: Layout, seconds: float, simulators: Sequence[int]
) -> dict[str, float]:
    """Return what plain dlt645 clients, one per bus, read in ``seconds`` and the CPU used."""
    reads = failed = 0
    connected = 0
    go = asyncio.Event()
    stop = asyncio.Event()

    async def one(port: int, addresses: list[str]) -> None:
        nonlocal reads, failed, connected
        transport = dlt645.TcpTransport(host="127.0.0.1", port=port, baud=BAUD)
        client = dlt645.Client(transport, timeout=1.0, retries=1)
        async with transport:
            await client.read(address=addresses[0], di=DI)
            connected += 1
            await go.wait()
            await asyncio.sleep(stagger.uniform(0.0, READ_PERIOD_S))
            while not stop.is_set():
                for address in addresses:
                    try:
                        await client.read(address=address, di=DI)
                    except dlt645.NoResponse:
                        failed += 1  # a starved simulator can miss the 1 s timeout
                        continue
                    if stop.is_set():
                        return  # only reads done inside the window count
                    reads += 1

    stagger = random.Random(5)
    tasks = [asyncio.create_task(one(port, addresses)) for _, port, addresses in layout]
    while connected < len(tasks) and not any(task.done() for task in tasks):
        await asyncio.sleep(0.1)
    go.set()
    await asyncio.sleep(WARM_UP_S)
    reads = failed = 0
    begin_cpu, begin_sim, begin_wall = cpu_s(), process_cpu_s(simulators), time.monotonic()
    await asyncio.sleep(seconds)
    stop.set()
    result = {
        "reads": reads,
        "failed": failed,
        "wall_s": time.monotonic() - begin_wall,
        "cpu_s": cpu_s() - begin_cpu,
        "simulator_cpu_s": process_cpu_s(simulators) - begin_sim,
    }
    await asyncio.gather(*tasks)
    return result


async def headend(
    layout: Layout,
    seconds: float,
    database_url: str,
    simulators: Sequence[int],
    profile: cProfile.Profile | None,
) -> dict[str, float]:
    """Return what the head-end's pollers read in the window, their failures and CPU."""
    clock = SystemClock()
    storage = bootstrap.build_storage(Settings(database_url=database_url))
    factory = Dlt645GatewayFactory(clock=clock)
    sink = TimingSink()
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
    go = asyncio.Event()
    stop = asyncio.Event()
    pollers: list[BusPoller] = []
    stagger = random.Random(5)

    async def run(bus: hp.BusConfig) -> None:
        async with factory(bus) as gateway:
            poller = BusPoller(
                bus=bus, gateway=gateway, sink=sink, clock=clock, uow_factory=storage.uow_factory
            )
            await poller.sweep()  # first contact: status, events, clock of every meter
            pollers.append(poller)
            await go.wait()
            await asyncio.sleep(stagger.uniform(0.0, READ_PERIOD_S))
            await poller.run(stop)

    tasks = [asyncio.create_task(run(bus)) for bus in configs]
    try:
        # Let every bus finish its first-contact sweep, then measure steady polling only.
        while len(pollers) < len(tasks) and not any(task.done() for task in tasks):
            await asyncio.sleep(0.1)
        failed_before = sum(poller.activity.reads_failed for poller in pollers)
        go.set()
        await asyncio.sleep(WARM_UP_S)
        if profile is not None:
            profile.enable()
        begin, begin_cpu, begin_sim = clock.now(), cpu_s(), process_cpu_s(simulators)
        begin_wall, begin_system = time.monotonic(), system_s()
        begin_wait, begin_sim_wait = run_queue_wait_s(["self"]), run_queue_wait_s(simulators)
        await asyncio.sleep(seconds)
        end, used, simulator_used = clock.now(), cpu_s() - begin_cpu, process_cpu_s(simulators)
        system = system_s() - begin_system
        waited = run_queue_wait_s(["self"]) - begin_wait
        simulator_waited = run_queue_wait_s(simulators) - begin_sim_wait
        wall = time.monotonic() - begin_wall
        if profile is not None:
            profile.disable()
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        storage.close()
    return {
        "reads": sink.between(begin, end),
        "failed": sum(poller.activity.reads_failed for poller in pollers) - failed_before,
        "wall_s": wall,
        "cpu_s": used,
        "system_s": system,
        "run_queue_wait_s": waited,
        "simulator_run_queue_wait_s": simulator_waited,
        "simulator_cpu_s": simulator_used - begin_sim,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--buses", type=int, default=1000)
    parser.add_argument("--meters", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0, help="the head-end's window")
    parser.add_argument("--baseline-seconds", type=float, default=8.0)
    parser.add_argument("--simulators", type=int, default=2, help="simulator processes")
    parser.add_argument("--profile", type=Path, help="write the head-end's cProfile stats here")
    args = parser.parse_args(argv)
    read_wire_s = wire_s(request_bytes() + REPLY_BYTES)
    limit = 1 / read_wire_s
    ceiling = read_wire_s / (read_wire_s + ANSWER_DELAY_S)
    profile = cProfile.Profile(time.process_time) if args.profile else None
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        database_url = f"sqlite:///{folder / 'headend.db'}"
        bootstrap.migrate(Settings(database_url=database_url))
        layout = campus_files(
            folder, buses=args.buses, meters=args.meters, simulators=args.simulators
        )
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "wattbook", "simulate", "--campus", str(campus)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            for campus in sorted(folder.glob("campus-*.toml"))
        ]
        pids = [process.pid for process in processes]
        try:
            wait_for_ports([port for _, port, _ in layout])
            base = asyncio.run(bare_client(layout, args.baseline_seconds, pids))
            ours = asyncio.run(headend(layout, args.seconds, database_url, pids, profile))
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    if profile is not None:
        profile.dump_stats(args.profile)
    base_per_bus = base["reads"] / base["wall_s"] / args.buses
    per_bus = ours["reads"] / ours["wall_s"] / args.buses
    fraction = per_bus / limit
    cores_used = ours["cpu_s"] / ours["wall_s"]
    cpu_per_read = ours["cpu_s"] / ours["reads"]
    base_cpu_per_read = base["cpu_s"] / base["reads"]
    # Buses one core keeps at the goal, from the CPU one read cost in this run at --buses.
    buses_per_core = 1 / (cpu_per_read * GOAL * limit)
    simulator_cores = ours["simulator_cpu_s"] / ours["wall_s"]
    waiting = ours["run_queue_wait_s"] / ours["wall_s"]
    simulator_waiting = ours["simulator_run_queue_wait_s"] / ours["wall_s"] / args.simulators
    load = os.getloadavg()
    print(
        f"{args.buses} buses x {args.meters} meters at {BAUD} baud, "
        f"{args.simulators} simulator processes, head-end window {ours['wall_s']:.1f} s"
    )
    print(
        f"wire-only limit {limit:.3f} reads/s per bus ({request_bytes()} + {REPLY_BYTES} bytes "
        f"= {read_wire_s * 1000:.1f} ms); ceiling with the meters' 20 ms answer delay "
        f"{ceiling:.3f}"
    )
    print(
        f"bare client: {base['reads'] / base['wall_s']:.0f} reads/s, {base_per_bus:.3f} per bus "
        f"({base_per_bus / limit:.3f} of the wire), {base_cpu_per_read * 1e6:.1f} us CPU a read, "
        f"{base['failed']} failed reads"
    )
    print(
        f"head-end:    {ours['reads'] / ours['wall_s']:.0f} reads/s, {per_bus:.3f} per bus "
        f"({fraction:.3f} of the wire), {ours['failed']} failed reads"
    )
    print(
        f"head-end CPU {ours['cpu_s']:.2f} s in {ours['wall_s']:.2f} s: {cores_used:.3f} cores, "
        f"{cpu_per_read * 1e6:.1f} us a read ({ours['system_s'] / ours['cpu_s']:.0%} in the "
        f"kernel): one core keeps {buses_per_core:.0f} buses at {GOAL} of the wire"
    )
    print(
        f"waiting for a CPU while runnable: head-end {waiting:.0%} of the window, simulators "
        f"{simulator_waiting:.0%} each; simulators' CPU {simulator_cores:.3f} cores; "
        f"load average {load[0]:.2f} on {os.cpu_count()} cores"
    )
    print(
        json.dumps(
            {
                "bench": "headend",
                "wire_only_fraction": round(fraction, 3),
                "goal": GOAL,
                "ceiling_with_answer_delay": round(ceiling, 3),
                "buses": args.buses,
                "meters_per_bus": args.meters,
                "reads_per_s": round(ours["reads"] / ours["wall_s"], 1),
                "reads_per_s_per_bus": round(per_bus, 3),
                "wire_only_limit_per_bus": round(limit, 3),
                "failed_reads": ours["failed"],
                "window_s": round(ours["wall_s"], 2),
                "cpu_s": round(ours["cpu_s"], 3),
                "cpu_system_s": round(ours["system_s"], 3),
                "cores_used": round(cores_used, 3),
                "cpu_us_per_read": round(cpu_per_read * 1e6, 1),
                "buses_per_core": int(buses_per_core),
                "buses_per_core_goal": 1000,
                "run_queue_wait_fraction": round(waiting, 3),
                "baseline_client_fraction": round(base_per_bus / limit, 3),
                "baseline_cpu_us_per_read": round(base_cpu_per_read * 1e6, 1),
                "vs_baseline": round(per_bus / base_per_bus, 3),
                "simulator_processes": args.simulators,
                "simulator_cores_used": round(simulator_cores, 3),
                "simulator_run_queue_wait_fraction": round(simulator_waiting, 3),
                "load_average": round(load[0], 2),
                "profiled": profile is not None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
