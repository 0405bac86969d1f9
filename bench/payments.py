"""Bench: bank callbacks per second through `wattbook serve`, half of them replays.

One claim: the bank endpoint keeps up with the bank. A SQLite database gets ``--accounts``
accounts under one auto top-up agreement and that many requested debits; then ``wattbook
serve`` (a separate process, as deployed) receives every debit's signed callback twice, in a
shuffled order, over ``--connections`` keep-alive connections. The baseline, measured in the
same run against the same server with the same client, is the trivial ``GET /livez``.
ratio = callbacks/s ÷ trivial requests/s (goal >= 0.3), and callbacks/s >= 2,000 (goal).
Afterwards it checks that nothing was credited twice: one payment per debit, the journal
equal to the balances. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

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


class AcceptingBank:
    async def request_debit(self, debit: payments.DebitRequest) -> None:
        return None


async def prepare(url: str, count: int) -> list[payments.DebitRequest]:
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
                amount=Money(fen=5000),
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
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def drive(port: int, requests: list[bytes], connections: int) -> tuple[float, list[int]]:
    """Send ``requests`` over keep-alive connections; return seconds and status codes."""
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for index, raw in enumerate(requests):
        queue.put_nowait((index, raw))
    statuses = [0] * len(requests)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
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
                await reader.readexactly(length)
                statuses[index] = int(status_line.split()[1])
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        debits = asyncio.run(prepare(url, args.accounts))
        at = datetime.now(SHANGHAI)  # the server runs on the system clock: inside its window
        callbacks: list[bytes] = []
        for index, debit in enumerate(debits):
            body = bank.encode_callback(
                payments.BankCallback(
                    serial=f"BENCH{index:08d}",
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
            callbacks.append(request("POST", "/bank/callbacks", body, headers))
        stream = callbacks * 2  # every callback replayed once: half the stream is replays
        random.Random(7).shuffle(stream)
        trivial = [request("GET", "/livez")] * len(stream)

        server = Server(url, free_port(), Path(tmp) / "server.log")
        server.start()
        try:
            asyncio.run(drive(server.port, trivial[:500], args.connections))  # warm-up
            trivial_s, trivial_status = asyncio.run(drive(server.port, trivial, args.connections))
            callback_s, callback_status = asyncio.run(drive(server.port, stream, args.connections))
        finally:
            server.stop()

        engine = sa.create_engine(url)
        with engine.connect() as connection:
            paid, paid_fen = connection.execute(
                sa.text("SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payments")
            ).one()
            journal, cached = connection.execute(
                sa.text(
                    "SELECT (SELECT SUM(amount_fen) FROM ledger_entries),"
                    " (SELECT SUM(balance_fen) FROM balances)"
                )
            ).one()
        engine.dispose()

    trivial_rate = len(trivial) / trivial_s
    callback_rate = len(stream) / callback_s
    double_credits = paid - len(debits)
    result = {
        "bench": "payments",
        "backend": "sqlite",
        "callbacks": len(stream),
        "replays": len(stream) - len(debits),
        "connections": args.connections,
        "callbacks_per_s": round(callback_rate),
        "trivial_per_s": round(trivial_rate),
        "ratio": round(callback_rate / trivial_rate, 3),
        "goal_ratio": 0.3,
        "goal_callbacks_per_s": 2000,
        "non_200": sum(1 for s in callback_status + trivial_status if s != 200),
        "double_credits": double_credits,
        "balance_equals_journal": journal == cached == paid_fen,
        "met": callback_rate / trivial_rate >= 0.3
        and callback_rate >= 2000
        and double_credits == 0
        and paid_fen == 5000 * len(debits),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
