"""The kiosk over HTTP: page, signed steps, errors, receipts and issue 16's defects (P2).

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.functional.household import local
from tests.functional.payments import Payer
from tests.integration.web.conftest import SECRET, web_runtime
from tests.integration.web.kiosk_client import (
    NOTES,
    POSITION,
    SESSIONS,
    KioskAuth,
    note,
    register_kiosk,
)

from wattbook.adapters import db
from wattbook.application.payments import kiosk_devices
from wattbook.domain import payments
from wattbook.interfaces.web import create_app
from wattbook.settings import WebSettings

ACCOUNT = "051600001234"


@pytest.fixture
def wall() -> FakeClock:
    """Return the real-time clock the server checks signatures and rates against."""
    return FakeClock(local(2025, 6, 10, 9, 0))


@pytest.fixture
async def app_transport(
    engine: Engine, clock: FakeClock, wall: FakeClock
) -> AsyncIterator[httpx.ASGITransport]:
    web = WebSettings(bank_secret=SECRET, allowed_hosts=("kiosk.test",), kiosk_lookups_per_minute=6)
    app = create_app(web_runtime(engine, clock, wall_clock=wall, web=web), background=False)
    yield httpx.ASGITransport(app=app)
    await app.state.batcher.close()


@pytest.fixture
async def home(engine: Engine, clock: FakeClock) -> Payer:
    payer = Payer(engine, clock)
    await payer.open(opening=None)
    return payer


@pytest.fixture
async def secret(engine: Engine, clock: FakeClock) -> str:
    return await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")


@pytest.fixture
async def kiosk(
    app_transport: httpx.ASGITransport, secret: str, wall: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    """Yield a client signing as kiosk K01 (what its agent does)."""
    async with httpx.AsyncClient(
        transport=app_transport,
        base_url="http://kiosk.test",
        auth=KioskAuth("K01", secret, wall.now),
    ) as client:
        yield client


@pytest.fixture
async def anonymous(app_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    """Yield a client on the same app with no kiosk credential."""
    async with httpx.AsyncClient(transport=app_transport, base_url="http://kiosk.test") as client:
        yield client


async def start(kiosk: httpx.AsyncClient) -> str:
    answer = await kiosk.post(SESSIONS)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["transaction_id"])


async def taking_notes(kiosk: httpx.AsyncClient) -> str:
    txn = await start(kiosk)
    shown = await kiosk.post(f"{SESSIONS}/{txn}/account", json={"account_number": ACCOUNT})
    assert shown.status_code == 200, shown.text
    assert (await kiosk.post(f"{SESSIONS}/{txn}/details-confirmed")).status_code == 200
    return txn


class TestKioskPage:
    async def test_is_served_in_chinese_with_local_assets(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/kiosk")
        script = await client.get("/static/kiosk.js")
        english = await client.get("/kiosk?lang=en")

        assert page.status_code == 200
        assert "自助缴费" in page.text
        assert 'lang="zh-CN"' in page.text
        assert "http" not in page.text.split("<body", 1)[1].replace('href="?', "")
        assert script.status_code == 200
        assert "Pay for electricity" in english.text

    async def test_holds_no_note_buttons_and_makes_no_ids(self, client: httpx.AsyncClient) -> None:
        page = await client.get("/kiosk")
        script = await client.get("/static/kiosk.js")

        assert "data-yuan" not in page.text
        assert "getRandomValues" not in script.text
        assert "/acceptor/notes" not in script.text


class TestKioskSteps:
    async def test_pays_with_notes_and_serves_the_receipt(
        self, kiosk: httpx.AsyncClient, home: Payer
    ) -> None:
        txn = await start(kiosk)
        shown = await kiosk.post(f"{SESSIONS}/{txn}/account", json={"account_number": ACCOUNT})
        await kiosk.post(f"{SESSIONS}/{txn}/details-confirmed")
        replies = [
            await kiosk.post(NOTES, json=note(sequence, fen))
            for sequence, fen in ((1, 10000), (2, 5000), (2, 5000), (3, 100))
        ]
        done = await kiosk.post(f"{SESSIONS}/{txn}/confirm")
        receipt = await kiosk.get(f"/kiosk/sessions/{txn}/receipt")
        text = await kiosk.get(f"/kiosk/sessions/{txn}/receipt.txt?paper=58")
        pdf = await kiosk.get(f"/kiosk/sessions/{txn}/receipt.pdf")

        assert shown.json()["holder"] == "张*"
        assert shown.json()["address"] == "丙6-1-801"
        assert [r.status_code for r in replies] == [200] * 4
        assert replies[1].json() == replies[2].json()  # the repeat is answered as before
        assert done.json()["receipt"]["amount"] == "151.00"
        assert home.balance_fen() == 15100
        assert "KS20250610000001" in receipt.text
        assert "本机不找零" in text.text
        assert max(len(line.encode("gbk")) for line in text.text.splitlines()) <= 32
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")

    async def test_maps_anticipated_errors_to_4xx(
        self, kiosk: httpx.AsyncClient, home: Payer
    ) -> None:
        txn = await start(kiosk)

        unknown = await kiosk.post(
            f"{SESSIONS}/{txn}/account", json={"account_number": "051699999999"}
        )
        malformed = await kiosk.post(f"{SESSIONS}/{txn}/account", json={"account_number": "12345"})
        too_early = await kiosk.post(NOTES, json=note(1, 100))
        await kiosk.post(f"{SESSIONS}/{txn}/account", json={"account_number": ACCOUNT})
        await kiosk.post(f"{SESSIONS}/{txn}/details-confirmed")
        fake = await kiosk.post(NOTES, json=note(2, 3000))
        nothing = await kiosk.post(f"{SESSIONS}/{txn}/confirm")
        no_such = await kiosk.get(f"{SESSIONS}/KS{'A' * 32}")

        assert (unknown.status_code, unknown.json()["error"]) == (404, "UNKNOWN_ACCOUNT")
        assert unknown.json()["message"] == "户号不存在，请核对后重新输入"
        assert malformed.status_code == 422
        assert (too_early.status_code, too_early.json()["error"]) == (409, "STEP_REFUSED")
        assert (fake.status_code, fake.json()["error"]) == (422, "INVALID_NOTE")
        assert (nothing.status_code, nothing.json()["error"]) == (409, "STEP_REFUSED")
        assert (no_such.status_code, no_such.json()["error"]) == (404, "UNKNOWN_SESSION")
        assert home.balance_fen() == 0


class TestIssue16Defects:
    """Each part of the tracker's defect, refused now."""

    async def test_an_anonymous_note_is_refused_and_changes_nothing(
        self, kiosk: httpx.AsyncClient, anonymous: httpx.AsyncClient, home: Payer
    ) -> None:
        txn = await taking_notes(kiosk)

        old_route = await anonymous.post(
            f"{SESSIONS}/{txn}/notes", json={"sequence": 1, "amount_fen": 10000}
        )
        new_route = await anonymous.post(NOTES, json=note(1, 10000))

        assert old_route.status_code == new_route.status_code == 401
        assert new_route.json()["error"] == "KIOSK_NOT_SIGNED"
        assert home.rows("SELECT count(*) FROM kiosk_notes") == [(0,)]

    async def test_nobody_else_confirms_or_reads_a_session(
        self,
        kiosk: httpx.AsyncClient,
        anonymous: httpx.AsyncClient,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
        wall: FakeClock,
        home: Payer,
    ) -> None:
        txn = await taking_notes(kiosk)
        await kiosk.post(NOTES, json=note(1, 10000))
        other_secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K02")
        other = httpx.AsyncClient(
            transport=app_transport,
            base_url="http://kiosk.test",
            auth=KioskAuth("K02", other_secret, wall.now),
        )

        answers = [
            await anonymous.post(f"{SESSIONS}/{txn}/confirm"),
            await anonymous.get(f"{SESSIONS}/{txn}"),
            await anonymous.get(f"/kiosk/sessions/{txn}/receipt"),
            await anonymous.post(f"{SESSIONS}/{txn}/account", json={"account_number": ACCOUNT}),
            await anonymous.post(SESSIONS),
        ]
        by_other = [
            await other.post(f"{SESSIONS}/{txn}/confirm"),
            await other.get(f"{SESSIONS}/{txn}"),
        ]
        await other.aclose()

        assert [a.status_code for a in answers] == [401] * 5
        assert [a.status_code for a in by_other] == [404, 404]
        for answer in answers + by_other:
            assert "丙6-1-801" not in answer.text
            assert "张" not in answer.text
        assert home.balance_fen() == 0
        assert home.rows("SELECT state FROM kiosk_sessions") == [("INSERTING_NOTES",)]

    async def test_one_session_takes_at_most_2000_yuan_and_50_notes(
        self, kiosk: httpx.AsyncClient, home: Payer
    ) -> None:
        txn = await taking_notes(kiosk)
        hundreds = [await kiosk.post(NOTES, json=note(n, 10000)) for n in range(1, 22)]
        await kiosk.post(f"{SESSIONS}/{txn}/confirm")
        txn = await taking_notes(kiosk)
        ones = [await kiosk.post(NOTES, json=note(n, 100)) for n in range(22, 73)]

        assert [a.status_code for a in hundreds] == [200] * 20 + [409]
        assert hundreds[-1].json() == {
            "error": "SESSION_CAP",
            "message": "本次缴费已达上限，请按确定完成后再缴",
        }
        assert [a.status_code for a in ones] == [200] * 50 + [409]
        assert home.balance_fen() == 200000
        assert home.rows(
            "SELECT count(*) FROM kiosk_notes n JOIN kiosk_sessions s ON s.id = n.session_id"
            " WHERE s.transaction_id = :txn",
            txn=txn,
        ) == [(50,)]

    async def test_page_made_ids_are_unknown_and_server_ids_unguessable(
        self, kiosk: httpx.AsyncClient, home: Payer
    ) -> None:
        guessed = await kiosk.post(
            f"{SESSIONS}/K01-0123456789abcdef/account", json={"account_number": ACCOUNT}
        )
        made = {await start(kiosk) for _ in range(5)}

        assert (guessed.status_code, guessed.json()["error"]) == (404, "UNKNOWN_SESSION")
        assert len(made) == 5
        assert all(len(txn) == 34 and txn.startswith("KS") for txn in made)
        assert home.rows(
            "SELECT count(*) FROM kiosk_sessions WHERE transaction_id LIKE 'K01-%'"
        ) == [(0,)]

    async def test_the_configured_caps_apply(
        self, engine: Engine, clock: FakeClock, wall: FakeClock, secret: str, home: Payer
    ) -> None:
        web = WebSettings(
            allowed_hosts=("kiosk.test",), kiosk_session_max_yuan=150, kiosk_session_max_notes=3
        )
        app = create_app(web_runtime(engine, clock, wall_clock=wall, web=web), background=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://kiosk.test",
            auth=KioskAuth("K01", secret, wall.now),
        ) as client:
            await taking_notes(client)
            answers = [
                await client.post(NOTES, json=note(n, fen))
                for n, fen in ((1, 10000), (2, 10000), (3, 2000), (4, 2000), (5, 100))
            ]
        await app.state.batcher.close()

        assert [a.status_code for a in answers] == [200, 409, 200, 200, 409]


