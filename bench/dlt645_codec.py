"""Claim: wattbook's DL/T 645 codec encodes and decodes at least 2x as fast as dlt645 3.2.0.

The work, for both libraries, is the digest's baseline (reference §6.3): build the 11H read
request for meter 051600001234 / DI 00000000, then parse the meter's 91H reply carrying
1234.56 kWh down to the value. Both run in this process, interleaved, best of several rounds.
Needs the bench extra: `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import argparse
import json
import logging
import struct
import time
from collections.abc import Callable
from decimal import Decimal

from wattbook import dlt645

ADDRESS = "051600001234"
DI_TOTAL = 0x00000000
REPLY = dlt645.Frame(
    address=ADDRESS, control=0x91, data=bytes(4) + bytes.fromhex("56341200")
).encode()


def ours() -> Callable[[], object]:
    def pair() -> object:
        request = dlt645.read_request(address=ADDRESS, di=DI_TOTAL).encode()
        reply = dlt645.decode(REPLY)
        return request, dlt645.decode_value(reply.di, reply.payload)

    _, value = pair()  # type: ignore[misc]
    assert value == Decimal("1234.56"), value
    return pair


def theirs() -> Callable[[], object]:
    logging.disable(logging.CRITICAL)  # its logger must not be what we measure
    from dlt645.protocol.protocol import DLT645Protocol
    from dlt645.service.clientsvc.client_service import MeterClientService

    service = MeterClientService(None)
    service.address = bytearray(dlt645.address_to_wire(ADDRESS))
    di = struct.pack("<I", DI_TOTAL)

    def pair() -> object:
        request = DLT645Protocol.build_frame(service.address, 0x11, di)
        reply = DLT645Protocol.deserialize(REPLY)
        return request, service.handle_response(reply)

    _, item = pair()  # type: ignore[misc]
    assert abs(item.value - 1234.56) < 1e-9, item.value
    return pair


def rate(pair: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        pair()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    mine, base = ours(), theirs()
    mine_rates, base_rates = [], []
    for _ in range(args.rounds):
        base_rates.append(rate(base, args.pairs))
        mine_rates.append(rate(mine, args.pairs))
    best_mine, best_base = max(mine_rates), max(base_rates)
    print(f"wattbook.dlt645 : {best_mine:10.0f} pairs/s")
    print(f"dlt645 3.2.0    : {best_base:10.0f} pairs/s")
    print(
        json.dumps(
            {
                "bench": "dlt645_codec",
                "ratio": round(best_mine / best_base, 2),
                "goal": 2.0,
                "pairs_per_s": round(best_mine),
                "baseline_pairs_per_s": round(best_base),
                "baseline": "dlt645==3.2.0",
            }
        )
    )


if __name__ == "__main__":
    main()
