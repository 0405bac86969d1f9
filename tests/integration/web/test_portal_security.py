"""The portal's security (issue 11): privacy, brute force, names before log-in, cookies, CSRF.

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.web.conftest import SECRET, web_runtime
from tests.integration.web.kiosk_client import SESSIONS, KioskAuth, register_kiosk
from tests.integration.web.portal_fixtures import (
    HOLDER,
    OTHER,
    OTHER_HOLDER,
    START,
    Portal,
    csrf_of,
    open_households,
)

from wattbook.adapters import db
from wattbook.interfaces.web import create_app
from wattbook.settings import WebSettings

NUMBER = "051600001234"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def wall() -> FakeClock:
    """The real-time clock sessions and throttles run on."""
    return FakeClock(START)


async def _portal(
    engine: Engine, clock: FakeClock, wall: FakeClock, **settings: object
) -> AsyncIterator[Portal]:
    web = WebSettings(
        bank_secret=SECRET,
        allowed_hosts=("kiosk.test",),
        **{"portal_sms_code": False, **settings},  # type: ignore[arg-type]
    )
    app = create_app(web_runtime(engine, clock, wall_clock=wall, web=web), background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield Portal(app=app, client=client)
    await app.state.batcher.close()


@pytest.fixture
async def portal(engine: Engine, clock: FakeClock, wall: FakeClock) -> AsyncIterator[Portal]:
    house, other = await open_households(engine, clock)
    await house.top_up(1_000)
    await other.top_up(2_000)
    async for found in _portal(engine, clock, wall):
        yield found


@pytest.fixture
async def with_code(engine: Engine, clock: FakeClock, wall: FakeClock) -> AsyncIterator[Portal]:
    await open_households(engine, clock)
    async for found in _portal(engine, clock, wall, portal_sms_code=True):
        yield found


def _receipts(engine: Engine, number: str) -> list[str]:
    with engine.connect() as connection:
        return [
            row[0]
            for row in connection.execute(
                sa.text(
                    "SELECT receipt_number FROM payments JOIN accounts"
                    " ON accounts.id = payments.account_id WHERE account_number = :n"
                ),
                {"n": number},
            )
        ]


class TestPrivacy:
    async def test_another_households_receipt_is_not_found(
        self, portal: Portal, engine: Engine
    ) -> None:
        await portal.login(NUMBER, HOLDER)
        (theirs,) = _receipts(engine, OTHER)
        (mine,) = _receipts(engine, NUMBER)

        own = await portal.client.get(f"/portal/receipts/{mine}")
        html = await portal.client.get(f"/portal/receipts/{theirs}")
        pdf = await portal.client.get(f"/portal/receipts/{theirs}/pdf")
        missing = await portal.client.get(f"/portal/receipts/{mine[:-1]}9")

        assert own.status_code == 200
        assert html.status_code == pdf.status_code == missing.status_code == 404
        assert OTHER_HOLDER[0] not in html.text
        assert "20.00" not in html.text

    async def test_no_url_takes_an_account_number(self, portal: Portal) -> None:
        await portal.login(NUMBER, HOLDER)

        for path in (
            f"/portal?account_number={OTHER}",
            f"/portal/payments?account={OTHER}&range=all",
            f"/portal/usage?account_number={OTHER}",
            f"/portal/texts?number={OTHER}",
        ):
            page = await portal.client.get(path)

            assert page.status_code == 200
            # the neighbour's name, balance (900 + 20 yuan) and receipts stay out
            assert OTHER_HOLDER not in page.text
            assert "920.00" not in page.text
            assert "20.00" not in page.text
            assert NUMBER in page.text
        for path in (f"/portal/{OTHER}", f"/portal/accounts/{OTHER}", f"/portal/payments/{OTHER}"):
            assert (await portal.client.get(path)).status_code == 404


class TestBruteForce:
    async def test_an_account_is_throttled_after_five_failures_for_minutes_only(
        self, portal: Portal, wall: FakeClock
    ) -> None:
        failures = [(await portal.login(NUMBER, f"猜{n}")).status_code for n in range(5)]

        throttled = await portal.login(NUMBER, HOLDER)
        wall.advance(timedelta(minutes=5))
        later = await portal.login(NUMBER, HOLDER)

        assert failures == [401] * 5
        assert throttled.status_code == 429
        assert "尝试次数过多，请 5 分钟后再试" in throttled.text
        assert throttled.headers["retry-after"] == "300"
        assert later.status_code == 303

    async def test_an_address_is_throttled_across_accounts(self, portal: Portal) -> None:
        for n in range(20):
            await portal.login(f"0516000{n:05d}", HOLDER)

        answer = await portal.login(NUMBER, HOLDER)

        assert answer.status_code == 429

    async def test_wrong_captchas_count_too(self, portal: Portal) -> None:
        for _ in range(20):
            await portal.login(NUMBER, HOLDER, captcha="x")

        answer = await portal.login(NUMBER, HOLDER)

        assert answer.status_code == 429


class TestNamesBeforeLogIn:
    async def test_the_log_in_page_and_its_errors_never_show_a_name(self, portal: Portal) -> None:
        pages = [
            (await portal.client.get("/portal/login")).text,
            (await portal.login(NUMBER, "张四")).text,
            (await portal.login(NUMBER, HOLDER, captcha="x")).text,
            (await portal.client.get("/portal/payments")).text,
        ]

        for text in pages:
            assert HOLDER not in text
            assert OTHER_HOLDER not in text

    async def test_kiosk_look_ups_mask_the_name_and_are_rate_limited(
        self, engine: Engine, clock: FakeClock, wall: FakeClock
    ) -> None:
        await open_households(engine, clock)
        secret = await register_kiosk(db.unit_of_work_factory(engine), clock, "K01")
        web = WebSettings(
            bank_secret=SECRET, allowed_hosts=("kiosk.test",), kiosk_lookups_per_minute=6
        )
        app = create_app(web_runtime(engine, clock, wall_clock=wall, web=web), background=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://kiosk.test",
            auth=KioskAuth("K01", secret, wall.now),
        ) as kiosk:
            txn = (await kiosk.post(SESSIONS)).json()["transaction_id"]
            path = f"{SESSIONS}/{txn}/account"
            answers = [await kiosk.post(path, json={"account_number": NUMBER}) for _ in range(6)]
        await app.state.batcher.close()

        assert answers[0].json()["holder"] == "张*"
        assert all(HOLDER not in answer.text for answer in answers)
        assert answers[-1].status_code == 429


class TestCookiesAndCsrf:
    async def test_the_session_cookie_is_http_only_and_same_site_strict(
        self, portal: Portal
    ) -> None:
        answer = await portal.client.get("/portal/login")

        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("wattbook_portal=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Path=/portal" in cookie

    async def test_the_cookie_is_secure_on_https_and_when_set(
        self, engine: Engine, clock: FakeClock, wall: FakeClock
    ) -> None:
        await open_households(engine, clock)
        async for found in _portal(engine, clock, wall, secure_cookies=True):
            answer = await found.client.get("/portal/login")

            assert "Secure" in answer.headers["set-cookie"]

    async def test_a_log_in_without_the_token_is_refused(self, portal: Portal) -> None:
        await portal.login_form()

        answer = await portal.client.post(
            "/portal/login",
            data={"account_number": NUMBER, "holder": HOLDER, "captcha": portal.captcha()},
        )

        assert answer.status_code == 403
        assert (await portal.client.get("/portal")).status_code == 303

    async def test_a_post_from_another_site_is_refused_even_with_the_token(
        self, portal: Portal
    ) -> None:
        await portal.login(NUMBER, HOLDER)
        token = csrf_of((await portal.client.get("/portal")).text)

        answer = await portal.client.post(
            "/portal/logout",
            data={"csrf_token": token},
            headers={"Origin": "https://evil.example"},
        )

        assert answer.status_code == 403
        assert (await portal.client.get("/portal")).status_code == 200

    async def test_the_log_in_changes_the_session_id(self, portal: Portal) -> None:
        await portal.login_form()
        before = portal.client.cookies.get("wattbook_portal")

        await portal.login(NUMBER, HOLDER)

        assert portal.client.cookies.get("wattbook_portal") != before

    async def test_an_idle_session_expires(self, portal: Portal, wall: FakeClock) -> None:
        await portal.login(NUMBER, HOLDER)
        wall.advance(timedelta(minutes=15))

        assert (await portal.client.get("/portal")).status_code == 303


class TestSmsCode:
    async def test_a_resident_with_a_phone_needs_the_code_from_the_text(
        self, with_code: Portal, engine: Engine
    ) -> None:
        answer = await with_code.login(NUMBER, HOLDER)
        with engine.connect() as connection:
            (body,) = connection.execute(
                sa.text("SELECT body FROM sms_outbox WHERE kind = 'LOGIN_CODE'")
            ).one()
        code = re.search(r"\d{6}", body)
        assert code is not None
        before = await with_code.client.get("/portal")
        form = await with_code.client.get("/portal/code")
        wrong = await with_code.client.post(
            "/portal/code", data={"csrf_token": csrf_of(form.text), "code": "000000"}
        )
        right = await with_code.client.post(
            "/portal/code", data={"csrf_token": csrf_of(form.text), "code": code.group(0)}
        )

        assert answer.headers["location"] == "/portal/code"
        assert "登录验证码" in body
        assert before.status_code == 303
        assert wrong.status_code == 401
        assert right.status_code == 303
        assert (await with_code.client.get("/portal")).status_code == 200

    async def test_three_wrong_codes_end_the_attempt(self, with_code: Portal) -> None:
        await with_code.login(NUMBER, HOLDER)
        token = csrf_of((await with_code.client.get("/portal/code")).text)
        for _ in range(3):
            await with_code.client.post(
                "/portal/code", data={"csrf_token": token, "code": "000000"}
            )

        answer = await with_code.client.post(
            "/portal/code", data={"csrf_token": token, "code": "000000"}
        )

        assert answer.status_code == 401
        assert "验证码已失效" in answer.text
        assert (await with_code.client.get("/portal/code")).status_code == 303


class TestHeldCutShown:
    async def test_the_power_page_says_a_keep_power_order_holds_the_cut(
        self, engine: Engine, clock: FakeClock, wall: FakeClock
    ) -> None:
        from wattbook.domain.values import Period

        house, _other = await open_households(engine, clock)
        await house.keep_power(Period(start_at=clock.now(), end_at=clock.now() + timedelta(days=2)))
        for _ in range(10):  # 120 kWh at 6 kW: 63 yuan against 50
            await house.use(12_000, over=timedelta(hours=2))
        async for found in _portal(engine, clock, wall):
            await found.login(NUMBER, HOLDER)

            page = await found.client.get("/portal/power")

            assert page.status_code == 200
            assert "保电令期间不停电" in page.text
            assert "保电开始" in page.text
