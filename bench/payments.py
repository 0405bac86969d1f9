"""Bench: first-time bank callbacks per second through `wattbook serve`, replays apart.

One claim: the bank endpoint keeps up with the bank on callbacks it has never seen, each
committed durably (synchronous=FULL) before it is answered. A SQLite database gets one account
per callback under one auto top-up agreement, and that many requested debits. Then ``wattbook
serve`` (a separate process, as deployed, on uvloop) is driven at 1, 8 and 200 keep-alive
connections; at each count, in this order:

- the baseline: the trivial ``GET /livez``, same server, same client;
- first-time callbacks: each debit's signed success, never sent before (fresh debits for each
  connection count), in a shuffled order;
- replays: the same callbacks again (the endpoint answers a replay it remembers from memory;
  reported apart, never mixed into the first-time figure).

first_time_ratio = first-time callbacks/s ÷ trivial requests/s at the same connection count
(the goal, at 200 connections: >= 0.3). The same server on asyncio's own loop is measured at
200 connections too (``--loop asyncio``), for the uvloop figure. At the end the ledger is read:
one top-up entry per debit called back (zero double credit), the journal equal to the
balances. Absolute rates are printed beside the ratios. The machine may be shared: the ratios
are measured in the same run, against the same server. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from wattbook import bootstrap
from wattbook.adapters import bank
from wattbook.application.accounts.open_account import open_account
from wattbook.application.payments import bank as bank_cases
from wattbook.domain import accounts, payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money, local_date
from wattbook.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.web.server import SECRET, Server, free_port

CONNECTIONS = (1, 8, 200)
# First-time callbacks per connection count: enough for a few seconds each.
FIRST_TIME = {1: 300, 8: 1200, 200: 3000}
TRIVIAL = 3000
# Each stream is measured in this many interleaved slices (see measure).
ROUNDS = 5
AMOUNT_FEN = 5000
GOAL_RATIO = 0.3


class AcceptingBank:
    async def request_debit(self, debit: payments.DebitRequest) -> None:
        return None


async def prepare(url: str, count: int) -> list[payments.DebitRequest]:
    """Open ``count`` accounts under one agreement and request a debit for each."""
    settings = Settings(database_url=url)
    bootstrap.migrate(settings)
    storage = bootstrap.build_storage(settings)
    numbers = [AccountNumber(value=f"0517{i:08d}") for i in range(count)]
    try:
        for number in numbers:
            await open_account(
                uow=storage.uow_factory(),
                clock=storage.clock,
                number=number,
                holder=accounts.Holder(name="张三"),
                phone=accounts.PhoneNumber(digits="13800138000"),
                address=accounts.Address(text="丙6-1-801"),
            )
        await bank_cases.register_agreement(
            uow=storage.uow_factory(),
            clock=storage.clock,
            agreement=payments.Agreement(
                agreement_number="AG-BENCH",
                holder="张三",
                id_number_masked="320311********1234",
                card_token="CARD-BENCH",  # noqa: S106 - the bank's card token
                card_masked="6217 **** **** 0001",
                phone="13800138000",
                account_numbers=tuple(numbers),
                threshold=Money(fen=2000),
                amount=Money(fen=AMOUNT_FEN),
                signed_on=local_date(storage.clock.now()),
            ),
        )
        run = await bank_cases.run_auto_top_up(
            uow_factory=storage.uow_factory,
            clock=storage.clock,
            bank=AcceptingBank(),
            limit=count,
        )
        return list(run.requested)
    finally:
        storage.close()


def request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def callback_request(debit: payments.DebitRequest, serial: str, at: datetime) -> bytes:
    body = bank.encode_callback(
        payments.BankCallback(
            serial=serial,
            debit_id=debit.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=debit.amount,
            at=at,
        )
    )
    headers = {
        "Content-Type": "application/json",
        bank.SIGNATURE_HEADER: bank.sign(SECRET.encode(), body),
    }
    return request("POST", "/bank/callbacks", body, headers)


class Connections:
    """Keep-alive connections to the server, opened once and reused by every slice."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __aenter__(self) -> Connections:
        for _ in range(self.count):
            self.streams.append(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for _reader, writer in self.streams:
            writer.close()

    async def send(self, requests: list[bytes]) -> tuple[float, list[int], list[bytes]]:
        """Send ``requests`` over the connections; return seconds, statuses and bodies."""
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        for index, raw in enumerate(requests):
            queue.put_nowait((index, raw))
        statuses = [0] * len(requests)
        bodies = [b""] * len(requests)

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while not queue.empty():
                index, raw = queue.get_nowait()
                writer.write(raw)
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                bodies[index] = await reader.readexactly(length)
                statuses[index] = int(status_line.split()[1])

        started = time.perf_counter()
        await asyncio.gather(*(worker(r, w) for r, w in self.streams))
        return time.perf_counter() - started, statuses, bodies


def run_client(main: Any) -> Any:
    """Run the load generator on uvloop when it is there: a cheaper client leaves the server
    as the bottleneck, for the trivial baseline above all."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def results_of(bodies: list[bytes]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for body in bodies:
        with contextlib.suppress(ValueError):
            result = str(json.loads(body).get("result"))
            counted[result] = counted.get(result, 0) + 1
    return counted


def server_cpu_s(pid: int) -> float:
    """Return the CPU seconds (user + system) the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    server: Server, connections: int, first: list[bytes], trivial_count: int
) -> dict[str, Any]:
    """Trivial, first-time and replay rates at ``connections``, on a running server."""
    return dict(run_client(_measure(server, connections, first, trivial_count)))


