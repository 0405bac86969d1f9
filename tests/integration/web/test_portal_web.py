"""The residents' portal through httpx: log-in, every page, paging, ranges, downloads (Q1-Q6)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.web.portal_fixtures import (
    HOLDER,
    START,
    Portal,
    build_households,
    csrf_of,
    open_households,
    portal_app,
)

NUMBER = "051600001234"


@pytest.fixture
def clock() -> FakeClock:
    """Return a clock on the household's first day."""
    return FakeClock(START)


@pytest.fixture
async def portal(engine: Engine, clock: FakeClock) -> AsyncIterator[Portal]:
    """Yield the portal on two households with a year of history."""
    await build_households(engine, clock)
    app = portal_app(engine, clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield Portal(app=app, client=client)
    await app.state.batcher.close()


@pytest.fixture
async def bare(engine: Engine, clock: FakeClock) -> AsyncIterator[Portal]:
    """Yield the portal on two households with no history (for the log-in)."""
    await open_households(engine, clock)
    app = portal_app(engine, clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kiosk.test") as client:
        yield Portal(app=app, client=client)
    await app.state.batcher.close()


@pytest.fixture
async def logged_in(portal: Portal) -> Portal:
    answer = await portal.login(NUMBER, HOLDER)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal"
    return portal


PAGES = (
    "/portal/payments",
    "/portal/payments?range=3m",
    "/portal/payments?range=1y",
    "/portal/payments?from=2024-06-01&to=2024-09-30",
    "/portal/payments?page=2",
    "/portal/charges",
    "/portal/charges?page=2",
    "/portal/usage",
    "/portal/usage?month=2024-07&year=2024",
    "/portal/power",
    "/portal/texts",
    "/portal/downloads",
    "/portal?lang=en",
)


class TestLogin:
    async def test_root_leads_to_the_portal_and_the_portal_to_its_log_in(
        self, bare: Portal
    ) -> None:
        root = await bare.client.get("/")
        page = await bare.client.get("/portal")

        assert root.status_code == 307
        assert root.headers["location"] == "/portal"
        assert page.status_code == 303
        assert page.headers["location"] == "/portal/login"

    async def test_logs_in_with_number_name_and_captcha(self, bare: Portal) -> None:
        await bare.login(NUMBER, HOLDER)

        home = await bare.client.get("/portal")

        assert home.status_code == 200
        assert "账户概况" in home.text
        assert NUMBER in home.text

    async def test_accepts_the_name_in_full_width_or_with_blanks(self, bare: Portal) -> None:
        answer = await bare.login(NUMBER, " 张 三 ")

        assert answer.status_code == 303

    async def test_refuses_a_wrong_name_without_saying_which_field(self, bare: Portal) -> None:
        wrong_name = await bare.login(NUMBER, "张四")
        no_account = await bare.login("051600005555", HOLDER)

        assert wrong_name.status_code == 401
        assert no_account.status_code == 401
        assert "户号或户主姓名不正确" in wrong_name.text
        assert "户号或户主姓名不正确" in no_account.text
        assert (await bare.client.get("/portal")).status_code == 303

    async def test_refuses_a_wrong_captcha_even_with_the_right_name(self, bare: Portal) -> None:
        answer = await bare.login(NUMBER, HOLDER, captcha="abcd")

        assert answer.status_code == 400
        assert "验证码不正确" in answer.text

    async def test_a_captcha_answers_one_attempt_only(self, bare: Portal) -> None:
        token = await bare.login_form()
        answer = bare.captcha()
        form = {"csrf_token": token, "account_number": NUMBER, "holder": "错", "captcha": answer}
        await bare.client.post("/portal/login", data=form)

        again = await bare.client.post("/portal/login", data={**form, "holder": HOLDER})

        assert again.status_code == 400

    async def test_serves_the_captcha_as_image_and_as_speech(self, bare: Portal) -> None:
        await bare.login_form()

        image = await bare.client.get("/portal/captcha.png")
        audio = await bare.client.get("/portal/captcha.wav")

        assert image.headers["content-type"] == "image/png"
        assert image.content[:4] == b"\x89PNG"
        assert audio.headers["content-type"] == "audio/wav"
        assert audio.content[:4] == b"RIFF"

    async def test_logout_ends_the_session(self, bare: Portal) -> None:
        await bare.login(NUMBER, HOLDER)
        page = await bare.client.get("/portal")

        answer = await bare.client.post("/portal/logout", data={"csrf_token": csrf_of(page.text)})

        assert answer.status_code == 303
        assert (await bare.client.get("/portal")).status_code == 303


class TestPages:
    async def test_home_shows_balance_arrears_relay_and_days_left(self, logged_in: Portal) -> None:
        home = await logged_in.client.get("/portal")

        assert 'id="balance"' in home.text
        assert 'id="days-left"' in home.text
        assert "正常供电" in home.text
        assert "张三" in home.text

    async def test_every_page_opens(self, logged_in: Portal) -> None:
        for path in PAGES:
            page = await logged_in.client.get(path)

            assert page.status_code == 200, (path, page.text)
            assert "<svg" in page.text or not path.startswith("/portal/usage")

    async def test_payments_are_paged_newest_first(self, logged_in: Portal) -> None:
        first = await logged_in.client.get("/portal/payments?range=all")
        second = await logged_in.client.get("/portal/payments?range=all&page=2")

        assert first.text.count("/portal/receipts/") // 2 == 20
        assert "第 1 / 2 页" in first.text
        assert second.status_code == 200
        assert "第 2 / 2 页" in second.text

    async def test_a_date_range_limits_the_payments(self, logged_in: Portal) -> None:
        page = await logged_in.client.get("/portal/payments?from=2024-06-01&to=2024-06-30")

        # top-ups every fortnight from 1 May: 12 and 26 June
        assert "共 2 笔" in page.text

    async def test_a_malformed_date_is_a_clear_error(self, logged_in: Portal) -> None:
        page = await logged_in.client.get("/portal/payments?from=2024-13-45")

        assert page.status_code == 422
        assert "日期格式" in page.text

    async def test_power_page_explains_the_cut_and_the_restore(self, logged_in: Portal) -> None:
        page = await logged_in.client.get("/portal/power")

        assert "因余额为 -" in page.text
        assert "充值 50.00 元后恢复供电" in page.text, page.text.split("power-events")[1][:3000]

    async def test_usage_has_a_data_table_beside_each_chart(self, logged_in: Portal) -> None:
        page = await logged_in.client.get("/portal/usage?month=2024-07&year=2024")

        assert page.text.count('role="img"') == 3
        assert 'id="daily-table"' in page.text
        assert 'id="monthly-table"' in page.text
        assert "5.00" in page.text  # 5 kWh a summer day

    async def test_own_receipt_opens_as_html_and_pdf(self, logged_in: Portal) -> None:
        listing = await logged_in.client.get("/portal/payments?range=all")
        receipt = listing.text.split("/portal/receipts/")[1].split('"')[0]

        html = await logged_in.client.get(f"/portal/receipts/{receipt}")
        pdf = await logged_in.client.get(f"/portal/receipts/{receipt}/pdf")

        assert html.status_code == 200
        assert "张*" in html.text
        assert pdf.status_code in (200, 503)

    async def test_statement_downloads_keep_the_chinese(self, logged_in: Portal) -> None:
        csv = await logged_in.client.get("/portal/downloads/statement.csv")
        pdf = await logged_in.client.get("/portal/downloads/statement.pdf")

        assert csv.content.startswith("\ufeff".encode())
        assert "居民照明" in csv.text
        assert "已付费" in csv.text or "未付费" in csv.text
        assert pdf.status_code in (200, 503)
        if pdf.status_code == 200:
            assert pdf.content[:4] == b"%PDF"

    async def test_switches_to_english_and_remembers_it(self, logged_in: Portal) -> None:
        english = await logged_in.client.get("/portal?lang=en")
        later = await logged_in.client.get("/portal/usage")

        assert "Your account" in english.text
        assert 'lang="en"' in later.text
        assert "Usage" in later.text
