"""No note lost when the server's answer is in doubt (the agent, in-process, both engines).

A faulty transport sits between the agent and the web app: it can refuse connections (the
server unreachable) or let the server record a request and then lose its reply. Each test
ends by checking that the session, the journal of notes and the ledger agree with the cash
the acceptor actually kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.payments import Payer
from tests.integration.web.conftest import web_runtime
from tests.integration.web.kiosk_client import KioskAuth, note, register_kiosk
from tests.integration.web.test_kiosk_agent import Kiosk, taking_notes
from tests.waiting import until

from wattbook import bootstrap
from wattbook.adapters import db
from wattbook.application import alarm_ports
from wattbook.application.payments import kiosk as kiosk_use_cases
from wattbook.domain.values import Money
from wattbook.interfaces.kiosk import KioskAgent
from wattbook.interfaces.web import create_app

RETURNS = "/kiosk/api/acceptor/returns"
NOTES = "/kiosk/api/acceptor/notes"


class FaultyTransport(httpx.AsyncBaseTransport):
    """The network between agent and server: ``lose`` paths reach the server but their reply
    is lost (as many times as counted), then ``down`` paths are refused."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down: set[str] = set()
        self.lose: dict[str, int] = {}
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.sent.append(path)
        if self.lose.get(path, 0) > 0:
            self.lose[path] -= 1
            answer = await self.inner.handle_async_request(request)
            await answer.aread()
            raise httpx.ReadError("connection reset", request=request)
        if path in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def app(engine: Engine, clock: FakeClock) -> AsyncIterator[httpx.ASGITransport]:
    created = create_app(web_runtime(engine, clock), background=False)
    yield httpx.ASGITransport(app=created)
    await created.state.batcher.close()


@pytest.fixture
async def network(app: httpx.ASGITransport) -> FaultyTransport:
    return FaultyTransport(app)


@pytest.fixture
async def kiosk(network: FaultyTransport, engine: Engine, clock: FakeClock) -> AsyncIterator[Kiosk]:
    secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
    acceptor = bootstrap.SimulatedAcceptor()
    agent = KioskAgent(
        kiosk_id="K01",
        secret=secret,
        server_url="http://kiosk.test",
        acceptor=acceptor,
        clock=bootstrap.system_clock(),
        transport=network,
        retry_s=0.01,
        retry_max_s=0.05,
    )
    await agent.sync_sequence()
    screen = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=agent.app(panel=acceptor)),
        base_url="http://127.0.0.1:8400",
    )
    running = Kiosk(agent=agent, acceptor=acceptor, screen=screen, stop=asyncio.Event())
    relay = asyncio.create_task(agent.run_acceptor(running.stop))
    yield running
    running.stop.set()
    await relay
    await screen.aclose()
    await agent.client.aclose()


async def insert(kiosk: Kiosk, yuan: int) -> None:
    answer = await kiosk.screen.post("/acceptor/insert", json={"yuan": yuan})
    assert answer.status_code == 200, answer.text


def kinds(kiosk: Kiosk) -> list[str]:
    return [str(event["kind"]) for event in kiosk.agent.events.events]


def notes(home: Payer) -> list[tuple[int, int]]:
    return [
        (int(sequence), int(fen))
        for sequence, fen in home.rows("SELECT sequence, amount_fen FROM kiosk_notes ORDER BY 1")
    ]


