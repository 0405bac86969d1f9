"""Claim: the client keeps a simulated 2400-baud RS-485 bus at least 90 % busy.

One bus of virtual DDZY102 meters is served on TCP at 2400 baud, 8E1 (11 bits a byte) with the
standard's minimum answer delay (20 ms), exactly like a serial-to-TCP server in front of a real
bus. The client polls the meters round-robin with the energy block read (0001FF00: total and
four tariffs in one exchange). The wire limit is computed from the frame sizes actually
exchanged: reads/s if request and reply followed each other with no gap at all. The figure is
the measured reads/s as a fraction of that limit (goal >= 0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from wattbook import dlt645
from wattbook.dlt645 import simulator

BAUD = 2400
BITS_PER_BYTE = 11  # start + 8 data + even parity + stop
DI_ENERGY_BLOCK = 0x0001FF00


class CountingTransport(dlt645.TcpTransport):
    """A TCP transport that counts the bytes that cross it both ways."""

    def __init__(self, *, host: str, port: int) -> None:
        super().__init__(host=host, port=port, baud=BAUD)
        self.bytes_out = 0
        self.bytes_in = 0

    async def write(self, data: bytes) -> None:
        self.bytes_out += len(data)
        await super().write(data)

    async def read(self, *, timeout: float) -> bytes:
        data = await super().read(timeout=timeout)
        self.bytes_in += len(data)
        return data


async def measure(*, meters: int, seconds: float) -> dict[str, object]:
    addresses = [f"{51600000001 + i:012d}" for i in range(meters)]
    bus = simulator.BusSpec(
        name="bus-1",
        host="127.0.0.1",
        port=0,
        meters=simulator.meter_specs(addresses, seed=1),
        baud=BAUD,
    )
    campus = simulator.Campus.from_spec(simulator.CampusSpec(buses=(bus,), seed=1))
    async with campus.serving() as endpoints:
        transport = CountingTransport(host=endpoints[0].host, port=endpoints[0].port)
        client = dlt645.Client(transport, timeout=1.0, retries=1)
        async with transport:
            await client.read(address=addresses[0], di=DI_ENERGY_BLOCK)  # connect and warm up
            transport.bytes_in = transport.bytes_out = 0
            reads = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                await client.read(address=addresses[reads % meters], di=DI_ENERGY_BLOCK)
                reads += 1
            elapsed = time.perf_counter() - started
    wire_s_per_read = (transport.bytes_in + transport.bytes_out) / reads * BITS_PER_BYTE / BAUD
    limit = 1 / wire_s_per_read
    rate = reads / elapsed
    return {
        "reads": reads,
        "reads_per_s": rate,
        "wire_limit_reads_per_s": limit,
        "bytes_per_read": (transport.bytes_in + transport.bytes_out) / reads,
        "counters": client.counters,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    result = asyncio.run(measure(meters=args.meters, seconds=args.seconds))
    rate = float(result["reads_per_s"])  # type: ignore[arg-type]
    limit = float(result["wire_limit_reads_per_s"])  # type: ignore[arg-type]
    print(f"reads            : {result['reads']} in {args.seconds:g} s ({rate:.3f}/s)")
    print(f"bytes per read   : {float(result['bytes_per_read']):.1f} (request + reply)")  # type: ignore[arg-type]
    print(f"wire limit       : {limit:.3f} reads/s at {BAUD} baud, 8E1")
    print(f"client counters  : {result['counters']}")
    print(
        json.dumps(
            {
                "bench": "bus_utilisation",
                "ratio": round(rate / limit, 3),
                "goal": 0.9,
                "reads_per_s": round(rate, 3),
                "wire_limit_reads_per_s": round(limit, 3),
                "baud": BAUD,
            }
        )
    )


if __name__ == "__main__":
    main()
