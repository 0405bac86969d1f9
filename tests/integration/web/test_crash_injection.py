"""kill -9 the server at random points while kiosk notes and bank callbacks stream in.

Like a real kiosk and a real bank, the clients retry every step until the server answers;
every step is idempotent. At the end every acknowledged note and callback is credited
exactly once, and every balance equals its journal.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.integration.web.kiosk_client import KioskAuth, register_kiosk
from tests.integration.web.server import SECRET, Server, free_port, seed

from wattbook import bootstrap
from wattbook.adapters import bank
from wattbook.application.payments import bank as bank_cases
from wattbook.application.payments import kiosk
from wattbook.domain import payments
from wattbook.domain.values import SHANGHAI, AccountNumber, Money
from wattbook.settings import Settings

KIOSK_ACCOUNTS = [f"05160000{i:04d}" for i in range(1, 5)]
BANK_ACCOUNTS = [f"05160001{i:04d}" for i in range(1, 61)]
KILLS = 8
NOTES = (100, 500, 1000, 2000, 5000, 10000)


class AcceptingBank:
    async def request_debit(self, debit: payments.DebitRequest) -> None:
        return None


def prepare(url: str) -> tuple[list[payments.DebitRequest], str]:
    """Seed accounts, one agreement for the bank accounts, today's debits, and kiosk K01;
    return the debits and the kiosk's secret."""
    seed(url, KIOSK_ACCOUNTS + BANK_ACCOUNTS)
    storage = bootstrap.build_storage(Settings(database_url=url))
    today = storage.clock.now().astimezone(SHANGHAI).date()
    agreement = payments.Agreement(
        agreement_number="AG-CRASH",
        holder="张三丰",
        id_number_masked="320311********1234",
        card_token="TOKEN-CRASH",  # noqa: S106 - the bank's card token
        card_masked="6217 **** **** 3333",
        phone="13800138000",
        account_numbers=tuple(AccountNumber(value=n) for n in BANK_ACCOUNTS),
        threshold=Money(fen=20000),
        amount=Money(fen=5000),
        signed_on=today,
    )

    async def run() -> tuple[list[payments.DebitRequest], str]:
        secret = await register_kiosk(storage.uow_factory, storage.clock, "K01")
        await bank_cases.register_agreement(
            uow=storage.uow_factory(), clock=storage.clock, agreement=agreement
        )
        done = await bank_cases.run_auto_top_up(
            uow_factory=storage.uow_factory, clock=storage.clock, bank=AcceptingBank()
        )
        return list(done.requested), secret

    try:
        return asyncio.run(run())
    finally:
        storage.close()