class TestSignatures:
    async def request_as(
        self,
        transport: httpx.ASGITransport,
        kiosk_id: str,
        secret: str,
        now: FakeClock,
        method: str = "GET",
        path: str = POSITION,
        **keywords: object,
    ) -> httpx.Response:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://kiosk.test",
            auth=KioskAuth(kiosk_id, secret, now.now),
        ) as client:
            return await client.request(method, path, **keywords)  # type: ignore[arg-type]

    async def test_refuses_a_wrong_secret_an_unknown_or_revoked_kiosk(
        self,
        app_transport: httpx.ASGITransport,
        engine: Engine,
        clock: FakeClock,
        wall: FakeClock,
        secret: str,
    ) -> None:
        good = await self.request_as(app_transport, "K01", secret, wall)
        wrong = await self.request_as(app_transport, "K01", "not-the-secret", wall)
        unknown = await self.request_as(app_transport, "K99", secret, wall)
        await kiosk_devices.revoke_kiosk(
            uow=db.unit_of_work_factory(engine)(), clock=clock, kiosk_id="K01", by="test"
        )
        revoked = await self.request_as(
            app_transport, "K01", secret, wall, path=f"{POSITION}?lang=en"
        )

        assert good.status_code == 200
        assert good.json() == {"last_acceptor_sequence": 0, "taking_notes": None}
        assert (wrong.status_code, wrong.json()["error"]) == (401, "KIOSK_SIGNATURE_INVALID")
        assert (unknown.status_code, unknown.json()["error"]) == (401, "KIOSK_UNKNOWN")
        assert revoked.status_code == 401
        assert revoked.json() == {"error": "KIOSK_REVOKED", "message": "Kiosk revoked; refused"}

    async def test_refuses_a_stale_or_future_timestamp(
        self, app_transport: httpx.ASGITransport, wall: FakeClock, secret: str
    ) -> None:
        stale = FakeClock(wall.now() - timedelta(minutes=6))
        ahead = FakeClock(wall.now() + timedelta(minutes=6))
        close = FakeClock(wall.now() - timedelta(minutes=4))

        answers = [await self.request_as(app_transport, "K01", secret, c) for c in (stale, ahead)]
        accepted = await self.request_as(app_transport, "K01", secret, close)

        assert [(a.status_code, a.json()["error"]) for a in answers] == [
            (401, "KIOSK_CLOCK"),
            (401, "KIOSK_CLOCK"),
        ]
        assert accepted.status_code == 200

    async def test_refuses_a_tampered_body(
        self, kiosk: httpx.AsyncClient, home: Payer, secret: str, wall: FakeClock
    ) -> None:
        await taking_notes(kiosk)
        body = b'{"acceptor_sequence": 1, "amount_fen": 100}'
        headers = payments.kiosk_headers(
            kiosk_id="K01", secret=secret, method="POST", target=NOTES, at=wall.now(), body=body
        )
        tampered = body.replace(b'"amount_fen": 100', b'"amount_fen": 10000')

        answer = await kiosk.post(
            NOTES,
            content=tampered,
            headers={**headers, "Content-Type": "application/json"},
            auth=None,  # type: ignore[arg-type]
        )

        assert (answer.status_code, answer.json()["error"]) == (401, "KIOSK_SIGNATURE_INVALID")
        assert home.rows("SELECT count(*) FROM kiosk_notes") == [(0,)]

    async def test_a_migrated_kiosk_without_a_secret_must_be_rotated(
        self, app_transport: httpx.ASGITransport, engine: Engine, clock: FakeClock, wall: FakeClock
    ) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO kiosks (kiosk_id, secret, registered_at, registered_by,"
                " last_acceptor_sequence) VALUES ('K05', NULL, CURRENT_TIMESTAMP, 'migration', 3)"
            )

        before = await self.request_as(app_transport, "K05", "", wall)
        _kiosk, secret = await kiosk_devices.rotate_kiosk(
            uow=db.unit_of_work_factory(engine)(), clock=clock, kiosk_id="K05", by="test"
        )
        after = await self.request_as(app_transport, "K05", secret, wall)

        assert (before.status_code, before.json()["error"]) == (401, "KIOSK_UNKNOWN")
        assert after.json()["last_acceptor_sequence"] == 3

    async def test_replayed_sequence_is_idempotent_and_a_conflict_is_409(
        self, kiosk: httpx.AsyncClient, home: Payer
    ) -> None:
        await taking_notes(kiosk)
        first = await kiosk.post(NOTES, json=note(5, 2000))
        replay = await kiosk.post(NOTES, json=note(5, 2000))
        other = await kiosk.post(NOTES, json=note(5, 5000))
        lower = await kiosk.post(NOTES, json=note(4, 2000))
        position = await kiosk.get(POSITION)

        assert first.status_code == replay.status_code == 200
        assert replay.json() == first.json()
        assert [(a.status_code, a.json()["error"]) for a in (other, lower)] == [
            (409, "NOTE_CONFLICT"),
            (409, "NOTE_CONFLICT"),
        ]
        assert position.json()["last_acceptor_sequence"] == 5
        assert home.rows("SELECT sequence, amount_fen FROM kiosk_notes") == [(5, 2000)]


class TestLookupRate:
    async def test_is_limited_per_kiosk_with_retry_after_in_both_languages(
        self, kiosk: httpx.AsyncClient, home: Payer, wall: FakeClock
    ) -> None:
        txn = await start(kiosk)
        path = f"{SESSIONS}/{txn}/account"

        burst = [await kiosk.post(path, json={"account_number": ACCOUNT}) for _ in range(5)]
        limited = await kiosk.post(path, json={"account_number": ACCOUNT})
        english = await kiosk.post(f"{path}?lang=en", json={"account_number": ACCOUNT})
        wall.advance(timedelta(seconds=10))  # 6 a minute: one every 10 s
        again = await kiosk.post(path, json={"account_number": ACCOUNT})

        assert [a.status_code for a in burst] == [200] * 5
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "10"
        assert limited.json() == {
            "error": "TOO_MANY_LOOKUPS",
            "message": "查询过于频繁，请稍后再试",
        }
        assert english.json()["message"] == "Too many look-ups; please try again shortly"
        assert again.status_code == 200
