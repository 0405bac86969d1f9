"""The kiosk agent with the real ccTalk driver on a pty peer and the web app in-process.

A note the simulated validator holds in escrow reaches the server and is stacked on its 200,
returned on its 409; lost events and unasked stacks become system alarms. Both engines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer
from tests.integration.acceptors.cctalk_peer import CcTalkPeer
from tests.integration.web.conftest import web_runtime
from tests.integration.web.kiosk_client import register_kiosk
from tests.integration.web.test_kiosk_agent import taking_notes
from tests.waiting import until

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.application import alarm_ports
from wattbook.domain.values import Money
from wattbook.interfaces.kiosk import KioskAgent
from wattbook.interfaces.web import create_app


@dataclass
class CcTalkKiosk:
    agent: KioskAgent
    peer: CcTalkPeer
    screen: httpx.AsyncClient


@pytest.fixture
async def kiosk(engine: Engine, clock: FakeClock) -> AsyncIterator[CcTalkKiosk]:
    app = create_app(web_runtime(engine, clock), background=False)
    secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
    peer = CcTalkPeer()
    device = bootstrap.build_note_acceptor(f"cctalk:{peer.serve_pty()}?address=40&baud=9600")
    agent = KioskAgent(
        kiosk_id="K01",
        secret=secret,
        server_url="http://kiosk.test",
        acceptor=device,
        clock=bootstrap.system_clock(),
        transport=httpx.ASGITransport(app=app),
        retry_s=0.01,
    )
    await agent.sync_sequence()
    screen = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=agent.app()), base_url="http://127.0.0.1:8400"
    )
    stop = asyncio.Event()
    relay = asyncio.create_task(agent.run_acceptor(stop))
    await until(lambda: peer.master_enabled, "the validator is set up")
    yield CcTalkKiosk(agent=agent, peer=peer, screen=screen)
    stop.set()
    await relay
    await screen.aclose()
    await agent.close()
    peer.close()
    await app.state.batcher.close()


class TestAgentWithCcTalk:
    async def test_a_note_in_escrow_is_stacked_on_200_and_returned_on_409(
        self, kiosk: CcTalkKiosk, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open(opening=Money(fen=1234))
        txn = await taking_notes(kiosk.screen)

        kiosk.peer.insert(6)  # 100 yuan
        await until(lambda: kiosk.peer.stacked == [6], "the note is stacked")
        kiosk.peer.insert(5)  # 50 yuan
        await until(lambda: kiosk.peer.stacked == [6, 5], "the second note is stacked")
        done = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm", json={})
        kiosk.peer.insert(3)  # no session is taking notes now: 409
        await until(
            lambda: kiosk.agent.events.events[-1]["kind"] == "returned", "the note is returned"
        )

        assert done.status_code == 200, done.text
        assert done.json()["total"] == "150.00"
        assert home.balance_fen() == 1234 + 15000
        assert home.rows("SELECT sequence, amount_fen FROM kiosk_notes ORDER BY 1") == [
            (1, 10000),
            (2, 5000),
        ]
        events = [(e["kind"], e["error"]) for e in kiosk.agent.events.events]
        assert events[-2:] == [("escrow", None), ("returned", "STEP_REFUSED")]
        assert kiosk.peer.returned == [3]
        assert kiosk.peer.escrow is None

    async def test_lost_events_and_an_unasked_stack_are_alarms_for_staff(
        self, kiosk: CcTalkKiosk, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        for _ in range(6):  # between two polls: one event is lost unread
            kiosk.peer.reject()
        kiosk.peer.stack_unasked(4)

        async def alarm_subjects() -> set[str]:
            return {a.subject for a in await home.open_system_alarms()}

        async def two_alarms() -> bool:
            return len(await alarm_subjects()) >= 2

        await until(two_alarms, "both alarms are raised")
        alarms = await home.open_system_alarms()

        assert {(a.kind, a.subject) for a in alarms} == {
            (alarm_ports.AlarmKind.KIOSK_ACCEPTOR_FAULT, "K01/EVENTS_MISSED"),
            (alarm_ports.AlarmKind.KIOSK_ACCEPTOR_FAULT, "K01/UNASKED_STACK"),
        }