class TestServerAnswerInDoubt:
    async def test_the_server_unreachable_then_back_keeps_the_note_until_it_answers(
        self, kiosk: Kiosk, network: FaultyTransport, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open(opening=Money(fen=1234))
        txn = await taking_notes(kiosk.screen)
        network.down.add(NOTES)

        await insert(kiosk, 100)
        await until(lambda: kiosk.agent.notes_in_doubt, "the note is in doubt")
        state = (await kiosk.screen.get("/acceptor/state")).json()
        held = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm?lang=zh-CN", json={})
        given_up = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/abandon", json={})
        new_session = await kiosk.screen.post("/kiosk/api/sessions", json={})
        await until(lambda: network.sent.count(NOTES) >= 3, "the same note is sent again")
        escrow_while_down = kiosk.acceptor.escrow
        network.down.clear()
        await until(lambda: "stacked" in kinds(kiosk), "the note is stacked")
        done = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm", json={})

        assert state["checking"] is True
        assert (held.status_code, held.json()["error"]) == (503, "NOTES_IN_DOUBT")
        assert held.json()["message"] == "正在确认纸币，请稍候"
        assert held.headers["retry-after"] == "2"
        assert given_up.status_code == new_session.status_code == 503
        assert escrow_while_down == Money(fen=10000)  # held in escrow, not handed back
        assert kinds(kiosk) == ["escrow", "checking", "stacked"]
        assert done.status_code == 200, done.text
        assert kiosk.acceptor.stacked == [Money(fen=10000)]
        assert kiosk.acceptor.returned == []
        assert notes(home) == [(1, 10000)]
        assert home.balance_fen() == 1234 + 10000

    async def test_a_lost_reply_is_sent_again_and_the_note_counts_once(
        self, kiosk: Kiosk, network: FaultyTransport, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        txn = await taking_notes(kiosk.screen)
        network.lose[NOTES] = 3  # recorded the first time; three replies lost

        await insert(kiosk, 50)
        await until(lambda: "stacked" in kinds(kiosk), "the note is stacked")
        done = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm", json={})

        assert network.sent.count(NOTES) == 4  # the same event, four times
        assert kiosk.acceptor.stacked == [Money(fen=5000)]
        assert kiosk.acceptor.returned == []
        assert notes(home) == [(1, 5000)]
        assert done.json()["total"] == "50.00"
        assert home.balance_fen() == 5000
        assert kiosk.agent.next_sequence == 2

    async def test_a_note_the_device_gives_back_while_in_doubt_leaves_the_session(
        self, kiosk: Kiosk, network: FaultyTransport, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        txn = await taking_notes(kiosk.screen)
        network.lose[NOTES] = 1  # the server records the note, its reply is lost ...
        network.down.update({NOTES, RETURNS})  # ... and then the server is unreachable

        await insert(kiosk, 100)
        await until(lambda: kiosk.agent.notes_in_doubt, "the note is in doubt")
        journalled = notes(home)
        timed_out = await kiosk.screen.post("/acceptor/time-out")  # the escrow timer runs out
        await until(lambda: RETURNS in network.sent, "the return is being told")
        held = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm", json={})
        network.down.clear()
        await until(lambda: kinds(kiosk)[-1] == "returned", "the return is told")
        await insert(kiosk, 20)
        await until(lambda: "stacked" in kinds(kiosk), "the next note is stacked")
        done = await kiosk.screen.post(f"/kiosk/api/sessions/{txn}/confirm", json={})

        assert journalled == [(1, 10000)]
        assert timed_out.json() == {"returned_fen": 10000}
        assert held.status_code == 503  # still telling the server about the returned note
        assert kinds(kiosk) == ["escrow", "checking", "checking", "returned", "escrow", "stacked"]
        assert kiosk.agent.events.events[3]["error"] == "ESCROW_TIMEOUT"
        assert kiosk.acceptor.returned == [Money(fen=10000)]
        assert kiosk.acceptor.stacked == [Money(fen=2000)]
        assert notes(home) == [(2, 2000)]
        assert done.json()["total"] == "20.00"
        assert home.balance_fen() == 2000
        assert home.rows(
            "SELECT actor, action FROM payment_audit WHERE action LIKE 'payments.kiosk.note%'"
        ) == [("kiosk K01", "payments.kiosk.note-returned")]

    async def test_a_note_given_back_after_its_session_was_credited_raises_an_alarm(
        self, kiosk: Kiosk, network: FaultyTransport, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        txn = await taking_notes(kiosk.screen)
        network.lose[NOTES] = 1
        network.down.add(NOTES)
        await insert(kiosk, 100)
        await until(lambda: kiosk.agent.notes_in_doubt, "the note is in doubt")
        # Meanwhile the session is credited behind the agent's back (recovery, say).
        await kiosk_use_cases.confirm_kiosk_total(
            uow=db.unit_of_work_factory(engine)(), clock=clock, kiosk_id="K01", transaction_id=txn
        )

        await kiosk.screen.post("/acceptor/time-out")
        await until(lambda: kinds(kiosk)[-1] == "returned", "the return is told")
        alarms = await home.open_system_alarms()

        assert [(a.kind, a.subject) for a in alarms] == [
            (alarm_ports.AlarmKind.KIOSK_NOTE_RETURNED_CREDITED, "K01/1")
        ]
        assert "settle it" in alarms[0].detail
        # The ledger still shows what was credited: staff settle it, nothing is guessed.
        assert home.balance_fen() == 10000
        assert kiosk.acceptor.returned == [Money(fen=10000)]


class TestReturnedNoteApi:
    async def test_a_return_is_idempotent_and_a_late_copy_of_the_note_is_refused(
        self, app: httpx.ASGITransport, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        await home.open()
        secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
        auth = KioskAuth("K01", secret, bootstrap.system_clock().now)
        async with httpx.AsyncClient(
            transport=app, base_url="http://kiosk.test", auth=auth
        ) as client:
            txn = await taking_notes(client)
            await client.post(NOTES, json=note(1, 10000))
            removed = await client.post(RETURNS, json=note(1, 10000))
            again = await client.post(RETURNS, json=note(1, 10000))
            never = await client.post(RETURNS, json=note(2, 5000))
            late = await client.post(NOTES, json=note(2, 5000))
            other = await client.post(RETURNS, json=note(3, 5000))
            await client.post(NOTES, json=note(4, 500))
            wrong = await client.post(RETURNS, json=note(4, 1000))
            unsigned = await httpx.AsyncClient(transport=app, base_url="http://kiosk.test").post(
                RETURNS, json=note(4, 500)
            )
            session = (await client.get(f"/kiosk/api/sessions/{txn}")).json()

        assert (removed.status_code, removed.json()["outcome"]) == (200, "REMOVED")
        assert removed.json()["session"]["total"] == "0.00"
        assert again.json() == {"outcome": "NOT_JOURNALLED", "session": None}
        assert never.json()["outcome"] == "NOT_JOURNALLED"
        assert (late.status_code, late.json()["error"]) == (409, "NOTE_CONFLICT")
        assert other.json()["outcome"] == "NOT_JOURNALLED"
        assert (wrong.status_code, wrong.json()["error"]) == (409, "NOTE_CONFLICT")
        assert unsigned.status_code == 401
        assert session["total"] == "5.00"
        assert notes(home) == [(4, 500)]

    async def test_an_acceptor_fault_is_a_system_alarm(
        self, app: httpx.ASGITransport, engine: Engine, clock: FakeClock
    ) -> None:
        home = Payer(engine, clock)
        secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
        auth = KioskAuth("K01", secret, bootstrap.system_clock().now)
        async with httpx.AsyncClient(
            transport=app, base_url="http://kiosk.test", auth=auth
        ) as client:
            fault = {"code": "EVENTS_MISSED", "detail": "2 bill events were lost unread"}
            first = await client.post("/kiosk/api/acceptor/faults", json=fault)
            again = await client.post("/kiosk/api/acceptor/faults", json=fault)
            bad = await client.post(
                "/kiosk/api/acceptor/faults", json={"code": "no spaces", "detail": ""}
            )
        alarms = await home.open_system_alarms()

        assert (first.json()["opened"], again.json()["opened"]) == (True, False)
        assert bad.status_code == 422
        assert [(a.kind, a.subject) for a in alarms] == [
            (alarm_ports.AlarmKind.KIOSK_ACCEPTOR_FAULT, "K01/EVENTS_MISSED")
        ]