async def _measure(
    server: Server, connections: int, first: list[bytes], trivial_count: int
) -> dict[str, Any]:
    """Measure over one set of keep-alive connections (opened before any timing).

    The streams are cut into ROUNDS slices and interleaved (trivial, first-time, trivial,
    first-time, ..., then the replays): on a shared machine whose load drifts, each ratio
    then compares time spent under the same load.
    """
    assert server.process is not None, "started by the caller"
    pid = server.process.pid
    trivial = [request("GET", "/livez")] * trivial_count
    totals = {"trivial": [0.0, 0.0], "first": [0.0, 0.0], "replay": [0.0, 0.0]}
    statuses: list[int] = []
    first_bodies: list[bytes] = []
    replay_bodies: list[bytes] = []
    replays = list(first)
    random.Random(connections).shuffle(replays)
    async with Connections(server.port, connections) as pool:
        await pool.send(trivial[: min(500, trivial_count)])  # warm-up

        async def timed(name: str, piece: list[bytes], bodies: list[bytes] | None) -> None:
            cpu = server_cpu_s(pid)
            seconds, got, answered = await pool.send(piece)
            totals[name][0] += seconds
            totals[name][1] += server_cpu_s(pid) - cpu
            statuses.extend(got)
            if bodies is not None:
                bodies.extend(answered)

        for part in range(ROUNDS):
            await timed("trivial", trivial[part :: 2 * ROUNDS], None)
            await timed("first", first[part::ROUNDS], first_bodies)
            await timed("trivial", trivial[ROUNDS + part :: 2 * ROUNDS], None)
        for part in range(ROUNDS):
            await timed("replay", replays[part::ROUNDS], replay_bodies)
    trivial_rate = len(trivial) / totals["trivial"][0]
    first_rate = len(first) / totals["first"][0]
    replay_rate = len(replays) / totals["replay"][0]
    trivial_cpu_ms = 1000 * totals["trivial"][1] / len(trivial)
    first_cpu_ms = 1000 * totals["first"][1] / len(first)
    first_results = results_of(first_bodies)
    replay_results = results_of(replay_bodies)
    return {
        "trivial_per_s": round(trivial_rate),
        "first_time_per_s": round(first_rate),
        "replay_per_s": round(replay_rate),
        "first_time_ratio": round(first_rate / trivial_rate, 3),
        "replay_ratio": round(replay_rate / trivial_rate, 3),
        # The server's own CPU per request: steadier than wall time on a loaded machine.
        "trivial_server_cpu_ms": round(trivial_cpu_ms, 3),
        "first_time_server_cpu_ms": round(first_cpu_ms, 3),
        "replay_server_cpu_ms": round(1000 * totals["replay"][1] / len(replays), 3),
        "first_time_cpu_ratio": round(trivial_cpu_ms / first_cpu_ms, 3),
        "first_time": len(first),
        "first_time_answered_as_replay": first_results.get(payments.Settlement.REPLAY.value, 0),
        "replays_answered_as_replay": replay_results.get(payments.Settlement.REPLAY.value, 0),
        "non_200": sum(1 for s in statuses if s != 200),
    }


