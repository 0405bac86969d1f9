"""Auto top-up end to end over HTTP: wattbook, its HTTP gateway, and `bank-sim`'s bank (P3).

The simulated bank sends every callback twice and late; cards run dry or are closed. The
journal must hold exactly one credit per successful debit, and the bank's statement must
reconcile with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer
from tests.integration.web.conftest import SECRET
from tests.integration.web.server import free_port

from wattbook import bootstrap
from wattbook.adapters import bank, db
from wattbook.application.payments import bank as bank_cases
from wattbook.domain.values import Money
from wattbook.interfaces import web
from wattbook.settings import WebSettings

RICH, POOR, CLOSED = "051600007001", "051600007002", "051600007003"


@contextlib.asynccontextmanager
async def serving(app: object, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


class TestAutoTopUpAgainstTheSimulatedBank:
    async def test_credits_successes_once_and_reconciles(
        self, engine: Engine, clock: FakeClock
    ) -> None:
        homes = {n: Payer(engine, clock, n) for n in (RICH, POOR, CLOSED)}
        for home in homes.values():
            await home.open()
        web_port, bank_port = free_port(), free_port()
        settings = WebSettings(
            port=web_port, bank_url=f"http://127.0.0.1:{bank_port}", bank_secret=SECRET
        )
        gateway = bank.HttpBankGateway(
            base_url=settings.bank_url or "",
            secret=SECRET.encode(),
            callback_url=settings.callback_url,
        )
        runtime = bootstrap.WebRuntime(
            storage=bootstrap.Storage(
                engine=engine,
                uow_factory=db.unit_of_work_factory(engine),
                reader_factory=db.reader_factory(engine),
                clock=clock,
            ),
            web=settings,
            bank=bootstrap.BankLink(gateway=gateway, secret=SECRET.encode()),
            receipt_font=None,
        )
        simulator = bootstrap.build_bank_simulator(
            secret=SECRET,
            cards={
                "T-RICH": (Money(fen=10000), False),
                "T-POOR": (Money(fen=1000), False),
                "T-CLOSED": (Money(fen=90000), True),
            },
            agreements={"AG-R": "T-RICH", "AG-P": "T-POOR", "AG-C": "T-CLOSED"},
            delay_s=0.2,
            duplicate_rate=1.0,
            seed=1,
            now=clock.now,
        )
        stop = asyncio.Event()
        wattbook_task = asyncio.create_task(
            web.serve(runtime, host="127.0.0.1", port=web_port, stop=stop, background=False)
        )
        try:
            async with serving(simulator.app, bank_port):
                async with httpx.AsyncClient() as probe:
                    for _ in range(200):
                        with contextlib.suppress(httpx.HTTPError):
                            answer = await probe.get(f"http://127.0.0.1:{web_port}/healthz")
                            if answer.status_code == 200:
                                break
                        await asyncio.sleep(0.02)
                for number, token in ((RICH, "AG-R"), (POOR, "AG-P"), (CLOSED, "AG-C")):
                    status = await bootstrap.push_agreement_to(
                        wattbook_url=f"http://127.0.0.1:{web_port}",
                        secret=SECRET,
                        agreement=homes[number].agreement(number=token),
                    )
                    assert status == 201
                run = await bank_cases.run_auto_top_up(
                    uow_factory=runtime.uow_factory, clock=clock, bank=gateway
                )
                for _ in range(300):
                    pending = homes[RICH].rows(
                        "SELECT COUNT(*) FROM bank_debits WHERE status = 'REQUESTED'"
                    )[0][0]
                    if pending == 0:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)  # let the duplicates land
                async with httpx.AsyncClient() as client:
                    text = (
                        await client.get(f"http://127.0.0.1:{bank_port}/statements/2025-06-10")
                    ).text
        finally:
            stop.set()
            await wattbook_task
        mismatches = await bank_cases.reconcile_bank_statement(
            uow=runtime.uow_factory(),
            day=clock.now().date(),
            statement=bootstrap.read_bank_statement(text),
        )

        assert len(run.sent) == 3
        assert dict(homes[RICH].rows("SELECT debit_id, status FROM bank_debits")) == {
            f"D20250610{RICH}": "SUCCEEDED",
            f"D20250610{POOR}": "INSUFFICIENT_FUNDS",
            f"D20250610{CLOSED}": "CARD_CLOSED",
        }
        assert homes[RICH].rows("SELECT COUNT(*), SUM(amount_fen) FROM payments") == [(1, 5000)]
        assert mismatches == ()


@pytest.mark.parametrize("body", [b"{}", b"[]", b"not json"])
def test_the_codec_refuses_malformed_callbacks(body: bytes) -> None:
    with pytest.raises(bank.MalformedMessage):
        bank.decode_callback(SECRET.encode(), body, bank.sign(SECRET.encode(), body))


def test_a_statement_reads_back() -> None:
    text = "serial,debit_id,account_number,amount,status\nS1,D1,051600001234,50.00,SUCCEEDED\n"

    (line,) = bank.decode_statement(text)

    assert (line.serial, line.amount) == ("S1", Money(fen=5000))
    assert bank.encode_statement([line]) == text
    with pytest.raises(bank.MalformedMessage, match="line 2"):
        bank.decode_statement(text.replace("50.00", "fifty"))
