"""The kiosk agent in-process (issue 16): a signed proxy for the screen, the acceptor's relay.

The agent talks to the web app through httpx's ASGI transport; both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer
from tests.integration.web.conftest import web_runtime
from tests.integration.web.kiosk_client import register_kiosk
from tests.waiting import until

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.domain.values import Money
from wattbook.interfaces.kiosk import KioskAgent, ServerRefusedAgent
from wattbook.interfaces.web import create_app

ACCOUNT = "051600001234"


@dataclass
class Kiosk:
    agent: KioskAgent
    acceptor: bootstrap.SimulatedAcceptor
    screen: httpx.AsyncClient
    stop: asyncio.Event

    async def insert(self, yuan: int, *, counterfeit: bool = False) -> list[dict[str, object]]:
        """Press a panel button; return the agent's events once the note is dealt with."""
        before = self.agent.events.next_id
        answer = await self.screen.post(
            "/acceptor/insert", json={"yuan": yuan, "counterfeit": counterfeit}
        )
        assert answer.status_code == 200, answer.text
        final = ("stacked", "returned", "counterfeit")

        def new() -> list[dict[str, Any]]:
            return [e for e in self.agent.events.events if e["id"] >= before]

        await until(lambda: any(e["kind"] in final for e in new()), "the agent deals with the note")
        return new()


@pytest.fixture
async def app_transport(engine: Engine, clock: FakeClock) -> AsyncIterator[httpx.ASGITransport]:
    app = create_app(web_runtime(engine, clock), background=False)
    yield httpx.ASGITransport(app=app)
    await app.state.batcher.close()


async def start_agent(transport: httpx.ASGITransport, secret: str) -> Kiosk:
    acceptor = bootstrap.SimulatedAcceptor()
    agent = KioskAgent(
        kiosk_id="K01",
        secret=secret,
        server_url="http://kiosk.test",
        acceptor=acceptor,
        clock=bootstrap.system_clock(),
        transport=transport,
        retry_s=0.01,
    )
    await agent.sync_sequence()
    screen = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=agent.app(panel=acceptor)),
        base_url="http://127.0.0.1:8400",
    )
    stop = asyncio.Event()
    return Kiosk(agent=agent, acceptor=acceptor, screen=screen, stop=stop)


@pytest.fixture
async def kiosk(
    app_transport: httpx.ASGITransport, engine: Engine, clock: FakeClock
) -> AsyncIterator[Kiosk]:
    secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
    running = await start_agent(app_transport, secret)
    relay = asyncio.create_task(running.agent.run_acceptor(running.stop))
    yield running
    running.stop.set()
    await relay
    await running.screen.aclose()
    await running.agent.client.aclose()


async def taking_notes(screen: httpx.AsyncClient) -> str:
    started = await screen.post("/kiosk/api/sessions?lang=zh-CN", json={})
    assert started.status_code == 201, started.text
    txn = str(started.json()["transaction_id"])
    await screen.post(f"/kiosk/api/sessions/{txn}/account", json={"account_number": ACCOUNT})
    await screen.post(f"/kiosk/api/sessions/{txn}/details-confirmed", json={})
    return txn


class TestKioskAgent:
    async def test_serves_the_screen_and_relays_the_acceptors_notes(
        self, kiosk: Kiosk, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open(opening=Money(fen=1234))
        page = await kiosk.screen.get("/kiosk")
        script = await kiosk.screen.get("/static/kiosk.js")
        txn = await taking_notes(kiosk.screen)

        hundred = await kiosk.insert(100)
        fifty = await kiosk.insert(50)
        fake = await kiosk.insert(100, counterfeit=True)
        followed = await kiosk.screen.get(f"/kiosk/api/sessions/{txn}")
        done = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm", json={})
        receipt = await kiosk.screen.get(f"/kiosk/sessions/{txn}/receipt")
        refused = await kiosk.insert(10)  # no session is taking notes now

        assert page.status_code == script.status_code == 200
        assert "自助缴费" in page.text
        assert [e["kind"] for e in hundred] == ["escrow", "stacked"]
        assert [e["kind"] for e in fifty] == ["escrow", "stacked"]
        assert [e["kind"] for e in fake] == ["counterfeit"]
        assert followed.json()["total"] == "150.00"
        assert done.json()["receipt"]["balance_after"] == "162.34"
        assert receipt.status_code == 200
        assert "丙6-1-801" in receipt.text
        assert [(e["kind"], e["error"]) for e in refused] == [
            ("escrow", None),
            ("returned", "STEP_REFUSED"),
        ]
        assert kiosk.acceptor.stacked == [Money(fen=10000), Money(fen=5000)]
        assert kiosk.acceptor.returned == [Money(fen=1000)]
        assert home.balance_fen() == 1234 + 15000

    async def test_refuses_note_calls_from_the_screen(
        self, kiosk: Kiosk, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        await taking_notes(kiosk.screen)

        posted = await kiosk.screen.post(
            "/kiosk/api/acceptor/notes", json={"acceptor_sequence": 99, "amount_fen": 10000}
        )
        position = await kiosk.screen.get("/kiosk/api/acceptor")

        assert (posted.status_code, posted.json()["error"]) == (403, "ACCEPTOR_ONLY")
        assert position.status_code == 403
        assert home.rows("SELECT count(*) FROM kiosk_notes") == [(0,)]

    async def test_a_note_past_the_cap_goes_back(
        self, kiosk: Kiosk, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        await taking_notes(kiosk.screen)
        for _ in range(20):
            await kiosk.insert(100)

        over = await kiosk.insert(1)

        assert over[-1]["kind"] == "returned"
        assert over[-1]["error"] == "SESSION_CAP"
        assert kiosk.acceptor.returned == [Money(fen=100)]

    async def test_a_restarted_agent_continues_above_the_last_sequence(
        self,
        kiosk: Kiosk,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        await taking_notes(kiosk.screen)
        await kiosk.insert(20)
        await kiosk.insert(20)
        secret = kiosk.agent._secret  # the same kiosk PC, restarted

        restarted = await start_agent(app_transport, secret)
        restarted.acceptor.insert(bootstrap.SimulatedNote(amount=Money(fen=500)))
        await restarted.acceptor.next_event()  # the note goes into escrow
        stacked = await restarted.agent.relay_note(Money(fen=500))
        await restarted.agent.client.aclose()
        await restarted.screen.aclose()

        assert restarted.agent.next_sequence == 4
        assert stacked
        assert home.rows("SELECT sequence FROM kiosk_notes ORDER BY sequence") == [
            (1,),
            (2,),
            (3,),
        ]

    async def test_a_wrong_secret_stops_the_agent_loudly(
        self, app_transport: httpx.ASGITransport, engine: Engine, clock: FakeClock
    ) -> None:
        await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")

        with pytest.raises(ServerRefusedAgent):
            await start_agent(app_transport, "not-the-secret")