def ledger_check(url: str, called_back: int) -> dict[str, Any]:
    """Read the ledger: one top-up per debit called back, the journal equal to the balances."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            entries, credited_accounts, top_up_fen = connection.execute(
                sa.text(
                    "SELECT COUNT(*), COUNT(DISTINCT account_id), COALESCE(SUM(amount_fen), 0)"
                    " FROM ledger_entries WHERE kind = 'TOP_UP'"
                )
            ).one()
            paid = connection.execute(sa.text("SELECT COUNT(*) FROM payments")).scalar_one()
            journal, cached = connection.execute(
                sa.text(
                    "SELECT (SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries),"
                    " (SELECT COALESCE(SUM(balance_fen), 0) FROM balances)"
                )
            ).one()
    finally:
        engine.dispose()
    return {
        "top_up_entries": entries,
        "payments": paid,
        # One account per debit: a second top-up entry on an account is a double credit.
        "double_credits": entries - credited_accounts,
        "missing_credits": called_back - credited_accounts,
        "top_up_fen_as_expected": top_up_fen == AMOUNT_FEN * called_back,
        "balance_equals_journal": journal == cached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a small run (a tenth of the callbacks)"
    )
    parser.add_argument(
        "--no-asyncio",
        action="store_true",
        help="skip the comparison run on asyncio's own event loop",
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    first_counts = {c: max(FIRST_TIME[c] // scale, 50) for c in CONNECTIONS}
    trivial_count = TRIVIAL // scale
    compare = 0 if args.no_asyncio else first_counts[200]
    total = sum(first_counts.values()) + compare
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        started = time.perf_counter()
        debits = run_client(prepare(url, total))
        print(f"prepared {len(debits)} debits in {time.perf_counter() - started:.1f} s")
        at = datetime.now(SHANGHAI)  # the server runs on the system clock: inside its window
        callbacks = [callback_request(d, f"BENCH{i:08d}", at) for i, d in enumerate(debits)]
        random.Random(7).shuffle(callbacks)
        chunks: dict[str, list[bytes]] = {}
        offset = 0
        for c in CONNECTIONS:
            chunks[f"uvloop:{c}"] = callbacks[offset : offset + first_counts[c]]
            offset += first_counts[c]
        chunks["asyncio:200"] = callbacks[offset : offset + compare]

        figures: dict[str, dict[str, Any]] = {}
        server = Server(url, free_port(), Path(tmp) / "server.log", args=("--loop", "uvloop"))
        server.start()
        try:
            for c in CONNECTIONS:
                figures[str(c)] = measure(server, c, chunks[f"uvloop:{c}"], trivial_count)
                print(f"uvloop, {c} connections: {json.dumps(figures[str(c)])}")
        finally:
            server.stop()
        on_asyncio: dict[str, Any] | None = None
        if compare:
            server = Server(
                url, free_port(), Path(tmp) / "server-asyncio.log", args=("--loop", "asyncio")
            )
            server.start()
            try:
                on_asyncio = measure(server, 200, chunks["asyncio:200"], trivial_count)
                print(f"asyncio loop, 200 connections: {json.dumps(on_asyncio)}")
            finally:
                server.stop()
        ledger = ledger_check(url, called_back=total)
    print(f"ledger: {json.dumps(ledger)}")

    at_200 = figures["200"]
    clean = (
        all(f["non_200"] == 0 and f["first_time_answered_as_replay"] == 0 for f in figures.values())
        and ledger["double_credits"] == 0
        and ledger["missing_credits"] == 0
        and ledger["top_up_fen_as_expected"]
        and ledger["balance_equals_journal"]
    )
    result: dict[str, Any] = {
        "bench": "payments",
        "backend": "sqlite",
        "synchronous": "FULL",
        "loop": "uvloop",
        "load_average_at_start": round(load, 2),
        "first_time_ratio": at_200["first_time_ratio"],
        "goal_first_time_ratio": GOAL_RATIO,
        "first_time_per_s_at_200": at_200["first_time_per_s"],
        "first_time_cpu_ratio_at_200": at_200["first_time_cpu_ratio"],
        "trivial_per_s_at_200": at_200["trivial_per_s"],
        "replay_ratio_at_200": at_200["replay_ratio"],
        "by_connections": figures,
        "double_credits": ledger["double_credits"],
        "missing_credits": ledger["missing_credits"],
        "balance_equals_journal": ledger["balance_equals_journal"],
        "met": clean and at_200["first_time_ratio"] >= GOAL_RATIO,
    }
    if on_asyncio is not None:
        result["asyncio_loop_at_200"] = {
            k: on_asyncio[k]
            for k in (
                "trivial_per_s",
                "first_time_per_s",
                "replay_per_s",
                "first_time_ratio",
                "trivial_server_cpu_ms",
                "first_time_server_cpu_ms",
            )
        }
        result["uvloop_gain_first_time_at_200"] = round(
            at_200["first_time_per_s"] / on_asyncio["first_time_per_s"], 3
        )
        result["uvloop_cpu_saving_first_time_at_200"] = round(
            on_asyncio["first_time_server_cpu_ms"] / at_200["first_time_server_cpu_ms"], 3
        )
        result["uvloop_gain_trivial_at_200"] = round(
            at_200["trivial_per_s"] / on_asyncio["trivial_per_s"], 3
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