async def until_acknowledged(
    client: httpx.AsyncClient,
    path: str,
    *,
    json: object = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST until the server answers 2xx; a connection lost to a kill is simply retried."""
    while True:
        try:
            response = await client.post(path, json=json, content=content, headers=headers)
        except httpx.TransportError:
            await asyncio.sleep(0.05)
            continue
        if response.status_code >= 500:
            await asyncio.sleep(0.05)
            continue
        assert response.status_code < 300, (path, response.status_code, response.text)
        return response


async def kiosk_stream(
    client: httpx.AsyncClient,
    rng: random.Random,
    acknowledged: dict[str, list[int]],
    *,
    sessions: int = 40,
) -> None:
    sequence = 0
    for index in range(sessions):
        number = KIOSK_ACCOUNTS[index % len(KIOSK_ACCOUNTS)]
        started = await until_acknowledged(client, "/kiosk/api/sessions")
        txn = started.json()["transaction_id"]
        base = f"/kiosk/api/sessions/{txn}"
        await until_acknowledged(client, f"{base}/account", json={"account_number": number})
        await until_acknowledged(client, f"{base}/details-confirmed")
        acknowledged[txn] = []
        for _ in range(rng.randint(1, 6)):
            fen = rng.choice(NOTES)
            sequence += 1  # the acceptor's own numbering, across sessions
            await until_acknowledged(
                client,
                "/kiosk/api/acceptor/notes",
                json={"acceptor_sequence": sequence, "amount_fen": fen},
            )
            acknowledged[txn].append(fen)  # the acceptor stacks it only now
        if index % 3:  # the others walk away: recovery credits them
            await until_acknowledged(client, f"{base}/confirm")


async def bank_stream(
    client: httpx.AsyncClient,
    rng: random.Random,
    debits: list[payments.DebitRequest],
    acknowledged: set[str],
) -> None:
    callbacks = [
        payments.BankCallback(
            serial=f"SER-{i:04d}",
            debit_id=debit.debit_id,
            status=payments.DebitStatus.SUCCEEDED,
            amount=debit.amount,
            at=datetime.now(SHANGHAI),  # the server runs on the system clock: in its window
        )
        for i, debit in enumerate(debits)
    ]
    stream = callbacks * 2  # every callback replayed once, in a shuffled order
    rng.shuffle(stream)
    for callback in stream:
        body = bank.encode_callback(callback)
        headers = {bank.SIGNATURE_HEADER: bank.sign(SECRET.encode(), body)}
        await until_acknowledged(client, "/bank/callbacks", content=body, headers=headers)
        acknowledged.add(callback.serial)


async def killer(server: Server, rng: random.Random, done: asyncio.Event) -> int:
    kills = 0
    while kills < KILLS and not done.is_set():
        await asyncio.sleep(rng.uniform(0.1, 0.4))
        server.kill()
        kills += 1
        await asyncio.to_thread(server.start)
    return kills


@pytest.mark.slow
class TestCrashInjection:
    async def test_every_acknowledged_note_and_callback_is_credited_once(
        self, tmp_path: Path
    ) -> None:
        url = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
        debits, secret = await asyncio.to_thread(prepare, url)
        # One kiosk looks up 40 accounts in seconds here: lift its look-up rate.
        server = Server(
            url,
            free_port(),
            tmp_path / "server.log",
            env={"WATTBOOK_KIOSK_LOOKUPS_PER_MINUTE": "6000"},
        )
        server.start()
        rng = random.Random(20250610)
        notes: dict[str, list[int]] = {}
        serials: set[str] = set()
        done = asyncio.Event()
        try:
            async with httpx.AsyncClient(base_url=server.base, timeout=5) as client:
                kiosk_client = httpx.AsyncClient(
                    base_url=server.base,
                    timeout=5,
                    auth=KioskAuth("K01", secret, bootstrap.system_clock().now),
                )
                kill_task = asyncio.create_task(killer(server, rng, done))
                await asyncio.gather(
                    kiosk_stream(kiosk_client, random.Random(1), notes),
                    bank_stream(client, random.Random(2), debits, serials),
                )
                done.set()
                kills = await kill_task
                await kiosk_client.aclose()
        finally:
            server.stop()
        storage = bootstrap.build_storage(Settings(database_url=url))
        try:
            await kiosk.recover_kiosk_sessions(
                uow_factory=storage.uow_factory, clock=storage.clock, idle_for=timedelta(0)
            )
            async with storage.uow_factory() as uow:
                differences = await uow.ledger.reconcile()
            with storage.engine.connect() as connection:
                credited = dict(
                    connection.execute(
                        sa.text(
                            "SELECT channel_reference, amount_fen FROM payments"
                            " WHERE channel = 'KIOSK'"
                        )
                    ).all()
                )
                bank_rows = connection.execute(
                    sa.text("SELECT channel_reference FROM payments WHERE channel = 'BANK_AUTO'")
                ).all()
                journal, cached = connection.execute(
                    sa.text(
                        "SELECT (SELECT SUM(amount_fen) FROM ledger_entries),"
                        " (SELECT SUM(balance_fen) FROM balances)"
                    )
                ).one()
        finally:
            storage.close()

        assert credited == {txn: sum(fens) for txn, fens in notes.items()}
        assert sorted(serial for (serial,) in bank_rows) == sorted(serials)
        assert len(bank_rows) == len(debits)
        assert differences == ()
        assert journal == cached == sum(map(sum, notes.values())) + 5000 * len(debits)
        assert kills >= 5
