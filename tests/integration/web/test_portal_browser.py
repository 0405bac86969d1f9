"""The residents' portal in Chromium (Debian's, never a downloaded one): log-in, every page,
paging, date ranges, the language switch, a 390x844 phone, and axe-core's accessibility check.

Screenshots are kept under test-artifacts/portal/ (git-ignored) for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from tests.fakes import FakeClock
from tests.integration.web.chromium import MARKS, shot
from tests.integration.web.conftest import SECRET, web_runtime
from tests.integration.web.portal_fixtures import (
    HOLDER,
    OTHER,
    OTHER_HOLDER,
    START,
    build_households,
)
from tests.integration.web.portal_server import ThreadedServer, create_app, served

from wattbook.settings import WebSettings

NUMBER = "051600001234"
PAGES = ("", "/payments", "/charges", "/usage", "/power", "/texts", "/downloads")

sync_api = pytest.importorskip("playwright.sync_api")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = MARKS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    async def build(engine: Engine) -> FastAPI:
        clock = FakeClock(START)
        await build_households(engine, clock)
        web = WebSettings(bank_secret=SECRET, portal_sms_code=False)
        return create_app(web_runtime(engine, clock, web=web), background=False)

    with served(tmp_path_factory.mktemp("portal"), build) as running:
        yield running


def _shot(page: Any, name: str) -> None:
    shot(page, "portal", name)


def _log_in(
    page: Any,
    server: ThreadedServer,
    *,
    number: str = NUMBER,
    holder: str = HOLDER,
    captcha: str | None = None,
) -> None:
    page.goto(f"{server.base}/portal/login")
    cookie = next(c for c in page.context.cookies() if c["name"] == "wattbook_portal")
    page.fill("#account_number", number)
    page.fill("#holder", holder)
    page.fill("#captcha", captcha if captcha is not None else server.captcha(cookie["value"]))
    page.click("button[type=submit].primary")


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, bypass_csp=True
    )
    yield context.new_page()
    context.close()


class TestLogIn:
    def test_a_wrong_name_a_wrong_captcha_and_a_throttled_attempt(
        self, desktop: Any, server: ThreadedServer
    ) -> None:
        # the neighbour's account, so that the resident's own stays usable for the others
        _log_in(desktop, server, number=OTHER, holder="张四")
        wrong_name = desktop.inner_text("#login-error")
        _shot(desktop, "login-wrong-name")
        _log_in(desktop, server, number=OTHER, holder=OTHER_HOLDER, captcha="0")
        wrong_captcha = desktop.inner_text("#login-error")
        for guess in range(4):
            _log_in(desktop, server, number=OTHER, holder=f"猜{guess}")
        _log_in(desktop, server, number=OTHER, holder=OTHER_HOLDER)
        throttled = desktop.inner_text("#login-error")
        _shot(desktop, "login-throttled")

        assert "户号或户主姓名不正确" in wrong_name
        assert "验证码不正确" in wrong_captcha
        assert "尝试次数过多" in throttled
        assert desktop.url.endswith("/portal/login")


class TestPages:
    def test_every_page_on_a_desktop_passes_axe(self, browser: Any, server: ThreadedServer) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page = context.new_page()
        page.goto(f"{server.base}/portal/login")
        axe = axe_playwright.Axe()
        problems = {"login": axe.run(page).response["violations"]}
        _log_in(page, server)
        page.wait_for_url(f"{server.base}/portal")
        for path in PAGES:
            page.goto(f"{server.base}/portal{path}")
            name = path.strip("/") or "home"
            _shot(page, f"desktop-{name}")
            problems[name] = axe.run(page).response["violations"]
        context.close()

        found = {
            name: [(v["id"], v["impact"], len(v["nodes"])) for v in violations]
            for name, violations in problems.items()
            if violations
        }
        assert found == {}

    def test_payments_page_and_range_in_the_browser(
        self, browser: Any, server: ThreadedServer
    ) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        _log_in(page, server)
        page.wait_for_url(f"{server.base}/portal")

        page.click("text=缴费记录")
        page.click("text=全部")
        first_rows = page.locator("#payments tbody tr").count()
        page.click("a[rel=next]")
        second_position = page.inner_text(".pager span")
        page.fill("#from", "2024-06-01")
        page.fill("#to", "2024-06-30")
        page.click("text=查询")
        in_june = page.inner_text("#payments-summary")
        page.click("text=近 1 年")
        _shot(page, "desktop-payments-year")
        context.close()

        assert first_rows == 20
        assert second_position.startswith("第 2 /")
        assert in_june == "共 2 笔"

    def test_the_language_switch(self, browser: Any, server: ThreadedServer) -> None:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        _log_in(page, server)
        page.wait_for_url(f"{server.base}/portal")

        page.click("a[hreflang=en]")
        english = page.inner_text("h1")
        page.click("text=Usage")
        still_english = page.inner_text("h1")
        _shot(page, "desktop-usage-en")
        page.click("a[hreflang=zh-CN]")
        chinese = page.inner_text("h1")
        context.close()

        assert english == "Your account"
        assert still_english == "Usage"
        assert chinese == "用电量"

    def test_every_page_fits_a_phone(self, phone: Any, server: ThreadedServer) -> None:
        _log_in(phone, server)
        phone.wait_for_url(f"{server.base}/portal")
        widths = {}
        for path in PAGES:
            phone.goto(f"{server.base}/portal{path}")
            name = path.strip("/") or "home"
            _shot(phone, f"phone-{name}")
            widths[name] = phone.evaluate("document.documentElement.scrollWidth")

        # nothing wider than the phone: wide tables scroll inside their own box
        assert widths == dict.fromkeys(widths, 390)
